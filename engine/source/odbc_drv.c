#include "engine/source/odbc_drv.h"

#include <sql.h>
#include <sqlext.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

#define OK(r) ((r) == SQL_SUCCESS || (r) == SQL_SUCCESS_WITH_INFO)

/* Memory of one streamed chunk and of the bound rowset. */
#define ARENA_MAX (512u << 20)
#define ROWSET_BYTES (8u << 20)
#define ROWSET_MAX 1024
/* Columns wider than this (or of unknown width) are read with SQLGetData. */
#define BIND_MAX_CHARS 8000
#define CELL_MAX (64u << 20)

struct odbc {
    SQLHENV env;
    SQLHDBC w; /* writer: statements, small queries, transactions */
    SQLHDBC r; /* reader: the streamed delta */
    char *cs;  /* owned; full connection string (credential inside) */
    const struct eng_dialect *dl;
    unsigned flags;
    /* stream */
    SQLHSTMT rs;
    size_t ncols;
    bool bound, done;
    SQLULEN rowset, fetched, pos;
    char **colbuf;
    SQLLEN **ind;
    size_t *width;
    struct retl_buf arena;
    long *offs;
    const char **cells;
    size_t cap;
};

static retl_err add_defaults(struct retl_buf *b, const char *extra);

static bool dry(const struct odbc *o)
{
    return (o->flags & ENG_SRC_DRY) != 0;
}

/* Formats the diagnostics of a handle: "SQLSTATE: message; ...". */
static retl_err diag(SQLSMALLINT type, SQLHANDLE h, const char *what,
                     struct retl_errbuf *eb)
{
    char all[900] = "", red[900];
    size_t n = 0;
    bool conn = false;
    for (SQLSMALLINT i = 1; i <= 3; i++) {
        SQLCHAR state[6] = "", msg[512] = "";
        SQLINTEGER native = 0;
        SQLSMALLINT len = 0;
        SQLRETURN r = SQLGetDiagRec(type, h, i, state, &native, msg, sizeof msg, &len);
        if (!OK(r))
            break;
        conn = conn || strncmp((char *)state, "08", 2) == 0;
        n += (size_t)snprintf(all + n, n < sizeof all ? sizeof all - n : 0, "%s%s: %s",
                              i > 1 ? "; " : "", state, msg);
        if (n >= sizeof all)
            break;
    }
    if (!all[0])
        snprintf(all, sizeof all, "no diagnostics");
    retl_redact_text(all, red, sizeof red);
    return retl_errf(eb, conn ? RETL_E_UNAVAILABLE : RETL_E_SQL, "%s: %s", what, red);
}

bool eng_odbc_has_key(const char *conn, const char *key)
{
    size_t kl = strlen(key);
    const char *p = conn;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncasecmp(p, key, kl) == 0) {
            const char *q = p + kl;
            while (*q == ' ')
                q++;
            if (*q == '=')
                return true;
        }
        /* skip to the next pair, honouring {braced;values} */
        const char *eq = strchr(p, '=');
        if (!eq)
            break;
        p = eq + 1;
        while (*p == ' ')
            p++;
        if (*p == '{') {
            for (p++; *p; p++) {
                if (*p == '}' && p[1] == '}')
                    p++;
                else if (*p == '}')
                    break;
            }
        }
        p = strchr(p, ';');
    }
    return false;
}

retl_err eng_odbc_append(struct retl_buf *b, const char *key, const char *value)
{
    retl_err rc;
    if (b->len && b->data[b->len - 1] != ';')
        RETL_TRY(retl_buf_addc(b, ';'));
    RETL_TRY(retl_buf_printf(b, "%s={", key));
    for (const char *p = value; *p; p++) {
        if (*p == '}')
            RETL_TRY(retl_buf_addc(b, '}'));
        RETL_TRY(retl_buf_addc(b, *p));
    }
    RETL_TRY(retl_buf_adds(b, "};"));
out:
    return rc;
}

