/* sObject Collections: create (POST), update (PATCH) and upsert by external id
 * (PATCH .../{object}/{field}), 200 records per request, allOrNone=false,
 * several requests in flight, results matched by position. Records failing
 * with UNABLE_TO_LOCK_ROW are sent again (twice at most) after a pause. */
#include "engine/dest/salesforce_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

#define SF_REST_BODY_MAX (64u * 1024 * 1024)
#define SF_LOCK_ROUNDS 3

void sf_result_fail(struct eng_row_result *r, const char *code, const char *message,
                    const char *fields)
{
    free(r->dest_id);
    free(r->code);
    free(r->message);
    free(r->fields);
    memset(r, 0, sizeof *r);
    r->code = strdup(code && *code ? code : "UNKNOWN_EXCEPTION");
    r->message = strdup(message ? message : "");
    r->fields = fields && *fields ? strdup(fields) : NULL;
}

void sf_result_ok(struct eng_row_result *r, const char *id, bool created)
{
    free(r->dest_id);
    free(r->code);
    free(r->message);
    free(r->fields);
    memset(r, 0, sizeof *r);
    r->ok = true;
    r->created = created;
    r->dest_id = id && *id ? strdup(id) : NULL;
}

bool sf_rest_record(struct retl_buf *out, const struct sf_load *L,
                    const struct eng_batch *b, size_t i, struct sf_verr *err)
{
    size_t mark = out->len;
    retl_err e = retl_buf_adds(out, "{\"attributes\":{\"type\":");
    if (!e)
        e = sf_json_str(out, L->object, strlen(L->object));
    if (!e)
        e = retl_buf_addc(out, '}');
    const struct eng_row *row = &b->rows[i];
    for (size_t c = 0; c < b->ncols && !e; c++) {
        const struct sf_field *f = L->fields[c];
        if (!f)
            continue;
        /* nulls Skip: an omitted field keeps the record's value. */
        if (!row->vals[c] && b->cols[c].skip_nulls)
            continue;
        /* A lookup: the parent by its external id, under the relationship
         * name ({"Account": {"External_Id__c": "A-1"}}); NULL clears the
         * reference field itself. */
        if (row->vals[c] && b->cols[c].lookup_field && f->relationship_name) {
            const char *rel = f->relationship_name, *lf = b->cols[c].lookup_field;
            e = retl_buf_addc(out, ',');
            if (!e)
                e = sf_json_str(out, rel, strlen(rel));
            if (!e)
                e = retl_buf_adds(out, ":{");
            if (!e)
                e = sf_json_str(out, lf, strlen(lf));
            if (!e)
                e = retl_buf_addc(out, ':');
            if (!e)
                e = sf_json_str(out, row->vals[c], strlen(row->vals[c]));
            if (!e)
                e = retl_buf_addc(out, '}');
            continue;
        }
        e = retl_buf_addc(out, ',');
        if (!e)
            e = sf_json_str(out, f->name, strlen(f->name));
        if (!e)
            e = retl_buf_addc(out, ':');
        if (e)
            break;
        if (!sf_value_append(out, SF_VAL_JSON, f, b->cols[c].type, row->vals[c], err)) {
            out->len = mark;
            if (out->data)
                out->data[mark] = '\0';
            return false;
        }
    }
    if (!e)
        e = retl_buf_addc(out, '}');
    if (e) {
        err->code = "TOO_BIG";
        snprintf(err->message, sizeof err->message,
                 "record does not fit the request size limit");
        return false;
    }
    return true;
}

/* "a,b" from a JSON array of strings into a heap string (NULL when empty). */
static char *join_fields(const json_t *a)
{
    size_t i;
    json_t *v;
    struct retl_buf b;
    retl_buf_init(&b, 64 * 1024);
    json_array_foreach (a, i, v) {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        if (b.len)
            retl_buf_addc(&b, ',');
        retl_buf_adds(&b, s);
    }
    char *r = b.len ? retl_buf_take(&b) : NULL;
    retl_buf_free(&b);
    return r;
}

