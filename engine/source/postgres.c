/* PostgreSQL source on libpq. Two connections: the writer stages the query,
 * computes the delta and commits each batch's outcome into the state tables;
 * the reader streams the delta through a server-side cursor, so the delta is
 * never held in memory whole and commits never disturb the stream. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/env.h"
#include "common/log.h"
#include "engine/base/pg.h"
#include "engine/source/pg_int.h"
#include "engine/source/pg_plan.h"
#include "engine/source/pg_sql.h"
#include "engine/source/source.h"

static retl_err tx(struct pgsrc *s, const char *verb, struct retl_errbuf *eb)
{
    if (pgs_dry(s))
        return RETL_E_OK;
    return eng_pg_exec(s->w, verb, NULL, "source", eb);
}

void pgs_rollback(struct pgsrc *s)
{
    if (!pgs_dry(s) && PQstatus(s->w) == CONNECTION_OK &&
        PQtransactionStatus(s->w) != PQTRANS_IDLE)
        PQclear(PQexec(s->w, "ROLLBACK"));
}

static retl_err pg_open(const struct retl_job *job, const struct eng_secrets *sec,
                        unsigned flags, void **ctx, struct retl_errbuf *eb)
{
    struct pgsrc *s = calloc(1, sizeof *s);
    retl_err rc;
    if (!s)
        return RETL_E_NOMEM;
    s->sec = sec;
    s->flags = flags;
    s->del_op = job->deletes == RETL_DELETES_DELETE  ? "delete"
                : job->deletes == RETL_DELETES_CLEAR ? "clear"
                                                     : NULL;
    s->max_pct = job->deletes_max_percent;
    s->ids_back = (flags & ENG_SRC_DEST_IDS) != 0;
    retl_buf_init(&s->sql, ENG_PG_SQL_MAX);
    retl_buf_init(&s->copy, COPY_MAX);
    RETL_TRY(eng_pg_connect(sec, "source", &s->w, eb));
    /* work_mem stays the warehouse's: the lean snapshot side of the diff is
     * small, and a larger work_mem made the planner trade a merge join on the
     * key's index for a slower in-memory hash join. */
    if (pgs_dry(s))
        RETL_TRY(eng_pg_exec(s->w, "BEGIN", NULL, "source", eb));
    *ctx = s;
    return RETL_E_OK;
out:
    if (s->w)
        PQfinish(s->w);
    retl_buf_free(&s->sql);
    free(s);
    return rc;
}

/* How long a run waits for the job's lock (RETL_LOCK_WAIT_S). A run killed
 * mid-statement (its pod deleted, OOM) keeps it until its server backend
 * notices the closed connection, which is when that statement ends: the next
 * run waits for it rather than failing at once; two live runs still never
 * overlap. */
#define PG_LOCK_WAIT_S 60

static retl_err pg_lock(void *ctx, const struct eng_state *st, struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc;
    PGresult *r = NULL;
    char id[300];
    snprintf(id, sizeof id, "retl %s.%s", st->n.schema, st->n.prefix);
    long long wait = retl_env_num("RETL_LOCK_WAIT_S", PG_LOCK_WAIT_S, 1, 3600);
    retl_buf_reset(&s->sql);
    RETL_TRY(retl_buf_printf(
        &s->sql, "SET lock_timeout = '%llds'; SELECT pg_advisory_lock(hashtextextended(",
        wait));
    RETL_TRY(eng_pg_literal(&s->sql, id));
    RETL_TRY(retl_buf_adds(&s->sql, ", 0))"));
    r = PQexec(s->w, retl_buf_str(&s->sql));
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && !strcmp(state, "55P03"))
            rc = retl_errf(eb, RETL_E_CONFLICT,
                           "source: another run of this job is in progress (lock on "
                           "%s.%s held for more than %lld s)",
                           st->n.schema, st->n.prefix, wait);
        else
            rc = eng_pg_fail(s->w, r, "source", eb);
        goto out;
    }
    RETL_TRY(eng_pg_exec(s->w, "RESET lock_timeout", NULL, "source", eb));
out:
    PQclear(r);
    return rc;
}