static retl_err exec_h(SQLHDBC c, const char *sql, SQLHSTMT *keep, struct retl_errbuf *eb)
{
    SQLHSTMT h = SQL_NULL_HSTMT;
    retl_err rc = RETL_E_OK;
    if (!OK(SQLAllocHandle(SQL_HANDLE_STMT, c, &h)))
        return diag(SQL_HANDLE_DBC, c, "source", eb);
    SQLRETURN r = SQLExecDirect(h, (SQLCHAR *)sql, SQL_NTS);
    if (!OK(r) && r != SQL_NO_DATA) {
        rc = diag(SQL_HANDLE_STMT, h, "source", eb);
        goto out;
    }
    if (keep) {
        *keep = h;
        return RETL_E_OK;
    }
    /* Later results of a batch may carry its errors. */
    for (;;) {
        r = SQLMoreResults(h);
        if (r == SQL_NO_DATA || r == SQL_INVALID_HANDLE)
            break;
        if (!OK(r)) {
            rc = diag(SQL_HANDLE_STMT, h, "source", eb);
            break;
        }
    }
out:
    SQLFreeHandle(SQL_HANDLE_STMT, h);
    return rc;
}

/* Settings so that text comes out canonical, per dialect. */
static retl_err session(struct odbc *o, SQLHDBC c, struct retl_errbuf *eb)
{
    static const char *const pg[] = {
        "SET TimeZone = 'UTC'",           "SET DateStyle = 'ISO, YMD'",
        "SET IntervalStyle = 'postgres'", "SET extra_float_digits = 1",
        "SET bytea_output = 'hex'",       NULL};
    static const char *const lite[] = {"PRAGMA journal_mode = WAL",
                                       "PRAGMA busy_timeout = 30000", NULL};
    const char *const *v = NULL;
    retl_err rc = RETL_E_OK;
    if (o->dl->id == ENG_DL_POSTGRES)
        v = pg;
    else if (o->dl->id == ENG_DL_SQLITE)
        v = lite;
    for (; v && *v; v++)
        RETL_TRY(exec_h(c, *v, NULL, eb));
out:
    return rc;
}

static retl_err connect_one(struct odbc *o, const char *cs, SQLHDBC *out,
                            struct retl_errbuf *eb)
{
    SQLHDBC c = SQL_NULL_HDBC;
    if (!OK(SQLAllocHandle(SQL_HANDLE_DBC, o->env, &c)))
        return retl_errf(eb, RETL_E_NOMEM, "source: ODBC connection handle");
    SQLSetConnectAttr(c, SQL_ATTR_LOGIN_TIMEOUT, (SQLPOINTER)15, 0);
    SQLRETURN r = SQLDriverConnect(c, NULL, (SQLCHAR *)cs, SQL_NTS, NULL, 0, NULL,
                                   SQL_DRIVER_NOPROMPT);
    if (!OK(r)) {
        char red[600];
        retl_conn_describe(cs, red, sizeof red);
        retl_err rc = diag(SQL_HANDLE_DBC, c, "source: cannot connect", eb);
        rc = retl_err_wrap(eb, rc, "%s", red);
        SQLFreeHandle(SQL_HANDLE_DBC, c);
        return rc;
    }
    *out = c;
    return RETL_E_OK;
}

static void disconnect(SQLHDBC *c)
{
    if (*c) {
        SQLDisconnect(*c);
        SQLFreeHandle(SQL_HANDLE_DBC, *c);
        *c = SQL_NULL_HDBC;
    }
}

static retl_err autocommit(SQLHDBC c, bool on, struct retl_errbuf *eb)
{
    SQLRETURN r = SQLSetConnectAttr(
        c, SQL_ATTR_AUTOCOMMIT,
        (SQLPOINTER)(uintptr_t)(on ? SQL_AUTOCOMMIT_ON : SQL_AUTOCOMMIT_OFF), 0);
    if (!OK(r))
        return diag(SQL_HANDLE_DBC, c, "source: autocommit", eb);
    return RETL_E_OK;
}

static retl_err o_run(void *conn, const char *const *sql, size_t n, bool tx,
                      struct retl_errbuf *eb)
{
    struct odbc *o = conn;
    retl_err rc = RETL_E_OK;
    bool own_tx = tx && !dry(o);
    if (own_tx)
        RETL_TRY(autocommit(o->w, false, eb));
    for (size_t i = 0; i < n; i++) {
        if (!sql[i][0])
            continue;
        rc = exec_h(o->w, sql[i], NULL, eb);
        if (rc)
            break;
    }
    if (own_tx) {
        SQLRETURN r = SQLEndTran(SQL_HANDLE_DBC, o->w, rc ? SQL_ROLLBACK : SQL_COMMIT);
        if (!rc && !OK(r))
            rc = diag(SQL_HANDLE_DBC, o->w, "source: commit", eb);
        retl_err rc2 = autocommit(o->w, true, rc ? NULL : eb);
        if (!rc)
            rc = rc2;
    }
out:
    return rc;
}

