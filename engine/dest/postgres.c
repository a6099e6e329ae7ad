/* PostgreSQL destination (type postgres, object "schema.table", secret url).
 * A batch is copied into a session temp table and written with one
 * set-based statement (INSERT, INSERT ... ON CONFLICT DO UPDATE, or
 * UPDATE ... FROM) inside a transaction. When that statement fails, the batch
 * is retried row by row under savepoints so that only the rows the server
 * rejects fail, each with its SQLSTATE and message. A batch of new keys is
 * first tried as a COPY straight into the table (see try_copy). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "engine/base/pg.h"
#include "engine/dest/dest.h"
#include "engine/dest/postgres_lookup.h"

#define COPY_MAX (256u << 20)
/* Rows per batch when the job sets no batchSize: 200 (the Salesforce REST
 * size) makes a PostgreSQL sync pay a state transaction and a destination
 * round trip per 200 rows; 10000 rows stay a few MiB in memory. */
#define PD_BATCH_DEFAULT 10000

struct dcol {
    char *name;      /* destination column */
    char *basetype;  /* format_type without typmod */
    char category;   /* pg_type.typcategory */
    bool skip_nulls; /* mappings[].nulls Skip: COALESCE with the current value */
};

struct pgdst {
    PGconn *c;
    const struct retl_job *job;
    struct pd_lookup *lks; /* mappings[].lookup, one per lookup column */
    size_t nlk;
    enum retl_mode mode;
    size_t batch; /* rows per batch, 0: the job's batchSize */
    char *object;
    struct dcol *cols; /* one per batch column */
    size_t ncols;
    int key; /* batch column index of the key, -1 none */
    struct retl_buf qname;
    struct retl_buf head;     /* set statement up to the row filter */
    struct retl_buf tail;     /* after the row filter */
    struct retl_buf tail_ins; /* Upsert: plain INSERT, for batches of new keys */
    bool plain;               /* Upsert: try tail_ins first (until a conflict) */
    bool direct;              /* batches of new keys: COPY into the table first */
    struct retl_buf copy_sql; /* COPY <table> (<columns>) FROM STDIN */
    enum retl_deletes deletes;
    struct retl_buf del_head; /* DELETE, or UPDATE ... SET col = NULL (Clear) */
    struct retl_buf del_tail;
    const struct retl_buf *cur_head, *cur_tail; /* the statement of this batch */
    struct retl_buf sql;
    struct retl_buf copy;
};

static retl_err pd_open(const struct retl_job *job, const struct eng_secrets *sec,
                        void **ctx, struct retl_errbuf *eb)
{
    struct pgdst *d = calloc(1, sizeof *d);
    retl_err rc;
    if (!d)
        return RETL_E_NOMEM;
    d->mode = job->mode;
    d->job = job;
    d->batch = job->batch_size_set ? 0 : PD_BATCH_DEFAULT;
    d->deletes = job->deletes;
    d->key = -1;
    retl_buf_init(&d->del_head, ENG_PG_SQL_MAX);
    retl_buf_init(&d->del_tail, 256);
    retl_buf_init(&d->qname, 1024);
    retl_buf_init(&d->head, ENG_PG_SQL_MAX);
    retl_buf_init(&d->tail, ENG_PG_SQL_MAX);
    retl_buf_init(&d->tail_ins, 64);
    retl_buf_init(&d->copy_sql, ENG_PG_SQL_MAX);
    d->plain = true;
    retl_buf_init(&d->sql, ENG_PG_SQL_MAX);
    retl_buf_init(&d->copy, COPY_MAX);
    d->object = strdup(job->destination.object ? job->destination.object : "");
    if (!d->object) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    if (!strchr(d->object, '.'))
        RETL_TRY(retl_buf_adds(&d->qname, "\"public\"."));
    RETL_TRY(eng_pg_dotted(&d->qname, d->object));
    RETL_TRY(eng_pg_connect(sec, "destination", &d->c, eb));
    *ctx = d;
    return RETL_E_OK;
out:
    free(d->object);
    retl_buf_free(&d->qname);
    free(d);
    return rc;
}

