/* CRM v3 batch writes: 100 inputs a call, calls in parallel on the
 * connection's clients, 207 answers matched back to rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/json.h"
#include "common/log.h"
#include "engine/dest/hubspot_int.h"

/* The failure class of a HubSpot code (DESIGN.md 8.1): limits, locks and
 * server errors are transient; the record's own data errors (a property
 * value, a missing record, a duplicate unique value, another 4xx) are
 * permanent, so they are not resent until the row changes. Anything else
 * goes by the engine's table (unknown codes: transient). */
static enum eng_fail_class hs_class(const char *code)
{
    if (hs_code_transient(code))
        return ENG_FAIL_TRANSIENT;
    if (!strncmp(code, "INVALID_", 8) || !strcmp(code, "VALIDATION_ERROR") ||
        !strcmp(code, "OBJECT_NOT_FOUND") || !strcmp(code, "CONFLICT") ||
        !strncmp(code, "HTTP_4", 6))
        return ENG_FAIL_PERMANENT;
    return ENG_FAIL_BY_CODE;
}

void hs_fail(struct eng_row_result *r, const char *code, const char *message,
             const char *fields)
{
    free(r->code);
    free(r->message);
    free(r->fields);
    free(r->dest_id);
    r->ok = false;
    r->created = false;
    r->dest_id = NULL;
    /* An answer with an empty category must not leave an empty code (the
     * errors table and the class go by it). */
    if (!code || !*code)
        code = "ERROR";
    r->code = strdup(code);
    r->cls = hs_class(code);
    r->message = strdup(message ? message : "");
    r->fields = fields ? strdup(fields) : NULL;
}

static const char *type_name(enum hs_ptype t)
{
    static const char *const n[] = {"string",   "number",      "date",
                                    "datetime", "enumeration", "bool"};
    return n[t];
}

/* Fails r because value v does not fit property p. */
static void fail_value(struct eng_row_result *r, const struct hs_prop *p, const char *v,
                       const char *why)
{
    char msg[600];
    int n = snprintf(msg, sizeof msg, "value \"%.80s\" for property %s (%s): %s", v,
                     p->name, type_name(p->type), why);
    if (p->type == HS_P_ENUM && n > 0 && (size_t)n < sizeof msg - 4) {
        size_t at = (size_t)n;
        at += (size_t)snprintf(msg + at, sizeof msg - at, " [");
        for (size_t i = 0; i < p->noptions && at < sizeof msg - 8; i++)
            at += (size_t)snprintf(msg + at, sizeof msg - at, "%s%s", i ? ", " : "",
                                   p->options[i]);
        if (at < sizeof msg - 2)
            snprintf(msg + at, sizeof msg - at, "]");
    }
    hs_fail(r, p->type == HS_P_ENUM ? "INVALID_OPTION" : "INVALID_VALUE", msg, p->name);
}

char *hs_chunk_body(const struct hs_load *L, const struct eng_batch *b, size_t from,
                    size_t to, struct eng_row_result *results, size_t *nsent)
{
    json_t *root = json_object();
    json_t *inputs = json_array();
    char *out = NULL;
    *nsent = 0;
    if (!root || !inputs || json_object_set_new(root, "inputs", inputs)) {
        json_decref(root);
        return NULL;
    }
    for (size_t i = from; i < to; i++) {
        const struct eng_row *row = &b->rows[i];
        json_t *in = json_object();
        json_t *props = json_object();
        char trace[32];
        snprintf(trace, sizeof trace, "%zu", i);
        if (!in || !props) {
            json_decref(in);
            json_decref(props);
            goto out;
        }
        json_object_set_new(in, "properties", props);
        json_object_set_new(in, "objectWriteTraceId", json_string(trace));
        bool keyed = L->mode != RETL_MODE_INSERT;
        if (keyed) {
            if (!row->key[0]) {
                hs_fail(&results[i], "INVALID_VALUE", "the key is empty", NULL);
                json_decref(in);
                continue;
            }
            json_object_set_new(in, "id", json_string(row->key));
            if (L->id_property)
                json_object_set_new(in, "idProperty", json_string(L->id_property));
        } else {
            json_object_set_new(in, "associations", json_array());
        }
        bool bad = false;
        for (size_t j = 0; j < b->ncols && !bad; j++) {
            const struct hs_prop *p = L->props[j];
            if (!p || (keyed && b->cols[j].is_key))
                continue;
            const char *v = row->vals[j];
            if (!v) {
                /* NULL clears the value (unless nulls: Skip); a new record
                 * simply lacks it. */
                if (keyed && !(L->skip_null && L->skip_null[j]))
                    json_object_set_new(props, p->name, json_string(""));
                continue;
            }
            const char *why = NULL;
            char *hv = hs_value(p, b->cols[j].type, v, &why);
            if (!hv) {
                if (!why)
                    goto oom;
                fail_value(&results[i], p, v, why);
                bad = true;
                break;
            }
            json_t *js = json_string(hv);
            free(hv);
            if (!js) {
                /* Not UTF-8: HubSpot cannot store it either. */
                hs_fail(&results[i], "INVALID_VALUE", "the value is not valid UTF-8 text",
                        p->name);
                bad = true;
                break;
            }
            json_object_set_new(props, p->name, js);
        }
        if (bad) {
            json_decref(in);
            continue;
        }
        if (json_array_append_new(inputs, in))
            goto out;
        (*nsent)++;
        continue;
    oom:
        json_decref(in);
        goto out;
    }
    out = json_dumps(root, JSON_COMPACT);
out:
    json_decref(root);
    return out;
}