/* Reads column col of the current row into b (NUL-terminated); *null when
 * SQL NULL. */
static retl_err get_data(SQLHSTMT h, SQLUSMALLINT col, struct retl_buf *b, bool *null,
                         struct retl_errbuf *eb)
{
    char chunk[8192];
    retl_err rc = RETL_E_OK;
    size_t got = 0;
    *null = false;
    for (;;) {
        SQLLEN ind = 0;
        SQLRETURN r = SQLGetData(h, col, SQL_C_CHAR, chunk, sizeof chunk, &ind);
        if (r == SQL_NO_DATA)
            break;
        if (!OK(r))
            return diag(SQL_HANDLE_STMT, h, "source: reading a value", eb);
        if (ind == SQL_NULL_DATA) {
            *null = true;
            return RETL_E_OK;
        }
        size_t n = (ind == SQL_NO_TOTAL || (size_t)ind >= sizeof chunk) ? sizeof chunk - 1
                                                                        : (size_t)ind;
        got += n;
        if (got > CELL_MAX)
            return retl_errf(eb, RETL_E_TOO_BIG,
                             "source: a value is larger than %u bytes", CELL_MAX);
        RETL_TRY(retl_buf_add(b, chunk, n));
        if (r == SQL_SUCCESS)
            break;
    }
    RETL_TRY(retl_buf_addc(b, '\0'));
out:
    return rc;
}

static retl_err describe(SQLHSTMT h, struct eng_wh_result *res, struct retl_errbuf *eb)
{
    SQLSMALLINT nc = 0;
    if (!OK(SQLNumResultCols(h, &nc)))
        return diag(SQL_HANDLE_STMT, h, "source", eb);
    res->ncols = nc > 0 ? (size_t)nc : 0;
    res->names = calloc(res->ncols + 1, sizeof *res->names);
    res->types = calloc(res->ncols + 1, sizeof *res->types);
    res->codes = calloc(res->ncols + 1, sizeof *res->codes);
    if (!res->names || !res->types || !res->codes)
        return RETL_E_NOMEM;
    for (SQLSMALLINT i = 1; i <= nc; i++) {
        SQLCHAR name[512] = "";
        char tn[128] = "";
        SQLSMALLINT nl = 0, type = 0, dec = 0, nul = 0, tl = 0;
        SQLULEN size = 0;
        if (!OK(SQLDescribeCol(h, (SQLUSMALLINT)i, name, sizeof name, &nl, &type, &size,
                               &dec, &nul)))
            return diag(SQL_HANDLE_STMT, h, "source: describing columns", eb);
        SQLColAttribute(h, (SQLUSMALLINT)i, SQL_DESC_TYPE_NAME, tn, sizeof tn, &tl, NULL);
        res->names[i - 1] = strdup((char *)name);
        res->types[i - 1] = strdup(tn);
        res->codes[i - 1] = type;
        if (!res->names[i - 1] || !res->types[i - 1])
            return RETL_E_NOMEM;
    }
    return RETL_E_OK;
}

static retl_err o_query(void *conn, const char *sql, size_t max_rows,
                        struct eng_wh_result *out, struct retl_errbuf *eb)
{
    struct odbc *o = conn;
    SQLHSTMT h = SQL_NULL_HSTMT;
    struct eng_wh_result res = {0};
    struct retl_buf v;
    retl_err rc;
    size_t cap = 0;
    retl_buf_init(&v, CELL_MAX + 1);
    RETL_TRY(exec_h(o->w, sql, &h, eb));
    RETL_TRY(describe(h, &res, eb));
    while (res.nrows < max_rows && res.ncols > 0) {
        SQLRETURN r = SQLFetch(h);
        if (r == SQL_NO_DATA)
            break;
        if (!OK(r)) {
            rc = diag(SQL_HANDLE_STMT, h, "source", eb);
            goto out;
        }
        if ((res.nrows + 1) * res.ncols > cap) {
            size_t nc = cap ? cap * 2 : res.ncols * 8;
            char **p = realloc(res.cells, nc * sizeof *p);
            if (!p) {
                rc = RETL_E_NOMEM;
                goto out;
            }
            memset(p + cap, 0, (nc - cap) * sizeof *p);
            res.cells = p;
            cap = nc;
        }
        for (size_t c = 0; c < res.ncols; c++) {
            bool null = false;
            retl_buf_reset(&v);
            RETL_TRY(get_data(h, (SQLUSMALLINT)(c + 1), &v, &null, eb));
            if (!null) {
                char *s = strdup(retl_buf_str(&v));
                if (!s) {
                    rc = RETL_E_NOMEM;
                    goto out;
                }
                res.cells[res.nrows * res.ncols + c] = s;
            }
        }
        res.nrows++;
    }
    *out = res;
    memset(&res, 0, sizeof res);
out:
    if (rc && res.ncols)
        res.nrows = cap / res.ncols; /* unused cells are NULL */
    eng_wh_result_free(&res);
    retl_buf_free(&v);
    if (h)
        SQLFreeHandle(SQL_HANDLE_STMT, h);
    return rc;
}