static void pd_close(void *ctx)
{
    struct pgdst *d = ctx;
    if (!d)
        return;
    if (d->c)
        PQfinish(d->c);
    for (size_t i = 0; i < d->ncols; i++) {
        free(d->cols[i].name);
        free(d->cols[i].basetype);
    }
    free(d->cols);
    for (size_t i = 0; i < d->nlk; i++)
        pd_lookup_free(&d->lks[i]);
    free(d->lks);
    free(d->object);
    retl_buf_free(&d->qname);
    retl_buf_free(&d->head);
    retl_buf_free(&d->tail);
    retl_buf_free(&d->tail_ins);
    retl_buf_free(&d->copy_sql);
    retl_buf_free(&d->del_head);
    retl_buf_free(&d->del_tail);
    retl_buf_free(&d->sql);
    retl_buf_free(&d->copy);
    free(d);
}

/* l.c<i> converted from canonical text to the column's type. Text-like
 * columns are left as text so that assignment casts check lengths. */
static retl_err conv(struct retl_buf *b, const struct dcol *c, size_t i)
{
    switch (c->category) {
    case 'S': return retl_buf_printf(b, "l.c%zu", i);
    case 'A':
        return retl_buf_printf(
            b,
            "CASE WHEN left(l.c%zu, 1) = '[' THEN ARRAY(SELECT "
            "jsonb_array_elements_text(l.c%zu::jsonb))::%s ELSE l.c%zu::%s END",
            i, i, c->basetype, i, c->basetype);
    default:
        if (strcmp(c->basetype, "bytea") == 0)
            return retl_buf_printf(b, "decode(l.c%zu, 'base64')", i);
        return retl_buf_printf(b, "l.c%zu::%s", i, c->basetype);
    }
}

/* The value written for batch column i: the parent's key for a lookup. */
static retl_err value(struct retl_buf *b, const struct pgdst *d, size_t i)
{
    for (size_t k = 0; k < d->nlk; k++)
        if (d->lks[k].col == i)
            return pd_lookup_value(b, &d->lks[k], k, d->cols[i].basetype);
    return conv(b, &d->cols[i], i);
}

/* " FROM pg_temp.retl_load AS l" and a join per lookup. */
static retl_err from_load(struct retl_buf *b, const struct pgdst *d)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, " FROM pg_temp.retl_load AS l"));
    for (size_t k = 0; k < d->nlk; k++)
        RETL_TRY(pd_lookup_join(b, &d->lks[k], k));
out:
    return rc;
}

/* spec.deletes: one set-based statement by key for a batch of deletes
 * (DELETE ... USING) or clears (UPDATE ... SET every non-key column = NULL),
 * returning the rows it found; a key not found is already gone (done). */
static retl_err build_del_sql(struct pgdst *d)
{
    retl_err rc = RETL_E_OK;
    struct retl_buf *h = &d->del_head;
    if (d->deletes == RETL_DELETES_IGNORE || d->key < 0)
        return RETL_E_OK;
    if (d->deletes == RETL_DELETES_DELETE) {
        RETL_TRY(retl_buf_printf(h, "DELETE FROM %s AS t USING pg_temp.retl_load AS l ",
                                 retl_buf_str(&d->qname)));
    } else {
        RETL_TRY(retl_buf_printf(h, "UPDATE %s AS t SET ", retl_buf_str(&d->qname)));
        bool any = false;
        for (size_t i = 0; i < d->ncols; i++) {
            if ((int)i == d->key)
                continue;
            if (any)
                RETL_TRY(retl_buf_adds(h, ", "));
            RETL_TRY(eng_pg_ident(h, d->cols[i].name));
            RETL_TRY(retl_buf_adds(h, " = NULL"));
            any = true;
        }
        RETL_TRY(retl_buf_adds(h, " FROM pg_temp.retl_load AS l "));
    }
    RETL_TRY(retl_buf_adds(h, "WHERE t."));
    RETL_TRY(eng_pg_ident(h, d->cols[d->key].name));
    RETL_TRY(retl_buf_adds(h, " = "));
    RETL_TRY(conv(h, &d->cols[d->key], (size_t)d->key));
    RETL_TRY(retl_buf_adds(h, " AND "));
    RETL_TRY(retl_buf_adds(&d->del_tail, " RETURNING l.rn, false"));
out:
    return rc;
}

