#include "engine/source/sql_dialect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/base/sql_text.h"
#include "engine/source/pg_sql.h"

static const struct eng_dialect dialects[] = {
    {ENG_DL_POSTGRES, "postgres", '"', '"', "", false, true, false, false,
     "CREATE UNLOGGED TABLE", "EXCEPT", "text", "text", "text", "bigint"},
    {ENG_DL_SQLITE, "sqlite", '"', '"', "", false, false, false, false, "CREATE TABLE",
     "EXCEPT", "TEXT", "TEXT", "TEXT", "INTEGER"},
    {ENG_DL_TSQL, "tsql", '[', ']', "N", false, true, true, true, "CREATE TABLE",
     "EXCEPT", "NVARCHAR(MAX)", "NVARCHAR(450)", "NVARCHAR(8)", "BIGINT"},
    {ENG_DL_SNOWFLAKE, "snowflake", '"', '"', "", true, true, false, false,
     "CREATE TRANSIENT TABLE", "MINUS", "VARCHAR", "VARCHAR", "VARCHAR", "BIGINT"},
    {ENG_DL_ANSI, "ansi", '"', '"', "", false, true, false, false, "CREATE TABLE",
     "EXCEPT", "VARCHAR(8000)", "VARCHAR(450)", "VARCHAR(8)", "BIGINT"},
};

const struct eng_dialect *eng_dialect_get(enum eng_dl_id id)
{
    for (size_t i = 0; i < sizeof dialects / sizeof dialects[0]; i++) {
        if (dialects[i].id == id)
            return &dialects[i];
    }
    return &dialects[0];
}

const struct eng_dialect *eng_dialect_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof dialects / sizeof dialects[0]; i++) {
        if (strcasecmp(dialects[i].name, name) == 0)
            return &dialects[i];
    }
    return NULL;
}

static bool has(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle) != NULL;
}

const struct eng_dialect *eng_dialect_guess(const char *driver, const char *dbms)
{
    if (has(dbms, "postgres") || has(driver, "psqlodbc"))
        return eng_dialect_get(ENG_DL_POSTGRES);
    if (has(dbms, "sqlite") || has(driver, "sqlite"))
        return eng_dialect_get(ENG_DL_SQLITE);
    if (has(dbms, "sql server") || has(driver, "tdsodbc") || has(driver, "msodbcsql"))
        return eng_dialect_get(ENG_DL_TSQL);
    if (has(dbms, "snowflake") || has(driver, "snowflake"))
        return eng_dialect_get(ENG_DL_SNOWFLAKE);
    return eng_dialect_get(ENG_DL_ANSI);
}

retl_err eng_dl_ident(const struct eng_dialect *d, struct retl_buf *b, const char *id)
{
    return eng_sql_ident(b, d->qopen, d->qclose, id);
}

retl_err eng_dl_table(const struct eng_dialect *d, struct retl_buf *b, const char *schema,
                      const char *t)
{
    retl_err rc;
    if (!d->schemas) {
        char name[2 * ENG_IDENT_MAX + 4];
        snprintf(name, sizeof name, "%s_%s", schema, t);
        return eng_dl_ident(d, b, name);
    }
    RETL_TRY(eng_dl_ident(d, b, schema));
    RETL_TRY(retl_buf_addc(b, '.'));
    RETL_TRY(eng_dl_ident(d, b, t));
out:
    return rc;
}

retl_err eng_dl_dotted(const struct eng_dialect *d, struct retl_buf *b, const char *name)
{
    return eng_sql_dotted(b, d->qopen, d->qclose, name);
}

retl_err eng_dl_literal(const struct eng_dialect *d, struct retl_buf *b, const char *s)
{
    retl_err rc;
    bool ascii = true;
    for (const char *p = s; *p; p++)
        ascii = ascii && (unsigned char)*p < 0x80;
    if (!ascii)
        RETL_TRY(retl_buf_adds(b, d->lit_prefix));
    RETL_TRY(retl_buf_addc(b, '\''));
    for (const char *p = s; *p; p++) {
        if (*p == '\'' || (d->lit_backslash && *p == '\\'))
            RETL_TRY(retl_buf_addc(b, *p));
        RETL_TRY(retl_buf_addc(b, *p));
    }
    RETL_TRY(retl_buf_addc(b, '\''));
out:
    return rc;
}

/* ODBC SQL type codes (sql.h/sqlext.h), kept here so the dialect layer stays
 * free of the ODBC headers. */
enum {
    X_BIT = -7,
    X_TINYINT = -6,
    X_BIGINT = -5,
    X_LONGVARBINARY = -4,
    X_VARBINARY = -3,
    X_BINARY = -2,
    X_NUMERIC = 2,
    X_DECIMAL = 3,
    X_INTEGER = 4,
    X_SMALLINT = 5,
    X_FLOAT = 6,
    X_REAL = 7,
    X_DOUBLE = 8,
    X_DATE = 9,
    X_TIMESTAMP = 11,
    X_TYPE_DATE = 91,
    X_TYPE_TIMESTAMP = 93,
    X_SS_TIMESTAMPOFFSET = -155,
};

static enum eng_type by_code(int t)
{
    switch (t) {
    case X_BIT: return ENG_T_BOOL;
    case X_TINYINT:
    case X_SMALLINT:
    case X_INTEGER:
    case X_BIGINT: return ENG_T_INT;
    case X_NUMERIC:
    case X_DECIMAL:
    case X_FLOAT:
    case X_REAL:
    case X_DOUBLE: return ENG_T_NUMERIC;
    case X_DATE:
    case X_TYPE_DATE: return ENG_T_DATE;
    case X_TIMESTAMP:
    case X_TYPE_TIMESTAMP: return ENG_T_TIMESTAMP;
    case X_SS_TIMESTAMPOFFSET: return ENG_T_TIMESTAMPTZ;
    case X_BINARY:
    case X_VARBINARY:
    case X_LONGVARBINARY: return ENG_T_BYTES;
    default: return ENG_T_TEXT;
    }
}

static enum eng_type snowflake_type(const char *t)
{
    static const struct {
        const char *name;
        enum eng_type t;
    } map[] = {
        {"fixed", ENG_T_INT},
        {"fixed.scaled", ENG_T_NUMERIC},
        {"real", ENG_T_NUMERIC},
        {"boolean", ENG_T_BOOL},
        {"date", ENG_T_DATE},
        {"timestamp_ntz", ENG_T_TIMESTAMP},
        {"timestamp_ltz", ENG_T_TIMESTAMPTZ},
        {"timestamp_tz", ENG_T_TIMESTAMPTZ},
        {"variant", ENG_T_JSON},
        {"object", ENG_T_JSON},
        {"array", ENG_T_JSON},
        {"binary", ENG_T_BYTES},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcasecmp(map[i].name, t) == 0)
            return map[i].t;
    }
    return ENG_T_TEXT;
}