static void stream_free(struct odbc *o)
{
    if (o->rs) {
        SQLFreeHandle(SQL_HANDLE_STMT, o->rs);
        o->rs = SQL_NULL_HSTMT;
    }
    for (size_t i = 0; i < o->ncols; i++) {
        if (o->colbuf)
            free(o->colbuf[i]);
        if (o->ind)
            free(o->ind[i]);
    }
    free(o->colbuf);
    free(o->ind);
    free(o->width);
    o->colbuf = NULL;
    o->ind = NULL;
    o->width = NULL;
    o->ncols = 0;
    if (o->r && !dry(o))
        disconnect(&o->r);
}

static void o_stream_close(void *conn)
{
    stream_free(conn);
}

static retl_err o_stream_open(void *conn, const char *sql, size_t *ncols,
                              struct retl_errbuf *eb)
{
    struct odbc *o = conn;
    retl_err rc;
    struct retl_buf cs;
    retl_buf_init(&cs, 64 * 1024);
    stream_free(o);
    if (dry(o)) {
        o->r = o->w; /* uncommitted tables are only visible here */
    } else {
        RETL_TRY(retl_buf_adds(&cs, o->cs));
        /* Drivers that read whole results into memory unless told to step
         * through them: psqlODBC (a cursor) and SQLite ODBC (the step API).
         * Plain values: psqlODBC ignores braced ones. */
        if (o->dl->id == ENG_DL_POSTGRES && !eng_odbc_has_key(o->cs, "UseDeclareFetch"))
            RETL_TRY(add_defaults(&cs, "UseDeclareFetch=1;Fetch=2000"));
        if (o->dl->id == ENG_DL_SQLITE && !eng_odbc_has_key(o->cs, "StepAPI"))
            RETL_TRY(add_defaults(&cs, "StepAPI=1"));
        RETL_TRY(connect_one(o, retl_buf_str(&cs), &o->r, eb));
        RETL_TRY(session(o, o->r, eb));
    }
    RETL_TRY(exec_h(o->r, sql, &o->rs, eb));
    SQLSMALLINT nc = 0;
    if (!OK(SQLNumResultCols(o->rs, &nc)) || nc <= 0) {
        rc = diag(SQL_HANDLE_STMT, o->rs, "source: the delta query", eb);
        goto out;
    }
    o->ncols = (size_t)nc;
    o->colbuf = calloc(o->ncols, sizeof *o->colbuf);
    o->ind = calloc(o->ncols, sizeof *o->ind);
    o->width = calloc(o->ncols, sizeof *o->width);
    if (!o->colbuf || !o->ind || !o->width) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    size_t row = 0;
    o->bound = true;
    for (size_t i = 0; i < o->ncols; i++) {
        SQLCHAR name[256];
        SQLSMALLINT nl, type, dec, nul;
        SQLULEN size = 0;
        if (!OK(SQLDescribeCol(o->rs, (SQLUSMALLINT)(i + 1), name, sizeof name, &nl,
                               &type, &size, &dec, &nul))) {
            rc = diag(SQL_HANDLE_STMT, o->rs, "source: the delta query", eb);
            goto out;
        }
        if (size == 0 || size > BIND_MAX_CHARS)
            o->bound = false;
        /* UTF-8: up to 4 bytes per character. */
        o->width[i] = (size_t)size * 4 + 1;
        row += o->width[i];
    }
    o->rowset = 1;
    if (o->bound) {
        o->rowset = ROWSET_BYTES / (row ? row : 1);
        if (o->rowset < 1)
            o->rowset = 1;
        if (o->rowset > ROWSET_MAX)
            o->rowset = ROWSET_MAX;
        SQLSetStmtAttr(o->rs, SQL_ATTR_ROW_BIND_TYPE, (SQLPOINTER)SQL_BIND_BY_COLUMN, 0);
        if (!OK(SQLSetStmtAttr(o->rs, SQL_ATTR_ROW_ARRAY_SIZE,
                               (SQLPOINTER)(uintptr_t)o->rowset, 0)))
            o->rowset = 1;
        SQLSetStmtAttr(o->rs, SQL_ATTR_ROWS_FETCHED_PTR, &o->fetched, 0);
        for (size_t i = 0; i < o->ncols; i++) {
            o->colbuf[i] = malloc(o->width[i] * o->rowset);
            o->ind[i] = calloc(o->rowset, sizeof(SQLLEN));
            if (!o->colbuf[i] || !o->ind[i]) {
                rc = RETL_E_NOMEM;
                goto out;
            }
            if (!OK(SQLBindCol(o->rs, (SQLUSMALLINT)(i + 1), SQL_C_CHAR, o->colbuf[i],
                               (SQLLEN)o->width[i], o->ind[i]))) {
                rc = diag(SQL_HANDLE_STMT, o->rs, "source: binding", eb);
                goto out;
            }
        }
    }
    o->fetched = 0;
    o->pos = 0;
    o->done = false;
    *ncols = o->ncols;
    RETL_LOG_DEBUG("source: streaming the delta", RF_B("bound", o->bound),
                   RF_I("rowset", o->rowset));
out:
    retl_buf_free(&cs);
    if (rc)
        stream_free(o);
    return rc;
}

