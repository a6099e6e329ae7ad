#include "engine/source/sql_dialect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/base/sql_text.h"

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