enum eng_type eng_dl_type(const struct eng_dialect *d, int sqltype, const char *typname)
{
    const char *tn = typname ? typname : "";
    switch (d->id) {
    case ENG_DL_SNOWFLAKE: return snowflake_type(tn);
    case ENG_DL_POSTGRES: {
        enum eng_type t = eng_pg_type(tn, 0);
        if (t != ENG_T_TEXT || strcasecmp(tn, "text") == 0 ||
            strcasecmp(tn, "varchar") == 0 || strcasecmp(tn, "bpchar") == 0)
            return t;
        return by_code(sqltype);
    }
    case ENG_DL_TSQL:
        if (strcasecmp(tn, "datetimeoffset") == 0)
            return ENG_T_TIMESTAMPTZ;
        return by_code(sqltype);
    case ENG_DL_SQLITE:
        if (strcasecmp(tn, "boolean") == 0 || strcasecmp(tn, "bool") == 0)
            return ENG_T_BOOL;
        return by_code(sqltype);
    default: return by_code(sqltype);
    }
}

static bool is_float(const char *tn)
{
    return tn && (strcasecmp(tn, "float") == 0 || strcasecmp(tn, "real") == 0);
}

retl_err eng_dl_canon_expr(const struct eng_dialect *d, struct retl_buf *b,
                           const char *col, const char *typname, enum eng_type t)
{
    switch (d->id) {
    case ENG_DL_POSTGRES: return eng_pg_canon_expr(b, col, typname ? typname : "", t);
    case ENG_DL_SQLITE:
        if (t == ENG_T_BOOL)
            return retl_buf_printf(b,
                                   "CASE WHEN %s IS NULL THEN NULL WHEN %s "
                                   "THEN 'true' ELSE 'false' END",
                                   col, col);
        if (t == ENG_T_BYTES)
            return retl_buf_printf(b, "hex(%s)", col);
        return retl_buf_printf(b, "CAST(%s AS TEXT)", col);
    case ENG_DL_TSQL:
        switch (t) {
        case ENG_T_BOOL:
            return retl_buf_printf(b,
                                   "CASE WHEN %s = 1 THEN 'true' WHEN %s = 0 "
                                   "THEN 'false' END",
                                   col, col);
        case ENG_T_NUMERIC:
            if (is_float(typname))
                return retl_buf_printf(b, "CONVERT(NVARCHAR(MAX), %s, 3)", col);
            break;
        case ENG_T_DATE:
        case ENG_T_TIMESTAMP:
            return retl_buf_printf(b, "CONVERT(NVARCHAR(MAX), %s, 121)", col);
        case ENG_T_TIMESTAMPTZ:
            return retl_buf_printf(b, "CONVERT(NVARCHAR(MAX), %s, 127)", col);
        case ENG_T_BYTES: return retl_buf_printf(b, "CONVERT(NVARCHAR(MAX), %s, 2)", col);
        default: break;
        }
        return retl_buf_printf(b, "CAST(%s AS NVARCHAR(MAX))", col);
    case ENG_DL_SNOWFLAKE:
        switch (t) {
        case ENG_T_DATE: return retl_buf_printf(b, "TO_VARCHAR(%s, 'YYYY-MM-DD')", col);
        case ENG_T_TIMESTAMP:
            return retl_buf_printf(b, "TO_VARCHAR(%s, 'YYYY-MM-DD HH24:MI:SS.FF6')", col);
        case ENG_T_TIMESTAMPTZ:
            return retl_buf_printf(
                b, "TO_VARCHAR(%s, 'YYYY-MM-DD HH24:MI:SS.FF6TZH:TZM')", col);
        case ENG_T_JSON: return retl_buf_printf(b, "TO_JSON(%s)", col);
        default: return retl_buf_printf(b, "CAST(%s AS VARCHAR)", col);
        }
    default: return retl_buf_printf(b, "CAST(%s AS %s)", col, d->text_type);
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static retl_err hex_to_base64(const char *in, struct retl_buf *o)
{
    static const char tb[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    retl_err rc = RETL_E_OK;
    if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
        in += 2;
    else if (in[0] == '\\' && in[1] == 'x')
        in += 2;
    size_t n = strlen(in);
    if (n % 2)
        return RETL_E_PARSE;
    unsigned char g[3];
    size_t k = 0;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(in[i]), lo = hexval(in[i + 1]);
        if (hi < 0 || lo < 0)
            return RETL_E_PARSE;
        g[k++] = (unsigned char)(hi << 4 | lo);
        if (k == 3 || i + 2 == n) {
            char q[4];
            q[0] = tb[g[0] >> 2];
            q[1] = tb[((g[0] & 3) << 4) | (k > 1 ? g[1] >> 4 : 0)];
            q[2] = k > 1 ? tb[((g[1] & 15) << 2) | (k > 2 ? g[2] >> 6 : 0)] : '=';
            q[3] = k > 2 ? tb[g[2] & 63] : '=';
            RETL_TRY(retl_buf_add(o, q, 4));
            k = 0;
        }
    }
    if (n == 0)
        RETL_TRY(retl_buf_adds(o, ""));
out:
    return rc;
}

static retl_err canon_ts(const char *in, bool tz, struct retl_buf *o)
{
    retl_err rc;
    size_t n = strlen(in);
    /* date part and time up to seconds */
    size_t i = 0;
    for (; i < n && i < 19; i++)
        RETL_TRY(retl_buf_addc(o, i == 10 && in[i] == 'T' ? ' ' : in[i]));
    if (i < n && in[i] == '.') {
        size_t s = ++i;
        while (i < n && in[i] >= '0' && in[i] <= '9')
            i++;
        size_t e = i;
        while (e > s && in[e - 1] == '0')
            e--;
        if (e > s) {
            RETL_TRY(retl_buf_addc(o, '.'));
            RETL_TRY(retl_buf_add(o, in + s, e - s));
        }
    }
    while (i < n && in[i] == ' ')
        i++;
    if (i < n) {
        const char *z = in + i;
        if (strcmp(z, "Z") == 0 || strcmp(z, "z") == 0) {
            RETL_TRY(retl_buf_adds(o, "+00:00"));
        } else if ((z[0] == '+' || z[0] == '-') && strlen(z) >= 3) {
            char hh[3] = {z[1], z[2], 0};
            const char *mm = z[3] == ':' ? z + 4 : z + 3;
            char m2[3] = {mm[0] ? mm[0] : '0', mm[0] && mm[1] ? mm[1] : '0', 0};
            RETL_TRY(retl_buf_printf(o, "%c%s:%s", z[0], hh, m2));
        } else {
            RETL_TRY(retl_buf_adds(o, z));
        }
    } else if (tz) {
        RETL_TRY(retl_buf_adds(o, "+00:00"));
    }
out:
    return rc;
}

static retl_err canon_float(const char *in, struct retl_buf *o)
{
    char *end = NULL;
    double v = strtod(in, &end);
    if (!end || *end)
        return retl_buf_adds(o, in);
    char tmp[64];
    for (int p = 15; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return retl_buf_adds(o, tmp);
}

retl_err eng_dl_canon_value(enum eng_type t, const char *in, struct retl_buf *scratch,
                            long *off)
{
    retl_err rc = RETL_E_OK;
    *off = -1;
    if (!in)
        return RETL_E_OK;
    size_t start = scratch->len;
    switch (t) {
    case ENG_T_BOOL: {
        static const char *const yes[] = {"1", "t", "true", "y", "yes", "on"};
        static const char *const no[] = {"0", "f", "false", "n", "no", "off"};
        const char *v = NULL;
        for (size_t i = 0; i < 6; i++) {
            if (strcasecmp(in, yes[i]) == 0)
                v = "true";
            else if (strcasecmp(in, no[i]) == 0)
                v = "false";
        }
        if (!v || strcmp(v, in) == 0)
            return RETL_E_OK;
        RETL_TRY(retl_buf_adds(scratch, v));
        break;
    }
    case ENG_T_NUMERIC:
        if (!strpbrk(in, "eE") || strpbrk(in, "xX"))
            return RETL_E_OK;
        RETL_TRY(canon_float(in, scratch));
        break;
    case ENG_T_TIMESTAMP:
    case ENG_T_TIMESTAMPTZ:
        if (strlen(in) < 19)
            return RETL_E_OK;
        RETL_TRY(canon_ts(in, t == ENG_T_TIMESTAMPTZ, scratch));
        break;
    case ENG_T_BYTES:
        rc = hex_to_base64(in, scratch);
        if (rc == RETL_E_PARSE) {
            scratch->len = start;
            return RETL_E_OK;
        }
        RETL_TRY(rc);
        break;
    default: return RETL_E_OK;
    }
    RETL_TRY(retl_buf_addc(scratch, '\0'));
    *off = (long)start;
out:
    return rc;
}

retl_err eng_dl_job_query(const struct eng_dialect *d, struct retl_buf *b,
                          const struct retl_job *job)
{
    retl_err rc;
    if (job->source.table) {
        RETL_TRY(retl_buf_adds(b, "SELECT * FROM "));
        RETL_TRY(eng_dl_dotted(d, b, job->source.table));
        return RETL_E_OK;
    }
    const char *q = job->source.query ? job->source.query : "";
    size_t n = strlen(q);
    while (n > 0 && (q[n - 1] == ';' || q[n - 1] == ' ' || q[n - 1] == '\n' ||
                     q[n - 1] == '\t' || q[n - 1] == '\r'))
        n--;
    RETL_TRY(retl_buf_add(b, q, n));
out:
    return rc;
}

retl_err eng_dl_sql_describe(const struct eng_dialect *d, struct retl_buf *b,
                             const char *query)
{
    (void)d;
    return retl_buf_printf(b, "SELECT * FROM (\n%s\n) AS q WHERE 1 = 0", query);
}

static retl_err tbl(const struct eng_dialect *d, struct retl_buf *b,
                    const struct eng_state *st, const char *t)
{
    return eng_dl_table(d, b, st->n.schema, t);
}

/* A quoted state column name, optionally with a table alias. */
static retl_err col(const struct eng_dialect *d, struct retl_buf *b, const char *alias,
                    const char *name)
{
    retl_err rc = RETL_E_OK;
    if (alias)
        RETL_TRY(retl_buf_printf(b, "%s.", alias));
    RETL_TRY(eng_dl_ident(d, b, name));
out:
    return rc;
}

/* ", a.c1, a.c2 ..." over the value columns. */
static retl_err vcols(const struct eng_dialect *d, struct retl_buf *b,
                      const struct eng_state *st, const char *alias)
{
    retl_err rc = RETL_E_OK;
    char c[32];
    for (size_t i = 1; i < st->ncols; i++) {
        snprintf(c, sizeof c, "c%zu", i);
        RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(col(d, b, alias, c));
    }
out:
    return rc;
}

retl_err eng_dl_inline(const struct eng_dialect *d, struct retl_buf *b, const char *sql,
                       const struct eng_dl_params *p)
{
    retl_err rc = RETL_E_OK;
    size_t k = 0;
    char quote = 0;
    for (const char *c = sql; *c; c++) {
        if (quote) {
            if (*c == quote)
                quote = 0;
        } else if (*c == '\'' || *c == '"') {
            quote = *c;
        } else if (*c == d->qopen && d->qopen != d->qclose) {
            quote = d->qclose;
        } else if (*c == '?') {
            if (k >= p->n)
                return RETL_E_INVALID;
            RETL_TRY(eng_dl_literal(d, b, p->v[k++]));
            continue;
        }
        RETL_TRY(retl_buf_addc(b, *c));
    }
    if (k != p->n)
        rc = RETL_E_INVALID;
out:
    return rc;
}

retl_err eng_dl_sql_schema_exists(const struct eng_dialect *d, struct retl_buf *b,
                                  const char *schema, struct eng_dl_params *p)
{
    (void)d;
    p->v[0] = schema;
    p->n = 1;
    return retl_buf_adds(b, "SELECT COUNT(*) FROM information_schema.schemata "
                            "WHERE schema_name = ?");
}

retl_err eng_dl_sql_table_exists(const struct eng_dialect *d, struct retl_buf *b,
                                 const char *schema, const char *t,
                                 struct eng_dl_params *p)
{
    if (!d->schemas) {
        snprintf(p->buf, sizeof p->buf, "%s_%s", schema, t);
        p->v[0] = p->buf;
        p->n = 1;
        return retl_buf_adds(b, "SELECT COUNT(*) FROM sqlite_master WHERE "
                                "type = 'table' AND name = ?");
    }
    p->v[0] = schema;
    p->v[1] = t;
    p->n = 2;
    return retl_buf_adds(b, "SELECT COUNT(*) FROM information_schema.tables "
                            "WHERE table_schema = ? AND table_name = ?");
}

retl_err eng_dl_sql_create_schema(const struct eng_dialect *d, struct retl_buf *b,
                                  const char *schema)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "CREATE SCHEMA "));
    RETL_TRY(eng_dl_ident(d, b, schema));
out:
    return rc;
}