static retl_err o_stream_fetch(void *conn, size_t max, size_t *nrows,
                               const char *const **cells, struct retl_errbuf *eb)
{
    struct odbc *o = conn;
    retl_err rc = RETL_E_OK;
    size_t n = 0, nc = o->ncols;
    retl_buf_reset(&o->arena);
    if (max * nc > o->cap) {
        long *p = realloc(o->offs, max * nc * sizeof *p);
        const char **q = realloc(o->cells, max * nc * sizeof *q);
        if (p)
            o->offs = p;
        if (q)
            o->cells = q;
        if (!p || !q)
            return RETL_E_NOMEM;
        o->cap = max * nc;
    }
    while (n < max && o->rs) {
        if (o->pos >= o->fetched) {
            if (o->done)
                break;
            if (!o->bound)
                o->fetched = 0;
            SQLRETURN r = SQLFetch(o->rs);
            if (r == SQL_NO_DATA) {
                o->done = true;
                break;
            }
            if (!OK(r))
                return diag(SQL_HANDLE_STMT, o->rs, "source: reading the delta", eb);
            if (!o->bound)
                o->fetched = 1;
            o->pos = 0;
            if (o->fetched == 0) {
                o->done = true;
                break;
            }
        }
        for (size_t c = 0; c < nc; c++) {
            long *off = &o->offs[n * nc + c];
            if (o->bound) {
                SQLLEN ind = o->ind[c][o->pos];
                if (ind == SQL_NULL_DATA) {
                    *off = -1;
                    continue;
                }
                if (ind == SQL_NO_TOTAL || (size_t)ind >= o->width[c])
                    return retl_errf(eb, RETL_E_SOURCE,
                                     "source: a delta value is longer than "
                                     "its column's declared size (%zu)",
                                     o->width[c] - 1);
                *off = (long)o->arena.len;
                RETL_TRY(retl_buf_add(&o->arena, o->colbuf[c] + o->pos * o->width[c],
                                      (size_t)ind));
                RETL_TRY(retl_buf_addc(&o->arena, '\0'));
            } else {
                bool null = false;
                size_t at = o->arena.len;
                RETL_TRY(get_data(o->rs, (SQLUSMALLINT)(c + 1), &o->arena, &null, eb));
                *off = null ? -1 : (long)at;
            }
        }
        o->pos++;
        n++;
    }
    for (size_t i = 0; i < n * nc; i++)
        o->cells[i] = o->offs[i] < 0 ? NULL : o->arena.data + o->offs[i];
    *nrows = n;
    *cells = o->cells;
out:
    if (rc == RETL_E_TOO_BIG)
        rc = retl_errf(eb, rc, "source: delta chunk larger than %u bytes", ARENA_MAX);
    return rc;
}

static void o_free(void *conn)
{
    struct odbc *o = conn;
    if (!o)
        return;
    stream_free(o);
    if (dry(o) && o->w)
        SQLEndTran(SQL_HANDLE_DBC, o->w, SQL_ROLLBACK);
    disconnect(&o->w);
    if (o->env)
        SQLFreeHandle(SQL_HANDLE_ENV, o->env);
    if (o->cs) {
        explicit_bzero(o->cs, strlen(o->cs));
        free(o->cs);
    }
    retl_buf_free(&o->arena);
    free(o->offs);
    free(o->cells);
    free(o);
}

