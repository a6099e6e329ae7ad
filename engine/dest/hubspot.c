/* The HubSpot destination (type "hubspot"): the Properties API validates the
 * mappings in prepare, then CRM v3 batch upsert / update / create writes the
 * rows, 100 inputs a call and several calls in flight within the account's
 * rolling ten-second limit.
 *
 * Secret keys: accessToken (a private-app token), baseUrl (default
 * https://api.hubapi.com), caCert (PEM). Tunables from the environment:
 *   RETL_HS_CONCURRENCY  calls in flight; default 8 (at most 16)
 *   RETL_HS_TIMEOUT_S    per call; default 60 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/env.h"
#include "common/log.h"
#include "engine/dest/hubspot_int.h"
#include "engine/base/secrets.h"

struct hs_ctx {
    const struct retl_job *job; /* borrowed: the engine keeps it for the run */
    struct hs_conn conn;
    struct hs_props props;
    const struct hs_prop **colprops; /* owned array; per column */
    bool *skip_null;                 /* owned array; per column */
    size_t ncols;
    const char *id_property; /* borrowed from props or the job */
    bool email_key;
    long long rows_ok, rows_failed;
};

static void hs_close(void *vctx)
{
    struct hs_ctx *x = vctx;
    if (!x)
        return;
    hs_conn_free(&x->conn);
    hs_props_free(&x->props);
    free(x->colprops);
    free(x->skip_null);
    free(x);
}