static retl_err build_sql(struct pgdst *d)
{
    retl_err rc;
    struct retl_buf *h = &d->head, *t = &d->tail;
    retl_buf_reset(h);
    retl_buf_reset(t);
    if (d->mode == RETL_MODE_UPDATE) {
        d->direct = false;
        RETL_TRY(retl_buf_printf(h, "UPDATE %s AS t SET ", retl_buf_str(&d->qname)));
        bool any = false;
        for (size_t i = 0; i < d->ncols; i++) {
            if ((int)i == d->key && d->ncols > 1)
                continue;
            if (any)
                RETL_TRY(retl_buf_adds(h, ", "));
            RETL_TRY(eng_pg_ident(h, d->cols[i].name));
            RETL_TRY(retl_buf_adds(h, d->cols[i].skip_nulls ? " = COALESCE(" : " = "));
            RETL_TRY(value(h, d, i));
            if (d->cols[i].skip_nulls) {
                RETL_TRY(retl_buf_adds(h, ", t."));
                RETL_TRY(eng_pg_ident(h, d->cols[i].name));
                RETL_TRY(retl_buf_addc(h, ')'));
            }
            any = true;
        }
        RETL_TRY(from_load(h, d));
        RETL_TRY(retl_buf_adds(h, " WHERE t."));
        RETL_TRY(eng_pg_ident(h, d->cols[d->key].name));
        RETL_TRY(retl_buf_adds(h, " = "));
        RETL_TRY(conv(h, &d->cols[d->key], (size_t)d->key));
        RETL_TRY(retl_buf_adds(h, " AND "));
        RETL_TRY(retl_buf_adds(t, " RETURNING l.rn, false"));
        return RETL_E_OK;
    }
    bool ups = d->mode == RETL_MODE_UPSERT;
    RETL_TRY(retl_buf_printf(&d->copy_sql, "COPY %s (", retl_buf_str(&d->qname)));
    for (size_t i = 0; i < d->ncols; i++) {
        if (i)
            RETL_TRY(retl_buf_adds(&d->copy_sql, ", "));
        RETL_TRY(eng_pg_ident(&d->copy_sql, d->cols[i].name));
        /* COPY reads a column the way conv() casts it, but for these. */
        if (d->cols[i].category == 'A' || strcmp(d->cols[i].basetype, "bytea") == 0)
            d->direct = false;
    }
    RETL_TRY(retl_buf_adds(&d->copy_sql, ") FROM STDIN"));
    RETL_TRY(retl_buf_printf(h, "INSERT INTO %s AS t (", retl_buf_str(&d->qname)));
    for (size_t i = 0; i < d->ncols; i++) {
        if (i)
            RETL_TRY(retl_buf_adds(h, ", "));
        RETL_TRY(eng_pg_ident(h, d->cols[i].name));
    }
    RETL_TRY(retl_buf_adds(h, ") SELECT "));
    for (size_t i = 0; i < d->ncols; i++) {
        if (i)
            RETL_TRY(retl_buf_adds(h, ", "));
        RETL_TRY(value(h, d, i));
    }
    RETL_TRY(from_load(h, d));
    RETL_TRY(retl_buf_adds(h, " WHERE "));
    RETL_TRY(retl_buf_adds(t, " ORDER BY l.rn"));
    RETL_TRY(retl_buf_adds(&d->tail_ins, " ORDER BY l.rn RETURNING NULL::integer, true"));
    if (!ups) {
        RETL_TRY(retl_buf_adds(t, " RETURNING NULL::integer, true"));
        return RETL_E_OK;
    }
    RETL_TRY(retl_buf_adds(t, " ON CONFLICT ("));
    RETL_TRY(eng_pg_ident(t, d->cols[d->key].name));
    RETL_TRY(retl_buf_adds(t, ") DO UPDATE SET "));
    bool any = false;
    for (size_t i = 0; i < d->ncols; i++) {
        if ((int)i == d->key && d->ncols > 1)
            continue;
        if (any)
            RETL_TRY(retl_buf_adds(t, ", "));
        RETL_TRY(eng_pg_ident(t, d->cols[i].name));
        RETL_TRY(retl_buf_adds(t, d->cols[i].skip_nulls ? " = COALESCE(EXCLUDED."
                                                        : " = EXCLUDED."));
        RETL_TRY(eng_pg_ident(t, d->cols[i].name));
        if (d->cols[i].skip_nulls) {
            RETL_TRY(retl_buf_adds(t, ", t."));
            RETL_TRY(eng_pg_ident(t, d->cols[i].name));
            RETL_TRY(retl_buf_addc(t, ')'));
        }
        any = true;
    }
    /* One returned row per input row, in input order (ORDER BY l.rn): no
     * join back to the batch is needed to tell inserts from updates. */
    RETL_TRY(retl_buf_adds(t, " RETURNING NULL::integer, (t.xmax = 0)"));
out:
    return rc;
}