static retl_err pg_describe(void *ctx, const struct retl_job *job, struct eng_state *st,
                            struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc = RETL_E_OK;
    PGresult *p = NULL, *d = NULL, *t = NULL;
    const char **names = NULL;
    SQL(s, eng_pg_job_query(&s->sql, job));
    p = PQprepare(s->w, "", retl_buf_str(&s->sql), 0, NULL);
    if (!p || PQresultStatus(p) != PGRES_COMMAND_OK) {
        rc = eng_pg_fail(s->w, p, "source: the query is invalid", eb);
        goto out;
    }
    d = PQdescribePrepared(s->w, "");
    if (!d || PQresultStatus(d) != PGRES_COMMAND_OK) {
        rc = eng_pg_fail(s->w, d, "source: cannot describe the query", eb);
        goto out;
    }
    int nf = PQnfields(d);
    names = calloc(nf > 0 ? (size_t)nf : 1, sizeof *names);
    if (!names) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    for (int f = 0; f < nf; f++)
        names[f] = PQfname(d, f);
    for (size_t i = 0; i < st->ncols; i++) {
        size_t found = 0;
        RETL_TRY(eng_source_column(st, i, names, (size_t)nf, false, &found, eb));
        char q[128];
        snprintf(q, sizeof q, "SELECT typname, typcategory FROM pg_type WHERE oid = %u",
                 (unsigned)PQftype(d, (int)found));
        PQclear(t);
        t = NULL;
        RETL_TRY(eng_pg_exec(s->w, q, &t, "source", eb));
        if (PQntuples(t) != 1) {
            rc = retl_errf(eb, RETL_E_SOURCE, "source: unknown type of \"%s\"",
                           st->cols[i].name);
            goto out;
        }
        free(st->cols[i].sql_type);
        st->cols[i].sql_type = strdup(PQgetvalue(t, 0, 0));
        if (!st->cols[i].sql_type) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        st->cols[i].type = eng_pg_type(PQgetvalue(t, 0, 0), PQgetvalue(t, 0, 1)[0]);
    }
out:
    PQclear(p);
    PQclear(d);
    PQclear(t);
    free(names);
    return rc;
}

static retl_err exists(struct pgsrc *s, const struct eng_state *st, const char *table,
                       bool *yes, struct retl_errbuf *eb)
{
    retl_err rc;
    PGresult *r = NULL;
    struct retl_buf q;
    retl_buf_init(&q, 1024);
    retl_buf_reset(&s->sql);
    RETL_TRY(eng_pg_qname(&q, st->n.schema, table));
    RETL_TRY(retl_buf_adds(&s->sql, "SELECT to_regclass("));
    RETL_TRY(eng_pg_literal(&s->sql, retl_buf_str(&q)));
    RETL_TRY(retl_buf_adds(&s->sql, ") IS NOT NULL"));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source", eb));
    *yes = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
out:
    PQclear(r);
    retl_buf_free(&q);
    return rc;
}

/* The pending-reset marker in the job's meta table: its DELETE, or (read)
 * the query of it. */
static retl_err reset_marker_sql(struct pgsrc *s, const struct eng_state *st, bool read)
{
    retl_err rc;
    retl_buf_reset(&s->sql);
    RETL_TRY(retl_buf_adds(&s->sql, read ? "SELECT v FROM " : "DELETE FROM "));
    RETL_TRY(eng_pg_qname(&s->sql, st->n.schema, st->n.meta));
    RETL_TRY(retl_buf_adds(&s->sql, " WHERE k = 'reset'"));
out:
    return rc;
}

static retl_err pg_state_init(void *ctx, const struct eng_state *st, unsigned flags,
                              unsigned *result, struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc;
    PGresult *r = NULL;
    bool have_snap = false, reb = false, resetting = false;
    struct retl_buf fp;
    retl_buf_init(&fp, 64 * 1024);
    /* pg2: the snapshot layout of this backend (k, st, h, c1..cn). */
    RETL_TRY(retl_buf_adds(&fp, st->fingerprint));
    RETL_TRY(retl_buf_adds(&fp, "|pg2|"));
    RETL_TRY(eng_pg_sql_types(&fp, st));
    RETL_TRY(tx(s, "BEGIN", eb));
    SQL(s, eng_pg_sql_state_ddl(&s->sql, st));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
    RETL_TRY(exists(s, st, st->n.snap, &have_snap, eb));
    if (have_snap && !pgs_dry(s)) {
        SQL(s, eng_pg_sql_snap_upgrade(&s->sql, st));
        RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
    }
    retl_buf_reset(&s->sql);
    RETL_TRY(retl_buf_adds(&s->sql, "SELECT v FROM "));
    RETL_TRY(eng_pg_qname(&s->sql, st->n.schema, st->n.meta));
    RETL_TRY(retl_buf_adds(&s->sql, " WHERE k = 'fingerprint' FOR UPDATE"));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source", eb));
    bool same = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), retl_buf_str(&fp)) == 0;
    PQclear(r);
    r = NULL;
    if (have_snap && (!same || (flags & ENG_STATE_RESYNC))) {
        SQL(s, eng_pg_sql_rebase(&s->sql, st));
        RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
        reb = true;
    } else if (!have_snap) {
        SQL(s, eng_pg_sql_snap_create(&s->sql, st));
        RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
    }
    if (!same) {
        SQL(s, eng_pg_sql_meta_set(&s->sql, st, "fingerprint", retl_buf_str(&fp)));
        RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
    }
    if (flags & ENG_STATE_RESET) {
        SQL(s, eng_pg_sql_meta_set(&s->sql, st, "reset", "pending"));
        RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
    }
    RETL_TRY(reset_marker_sql(s, st, true));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source", eb));
    resetting = PQntuples(r) > 0;
    RETL_TRY(tx(s, "COMMIT", eb));
    *result = (reb ? ENG_STATE_REBASED : 0) | (resetting ? ENG_STATE_RESETTING : 0);
