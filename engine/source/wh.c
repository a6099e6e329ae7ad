#include "engine/source/wh.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "common/timestamp.h"

/* Statements of one commit: clear, the VALUES inserts, the commit steps. */
#define NBUF_FIXED (1 + ENG_DL_COMMIT_STMTS)
#define SCRATCH_MAX (512u << 20)
#define SMALL_ROWS 100000u
/* Keys of unchanged rows failing permanently, skipped in one run. */
#define SKIP_KEYS_MAX (64u << 20)

struct wh {
    const struct eng_wh_driver *drv;
    void *conn;
    const struct eng_dialect *dl;
    unsigned flags;
    char **real; /* the query's own name of each state column */
    size_t nreal;
    char *query; /* lean dialects: the job's query, read by diff */
    /* "delete" | "clear": spec.deletes propagated (D rows are sent, saved
     * batch by batch); NULL: Ignore */
    const char *del_op;
    /* _errors has class and h (state_init upgraded it) */
    bool errors_current;
    struct retl_buf sql;
    /* delta reading */
    bool streaming;
    enum eng_type *types; /* per delta column: op, k, c1.. */
    size_t ntypes;
    const char **cells;
    long *offs;
    size_t cells_cap;
    const char **rawkeys; /* the delta's own key text, per chunk row */
    size_t rawkeys_cap;
    /* with propagated deletes: the record id kept for each D row */
    bool with_ids;
    const char **ids;
    /* lean: the delta's row hash as text, per chunk row (the commit copies
     * it into the batch table instead of joining the delta) */
    bool with_h;
    const char **hashes;
    struct retl_buf scratch;
    /* commit */
    struct retl_buf *bufs;
    size_t nbufs;
    /* a dry run the driver cannot roll back: scratch tables to drop */
    struct eng_state_names scratch_names;
    bool dry_tables;
    /* the run lock as a lease in the meta table (dialects without session
     * locks): its value while held, and when it expires */
    char lease[64];
    time_t lease_until;
    struct eng_state lease_st; /* its names only */
};

/* A lease outlives a stuck run by at most this long; a live run renews it
 * from commit once half of it has passed. */
#define LEASE_S 600

/* A dry run whose changes would stick: change no state. */
static bool keep_state(const struct wh *w)
{
    return (w->flags & ENG_SRC_DRY) && !w->drv->dry_rollback;
}

void eng_wh_result_free(struct eng_wh_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ncols; i++) {
        if (r->names)
            free(r->names[i]);
        if (r->types)
            free(r->types[i]);
    }
    for (size_t i = 0; r->cells && i < r->nrows * r->ncols; i++)
        free(r->cells[i]);
    free(r->names);
    free(r->types);
    free(r->codes);
    free(r->cells);
    memset(r, 0, sizeof *r);
}

retl_err eng_wh_new(const struct eng_wh_driver *drv, void *conn,
                    const struct eng_dialect *dl, unsigned flags, void **ctx)
{
    struct wh *w = calloc(1, sizeof *w);
    if (!w) {
        drv->free(conn);
        return RETL_E_NOMEM;
    }
    w->drv = drv;
    w->conn = conn;
    w->dl = dl;
    w->flags = flags;
    retl_buf_init(&w->sql, ENG_DL_SQL_MAX);
    retl_buf_init(&w->scratch, SCRATCH_MAX);
    *ctx = w;
    return RETL_E_OK;
}

#define SQL(w, call) ENG_SQL_BUILD(&(w)->sql, call)

static retl_err run1(struct wh *w, const char *sql, struct retl_errbuf *eb)
{
    const char *one[] = {sql};
    return w->drv->run(w->conn, one, 1, false, eb);
}

/* A one-row result's integer cell. */
static long long ll(const struct eng_wh_result *r, size_t col)
{
    if (r->nrows < 1 || col >= r->ncols || !r->cells[col])
        return 0;
    return strtoll(r->cells[col], NULL, 10);
}

static retl_err count(struct wh *w, const char *sql, long long *n, struct retl_errbuf *eb)
{
    struct eng_wh_result r = {0};
    retl_err rc = w->drv->query(w->conn, sql, 1, &r, eb);
    if (rc == RETL_E_OK)
        *n = ll(&r, 0);
    eng_wh_result_free(&r);
    return rc;
}

/* Runs the statement in w->sql with its placeholders' values p: bound when
 * the driver can, inlined as literals otherwise. */
static retl_err query_p(struct wh *w, const struct eng_dl_params *p, size_t max_rows,
                        struct eng_wh_result *out, struct retl_errbuf *eb)
{
    if (w->drv->query_bind)
        return w->drv->query_bind(w->conn, retl_buf_str(&w->sql), p->v, p->n, max_rows,
                                  out, eb);
    struct retl_buf q;
    retl_buf_init(&q, ENG_DL_SQL_MAX);
    retl_err rc = eng_dl_inline(w->dl, &q, retl_buf_str(&w->sql), p);
    if (rc == RETL_E_OK)
        rc = w->drv->query(w->conn, retl_buf_str(&q), max_rows, out, eb);
    else
        rc = retl_errf(eb, rc, "source: cannot inline the statement's values");
    retl_buf_free(&q);
    return rc;
}

static retl_err count_p(struct wh *w, const struct eng_dl_params *p, long long *n,
                        struct retl_errbuf *eb)
{
    struct eng_wh_result r = {0};
    retl_err rc = query_p(w, p, 1, &r, eb);
    if (rc == RETL_E_OK)
        *n = ll(&r, 0);
    eng_wh_result_free(&r);
    return rc;
}

static retl_err ensure(struct wh *w, const struct eng_state *st, const char *t,
                       retl_err (*mk)(const struct eng_dialect *, struct retl_buf *,
                                      const struct eng_state *),
                       struct retl_errbuf *eb);
static retl_err ensure_meta(struct wh *w, const struct eng_state *st,
                            struct retl_errbuf *eb);
static retl_err bufs(struct wh *w, size_t n);
static retl_err run_bufs(struct wh *w, size_t n, bool tx, struct retl_errbuf *eb);

/* Builds the lease statements into bufs 0..2 (see eng_dl_sql_lease). */
static retl_err lease_sql(struct wh *w, const struct eng_state *st, const char *value,
                          const char *now, struct retl_errbuf *eb)
{
    retl_err rc = bufs(w, 3);
    if (!rc)
        rc = eng_dl_sql_lease(w->dl, st, &w->bufs[0], &w->bufs[1], &w->bufs[2], value,
                              now);
    return rc ? retl_errf(eb, rc, "source: statement too large") : RETL_E_OK;
}

/* Whether every run_lock row reads want (and there is one); seen gets the
 * first row's value. */