static void fail_from_errors(struct eng_row_result *r, const json_t *errors)
{
    const json_t *e0 = json_array_get(errors, 0);
    const char *code = json_string_value(json_object_get(e0, "statusCode"));
    if (!code)
        code = json_string_value(json_object_get(e0, "errorCode"));
    /* Several errors: their messages joined, the first code kept. */
    struct retl_buf msg;
    retl_buf_init(&msg, 16 * 1024);
    size_t i;
    json_t *e;
    json_array_foreach (errors, i, e) {
        const char *m = json_string_value(json_object_get(e, "message"));
        if (!m)
            continue;
        if (msg.len)
            retl_buf_adds(&msg, "; ");
        retl_buf_adds(&msg, m);
    }
    char *fields = join_fields(json_object_get(e0, "fields"));
    sf_result_fail(r, code ? code : "UNKNOWN_EXCEPTION", retl_buf_str(&msg), fields);
    free(fields);
    retl_buf_free(&msg);
}

retl_err sf_rest_parse_results(const struct sf_load *L, long status, const char *body,
                               const size_t *idx, size_t n,
                               struct eng_row_result *results, struct retl_errbuf *eb)
{
    json_t *j = json_loads(body ? body : "", 0, NULL);
    retl_err e = RETL_E_OK;
    if (status == 200 && json_is_array(j) && json_array_size(j) == n) {
        for (size_t k = 0; k < n; k++) {
            const json_t *r = json_array_get(j, k);
            struct eng_row_result *res = &results[idx[k]];
            if (json_is_true(json_object_get(r, "success"))) {
                bool created = L->mode == RETL_MODE_INSERT;
                const json_t *cr = json_object_get(r, "created");
                if (json_is_boolean(cr))
                    created = json_is_true(cr);
                sf_result_ok(res, json_string_value(json_object_get(r, "id")), created);
            } else {
                fail_from_errors(res, json_object_get(r, "errors"));
            }
        }
        goto out;
    }
    if (status == 200) {
        char shown[201];
        e = retl_errf(eb, RETL_E_DEST,
                      "sObject Collections: expected an array of %zu results, "
                      "got %s",
                      n, retl_redact_excerpt(body ? body : "", shown, sizeof shown));
        goto out;
    }
    if (status == 400 && json_is_array(j) && json_array_size(j) > 0) {
        /* The request as a whole was refused, so nothing of it was written:
         * every record carries the request's error. */
        const char *code, *msg;
        sf_rest_error(j, &code, &msg);
        char *fields = join_fields(json_object_get(json_array_get(j, 0), "fields"));
        for (size_t k = 0; k < n; k++)
            sf_result_fail(&results[idx[k]], code, msg, fields);
        free(fields);
        goto out;
    }
    {
        struct sf_call tmp = {.status = status};
        retl_buf_init(&tmp.resp, 1u << 20);
        retl_buf_adds(&tmp.resp, body ? body : "");
        e = sf_call_fail(&tmp, "sObject Collections", eb);
        retl_buf_free(&tmp.resp);
    }
out:
    json_decref(j);
    return e;
}

struct chunk {
    size_t *idx; /* rows of the batch in this request */
    size_t n;
    struct retl_buf body;
};

/* Whether the server answered a Collections request with per-record results
 * (200) or a refusal of the whole request (400 with an error array). */
static bool sf_rest_answered(const struct sf_call *c)
{
    return c->state == 2 && (c->status == 200 || c->status == 400);
}

/* Fails the rows of a request the server did not answer with results: not
 * sent (the round stopped first), a transport error, or a 5xx. Whether a
 * create was written is unknown, so the rows fail as transient (HTTP_<status>,
 * REQUEST_NOT_SENT, REQUEST_FAILED) and the next run sends them again. The
 * returned error (with its message in ceb) is what fails the batch. */
