/* Bulk API 2.0 ingest: one job per batch (or per 100 MB of CSV): create,
 * upload the CSV (one PUT), close, poll with backoff, then fetch the results
 * that can exist (successful / failed / unprocessed, in parallel) and map each
 * result line back to its row by the key column, since result order is not
 * the upload order. */
#include "engine/dest/salesforce_int.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"

#define SF_BULK_RESULTS_MAX (1024u * 1024 * 1024)
/* At most this many locked records are sent again over Collections. */
#define SF_BULK_LOCK_RETRY_MAX 2000

/* The column results are matched on: the key column when it is sent, else -1
 * (all columns together). */
static long key_col(const struct sf_load *L, const struct eng_batch *b)
{
    for (size_t c = 0; c < b->ncols; c++)
        if (b->cols[c].is_key && L->fields[c])
            return (long)c;
    return -1;
}

/* The CSV header of column c: the field, or Relationship.Field for a lookup.
 * Returns name or buf. */
static const char *header_name(const struct sf_load *L, const struct eng_batch *b,
                               size_t c, char *buf, size_t n)
{
    const struct sf_field *f = L->fields[c];
    if (b->cols[c].lookup_field && f->relationship_name) {
        snprintf(buf, n, "%s.%s", f->relationship_name, b->cols[c].lookup_field);
        return buf;
    }
    return f->name;
}

/* The raw (unquoted) CSV text of row i, column c, into out. */
static bool cell_raw(const struct sf_load *L, const struct eng_batch *b, size_t i,
                     size_t c, struct retl_buf *out, struct sf_verr *err)
{
    const char *v = b->rows[i].vals[c];
    /* An empty CSV value leaves the field unchanged on update; Salesforce
     * stores an empty text as null, so clear it explicitly. */
    if (v && !*v && L->mode != RETL_MODE_INSERT)
        v = NULL;
    /* nulls Skip: an empty cell changes nothing ("#N/A" is what sets null). */
    if (!v && b->cols[c].skip_nulls)
        return true;
    /* A lookup column (header Relationship.Field) holds the parent's
     * external id as it is; no parent to name leaves it empty. */
    if (b->cols[c].lookup_field && L->fields[c]->relationship_name)
        return !v || !retl_buf_adds(out, v);
    return sf_value_append(out, SF_VAL_RAW, L->fields[c], b->cols[c].type, v, err);
}

/* The header line: the fields' names. */
static retl_err csv_header(const struct sf_load *L, const struct eng_batch *b,
                           struct retl_buf *csv)
{
    retl_err rc = RETL_E_OK;
    bool first = true;
    for (size_t c = 0; c < b->ncols && !rc; c++) {
        if (!L->fields[c])
            continue;
        if (!first)
            rc = retl_buf_addc(csv, ',');
        first = false;
        char hb[512];
        const char *h = header_name(L, b, c, hb, sizeof hb);
        if (!rc)
            rc = sf_csv_field(csv, h, strlen(h));
    }
    return rc ? rc : retl_buf_addc(csv, '\n');
}

/* Appends the lines of rows idx[0..n), as sf_bulk_csv does after the header. */
static retl_err csv_rows(const struct sf_load *L, const struct eng_batch *b,
                         const size_t *idx, size_t n, struct retl_buf *csv,
                         struct eng_row_result *results, size_t *sent, size_t *nsent,
                         struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    struct retl_buf cell;
    retl_buf_init(&cell, 1u << 20);
    size_t ns = 0;
    for (size_t k = 0; k < n && !e; k++) {
        size_t i = idx[k], mark = csv->len;
        bool ok = true, firstc = true;
        struct sf_verr verr = {0};
        for (size_t c = 0; c < b->ncols && ok && !e; c++) {
            if (!L->fields[c])
                continue;
            retl_buf_reset(&cell);
            ok = cell_raw(L, b, i, c, &cell, &verr);
            if (!ok)
                break;
            if (!firstc)
                e = retl_buf_addc(csv, ',');
            firstc = false;
            if (!e)
                e = sf_csv_field(csv, retl_buf_str(&cell), cell.len);
        }
        if (e)
            break;
        if (!ok) {
            if (!strcmp(verr.code, "TOO_BIG")) {
                e = retl_errf(eb, RETL_E_TOO_BIG, "%s", verr.message);
                break;
            }
            csv->len = mark;
            if (csv->data)
                csv->data[mark] = '\0';
            sf_result_fail(&results[i], verr.code, verr.message, verr.field);
            continue;
        }
        e = retl_buf_addc(csv, '\n');
        sent[ns++] = i;
    }
    retl_buf_free(&cell);
    if (e == RETL_E_TOO_BIG && !eb->msg[0])
        retl_errf(eb, e, "Bulk CSV larger than %zu bytes", csv->max);
    if (!e)
        *nsent = ns;
    return e;
}

