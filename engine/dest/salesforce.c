/* The Salesforce destination (type "salesforce"): OAuth login at open,
 * describe-based validation in prepare, then sObject Collections for small
 * deltas and Bulk API 2.0 for large ones (spec.destination.api: auto picks by
 * the delta size told to plan()).
 *
 * Tunables, from the destination secret or the environment:
 *   apiVersion                                   default 62.0
 *   bulkThreshold   / RETL_SF_BULK_THRESHOLD     rows; default 2000
 *   maxApiCalls     / RETL_SF_MAX_API_CALLS      per run; default none
 *   concurrency     / RETL_SF_CONCURRENCY        requests in flight; default 4
 *   bulkBatchSize   / RETL_SF_BULK_BATCH         rows per Bulk job; 100000
 *   restBatchSize   / RETL_SF_REST_BATCH         rows per Collections batch;
 *                                                200 x concurrency x 2
 *   caCert          / RETL_SF_CA_FILE            extra trust anchor (PEM)
 *   RETL_SF_BULK_POLL_MS, RETL_SF_BULK_POLL_MAX_MS, RETL_SF_BULK_POLL_ROW_US,
 *   RETL_SF_BULK_TIMEOUT_S */
#include "engine/dest/salesforce_int.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

struct sf_ctx {
    const struct retl_job *job; /* borrowed: the engine keeps it for the run */
    struct sf_conn conn;
    struct sf_describe desc;
    bool described;
    const struct sf_field **fields; /* owned array; per prepared column */
    size_t ncols;
    const char *ext_id; /* Upsert key field (in desc) */
    bool planned, use_bulk;
    long long threshold, bulk_batch, rest_batch;
    long long poll_base_ms, poll_max_ms, poll_timeout_ms, poll_row_us;
    double bulk_ms_per_row; /* the last Bulk job's pace, for the next one */
    long long rows_rest, rows_bulk;
    int bulk_jobs;
};

/* A positive number from the secret key or the environment variable. */
static long long tunable(const struct eng_secrets *sec, const char *key, const char *env,
                         long long def)
{
    const char *v = sec ? eng_secret_get(sec, key) : NULL;
    if (!v || !*v)
        v = getenv(env);
    if (!v || !*v)
        return def;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (*end || n < 0) {
        RETL_LOG_WARN("ignoring a bad Salesforce setting", RF_S("key", key),
                      RF_S("value", v));
        return def;
    }
    return n;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct retl_buf b;
    retl_buf_init(&b, 1u << 20);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (retl_buf_add(&b, tmp, n))
            break;
    fclose(f);
    char *r = b.len ? retl_buf_take(&b) : NULL;
    retl_buf_free(&b);
    return r;
}

static void sf_close(void *vctx)
{
    struct sf_ctx *x = vctx;
    if (!x)
        return;
    sf_conn_free(&x->conn);
    sf_describe_free(&x->desc);
    free(x->fields);
    free(x);
}