static retl_err catalog(struct pgdst *d, PGresult **cols, PGresult **uniq,
                        struct retl_errbuf *eb)
{
    retl_err rc;
    PGresult *r = NULL;
    struct retl_buf *s = &d->sql;
    retl_buf_reset(s);
    RETL_TRY(retl_buf_adds(s, "SELECT c.oid, c.relhasrules FROM pg_class c WHERE c.oid = "
                              "to_regclass("));
    RETL_TRY(eng_pg_literal(s, retl_buf_str(&d->qname)));
    RETL_TRY(retl_buf_adds(s, ")"));
    RETL_TRY(eng_pg_exec(d->c, retl_buf_str(s), &r, "destination", eb));
    if (PQntuples(r) != 1) {
        rc = retl_errf(eb, RETL_E_CONFIG, "destination: table %s does not exist",
                       d->object);
        goto out;
    }
    /* COPY applies triggers and constraints as INSERT does, but not rules. */
    d->direct = PQgetvalue(r, 0, 1)[0] != 't';
    char oid[32];
    snprintf(oid, sizeof oid, "%s", PQgetvalue(r, 0, 0));
    retl_buf_reset(s);
    RETL_TRY(retl_buf_printf(
        s,
        "SELECT a.attname, format_type(a.atttypid, NULL), t.typcategory, "
        "a.attnotnull, a.atthasdef OR a.attidentity <> '' OR a.attgenerated "
        "<> '', format_type(a.atttypid, a.atttypmod) FROM pg_attribute a JOIN "
        "pg_type t ON t.oid = a.atttypid WHERE a.attrelid = %s AND a.attnum > "
        "0 AND NOT a.attisdropped ORDER BY a.attnum",
        oid));
    RETL_TRY(eng_pg_exec(d->c, retl_buf_str(s), cols, "destination", eb));
    retl_buf_reset(s);
    RETL_TRY(retl_buf_printf(
        s,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid "
        "= i.indrelid AND a.attnum = i.indkey[0] WHERE i.indrelid = %s AND "
        "i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL ORDER BY 1",
        oid));
    rc = eng_pg_exec(d->c, retl_buf_str(s), uniq, "destination", eb);
    if (rc) {
        PQclear(*cols);
        *cols = NULL;
    }
out:
    PQclear(r);
    return rc;
}

static int find_col(const PGresult *r, const char *name)
{
    for (int i = 0; i < PQntuples(r); i++) {
        if (strcmp(PQgetvalue(r, i, 0), name) == 0)
            return i;
    }
    return -1;
}

/* "spec.mappings[i]" of the mapping writing dest. */
static void mapping_path(const struct retl_job *job, const char *dest, char *out,
                         size_t n)
{
    snprintf(out, n, "spec.mappings");
    for (size_t i = 0; i < job->n_mappings; i++)
        if (!strcmp(job->mappings[i].destination, dest)) {
            snprintf(out, n, "spec.mappings[%zu]", i);
            return;
        }
}

/* Resolves every lookup column against the catalog (every column was found:
 * d->cols[i] is cols[i]); problems go to prob. */
static retl_err prepare_lookups(struct pgdst *d, const struct eng_col *cols, size_t ncols,
                                struct retl_buf *prob, struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    size_t want = 0;
    for (size_t i = 0; i < ncols; i++)
        want += cols[i].lookup_object != NULL;
    if (!want)
        return RETL_E_OK;
    if (!(d->lks = calloc(want, sizeof *d->lks)))
        return RETL_E_NOMEM;
    for (size_t i = 0; i < d->ncols && i < ncols; i++) {
        if (!cols[i].lookup_object)
            continue;
        char path[64];
        mapping_path(d->job, cols[i].destination, path, sizeof path);
        struct pd_lookup lk = {0};
        RETL_TRY(pd_lookup_resolve(d->c, path, &cols[i], i, d->cols[i].basetype,
                                   d->cols[i].category, &lk, prob, eb));
        if (lk.pk)
            d->lks[d->nlk++] = lk;
    }
out:
    return rc;
}