retl_err sf_bulk_csv(const struct sf_load *L, const struct eng_batch *b,
                     const size_t *idx, size_t n, struct retl_buf *csv,
                     struct eng_row_result *results, size_t *sent, size_t *nsent,
                     struct retl_errbuf *eb)
{
    retl_err rc = csv_header(L, b, csv);
    return rc ? rc : csv_rows(L, b, idx, n, csv, results, sent, nsent, eb);
}

/* ---- matching result lines to rows ---- */

struct keymap {
    struct retl_buf keys; /* NUL-separated match texts */
    size_t *off;          /* per sent row: offset of its text in keys */
    size_t *slot;         /* hash slots: row position + 1, 0 = empty */
    size_t nslots;
};

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void keymap_free(struct keymap *m)
{
    retl_buf_free(&m->keys);
    free(m->off);
    free(m->slot);
}

/* The match text of row i: its key cell, or all cells joined by 0x1f. */
static retl_err row_text(const struct sf_load *L, const struct eng_batch *b, size_t i,
                         long kc, struct retl_buf *out)
{
    struct sf_verr verr;
    for (size_t c = 0; c < b->ncols; c++) {
        if (!L->fields[c] || (kc >= 0 && (size_t)kc != c))
            continue;
        if (out->len && kc < 0 && retl_buf_addc(out, 0x1f))
            return RETL_E_NOMEM;
        if (!cell_raw(L, b, i, c, out, &verr))
            return RETL_E_INVALID;
    }
    return RETL_E_OK;
}

static retl_err keymap_build(struct keymap *m, const struct sf_load *L,
                             const struct eng_batch *b, const size_t *sent, size_t n,
                             long kc)
{
    memset(m, 0, sizeof *m);
    retl_buf_init(&m->keys, SF_BULK_RESULTS_MAX);
    m->nslots = 16;
    while (m->nslots < n * 2)
        m->nslots *= 2;
    m->off = malloc((n ? n : 1) * sizeof *m->off);
    m->slot = calloc(m->nslots, sizeof *m->slot);
    if (!m->off || !m->slot)
        return RETL_E_NOMEM;
    struct retl_buf t;
    retl_buf_init(&t, 4u << 20);
    retl_err e = RETL_E_OK;
    for (size_t k = 0; k < n && !e; k++) {
        retl_buf_reset(&t);
        e = row_text(L, b, sent[k], kc, &t);
        if (e)
            break;
        m->off[k] = m->keys.len;
        e = retl_buf_add(&m->keys, retl_buf_str(&t), t.len + 1);
        uint64_t h = fnv(retl_buf_str(&t)) & (m->nslots - 1);
        while (m->slot[h])
            h = (h + 1) & (m->nslots - 1);
        m->slot[h] = k + 1;
    }
    retl_buf_free(&t);
    return e;
}

/* The position of the first not yet answered row whose text is s, or -1. */
static long keymap_find(const struct keymap *m, const char *s, const bool *done)
{
    uint64_t h = fnv(s) & (m->nslots - 1);
    long any = -1;
    for (; m->slot[h]; h = (h + 1) & (m->nslots - 1)) {
        size_t k = m->slot[h] - 1;
        if (strcmp(m->keys.data + m->off[k], s))
            continue;
        if (!done[k])
            return (long)k;
        any = (long)k;
    }
    return any;
}

/* Applies the parsed result set r of kind ('s', 'f' or 'u') to the rows
 * idx[...], found through m. */