static retl_err lease_is(struct wh *w, const char *want, bool *held, char *seen, size_t n,
                         struct retl_errbuf *eb)
{
    struct eng_wh_result r = {0};
    retl_err rc = w->drv->query(w->conn, retl_buf_str(&w->bufs[2]), 16, &r, eb);
    if (rc)
        return rc;
    *held = r.nrows > 0;
    for (size_t i = 0; i < r.nrows; i++)
        *held = *held && r.cells[i * r.ncols] && !strcmp(r.cells[i * r.ncols], want);
    snprintf(seen, n, "%s", r.nrows > 0 && r.cells[0] ? r.cells[0] : "");
    eng_wh_result_free(&r);
    return RETL_E_OK;
}

/* The run lock for dialects without session locks (Snowflake, ANSI, SQLite):
 * a lease row in the state's meta table, claimed by one conditional UPDATE
 * (the warehouse serialises writers of a table) and read back. */
static retl_err lease_take(struct wh *w, const struct eng_state *st,
                           struct retl_errbuf *eb)
{
    retl_err rc;
    unsigned char rnd[8];
    char value[64], now[16], seen[64];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t got = f ? fread(rnd, 1, sizeof rnd, f) : 0;
    if (f)
        fclose(f);
    if (got != sizeof rnd)
        return retl_errf(eb, RETL_E_INTERNAL, "source: no randomness for the run lock");
    time_t t = time(NULL);
    snprintf(now, sizeof now, "%010lld", (long long)t);
    snprintf(value, sizeof value, "%010lld %02x%02x%02x%02x%02x%02x%02x%02x",
             (long long)(t + LEASE_S), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
             rnd[6], rnd[7]);
    RETL_TRY(ensure_meta(w, st, eb));
    RETL_TRY(lease_sql(w, st, value, now, eb));
    /* Two runs adding the row at once: one insert fails, which is fine. */
    struct retl_errbuf ieb = {{0}};
    const char *ins[] = {retl_buf_str(&w->bufs[0])};
    (void)w->drv->run(w->conn, ins, 1, false, &ieb);
    const char *take[] = {retl_buf_str(&w->bufs[1])};
    RETL_TRY(w->drv->run(w->conn, take, 1, false, eb));
    bool held = false;
    RETL_TRY(lease_is(w, value, &held, seen, sizeof seen, eb));
    if (!held) {
        long long until = strtoll(seen, NULL, 10);
        return retl_errf(eb, RETL_E_CONFLICT,
                         "source: another run of this job is in progress (run lock in "
                         "%s.%s held for another %lld s)",
                         st->n.schema, st->n.meta, until > t ? until - (long long)t : 0);
    }
    snprintf(w->lease, sizeof w->lease, "%s", value);
    w->lease_until = t + LEASE_S;
    w->lease_st = (struct eng_state){.n = st->n};
out:
    return rc;
}

/* Moves the held lease to value ("" releases it). */
static retl_err lease_put(struct wh *w, const char *value, struct retl_errbuf *eb)
{
    retl_err rc = bufs(w, 1);
    if (!rc)
        rc = eng_dl_sql_lease_put(w->dl, &w->lease_st, &w->bufs[0], w->lease, value);
    if (rc)
        return retl_errf(eb, rc, "source: statement too large");
    return run_bufs(w, 1, false, eb);
}

/* Renews the lease once half of it has passed (from commit). */
static retl_err lease_renew(struct wh *w, struct retl_errbuf *eb)
{
    time_t t = time(NULL);
    if (!w->lease[0] || t < w->lease_until - LEASE_S / 2)
        return RETL_E_OK;
    char value[64], now[16], seen[64];
    const char *sp = strchr(w->lease, ' ');
    snprintf(value, sizeof value, "%010lld %s", (long long)(t + LEASE_S),
             sp ? sp + 1 : "");
    snprintf(now, sizeof now, "%010lld", (long long)t);
    bool held = false;
    retl_err rc = lease_put(w, value, eb);
    if (!rc)
        rc = lease_sql(w, &w->lease_st, value, now, eb);
    if (!rc)
        rc = lease_is(w, value, &held, seen, sizeof seen, eb);
    if (!rc && !held)
        rc = retl_errf(eb, RETL_E_CONFLICT,
                       "source: the run lock expired and another run took it");
    if (!rc) {
        snprintf(w->lease, sizeof w->lease, "%s", value);
        w->lease_until = t + LEASE_S;
    }
    return rc;
}

/* Frees the lease (best effort: an unreleased one expires). */
static void lease_release(struct wh *w)
{
    if (!w->lease[0])
        return;
    struct retl_errbuf eb = {{0}};
    if (lease_put(w, "", &eb))
        RETL_LOG_WARN("source: could not release the run lock (it expires by itself)",
                      RF_S("message", eb.msg));
    w->lease[0] = '\0';
}

retl_err eng_wh_lock(void *ctx, const struct eng_state *st, struct retl_errbuf *eb)
{
    struct wh *w = ctx;
    retl_err rc;
    char id[300];
    long long got = 0;
    snprintf(id, sizeof id, "retl %s.%s", st->n.schema, st->n.prefix);
    retl_buf_reset(&w->sql);
    rc = eng_dl_sql_lock(w->dl, &w->sql, id);
    if (rc == RETL_E_UNSUPPORTED)
        return (w->flags & ENG_SRC_DRY) ? RETL_E_OK : lease_take(w, st, eb);
    if (rc)
        return retl_errf(eb, rc, "source: statement too large");
    RETL_TRY(count(w, retl_buf_str(&w->sql), &got, eb));
    if (got != 1)
        rc = retl_errf(eb, RETL_E_CONFLICT,
                       "source: another run of this job is in progress (lock "
                       "on %s.%s held)",
                       st->n.schema, st->n.prefix);
out:
    return rc;
}

static void free_real(struct wh *w)
{
    for (size_t i = 0; i < w->nreal; i++)
        free(w->real[i]);
    free(w->real);
    w->real = NULL;
    w->nreal = 0;
}