static retl_err pd_prepare(void *ctx, const struct eng_col *cols, size_t ncols,
                           json_t *info, struct retl_errbuf *eb)
{
    struct pgdst *d = ctx;
    retl_err rc;
    PGresult *cr = NULL, *ur = NULL;
    struct retl_buf prob;
    retl_buf_init(&prob, RETL_ERRBUF_SIZE);
    RETL_TRY(catalog(d, &cr, &ur, eb));
    json_t *jc = json_array(), *req = json_array(), *ext = json_array();
    for (int i = 0; i < PQntuples(cr); i++) {
        bool notnull = PQgetvalue(cr, i, 3)[0] == 't';
        bool hasdef = PQgetvalue(cr, i, 4)[0] == 't';
        json_array_append_new(jc, json_pack("{s:s, s:s, s:b}", "name",
                                            PQgetvalue(cr, i, 0), "type",
                                            PQgetvalue(cr, i, 5), "nullable", !notnull));
        if (notnull && !hasdef)
            json_array_append_new(req, json_string(PQgetvalue(cr, i, 0)));
    }
    for (int i = 0; i < PQntuples(ur); i++)
        json_array_append_new(ext, json_string(PQgetvalue(ur, i, 0)));
    json_object_set_new(info, "table", json_string(d->object));
    json_object_set_new(info, "columns", jc);
    json_object_set_new(info, "requiredFields", req);
    json_object_set_new(info, "externalIdFields", ext);

    d->cols = calloc(ncols ? ncols : 1, sizeof *d->cols);
    if (!d->cols) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < ncols; i++) {
        int at = find_col(cr, cols[i].destination);
        if (at < 0) {
            retl_buf_printf(&prob, "%scolumn \"%s\" does not exist", prob.len ? "; " : "",
                            cols[i].destination);
            continue;
        }
        d->cols[d->ncols].name = strdup(cols[i].destination);
        d->cols[d->ncols].basetype = strdup(PQgetvalue(cr, at, 1));
        d->cols[d->ncols].category = PQgetvalue(cr, at, 2)[0];
        d->cols[d->ncols].skip_nulls = cols[i].skip_nulls;
        if (!d->cols[d->ncols].name || !d->cols[d->ncols].basetype) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        if (cols[i].is_key)
            d->key = (int)i;
        d->ncols++;
    }
    if (d->mode != RETL_MODE_UPDATE) {
        for (int i = 0; i < PQntuples(cr); i++) {
            bool mapped = false;
            for (size_t j = 0; j < ncols; j++)
                mapped |= strcmp(cols[j].destination, PQgetvalue(cr, i, 0)) == 0;
            if (!mapped && PQgetvalue(cr, i, 3)[0] == 't' &&
                PQgetvalue(cr, i, 4)[0] != 't')
                retl_buf_printf(&prob,
                                "%srequired column \"%s\" (NOT NULL, no "
                                "default) is not mapped",
                                prob.len ? "; " : "", PQgetvalue(cr, i, 0));
        }
    }
    if (!prob.len)
        RETL_TRY(prepare_lookups(d, cols, ncols, &prob, eb));
    if (!prob.len && d->mode != RETL_MODE_INSERT && d->key < 0)
        retl_buf_printf(&prob, "%s mode needs key.destination", retl_mode_name(d->mode));
    if (!prob.len && d->deletes != RETL_DELETES_IGNORE && d->key < 0)
        retl_buf_printf(&prob,
                        "spec.deletes.mode %s needs key.destination (the column "
                        "records are found by)",
                        retl_deletes_name(d->deletes));
    if (!prob.len && d->mode == RETL_MODE_UPSERT &&
        find_col(ur, d->cols[d->key].name) < 0)
        retl_buf_printf(&prob,
                        "Upsert needs a primary key or unique index on "
                        "column \"%s\" alone",
                        d->cols[d->key].name);
    if (prob.len) {
        rc = retl_errf(eb, RETL_E_CONFIG, "destination %s: %s", d->object,
                       retl_buf_str(&prob));
        goto out;
    }
    retl_buf_reset(&d->sql);
    RETL_TRY(retl_buf_adds(&d->sql, "CREATE TEMP TABLE IF NOT EXISTS retl_load (rn "
                                    "integer"));
    for (size_t i = 0; i < d->ncols; i++)
        RETL_TRY(retl_buf_printf(&d->sql, ", c%zu text", i));
    RETL_TRY(retl_buf_adds(&d->sql, ") ON COMMIT DELETE ROWS"));
    RETL_TRY(eng_pg_exec(d->c, retl_buf_str(&d->sql), NULL, "destination", eb));
    RETL_TRY(build_sql(d));
    RETL_TRY(build_del_sql(d));
    if (d->nlk) /* the values need resolving: no COPY straight into the table */
        d->direct = false;