static retl_err apply_set(const struct sf_load *L, const struct eng_batch *b,
                          const size_t *idx, char kind, const struct sf_csv *r,
                          const struct keymap *m, struct eng_row_result *results,
                          bool *done, struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    struct retl_buf t;
    retl_buf_init(&t, 4u << 20);
    long kc = key_col(L, b);
    /* Result columns for the match text, in the order of the upload. */
    long cols[256];
    size_t ncols = 0;
    for (size_t c = 0; c < b->ncols; c++) {
        if (!L->fields[c] || (kc >= 0 && (size_t)kc != c))
            continue;
        if (ncols == sizeof cols / sizeof cols[0]) {
            rc = retl_errf(eb, RETL_E_UNSUPPORTED,
                           "Bulk results: more than 256 columns without a key");
            goto out;
        }
        char hb[512];
        const char *h = header_name(L, b, c, hb, sizeof hb);
        cols[ncols] = sf_csv_col(r, h);
        if (cols[ncols] < 0) {
            rc =
                retl_errf(eb, RETL_E_DEST, "Bulk results lack the uploaded column %s", h);
            goto out;
        }
        ncols++;
    }
    long c_id = sf_csv_col(r, "sf__Id"), c_created = sf_csv_col(r, "sf__Created"),
         c_err = sf_csv_col(r, "sf__Error");
    if ((kind == 's' && c_id < 0) || (kind == 'f' && c_err < 0)) {
        rc = retl_errf(eb, RETL_E_DEST, "Bulk %s results lack the sf__ columns",
                       kind == 's' ? "successful" : "failed");
        goto out;
    }
    size_t unmatched = 0;
    for (size_t row = 0; row < r->nrows && ncols; row++) {
        const char *text = sf_csv_cell(r, row, (size_t)cols[0]);
        if (ncols > 1) {
            retl_buf_reset(&t);
            for (size_t c = 0; c < ncols; c++) {
                if (c)
                    RETL_TRY(retl_buf_addc(&t, 0x1f));
                RETL_TRY(retl_buf_adds(&t, sf_csv_cell(r, row, (size_t)cols[c])));
            }
            text = retl_buf_str(&t);
        }
        long k = keymap_find(m, text, done);
        if (k < 0) {
            unmatched++;
            continue;
        }
        struct eng_row_result *res = &results[idx[k]];
        if (kind == 's') {
            const char *cr = c_created >= 0 ? sf_csv_cell(r, row, (size_t)c_created) : "";
            bool created =
                c_created >= 0 ? !strcasecmp(cr, "true") : L->mode == RETL_MODE_INSERT;
            sf_result_ok(res, sf_csv_cell(r, row, (size_t)c_id), created);
        } else if (kind == 'f') {
            char *code, *msg, *fields;
            sf_bulk_error_split(sf_csv_cell(r, row, (size_t)c_err), &code, &msg, &fields);
            sf_result_fail(res, code, msg, fields);
            free(code);
            free(msg);
            free(fields);
        } else {
            sf_result_fail(res, "UNPROCESSED",
                           "not processed by the Bulk job (it failed or was "
                           "aborted); sent again on the next run",
                           NULL);
        }
        done[k] = true;
    }
    if (unmatched)
        RETL_LOG_WARN("bulk result lines without a matching row",
                      RF_I("lines", unmatched),
                      RF_S("kind", kind == 's'   ? "successful"
                                   : kind == 'f' ? "failed"
                                                 : "unprocessed"));
out:
    retl_buf_free(&t);
    return rc;
}

/* Parses one result set's CSV and applies it through m. */
static retl_err apply_csv(const struct sf_load *L, const struct eng_batch *b,
                          const size_t *idx, char kind, const char *csv, size_t csv_len,
                          const struct keymap *m, struct eng_row_result *results,
                          bool *done, struct retl_errbuf *eb)
{
    struct sf_csv r = {0};
    retl_err rc = sf_csv_parse(csv, csv_len, &r, eb);
    if (!rc)
        rc = apply_set(L, b, idx, kind, &r, m, results, done, eb);
    sf_csv_free(&r);
    return rc;
}

retl_err sf_bulk_apply(const struct sf_load *L, const struct eng_batch *b,
                       const size_t *idx, size_t n, char kind, const char *csv,
                       size_t csv_len, struct eng_row_result *results, bool *done,
                       struct retl_errbuf *eb)
{
    struct keymap m = {0};
    retl_err rc = keymap_build(&m, L, b, idx, n, key_col(L, b));
    if (!rc)
        rc = apply_csv(L, b, idx, kind, csv, csv_len, &m, results, done, eb);
    keymap_free(&m);
    return rc;
}

/* ---- the job ---- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_until(long long t)
{
    retl_sleep_ms((long)(t - now_ms()));
}

/* "/jobs/ingest/{id}{suffix}". Ownership: caller frees. */
static char *job_path(const char *id, const char *suffix)
{
    char *p = NULL;
    if (asprintf(&p, "/jobs/ingest/%s%s", id, suffix) < 0)
        return NULL;
    return p;
}