static retl_err unanswered(const struct sf_call *c, retl_err round_err,
                           const struct retl_errbuf *round_eb, const size_t *idx,
                           size_t n, struct eng_row_result *results,
                           struct retl_errbuf *ceb)
{
    char code[32];
    retl_err e;
    if (c->state != 2) {
        snprintf(code, sizeof code, "REQUEST_NOT_SENT");
        e = retl_errf(ceb, round_err ? round_err : RETL_E_DEST,
                      "sObject Collections: request not sent: %s",
                      round_eb && round_eb->msg[0] ? round_eb->msg : "the round stopped");
    } else if (c->status == 0) {
        snprintf(code, sizeof code, "REQUEST_FAILED");
        e = retl_errf(ceb, round_err ? round_err : RETL_E_HTTP, "sObject Collections: %s",
                      round_eb && round_eb->msg[0] ? round_eb->msg : "no response");
    } else {
        snprintf(code, sizeof code, "HTTP_%ld", c->status);
        e = sf_call_fail(c, "sObject Collections", ceb);
    }
    for (size_t k = 0; k < n; k++)
        if (!results[idx[k]].ok && !results[idx[k]].code)
            sf_result_fail(&results[idx[k]], code, ceb->msg, NULL);
    return e;
}

/* The Collections path of the job's mode. Ownership: caller frees; NULL
 * when out of memory. */
static char *rest_path(const struct sf_load *L)
{
    char *path = NULL;
    if (L->mode != RETL_MODE_UPSERT)
        return strdup("/composite/sobjects");
    if (asprintf(&path, "/composite/sobjects/%s/%s", L->object, L->ext_id) < 0)
        return NULL;
    return path;
}

/* Builds the request bodies of rows[0..nrows) into ch (200 records each;
 * *used counts the chunks begun, whose buffers the caller frees). Rows whose
 * values cannot be sent fail here without an API call; a record over the
 * body cap fails the batch (TOO_BIG). */
static retl_err build_chunks(const struct sf_load *L, const struct eng_batch *b,
                             const size_t *rows, size_t nrows, struct chunk *ch,
                             size_t *used, struct eng_row_result *results,
                             struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    struct chunk *cur = NULL;
    for (size_t k = 0; k < nrows; k++) {
        if (!cur || cur->n == SF_COLLECTION_MAX) {
            if (cur && (e = retl_buf_adds(&cur->body, "]}")))
                return e;
            cur = &ch[(*used)++];
            cur->idx = malloc(SF_COLLECTION_MAX * sizeof *cur->idx);
            retl_buf_init(&cur->body, SF_REST_BODY_MAX);
            if (!cur->idx ||
                (e = retl_buf_adds(&cur->body, "{\"allOrNone\":false,\"records\":[")))
                return e ? e : RETL_E_NOMEM;
        }
        if (cur->n && (e = retl_buf_addc(&cur->body, ',')))
            return e;
        struct sf_verr verr = {0};
        size_t mark = cur->body.len;
        if (!sf_rest_record(&cur->body, L, b, rows[k], &verr)) {
            if (!strcmp(verr.code, "TOO_BIG"))
                return retl_errf(eb, RETL_E_TOO_BIG, "%s", verr.message);
            cur->body.len = cur->n ? mark - 1 : mark; /* drop the comma */
            cur->body.data[cur->body.len] = '\0';
            sf_result_fail(&results[rows[k]], verr.code, verr.message, verr.field);
            continue;
        }
        cur->idx[cur->n++] = rows[k];
    }
    return cur ? retl_buf_adds(&cur->body, "]}") : RETL_E_OK;
}

/* Records every answer of the round into results, even when another
 * request of the round failed: a created record that is not recorded would
 * be created again by the next run. Requests without an answer fail their
 * rows as transient. Returns the round's error e (message in eb) or, when
 * e is OK, the first error found here. */
static retl_err record_answers(const struct sf_load *L, const struct chunk *ch,
                               size_t used, const struct sf_call *calls, retl_err e,
                               struct eng_row_result *results, struct retl_errbuf *eb)
{
    size_t ci = 0;
    for (size_t i = 0; i < used; i++) {
        if (!ch[i].n)
            continue;
        const struct sf_call *c = &calls[ci++];
        if (!sf_rest_answered(c)) {
            struct retl_errbuf ceb = {{0}};
            retl_err ce = unanswered(c, e, eb, ch[i].idx, ch[i].n, results, &ceb);
            if (!e) {
                e = ce;
                if (eb)
                    *eb = ceb;
            }
            continue;
        }
        struct retl_errbuf peb = {{0}};
        retl_err pe = sf_rest_parse_results(L, c->status, retl_buf_str(&c->resp),
                                            ch[i].idx, ch[i].n, results, &peb);
        if (!pe)
            continue;
        for (size_t k = 0; k < ch[i].n; k++)
            if (!results[ch[i].idx[k]].ok && !results[ch[i].idx[k]].code)
                sf_result_fail(&results[ch[i].idx[k]], "INVALID_RESPONSE", peb.msg, NULL);
        if (!e) {
            e = pe;
            if (eb)
                *eb = peb;
        }
    }
    return e;
}