retl_err eng_wh_describe(void *ctx, const struct retl_job *job, struct eng_state *st,
                         struct retl_errbuf *eb)
{
    struct wh *w = ctx;
    retl_err rc;
    struct eng_wh_result r = {0};
    struct retl_buf q;
    retl_buf_init(&q, ENG_DL_SQL_MAX);
    free_real(w);
    w->del_op = job->deletes == RETL_DELETES_DELETE  ? "delete"
                : job->deletes == RETL_DELETES_CLEAR ? "clear"
                                                     : NULL;
    RETL_TRY(eng_dl_job_query(w->dl, &q, job));
    SQL(w, eng_dl_sql_describe(w->dl, &w->sql, retl_buf_str(&q)));
    rc = w->drv->query(w->conn, retl_buf_str(&w->sql), 0, &r, eb);
    if (rc) {
        rc = retl_err_wrap(eb, rc, "source: the query is invalid");
        goto out;
    }
    w->real = calloc(st->ncols, sizeof *w->real);
    if (!w->real) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    w->nreal = st->ncols;
    for (size_t i = 0; i < st->ncols; i++) {
        size_t found = 0;
        RETL_TRY(eng_source_column(st, i, (const char *const *)r.names, r.ncols, true,
                                   &found, eb));
        w->real[i] = strdup(r.names[found]);
        free(st->cols[i].sql_type);
        st->cols[i].sql_type = strdup(r.types[found] ? r.types[found] : "");
        if (!w->real[i] || !st->cols[i].sql_type) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        st->cols[i].type = eng_dl_type(w->dl, r.codes[found], r.types[found]);
    }
out:
    eng_wh_result_free(&r);
    retl_buf_free(&q);
    return rc;
}

static retl_err exists(struct wh *w, const struct eng_state *st, const char *t, bool *yes,
                       struct retl_errbuf *eb)
{
    retl_err rc;
    long long n = 0;
    struct eng_dl_params p;
    SQL(w, eng_dl_sql_table_exists(w->dl, &w->sql, st->n.schema, t, &p));
    RETL_TRY(count_p(w, &p, &n, eb));
    *yes = n > 0;
out:
    return rc;
}

/* Ensures the statement buffers b[0..n) exist and are empty. */
static retl_err bufs(struct wh *w, size_t n)
{
    if (n > w->nbufs) {
        struct retl_buf *p = realloc(w->bufs, n * sizeof *p);
        if (!p)
            return RETL_E_NOMEM;
        for (size_t i = w->nbufs; i < n; i++)
            retl_buf_init(&p[i], ENG_DL_SQL_MAX);
        w->bufs = p;
        w->nbufs = n;
    }
    for (size_t i = 0; i < n; i++)
        retl_buf_reset(&w->bufs[i]);
    return RETL_E_OK;
}

static retl_err run_bufs(struct wh *w, size_t n, bool tx, struct retl_errbuf *eb)
{
    const char **v = calloc(n, sizeof *v);
    if (!v)
        return RETL_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = retl_buf_str(&w->bufs[i]);
    retl_err rc = w->drv->run(w->conn, v, n, tx, eb);
    free(v);
    return rc;
}

static retl_err ensure(struct wh *w, const struct eng_state *st, const char *t,
                       retl_err (*mk)(const struct eng_dialect *, struct retl_buf *,
                                      const struct eng_state *),
                       struct retl_errbuf *eb)
{
    retl_err rc;
    bool have = false;
    RETL_TRY(exists(w, st, t, &have, eb));
    if (!have) {
        SQL(w, mk(w->dl, &w->sql, st));
        RETL_TRY(run1(w, retl_buf_str(&w->sql), eb));
    }
out:
    return rc;
}

/* The batch table of earlier versions had short column names (rj, ph, ff,
 * att). It is scratch, emptied before every commit, so an old one is dropped
 * and made again; a new one is left alone (idempotent). */
static retl_err upgrade_batch(struct wh *w, const struct eng_state *st, const char *batch,
                              struct retl_errbuf *eb)
{
    retl_err rc;
    bool have = false;
    long long cls = 0;
    struct eng_dl_params p;
    RETL_TRY(exists(w, st, batch, &have, eb));
    if (!have)
        goto out;
    /* Neither those nor the batch tables before failure classes and record
     * ids have id (nor op, cls, h). */
    SQL(w, eng_dl_sql_column_exists(w->dl, &w->sql, st->n.schema, batch, "id", &p));
    RETL_TRY(count_p(w, &p, &cls, eb));
    if (cls > 0)
        goto out;
    SQL(w, eng_dl_sql_drop(w->dl, &w->sql, st, batch));
    RETL_TRY(run1(w, retl_buf_str(&w->sql), eb));
    RETL_LOG_INFO("state: batch table upgraded (made again with the current columns)",
                  RF_S("table", batch));
out:
    return rc;
}

/* The state schema and its meta table, created when missing. */
static retl_err ensure_meta(struct wh *w, const struct eng_state *st,
                            struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    struct eng_dl_params p;
    if (w->dl->schemas) {
        long long n = 0;
        SQL(w, eng_dl_sql_schema_exists(w->dl, &w->sql, st->n.schema, &p));
        RETL_TRY(count_p(w, &p, &n, eb));
        if (n == 0) {
            SQL(w, eng_dl_sql_create_schema(w->dl, &w->sql, st->n.schema));
            RETL_TRY(run1(w, retl_buf_str(&w->sql), eb));
        }
    }
    RETL_TRY(ensure(w, st, st->n.meta, eng_dl_sql_create_meta, eb));
out:
    return rc;
}

static retl_err column_exists(struct wh *w, const struct eng_state *st, const char *t,
                              const char *column, bool *yes, struct retl_errbuf *eb)
{
    retl_err rc;
    long long n = 0;
    struct eng_dl_params p;
    SQL(w, eng_dl_sql_column_exists(w->dl, &w->sql, st->n.schema, t, column, &p));
    RETL_TRY(count_p(w, &p, &n, eb));
    *yes = n > 0;
out:
    return rc;
}

/* An errors table made before failure classes gets class and row hash in
 * place (nullable: a NULL class is transient). h is added last, so its
 * presence means both are there; a crash between the two (Snowflake
 * commits each ALTER by itself) resumes here. */
static retl_err upgrade_errors(struct wh *w, const struct eng_state *st,
                               struct retl_errbuf *eb)
{
    retl_err rc;
    bool have_h = false, have_cls = false;
    RETL_TRY(column_exists(w, st, st->n.errors, "h", &have_h, eb));
    if (have_h) {
        w->errors_current = true;
        goto out;
    }
    RETL_TRY(column_exists(w, st, st->n.errors, "class", &have_cls, eb));
    if (!have_cls) {
        SQL(w, eng_dl_sql_errors_add(w->dl, &w->sql, st, "class"));
        RETL_TRY(run1(w, retl_buf_str(&w->sql), eb));
    }
    SQL(w, eng_dl_sql_errors_add(w->dl, &w->sql, st, "h"));
    RETL_TRY(run1(w, retl_buf_str(&w->sql), eb));
    w->errors_current = true;
    RETL_LOG_INFO("state: errors table upgraded in place (failure class, row hash)",
                  RF_S("table", st->n.errors));
out:
    return rc;
}

/* The row hash of a failed row, kept in errors.h: SHA-256 (hex) of the
 * canonical values vals[0..n), each written "<length>:<value>" and NULL as
 * "~", so that NULL and '' differ. Computed here, not in the warehouse,
 * so every dialect (SQLite has no hash function) compares the same way. */
