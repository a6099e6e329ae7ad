/* The lean snapshot of the warehouse dialects that have a real hash
 * function (T-SQL, Snowflake): the snapshot keeps k, st and h, the SHA-256
 * of the row's canonical values, and one statement (the query joined with
 * the snapshot) writes the delta. Dialects without a usable hash (SQLite,
 * ANSI through ODBC) keep the wide snapshot of sql_wh.c. */
#include <stdio.h>
#include <string.h>

#include "engine/source/sql_dialect.h"
#include "engine/source/sql_tmpl.h"

#define X(d, st) (&(const struct eng_sql){(d), (st), false})

bool eng_dl_lean(const struct eng_dialect *d)
{
    return d->id == ENG_DL_TSQL || d->id == ENG_DL_SNOWFLAKE;
}

const char *eng_dl_hash_type(const struct eng_dialect *d)
{
    return d->id == ENG_DL_TSQL ? "VARBINARY(32)" : "VARCHAR(64)";
}

/* The row hash over alias.c1..cn (alias "" for bare names). Every value is
 * written as "<length>:<value>", NULL as a piece without a length, so the
 * concatenation is unambiguous: NULL and '' differ, and no value can pass
 * for a separator. SHA-256, not CHECKSUM/BINARY_CHECKSUM (32 bits, and
 * blind to some changes: a missed collision is a missed update) nor
 * Snowflake's HASH() (64 bits, undocumented algorithm).
 * T-SQL: DATALENGTH counts the NVARCHAR's UTF-16 bytes (LEN would drop
 * trailing spaces), CONCAT reads NULL as '', HASHBYTES hashes the UTF-16LE
 * bytes. Snowflake: LENGTH counts characters, || yields NULL on NULL (hence
 * COALESCE to '~'), SHA2 hashes the UTF-8 bytes into 64 hex digits. */
retl_err eng_dl_row_hash(const struct eng_dialect *d, struct retl_buf *b,
                         const struct eng_state *st, const char *alias)
{
    retl_err rc = RETL_E_OK;
    char c[64];
    if (st->ncols < 2)
        return retl_buf_printf(b, "CAST(NULL AS %s)", eng_dl_hash_type(d));
    RETL_TRY(retl_buf_adds(b, d->id == ENG_DL_TSQL ? "HASHBYTES('SHA2_256', CONCAT("
                                                   : "SHA2("));
    for (size_t i = 1; i < st->ncols; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%zu", i);
        struct retl_buf q;
        retl_buf_init(&q, sizeof c);
        rc = *alias ? retl_buf_printf(&q, "%s.", alias) : RETL_E_OK;
        if (!rc)
            rc = eng_dl_ident(d, &q, name);
        if (!rc)
            snprintf(c, sizeof c, "%s", retl_buf_str(&q));
        retl_buf_free(&q);
        if (rc)
            goto out;
        if (d->id == ENG_DL_TSQL)
            RETL_TRY(retl_buf_printf(b, "%sDATALENGTH(%s), N':', %s", i > 1 ? ", " : "",
                                     c, c));
        else
            RETL_TRY(retl_buf_printf(b, "%sCOALESCE(LENGTH(%s) || ':' || %s, '~')",
                                     i > 1 ? " || " : "", c, c));
    }
    RETL_TRY(retl_buf_adds(b, d->id == ENG_DL_TSQL ? "))" : ", 256)"));
out:
    return rc;
}

/* The delta in one statement: the query's canonical rows (s, with their
 * hash) fully joined with the snapshot (o). op is I (new key, or a NULL key,
 * which the caller rejects), U (changed), D (a loaded key gone) or N
 * (unchanged); st is the matched snapshot row's status. Unchanged rows of
 * loaded keys (N, st L: nearly every row of an incremental run) and
 * snapshot rows alone that were not loaded (X) are not written: the query's
 * row count comes from the snapshot instead (eng_dl_sql_lean_counts), so
 * the query is read once. Insert mode's N rows of keys not loaded are
 * written (they are not counted by the snapshot's L rows). */