out:
    PQclear(cr);
    PQclear(ur);
    retl_buf_free(&prob);
    return rc;
}

static retl_err set_result(struct eng_row_result *r, const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    const char *col = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
    const char *cons = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    r->ok = false;
    r->code = strdup(state ? state : "XX000");
    if (asprintf(&r->message, "%s%s%s", primary ? primary : "error", detail ? ": " : "",
                 detail ? detail : "") < 0)
        r->message = NULL;
    r->fields = col ? strdup(col) : cons ? strdup(cons) : NULL;
    return r->code && r->message ? RETL_E_OK : RETL_E_NOMEM;
}

static retl_err run_stmt_tail(struct pgdst *d, const char *filter,
                              const struct retl_buf *tail, PGresult **res)
{
    retl_buf_reset(&d->sql);
    if (retl_buf_adds(&d->sql, retl_buf_str(d->cur_head)) ||
        retl_buf_adds(&d->sql, filter) || retl_buf_adds(&d->sql, retl_buf_str(tail)))
        return RETL_E_TOO_BIG;
    *res = PQexec(d->c, retl_buf_str(&d->sql));
    ExecStatusType s = *res ? PQresultStatus(*res) : PGRES_FATAL_ERROR;
    return s == PGRES_TUPLES_OK ? RETL_E_OK : RETL_E_SQL;
}

static retl_err run_stmt(struct pgdst *d, const char *filter, PGresult **res)
{
    return run_stmt_tail(d, filter, d->cur_tail, res);
}

/* Upsert of a batch of new keys: a plain INSERT skips the speculative
 * insertion of ON CONFLICT (about a fifth of the statement). When it
 * succeeds no row conflicted, so the outcome is the upsert's; on a unique
 * violation the destination holds some keys already: back to the upsert, for
 * this batch and the rest of the run. */
static retl_err try_plain(struct pgdst *d, const struct eng_batch *b, size_t expect,
                          bool *done, PGresult **res, struct retl_errbuf *eb)
{
    *done = false;
    if (d->mode != RETL_MODE_UPSERT || !b->new_keys || !d->plain)
        return RETL_E_OK;
    PGresult *r = NULL;
    if (run_stmt_tail(d, "true", &d->tail_ins, &r) == RETL_E_OK &&
        (size_t)PQntuples(r) == expect) {
        *done = true;
        *res = r;
        return RETL_E_OK;
    }
    if (r && eng_pg_lost(d->c, r)) {
        retl_err rc = eng_pg_fail(d->c, r, "destination", eb);
        PQclear(r);
        return rc;
    }
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "23505") == 0)
        d->plain = false;
    PQclear(r);
    return eng_pg_exec(d->c, "ROLLBACK TO SAVEPOINT retl_batch", NULL, "destination", eb);
}

/* Marks the rows the statement returned as ok: (rn, created) for UPDATE;
 * (NULL, created) for INSERT, one per input row in input order, starting at
 * row first and passing rows that failed already. */
static void mark_ok(const PGresult *r, const struct eng_batch *b,
                    struct eng_row_result *res, size_t first)
{
    size_t pos = first;
    for (int i = 0; i < PQntuples(r); i++) {
        size_t rn;
        if (PQgetisnull(r, i, 0)) {
            while (pos < b->nrows && res[pos].code) /* taken out before: lookups */
                pos++;
            rn = pos++;
        } else {
            rn = (size_t)strtoul(PQgetvalue(r, i, 0), NULL, 10);
        }
        if (rn < b->nrows) {
            res[rn].ok = true;
            res[rn].created = PQgetvalue(r, i, 1)[0] == 't';
        }
    }
}