/* Sets c up for method on the data API path (NULL: no URL). Ownership: c owns
 * the URL (sf_call_clear). */
static retl_err call_path(struct sf_load *L, struct sf_call *c, const char *method,
                          const char *path)
{
    memset(c, 0, sizeof *c);
    c->method = method;
    c->url = path ? sf_data_url(L->conn, path) : NULL;
    c->idempotent = true;
    return c->url ? RETL_E_OK : RETL_E_NOMEM;
}

/* Sends method to the job's path (suffix after the id) with an optional
 * body; any status but ok1/ok2 is an error naming what. The answer stays in
 * c (the caller clears it). */
static retl_err job_call(struct sf_load *L, struct sf_call *c, const char *id,
                         const char *suffix, const char *method, const char *ctype,
                         const char *body, size_t len, long ok1, long ok2,
                         const char *what, struct retl_errbuf *eb)
{
    char *path = job_path(id, suffix);
    retl_err rc = path ? call_path(L, c, method, path) : RETL_E_NOMEM;
    free(path);
    if (rc)
        return rc;
    c->content_type = ctype;
    c->body = body;
    c->body_len = len;
    rc = sf_http_one(L->conn, c, eb);
    if (!rc && c->status != ok1 && c->status != ok2)
        rc = sf_call_fail(c, what, eb);
    return rc;
}

static long long jlong(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    if (json_is_real(v))
        return (long long)json_real_value(v);
    if (json_is_string(v))
        return atoll(json_string_value(v));
    return 0;
}

static const char *bulk_operation(const struct sf_load *L)
{
    return L->bulk_op                    ? L->bulk_op
           : L->mode == RETL_MODE_INSERT ? "insert"
           : L->mode == RETL_MODE_UPDATE ? "update"
                                         : "upsert";
}

/* Milliseconds since the epoch of a Salesforce timestamp
 * ("2024-05-01T10:00:41.123+0000"), or -1. Whole seconds (".000", as
 * Salesforce itself writes them) are -1 too: too coarse to time a job. */
