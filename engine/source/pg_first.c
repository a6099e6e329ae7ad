/* The postgres source's streamed first sync. With an empty snapshot and no
 * error row every query row is new, so there is nothing to diff: instead of
 * writing the query into a delta table and reading it back, the reader runs
 * the query once for its keys (NULL and duplicate keys fail here, before
 * anything is sent) and then streams it through a cursor, in the same
 * REPEATABLE READ snapshot, with each row's hash as an extra column. Each
 * batch's (key, hash) is copied into the snapshot on the writer in a
 * transaction left open while the destination loads it (as prewrite does
 * from the delta); commit takes the failed keys back out by key (a temp
 * table), stores the record ids, and commits. A run stopped in between
 * leaves the snapshot holding exactly the batches committed, and the next
 * run is an ordinary incremental one. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "engine/base/pg.h"
#include "engine/source/pg_int.h"
#include "engine/source/pg_sql.h"
#include "engine/source/source.h"

/* The cursor's columns after the id: the key's own text, the hash. */
static int nk_col(const struct pgsrc *s)
{
    return PQnfields(s->chunk) - 2;
}

retl_err pgf_diff(struct pgsrc *s, const struct eng_state *st, struct eng_delta_counts *c,
                  struct retl_errbuf *eb)
{
    retl_err rc;
    long long rows = 0;
    RETL_TRY(eng_pg_connect(s->sec, "source", &s->r, eb));
    /* A cursor is planned for its first tenth of rows by default; this one
     * is read to the end. */
    RETL_TRY(eng_pg_exec(s->r, "SET cursor_tuple_fraction = 1", NULL, "source", eb));
    RETL_TRY(eng_pg_exec(s->r, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", NULL,
                         "source", eb));
    RETL_TRY(pgs_key_check(s, s->r, st, false, s->first_query, &rows, eb));
    s->extracted = c->extracted = c->new_keys = rows;
    c->changed = c->deleted = c->skipped_permanent = c->synced = 0;
    s->delta_ready = true; /* finish analyses the new snapshot */
    RETL_LOG_INFO("first sync: the query is streamed, no delta table",
                  RF_I("rows", rows));
out:
    return rc;
}

retl_err pgf_delta_open(struct pgsrc *s, const struct eng_state *st,
                        struct retl_errbuf *eb)
{
    retl_err rc;
    if (!s->r)
        return retl_errf(eb, RETL_E_INTERNAL, "source: stream without its reader");
    SQL(s, eng_pg_sql_stream_tables(&s->sql, st));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
    SQL(s, eng_pg_sql_stream_cursor(&s->sql, st, s->first_query));
    RETL_TRY(eng_pg_exec(s->r, retl_buf_str(&s->sql), NULL, "source: query failed", eb));
out:
    return rc;
}

/* The statements in s->sql, the last a COPY FROM STDIN, then len bytes of
 * data, sent and not awaited: the server writes while the destination
 * loads; pgs_collect takes the COPY's outcome. */
static retl_err copy_send(struct pgsrc *s, const char *data, size_t len,
                          struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    /* One round trip: PQexec stops at the COPY's result. */
    PGresult *r = PQexec(s->w, retl_buf_str(&s->sql));
    if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
        rc = eng_pg_fail(s->w, r, "source: saving the batch", eb);
        goto out;
    }
    const size_t piece = 1u << 20;
    int ok = 1;
    for (size_t off = 0; off < len && ok == 1; off += piece)
        ok =
            PQputCopyData(s->w, data + off, (int)(len - off < piece ? len - off : piece));
    if (ok == 1)
        ok = PQputCopyEnd(s->w, NULL);
    if (ok != 1)
        rc = eng_pg_fail(s->w, NULL, "source: saving the batch", eb);
out:
    PQclear(r);
    return rc;
}

/* The chunk's (nk, 'H', h) as COPY text into s->copy; with res, only the
 * rows that succeeded, each followed by its record id. */
static retl_err snap_rows(struct pgsrc *s, const struct eng_chunk *ch,
                          const struct eng_row_result *res)
{
    retl_err rc = RETL_E_OK;
    struct retl_buf *b = &s->copy;
    int nk = nk_col(s);
    retl_buf_reset(b);
    for (size_t i = 0; i < ch->nrows; i++) {
        if (res && !res[i].ok)
            continue;
        RETL_TRY(eng_pg_copy_field(b, PQgetvalue(s->chunk, (int)i, nk)));
        RETL_TRY(retl_buf_adds(b, "\tH\t"));
        RETL_TRY(eng_pg_copy_field(b, PQgetisnull(s->chunk, (int)i, nk + 1)
                                          ? NULL
                                          : PQgetvalue(s->chunk, (int)i, nk + 1)));
        if (res) {
            RETL_TRY(retl_buf_addc(b, '\t'));
            RETL_TRY(eng_pg_copy_field(b, res[i].dest_id));
        }
        RETL_TRY(retl_buf_addc(b, '\n'));
    }
out:
    return rc;
}