out:
    PQclear(r);
    retl_buf_free(&fp);
    if (rc)
        pgs_rollback(s);
    return rc;
}

retl_err pgs_key_check(struct pgsrc *s, PGconn *conn, const struct eng_state *st,
                       bool delta, const char *query, long long *rows,
                       struct retl_errbuf *eb)
{
    retl_err rc;
    PGresult *r = NULL;
    const char *what = query ? "source: query failed" : "source";
    if (query)
        SQL(s, eng_pg_sql_key_count_query(&s->sql, st, query));
    else
        SQL(s, eng_pg_sql_key_count(&s->sql, st, delta));
    RETL_TRY(eng_pg_exec(conn, retl_buf_str(&s->sql), &r, what, eb));
    if (eng_pg_ll(r, 0, 0) == 0 && eng_pg_ll(r, 0, 1) == eng_pg_ll(r, 0, 2)) {
        if (rows)
            *rows = eng_pg_ll(r, 0, 1);
        goto out;
    }
    PQclear(r);
    r = NULL;
    if (query)
        SQL(s, eng_pg_sql_key_check_query(&s->sql, st, query));
    else
        SQL(s, eng_pg_sql_key_check(&s->sql, st, delta));
    RETL_TRY(eng_pg_exec(conn, retl_buf_str(&s->sql), &r, what, eb));
    if (eng_pg_ll(r, 0, 0) > 0) {
        rc = retl_errf(eb, RETL_E_SOURCE,
                       "source: key column \"%s\" is NULL in %lld row(s); "
                       "every row needs a key",
                       st->cols[0].name, eng_pg_ll(r, 0, 0));
        goto out;
    }
    if (!PQgetisnull(r, 0, 1))
        rc = retl_errf(eb, RETL_E_SOURCE,
                       "source: duplicate values of key column \"%s\": %s "
                       "(the key must be unique in the source)",
                       st->cols[0].name, PQgetvalue(r, 0, 1));
out:
    PQclear(r);
    return rc;
}

/* Runs the staging statement in s->sql (it runs the job's query); *rows:
 * the rows it wrote. */
static retl_err stage_run(struct pgsrc *s, long long *rows, struct retl_errbuf *eb)
{
    PGresult *r = NULL;
    retl_err rc =
        eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source: query failed", eb);
    if (rc == RETL_E_OK)
        *rows = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return rc;
}

static retl_err pg_stage(void *ctx, const struct retl_job *job,
                         const struct eng_state *st, long long *extracted,
                         struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc;
    PGresult *r = NULL;
    struct retl_buf q;
    retl_buf_init(&q, ENG_PG_SQL_MAX);
    RETL_TRY(eng_pg_job_query(&q, job));
    SQL(s, eng_pg_sql_snap_empty(&s->sql, st));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source", eb));
    bool first = PQgetvalue(r, 0, 0)[0] == 't';
    bool clean = first && PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    r = NULL;
    /* A first sync with no error row left from an earlier run: diff decides,
     * once it knows the strategy, whether the query is streamed (pg_first.c)
     * or staged into the delta. */
    if (clean) {
        free(s->first_query);
        if (!(s->first_query = strdup(retl_buf_str(&q)))) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        *extracted = 0; /* diff counts them */
        goto out;
    }
    /* Nothing synced yet: every row is new, so the query goes straight into
     * the delta (one table written instead of two, no join). Otherwise, but
     * for Insert mode (which checks every key), diff joins the query itself
     * with the snapshot: the query's rows are never written whole. */
    if (!first && job->mode != RETL_MODE_INSERT) {
        free(s->query);
        if (!(s->query = strdup(retl_buf_str(&q)))) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        *extracted = 0; /* diff counts them */
        goto out;
    }
    if (first)
        SQL(s, eng_pg_sql_stage_delta(&s->sql, st, retl_buf_str(&q)));
    else
        SQL(s, eng_pg_sql_stage(&s->sql, st, retl_buf_str(&q)));
    long long n;
    RETL_TRY(stage_run(s, &n, eb));
    s->delta_ready = first;
    /* Insert mode checks every key; the other modes check the keys about to
     * be sent (diff), which costs a fraction: a duplicated key whose rows are
     * all unchanged and synced sends nothing, so it harms nothing. */
    if (job->mode == RETL_MODE_INSERT)
        RETL_TRY(pgs_key_check(s, s->w, st, first, NULL, NULL, eb));
    *extracted = n;
    s->extracted = n;
out:
    PQclear(r);
    retl_buf_free(&q);
    return rc;
}