static long long stamp_ms(const char *s)
{
    struct tm tm = {0};
    int ms = 0, n = 0;
    if (!s ||
        sscanf(s, "%d-%d-%dT%d:%d:%d.%3d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) != 7 ||
        ms <= 0 || strcmp(s + n, "+0000"))
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (long long)timegm(&tm) * 1000 + ms;
}

/* Creates an ingest job for the load's object and operation; *clock_off is
 * this host's clock (now_ms) minus the server's at creation, LLONG_MIN when
 * the server's stamp is too coarse. Ownership: the caller frees *id. */
static retl_err job_create(struct sf_load *L, char **id, long long *clock_off,
                           struct retl_errbuf *eb)
{
    retl_err rc;
    struct sf_call c = {0};
    json_t *info = NULL;
    char *body = NULL;
    /* create, upload, close, one poll, one result at least */
    RETL_TRY(sf_reserve_calls(L->conn, 5, eb));
    json_t *job = json_pack("{s:s, s:s, s:s, s:s, s:s}", "object", L->object, "operation",
                            bulk_operation(L), "contentType", "CSV", "lineEnding", "LF",
                            "columnDelimiter", "COMMA");
    if (job && L->ext_id)
        json_object_set_new(job, "externalIdFieldName", json_string(L->ext_id));
    body = job ? json_dumps(job, JSON_COMPACT) : NULL;
    json_decref(job);
    if (!body) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    RETL_TRY(call_path(L, &c, "POST", "/jobs/ingest"));
    c.body = body;
    c.body_len = strlen(body);
    RETL_TRY(sf_http_one(L->conn, &c, eb));
    if (c.status != 200 && c.status != 201) {
        rc = sf_call_fail(&c, "Bulk API 2.0: create job", eb);
        goto out;
    }
    info = json_loads(retl_buf_str(&c.resp), 0, NULL);
    const char *jid = json_string_value(json_object_get(info, "id"));
    if (!jid) {
        char shown[201];
        retl_redact_excerpt(retl_buf_str(&c.resp), shown, sizeof shown);
        rc = retl_errf(eb, RETL_E_DEST, "Bulk API 2.0: create job: no job id in %s",
                       shown);
        goto out;
    }
    long long created = stamp_ms(json_string_value(json_object_get(info, "createdDate")));
    long long off = created < 0 ? LLONG_MIN : now_ms() - created;
    char *dup = strdup(jid);
    if (!dup) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    *id = dup;
    *clock_off = off;
out:
    sf_call_clear(&c);
    json_decref(info);
    free(body);
    return rc;
}

/* Best effort: a job left Open would hold its data for 24 h. */
static void job_abort(struct sf_load *L, const char *id)
{
    struct sf_call c;
    struct retl_errbuf ign;
    static const char body[] = "{\"state\":\"Aborted\"}";
    job_call(L, &c, id, "", "PATCH", NULL, body, sizeof body - 1, 200, 200,
             "Bulk API 2.0: abort job", &ign);
    sf_call_clear(&c);
}

/* Uploads the CSV (one PUT) and closes the job, which starts processing. */
static retl_err job_send(struct sf_load *L, const char *id, const struct retl_buf *csv,
                         struct retl_errbuf *eb)
{
    retl_err rc;
    struct sf_call c = {0};
    static const char close[] = "{\"state\":\"UploadComplete\"}";
    RETL_TRY(job_call(L, &c, id, "/batches", "PUT", "text/csv", csv->data, csv->len, 201,
                      200, "Bulk API 2.0: upload job data", eb));
    sf_call_clear(&c);
    RETL_TRY(job_call(L, &c, id, "", "PATCH", NULL, close, sizeof close - 1, 200, 200,
                      "Bulk API 2.0: close job", eb));
out:
    sf_call_clear(&c);
    return rc;
}

/* ---- when to poll ---- */

static long long clamp_wait(const struct sf_load *L, long long w, long long floor)
{
    if (w < floor)
        w = floor;
    return w > L->poll_max_ms ? L->poll_max_ms : w;
}

long long sf_poll_first(const struct sf_load *L, long long n)
{
    double ms = L->bulk_ms_per_row > 0
                    ? 0.9 * L->bulk_ms_per_row * (double)n
                    : (double)L->poll_base_ms + (double)n * (double)L->poll_row_us / 1000;
    return clamp_wait(L, (long long)ms, L->poll_base_ms);
}

/* The pause until a job with done_n of total records processed at t is
 * likely done. */
static long long predict(const struct sf_pacer *p, const struct sf_load *L, long long t,
                         long long done_n, long long total)
{
    long long next;
    if (p->prev_t && done_n > p->prev_done && t > p->prev_t) {
        /* The current rate, with a small reserve: polling early costs a call. */
        double per = (double)(t - p->prev_t) / (double)(done_n - p->prev_done);
        next = (long long)((double)(total - done_n) * per * 1.05) + 20;
    } else {
        /* The average pace since the job last had nothing processed. It
         * started later than that, so for a steady job this end is never
         * early; a tenth more covers a server slowing down. */
        double per = (double)(t - p->idle_t) / (double)done_n;
        next = (long long)((double)(total - done_n) * per * 1.1) + 10;
    }
    /* No further ahead than the job has been watched processing: a pace
     * measured while the server was busy elsewhere can be far too slow, and a
     * poll on the way measures it again. */
    long long span = t - p->idle_t > L->poll_base_ms ? t - p->idle_t : L->poll_base_ms;
    return next < span ? next : span;
}

long long sf_poll_next(struct sf_pacer *p, const struct sf_load *L, long long t,
                       long long done_n, long long total)
{
    long long next;
    if (total > 0 && done_n >= total) {
        /* All processed: about to complete; doubling if it takes longer. */
        next = p->prev_done >= total ? p->wait * 2 : L->poll_base_ms / 4;
    } else if (done_n <= 0) {
        p->idle_t = t; /* queued or still reading the upload: back off */
        next = p->wait * 3 / 2;
    } else {
        next = predict(p, L, t, done_n, total);
    }
    if (done_n > 0) {
        p->prev_t = t;
        p->prev_done = done_n;
    }
    /* A predicted end may be near; backing off starts from half the base. */
    p->wait =
        clamp_wait(L, next, done_n > 0 ? L->poll_base_ms / 10 : L->poll_base_ms / 2);
    return p->wait;
}

/* The moment (this host's clock) a job went InProgress, from its
 * systemModstamp, when the server's stamps are fine enough; else 0. */
static long long job_started(const json_t *info, long long clock_off)
{
    const char *state = json_string_value(json_object_get(info, "state"));
    if (clock_off == LLONG_MIN || !state || strcmp(state, "InProgress"))
        return 0;
    long long m = stamp_ms(json_string_value(json_object_get(info, "systemModstamp")));
    return m < 0 ? 0 : m + clock_off;
}

/* Polls the closed job (closed at t0) until a terminal state. Ownership:
 * *info is the last job info (json_decref). */
static retl_err job_wait(struct sf_load *L, const char *id, long long clock_off,
                         long long n, long long t0, json_t **info, int *polls,
                         struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    struct sf_call c = {0};
    json_t *ji = NULL;
    struct sf_pacer p = {.idle_t = t0, .wait = sf_poll_first(L, n)};
    long long at = t0 + p.wait;
    for (;;) {
        sleep_until(at);
        ++*polls;
        RETL_TRY(job_call(L, &c, id, "", "GET", NULL, NULL, 0, 200, 200,
                          "Bulk API 2.0: job status", eb));
        long long t = now_ms();
        json_decref(ji);
        ji = json_loads(retl_buf_str(&c.resp), 0, NULL);
        sf_call_clear(&c);
        const char *state = json_string_value(json_object_get(ji, "state"));
        if (!state) {
            rc = retl_errf(eb, RETL_E_DEST, "Bulk API 2.0: job %s: no state", id);
            goto out;
        }
        if (!strcmp(state, "JobComplete") || !strcmp(state, "Failed") ||
            !strcmp(state, "Aborted"))
            break;
        if (t - t0 > L->poll_timeout_ms) {
            rc = retl_errf(eb, RETL_E_TIMEOUT,
                           "Bulk API 2.0: job %s still %s after %lld s", id, state,
                           (t - t0) / 1000);
            goto out;
        }
        long long done_n = jlong(ji, "numberRecordsProcessed");
        /* Nothing was processed before the job went InProgress. */
        long long started = job_started(ji, clock_off);
        if (started > p.idle_t && started < t)
            p.idle_t = started;
        at = t + sf_poll_next(&p, L, t, done_n, n);
        RETL_LOG_DEBUG("salesforce bulk job polled", RF_S("job", id),
                       RF_S("state", state), RF_I("processed", done_n),
                       RF_I("ms", t - t0), RF_I("nextMs", at - t));
    }
    /* The next job of the run starts from this one's pace. */
    if (n > 0)
        L->bulk_ms_per_row = (double)(now_ms() - t0) / (double)n;
    *info = ji;
    ji = NULL;
out:
    sf_call_clear(&c);
    json_decref(ji);
    return rc;
}

/* Fetches the result sets that can hold lines, in parallel: successful unless
 * every record failed, failed only when some did, unprocessed only when
 * records are missing from the counts. Every row sent gets a result. */
static retl_err job_results(struct sf_load *L, const struct eng_batch *b, const char *id,
                            const size_t *sent, size_t n, const json_t *info,
                            const struct keymap *m, struct eng_row_result *results,
                            struct retl_errbuf *eb)
{
    static const struct {
        char kind;
        const char *suffix;
    } sets[] = {{'s', "/successfulResults/"},
                {'f', "/failedResults/"},
                {'u', "/unprocessedrecords/"}};
    retl_err rc = RETL_E_OK;
    struct sf_call rc3[3] = {{0}};
    char kinds[3];
    size_t nres = 0;
    long long processed = jlong(info, "numberRecordsProcessed");
    long long failed = jlong(info, "numberRecordsFailed");
    bool *done = calloc(n ? n : 1, sizeof *done);
    if (!done)
        return RETL_E_NOMEM;
    for (size_t s = 0; s < 3; s++) {
        if ((sets[s].kind == 's' && processed - failed <= 0) ||
            (sets[s].kind == 'f' && failed <= 0) ||
            (sets[s].kind == 'u' && processed >= (long long)n))
            continue;
        char *p = job_path(id, sets[s].suffix);
        rc = p ? call_path(L, &rc3[nres], "GET", p) : RETL_E_NOMEM;
        free(p);
        if (rc)
            goto out;
        rc3[nres].max_body = SF_BULK_RESULTS_MAX;
        kinds[nres++] = sets[s].kind;
    }
    long long t0 = now_ms();
    RETL_TRY(sf_http_run(L->conn, rc3, nres, eb));
    long long t1 = now_ms();
    for (size_t k = 0; k < nres; k++) {
        if (rc3[k].status != 200) {
            rc = sf_call_fail(&rc3[k], "Bulk API 2.0: job results", eb);
            goto out;
        }
        RETL_TRY(apply_csv(L, b, sent, kinds[k], retl_buf_str(&rc3[k].resp),
                           rc3[k].resp.len, m, results, done, eb));
        sf_call_clear(&rc3[k]);
    }
    RETL_LOG_DEBUG("salesforce bulk results applied", RF_S("job", id), RF_I("sets", nres),
                   RF_I("fetchMs", t1 - t0), RF_I("applyMs", now_ms() - t1));
    size_t missing = 0;
    for (size_t k = 0; k < n; k++) {
        if (done[k])
            continue;
        missing++;
        sf_result_fail(&results[sent[k]], "RESULT_MISSING",
                       "the Bulk job returned no result for this record; sent "
                       "again on the next run",
                       NULL);
    }
    if (missing)
        RETL_LOG_WARN("bulk job results missing rows", RF_S("job", id),
                      RF_I("rows", missing));
out:
    for (size_t k = 0; k < 3; k++)
        sf_call_clear(&rc3[k]);
    free(done);
    return rc;
}

/* Runs the created job id over the rows sent[0..n) whose CSV is csv. The job
 * is aborted when it cannot be seen through. */
static retl_err run_job(struct sf_load *L, const struct eng_batch *b, const char *id,
                        long long clock_off, const size_t *sent, size_t n,
                        const struct retl_buf *csv, struct eng_row_result *results,
                        struct retl_errbuf *eb)
{
    retl_err rc;
    json_t *info = NULL;
    struct keymap m = {0};
    int polls = 0;
    RETL_LOG_INFO("salesforce bulk job created", RF_S("job", id),
                  RF_S("operation", bulk_operation(L)), RF_I("records", n),
                  RF_I("bytes", csv->len));
    if ((rc = job_send(L, id, csv, eb)))
        goto abort;
    long long t0 = now_ms();
    /* The row lookup for the results is built while the server works. */
    RETL_TRY(keymap_build(&m, L, b, sent, n, key_col(L, b)));
    if ((rc = job_wait(L, id, clock_off, (long long)n, t0, &info, &polls, eb)))
        goto abort;
    const char *state = json_string_value(json_object_get(info, "state"));
    long long processed = jlong(info, "numberRecordsProcessed");
    const char *jerr = json_string_value(json_object_get(info, "errorMessage"));
    RETL_LOG_INFO("salesforce bulk job finished", RF_S("job", id), RF_S("state", state),
                  RF_I("processed", processed),
                  RF_I("failed", jlong(info, "numberRecordsFailed")),
                  RF_I("ms", now_ms() - t0), RF_I("polls", polls),
                  RF_I("processingMs", jlong(info, "totalProcessingTime")));
    if (strcmp(state, "JobComplete") && processed == 0) {
        rc = retl_errf(eb, RETL_E_DEST, "Bulk API 2.0: job %s %s: %s", id, state,
                       jerr ? jerr : "no records processed");
        goto out;
    }
    rc = job_results(L, b, id, sent, n, info, &m, results, eb);
    goto out;
abort:
    job_abort(L, id);
out:
    keymap_free(&m);
    json_decref(info);
    return rc;
}

/* ---- creating the job while the CSV is built ---- */

/* A job created on a thread of its own while the main thread builds the CSV
 * (which touches no connection state), so the create call costs no time. */
struct creator {
    struct sf_load *L;
    pthread_t thr;
    bool running;
    retl_err rc;
    struct retl_errbuf eb;
    char *id; /* owned: the created job, not yet used */
    long long clock_off;
};

static void *creator_main(void *arg)
{
    struct creator *cr = arg;
    cr->rc = job_create(cr->L, &cr->id, &cr->clock_off, &cr->eb);
    return NULL;
}

/* Starts creating a job unless one is pending. Without a thread the job is
 * created when it is needed. */
static void creator_start(struct creator *cr)
{
    if (cr->running || cr->id)
        return;
    cr->rc = RETL_E_OK;
    cr->running = pthread_create(&cr->thr, NULL, creator_main, cr) == 0;
}

static void creator_join(struct creator *cr)
{
    if (cr->running)
        pthread_join(cr->thr, NULL);
    cr->running = false;
}

/* The created job for the next upload. Ownership: the caller frees *id. */
static retl_err creator_take(struct creator *cr, char **id, long long *clock_off,
                             struct retl_errbuf *eb)
{
    creator_join(cr);
    retl_err rc = cr->rc;
    cr->rc = RETL_E_OK;
    if (rc) {
        if (eb)
            *eb = cr->eb;
        return rc;
    }
    if (!cr->id && (rc = job_create(cr->L, &cr->id, &cr->clock_off, eb)))
        return rc;
    *id = cr->id;
    *clock_off = cr->clock_off;
    cr->id = NULL;
    cr->L->bulk_jobs++;
    return RETL_E_OK;
}

/* Waits for a pending creation and aborts a job nothing was uploaded to. */
static void creator_end(struct creator *cr)
{
    creator_join(cr);
    if (cr->id)
        job_abort(cr->L, cr->id);
    free(cr->id);
    cr->id = NULL;
}

/* Whether some row of idx[0..n) can be sent, so that a job created for them
 * gets data. Usually the first row answers. */
static bool any_sendable(const struct sf_load *L, const struct eng_batch *b,
                         const size_t *idx, size_t n)
{
    struct retl_buf cell;
    retl_buf_init(&cell, 1u << 20);
    bool ok = false;
    for (size_t k = 0; k < n && !ok; k++) {
        ok = true;
        for (size_t c = 0; c < b->ncols && ok; c++) {
            struct sf_verr verr;
            retl_buf_reset(&cell);
            ok = !L->fields[c] || cell_raw(L, b, idx[k], c, &cell, &verr);
        }
    }
    retl_buf_free(&cell);
    return ok;
}

retl_err sf_bulk_load(struct sf_load *L, const struct eng_batch *b,
                      struct eng_row_result *results, struct retl_errbuf *eb)
{
    size_t n = b->nrows;
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    size_t *sent = malloc((n ? n : 1) * sizeof *sent);
    struct creator cr = {.L = L};
    char *id = NULL;
    struct retl_buf csv;
    retl_buf_init(&csv, SF_BULK_MAX_CSV + (16u << 20));
    retl_err rc = RETL_E_OK;
    if (!idx || !sent) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    /* One job per slice of rows whose CSV stays under the recommended
     * 100 MB; the slice is estimated from the first rows' size. */
    size_t pos = 0, slice = n;
    while (pos < n && !rc) {
        size_t cnt = n - pos < slice ? n - pos : slice, nsent = 0;
        if (any_sendable(L, b, idx + pos, cnt))
            creator_start(&cr);
        retl_buf_reset(&csv);
        long long tc = now_ms();
        rc = sf_bulk_csv(L, b, idx + pos, cnt, &csv, results, sent, &nsent, eb);
        RETL_LOG_DEBUG("salesforce bulk csv built", RF_I("rows", cnt),
                       RF_I("sent", nsent), RF_I("bytes", csv.len),
                       RF_I("ms", now_ms() - tc));
        if (rc == RETL_E_TOO_BIG || (!rc && csv.len > SF_BULK_MAX_CSV && cnt > 1)) {
            retl_buf_free(&csv);
            slice = cnt / 2;
            rc = RETL_E_OK;
            if (eb)
                eb->msg[0] = '\0';
            continue;
        }
        if (rc)
            break;
        long long clock_off;
        if (nsent && !(rc = creator_take(&cr, &id, &clock_off, eb))) {
            rc = run_job(L, b, id, clock_off, sent, nsent, &csv, results, eb);
            free(id);
            id = NULL;
        }
        pos += cnt;
    }
    creator_end(&cr);
    /* Records a Bulk job could not lock are few; Collections sends them
     * again now rather than on the next run (writes only: a delete's locked
     * records fail, transient, and go again next run). */
    size_t nl = 0;
    for (size_t i = 0; i < n && !rc && !L->bulk_op; i++)
        if (!results[i].ok && results[i].code &&
            !strcmp(results[i].code, "UNABLE_TO_LOCK_ROW"))
            idx[nl++] = i;
    if (nl && nl <= SF_BULK_LOCK_RETRY_MAX) {
        RETL_LOG_INFO("salesforce bulk records locked, sending them over Collections",
                      RF_I("records", nl));
        rc = sf_rest_rows(L, b, idx, nl, 2, results, eb);
    }
out:
    retl_buf_free(&csv);
    free(idx);
    free(sent);
    return rc;
}