/* "CREATE TABLE t (" */
static retl_err create(const struct eng_dialect *d, struct retl_buf *b,
                       const struct eng_state *st, const char *t)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "CREATE TABLE "));
    RETL_TRY(tbl(d, b, st, t));
    RETL_TRY(retl_buf_adds(b, " ("));
out:
    return rc;
}

/* ", name type" (no comma when first). */
static retl_err coldef(const struct eng_dialect *d, struct retl_buf *b, bool first,
                       const char *name, const char *type, const char *extra)
{
    retl_err rc;
    if (!first)
        RETL_TRY(retl_buf_adds(b, ", "));
    RETL_TRY(eng_dl_ident(d, b, name));
    RETL_TRY(retl_buf_printf(b, " %s%s", type, extra ? extra : ""));
out:
    return rc;
}

retl_err eng_dl_sql_create_meta(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(create(d, b, st, st->n.meta));
    RETL_TRY(coldef(d, b, true, "k", d->key_type, " NOT NULL PRIMARY KEY"));
    RETL_TRY(coldef(d, b, false, "v", d->text_type, " NOT NULL"));
    RETL_TRY(retl_buf_adds(b, ")"));
out:
    return rc;
}

retl_err eng_dl_sql_create_errors(const struct eng_dialect *d, struct retl_buf *b,
                                  const struct eng_state *st)
{
    retl_err rc;
    static const char *const text_cols[] = {
        "operation", "code", "message", "fields", "row", "first_failed", "last_failed"};
    RETL_TRY(create(d, b, st, st->n.errors));
    RETL_TRY(coldef(d, b, true, "key", d->key_type, " NOT NULL PRIMARY KEY"));
    RETL_TRY(coldef(d, b, false, "run", d->int_type, NULL));
    for (size_t i = 0; i < sizeof text_cols / sizeof text_cols[0]; i++)
        RETL_TRY(coldef(d, b, false, text_cols[i], d->text_type, NULL));
    RETL_TRY(coldef(d, b, false, "attempts", d->int_type, NULL));
    RETL_TRY(retl_buf_adds(b, ")"));
out:
    return rc;
}