static retl_err row_hash(const char *const *vals, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        char len[32];
        int m = vals[i] ? snprintf(len, sizeof len, "%zu:", strlen(vals[i]))
                        : snprintf(len, sizeof len, "~");
        ok = EVP_DigestUpdate(c, len, (size_t)m) == 1 &&
             (!vals[i] || EVP_DigestUpdate(c, vals[i], strlen(vals[i])) == 1);
    }
    ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(c);
    if (!ok)
        return RETL_E_INTERNAL;
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return RETL_E_OK;
}

/* A snapshot made before record ids were kept gets the id column in place
 * (nullable: a delete finds a key without one through the destination). */
static retl_err upgrade_snap_id(struct wh *w, const struct eng_state *st,
                                struct retl_errbuf *eb)
{
    retl_err rc;
    bool have = false;
    RETL_TRY(column_exists(w, st, st->n.snap, "id", &have, eb));
    if (have)
        goto out;
    SQL(w, eng_dl_sql_snap_add_id(w->dl, &w->sql, st));
    RETL_TRY(run1(w, retl_buf_str(&w->sql), eb));
    RETL_LOG_INFO("state: snapshot upgraded in place (destination record ids)",
                  RF_S("table", st->n.snap));
out:
    return rc;
}

/* A snapshot written by the wide code (k, st, c1..cn) becomes lean in
 * place, nothing re-sent: h is added and filled from the stored values,
 * which are the canonical text the query's rows are hashed from, then the
 * value columns go. Each step is redone until its effect shows, so a crash
 * anywhere (Snowflake commits each ALTER by itself) resumes here: h is
 * filled while the last value column exists, and value columns left over
 * by a crash during the drops are nullable and never read. A dry run
 * upgrades too: the snapshot says the same thing afterwards. */
static retl_err upgrade_snap(struct wh *w, const struct eng_state *st,
                             struct retl_errbuf *eb)
{
    retl_err rc;
    bool have_h = false, wide = false;
    char last[32];
    size_t n = 0;
    snprintf(last, sizeof last, "c%zu", st->ncols > 1 ? st->ncols - 1 : 1);
    RETL_TRY(column_exists(w, st, st->n.snap, "h", &have_h, eb));
    RETL_TRY(column_exists(w, st, st->n.snap, last, &wide, eb));
    if (have_h && !wide)
        goto out;
    RETL_TRY(bufs(w, st->ncols + 1));
    if (!have_h) {
        RETL_TRY(eng_dl_sql_lean_add_h(w->dl, &w->bufs[n++], st));
        RETL_TRY(run_bufs(w, n, false, eb));
        n = 0;
        RETL_TRY(bufs(w, st->ncols + 1));
    }
    if (wide && st->ncols > 1) {
        RETL_TRY(eng_dl_sql_lean_fill_h(w->dl, &w->bufs[n++], st));
        for (size_t i = st->ncols - 1; i >= 1; i--) {
            char c[32];
            snprintf(c, sizeof c, "c%zu", i);
            RETL_TRY(eng_dl_sql_drop_column(w->dl, &w->bufs[n++], st, c));
        }
        RETL_TRY(run_bufs(w, n, true, eb));
    }
    RETL_LOG_INFO("state: snapshot upgraded in place to the lean layout (key, status, "
                  "row hash); nothing is re-sent",
                  RF_S("table", st->n.snap));
out:
    if (rc == RETL_E_TOO_BIG)
        rc = retl_errf(eb, rc, "source: statement too large");
    return rc;
}

retl_err eng_wh_state_init(void *ctx, const struct eng_state *st, unsigned flags,
                           unsigned *result, struct retl_errbuf *eb)
{
    struct wh *w = ctx;
    retl_err rc;
    struct eng_wh_result r = {0};
    bool have_snap = false, reb = false, resetting = false;
    struct eng_dl_params p;
    char batch[ENG_IDENT_MAX + 1];
    RETL_TRY(ensure_meta(w, st, eb));
    RETL_TRY(ensure(w, st, st->n.errors, eng_dl_sql_create_errors, eb));
    RETL_TRY(upgrade_errors(w, st, eb));
    eng_dl_batch_name(st, batch);
    RETL_TRY(upgrade_batch(w, st, batch, eb));
    RETL_TRY(ensure(w, st, batch, eng_dl_sql_create_batch, eb));
    RETL_TRY(exists(w, st, st->n.snap, &have_snap, eb));
    if (have_snap && eng_dl_lean(w->dl))
        RETL_TRY(upgrade_snap(w, st, eb));
    if (have_snap)
        RETL_TRY(upgrade_snap_id(w, st, eb));
    SQL(w, eng_dl_sql_meta_get(w->dl, &w->sql, st, "fingerprint", &p));
    RETL_TRY(query_p(w, &p, 1, &r, eb));
    bool same = r.nrows == 1 && r.cells[0] && strcmp(r.cells[0], st->fingerprint) == 0;
    eng_wh_result_free(&r);
    memset(&r, 0, sizeof r);
    bool base = !(same && have_snap) || (have_snap && (flags & ENG_STATE_RESYNC));
    size_t n = 0;
    RETL_TRY(bufs(w, 11));
    if (base && keep_state(w) && have_snap) {
        /* Reports the new baseline; the plan counts against the old one. */
        reb = true;
    } else if (base) {
        if (have_snap) {
            RETL_TRY(eng_dl_sql_rebase(w->dl, w->bufs, 7, st));
            n = 7;
            reb = true;
        } else {
            RETL_TRY(eng_dl_sql_create_snap(w->dl, &w->bufs[0], st));
            n = 1;
        }
        RETL_TRY(eng_dl_sql_meta_set(w->dl, &w->bufs[n], &w->bufs[n + 1], st,
                                     "fingerprint", st->fingerprint));
        n += 2;
    }
    if ((flags & ENG_STATE_RESET) && !keep_state(w)) {
        RETL_TRY(eng_dl_sql_meta_set(w->dl, &w->bufs[n], &w->bufs[n + 1], st, "reset",
                                     "pending"));
        n += 2;
    }
    if (n)
        RETL_TRY(run_bufs(w, n, true, eb));
    resetting = (flags & ENG_STATE_RESET) != 0;
    if (!resetting) {
        SQL(w, eng_dl_sql_meta_get(w->dl, &w->sql, st, "reset", &p));
        RETL_TRY(query_p(w, &p, 1, &r, eb));
        resetting = r.nrows > 0;
    }
    *result = (reb ? ENG_STATE_REBASED : 0) | (resetting ? ENG_STATE_RESETTING : 0);
out:
    if (rc == RETL_E_TOO_BIG)
        rc = retl_errf(eb, rc, "source: statement too large");
    eng_wh_result_free(&r);
    return rc;
}