static retl_err sf_open(const struct retl_job *job, const struct eng_secrets *sec,
                        void **ctx, struct retl_errbuf *eb)
{
    struct sf_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return RETL_E_NOMEM;
    x->job = job;
    retl_err e = sf_conn_init(&x->conn, eb);
    if (e)
        goto out;
    e = sf_auth_from_secret(sec, &x->conn.auth, eb);
    if (e)
        goto out;
    const char *ver = eng_secret_get(sec, "apiVersion");
    if (ver && *ver) {
        if (*ver == 'v' || *ver == 'V')
            ver++;
        bool ok = isdigit((unsigned char)*ver) && strchr(ver, '.');
        for (const char *p = ver; *p && ok; p++)
            ok = isdigit((unsigned char)*p) || *p == '.';
        if (!ok || atof(ver) < 46.0) {
            e = retl_errf(eb, RETL_E_CONFIG,
                          "secret %s: apiVersion %s: need a version like 62.0 "
                          "(46.0 or later, for collections upsert)",
                          sec->name ? sec->name : "", ver);
            goto out;
        }
    }
    x->conn.api_version = strdup(ver && *ver ? ver : SF_DEFAULT_API_VERSION);
    const char *ca = eng_secret_get(sec, "caCert");
    if (ca && *ca)
        x->conn.ca_pem = strdup(ca);
    else if (getenv("RETL_SF_CA_FILE"))
        x->conn.ca_pem = read_file(getenv("RETL_SF_CA_FILE"));
    x->conn.max_api_calls = tunable(sec, "maxApiCalls", "RETL_SF_MAX_API_CALLS", 0);
    long long conc =
        tunable(sec, "concurrency", "RETL_SF_CONCURRENCY", SF_DEFAULT_CONCURRENCY);
    x->conn.max_parallel = conc < 1                    ? 1
                           : conc > SF_MAX_CONCURRENCY ? SF_MAX_CONCURRENCY
                                                       : (int)conc;
    x->threshold = tunable(sec, "bulkThreshold", "RETL_SF_BULK_THRESHOLD",
                           SF_DEFAULT_BULK_THRESHOLD);
    x->bulk_batch =
        tunable(sec, "bulkBatchSize", "RETL_SF_BULK_BATCH", SF_DEFAULT_BULK_BATCH);
    if (x->bulk_batch < 1)
        x->bulk_batch = SF_DEFAULT_BULK_BATCH;
    x->rest_batch = tunable(sec, "restBatchSize", "RETL_SF_REST_BATCH",
                            (long long)SF_COLLECTION_MAX * x->conn.max_parallel * 2);
    x->poll_base_ms = tunable(NULL, "", "RETL_SF_BULK_POLL_MS", 250);
    x->poll_max_ms = tunable(NULL, "", "RETL_SF_BULK_POLL_MAX_MS", 5000);
    x->poll_timeout_ms = tunable(NULL, "", "RETL_SF_BULK_TIMEOUT_S", 3600) * 1000;
    x->poll_row_us = tunable(NULL, "", "RETL_SF_BULK_POLL_ROW_US", SF_BULK_POLL_ROW_US);
    if (!x->conn.api_version) {
        e = RETL_E_NOMEM;
        goto out;
    }
    e = sf_login(&x->conn, eb);
out:
    if (e) {
        sf_close(x);
        return e;
    }
    *ctx = x;
    return RETL_E_OK;
}

/* Describes obj into *d (what: the spec field that names it, for messages).
 * Ownership: sf_describe_free(d). */
static retl_err describe_object(struct sf_ctx *x, const char *obj, const char *what,
                                struct sf_describe *d, struct retl_errbuf *eb)
{
    char *enc = curl_easy_escape(NULL, obj ? obj : "", 0);
    char *path = NULL;
    retl_err e = RETL_E_OK;
    if (!enc || asprintf(&path, "/sobjects/%s/describe", enc) < 0) {
        curl_free(enc);
        return RETL_E_NOMEM;
    }
    curl_free(enc);
    struct sf_call c = {.method = "GET", .idempotent = true};
    c.url = sf_data_url(&x->conn, path);
    free(path);
    if (!c.url)
        return RETL_E_NOMEM;
    e = sf_http_one(&x->conn, &c, eb);
    if (e)
        goto out;
    if (c.status == 404) {
        e = retl_errf(eb, RETL_E_SPEC,
                      "%s: object %s does not exist in Salesforce (describe answered "
                      "404)",
                      what, obj);
        goto out;
    }
    if (c.status != 200) {
        e = sf_call_fail(&c, "Salesforce describe", eb);
        goto out;
    }
    e = sf_describe_parse(retl_buf_str(&c.resp), d, eb);
out:
    sf_call_clear(&c);
    return e;
}

static retl_err fetch_describe(struct sf_ctx *x, struct retl_errbuf *eb)
{
    retl_err e = describe_object(x, x->job->destination.object, "spec.destination.object",
                                 &x->desc, eb);
    if (!e)
        x->described = true;
    return e;
}

/* Lookup columns: the reference field and, by one describe per parent
 * object, the parent's unique field. */