retl_err eng_dl_sql_create_snap(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st)
{
    retl_err rc;
    char c[32];
    RETL_TRY(create(d, b, st, st->n.snap));
    RETL_TRY(coldef(d, b, true, "k", d->key_type, " NOT NULL PRIMARY KEY"));
    RETL_TRY(coldef(d, b, false, "st", d->flag_type, " NOT NULL"));
    for (size_t i = 1; i < st->ncols; i++) {
        snprintf(c, sizeof c, "c%zu", i);
        RETL_TRY(coldef(d, b, false, c, d->text_type, NULL));
    }
    RETL_TRY(retl_buf_adds(b, ")"));
out:
    return rc;
}

void eng_dl_batch_name(const struct eng_state *st, char out[ENG_IDENT_MAX + 1])
{
    snprintf(out, ENG_IDENT_MAX + 1, "%s__batch", st->n.prefix);
}

void eng_dl_keys_name(const struct eng_state *st, char out[ENG_IDENT_MAX + 1])
{
    snprintf(out, ENG_IDENT_MAX + 1, "%s__keys", st->n.prefix);
}

retl_err eng_dl_sql_create_batch(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st)
{
    retl_err rc;
    char t[ENG_IDENT_MAX + 1];
    static const char *const text_cols[] = {"code", "message", "fields", "rj"};
    eng_dl_batch_name(st, t);
    RETL_TRY(create(d, b, st, t));
    RETL_TRY(coldef(d, b, true, "k", d->key_type, NULL));
    RETL_TRY(coldef(d, b, false, "ok", d->flag_type, NULL));
    for (size_t i = 0; i < sizeof text_cols / sizeof text_cols[0]; i++)
        RETL_TRY(coldef(d, b, false, text_cols[i], d->text_type, NULL));
    RETL_TRY(coldef(d, b, false, "ph", d->flag_type, NULL));
    RETL_TRY(coldef(d, b, false, "ff", d->text_type, NULL));
    RETL_TRY(coldef(d, b, false, "att", d->int_type, NULL));
    RETL_TRY(retl_buf_adds(b, ")"));
out:
    return rc;
}

retl_err eng_dl_sql_drop(const struct eng_dialect *d, struct retl_buf *b,
                         const struct eng_state *st, const char *t)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "DROP TABLE IF EXISTS "));
    RETL_TRY(tbl(d, b, st, t));
out:
    return rc;
}

retl_err eng_dl_sql_meta_get(const struct eng_dialect *d, struct retl_buf *b,
                             const struct eng_state *st, const char *k,
                             struct eng_dl_params *p)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "SELECT "));
    RETL_TRY(col(d, b, NULL, "v"));
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(tbl(d, b, st, st->n.meta));
    RETL_TRY(retl_buf_adds(b, " WHERE "));
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(retl_buf_adds(b, " = ?"));
    p->v[0] = k;
    p->n = 1;
out:
    return rc;
}

retl_err eng_dl_sql_meta_set(const struct eng_dialect *d, struct retl_buf *del,
                             struct retl_buf *ins, const struct eng_state *st,
                             const char *k, const char *v)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(del, "DELETE FROM "));
    RETL_TRY(tbl(d, del, st, st->n.meta));
    RETL_TRY(retl_buf_adds(del, " WHERE "));
    RETL_TRY(col(d, del, NULL, "k"));
    RETL_TRY(retl_buf_adds(del, " = "));
    RETL_TRY(eng_dl_literal(d, del, k));
    RETL_TRY(retl_buf_adds(ins, "INSERT INTO "));
    RETL_TRY(tbl(d, ins, st, st->n.meta));
    RETL_TRY(retl_buf_adds(ins, " ("));
    RETL_TRY(col(d, ins, NULL, "k"));
    RETL_TRY(retl_buf_adds(ins, ", "));
    RETL_TRY(col(d, ins, NULL, "v"));
    RETL_TRY(retl_buf_adds(ins, ") VALUES ("));
    RETL_TRY(eng_dl_literal(d, ins, k));
    RETL_TRY(retl_buf_adds(ins, ", "));
    RETL_TRY(eng_dl_literal(d, ins, v));
    RETL_TRY(retl_buf_adds(ins, ")"));
out:
    return rc;
}

retl_err eng_dl_sql_create_as(const struct eng_dialect *d, struct retl_buf *b,
                              const struct eng_state *st, const char *t,
                              const char *select)
{
    retl_err rc;
    if (d->select_into) {
        RETL_TRY(retl_buf_adds(b, "SELECT * INTO "));
        RETL_TRY(tbl(d, b, st, t));
        RETL_TRY(retl_buf_printf(b, " FROM (\n%s\n) AS x", select));
        return RETL_E_OK;
    }
    RETL_TRY(retl_buf_printf(b, "%s ", d->ctas));
    RETL_TRY(tbl(d, b, st, t));
    RETL_TRY(retl_buf_printf(b, " AS\n%s", select));
out:
    return rc;
}