/* Fails naming up to 5 keys that occur more than once. */
static retl_err dup_check(struct wh *w, const struct eng_state *st, bool delta,
                          struct retl_errbuf *eb)
{
    retl_err rc;
    struct eng_wh_result r = {0};
    SQL(w, eng_dl_sql_dups(w->dl, &w->sql, st, delta));
    RETL_TRY(w->drv->query(w->conn, retl_buf_str(&w->sql), 5, &r, eb));
    if (r.nrows > 0) {
        struct retl_buf d;
        retl_buf_init(&d, 4096);
        for (size_t i = 0; i < r.nrows; i++)
            retl_buf_printf(&d, "%s%s", i ? ", " : "",
                            r.cells[i * r.ncols] ? r.cells[i * r.ncols] : "");
        rc = retl_errf(eb, RETL_E_SOURCE,
                       "source: duplicate values of key column \"%s\": %s (the key "
                       "must be unique in the source)",
                       st->cols[0].name, retl_buf_str(&d));
        retl_buf_free(&d);
    }
out:
    eng_wh_result_free(&r);
    return rc;
}

retl_err eng_wh_stage(void *ctx, const struct retl_job *job, const struct eng_state *st,
                      long long *extracted, struct retl_errbuf *eb)
{
    struct wh *w = ctx;
    retl_err rc;
    struct eng_wh_result r = {0};
    struct retl_buf q, sel;
    retl_buf_init(&q, ENG_DL_SQL_MAX);
    retl_buf_init(&sel, ENG_DL_SQL_MAX);
    if (!w->real || w->nreal != st->ncols)
        return retl_errf(eb, RETL_E_INTERNAL, "source: stage before describe");
    RETL_TRY(eng_dl_job_query(w->dl, &q, job));
    if (eng_dl_lean(w->dl)) {
        /* No stage table: diff reads the query itself and counts its rows. */
        free(w->query);
        w->query = strdup(retl_buf_str(&q));
        if (!w->query) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        if (keep_state(w)) {
            w->scratch_names = st->n;
            w->dry_tables = true;
        }
        *extracted = 0;
        goto out;
    }
    RETL_TRY(eng_dl_sql_stage_select(w->dl, &sel, st, (const char *const *)w->real,
                                     retl_buf_str(&q)));
    RETL_TRY(bufs(w, 2));
    RETL_TRY(eng_dl_sql_drop(w->dl, &w->bufs[0], st, st->n.stage));
    RETL_TRY(
        eng_dl_sql_create_as(w->dl, &w->bufs[1], st, st->n.stage, retl_buf_str(&sel)));
    if (keep_state(w)) {
        w->scratch_names = st->n;
        w->dry_tables = true;
    }
    rc = run_bufs(w, 2, false, eb);
    if (rc) {
        rc = retl_err_wrap(eb, rc, "source: query failed");
        goto out;
    }
    SQL(w, eng_dl_sql_stage_count(w->dl, &w->sql, st));
    RETL_TRY(w->drv->query(w->conn, retl_buf_str(&w->sql), 1, &r, eb));
    long long total = ll(&r, 0), nulls = ll(&r, 1);
    eng_wh_result_free(&r);
    if (nulls > 0) {
        rc = retl_errf(eb, RETL_E_SOURCE,
                       "source: key column \"%s\" is NULL in %lld row(s); "
                       "every row needs a key",
                       st->cols[0].name, nulls);
        goto out;
    }
    /* Insert mode checks every key; the other modes check the keys about
     * to be sent (diff): a duplicated key whose rows are all unchanged and
     * synced sends nothing, so it harms nothing, and the check costs a
     * fraction. */
    if (job->mode == RETL_MODE_INSERT)
        RETL_TRY(dup_check(w, st, false, eb));
    *extracted = total;
out:
    if (rc == RETL_E_TOO_BIG)
        rc = retl_errf(eb, rc, "source: statement too large");
    eng_wh_result_free(&r);
    retl_buf_free(&q);
    retl_buf_free(&sel);
    return rc;
}

/* Marks P (not sent) the delta rows whose key failed permanently with the
 * same values (row hash), unless a retry was requested; *n gets how many.
 * The keys are collected first and marked after the read, so no statement
 * writes the delta while another connection reads it. */
static retl_err skip_permanent(struct wh *w, const struct eng_state *st, long long *n,
                               struct retl_errbuf *eb)
{
    retl_err rc;
    long long perm = 0;
    size_t nc = 0, nkeys = 0;
    bool streaming = false, canon = w->dl->id != ENG_DL_POSTGRES;
    struct retl_buf keys, vals;
    const char **list = NULL, **cv = NULL;
    long *off = NULL;
    retl_buf_init(&keys, SKIP_KEYS_MAX);
    retl_buf_init(&vals, SCRATCH_MAX);
    *n = 0;
    if (w->flags & ENG_SRC_RETRY_FAILED)
        return RETL_E_OK;
    SQL(w, eng_dl_sql_permanent_count(w->dl, &w->sql, st));
    RETL_TRY(count(w, retl_buf_str(&w->sql), &perm, eb));
    if (perm == 0)
        goto out;
    cv = calloc(st->ncols, sizeof *cv);
    off = calloc(st->ncols, sizeof *off);
    if (!cv || !off) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    SQL(w, eng_dl_sql_permanent_rows(w->dl, &w->sql, st));
    RETL_TRY(w->drv->stream_open(w->conn, retl_buf_str(&w->sql), &nc, eb));
    streaming = true;
    if (nc != st->ncols + 1) {
        rc =
            retl_errf(eb, RETL_E_INTERNAL, "source: permanent failures: %zu columns", nc);
        goto out;
    }
    for (;;) {
        size_t nr = 0;
        const char *const *raw = NULL;
        RETL_TRY(w->drv->stream_fetch(w->conn, ENG_DL_VALUES_ROWS, &nr, &raw, eb));
        if (nr == 0)
            break;
        for (size_t i = 0; i < nr; i++) {
            const char *const *row = raw + i * nc;
            char h[65];
            retl_buf_reset(&vals);
            for (size_t j = 1; j < st->ncols; j++) {
                off[j] = -1;
                if (canon)
                    RETL_TRY(
                        eng_dl_canon_value(st->cols[j].type, row[1 + j], &vals, &off[j]));
            }
            for (size_t j = 1; j < st->ncols; j++)
                cv[j] = off[j] < 0 ? row[1 + j] : vals.data + off[j];
            RETL_TRY(row_hash(cv + 1, st->ncols - 1, h));
            if (!row[0] || !row[1] || strcmp(row[1], h) != 0)
                continue;
            RETL_TRY(retl_buf_add(&keys, row[0], strlen(row[0]) + 1));
            nkeys++;
        }
    }
    w->drv->stream_close(w->conn);
    streaming = false;
    list = calloc(nkeys ? nkeys : 1, sizeof *list);
    if (!list) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    for (size_t i = 0, at = 0; i < nkeys; i++) {
        list[i] = keys.data + at;
        at += strlen(list[i]) + 1;
    }
    for (size_t from = 0; from < nkeys; from += ENG_DL_VALUES_ROWS) {
        size_t m = nkeys - from < ENG_DL_VALUES_ROWS ? nkeys - from : ENG_DL_VALUES_ROWS;
        SQL(w, eng_dl_sql_permanent_skip(w->dl, &w->sql, st, list + from, m));
        RETL_TRY(run1(w, retl_buf_str(&w->sql), eb));
    }
    *n = (long long)nkeys;
out:
    if (streaming)
        w->drv->stream_close(w->conn);
    if (rc == RETL_E_TOO_BIG)
        rc = retl_errf(eb, rc, "source: too many rows failing permanently to skip");
    retl_buf_free(&keys);
    retl_buf_free(&vals);
    free(list);
    free(cv);
    free(off);
    return rc;
}