/* One round: rows[0..nrows) in Collections requests of 200, all in flight
 * together, every answer recorded in results. */
static retl_err rest_round(struct sf_load *L, const struct eng_batch *b,
                           const size_t *rows, size_t nrows,
                           struct eng_row_result *results, struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    size_t nch = (nrows + SF_COLLECTION_MAX - 1) / SF_COLLECTION_MAX;
    struct chunk *ch = calloc(nch ? nch : 1, sizeof *ch);
    struct sf_call *calls = calloc(nch ? nch : 1, sizeof *calls);
    size_t used = 0, ncalls = 0;
    char *path = NULL;
    if (!ch || !calls || !(path = rest_path(L))) {
        e = RETL_E_NOMEM;
        goto out;
    }
    if ((e = build_chunks(L, b, rows, nrows, ch, &used, results, eb)))
        goto out;
    for (size_t i = 0; i < used; i++) {
        if (!ch[i].n)
            continue;
        struct sf_call *c = &calls[ncalls++];
        c->method = L->mode == RETL_MODE_INSERT ? "POST" : "PATCH";
        c->url = sf_data_url(L->conn, path);
        c->body = ch[i].body.data;
        c->body_len = ch[i].body.len;
        c->idempotent = L->mode != RETL_MODE_INSERT;
        if (!c->url)
            e = RETL_E_NOMEM;
    }
    if (e || !ncalls)
        goto out;
    /* Reserve the whole batch up front so the call cap stops a run between
     * batches, never in the middle of one. */
    if ((e = sf_reserve_calls(L->conn, (long long)ncalls, eb)))
        goto out;
    e = sf_http_run(L->conn, calls, ncalls, eb);
    e = record_answers(L, ch, used, calls, e, results, eb);
out:
    free(path);
    for (size_t i = 0; ch && i < used; i++) {
        free(ch[i].idx);
        retl_buf_free(&ch[i].body);
    }
    for (size_t i = 0; calls && i < nch; i++)
        sf_call_clear(&calls[i]);
    free(ch);
    free(calls);
    return e;
}

/* Whether a row failed with lock contention, which passes on its own. */
static bool locked(const struct eng_row_result *r)
{
    return !r->ok && r->code && !strcmp(r->code, "UNABLE_TO_LOCK_ROW");
}

retl_err sf_rest_rows(struct sf_load *L, const struct eng_batch *b, size_t *rows,
                      size_t n, int rounds, struct eng_row_result *results,
                      struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    for (int round = 1; n && !e && round <= rounds; round++) {
        if (round > 1) {
            RETL_LOG_INFO("salesforce records locked, sending again", RF_I("records", n),
                          RF_I("round", round));
            struct timespec ts = {0, 200000000L * (round - 1)};
            nanosleep(&ts, NULL);
        }
        e = rest_round(L, b, rows, n, results, eb);
        /* Lock contention is transient: send those records again. */
        size_t m = 0;
        for (size_t k = 0; k < n; k++)
            if (locked(&results[rows[k]]))
                rows[m++] = rows[k];
        n = m;
    }
    return e;
}

retl_err sf_rest_load(struct sf_load *L, const struct eng_batch *b,
                      struct eng_row_result *results, struct retl_errbuf *eb)
{
    size_t *rows = malloc((b->nrows ? b->nrows : 1) * sizeof *rows);
    if (!rows)
        return RETL_E_NOMEM;
    for (size_t i = 0; i < b->nrows; i++)
        rows[i] = i;
    retl_err e = sf_rest_rows(L, b, rows, b->nrows, SF_LOCK_ROUNDS, results, eb);
    free(rows);
    return e;
}