retl_err eng_dl_sql_rebase(const struct eng_dialect *d, struct retl_buf *b, size_t n,
                           const struct eng_state *st)
{
    retl_err rc;
    char keys[ENG_IDENT_MAX + 1];
    struct retl_buf sel;
    retl_buf_init(&sel, 4096);
    if (n < 7)
        return RETL_E_INVALID;
    eng_dl_keys_name(st, keys);
    RETL_TRY(eng_dl_sql_drop(d, &b[0], st, keys));
    RETL_TRY(retl_buf_adds(&sel, "SELECT "));
    RETL_TRY(col(d, &sel, NULL, "k"));
    RETL_TRY(retl_buf_adds(&sel, " FROM "));
    RETL_TRY(tbl(d, &sel, st, st->n.snap));
    RETL_TRY(eng_dl_sql_create_as(d, &b[1], st, keys, retl_buf_str(&sel)));
    RETL_TRY(retl_buf_adds(&b[2], "DROP TABLE "));
    RETL_TRY(tbl(d, &b[2], st, st->n.snap));
    RETL_TRY(eng_dl_sql_create_snap(d, &b[3], st));
    RETL_TRY(retl_buf_adds(&b[4], "INSERT INTO "));
    RETL_TRY(tbl(d, &b[4], st, st->n.snap));
    RETL_TRY(retl_buf_adds(&b[4], " ("));
    RETL_TRY(col(d, &b[4], NULL, "k"));
    RETL_TRY(retl_buf_adds(&b[4], ", "));
    RETL_TRY(col(d, &b[4], NULL, "st"));
    RETL_TRY(retl_buf_adds(&b[4], ") SELECT "));
    RETL_TRY(col(d, &b[4], NULL, "k"));
    RETL_TRY(retl_buf_adds(&b[4], ", 'K' FROM "));
    RETL_TRY(tbl(d, &b[4], st, keys));
    RETL_TRY(eng_dl_sql_drop(d, &b[5], st, keys));
    RETL_TRY(retl_buf_adds(&b[6], "DELETE FROM "));
    RETL_TRY(tbl(d, &b[6], st, st->n.errors));
out:
    retl_buf_free(&sel);
    return rc;
}

retl_err eng_dl_sql_stage_select(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st, const char *const *real,
                                 const char *query)
{
    retl_err rc;
    struct retl_buf c;
    char alias[32];
    retl_buf_init(&c, 4096);
    RETL_TRY(retl_buf_adds(b, "SELECT "));
    for (size_t i = 0; i < st->ncols; i++) {
        retl_buf_reset(&c);
        RETL_TRY(retl_buf_adds(&c, "q."));
        RETL_TRY(eng_dl_ident(d, &c, real[i]));
        if (i)
            RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(eng_dl_canon_expr(d, b, retl_buf_str(&c), st->cols[i].sql_type,
                                   st->cols[i].type));
        if (i)
            snprintf(alias, sizeof alias, "c%zu", i);
        else
            snprintf(alias, sizeof alias, "k");
        RETL_TRY(retl_buf_adds(b, " AS "));
        RETL_TRY(eng_dl_ident(d, b, alias));
    }
    RETL_TRY(retl_buf_printf(b, " FROM (\n%s\n) AS q", query));
out:
    retl_buf_free(&c);
    return rc;
}

retl_err eng_dl_sql_stage_count(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN "));
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(retl_buf_adds(b, " IS NULL THEN 1 ELSE 0 END), 0) FROM "));
    RETL_TRY(tbl(d, b, st, st->n.stage));
out:
    return rc;
}

retl_err eng_dl_sql_dups(const struct eng_dialect *d, struct retl_buf *b,
                         const struct eng_state *st, bool delta)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, d->top ? "SELECT TOP (5) " : "SELECT "));
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(tbl(d, b, st, delta ? st->n.delta : st->n.stage));
    RETL_TRY(retl_buf_adds(b, " WHERE "));
    if (delta) {
        RETL_TRY(col(d, b, NULL, "op"));
        RETL_TRY(retl_buf_adds(b, " <> 'D' AND "));
    }
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(retl_buf_adds(b, " IS NOT NULL GROUP BY "));
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(retl_buf_adds(b, " HAVING COUNT(*) > 1 ORDER BY "));
    RETL_TRY(col(d, b, NULL, "k"));
    if (!d->top)
        RETL_TRY(retl_buf_adds(b, " LIMIT 5"));
out:
    return rc;
}

/* The NULL-safe "value columns differ" predicate between aliases s and o. */
static retl_err distinct(const struct eng_dialect *d, struct retl_buf *b,
                         const struct eng_state *st)
{
    retl_err rc = RETL_E_OK;
    char c[32];
    switch (d->id) {
    case ENG_DL_POSTGRES:
        RETL_TRY(retl_buf_adds(b, "ROW("));
        for (size_t i = 1; i < st->ncols; i++)
            RETL_TRY(retl_buf_printf(b, "%ss.\"c%zu\"", i > 1 ? ", " : "", i));
        RETL_TRY(retl_buf_adds(b, ") IS DISTINCT FROM ROW("));
        for (size_t i = 1; i < st->ncols; i++)
            RETL_TRY(retl_buf_printf(b, "%so.\"c%zu\"", i > 1 ? ", " : "", i));
        RETL_TRY(retl_buf_adds(b, ")"));
        break;
    case ENG_DL_SQLITE:
    case ENG_DL_SNOWFLAKE:
        RETL_TRY(retl_buf_adds(b, "("));
        for (size_t i = 1; i < st->ncols; i++) {
            snprintf(c, sizeof c, "c%zu", i);
            if (i > 1)
                RETL_TRY(retl_buf_adds(b, " OR "));
            RETL_TRY(col(d, b, "s", c));
            RETL_TRY(retl_buf_adds(b, d->id == ENG_DL_SQLITE ? " IS NOT "
                                                             : " IS DISTINCT FROM "));
            RETL_TRY(col(d, b, "o", c));
        }
        RETL_TRY(retl_buf_adds(b, ")"));
        break;
    default:
        /* INTERSECT treats NULLs as equal: portable NULL-safe comparison. */
        RETL_TRY(retl_buf_adds(b, "NOT EXISTS (SELECT "));
        for (size_t i = 1; i < st->ncols; i++) {
            snprintf(c, sizeof c, "c%zu", i);
            if (i > 1)
                RETL_TRY(retl_buf_adds(b, ", "));
            RETL_TRY(col(d, b, "s", c));
        }
        RETL_TRY(retl_buf_adds(b, " INTERSECT SELECT "));
        for (size_t i = 1; i < st->ncols; i++) {
            snprintf(c, sizeof c, "c%zu", i);
            if (i > 1)
                RETL_TRY(retl_buf_adds(b, ", "));
            RETL_TRY(col(d, b, "o", c));
        }
        RETL_TRY(retl_buf_adds(b, ")"));
        break;
    }
out:
    return rc;
}