retl_err eng_wh_diff(void *ctx, const struct eng_state *st, enum retl_mode mode,
                     enum eng_diff how, struct eng_delta_counts *c,
                     struct retl_errbuf *eb)
{
    struct wh *w = ctx;
    retl_err rc;
    struct eng_wh_result r = {0};
    struct retl_buf sel;
    bool lean = eng_dl_lean(w->dl);
    retl_buf_init(&sel, ENG_DL_SQL_MAX);
    if (lean && (!w->query || !w->real || w->nreal != st->ncols))
        return retl_errf(eb, RETL_E_INTERNAL, "source: diff before stage");
    /* The lean snapshot has no values to compare: every strategy is the
     * key join on the row hash. */
    if (lean)
        RETL_TRY(eng_dl_sql_lean_diff(w->dl, &sel, st, mode, (const char *const *)w->real,
                                      w->query));
    else
        RETL_TRY(eng_dl_sql_diff_select(w->dl, &sel, st, mode, how));
    RETL_TRY(bufs(w, 2));
    RETL_TRY(eng_dl_sql_drop(w->dl, &w->bufs[0], st, st->n.delta));
    RETL_TRY(
        eng_dl_sql_create_as(w->dl, &w->bufs[1], st, st->n.delta, retl_buf_str(&sel)));
    rc = run_bufs(w, 2, false, eb);
    if (rc) {
        rc = retl_err_wrap(eb, rc, lean ? "source: query failed" : "source: delta");
        goto out;
    }
    RETL_TRY(skip_permanent(w, st, &c->skipped_permanent, eb));
    if (lean)
        SQL(w, eng_dl_sql_lean_counts(w->dl, &w->sql, st));
    else
        SQL(w, eng_dl_sql_delta_counts(w->dl, &w->sql, st));
    RETL_TRY(w->drv->query(w->conn, retl_buf_str(&w->sql), 1, &r, eb));
    c->new_keys = ll(&r, 0);
    c->changed = ll(&r, 1);
    c->deleted = ll(&r, 2);
    if (lean) {
        /* The loaded keys the query matched are not in the delta: the
         * snapshot's L rows less those gone (D). */
        long long loaded = 0, nulls = ll(&r, 4), other = ll(&r, 3);
        SQL(w, eng_dl_sql_synced_count(w->dl, &w->sql, st));
        RETL_TRY(count(w, retl_buf_str(&w->sql), &loaded, eb));
        c->extracted = other + loaded - c->deleted;
        if (nulls > 0) {
            rc = retl_errf(eb, RETL_E_SOURCE,
                           "source: key column \"%s\" is NULL in %lld row(s); "
                           "every row needs a key",
                           st->cols[0].name, nulls);
            goto out;
        }
    }
    /* Lean Insert mode checks the new keys here (no stage to check). */
    if (mode != RETL_MODE_INSERT || lean)
        RETL_TRY(dup_check(w, st, true, eb));
    /* The guard's base: the query's rows that are neither new, changed nor
     * skipped are synced keys, as are the deleted ones; the exact count
     * (status L) when deletes are propagated and some would be. */
    long long lb = c->extracted - c->new_keys - c->changed - c->skipped_permanent;
    c->synced = (lb > 0 ? lb : 0) + c->deleted;
    if (w->del_op && c->deleted > 0) {
        SQL(w, eng_dl_sql_synced_count(w->dl, &w->sql, st));
        RETL_TRY(count(w, retl_buf_str(&w->sql), &c->synced, eb));
    }
    if (!keep_state(w)) {
        SQL(w, eng_dl_sql_errors_prune(w->dl, &w->sql, st, w->del_op != NULL));
        RETL_TRY(run1(w, retl_buf_str(&w->sql), eb));
    }
out:
    if (rc == RETL_E_TOO_BIG)
        rc = retl_errf(eb, rc, "source: statement too large");
    eng_wh_result_free(&r);
    retl_buf_free(&sel);
    return rc;
}

retl_err eng_wh_delta_open(void *ctx, const struct eng_state *st, struct retl_errbuf *eb)
{
    struct wh *w = ctx;
    retl_err rc;
    size_t nc = 0;
    free(w->types);
    w->ntypes = st->ncols + 1;
    w->types = calloc(w->ntypes, sizeof *w->types);
    if (!w->types)
        return RETL_E_NOMEM;
    w->types[0] = ENG_T_TEXT;
    for (size_t i = 0; i < st->ncols; i++)
        w->types[i + 1] = st->cols[i].type;
    w->with_ids = w->del_op != NULL;
    w->with_h = eng_dl_lean(w->dl);
    SQL(w, eng_dl_sql_delta_read(w->dl, &w->sql, st, w->with_ids));
    RETL_TRY(w->drv->stream_open(w->conn, retl_buf_str(&w->sql), &nc, eb));
    w->streaming = true;
    if (nc != w->ntypes + w->with_ids + w->with_h)
        rc = retl_errf(eb, RETL_E_INTERNAL,
                       "source: the delta has %zu columns, expected %zu", nc,
                       w->ntypes + w->with_ids + w->with_h);
out:
    return rc;
}