static retl_err check_lookups(struct sf_ctx *x, const struct eng_col *cols, size_t ncols,
                              struct retl_problems *probs, struct retl_errbuf *eb)
{
    for (size_t i = 0; i < ncols; i++) {
        if (!cols[i].lookup_object || !x->fields[i])
            continue;
        struct sf_describe parent = {0};
        char what[96];
        snprintf(what, sizeof what, "spec.mappings lookup.object of %s",
                 cols[i].destination);
        retl_err e = describe_object(x, cols[i].lookup_object, what, &parent, eb);
        if (e == RETL_E_SPEC) {
            retl_problem_add(probs, "%s", retl_errbuf_msg(eb, e));
            sf_validate_lookup(x->job, &cols[i], x->fields[i], NULL, probs);
            continue;
        }
        if (e)
            return e;
        sf_validate_lookup(x->job, &cols[i], x->fields[i], &parent, probs);
        sf_describe_free(&parent);
    }
    return RETL_E_OK;
}

static retl_err sf_prepare(void *vctx, const struct eng_col *cols, size_t ncols,
                           json_t *info, struct retl_errbuf *eb)
{
    struct sf_ctx *x = vctx;
    retl_err e = RETL_E_OK;
    if (!x->described && (e = fetch_describe(x, eb)))
        return e;
    if (info) {
        sf_describe_info(&x->desc, info);
        json_object_set_new(info, "object", json_string(x->desc.object));
    }
    free(x->fields);
    x->fields = calloc(ncols ? ncols : 1, sizeof *x->fields);
    if (!x->fields)
        return RETL_E_NOMEM;
    x->ncols = ncols;
    struct retl_problems probs = {0};
    sf_validate(&x->desc, x->job, cols, ncols, x->fields, &probs);
    if ((e = check_lookups(x, cols, ncols, &probs, eb))) {
        retl_problems_free(&probs);
        return e;
    }
    if (probs.n) {
        char *msg = retl_problems_join(&probs);
        e = retl_errf(eb, RETL_E_SPEC, "%s", msg ? msg : "describe mismatch");
        free(msg);
        retl_problems_free(&probs);
        return e;
    }
    retl_problems_free(&probs);
    x->ext_id = NULL;
    if (x->job->mode == RETL_MODE_UPSERT)
        for (size_t i = 0; i < ncols; i++)
            if (cols[i].is_key && x->fields[i])
                x->ext_id = x->fields[i]->name;
    RETL_LOG_INFO("salesforce describe checked", RF_S("object", x->desc.object),
                  RF_I("fields", x->desc.n_fields), RF_I("columns", ncols));
    return RETL_E_OK;
}

static size_t sf_plan(void *vctx, size_t delta_rows)
{
    struct sf_ctx *x = vctx;
    enum retl_sf_api api = x->job->destination.api;
    x->planned = true;
    x->use_bulk = api == RETL_API_BULK ||
                  (api == RETL_API_AUTO && (long long)delta_rows >= x->threshold);
    long long job_batch = x->job->batch_size > 0 ? x->job->batch_size : 200;
    long long want = x->use_bulk ? x->bulk_batch : x->rest_batch;
    RETL_LOG_INFO("salesforce plan", RF_S("api", x->use_bulk ? "bulk" : "rest"),
                  RF_I("delta", delta_rows), RF_I("threshold", x->threshold));
    return (size_t)(want > job_batch ? want : job_batch);
}