static retl_err diff_join(const struct eng_dialect *d, struct retl_buf *b,
                          const struct eng_state *st, enum retl_mode mode)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "SELECT CASE WHEN "));
    RETL_TRY(col(d, b, "o", "k"));
    RETL_TRY(retl_buf_adds(b, " IS NULL THEN 'I' WHEN "));
    RETL_TRY(col(d, b, "s", "k"));
    RETL_TRY(retl_buf_adds(b, " IS NULL THEN 'D' ELSE 'U' END AS "));
    RETL_TRY(col(d, b, NULL, "op"));
    RETL_TRY(retl_buf_adds(b, ", COALESCE("));
    RETL_TRY(col(d, b, "s", "k"));
    RETL_TRY(retl_buf_adds(b, ", "));
    RETL_TRY(col(d, b, "o", "k"));
    RETL_TRY(retl_buf_adds(b, ") AS "));
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(vcols(d, b, st, "s"));
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(tbl(d, b, st, st->n.stage));
    RETL_TRY(retl_buf_adds(b, " AS s FULL JOIN "));
    RETL_TRY(tbl(d, b, st, st->n.snap));
    RETL_TRY(retl_buf_adds(b, " AS o ON "));
    RETL_TRY(col(d, b, "o", "k"));
    RETL_TRY(retl_buf_adds(b, " = "));
    RETL_TRY(col(d, b, "s", "k"));
    RETL_TRY(retl_buf_adds(b, " WHERE ("));
    RETL_TRY(col(d, b, "s", "k"));
    RETL_TRY(retl_buf_adds(b, " IS NULL AND "));
    RETL_TRY(col(d, b, "o", "st"));
    RETL_TRY(retl_buf_adds(b, " = 'L') OR "));
    RETL_TRY(col(d, b, "o", "k"));
    RETL_TRY(retl_buf_adds(b, " IS NULL"));
    if (mode == RETL_MODE_INSERT)
        return RETL_E_OK;
    RETL_TRY(retl_buf_adds(b, " OR ("));
    RETL_TRY(col(d, b, "s", "k"));
    RETL_TRY(retl_buf_adds(b, " IS NOT NULL AND ("));
    RETL_TRY(col(d, b, "o", "st"));
    RETL_TRY(retl_buf_adds(b, " <> 'L'"));
    if (st->ncols > 1) {
        RETL_TRY(retl_buf_adds(b, " OR "));
        RETL_TRY(distinct(d, b, st));
    }
    RETL_TRY(retl_buf_adds(b, "))"));
out:
    return rc;
}

/* "SELECT k, c1.. FROM t" */
static retl_err sel_all(const struct eng_dialect *d, struct retl_buf *b,
                        const struct eng_state *st, const char *t)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "SELECT "));
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(vcols(d, b, st, NULL));
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(tbl(d, b, st, t));
out:
    return rc;
}

/* "SELECT k FROM t" */
static retl_err sel_k(const struct eng_dialect *d, struct retl_buf *b,
                      const struct eng_state *st, const char *t)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "SELECT "));
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(tbl(d, b, st, t));
out:
    return rc;
}

static retl_err diff_except(const struct eng_dialect *d, struct retl_buf *b,
                            const struct eng_state *st, enum retl_mode mode)
{
    retl_err rc;
    char c[32];
    RETL_TRY(retl_buf_adds(b, "SELECT CASE WHEN "));
    RETL_TRY(col(d, b, "o", "k"));
    RETL_TRY(retl_buf_adds(b, " IS NULL THEN 'I' ELSE 'U' END AS "));
    RETL_TRY(col(d, b, NULL, "op"));
    RETL_TRY(retl_buf_adds(b, ", "));
    RETL_TRY(col(d, b, "ch", "k"));
    RETL_TRY(retl_buf_adds(b, " AS "));
    RETL_TRY(col(d, b, NULL, "k"));
    for (size_t i = 1; i < st->ncols; i++) {
        snprintf(c, sizeof c, "c%zu", i);
        RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(col(d, b, "ch", c));
        RETL_TRY(retl_buf_adds(b, " AS "));
        RETL_TRY(col(d, b, NULL, c));
    }
    RETL_TRY(retl_buf_adds(b, " FROM ("));
    RETL_TRY(sel_all(d, b, st, st->n.stage));
    if (mode == RETL_MODE_INSERT) {
        RETL_TRY(retl_buf_adds(b, " WHERE "));
        RETL_TRY(col(d, b, NULL, "k"));
        RETL_TRY(retl_buf_adds(b, " IN ("));
        RETL_TRY(sel_k(d, b, st, st->n.stage));
        RETL_TRY(retl_buf_printf(b, " %s ", d->except_kw));
        RETL_TRY(sel_k(d, b, st, st->n.snap));
        RETL_TRY(retl_buf_adds(b, ")"));
    } else {
        RETL_TRY(retl_buf_printf(b, " %s ", d->except_kw));
        RETL_TRY(sel_all(d, b, st, st->n.snap));
        RETL_TRY(retl_buf_adds(b, " WHERE "));
        RETL_TRY(col(d, b, NULL, "st"));
        RETL_TRY(retl_buf_adds(b, " = 'L'"));
    }
    RETL_TRY(retl_buf_adds(b, ") AS ch LEFT JOIN "));
    RETL_TRY(tbl(d, b, st, st->n.snap));
    RETL_TRY(retl_buf_adds(b, " AS o ON "));
    RETL_TRY(col(d, b, "o", "k"));
    RETL_TRY(retl_buf_adds(b, " = "));
    RETL_TRY(col(d, b, "ch", "k"));
    RETL_TRY(retl_buf_adds(b, "\nUNION ALL\nSELECT 'D', "));
    RETL_TRY(col(d, b, "g", "k"));
    for (size_t i = 1; i < st->ncols; i++)
        RETL_TRY(retl_buf_printf(b, ", CAST(NULL AS %s)", d->text_type));
    RETL_TRY(retl_buf_adds(b, " FROM ("));
    RETL_TRY(sel_k(d, b, st, st->n.snap));
    RETL_TRY(retl_buf_adds(b, " WHERE "));
    RETL_TRY(col(d, b, NULL, "st"));
    RETL_TRY(retl_buf_printf(b, " = 'L' %s ", d->except_kw));
    RETL_TRY(sel_k(d, b, st, st->n.stage));
    RETL_TRY(retl_buf_adds(b, ") AS g"));
out:
    return rc;
}

retl_err eng_dl_sql_diff_select(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st, enum retl_mode mode,
                                enum eng_diff how)
{
    if (how == ENG_DIFF_EXCEPT)
        return diff_except(d, b, st, mode);
    return diff_join(d, b, st, mode);
}

retl_err eng_dl_sql_delta_counts(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st)
{
    retl_err rc;
    static const char ops[] = "IUD";
    RETL_TRY(retl_buf_adds(b, "SELECT "));
    for (int i = 0; i < 3; i++) {
        RETL_TRY(retl_buf_adds(b, i ? ", COALESCE(SUM(CASE WHEN "
                                    : "COALESCE(SUM(CASE WHEN "));
        RETL_TRY(col(d, b, NULL, "op"));
        RETL_TRY(retl_buf_printf(b, " = '%c' THEN 1 ELSE 0 END), 0)", ops[i]));
    }
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(tbl(d, b, st, st->n.delta));
out:
    return rc;
}

retl_err eng_dl_sql_errors_prune(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "DELETE FROM "));
    RETL_TRY(tbl(d, b, st, st->n.errors));
    RETL_TRY(retl_buf_adds(b, " WHERE "));
    RETL_TRY(col(d, b, NULL, "key"));
    RETL_TRY(retl_buf_adds(b, " NOT IN (SELECT "));
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(tbl(d, b, st, st->n.delta));
    RETL_TRY(retl_buf_adds(b, " WHERE "));
    RETL_TRY(col(d, b, NULL, "op"));
    RETL_TRY(retl_buf_adds(b, " <> 'D')"));
out:
    return rc;
}