const struct eng_wh_driver eng_odbc_driver = {
    .run = o_run,
    .query = o_query,
    .stream_open = o_stream_open,
    .stream_fetch = o_stream_fetch,
    .stream_close = o_stream_close,
    .free = o_free,
    .dry_rollback = true,
};

/* Appends each "Key=value" pair of extra whose key cs lacks. */
static retl_err add_defaults(struct retl_buf *b, const char *extra)
{
    retl_err rc = RETL_E_OK;
    char pair[512];
    const char *p = extra;
    while (p && *p) {
        const char *e = strchr(p, ';');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && n < sizeof pair) {
            memcpy(pair, p, n);
            pair[n] = '\0';
            char *eq = strchr(pair, '=');
            if (eq) {
                *eq = '\0';
                if (!eng_odbc_has_key(retl_buf_str(b), pair)) {
                    if (b->len && b->data[b->len - 1] != ';')
                        RETL_TRY(retl_buf_addc(b, ';'));
                    RETL_TRY(retl_buf_printf(b, "%s=%s;", pair, eq + 1));
                }
            }
        }
        p = e ? e + 1 : NULL;
    }
out:
    return rc;
}

retl_err eng_odbc_open(const struct eng_secrets *sec, const char *extra,
                       const struct eng_dialect *forced, unsigned flags, void **conn,
                       const struct eng_dialect **dl, struct retl_errbuf *eb)
{
    retl_err rc;
    struct retl_buf cs;
    char red[600], drv[256] = "", dbms[256] = "";
    SQLSMALLINT l = 0;
    const char *base = eng_secret_get(sec, "connectionString");
    const char *pw = eng_secret_get(sec, "password");
    const char *dname = eng_secret_get(sec, "dialect");
    struct odbc *o = calloc(1, sizeof *o);
    if (!o)
        return RETL_E_NOMEM;
    retl_buf_init(&cs, 64 * 1024);
    retl_buf_init(&o->arena, ARENA_MAX);
    o->flags = flags;
    if (!base || !*base) {
        rc = retl_errf(eb, RETL_E_CONFIG, "source: secret %s has no connectionString",
                       sec && sec->name ? sec->name : "(none)");
        goto out;
    }
    RETL_TRY(retl_buf_adds(&cs, base));
    RETL_TRY(add_defaults(&cs, extra));
    if (pw && *pw && !eng_odbc_has_key(base, "PWD") &&
        !eng_odbc_has_key(base, "Password")) {
        RETL_TRY(retl_secret_register(pw));
        RETL_TRY(eng_odbc_append(&cs, "PWD", pw));
    }
    o->cs = retl_buf_take(&cs);
    if (!o->cs) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    if (!OK(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &o->env)) ||
        !OK(SQLSetEnvAttr(o->env, SQL_ATTR_ODBC_VERSION, (SQLPOINTER)SQL_OV_ODBC3, 0))) {
        rc = retl_errf(eb, RETL_E_INTERNAL, "source: ODBC environment");
        goto out;
    }
    retl_conn_describe(o->cs, red, sizeof red);
    RETL_LOG_INFO("source: connecting through ODBC", RF_S("connection", red));
    RETL_TRY(connect_one(o, o->cs, &o->w, eb));
    SQLGetInfo(o->w, SQL_DRIVER_NAME, drv, sizeof drv, &l);
    SQLGetInfo(o->w, SQL_DBMS_NAME, dbms, sizeof dbms, &l);
    o->dl = forced;
    if (!o->dl && dname) {
        o->dl = eng_dialect_find(dname);
        if (!o->dl) {
            rc = retl_errf(eb, RETL_E_CONFIG,
                           "source: unknown dialect \"%s\" (postgres, sqlite, "
                           "tsql, snowflake, ansi)",
                           dname);
            goto out;
        }
    }
    if (!o->dl)
        o->dl = eng_dialect_guess(drv, dbms);
    RETL_LOG_INFO("source: connected", RF_S("driver", drv), RF_S("dbms", dbms),
                  RF_S("dialect", o->dl->name));
    RETL_TRY(session(o, o->w, eb));
    if (dry(o))
        RETL_TRY(autocommit(o->w, false, eb));
    *conn = o;
    *dl = o->dl;
    o = NULL;
out:
    retl_buf_free(&cs);
    o_free(o);
    return rc;
}