/* The row a trace id or key names, within [from, to); -1 when none. */
static long row_by_trace(const char *trace, size_t from, size_t to)
{
    if (!trace)
        return -1;
    char *end;
    long long i = strtoll(trace, &end, 10);
    if (*end || i < (long long)from || i >= (long long)to)
        return -1;
    return (long)i;
}

static long row_by_key(const struct hs_load *L, const struct eng_batch *b,
                       const char *key, size_t from, size_t to)
{
    if (!key)
        return -1;
    for (size_t i = from; i < to; i++) {
        const char *k = b->rows[i].key;
        if (L->email_key ? strcasecmp(k, key) == 0 : strcmp(k, key) == 0)
            return (long)i;
    }
    return -1;
}

/* The error code of a HubSpot error item: the embedded code of "Property
 * values were not valid: [...]" messages, else the category. *fields gets the
 * property names involved (heap, or NULL). */
static char *error_code(const json_t *err, char **fields)
{
    const char *cat = retl_json_str(err, "category");
    const char *msg = retl_json_str(err, "message");
    *fields = NULL;
    const char *pfx = "Property values were not valid: ";
    if (msg && strncmp(msg, pfx, strlen(pfx)) == 0) {
        json_error_t je;
        json_t *arr = json_loads(msg + strlen(pfx), 0, &je);
        char *code = NULL;
        struct retl_buf fb;
        retl_buf_init(&fb, 4096);
        size_t i;
        json_t *it;
        json_array_foreach (arr, i, it) {
            const char *c = retl_json_str(it, "error");
            const char *n = retl_json_str(it, "name");
            if (c && !code)
                code = strdup(c);
            if (n)
                retl_buf_printf(&fb, "%s%s", fb.len ? "," : "", n);
        }
        json_decref(arr);
        if (fb.len)
            *fields = retl_buf_take(&fb);
        retl_buf_free(&fb);
        if (code)
            return code;
    }
    return strdup(cat ? cat : "ERROR");
}

/* The errors of a 200/207 answer fail the rows they name (by trace id,
 * else by key) that are not done yet. */
static void fail_named(const struct hs_load *L, const struct eng_batch *b, size_t from,
                       size_t to, const struct hs_resp *resp, bool *done,
                       struct eng_row_result *results)
{
    size_t k;
    json_t *err;
    json_array_foreach (json_object_get(resp->body, "errors"), k, err) {
        char *fields = NULL;
        char *code = error_code(err, &fields);
        const char *cat = retl_json_str(err, "category");
        const char *m0 = retl_json_str(err, "message");
        /* The errors table keeps HubSpot's category beside a finer code. */
        char *msg = NULL;
        if (cat && code && strcmp(cat, code) != 0 &&
            asprintf(&msg, "%s: %s", cat, m0 ? m0 : "") < 0)
            msg = NULL;
        const json_t *ctx = json_object_get(err, "context");
        size_t m;
        json_t *v;
        json_array_foreach (json_object_get(ctx, "objectWriteTraceId"), m, v) {
            long r = row_by_trace(json_string_value(v), from, to);
            if (r >= 0 && !done[r - (long)from]) {
                hs_fail(&results[r], code, msg ? msg : m0, fields);
                done[r - (long)from] = true;
            }
        }
        json_array_foreach (json_object_get(ctx, "ids"), m, v) {
            long r = row_by_key(L, b, json_string_value(v), from, to);
            if (r >= 0 && !done[r - (long)from]) {
                hs_fail(&results[r], code, msg ? msg : m0, fields);
                done[r - (long)from] = true;
            }
        }
        free(msg);
        free(code);
        free(fields);
    }
}