retl_err pgf_prewrite(struct pgsrc *s, const struct eng_state *st,
                      const struct eng_chunk *ch, struct retl_errbuf *eb)
{
    retl_err rc;
    /* A destination that returns record ids (Salesforce): commit copies the
     * batch's successes with their ids instead, one write per row rather
     * than a row and then its id. */
    if (s->ids_back)
        return RETL_E_OK;
    RETL_TRY(snap_rows(s, ch, NULL));
    retl_buf_reset(&s->sql);
    RETL_TRY(retl_buf_adds(&s->sql, "BEGIN;\n"));
    RETL_TRY(eng_pg_sql_stream_copy(&s->sql, st, false));
    RETL_TRY(copy_send(s, s->copy.data, s->copy.len, eb));
    s->written = true;
out:
    if (rc == RETL_E_TOO_BIG || rc == RETL_E_NOMEM)
        rc = retl_errf(eb, rc, "source: batch too large to save");
    return rc;
}

/* Row i of the chunk as the errors table keeps it: a JSON object of the
 * state columns' canonical text. Ownership: caller frees. */
static char *row_json(const struct eng_state *st, const struct eng_chunk *ch, size_t i)
{
    json_t *o = json_object();
    const char *const *cells = ch->cells + i * (ch->ncols + 1) + 1;
    for (size_t j = 0; o && j < ch->ncols && j < st->ncols; j++) {
        /* Text from the server is valid UTF-8; a value jansson still
         * refuses is kept as null rather than losing the row. */
        json_t *v = cells[j] ? json_string(cells[j]) : NULL;
        if (json_object_set_new(o, st->cols[j].name, v ? v : json_null()) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return js;
}

/* The failed rows of a batch as COPY text for retl_fail. */
static retl_err failures(struct pgsrc *s, const struct eng_state *st,
                         const struct eng_chunk *ch, const struct eng_row_result *res)
{
    retl_err rc = RETL_E_OK;
    struct retl_buf *c = &s->copy;
    int nk = nk_col(s);
    char *js = NULL;
    retl_buf_reset(c);
    for (size_t i = 0; i < ch->nrows; i++) {
        if (res[i].ok)
            continue;
        const char *f[] = {
            ch->cells[i * (ch->ncols + 1) + 1],
            PQgetvalue(s->chunk, (int)i, nk),
            PQgetisnull(s->chunk, (int)i, nk + 1) ? NULL
                                                  : PQgetvalue(s->chunk, (int)i, nk + 1),
            res[i].code,
            res[i].message,
            res[i].fields,
            eng_fail_class_name(res[i].cls),
        };
        for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) {
            RETL_TRY(eng_pg_copy_field(c, f[k]));
            RETL_TRY(retl_buf_addc(c, '\t'));
        }
        if (!(js = row_json(st, ch, i))) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        RETL_TRY(eng_pg_copy_field(c, js));
        RETL_TRY(retl_buf_addc(c, '\n'));
        free(js);
        js = NULL;
    }
out:
    free(js);
    return rc;
}

retl_err pgf_commit(struct pgsrc *s, const struct eng_state *st, long long run,
                    const char *op, const struct eng_chunk *ch,
                    const struct eng_row_result *res, struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    struct retl_buf *c = &s->copy;
    bool prewritten = true;
    if (pgs_dry(s))
        return RETL_E_OK;
    if (!s->written)
        RETL_TRY(pgf_prewrite(s, st, ch, eb));
    if (s->written) {
        s->written = false;
        RETL_TRY(pgs_collect(s, NULL, eb));
    } else {
        /* Not prewritten: the successes enter the snapshot now, ids and all
         * (a failed row never entered it). */
        RETL_TRY(snap_rows(s, ch, res));
        RETL_TRY(eng_pg_exec(s->w, "BEGIN", NULL, "source", eb));
        SQL(s, eng_pg_sql_stream_copy(&s->sql, st, true));
        if (c->len)
            RETL_TRY(eng_pg_copy_in(s->w, retl_buf_str(&s->sql), c->data, c->len,
                                    "source: saving the batch", eb));
        prewritten = false;
    }
    RETL_TRY(failures(s, st, ch, res));
    bool failed = c->len > 0;
    if (failed)
        RETL_TRY(eng_pg_copy_in(s->w, "COPY pg_temp.retl_fail FROM STDIN", c->data,
                                c->len, "source: saving the batch", eb));
    /* Record ids the destination returned (Salesforce), which later deletes
     * address records by, for rows written before the answer. */
    retl_buf_reset(c);
    int nk = nk_col(s);
    for (size_t i = 0; prewritten && i < ch->nrows; i++) {
        if (!res[i].ok || !res[i].dest_id)
            continue;
        RETL_TRY(eng_pg_copy_field(c, PQgetvalue(s->chunk, (int)i, nk)));
        RETL_TRY(retl_buf_addc(c, '\t'));
        RETL_TRY(eng_pg_copy_field(c, res[i].dest_id));
        RETL_TRY(retl_buf_addc(c, '\n'));
    }
    bool ids = c->len > 0;
    s->ids_back |= ids;
    if (ids)
        RETL_TRY(eng_pg_copy_in(s->w, "COPY pg_temp.retl_sids FROM STDIN", c->data,
                                c->len, "source: saving the batch", eb));
    SQL(s, eng_pg_sql_stream_commit(&s->sql, st, run, op, failed, ids));
    RETL_TRY(retl_buf_adds(&s->sql, "COMMIT"));
    RETL_TRY(pgs_send_state(s, res, ch->nrows, eb));
out:
    if (rc == RETL_E_TOO_BIG || rc == RETL_E_NOMEM)
        rc = retl_errf(eb, rc, "source: batch too large to save");
    if (rc)
        pgs_rollback(s);
    return rc;
}