retl_err eng_dl_sql_delta_read(const struct eng_dialect *d, struct retl_buf *b,
                               const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "SELECT "));
    RETL_TRY(col(d, b, NULL, "op"));
    RETL_TRY(retl_buf_adds(b, ", "));
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(vcols(d, b, st, NULL));
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(tbl(d, b, st, st->n.delta));
    RETL_TRY(retl_buf_adds(b, " WHERE "));
    RETL_TRY(col(d, b, NULL, "op"));
    RETL_TRY(retl_buf_adds(b, " <> 'D'"));
out:
    return rc;
}

static retl_err batch_tbl(const struct eng_dialect *d, struct retl_buf *b,
                          const struct eng_state *st)
{
    char t[ENG_IDENT_MAX + 1];
    eng_dl_batch_name(st, t);
    return tbl(d, b, st, t);
}

retl_err eng_dl_sql_batch_clear(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "DELETE FROM "));
    RETL_TRY(batch_tbl(d, b, st));
out:
    return rc;
}

static retl_err lit_or_null(const struct eng_dialect *d, struct retl_buf *b,
                            const char *v)
{
    return v ? eng_dl_literal(d, b, v) : retl_buf_adds(b, "NULL");
}

retl_err eng_dl_sql_batch_insert(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st,
                                 const struct eng_dl_outcome *rows, size_t n)
{
    retl_err rc;
    static const char *const cols[] = {"k",      "ok", "code", "message",
                                       "fields", "rj", "ph"};
    RETL_TRY(retl_buf_adds(b, "INSERT INTO "));
    RETL_TRY(batch_tbl(d, b, st));
    RETL_TRY(retl_buf_adds(b, " ("));
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        if (i)
            RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(col(d, b, NULL, cols[i]));
    }
    RETL_TRY(retl_buf_adds(b, ") VALUES "));
    for (size_t i = 0; i < n; i++) {
        const struct eng_dl_outcome *r = &rows[i];
        RETL_TRY(retl_buf_adds(b, i ? ",\n(" : "\n("));
        RETL_TRY(eng_dl_literal(d, b, r->key));
        RETL_TRY(retl_buf_adds(b, r->ok ? ", 't', " : ", 'f', "));
        RETL_TRY(lit_or_null(d, b, r->ok ? NULL : r->code));
        RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(lit_or_null(d, b, r->ok ? NULL : r->message));
        RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(lit_or_null(d, b, r->ok ? NULL : r->fields));
        RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(lit_or_null(d, b, r->ok ? NULL : r->row_json));
        RETL_TRY(retl_buf_adds(b, ", 'n')"));
    }
out:
    return rc;
}

/* "(SELECT k FROM batch WHERE ph = 'n'[ AND ok = 'x'])" */
static retl_err batch_keys(const struct eng_dialect *d, struct retl_buf *b,
                           const struct eng_state *st, char ok)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "(SELECT "));
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(batch_tbl(d, b, st));
    RETL_TRY(retl_buf_adds(b, " WHERE "));
    RETL_TRY(col(d, b, NULL, "ph"));
    RETL_TRY(retl_buf_adds(b, " = 'n'"));
    if (ok) {
        RETL_TRY(retl_buf_adds(b, " AND "));
        RETL_TRY(col(d, b, NULL, "ok"));
        RETL_TRY(retl_buf_printf(b, " = '%c'", ok));
    }
    RETL_TRY(retl_buf_adds(b, ")"));
out:
    return rc;
}