/* The row a result of a 200/207 answer belongs to: by trace id, else by the
 * idProperty (upsert) or id (update by hs_object_id), else the next row not
 * done (creates are answered in input order); -1 when none. */
static long result_row(const struct hs_load *L, const struct eng_batch *b, size_t from,
                       size_t to, const json_t *res, const bool *done,
                       size_t *next_positional)
{
    long r = row_by_trace(retl_json_str(res, "objectWriteTraceId"), from, to);
    const json_t *props = json_object_get(res, "properties");
    if (r < 0 && L->mode == RETL_MODE_UPSERT)
        r = row_by_key(L, b, retl_json_str(props, L->id_property), from, to);
    if (r < 0 && L->mode == RETL_MODE_UPDATE)
        r = row_by_key(L, b,
                       L->id_property ? retl_json_str(props, L->id_property)
                                      : retl_json_str(res, "id"),
                       from, to);
    if (r < 0 && L->mode == RETL_MODE_INSERT) {
        while (*next_positional < to && done[*next_positional - from])
            (*next_positional)++;
        if (*next_positional < to)
            r = (long)*next_positional;
    }
    return r;
}

/* The results of a 200/207 answer: rows named are done with their id; rows
 * the answer does not mention fail NO_RESULT (sent again next run). */
static void ok_answered(const struct hs_load *L, const struct eng_batch *b, size_t from,
                        size_t to, const struct hs_resp *resp, bool *done,
                        struct eng_row_result *results)
{
    size_t k, next_positional = from;
    json_t *res;
    json_array_foreach (json_object_get(resp->body, "results"), k, res) {
        long r = result_row(L, b, from, to, res, done, &next_positional);
        if (r < 0 || done[r - (long)from])
            continue;
        done[r - (long)from] = true;
        struct eng_row_result *rr = &results[r];
        rr->ok = true;
        json_t *isnew = json_object_get(res, "new");
        rr->created = L->mode == RETL_MODE_INSERT ||
                      (L->mode == RETL_MODE_UPSERT && json_is_true(isnew));
        const char *id = retl_json_str(res, "id");
        rr->dest_id = id ? strdup(id) : NULL;
    }
    for (size_t i = from; i < to; i++)
        if (!done[i - from])
            hs_fail(&results[i], "NO_RESULT",
                    "HubSpot's answer did not mention this record; it is sent again "
                    "next run",
                    NULL);
}

char *hs_call_code(const struct hs_resp *resp, char **fields)
{
    long s = resp->status;
    char c[32];
    *fields = NULL;
    if (s == 429)
        return strdup("RATE_LIMIT");
    if (s >= 500)
        return strdup("HTTP_5XX");
    if (s == 423 || s == 477)
        return strdup(s == 423 ? "LOCKED" : "MIGRATION_IN_PROGRESS");
    if (resp->body && retl_json_str(resp->body, "category"))
        return error_code(resp->body, fields);
    snprintf(c, sizeof c, "HTTP_%ld", s);
    return strdup(c);
}

/* The whole call failed: every row sent gets HubSpot's words. */
static void fail_call(size_t from, size_t to, const struct hs_resp *resp,
                      const bool *done, struct eng_row_result *results)
{
    char *fields = NULL;
    char *code = hs_call_code(resp, &fields);
    char *text = hs_error_text(resp);
    for (size_t i = from; i < to; i++)
        if (!done[i - from])
            hs_fail(&results[i], code, text, fields);
    free(text);
    free(code);
    free(fields);
}