/* Leaves out of the delta (op P) the rows that failed permanently and did
 * not change, unless a retry was requested. */
static retl_err skip_permanent(struct pgsrc *s, const struct eng_state *st, long long *n,
                               struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    PGresult *r = NULL;
    *n = 0;
    if (s->flags & ENG_SRC_RETRY_FAILED)
        return RETL_E_OK;
    /* Usually there is none: one index-free probe instead of a join. */
    SQL(s, eng_pg_sql_permanent_any(&s->sql, st));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source", eb));
    bool any = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    r = NULL;
    if (!any)
        goto out;
    SQL(s, eng_pg_sql_skip_permanent(&s->sql, st));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source", eb));
    *n = strtoll(PQcmdTuples(r), NULL, 10);
out:
    PQclear(r);
    return rc;
}

/* The delta straight from the query, its rows counted by the plan's
 * instrumentation (EXPLAIN ANALYZE runs the statement): no per-row counter.
 * Serial, as with the counter, so each node runs once. RETL_E_PARSE (the
 * delta may exist): the plan's shape was not the expected one. */
static retl_err diff_explained(struct pgsrc *s, const struct eng_state *st,
                               enum retl_mode mode, enum eng_diff how, long long *rows,
                               struct retl_errbuf *eb)
{
    retl_err rc;
    PGresult *r = NULL;
    SQL(s, eng_pg_sql_scratch_drop(&s->sql, st));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
    RETL_TRY(
        eng_pg_exec(s->w, "SET max_parallel_workers_per_gather = 0", NULL, "source", eb));
    SQL(s, eng_pg_sql_diff_explained(&s->sql, st, mode, how, s->query));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source: query failed", eb));
    RETL_TRY(
        eng_pg_exec(s->w, "RESET max_parallel_workers_per_gather", NULL, "source", eb));
    if (PQntuples(r) != 1 || PQnfields(r) != 1) {
        rc = RETL_E_PARSE;
        goto out;
    }
    rc = eng_pg_plan_query_rows(PQgetvalue(r, 0, 0), st->n.snap, rows);
    if (rc)
        RETL_LOG_WARN("diff plan without the expected shape; counting rows again");
out:
    PQclear(r);
    return rc;
}

