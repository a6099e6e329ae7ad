/* Bulk API 2.0 ingest: one job per batch (or per 100 MB of CSV): create,
 * upload the CSV (one PUT), close, poll with backoff, then fetch the results
 * that can exist (successful / failed / unprocessed, in parallel) and map each
 * result line back to its row by the key column, since result order is not
 * the upload order. */
#include "engine/dest/salesforce_int.h"

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

/* The raw (unquoted) CSV text of row i, column c, into out. */
static bool cell_raw(const struct sf_load *L, const struct eng_batch *b, size_t i,
                     size_t c, struct retl_buf *out, struct sf_verr *err)
{
    const char *v = b->rows[i].vals[c];
    /* An empty CSV value leaves the field unchanged on update; Salesforce
     * stores an empty text as null, so clear it explicitly. */
    if (v && !*v && L->mode != RETL_MODE_INSERT)
        v = NULL;
    return sf_value_append(out, SF_VAL_RAW, L->fields[c], b->cols[c].type, v, err);
}

retl_err sf_bulk_csv(const struct sf_load *L, const struct eng_batch *b,
                     const size_t *idx, size_t n, struct retl_buf *csv,
                     struct eng_row_result *results, size_t *sent, size_t *nsent,
                     struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    bool first = true;
    for (size_t c = 0; c < b->ncols && !e; c++) {
        if (!L->fields[c])
            continue;
        if (!first)
            e = retl_buf_addc(csv, ',');
        first = false;
        if (!e)
            e = sf_csv_field(csv, L->fields[c]->name, strlen(L->fields[c]->name));
    }
    if (!e)
        e = retl_buf_addc(csv, '\n');
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

retl_err sf_bulk_apply(const struct sf_load *L, const struct eng_batch *b,
                       const size_t *idx, size_t n, char kind, const char *csv,
                       size_t csv_len, struct eng_row_result *results, bool *done,
                       struct retl_errbuf *eb)
{
    struct sf_csv r = {0};
    struct keymap m = {0};
    struct retl_buf t;
    retl_buf_init(&t, 4u << 20);
    retl_err e = sf_csv_parse(csv, csv_len, &r, eb);
    if (e)
        goto out;
    long kc = key_col(L, b);
    /* Result columns for the match text, in the order of the upload. */
    long cols[256];
    size_t ncols = 0;
    for (size_t c = 0; c < b->ncols; c++) {
        if (!L->fields[c] || (kc >= 0 && (size_t)kc != c))
            continue;
        if (ncols == sizeof cols / sizeof cols[0]) {
            e = retl_errf(eb, RETL_E_UNSUPPORTED,
                          "Bulk results: more than 256 columns without a key");
            goto out;
        }
        cols[ncols] = sf_csv_col(&r, L->fields[c]->name);
        if (cols[ncols] < 0) {
            e = retl_errf(eb, RETL_E_DEST, "Bulk results lack the uploaded column %s",
                          L->fields[c]->name);
            goto out;
        }
        ncols++;
    }
    long c_id = sf_csv_col(&r, "sf__Id"), c_created = sf_csv_col(&r, "sf__Created"),
         c_err = sf_csv_col(&r, "sf__Error");
    if ((kind == 's' && c_id < 0) || (kind == 'f' && c_err < 0)) {
        e = retl_errf(eb, RETL_E_DEST, "Bulk %s results lack the sf__ columns",
                      kind == 's' ? "successful" : "failed");
        goto out;
    }
    e = keymap_build(&m, L, b, idx, n, kc);
    if (e)
        goto out;
    size_t unmatched = 0;
    for (size_t row = 0; row < r.nrows; row++) {
        retl_buf_reset(&t);
        for (size_t c = 0; c < ncols; c++) {
            if (c && (e = retl_buf_addc(&t, 0x1f)))
                goto out;
            if ((e = retl_buf_adds(&t, sf_csv_cell(&r, row, (size_t)cols[c]))))
                goto out;
        }
        long k = keymap_find(&m, retl_buf_str(&t), done);
        if (k < 0) {
            unmatched++;
            continue;
        }
        struct eng_row_result *res = &results[idx[k]];
        if (kind == 's') {
            const char *cr =
                c_created >= 0 ? sf_csv_cell(&r, row, (size_t)c_created) : "";
            bool created =
                c_created >= 0 ? !strcasecmp(cr, "true") : L->mode == RETL_MODE_INSERT;
            sf_result_ok(res, sf_csv_cell(&r, row, (size_t)c_id), created);
        } else if (kind == 'f') {
            char *code, *msg, *fields;
            sf_bulk_error_split(sf_csv_cell(&r, row, (size_t)c_err), &code, &msg,
                                &fields);
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
    keymap_free(&m);
    sf_csv_free(&r);
    return e;
}

/* ---- the job ---- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *job_path(const char *id, const char *suffix)
{
    char *p = NULL;
    if (asprintf(&p, "/jobs/ingest/%s%s", id, suffix) < 0)
        return NULL;
    return p;
}

static retl_err call_path(struct sf_load *L, struct sf_call *c, const char *method,
                          const char *path)
{
    memset(c, 0, sizeof *c);
    c->method = method;
    c->url = path ? sf_data_url(L->conn, path) : NULL;
    c->idempotent = true;
    return c->url ? RETL_E_OK : RETL_E_NOMEM;
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

/* The pause before the next poll. Once the job reports progress, the
 * remaining records at the observed rate give the expected end; otherwise the
 * pause grows by half, up to the maximum. */
static long long poll_next(long long wait, long long prev_t, long long prev_done,
                           long long t, long long done_n, long long total,
                           const struct sf_load *L)
{
    long long next = wait * 3 / 2;
    if (total > 0 && done_n >= total) {
        next = L->poll_base_ms / 2; /* all processed: about to complete */
    } else if (prev_t && done_n > prev_done && t > prev_t) {
        double rate = (double)(done_n - prev_done) / (double)(t - prev_t);
        /* Aim just past the predicted end: polling early costs a call. */
        next = (long long)((double)(total - done_n) / rate) + 100;
    }
    if (next < L->poll_base_ms / 2)
        next = L->poll_base_ms / 2;
    if (next > L->poll_max_ms)
        next = L->poll_max_ms;
    return next;
}

/* Runs one job over the rows sent[0..n) whose CSV is csv. */
static retl_err run_job(struct sf_load *L, const struct eng_batch *b, const size_t *sent,
                        size_t n, const struct retl_buf *csv,
                        struct eng_row_result *results, struct retl_errbuf *eb)
{
    retl_err e;
    struct sf_call c = {0};
    struct sf_call rc[3] = {{0}};
    char kinds[3];
    size_t nres = 0;
    json_t *job = NULL, *info = NULL;
    char *id = NULL, *path = NULL;
    bool *done = NULL;
    /* create, upload, close, one poll, one result at least */
    if ((e = sf_reserve_calls(L->conn, 5, eb)))
        return e;
    const char *op = L->mode == RETL_MODE_INSERT   ? "insert"
                     : L->mode == RETL_MODE_UPDATE ? "update"
                                                   : "upsert";
    job = json_pack("{s:s, s:s, s:s, s:s, s:s}", "object", L->object, "operation", op,
                    "contentType", "CSV", "lineEnding", "LF", "columnDelimiter", "COMMA");
    if (job && L->ext_id)
        json_object_set_new(job, "externalIdFieldName", json_string(L->ext_id));
    char *body = job ? json_dumps(job, JSON_COMPACT) : NULL;
    if (!body) {
        e = RETL_E_NOMEM;
        goto out;
    }
    if ((e = call_path(L, &c, "POST", "/jobs/ingest")))
        goto out;
    c.body = body;
    c.body_len = strlen(body);
    e = sf_http_one(L->conn, &c, eb);
    if (!e && c.status != 200 && c.status != 201)
        e = sf_call_fail(&c, "Bulk API 2.0: create job", eb);
    free(body);
    if (e)
        goto out;
    info = json_loads(retl_buf_str(&c.resp), 0, NULL);
    const char *jid = json_string_value(json_object_get(info, "id"));
    if (!jid || !(id = strdup(jid))) {
        e = retl_errf(eb, RETL_E_DEST, "Bulk API 2.0: create job: no job id in %.200s",
                      retl_buf_str(&c.resp));
        goto out;
    }
    json_decref(info);
    info = NULL;
    sf_call_clear(&c);
    L->bulk_jobs++;
    RETL_LOG_INFO("salesforce bulk job created", RF_S("job", id), RF_S("operation", op),
                  RF_I("records", n), RF_I("bytes", csv->len));

    /* Upload. */
    if (!(path = job_path(id, "/batches")) || (e = call_path(L, &c, "PUT", path))) {
        e = e ? e : RETL_E_NOMEM;
        goto out;
    }
    free(path);
    path = NULL;
    c.body = csv->data;
    c.body_len = csv->len;
    c.content_type = "text/csv";
    e = sf_http_one(L->conn, &c, eb);
    if (!e && c.status != 201 && c.status != 200)
        e = sf_call_fail(&c, "Bulk API 2.0: upload job data", eb);
    sf_call_clear(&c);
    if (e)
        goto abort;

    /* Close. */
    if (!(path = job_path(id, "")) || (e = call_path(L, &c, "PATCH", path))) {
        e = e ? e : RETL_E_NOMEM;
        goto abort;
    }
    c.body = "{\"state\":\"UploadComplete\"}";
    c.body_len = strlen(c.body);
    e = sf_http_one(L->conn, &c, eb);
    if (!e && c.status != 200)
        e = sf_call_fail(&c, "Bulk API 2.0: close job", eb);
    sf_call_clear(&c);
    if (e)
        goto abort;

    /* Poll until a terminal state: with backoff while nothing moves, then at
     * the completion time the job's own progress predicts, so a long job
     * costs few calls and its end is seen soon after it happens. */
    long long start = now_ms(), wait = L->poll_base_ms, prev_t = 0, prev_done = 0;
    const char *state = NULL;
    int polls = 0;
    for (;;) {
        sleep_ms(wait);
        polls++;
        if ((e = call_path(L, &c, "GET", path)))
            goto abort;
        e = sf_http_one(L->conn, &c, eb);
        if (!e && c.status != 200)
            e = sf_call_fail(&c, "Bulk API 2.0: job status", eb);
        if (e)
            goto abort;
        json_decref(info);
        info = json_loads(retl_buf_str(&c.resp), 0, NULL);
        sf_call_clear(&c);
        state = json_string_value(json_object_get(info, "state"));
        if (!state) {
            e = retl_errf(eb, RETL_E_DEST, "Bulk API 2.0: job %s: no state", id);
            goto abort;
        }
        if (!strcmp(state, "JobComplete") || !strcmp(state, "Failed") ||
            !strcmp(state, "Aborted"))
            break;
        long long t = now_ms(), done_n = jlong(info, "numberRecordsProcessed");
        wait = poll_next(wait, prev_t, prev_done, t, done_n, (long long)n, L);
        prev_t = t;
        prev_done = done_n;
        if (t - start > L->poll_timeout_ms) {
            e = retl_errf(eb, RETL_E_TIMEOUT,
                          "Bulk API 2.0: job %s still %s after %lld s", id, state,
                          (now_ms() - start) / 1000);
            goto abort;
        }
    }
    long long processed = jlong(info, "numberRecordsProcessed");
    long long failed = jlong(info, "numberRecordsFailed");
    const char *jerr = json_string_value(json_object_get(info, "errorMessage"));
    RETL_LOG_INFO("salesforce bulk job finished", RF_S("job", id), RF_S("state", state),
                  RF_I("processed", processed), RF_I("failed", failed),
                  RF_I("ms", now_ms() - start), RF_I("polls", polls),
                  RF_I("processingMs", jlong(info, "totalProcessingTime")));
    if (strcmp(state, "JobComplete") && processed == 0) {
        e = retl_errf(eb, RETL_E_DEST, "Bulk API 2.0: job %s %s: %s", id, state,
                      jerr ? jerr : "no records processed");
        goto out;
    }
    /* Fetch the result sets that can hold lines, in parallel. */
    static const struct {
        char kind;
        const char *suffix;
    } sets[] = {{'s', "/successfulResults/"},
                {'f', "/failedResults/"},
                {'u', "/unprocessedrecords/"}};
    for (size_t s = 0; s < 3; s++) {
        if (sets[s].kind == 's' && processed - failed <= 0)
            continue;
        if (sets[s].kind == 'f' && failed <= 0)
            continue;
        if (sets[s].kind == 'u' && processed >= (long long)n)
            continue;
        char *p = job_path(id, sets[s].suffix);
        e = p ? call_path(L, &rc[nres], "GET", p) : RETL_E_NOMEM;
        free(p);
        if (e)
            goto out;
        rc[nres].max_body = SF_BULK_RESULTS_MAX;
        kinds[nres++] = sets[s].kind;
    }
    if ((e = sf_http_run(L->conn, rc, nres, eb)))
        goto out;
    done = calloc(n ? n : 1, sizeof *done);
    if (!done) {
        e = RETL_E_NOMEM;
        goto out;
    }
    for (size_t k = 0; k < nres && !e; k++) {
        if (rc[k].status != 200) {
            e = sf_call_fail(&rc[k], "Bulk API 2.0: job results", eb);
            break;
        }
        e = sf_bulk_apply(L, b, sent, n, kinds[k], retl_buf_str(&rc[k].resp),
                          rc[k].resp.len, results, done, eb);
    }
    if (e)
        goto out;
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
    goto out;
abort:
    /* Best effort: a job left Open would hold the data for 24 h. */
    if (id && path) {
        struct sf_call ab;
        struct retl_errbuf ign;
        if (!call_path(L, &ab, "PATCH", path)) {
            ab.body = "{\"state\":\"Aborted\"}";
            ab.body_len = strlen(ab.body);
            sf_http_one(L->conn, &ab, &ign);
        }
        sf_call_clear(&ab);
    }
out:
    sf_call_clear(&c);
    for (size_t k = 0; k < 3; k++)
        sf_call_clear(&rc[k]);
    json_decref(job);
    json_decref(info);
    free(id);
    free(path);
    free(done);
    return e;
}

retl_err sf_bulk_load(struct sf_load *L, const struct eng_batch *b,
                      struct eng_row_result *results, struct retl_errbuf *eb)
{
    size_t n = b->nrows;
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    size_t *sent = malloc((n ? n : 1) * sizeof *sent);
    struct retl_buf csv;
    retl_buf_init(&csv, SF_BULK_MAX_CSV + (16u << 20));
    retl_err e = RETL_E_OK;
    if (!idx || !sent) {
        e = RETL_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    /* One job per slice of rows whose CSV stays under the recommended
     * 100 MB; the slice is estimated from the first rows' size. */
    size_t pos = 0, slice = n;
    while (pos < n && !e) {
        size_t cnt = n - pos < slice ? n - pos : slice, nsent = 0;
        retl_buf_reset(&csv);
        e = sf_bulk_csv(L, b, idx + pos, cnt, &csv, results, sent, &nsent, eb);
        if (e == RETL_E_TOO_BIG || (!e && csv.len > SF_BULK_MAX_CSV && cnt > 1)) {
            retl_buf_init(&csv, csv.max);
            slice = cnt / 2;
            e = RETL_E_OK;
            if (eb)
                eb->msg[0] = '\0';
            continue;
        }
        if (e)
            break;
        if (nsent)
            e = run_job(L, b, sent, nsent, &csv, results, eb);
        pos += cnt;
    }
    /* Records a Bulk job could not lock are few; Collections sends them
     * again now rather than on the next run. */
    size_t nl = 0;
    for (size_t i = 0; i < n && !e; i++)
        if (!results[i].ok && results[i].code &&
            !strcmp(results[i].code, "UNABLE_TO_LOCK_ROW"))
            idx[nl++] = i;
    if (nl && nl <= SF_BULK_LOCK_RETRY_MAX) {
        RETL_LOG_INFO("salesforce bulk records locked, sending them over Collections",
                      RF_I("records", nl));
        e = sf_rest_rows(L, b, idx, nl, 2, results, eb);
    }
out:
    retl_buf_free(&csv);
    free(idx);
    free(sent);
    return e;
}