void hs_chunk_results(const struct hs_load *L, const struct eng_batch *b, size_t from,
                      size_t to, const struct hs_resp *resp,
                      struct eng_row_result *results)
{
    /* Rows sent are those not already failed while building the body. */
    bool *done = calloc(to - from, sizeof *done);
    if (!done) {
        for (size_t i = from; i < to; i++)
            if (!results[i].code)
                hs_fail(&results[i], "NO_RESULT",
                        "out of memory reading HubSpot's answer", NULL);
        return;
    }
    for (size_t i = from; i < to; i++)
        done[i - from] = results[i].code != NULL;
    long s = resp->status;
    if (s == 200 || s == 201 || s == 207) {
        fail_named(L, b, from, to, resp, done, results);
        ok_answered(L, b, from, to, resp, done, results);
    } else {
        fail_call(from, to, resp, done, results);
    }
    free(done);
}

/* ---- parallel chunks ---- */

struct hs_work {
    const struct hs_load *L;
    const struct eng_batch *b;
    struct eng_row_result *results;
    enum hs_endpoint ep;
    char *path;
    size_t nchunks;
    pthread_mutex_t mu;
    size_t next;
    retl_err err;
    struct retl_errbuf eb;
};

struct hs_worker {
    struct hs_work *w;
    int client;
};

static void *worker(void *arg)
{
    struct hs_worker *me = arg;
    struct hs_work *w = me->w;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        size_t k = w->next++;
        bool stop = w->err != RETL_E_OK || k >= w->nchunks;
        pthread_mutex_unlock(&w->mu);
        if (stop)
            break;
        size_t from = k * HS_BATCH_MAX;
        size_t to = from + HS_BATCH_MAX < w->b->nrows ? from + HS_BATCH_MAX : w->b->nrows;
        size_t nsent = 0;
        retl_err e = RETL_E_OK;
        struct retl_errbuf eb = {{0}};
        char *body = hs_chunk_body(w->L, w->b, from, to, w->results, &nsent);
        if (!body) {
            e = retl_errf(&eb, RETL_E_NOMEM, "hubspot: cannot build a batch body");
        } else if (nsent) {
            struct hs_resp resp;
            e = hs_call(w->L->conn, me->client, w->ep, "POST", w->path, body,
                        w->L->mode != RETL_MODE_INSERT, &resp, &eb);
            if (!e && (resp.status == 401 || resp.status == 403))
                e = hs_auth_error(&resp, &eb);
            if (!e)
                hs_chunk_results(w->L, w->b, from, to, &resp, w->results);
            hs_resp_clear(&resp);
        }
        free(body);
        if (e) {
            pthread_mutex_lock(&w->mu);
            if (!w->err) {
                w->err = e;
                w->eb = eb;
            }
            pthread_mutex_unlock(&w->mu);
        }
    }
    return NULL;
}

retl_err hs_load_batch(const struct hs_load *L, const struct eng_batch *b,
                       struct eng_row_result *results, struct retl_errbuf *eb)
{
    struct hs_work w = {.L = L, .b = b, .results = results};
    const char *op = L->mode == RETL_MODE_INSERT   ? "create"
                     : L->mode == RETL_MODE_UPDATE ? "update"
                                                   : "upsert";
    w.ep = L->mode == RETL_MODE_INSERT   ? HS_EP_CREATE
           : L->mode == RETL_MODE_UPDATE ? HS_EP_UPDATE
                                         : HS_EP_UPSERT;
    if (asprintf(&w.path, "/crm/v3/objects/%s/batch/%s", L->object, op) < 0)
        return RETL_E_NOMEM;
    w.nchunks = (b->nrows + HS_BATCH_MAX - 1) / HS_BATCH_MAX;
    pthread_mutex_init(&w.mu, NULL);
    int n = L->conn->nclients < (int)w.nchunks ? L->conn->nclients : (int)w.nchunks;
    pthread_t th[HS_MAX_CONCURRENCY];
    struct hs_worker me[HS_MAX_CONCURRENCY];
    int started = 0;
    for (int i = 1; i < n; i++) {
        me[i] = (struct hs_worker){&w, i};
        if (pthread_create(&th[i], NULL, worker, &me[i]))
            break;
        started = i;
    }
    me[0] = (struct hs_worker){&w, 0};
    worker(&me[0]);
    for (int i = 1; i <= started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&w.mu);
    free(w.path);
    if (w.err) {
        if (eb)
            *eb = w.eb;
        return w.err;
    }
    return RETL_E_OK;
}