retl_err eng_wh_delta_fetch(void *ctx, size_t max, struct eng_chunk *out,
                            struct retl_errbuf *eb)
{
    struct wh *w = ctx;
    retl_err rc;
    size_t nr = 0, nc = w->ntypes, rs = nc + w->with_ids + w->with_h;
    const char *const *raw = NULL;
    if (!w->streaming)
        return retl_errf(eb, RETL_E_INTERNAL, "source: delta not open");
    RETL_TRY(w->drv->stream_fetch(w->conn, max, &nr, &raw, eb));
    if (nr * nc > w->cells_cap) {
        const char **p = realloc(w->cells, nr * nc * sizeof *p);
        long *o = realloc(w->offs, nr * nc * sizeof *o);
        if (p)
            w->cells = p;
        if (o)
            w->offs = o;
        if (!p || !o) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        w->cells_cap = nr * nc;
    }
    if (nr > w->rawkeys_cap) {
        const char **k = realloc(w->rawkeys, nr * sizeof *k);
        if (k)
            w->rawkeys = k;
        const char **d = k ? realloc(w->ids, nr * sizeof *d) : NULL;
        if (d)
            w->ids = d;
        const char **h = d ? realloc(w->hashes, nr * sizeof *h) : NULL;
        if (h)
            w->hashes = h;
        if (!k || !d || !h) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        w->rawkeys_cap = nr;
    }
    retl_buf_reset(&w->scratch);
    bool canon = w->dl->id != ENG_DL_POSTGRES;
    /* raw rows have rs columns: the nc of the chunk, then the record id,
     * then the lean hash */
    for (size_t i = 0; i < nr * nc; i++) {
        const char *v = raw[(i / nc) * rs + i % nc];
        w->offs[i] = -1;
        if (canon) {
            rc = eng_dl_canon_value(w->types[i % nc], v, &w->scratch, &w->offs[i]);
            if (rc) {
                rc = retl_errf(eb, rc, "source: delta chunk too large");
                goto out;
            }
        }
    }
    for (size_t i = 0; i < nr * nc; i++)
        w->cells[i] =
            w->offs[i] < 0 ? raw[(i / nc) * rs + i % nc] : w->scratch.data + w->offs[i];
    for (size_t i = 0; i < nr; i++) {
        w->rawkeys[i] = raw[i * rs + 1];
        w->ids[i] = w->with_ids ? raw[i * rs + nc] : NULL;
        w->hashes[i] = w->with_h ? raw[i * rs + nc + w->with_ids] : NULL;
    }
    out->nrows = nr;
    out->ncols = nc - 1;
    out->cells = w->cells;
    out->ids = w->with_ids ? w->ids : NULL;
out:
    return rc;
}

/* The row as a JSON object of source column names. Ownership: caller frees. */
static char *row_json(const struct eng_state *st, const char *const *row)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (size_t j = 0; j < st->ncols; j++)
        json_object_set_new(o, st->cols[j].name,
                            row[j] ? json_string(row[j]) : json_null());
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

retl_err eng_wh_commit(void *ctx, const struct eng_state *st, long long run,
                       const char *op, const struct eng_chunk *ch,
                       const struct eng_row_result *res, struct retl_errbuf *eb)
{
    struct wh *w = ctx;
    retl_err rc = lease_renew(w, eb);
    if (rc)
        return rc;
    struct eng_dl_outcome *o = NULL;
    char(*hs)[65] = NULL;
    bool ids = false;
    char now[RETL_TIME_LEN];
    size_t nins = (ch->nrows + ENG_DL_VALUES_ROWS - 1) / ENG_DL_VALUES_ROWS;
    size_t stride = ch->ncols + 1;
    /* The chunk handed out by delta_fetch: use the delta's own key text, which
     * the snapshot joins on (the engine may get a canonicalised copy). */
    size_t base = SIZE_MAX;
    if (w->cells && ch->cells >= w->cells && ch->cells < w->cells + w->cells_cap &&
        stride == w->ntypes)
        base = (size_t)(ch->cells - w->cells) / stride;
    /* Otherwise the snapshot rows come from a join with the delta. */
    bool batch_h = w->with_h && base != SIZE_MAX;
    retl_time_fmt(time(NULL), now, sizeof now);
    o = calloc(ch->nrows ? ch->nrows : 1, sizeof *o);
    hs = calloc(ch->nrows ? ch->nrows : 1, sizeof *hs);
    if (!o || !hs) {
        free(o);
        free(hs);
        return RETL_E_NOMEM;
    }
    for (size_t i = 0; i < ch->nrows; i++) {
        const char *const *row = ch->cells + i * stride + 1;
        bool del = ch->cells[i * stride] && ch->cells[i * stride][0] == 'D';
        o[i].key = base != SIZE_MAX ? w->rawkeys[base + i] : row[0];
        o[i].ok = res[i].ok;
        o[i].code = res[i].code;
        o[i].message = res[i].message;
        o[i].fields = res[i].fields;
        o[i].op = del ? w->del_op : NULL;
        o[i].id = res[i].ok && !del ? res[i].dest_id : NULL;
        ids = ids || o[i].id;
        /* The delta's own hash of the values sent, for the snapshot. */
        if (res[i].ok && !del && batch_h)
            o[i].h = w->hashes[base + i];
        if (!res[i].ok) {
            o[i].cls = eng_fail_class_name(res[i].cls);
            /* The hash of the values sent; a delete sent none. */
            if (!del) {
                RETL_TRY(row_hash(row + 1, ch->ncols - 1, hs[i]));
                o[i].h = hs[i];
            }
            o[i].row_json = row_json(st, row);
            if (!o[i].row_json) {
                rc = RETL_E_NOMEM;
                goto out;
            }
        }
    }
    size_t nc = 0;
    RETL_TRY(bufs(w, NBUF_FIXED + nins));
    RETL_TRY(eng_dl_sql_batch_clear(w->dl, &w->bufs[0], st));
    for (size_t k = 0; k < nins; k++) {
        size_t from = k * ENG_DL_VALUES_ROWS;
        size_t n =
            ch->nrows - from < ENG_DL_VALUES_ROWS ? ch->nrows - from : ENG_DL_VALUES_ROWS;
        RETL_TRY(eng_dl_sql_batch_insert(w->dl, &w->bufs[1 + k], st, o + from, n));
    }
    unsigned flags =
        (w->del_op && !strcmp(w->del_op, "clear") ? ENG_DL_COMMIT_CLEAR : 0) |
        (ids ? ENG_DL_COMMIT_IDS : 0) | (batch_h ? ENG_DL_COMMIT_BATCH_H : 0);
    RETL_TRY(eng_dl_sql_commit(w->dl, &w->bufs[1 + nins], st, run, op, now, flags, &nc));
    rc = run_bufs(w, 1 + nins + nc, true, eb);
    if (rc)
        rc = retl_err_wrap(eb, rc, "source: saving the batch");
out:
    if (rc == RETL_E_TOO_BIG || rc == RETL_E_NOMEM)
        rc = retl_errf(eb, rc, "source: batch too large to save");
    for (size_t i = 0; o && i < ch->nrows; i++)
        free((char *)o[i].row_json);
    free(o);
    free(hs);
    return rc;
}