static retl_err not_found(struct pgdst *d, const struct eng_batch *b,
                          struct eng_row_result *res)
{
    for (size_t i = 0; i < b->nrows; i++) {
        if (res[i].ok || res[i].code)
            continue;
        res[i].code = strdup("NOT_FOUND");
        if (asprintf(&res[i].message, "no row with %s = %s in %s",
                     d->key >= 0 ? d->cols[d->key].name : "key", b->rows[i].key,
                     d->object) < 0)
            res[i].message = NULL;
        res[i].fields = d->key >= 0 ? strdup(d->cols[d->key].name) : NULL;
        if (!res[i].code || !res[i].message)
            return RETL_E_NOMEM;
    }
    return RETL_E_OK;
}

static retl_err row_by_row(struct pgdst *d, const struct eng_batch *b,
                           struct eng_row_result *res, struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    PGresult *r = NULL;
    for (size_t i = 0; i < b->nrows; i++) {
        if (res[i].code)
            continue;
        char filter[48];
        snprintf(filter, sizeof filter, "l.rn = %zu", i);
        RETL_TRY(eng_pg_exec(d->c, "SAVEPOINT retl_row", NULL, "destination", eb));
        if (run_stmt(d, filter, &r) == RETL_E_OK) {
            mark_ok(r, b, res, i);
            PQclear(r);
            r = NULL;
            RETL_TRY(
                eng_pg_exec(d->c, "RELEASE SAVEPOINT retl_row", NULL, "destination", eb));
            continue;
        }
        if (eng_pg_lost(d->c, r)) {
            rc = eng_pg_fail(d->c, r, "destination", eb);
            goto out;
        }
        RETL_TRY(set_result(&res[i], r));
        PQclear(r);
        r = NULL;
        RETL_TRY(
            eng_pg_exec(d->c, "ROLLBACK TO SAVEPOINT retl_row", NULL, "destination", eb));
    }
out:
    PQclear(r);
    return rc;
}

/* The batch as COPY text into d->copy, each row led by its number when rn. */
static retl_err copy_data(struct pgdst *d, const struct eng_batch *b, bool rn)
{
    retl_err rc = RETL_E_OK;
    struct retl_buf *c = &d->copy;
    retl_buf_reset(c);
    for (size_t i = 0; i < b->nrows; i++) {
        if (rn)
            RETL_TRY(retl_buf_printf(c, "%zu\t", i));
        for (size_t j = 0; j < b->ncols; j++) {
            if (j)
                RETL_TRY(retl_buf_addc(c, '\t'));
            RETL_TRY(eng_pg_copy_field(c, b->rows[i].vals[j]));
        }
        RETL_TRY(retl_buf_addc(c, '\n'));
    }
out:
    return rc;
}

/* A batch of new keys (Insert, or Upsert of keys never synced) straight into
 * the table with COPY: about 40% cheaper than staging it and inserting from
 * there. Any failure rolls back to where it started and leaves the batch to
 * the set-based path, which finds the failing rows; a failure no row can
 * explain (a conflict, a view, row security) ends the attempts for the run. */
static retl_err try_copy(struct pgdst *d, const struct eng_batch *b,
                         struct eng_row_result *res, bool *done, struct retl_errbuf *eb)
{
    retl_err rc;
    PGresult *fail = NULL;
    *done = false;
    if (!d->direct || !b->new_keys || b->nrows == 0)
        return RETL_E_OK;
    RETL_TRY(copy_data(d, b, false));
    RETL_TRY(eng_pg_exec(d->c, "SAVEPOINT retl_copy", NULL, "destination", eb));
    if (eng_pg_copy_try(d->c, retl_buf_str(&d->copy_sql), d->copy.data, d->copy.len,
                        &fail) == RETL_E_OK) {
        for (size_t i = 0; i < b->nrows; i++)
            res[i].ok = res[i].created = true;
        *done = true;
        RETL_TRY(
            eng_pg_exec(d->c, "RELEASE SAVEPOINT retl_copy", NULL, "destination", eb));
        goto out;
    }
    if (eng_pg_lost(d->c, fail)) {
        rc = eng_pg_fail(d->c, fail, "destination", eb);
        goto out;
    }
    const char *state = fail ? PQresultErrorField(fail, PG_DIAG_SQLSTATE) : NULL;
    bool row_error = state && (strncmp(state, "22", 2) == 0 ||
                               (strncmp(state, "23", 2) == 0 && strcmp(state, "23505")));
    if (!row_error)
        d->direct = false;
    RETL_TRY(
        eng_pg_exec(d->c, "ROLLBACK TO SAVEPOINT retl_copy", NULL, "destination", eb));
out:
    PQclear(fail);
    return rc;
}