static retl_err sf_load_batch(void *vctx, const struct eng_batch *b,
                              struct eng_row_result *results, struct retl_errbuf *eb)
{
    struct sf_ctx *x = vctx;
    if (!x->fields || b->ncols != x->ncols)
        return retl_errf(eb, RETL_E_INTERNAL,
                         "salesforce: load before prepare or with other columns");
    memset(results, 0, b->nrows * sizeof *results);
    if (!b->nrows)
        return RETL_E_OK;
    enum retl_sf_api api = x->job->destination.api;
    bool bulk = api == RETL_API_BULK ||
                (api == RETL_API_AUTO &&
                 (x->planned ? x->use_bulk : (long long)b->nrows >= x->threshold));
    struct sf_load L = {
        .conn = &x->conn,
        .object = x->desc.object,
        .mode = x->job->mode,
        .ext_id = x->ext_id,
        .fields = x->fields,
        .poll_base_ms = x->poll_base_ms,
        .poll_max_ms = x->poll_max_ms,
        .poll_timeout_ms = x->poll_timeout_ms,
        .poll_row_us = x->poll_row_us,
        .bulk_ms_per_row = x->bulk_ms_per_row,
    };
    /* Deletes and clears by their own count: the same threshold, so a few
     * deletes beside a large write delta cost one Collections call, not a
     * job. */
    bool del = b->op == ENG_OP_DELETE || b->op == ENG_OP_CLEAR;
    if (del)
        bulk = api == RETL_API_BULK ||
               (api == RETL_API_AUTO && (long long)b->nrows >= x->threshold);
    retl_err e = del    ? sf_delete_load(&L, b, bulk, results, eb)
                 : bulk ? sf_bulk_load(&L, b, results, eb)
                        : sf_rest_load(&L, b, results, eb);
    x->bulk_jobs += L.bulk_jobs;
    x->bulk_ms_per_row = L.bulk_ms_per_row;
    if (e)
        return e;
    if (bulk)
        x->rows_bulk += (long long)b->nrows;
    else
        x->rows_rest += (long long)b->nrows;
    size_t failed = 0;
    for (size_t i = 0; i < b->nrows; i++) {
        if (!results[i].ok && !results[i].code)
            sf_result_fail(&results[i], "INTERNAL", "no result for this row", NULL);
        /* A parent a lookup names that does not exist (yet): Salesforce says
         * INVALID_FIELD "Foreign key external ID: ... not found"; it may
         * exist by the next run. */
        if (!results[i].ok && !strcmp(results[i].code, "INVALID_FIELD") &&
            results[i].message && strstr(results[i].message, "Foreign key external ID"))
            results[i].cls = ENG_FAIL_TRANSIENT;
        /* INVALID_CROSS_REFERENCE_KEY on the record itself (no field, or Id:
         * Update of an Id Salesforce does not hold) never succeeds; on a
         * reference field the parent may exist by the next run. */
        if (!results[i].ok && !strcmp(results[i].code, "INVALID_CROSS_REFERENCE_KEY"))
            results[i].cls = !results[i].fields || !*results[i].fields ||
                                     !strcmp(results[i].fields, "Id")
                                 ? ENG_FAIL_PERMANENT
                                 : ENG_FAIL_TRANSIENT;
        failed += !results[i].ok;
    }
    RETL_LOG_INFO("salesforce batch loaded", RF_S("api", bulk ? "bulk" : "rest"),
                  RF_I("rows", b->nrows), RF_I("failed", failed),
                  RF_I("apiCalls", x->conn.api_calls));
    return RETL_E_OK;
}

static void sf_summary(void *vctx, json_t *summary)
{
    struct sf_ctx *x = vctx;
    json_object_set_new(summary, "apiCalls", json_integer(x->conn.api_calls));
    if (x->conn.have_usage) {
        char u[64];
        snprintf(u, sizeof u, "%lld/%lld", x->conn.usage_used, x->conn.usage_max);
        json_object_set_new(summary, "apiUsage", json_string(u));
    }
    const char *api = x->rows_bulk && x->rows_rest ? "mixed"
                      : x->rows_bulk               ? "bulk"
                                                   : "rest";
    json_object_set_new(summary, "api", json_string(api));
    if (x->bulk_jobs)
        json_object_set_new(summary, "bulkJobs", json_integer(x->bulk_jobs));
    if (x->conn.logins > 1)
        json_object_set_new(summary, "logins", json_integer(x->conn.logins));
}

const struct eng_dest_ops eng_dest_salesforce = {
    .type = "salesforce",
    .open = sf_open,
    .prepare = sf_prepare,
    .plan = sf_plan,
    .load = sf_load_batch,
    .can_delete = true,
    .can_clear = true,
    .can_lookup = true,
    .record_ids = true,
    .summary = sf_summary,
    .close = sf_close,
};

ENG_DEST_REGISTER(eng_dest_salesforce);