static retl_err pg_diff(void *ctx, const struct eng_state *st, enum retl_mode mode,
                        enum eng_diff how, struct eng_delta_counts *c,
                        struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc;
    PGresult *r = NULL;
    s->values = how != ENG_DIFF_HASH;
    if (s->first_query && how == ENG_DIFF_HASH) {
        /* Streamed: the snapshot keeps (key, hash) only, which the cursor
         * computes as it reads the query, so nothing is materialised. The
         * join and except strategies keep each row's typed values, which
         * would have to travel back from canonical text: they stage. */
        s->stream = true;
        rc = pgf_diff(s, st, c, eb);
        goto out;
    }
    if (s->first_query) {
        SQL(s, eng_pg_sql_stage_delta(&s->sql, st, s->first_query));
        RETL_TRY(stage_run(s, &s->extracted, eb));
        s->delta_ready = true;
        c->extracted = s->extracted;
    }
    if (s->query && how == ENG_DIFF_EXCEPT) {
        /* EXCEPT reads the staged rows twice: stage them after all. */
        SQL(s, eng_pg_sql_stage(&s->sql, st, s->query));
        RETL_TRY(stage_run(s, &s->extracted, eb));
        c->extracted = s->extracted;
        free(s->query);
        s->query = NULL;
    }
    if (s->query &&
        (rc = diff_explained(s, st, mode, how, &c->extracted, eb)) != RETL_E_PARSE) {
        if (rc)
            goto out;
        s->extracted = c->extracted;
    } else if (s->query) {
        /* The plan did not have the expected shape: the row counter. */
        SQL(s, eng_pg_sql_counter_reset(&s->sql, st));
        RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
        SQL(s, eng_pg_sql_diff(&s->sql, st, mode, how, s->query));
        RETL_TRY(
            eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source: query failed", eb));
        SQL(s, eng_pg_sql_counter_read(&s->sql, st));
        RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source", eb));
        s->extracted = c->extracted = eng_pg_ll(r, 0, 0);
        PQclear(r);
        r = NULL;
    } else if (!s->delta_ready) {
        SQL(s, eng_pg_sql_diff(&s->sql, st, mode, how, NULL));
        RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source: delta", eb));
    }
    RETL_TRY(pgs_key_check(s, s->w, st, true, NULL, NULL, eb));
    RETL_TRY(skip_permanent(s, st, &c->skipped_permanent, eb));
    if (s->delta_ready) {
        /* Straight from the query into an empty snapshot: every row is new. */
        c->new_keys = s->extracted - c->skipped_permanent;
        c->changed = c->deleted = 0;
    } else {
        SQL(s, eng_pg_sql_delta_counts(&s->sql, st));
        RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source", eb));
        c->new_keys = eng_pg_ll(r, 0, 0);
        c->changed = eng_pg_ll(r, 0, 1);
        c->deleted = eng_pg_ll(r, 0, 2);
        s->gone = c->deleted > 0;
    }
    /* The guard's base. The query's rows that are not new, changed or
     * skipped are synced keys, so with the deleted ones they bound it from
     * below; the exact count (a pass over the snapshot) is taken only when
     * that bound could trip the guard, and for plan, which prints it. */
    long long lb = c->extracted - c->new_keys - c->changed - c->skipped_permanent;
    lb = (lb > 0 ? lb : 0) + c->deleted;
    c->synced = lb;
    if (s->del_op && c->deleted > 0 &&
        (pgs_dry(s) ||
         (s->max_pct < 100 && (double)c->deleted * 100.0 > s->max_pct * (double)lb))) {
        PQclear(r);
        r = NULL;
        SQL(s, eng_pg_sql_synced_count(&s->sql, st));
        RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source", eb));
        c->synced = eng_pg_ll(r, 0, 0);
        PQclear(r);
        r = NULL;
    }
    SQL(s, eng_pg_sql_errors_prune(&s->sql, st, s->del_op != NULL));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
out:
    PQclear(r);
    return rc;
}

static retl_err pg_delta_open(void *ctx, const struct eng_state *st,
                              struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc;
    if (s->stream)
        return pgf_delta_open(s, st, eb);
    SQL(s, eng_pg_sql_batch_table(&s->sql, st));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
    RETL_TRY(eng_pg_connect(s->sec, "source", &s->r, eb));
    /* Chunks must be contiguous ranges of the delta's physical order. */
    RETL_TRY(eng_pg_exec(s->r, "SET synchronize_seqscans = off", NULL, "source", eb));
    RETL_TRY(eng_pg_exec(s->r, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", NULL,
                         "source", eb));
    SQL(s, eng_pg_sql_ids_table(&s->sql, st));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
    SQL(s, eng_pg_sql_delta_cursor(&s->sql, st, s->del_op != NULL));
    RETL_TRY(eng_pg_exec(s->r, retl_buf_str(&s->sql), NULL, "source", eb));
out:
    return rc;
}

static retl_err pg_delta_fetch(void *ctx, size_t max, struct eng_chunk *out,
                               struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc;
    char q[96];
    PQclear(s->chunk);
    s->chunk = NULL;
    snprintf(q, sizeof q, "FETCH FORWARD %zu FROM retl_delta", max);
    if (s->ahead) {
        /* The server prepared this chunk while the last one was loaded. */
        s->ahead = false;
        PGresult *x;
        while ((x = PQgetResult(s->r)) != NULL) {
            if (!s->chunk)
                s->chunk = x;
            else
                PQclear(x);
        }
        if (!s->chunk || PQresultStatus(s->chunk) != PGRES_TUPLES_OK) {
            rc = eng_pg_fail(s->r, s->chunk, "source: reading the delta", eb);
            goto out;
        }
    } else {
        RETL_TRY(eng_pg_exec(s->r, q, &s->chunk, "source: reading the delta", eb));
    }
    if (PQntuples(s->chunk) > 0)
        s->ahead = PQsendQuery(s->r, q) == 1;
    /* op, k, c1..cn, id, then ctid (or streamed: the key's own text and the
     * hash): these stay here, the rest goes out */
    size_t nr = (size_t)PQntuples(s->chunk), nf = (size_t)PQnfields(s->chunk);
    size_t tail = s->stream ? 3 : 2;
    if (nf < 2 + tail) {
        rc = retl_errf(eb, RETL_E_INTERNAL, "source: unexpected delta shape");
        goto out;
    }
    size_t nc = nf - tail;
    s->fetched += (long long)nr;
    if (nr > s->ids_cap) {
        const char **p = realloc(s->ids, nr * sizeof *p);
        if (!p) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        s->ids = p;
        s->ids_cap = nr;
    }
    for (size_t i = 0; i < nr; i++)
        s->ids[i] = PQgetisnull(s->chunk, (int)i, (int)nc)
                        ? NULL
                        : PQgetvalue(s->chunk, (int)i, (int)nc);
    if (nr * nc > s->cells_cap) {
        const char **p = realloc(s->cells, nr * nc * sizeof *p);
        if (!p) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        s->cells = p;
        s->cells_cap = nr * nc;
    }
    for (size_t i = 0; i < nr; i++) {
        for (size_t j = 0; j < nc; j++) {
            s->cells[i * nc + j] = PQgetisnull(s->chunk, (int)i, (int)j)
                                       ? NULL
                                       : PQgetvalue(s->chunk, (int)i, (int)j);
        }
    }
    if (nr && !s->stream) {
        snprintf(s->tid_first, sizeof s->tid_first, "%s",
                 PQgetvalue(s->chunk, 0, (int)nc + 1));
        snprintf(s->tid_last, sizeof s->tid_last, "%s",
                 PQgetvalue(s->chunk, (int)nr - 1, (int)nc + 1));
    }
    out->nrows = nr;
    out->ncols = nc - 1;
    out->cells = s->cells;
    out->ids = s->ids;
out:
    return rc;
}

/* A tuple id "(block,offset)" as one number that orders as the tids do. */
static uint64_t tid_num(const char *s)
{
    uint64_t blk = 0, off = 0;
    for (s += *s == '('; *s >= '0' && *s <= '9'; s++)
        blk = blk * 10 + (uint64_t)(*s - '0');
    for (s += *s == ','; *s >= '0' && *s <= '9'; s++)
        off = off * 10 + (uint64_t)(*s - '0');
    return blk << 16 | off;
}

/* Whether a chunk holds new keys (op I) and changed keys (op U). */
static void chunk_ops(const struct eng_chunk *ch, bool *ins, bool *upd)
{
    *ins = *upd = false;
    for (size_t i = 0; i < ch->nrows; i++) {
        const char *o = ch->cells[i * (ch->ncols + 1)];
        *ins |= o && o[0] == 'I';
        *upd |= o && o[0] == 'U';
    }
}

/* Collects the outcome of what is in flight on w; with keep, the first
 * result holding rows is kept there. Ownership: the caller PQclears *keep. */
retl_err pgs_send_state(struct pgsrc *s, const struct eng_row_result *res, size_t n,
                        struct retl_errbuf *eb)
{
    if (PQsendQuery(s->w, retl_buf_str(&s->sql)) != 1)
        return eng_pg_fail(s->w, NULL, "source: saving the batch", eb);
    s->pending = true;
    s->pending_ok = 0;
    for (size_t i = 0; i < n; i++)
        s->pending_ok += res[i].ok;
    return RETL_E_OK;
}

retl_err pgs_collect(struct pgsrc *s, PGresult **keep, struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    PGresult *r;
    while ((r = PQgetResult(s->w)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (rc == RETL_E_OK && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            rc = eng_pg_fail(s->w, r, "source: saving the batch", eb);
        if (keep && !*keep && st == PGRES_TUPLES_OK) {
            *keep = r;
            continue;
        }
        PQclear(r);
    }
    if (rc == RETL_E_OK && PQstatus(s->w) != CONNECTION_OK)
        rc = eng_pg_fail(s->w, NULL, "source: saving the batch", eb);
    return rc;
}

static retl_err pg_prewrite(void *ctx, const struct eng_state *st,
                            const struct eng_chunk *ch, struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc;
    bool ins, upd;
    if (pgs_dry(s) || ch->nrows == 0)
        return RETL_E_OK;
    if (s->stream)
        return pgf_prewrite(s, st, ch, eb);
    chunk_ops(ch, &ins, &upd);
    retl_buf_reset(&s->sql);
    RETL_TRY(retl_buf_adds(&s->sql, "BEGIN;\n"));
    RETL_TRY(eng_pg_sql_snap_write(&s->sql, st, s->tid_first, s->tid_last, ins, upd,
                                   s->values));
    /* Sent, not awaited: the server writes while the destination loads. */
    if (PQsendQuery(s->w, retl_buf_str(&s->sql)) != 1) {
        rc = eng_pg_fail(s->w, NULL, "source: saving the batch", eb);
        goto out;
    }
    s->written = true;
out:
    if (rc == RETL_E_TOO_BIG || rc == RETL_E_NOMEM)
        rc = retl_errf(eb, rc, "source: batch too large to save");
    return rc;
}

static retl_err pg_commit(void *ctx, const struct eng_state *st, long long run,
                          const char *op, const struct eng_chunk *ch,
                          const struct eng_row_result *res, struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc = RETL_E_OK;
    struct retl_buf *c = &s->copy;
    if (s->stream)
        return pgf_commit(s, st, run, op, ch, res, eb);
    retl_buf_reset(c);
    /* Values are already in the delta table: only failures travel back. */
    for (size_t i = 0; i < ch->nrows; i++) {
        if (res[i].ok)
            continue;
        RETL_TRY(eng_pg_copy_field(c, ch->cells[i * (ch->ncols + 1) + 1]));
        RETL_TRY(retl_buf_addc(c, '\t'));
        RETL_TRY(eng_pg_copy_field(c, res[i].code));
        RETL_TRY(retl_buf_addc(c, '\t'));
        RETL_TRY(eng_pg_copy_field(c, res[i].message));
        RETL_TRY(retl_buf_addc(c, '\t'));
        RETL_TRY(eng_pg_copy_field(c, res[i].fields));
        RETL_TRY(retl_buf_addc(c, '\t'));
        RETL_TRY(eng_pg_copy_field(c, eng_fail_class_name(res[i].cls)));
        RETL_TRY(retl_buf_addc(c, '\n'));
    }
    /* The snapshot half is written (prewrite): wait for it, then complete
     * it in the same transaction. */
    if (!s->written)
        RETL_TRY(pg_prewrite(ctx, st, ch, eb));
    s->written = false;
    RETL_TRY(pgs_collect(s, &s->kept_ids, eb));
    bool failed = c->len > 0;
    if (failed)
        RETL_TRY(eng_pg_copy_in(s->w, "COPY pg_temp.retl_batch FROM STDIN", c->data,
                                c->len, "source: saving the batch", eb));
    /* Record ids the destination returned (Salesforce), which later deletes
     * address records by; a destination without ids sends none. Only ids
     * the snapshot does not hold already are written: prewrite returned
     * the kept ids of the changed keys in ctid order, the chunk's order. */
    retl_buf_reset(c);
    size_t nk = s->kept_ids ? (size_t)PQntuples(s->kept_ids) : 0, j = 0;
    int tcol = PQnfields(s->chunk) - 1;
    for (size_t i = 0; i < ch->nrows; i++) {
        const char *o = ch->cells[i * (ch->ncols + 1)];
        if (!res[i].ok || !res[i].dest_id || (o && o[0] == 'D'))
            continue;
        if (o && o[0] == 'U' && j < nk) {
            uint64_t t = tid_num(PQgetvalue(s->chunk, (int)i, tcol));
            while (j < nk && tid_num(PQgetvalue(s->kept_ids, (int)j, 0)) < t)
                j++;
            if (j < nk && tid_num(PQgetvalue(s->kept_ids, (int)j, 0)) == t &&
                !strcmp(PQgetvalue(s->kept_ids, (int)j, 1), res[i].dest_id))
                continue;
        }
        RETL_TRY(eng_pg_copy_field(c, ch->cells[i * (ch->ncols + 1) + 1]));
        RETL_TRY(retl_buf_addc(c, '\t'));
        RETL_TRY(eng_pg_copy_field(c, res[i].dest_id));
        RETL_TRY(retl_buf_addc(c, '\n'));
    }
    retl_buf_reset(&s->sql);
    if (c->len) {
        RETL_TRY(eng_pg_copy_in(s->w, "COPY pg_temp.retl_ids FROM STDIN", c->data, c->len,
                                "source: saving the batch", eb));
        RETL_TRY(eng_pg_sql_ids_save(&s->sql, st, s->tid_first, s->tid_last));
        RETL_TRY(retl_buf_adds(&s->sql, ";\n"));
    }
    RETL_TRY(eng_pg_sql_commit_written(&s->sql, st, run, op, s->del_op, s->tid_first,
                                       s->tid_last, failed));
    RETL_TRY(retl_buf_adds(&s->sql, ";\nCOMMIT"));
    RETL_TRY(pgs_send_state(s, res, ch->nrows, eb));
out:
    PQclear(s->kept_ids);
    s->kept_ids = NULL;
    if (rc == RETL_E_TOO_BIG || rc == RETL_E_NOMEM)
        rc = retl_errf(eb, rc, "source: batch too large to save");
    if (rc)
        pgs_rollback(s);
    return rc;
}

static retl_err pg_commit_wait(void *ctx, struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    if (!s->pending)
        return RETL_E_OK;
    s->pending = false;
    retl_err rc = pgs_collect(s, NULL, eb);
    if (rc)
        pgs_rollback(s);
    else
        s->saved += s->pending_ok;
    return rc;
}

static retl_err pg_finish(void *ctx, const struct eng_state *st, struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc;
    RETL_TRY(pg_commit_wait(ctx, eb));
    /* The stream and its key check read one snapshot: only a query whose
     * result varies by itself (random(), LIMIT without ORDER BY) differs. */
    if (s->stream && s->fetched != s->extracted)
        RETL_LOG_WARN("the query returned a different number of rows when streamed "
                      "than when its keys were checked: it is not deterministic",
                      RF_I("checked", s->extracted), RF_I("streamed", s->fetched));
    PQclear(s->chunk);
    s->chunk = NULL;
    if (s->r) {
        PQfinish(s->r);
        s->r = NULL;
    }
    RETL_TRY(tx(s, "BEGIN", eb));
    /* Without deleted keys there is nothing to mark: no pass over the delta
     * (a whole table's worth of rows on a first sync); propagated deletes
     * were saved batch by batch (a failed one stays synced). */
    if (s->gone && !s->del_op)
        SQL(s, eng_pg_sql_finish(&s->sql, st));
    else
        SQL(s, eng_pg_sql_scratch_drop(&s->sql, st));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
    /* A reset is complete once its whole delta is recorded. */
    RETL_TRY(reset_marker_sql(s, st, false));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
    RETL_TRY(tx(s, "COMMIT", eb));
    /* After a large load, set hint bits (and, for a new baseline, when
     * delta_ready says the snapshot was empty, statistics) now rather than in
     * the next run's diff (best effort: autovacuum gets there too). Later
     * statistics barely move (a lean row is a key and a hash) and ANALYZE
     * would take most of the time. */
    if (!pgs_dry(s) && s->saved >= 10000 && s->saved * 10 >= s->extracted) {
        retl_buf_reset(&s->sql);
        if (!retl_buf_adds(&s->sql, s->delta_ready ? "VACUUM (ANALYZE) " : "VACUUM ") &&
            !eng_pg_qname(&s->sql, st->n.schema, st->n.snap))
            PQclear(PQexec(s->w, retl_buf_str(&s->sql)));
    }
out:
    if (rc)
        pgs_rollback(s);
    return rc;
}

static json_t *cell(const PGresult *r, int i, int j)
{
    if (PQgetisnull(r, i, j))
        return json_null();
    return json_string(PQgetvalue(r, i, j));
}

static retl_err pg_errors(void *ctx, const struct eng_state *st, size_t limit,
                          json_t **out, long long *total, struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc;
    PGresult *r = NULL;
    bool have = false;
    json_t *arr = json_array();
    if (!arr)
        return RETL_E_NOMEM;
    long long n = 0;
    RETL_TRY(exists(s, st, st->n.errors, &have, eb));
    if (have) {
        SQL(s, eng_pg_sql_errors_list(&s->sql, st, limit));
        RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source", eb));
        for (int i = 0; i < PQntuples(r); i++) {
            json_t *row = NULL;
            json_t *o = json_pack(
                "{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "run",
                (json_int_t)eng_pg_ll(r, i, 0), "key", cell(r, i, 1), "operation",
                cell(r, i, 2), "code", cell(r, i, 3), "message", cell(r, i, 4), "fields",
                cell(r, i, 5), "row", json_null(), "firstFailure", cell(r, i, 7),
                "lastFailure", cell(r, i, 8), "attempts", (json_int_t)eng_pg_ll(r, i, 9));
            if (o)
                json_object_set_new(o, "class", cell(r, i, 11));
            if (!PQgetisnull(r, i, 6))
                row = json_loads(PQgetvalue(r, i, 6), 0, NULL);
            if (o && row)
                json_object_set_new(o, "row", row);
            if (!o || json_array_append_new(arr, o) != 0) {
                rc = RETL_E_NOMEM;
                goto out;
            }
            n = eng_pg_ll(r, i, 10);
        }
    }
    *out = arr;
    arr = NULL;
    *total = n;
out:
    PQclear(r);
    json_decref(arr);
    return rc;
}

static retl_err pg_failing_permanent(void *ctx, const struct eng_state *st, long long *n,
                                     struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc;
    PGresult *r = NULL;
    bool have = false;
    long long v = 0;
    RETL_TRY(exists(s, st, st->n.errors, &have, eb));
    if (have) {
        SQL(s, eng_pg_sql_errors_permanent(&s->sql, st));
        RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), &r, "source", eb));
        v = eng_pg_ll(r, 0, 0);
    }
    *n = v;
out:
    PQclear(r);
    return rc;
}