static bool object_ok(const char *o)
{
    if (!o || !*o || strlen(o) > 100)
        return false;
    for (const char *p = o; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return false;
    return true;
}

static retl_err hs_open(const struct retl_job *job, const struct eng_secrets *sec,
                        void **ctx, struct retl_errbuf *eb)
{
    const char *sname = sec && sec->name ? sec->name : "(destination secret)";
    const char *token = NULL;
    const char *base = eng_secret_get(sec, "baseUrl");
    const char *ca = eng_secret_get(sec, "caCert");
    retl_err le = eng_secret_get_line(sec, "accessToken", &token, eb);
    if (le)
        return le;
    if (!token || !*token)
        return retl_errf(
            eb, RETL_E_CONFIG,
            "secret %s: accessToken is required (a HubSpot private-app token)", sname);
    if (!base || !*base)
        base = HS_DEFAULT_BASE_URL;
    if (strncmp(base, "https://", 8) != 0 && strncmp(base, "http://", 7) != 0)
        return retl_errf(eb, RETL_E_CONFIG, "secret %s: baseUrl must start with https://",
                         sname);
    if (strncmp(base, "http://", 7) == 0)
        RETL_LOG_WARN("hubspot baseUrl is plain http: the token travels unencrypted",
                      RF_S("baseUrl", base));
    if (!object_ok(job->destination.object))
        return retl_errf(
            eb, RETL_E_SPEC,
            "spec.destination.object: \"%s\" is not a HubSpot object (contacts, "
            "companies, deals, tickets or a custom object type id like "
            "2-1234567)",
            job->destination.object ? job->destination.object : "");
    struct hs_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return RETL_E_NOMEM;
    x->job = job;
    int conc = (int)retl_env_num("RETL_HS_CONCURRENCY", HS_DEFAULT_CONCURRENCY, 1,
                                 HS_MAX_CONCURRENCY);
    long timeout = (long)retl_env_num("RETL_HS_TIMEOUT_S", 60, 1, 3600) * 1000;
    retl_err e = hs_conn_init(&x->conn, base, token, ca && *ca ? ca : NULL, conc,
                              job->destination.rate_limit_rps, timeout, eb);
    if (e) {
        hs_close(x);
        return e;
    }
    *ctx = x;
    return RETL_E_OK;
}

static retl_err fetch_props(struct hs_ctx *x, struct retl_errbuf *eb)
{
    const char *obj = x->job->destination.object;
    char *path = NULL;
    struct hs_resp r = {0};
    retl_err e = RETL_E_OK;
    if (asprintf(&path, "/crm/v3/properties/%s", obj) < 0)
        return RETL_E_NOMEM;
    e = hs_call(&x->conn, 0, HS_EP_PROPERTIES, "GET", path, NULL, true, &r, eb);
    if (e)
        goto out;
    if (r.status != 200) {
        char *t = hs_error_text(&r);
        if (r.status == 401 || r.status == 403)
            e = retl_errf(
                eb, RETL_E_AUTH,
                "HubSpot refused the access token (%s); check the secret's "
                "accessToken and the private app's scopes (crm.objects.%s.write, "
                "crm.schemas.%s.read)",
                t ? t : "", obj, obj);
        else if (r.status == 400 || r.status == 404)
            e = retl_errf(
                eb, RETL_E_SPEC,
                "spec.destination.object: HubSpot does not know object \"%s\" (%s)", obj,
                t ? t : "");
        else
            e = retl_errf(eb, RETL_E_DEST, "HubSpot properties of %s: %s", obj,
                          t ? t : "");
        free(t);
        goto out;
    }
    e = hs_props_parse(r.body, &x->props, eb);
out:
    hs_resp_clear(&r);
    free(path);
    return e;
}

static retl_err hs_prepare(void *vctx, const struct eng_col *cols, size_t ncols,
                           json_t *info, struct retl_errbuf *eb)
{
    struct hs_ctx *x = vctx;
    const char *obj = x->job->destination.object;
    retl_err e = RETL_E_OK;
    if (!x->props.v && (e = fetch_props(x, eb)))
        return e;
    free(x->colprops);
    free(x->skip_null);
    x->colprops = calloc(ncols ? ncols : 1, sizeof *x->colprops);
    x->skip_null = calloc(ncols ? ncols : 1, sizeof *x->skip_null);
    if (!x->colprops || !x->skip_null)
        return RETL_E_NOMEM;
    for (size_t i = 0; i < ncols; i++)
        for (size_t k = 0; k < x->job->n_mappings && !cols[i].is_key; k++)
            if (strcmp(x->job->mappings[k].destination, cols[i].destination) == 0)
                x->skip_null[i] = x->job->mappings[k].nulls == RETL_NULLS_SKIP;
    x->ncols = ncols;
    struct retl_problems probs = {0};
    hs_validate(&x->props, x->job, obj, cols, ncols, x->colprops, &probs);
    if (probs.n) {
        char *msg = retl_problems_join(&probs);
        e = retl_errf(eb, RETL_E_SPEC, "%s", msg ? msg : "HubSpot properties mismatch");
        free(msg);
        retl_problems_free(&probs);
        return e;
    }
    retl_problems_free(&probs);
    x->id_property = NULL;
    x->email_key = false;
    for (size_t i = 0; i < ncols; i++) {
        if (!cols[i].is_key || x->job->mode == RETL_MODE_INSERT)
            continue;
        if (x->job->mode == RETL_MODE_UPSERT ||
            strcmp(cols[i].destination, "hs_object_id") != 0)
            x->id_property = cols[i].destination;
        x->email_key = strcmp(cols[i].destination, "email") == 0;
    }
    if (info) {
        json_object_set_new(info, "object", json_string(obj));
        json_object_set_new(info, "properties", json_integer((json_int_t)x->props.n));
        if (x->id_property)
            json_object_set_new(info, "idProperty", json_string(x->id_property));
        json_t *uniq = json_array();
        for (size_t i = 0; i < x->props.n; i++)
            if (x->props.v[i].unique)
                json_array_append_new(uniq, json_string(x->props.v[i].name));
        json_object_set_new(info, "uniqueProperties", uniq);
    }
    RETL_LOG_INFO("hubspot properties checked", RF_S("object", obj),
                  RF_I("properties", x->props.n), RF_I("columns", ncols));
    return RETL_E_OK;
}

static size_t hs_plan(void *vctx, size_t delta_rows)
{
    struct hs_ctx *x = vctx;
    /* Enough rows per engine batch to keep every client busy for a while. */
    size_t want = (size_t)HS_BATCH_MAX * (size_t)x->conn.nclients * 5;
    size_t job = x->job->batch_size > 0 ? (size_t)x->job->batch_size : 200;
    return want > job ? want : job;
}

static retl_err hs_load(void *vctx, const struct eng_batch *b,
                        struct eng_row_result *results, struct retl_errbuf *eb)
{
    struct hs_ctx *x = vctx;
    if (!x->colprops || b->ncols != x->ncols)
        return retl_errf(eb, RETL_E_INTERNAL,
                         "hubspot: load before prepare or with other columns");
    memset(results, 0, b->nrows * sizeof *results);
    if (!b->nrows)
        return RETL_E_OK;
    struct hs_load L = {.conn = &x->conn,
                        .object = x->job->destination.object,
                        .mode = x->job->mode,
                        .id_property = x->id_property,
                        .props = x->colprops,
                        .skip_null = x->skip_null,
                        .email_key = x->email_key};
    retl_err e = b->op == ENG_OP_DELETE || b->op == ENG_OP_CLEAR
                     ? hs_delete_batch(&L, b, results, eb)
                     : hs_load_batch(&L, b, results, eb);
    if (e)
        return e;
    size_t failed = 0;
    for (size_t i = 0; i < b->nrows; i++)
        failed += !results[i].ok;
    x->rows_ok += (long long)(b->nrows - failed);
    x->rows_failed += (long long)failed;
    long long calls = 0;
    pthread_mutex_lock(&x->conn.mu);
    for (int i = 0; i < HS_EP_N; i++)
        calls += x->conn.calls[i];
    pthread_mutex_unlock(&x->conn.mu);
    RETL_LOG_INFO("hubspot batch loaded", RF_I("rows", b->nrows), RF_I("failed", failed),
                  RF_I("apiCalls", calls));
    return RETL_E_OK;
}

static void hs_summary(void *vctx, json_t *summary)
{
    struct hs_ctx *x = vctx;
    static const char *const names[HS_EP_N] = {"properties",    "batch/create",
                                               "batch/update",  "batch/upsert",
                                               "batch/archive", "batch/read"};
    struct hs_conn *c = &x->conn;
    pthread_mutex_lock(&c->mu);
    long long total = 0;
    json_t *by = json_object();
    for (int i = 0; i < HS_EP_N; i++) {
        total += c->calls[i];
        if (c->calls[i])
            json_object_set_new(by, names[i], json_integer(c->calls[i]));
    }
    json_object_set_new(summary, "apiCalls", json_integer(total));
    json_object_set_new(summary, "apiCallsByEndpoint", by);
    json_object_set_new(summary, "rateLimited", json_integer(c->rate_limited));
    if (c->retried)
        json_object_set_new(summary, "retried", json_integer(c->retried));
    if (c->daily >= 0 && c->daily_remaining >= 0) {
        char u[64];
        snprintf(u, sizeof u, "%lld/%lld", c->daily - c->daily_remaining, c->daily);
        json_object_set_new(summary, "apiUsage", json_string(u));
        json_object_set_new(summary, "dailyRemaining", json_integer(c->daily_remaining));
    }
    if (c->window_max)
        json_object_set_new(summary, "rateLimit", json_integer(c->window_max));
    json_object_set_new(summary, "concurrency", json_integer(c->nclients));
    pthread_mutex_unlock(&c->mu);
}

const struct eng_dest_ops eng_dest_hubspot = {
    .type = "hubspot",
    .open = hs_open,
    .prepare = hs_prepare,
    .plan = hs_plan,
    .load = hs_load,
    .summary = hs_summary,
    .close = hs_close,
    .can_delete = true,
    .can_clear = true,
    .record_ids = true,
};

ENG_DEST_REGISTER(eng_dest_hubspot);