retl_err eng_dl_sql_lean_diff(const struct eng_dialect *d, struct retl_buf *b,
                              const struct eng_state *st, enum retl_mode mode,
                              const char *const *real, const char *query)
{
    retl_err rc;
    struct retl_buf sel;
    retl_buf_init(&sel, ENG_DL_SQL_MAX);
    RETL_TRY(eng_sql_fmt(X(d, st), b,
                         "SELECT {x.op}, {x.k}, {x.h}{x.c*}, {x.st} FROM (SELECT CASE "
                         "WHEN {o.k} IS NULL THEN 'I' WHEN {s.k} IS NULL THEN CASE WHEN "
                         "{o.st} = 'L' THEN 'D' ELSE 'X' END"));
    if (mode != RETL_MODE_INSERT) {
        RETL_TRY(eng_sql_fmt(X(d, st), b, " WHEN {o.st} <> 'L'"));
        if (st->ncols > 1)
            RETL_TRY(eng_sql_fmt(X(d, st), b, " OR {o.h} IS NULL OR {o.h} <> {s.h}"));
        RETL_TRY(retl_buf_adds(b, " THEN 'U'"));
    }
    RETL_TRY(eng_sql_fmt(X(d, st), b,
                         " ELSE 'N' END AS {op}, COALESCE({s.k}, {o.k}) AS "
                         "{k}, {s.h} AS {h}{s.c*}, {o.st} AS {st} FROM (SELECT z.*, "));
    RETL_TRY(eng_dl_row_hash(d, b, st, "z"));
    RETL_TRY(eng_sql_fmt(X(d, st), b, " AS {h} FROM ("));
    RETL_TRY(eng_dl_sql_stage_select(d, &sel, st, real, query));
    RETL_TRY(retl_buf_adds(b, retl_buf_str(&sel)));
    RETL_TRY(
        eng_sql_fmt(X(d, st), b,
                    ") AS z) AS s FULL JOIN {snap} AS o ON {o.k} = {s.k}) AS x WHERE "
                    "{x.op} <> 'X' AND ({x.op} <> 'N' OR {x.st} <> 'L')"));
out:
    retl_buf_free(&sel);
    return rc;
}

/* Column 3 is the query's rows not matched to a loaded key (st NULL: new
 * keys; st not L: keys kept from a baseline or gone before). The query's
 * row count is that plus the loaded keys it matched, which are the
 * snapshot's L rows less the D rows (eng_wh_diff adds them). A key the
 * query repeats among unchanged rows is counted once: the run stays
 * correct (such duplicates are allowed as before, see eng_dl_sql_dups), only
 * rows.extracted is short by the repeats. A NULL key can only be an I row. */
retl_err eng_dl_sql_lean_counts(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st)
{
    return eng_sql_fmt(
        X(d, st), b,
        "SELECT COALESCE(SUM(CASE WHEN {op} = 'I' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN {op} = 'U' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN {op} = 'D' THEN 1 ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN {op} <> 'D' AND ({st} IS NULL OR {st} <> 'L') THEN 1 "
        "ELSE 0 END), 0), "
        "COALESCE(SUM(CASE WHEN {op} = 'I' AND {k} IS NULL THEN 1 ELSE 0 END), 0) FROM "
        "{delta}");
}

retl_err eng_dl_sql_lean_add_h(const struct eng_dialect *d, struct retl_buf *b,
                               const struct eng_state *st)
{
    return eng_sql_fmt(X(d, st), b, "ALTER TABLE {snap} ADD {h} %s", eng_dl_hash_type(d));
}

retl_err eng_dl_sql_lean_fill_h(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(eng_sql_fmt(X(d, st), b, "UPDATE {snap} SET {h} = "));
    RETL_TRY(eng_dl_row_hash(d, b, st, ""));
    RETL_TRY(eng_sql_fmt(X(d, st), b, " WHERE {st} = 'L'"));
out:
    return rc;
}

retl_err eng_dl_sql_drop_column(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st, const char *column)
{
    return eng_sql_fmt(X(d, st), b, "ALTER TABLE {snap} DROP COLUMN %I", column);
}