static retl_err pg_drop_state(void *ctx, const struct eng_state *st,
                              struct retl_errbuf *eb)
{
    struct pgsrc *s = ctx;
    retl_err rc;
    SQL(s, eng_pg_sql_drop(&s->sql, st));
    RETL_TRY(eng_pg_exec(s->w, retl_buf_str(&s->sql), NULL, "source", eb));
out:
    return rc;
}

static void pg_close(void *ctx)
{
    struct pgsrc *s = ctx;
    if (!s)
        return;
    PQclear(s->chunk);
    PQclear(s->kept_ids);
    if (s->r)
        PQfinish(s->r);
    if (s->w) {
        if (pgs_dry(s) && PQstatus(s->w) == CONNECTION_OK)
            PQclear(PQexec(s->w, "ROLLBACK"));
        PQfinish(s->w);
    }
    free(s->cells);
    free(s->ids);
    free(s->query);
    free(s->first_query);
    retl_buf_free(&s->sql);
    retl_buf_free(&s->copy);
    free(s);
}

const struct eng_source_ops eng_source_postgres = {
    .type = "postgres",
    .deletes = true,
    .open = pg_open,
    .lock = pg_lock,
    .describe = pg_describe,
    .state_init = pg_state_init,
    .stage = pg_stage,
    .diff = pg_diff,
    .delta_open = pg_delta_open,
    .delta_fetch = pg_delta_fetch,
    .prewrite = pg_prewrite,
    .commit = pg_commit,
    .commit_wait = pg_commit_wait,
    .finish = pg_finish,
    .errors = pg_errors,
    .failing_permanent = pg_failing_permanent,
    .drop_state = pg_drop_state,
    .close = pg_close,
};