retl_err eng_wh_finish(void *ctx, const struct eng_state *st, struct retl_errbuf *eb)
{
    struct wh *w = ctx;
    retl_err rc;
    if (w->streaming) {
        w->drv->stream_close(w->conn);
        w->streaming = false;
    }
    RETL_TRY(bufs(w, 5));
    /* Propagated deletes were saved batch by batch (a failed one stays
     * synced, to be tried again): only ignored ones are marked gone here. */
    size_t at = w->del_op ? 0 : 1;
    if (!w->del_op)
        RETL_TRY(eng_dl_sql_finish(w->dl, &w->bufs[0], st));
    RETL_TRY(eng_dl_sql_drop(w->dl, &w->bufs[at], st, st->n.delta));
    RETL_TRY(eng_dl_sql_drop(w->dl, &w->bufs[at + 1], st, st->n.stage));
    /* A reset is complete once its whole delta is recorded: only the
     * marker's DELETE (bufs[at + 2]) runs, its INSERT does not. */
    RETL_TRY(
        eng_dl_sql_meta_set(w->dl, &w->bufs[at + 2], &w->bufs[at + 3], st, "reset", ""));
    RETL_TRY(run_bufs(w, at + 3, true, eb));
out:
    if (rc == RETL_E_TOO_BIG)
        rc = retl_errf(eb, rc, "source: statement too large");
    return rc;
}

static json_t *cell(const struct eng_wh_result *r, size_t i, size_t j)
{
    const char *v = r->cells[i * r->ncols + j];
    return v ? json_string(v) : json_null();
}

retl_err eng_wh_errors(void *ctx, const struct eng_state *st, size_t limit, json_t **out,
                       long long *total, struct retl_errbuf *eb)
{
    struct wh *w = ctx;
    retl_err rc;
    struct eng_wh_result r = {0};
    bool have = false;
    long long n = 0;
    json_t *arr = json_array();
    if (!arr)
        return RETL_E_NOMEM;
    RETL_TRY(exists(w, st, st->n.errors, &have, eb));
    if (have) {
        /* `errors` on state no run upgraded yet: no class column (all
         * transient then). */
        bool cls = w->errors_current;
        if (!cls)
            RETL_TRY(column_exists(w, st, st->n.errors, "class", &cls, eb));
        SQL(w, eng_dl_sql_errors_count(w->dl, &w->sql, st));
        RETL_TRY(count(w, retl_buf_str(&w->sql), &n, eb));
        SQL(w, eng_dl_sql_errors_list(w->dl, &w->sql, st, limit, cls));
        RETL_TRY(w->drv->query(w->conn, retl_buf_str(&w->sql), limit, &r, eb));
        for (size_t i = 0; i < r.nrows; i++) {
            const char *row_json = r.cells[i * r.ncols + 6];
            const char *attempts = r.cells[i * r.ncols + 9];
            const char *rn = r.cells[i * r.ncols + 0];
            json_t *o = json_pack(
                "{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "run",
                (json_int_t)(rn ? strtoll(rn, NULL, 10) : 0), "key", cell(&r, i, 1),
                "operation", cell(&r, i, 2), "code", cell(&r, i, 3), "message",
                cell(&r, i, 4), "fields", cell(&r, i, 5), "row", json_null(),
                "firstFailure", cell(&r, i, 7), "lastFailure", cell(&r, i, 8), "attempts",
                (json_int_t)(attempts ? strtoll(attempts, NULL, 10) : 0));
            if (o)
                json_object_set_new(o, "class", cell(&r, i, 10));
            json_t *row = row_json ? json_loads(row_json, 0, NULL) : NULL;
            if (o && row)
                json_object_set_new(o, "row", row);
            if (!o || json_array_append_new(arr, o) != 0) {
                rc = RETL_E_NOMEM;
                goto out;
            }
        }
    }
    *out = arr;
    arr = NULL;
    *total = n;
out:
    eng_wh_result_free(&r);
    json_decref(arr);
    return rc;
}

retl_err eng_wh_failing_permanent(void *ctx, const struct eng_state *st, long long *n,
                                  struct retl_errbuf *eb)
{
    struct wh *w = ctx;
    retl_err rc;
    bool have = false;
    long long got = 0;
    if (!w->errors_current) {
        RETL_TRY(exists(w, st, st->n.errors, &have, eb));
        if (have)
            RETL_TRY(column_exists(w, st, st->n.errors, "class", &have, eb));
    }
    if (w->errors_current || have) {
        SQL(w, eng_dl_sql_permanent_count(w->dl, &w->sql, st));
        RETL_TRY(count(w, retl_buf_str(&w->sql), &got, eb));
    }
    *n = got;
out:
    return rc;
}

retl_err eng_wh_drop_state(void *ctx, const struct eng_state *st, struct retl_errbuf *eb)
{
    struct wh *w = ctx;
    retl_err rc;
    char batch[ENG_IDENT_MAX + 1], keys[ENG_IDENT_MAX + 1];
    eng_dl_batch_name(st, batch);
    eng_dl_keys_name(st, keys);
    const char *t[] = {st->n.delta, st->n.stage, st->n.snap, st->n.errors,
                       st->n.meta,  batch,       keys};
    size_t n = sizeof t / sizeof t[0];
    RETL_TRY(bufs(w, n));
    for (size_t i = 0; i < n; i++)
        RETL_TRY(eng_dl_sql_drop(w->dl, &w->bufs[i], st, t[i]));
    RETL_TRY(run_bufs(w, n, false, eb));
out:
    return rc;
}

/* Drops the stage and delta tables a non-rollbackable dry run made. */
static void drop_scratch(struct wh *w)
{
    struct eng_state st = {.n = w->scratch_names};
    struct retl_errbuf eb = {{0}};
    if (bufs(w, 2) != RETL_E_OK ||
        eng_dl_sql_drop(w->dl, &w->bufs[0], &st, st.n.delta) != RETL_E_OK ||
        eng_dl_sql_drop(w->dl, &w->bufs[1], &st, st.n.stage) != RETL_E_OK)
        return;
    if (run_bufs(w, 2, false, &eb) != RETL_E_OK)
        RETL_LOG_WARN("source: could not drop the dry run's tables",
                      RF_S("message", eb.msg));
}

void eng_wh_close(void *ctx)
{
    struct wh *w = ctx;
    if (!w)
        return;
    if (w->streaming)
        w->drv->stream_close(w->conn);
    if (w->dry_tables)
        drop_scratch(w);
    lease_release(w);
    w->drv->free(w->conn);
    free_real(w);
    free(w->query);
    free(w->types);
    free(w->cells);
    free(w->offs);
    free(w->rawkeys);
    free(w->ids);
    free(w->hashes);
    retl_buf_free(&w->sql);
    retl_buf_free(&w->scratch);
    for (size_t i = 0; i < w->nbufs; i++)
        retl_buf_free(&w->bufs[i]);
    free(w->bufs);
    free(w);
}