retl_err eng_dl_sql_commit(const struct eng_dialect *d, struct retl_buf *b,
                           const struct eng_state *st, long long run, const char *op,
                           const char *now)
{
    retl_err rc;
    /* 0: successes leave the snapshot ... */
    RETL_TRY(retl_buf_adds(&b[0], "DELETE FROM "));
    RETL_TRY(tbl(d, &b[0], st, st->n.snap));
    RETL_TRY(retl_buf_adds(&b[0], " WHERE "));
    RETL_TRY(col(d, &b[0], NULL, "k"));
    RETL_TRY(retl_buf_adds(&b[0], " IN "));
    RETL_TRY(batch_keys(d, &b[0], st, 't'));
    /* 1: ... and come back with the values sent (from this run's delta). */
    RETL_TRY(retl_buf_adds(&b[1], "INSERT INTO "));
    RETL_TRY(tbl(d, &b[1], st, st->n.snap));
    RETL_TRY(retl_buf_adds(&b[1], " ("));
    RETL_TRY(col(d, &b[1], NULL, "k"));
    RETL_TRY(retl_buf_adds(&b[1], ", "));
    RETL_TRY(col(d, &b[1], NULL, "st"));
    RETL_TRY(vcols(d, &b[1], st, NULL));
    RETL_TRY(retl_buf_adds(&b[1], ") SELECT "));
    RETL_TRY(col(d, &b[1], "dl", "k"));
    RETL_TRY(retl_buf_adds(&b[1], ", 'L'"));
    RETL_TRY(vcols(d, &b[1], st, "dl"));
    RETL_TRY(retl_buf_adds(&b[1], " FROM "));
    RETL_TRY(tbl(d, &b[1], st, st->n.delta));
    RETL_TRY(retl_buf_adds(&b[1], " AS dl WHERE "));
    RETL_TRY(col(d, &b[1], "dl", "op"));
    RETL_TRY(retl_buf_adds(&b[1], " <> 'D' AND "));
    RETL_TRY(col(d, &b[1], "dl", "k"));
    RETL_TRY(retl_buf_adds(&b[1], " IN "));
    RETL_TRY(batch_keys(d, &b[1], st, 't'));
    /* 2: remember first failure and attempts of keys failing again. */
    RETL_TRY(retl_buf_adds(&b[2], "INSERT INTO "));
    RETL_TRY(batch_tbl(d, &b[2], st));
    RETL_TRY(retl_buf_adds(&b[2], " ("));
    RETL_TRY(col(d, &b[2], NULL, "k"));
    RETL_TRY(retl_buf_adds(&b[2], ", "));
    RETL_TRY(col(d, &b[2], NULL, "ok"));
    RETL_TRY(retl_buf_adds(&b[2], ", "));
    RETL_TRY(col(d, &b[2], NULL, "ph"));
    RETL_TRY(retl_buf_adds(&b[2], ", "));
    RETL_TRY(col(d, &b[2], NULL, "ff"));
    RETL_TRY(retl_buf_adds(&b[2], ", "));
    RETL_TRY(col(d, &b[2], NULL, "att"));
    RETL_TRY(retl_buf_adds(&b[2], ") SELECT "));
    RETL_TRY(col(d, &b[2], "e", "key"));
    RETL_TRY(retl_buf_adds(&b[2], ", 'f', 'e', "));
    RETL_TRY(col(d, &b[2], "e", "first_failed"));
    RETL_TRY(retl_buf_adds(&b[2], ", "));
    RETL_TRY(col(d, &b[2], "e", "attempts"));
    RETL_TRY(retl_buf_adds(&b[2], " FROM "));
    RETL_TRY(tbl(d, &b[2], st, st->n.errors));
    RETL_TRY(retl_buf_adds(&b[2], " AS e WHERE "));
    RETL_TRY(col(d, &b[2], "e", "key"));
    RETL_TRY(retl_buf_adds(&b[2], " IN "));
    RETL_TRY(batch_keys(d, &b[2], st, 'f'));
    /* 3: every key of the batch leaves errors ... */
    RETL_TRY(retl_buf_adds(&b[3], "DELETE FROM "));
    RETL_TRY(tbl(d, &b[3], st, st->n.errors));
    RETL_TRY(retl_buf_adds(&b[3], " WHERE "));
    RETL_TRY(col(d, &b[3], NULL, "key"));
    RETL_TRY(retl_buf_adds(&b[3], " IN "));
    RETL_TRY(batch_keys(d, &b[3], st, 0));
    /* 4: ... and the failing ones come back with attempts + 1. */
    RETL_TRY(retl_buf_adds(&b[4], "INSERT INTO "));
    RETL_TRY(tbl(d, &b[4], st, st->n.errors));
    RETL_TRY(retl_buf_adds(&b[4], " ("));
    static const char *const ecols[] = {
        "key",    "run", "operation",    "code",        "message",
        "fields", "row", "first_failed", "last_failed", "attempts"};
    for (size_t i = 0; i < sizeof ecols / sizeof ecols[0]; i++) {
        if (i)
            RETL_TRY(retl_buf_adds(&b[4], ", "));
        RETL_TRY(col(d, &b[4], NULL, ecols[i]));
    }
    RETL_TRY(retl_buf_adds(&b[4], ") SELECT "));
    RETL_TRY(col(d, &b[4], "b", "k"));
    RETL_TRY(retl_buf_printf(&b[4], ", %lld, ", run));
    RETL_TRY(eng_dl_literal(d, &b[4], op));
    static const char *const bcols[] = {"code", "message", "fields", "rj"};
    for (size_t i = 0; i < sizeof bcols / sizeof bcols[0]; i++) {
        RETL_TRY(retl_buf_adds(&b[4], ", "));
        RETL_TRY(col(d, &b[4], "b", bcols[i]));
    }
    RETL_TRY(retl_buf_adds(&b[4], ", COALESCE("));
    RETL_TRY(col(d, &b[4], "p", "ff"));
    RETL_TRY(retl_buf_adds(&b[4], ", "));
    RETL_TRY(eng_dl_literal(d, &b[4], now));
    RETL_TRY(retl_buf_adds(&b[4], "), "));
    RETL_TRY(eng_dl_literal(d, &b[4], now));
    RETL_TRY(retl_buf_adds(&b[4], ", COALESCE("));
    RETL_TRY(col(d, &b[4], "p", "att"));
    RETL_TRY(retl_buf_adds(&b[4], ", 0) + 1 FROM "));
    RETL_TRY(batch_tbl(d, &b[4], st));
    RETL_TRY(retl_buf_adds(&b[4], " AS b LEFT JOIN "));
    RETL_TRY(batch_tbl(d, &b[4], st));
    RETL_TRY(retl_buf_adds(&b[4], " AS p ON "));
    RETL_TRY(col(d, &b[4], "p", "k"));
    RETL_TRY(retl_buf_adds(&b[4], " = "));
    RETL_TRY(col(d, &b[4], "b", "k"));
    RETL_TRY(retl_buf_adds(&b[4], " AND "));
    RETL_TRY(col(d, &b[4], "p", "ph"));
    RETL_TRY(retl_buf_adds(&b[4], " = 'e' WHERE "));
    RETL_TRY(col(d, &b[4], "b", "ph"));
    RETL_TRY(retl_buf_adds(&b[4], " = 'n' AND "));
    RETL_TRY(col(d, &b[4], "b", "ok"));
    RETL_TRY(retl_buf_adds(&b[4], " = 'f'"));
out:
    return rc;
}

retl_err eng_dl_sql_finish(const struct eng_dialect *d, struct retl_buf *b,
                           const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "UPDATE "));
    RETL_TRY(tbl(d, b, st, st->n.snap));
    RETL_TRY(retl_buf_adds(b, " SET "));
    RETL_TRY(col(d, b, NULL, "st"));
    RETL_TRY(retl_buf_adds(b, " = 'G' WHERE "));
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(retl_buf_adds(b, " IN (SELECT "));
    RETL_TRY(col(d, b, NULL, "k"));
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(tbl(d, b, st, st->n.delta));
    RETL_TRY(retl_buf_adds(b, " WHERE "));
    RETL_TRY(col(d, b, NULL, "op"));
    RETL_TRY(retl_buf_adds(b, " = 'D')"));
out:
    return rc;
}

retl_err eng_dl_sql_errors_list(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st, size_t limit)
{
    retl_err rc;
    static const char *const ecols[] = {
        "run",    "key", "operation",    "code",        "message",
        "fields", "row", "first_failed", "last_failed", "attempts"};
    if (d->top)
        RETL_TRY(retl_buf_printf(b, "SELECT TOP (%zu) ", limit));
    else
        RETL_TRY(retl_buf_adds(b, "SELECT "));
    for (size_t i = 0; i < sizeof ecols / sizeof ecols[0]; i++) {
        if (i)
            RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(col(d, b, NULL, ecols[i]));
    }
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(tbl(d, b, st, st->n.errors));
    RETL_TRY(retl_buf_adds(b, " ORDER BY "));
    RETL_TRY(col(d, b, NULL, "key"));
    if (!d->top)
        RETL_TRY(retl_buf_printf(b, " LIMIT %zu", limit));
out:
    return rc;
}

retl_err eng_dl_sql_errors_count(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "SELECT COUNT(*) FROM "));
    RETL_TRY(tbl(d, b, st, st->n.errors));
out:
    return rc;
}

retl_err eng_dl_sql_lock(const struct eng_dialect *d, struct retl_buf *b, const char *id)
{
    retl_err rc;
    switch (d->id) {
    case ENG_DL_POSTGRES:
        RETL_TRY(retl_buf_adds(b, "SELECT CASE WHEN pg_try_advisory_lock("
                                  "hashtextextended("));
        RETL_TRY(eng_dl_literal(d, b, id));
        RETL_TRY(retl_buf_adds(b, ", 0)) THEN 1 ELSE 0 END"));
        break;
    case ENG_DL_TSQL:
        RETL_TRY(retl_buf_adds(b, "DECLARE @r INT; EXEC @r = sp_getapplock "
                                  "@Resource = "));
        RETL_TRY(eng_dl_literal(d, b, id));
        RETL_TRY(retl_buf_adds(b, ", @LockMode = 'Exclusive', @LockOwner = "
                                  "'Session', @LockTimeout = 0; SELECT CASE WHEN "
                                  "@r >= 0 THEN 1 ELSE 0 END"));
        break;
    default: return RETL_E_UNSUPPORTED;
    }
out:
    return rc;
}