static retl_err pd_load(void *ctx, const struct eng_batch *b, struct eng_row_result *res,
                        struct retl_errbuf *eb)
{
    struct pgdst *d = ctx;
    retl_err rc = RETL_E_OK;
    PGresult *r = NULL;
    bool set_ok = false;
    bool del = b->op == ENG_OP_DELETE || b->op == ENG_OP_CLEAR;
    if (del && !d->del_head.len)
        return retl_errf(eb, RETL_E_INTERNAL, "destination: deletes were not prepared");
    d->cur_head = del ? &d->del_head : &d->head;
    d->cur_tail = del ? &d->del_tail : &d->tail;
    RETL_TRY(eng_pg_exec(d->c, "BEGIN", NULL, "destination", eb));
    RETL_TRY(try_copy(d, b, res, &set_ok, eb));
    if (set_ok)
        goto commit;
    RETL_TRY(copy_data(d, b, true));
    RETL_TRY(eng_pg_copy_in(d->c, "COPY pg_temp.retl_load FROM STDIN", d->copy.data,
                            d->copy.len, "destination", eb));
    size_t taken = 0; /* rows whose lookup found no parent */
    if (!del)
        RETL_TRY(pd_lookup_unmatched(d->c, d->lks, d->nlk, b, res, &taken, eb));
    RETL_TRY(eng_pg_exec(d->c, "SAVEPOINT retl_batch", NULL, "destination", eb));
    RETL_TRY(try_plain(d, b, b->nrows - taken, &set_ok, &r, eb));
    if (!set_ok)
        set_ok = run_stmt(d, "true", &r) == RETL_E_OK;
    if (set_ok && !del && d->mode != RETL_MODE_UPDATE &&
        (size_t)PQntuples(r) != b->nrows - taken) {
        /* Positions would not match: let the row-by-row path decide. */
        PQclear(r);
        r = NULL;
        set_ok = false;
    }
    if (set_ok) {
        mark_ok(r, b, res, 0);
    } else {
        if (eng_pg_lost(d->c, r)) {
            rc = eng_pg_fail(d->c, r, "destination", eb);
            goto out;
        }
        RETL_TRY(eng_pg_exec(d->c, "ROLLBACK TO SAVEPOINT retl_batch", NULL,
                             "destination", eb));
        RETL_TRY(row_by_row(d, b, res, eb));
    }
    if (del) {
        /* Not found: already gone, nothing to clear. */
        for (size_t i = 0; i < b->nrows; i++)
            if (!res[i].code)
                res[i].ok = true;
    } else {
        RETL_TRY(not_found(d, b, res));
    }
commit:
    RETL_TRY(eng_pg_exec(d->c, "COMMIT", NULL, "destination", eb));
out:
    PQclear(r);
    if (rc == RETL_E_TOO_BIG || rc == RETL_E_NOMEM)
        rc = retl_errf(eb, rc, "destination: batch too large");
    if (rc && PQstatus(d->c) == CONNECTION_OK &&
        PQtransactionStatus(d->c) != PQTRANS_IDLE)
        PQclear(PQexec(d->c, "ROLLBACK"));
    /* Nothing of a batch whose transaction did not commit was written: no
     * row is acknowledged (the engine saves acknowledged rows of a failed
     * batch, so a row marked ok before a lost COMMIT would be lost). */
    for (size_t i = 0; rc && i < b->nrows; i++)
        res[i].ok = res[i].created = false;
    return rc;
}

static size_t pd_plan(void *ctx, size_t delta_rows)
{
    (void)delta_rows;
    return ((struct pgdst *)ctx)->batch;
}

const struct eng_dest_ops eng_dest_postgres = {
    .type = "postgres",
    .open = pd_open,
    .prepare = pd_prepare,
    .plan = pd_plan,
    .load = pd_load,
    .can_delete = true,
    .can_clear = true,
    .can_lookup = true,
    .summary = NULL,
    .close = pd_close,
};

ENG_DEST_REGISTER(eng_dest_postgres);
