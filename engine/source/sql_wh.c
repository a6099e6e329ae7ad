/* The generic warehouse source's statements (ODBC, SQL Server, Snowflake),
 * one template each (sql_tmpl.h), expanded per dialect. */
#include "engine/source/sql_dialect.h"

#include <stdio.h>
#include <string.h>

#include "engine/source/sql_tmpl.h"

#define X(d, st) (&(const struct eng_sql){(d), (st), false})

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

retl_err eng_dl_sql_column_exists(const struct eng_dialect *d, struct retl_buf *b,
                                  const char *schema, const char *t, const char *column,
                                  struct eng_dl_params *p)
{
    if (!d->schemas) {
        snprintf(p->buf, sizeof p->buf, "%s_%s", schema, t);
        p->v[0] = p->buf;
        p->v[1] = column;
        p->n = 2;
        return retl_buf_adds(b,
                             "SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?");
    }
    p->v[0] = schema;
    p->v[1] = t;
    p->v[2] = column;
    p->n = 3;
    return retl_buf_adds(b,
                         "SELECT COUNT(*) FROM information_schema.columns "
                         "WHERE table_schema = ? AND table_name = ? AND column_name = ?");
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

/* A column of a state table's definition: its name, and its type as a
 * dialect type (K key, T text, F flag, I integer) or "c*" for the value
 * columns (text each). */
struct coldef {
    const char *name;
    char type;
    const char *extra;
};

static const char *dl_type(const struct eng_dialect *d, char t)
{
    switch (t) {
    case 'K': return d->key_type;
    case 'F': return d->flag_type;
    case 'I': return d->int_type;
    case 'H': return eng_dl_hash_type(d);
    default: return d->text_type;
    }
}

/* "CREATE TABLE t (name type extra, ...)" */
static retl_err create(const struct eng_dialect *d, struct retl_buf *b,
                       const struct eng_state *st, const char *t,
                       const struct coldef *defs, size_t n)
{
    retl_err rc;
    RETL_TRY(eng_sql_fmt(X(d, st), b, "CREATE TABLE %T (", t));
    for (size_t i = 0; i < n; i++) {
        const char *type = dl_type(d, defs[i].type);
        const char *extra = defs[i].extra ? defs[i].extra : "";
        if (strcmp(defs[i].name, "c*") != 0) {
            RETL_TRY(eng_sql_fmt(X(d, st), b, "%s%I %s%s", i ? ", " : "", defs[i].name,
                                 type, extra));
            continue;
        }
        for (size_t c = 1; c < st->ncols; c++) {
            char name[32];
            snprintf(name, sizeof name, "c%zu", c);
            RETL_TRY(eng_sql_fmt(X(d, st), b, ", %I %s", name, type));
        }
    }
    RETL_TRY(retl_buf_adds(b, ")"));
out:
    return rc;
}

#define CREATE(d, b, st, t, defs) create(d, b, st, t, defs, sizeof defs / sizeof defs[0])

retl_err eng_dl_sql_create_meta(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st)
{
    static const struct coldef defs[] = {{"k", 'K', " NOT NULL PRIMARY KEY"},
                                         {"v", 'T', " NOT NULL"}};
    return CREATE(d, b, st, st->n.meta, defs);
}

retl_err eng_dl_sql_create_errors(const struct eng_dialect *d, struct retl_buf *b,
                                  const struct eng_state *st)
{
    static const struct coldef defs[] = {
        {"key", 'K', " NOT NULL PRIMARY KEY"},
        {"run", 'I', NULL},
        {"operation", 'T', NULL},
        {"code", 'T', NULL},
        {"message", 'T', NULL},
        {"fields", 'T', NULL},
        {"row", 'T', NULL},
        {"first_failed", 'T', NULL},
        {"last_failed", 'T', NULL},
        {"attempts", 'I', NULL},
        {"class", 'T', NULL},
        {"h", 'T', NULL},
    };
    return CREATE(d, b, st, st->n.errors, defs);
}

retl_err eng_dl_sql_errors_add(const struct eng_dialect *d, struct retl_buf *b,
                               const struct eng_state *st, const char *column)
{
    return eng_sql_fmt(X(d, st), b, "ALTER TABLE {errors} ADD %I %s", column,
                       d->text_type);
}

retl_err eng_dl_sql_snap_add_id(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st)
{
    return eng_sql_fmt(X(d, st), b, "ALTER TABLE {snap} ADD {id} %s", d->text_type);
}

retl_err eng_dl_sql_create_snap(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st)
{
    /* id: the destination's record id from the key's last write (NULL for
     * destinations without ids), which deletes address records by. */
    static const struct coldef defs[] = {{"k", 'K', " NOT NULL PRIMARY KEY"},
                                         {"st", 'F', " NOT NULL"},
                                         {"c*", 'T', NULL},
                                         {"id", 'T', NULL}};
    static const struct coldef lean[] = {{"k", 'K', " NOT NULL PRIMARY KEY"},
                                         {"st", 'F', " NOT NULL"},
                                         {"h", 'H', NULL},
                                         {"id", 'T', NULL}};
    if (eng_dl_lean(d))
        return CREATE(d, b, st, st->n.snap, lean);
    return CREATE(d, b, st, st->n.snap, defs);
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
    static const struct coldef defs[] = {
        {"k", 'K', NULL},       {"ok", 'F', NULL},           {"code", 'T', NULL},
        {"message", 'T', NULL}, {"fields", 'T', NULL},       {"row_json", 'T', NULL},
        {"origin", 'F', NULL},  {"first_failed", 'T', NULL}, {"attempts", 'I', NULL},
        {"op", 'T', NULL},      {"cls", 'T', NULL},          {"h", 'T', NULL},
        {"id", 'T', NULL},
    };
    char t[ENG_IDENT_MAX + 1];
    eng_dl_batch_name(st, t);
    return CREATE(d, b, st, t, defs);
}

retl_err eng_dl_sql_drop(const struct eng_dialect *d, struct retl_buf *b,
                         const struct eng_state *st, const char *t)
{
    return eng_sql_fmt(X(d, st), b, "DROP TABLE IF EXISTS %T", t);
}

retl_err eng_dl_sql_meta_get(const struct eng_dialect *d, struct retl_buf *b,
                             const struct eng_state *st, const char *k,
                             struct eng_dl_params *p)
{
    retl_err rc = eng_sql_fmt(X(d, st), b, "SELECT {v} FROM {meta} WHERE {k} = ?");
    if (rc == RETL_E_OK) {
        p->v[0] = k;
        p->n = 1;
    }
    return rc;
}

retl_err eng_dl_sql_meta_set(const struct eng_dialect *d, struct retl_buf *del,
                             struct retl_buf *ins, const struct eng_state *st,
                             const char *k, const char *v)
{
    retl_err rc;
    RETL_TRY(eng_sql_fmt(X(d, st), del, "DELETE FROM {meta} WHERE {k} = %L", k));
    RETL_TRY(eng_sql_fmt(X(d, st), ins, "INSERT INTO {meta} ({k}, {v}) VALUES (%L, %L)",
                         k, v));
out:
    return rc;
}

retl_err eng_dl_sql_create_as(const struct eng_dialect *d, struct retl_buf *b,
                              const struct eng_state *st, const char *t,
                              const char *select)
{
    if (d->select_into)
        return eng_sql_fmt(X(d, st), b, "SELECT * INTO %T FROM (\n%s\n) AS x", t, select);
    return eng_sql_fmt(X(d, st), b, "%s %T AS\n%s", d->ctas, t, select);
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
    RETL_TRY(eng_sql_fmt(X(d, st), &sel, "SELECT {k}, {id} FROM {snap}"));
    RETL_TRY(eng_dl_sql_create_as(d, &b[1], st, keys, retl_buf_str(&sel)));
    RETL_TRY(eng_sql_fmt(X(d, st), &b[2], "DROP TABLE {snap}"));
    RETL_TRY(eng_dl_sql_create_snap(d, &b[3], st));
    RETL_TRY(
        eng_sql_fmt(X(d, st), &b[4],
                    "INSERT INTO {snap} ({k}, {st}, {id}) SELECT {k}, 'K', {id} FROM "
                    "{keys}"));
    RETL_TRY(eng_dl_sql_drop(d, &b[5], st, keys));
    RETL_TRY(eng_sql_fmt(X(d, st), &b[6], "DELETE FROM {errors}"));
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
        RETL_TRY(eng_sql_fmt(X(d, st), &c, "q.%I", real[i]));
        if (i)
            snprintf(alias, sizeof alias, "c%zu", i);
        else
            snprintf(alias, sizeof alias, "k");
        RETL_TRY(retl_buf_adds(b, i ? ", " : ""));
        RETL_TRY(eng_dl_canon_expr(d, b, retl_buf_str(&c), st->cols[i].sql_type,
                                   st->cols[i].type));
        RETL_TRY(eng_sql_fmt(X(d, st), b, " AS %I", alias));
    }
    RETL_TRY(retl_buf_printf(b, " FROM (\n%s\n) AS q", query));
out:
    retl_buf_free(&c);
    return rc;
}

retl_err eng_dl_sql_stage_count(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st)
{
    return eng_sql_fmt(X(d, st), b,
                       "SELECT COUNT(*), COALESCE(SUM(CASE WHEN {k} IS NULL THEN 1 ELSE "
                       "0 END), 0) FROM {stage}");
}

/* The delta rows to send (I, U): the lean delta also has N rows (Insert
 * mode's matched keys not loaded), and P are rows left out as failing
 * permanently (unchanged). Written as exclusions, which the planner
 * estimates as most of the delta, so that a commit's join with the batch
 * stays a hash join (IN ('I', 'U') on the
 * unanalysed delta looked like 1% of it and made a nested loop: 50 times
 * slower at 100k rows). */
static const char *sent(const struct eng_dialect *d)
{
    return eng_dl_lean(d) ? "NOT IN ('D', 'N', 'P')" : "NOT IN ('D', 'P')";
}

retl_err eng_dl_sql_dups(const struct eng_dialect *d, struct retl_buf *b,
                         const struct eng_state *st, bool delta)
{
    const char *top = d->top ? "SELECT TOP (5) " : "SELECT ";
    const char *limit = d->top ? "" : " LIMIT 5";
    if (delta)
        return eng_sql_fmt(X(d, st), b,
                           "%s{k} FROM {delta} WHERE {op} %s AND {k} IS NOT NULL "
                           "GROUP BY {k} HAVING COUNT(*) > 1 ORDER BY {k}%s",
                           top, sent(d), limit);
    return eng_sql_fmt(X(d, st), b,
                       "%s{k} FROM {stage} WHERE {k} IS NOT NULL GROUP BY {k} "
                       "HAVING COUNT(*) > 1 ORDER BY {k}%s",
                       top, limit);
}

/* The NULL-safe "value columns differ" predicate between aliases s and o. */
static retl_err distinct(const struct eng_dialect *d, struct retl_buf *b,
                         const struct eng_state *st)
{
    retl_err rc = RETL_E_OK;
    char c[32];
    switch (d->id) {
    case ENG_DL_POSTGRES:
        return eng_sql_fmt(X(d, st), b, "ROW({s.c+}) IS DISTINCT FROM ROW({o.c+})");
    case ENG_DL_SQLITE:
    case ENG_DL_SNOWFLAKE:
        RETL_TRY(retl_buf_adds(b, "("));
        for (size_t i = 1; i < st->ncols; i++) {
            snprintf(c, sizeof c, "c%zu", i);
            RETL_TRY(eng_sql_fmt(
                X(d, st), b, "%ss.%I%so.%I", i > 1 ? " OR " : "", c,
                d->id == ENG_DL_SQLITE ? " IS NOT " : " IS DISTINCT FROM ", c));
        }
        RETL_TRY(retl_buf_adds(b, ")"));
        break;
    default:
        /* INTERSECT treats NULLs as equal: portable NULL-safe comparison. */
        return eng_sql_fmt(X(d, st), b,
                           "NOT EXISTS (SELECT {s.c+} INTERSECT SELECT {o.c+})");
    }
out:
    return rc;
}

static retl_err diff_join(const struct eng_dialect *d, struct retl_buf *b,
                          const struct eng_state *st, enum retl_mode mode)
{
    retl_err rc;
    RETL_TRY(
        eng_sql_fmt(X(d, st), b,
                    "SELECT CASE WHEN {o.k} IS NULL THEN 'I' WHEN {s.k} IS NULL THEN "
                    "'D' ELSE 'U' END AS {op}, COALESCE({s.k}, {o.k}) AS {k}{s.c*} "
                    "FROM {stage} AS s FULL JOIN {snap} AS o ON {o.k} = {s.k} WHERE "
                    "({s.k} IS NULL AND {o.st} = 'L') OR {o.k} IS NULL"));
    if (mode == RETL_MODE_INSERT)
        return RETL_E_OK;
    RETL_TRY(eng_sql_fmt(X(d, st), b, " OR ({s.k} IS NOT NULL AND ({o.st} <> 'L'"));
    if (st->ncols > 1) {
        RETL_TRY(retl_buf_adds(b, " OR "));
        RETL_TRY(distinct(d, b, st));
    }
    RETL_TRY(retl_buf_adds(b, "))"));
out:
    return rc;
}

static retl_err diff_except(const struct eng_dialect *d, struct retl_buf *b,
                            const struct eng_state *st, enum retl_mode mode)
{
    retl_err rc;
    char c[32];
    RETL_TRY(eng_sql_fmt(X(d, st), b,
                         "SELECT CASE WHEN {o.k} IS NULL THEN 'I' ELSE 'U' END "
                         "AS {op}, {ch.k} AS {k}"));
    for (size_t i = 1; i < st->ncols; i++) {
        snprintf(c, sizeof c, "c%zu", i);
        RETL_TRY(eng_sql_fmt(X(d, st), b, ", ch.%I AS %I", c, c));
    }
    if (mode == RETL_MODE_INSERT)
        RETL_TRY(
            eng_sql_fmt(X(d, st), b,
                        " FROM (SELECT {k}{c*} FROM {stage} WHERE {k} IN (SELECT {k} "
                        "FROM {stage} %s SELECT {k} FROM {snap})",
                        d->except_kw));
    else
        RETL_TRY(eng_sql_fmt(X(d, st), b,
                             " FROM (SELECT {k}{c*} FROM {stage} %s SELECT {k}{c*} FROM "
                             "{snap} WHERE {st} = 'L'",
                             d->except_kw));
    RETL_TRY(
        eng_sql_fmt(X(d, st), b,
                    ") AS ch LEFT JOIN {snap} AS o ON {o.k} = {ch.k}\nUNION ALL\nSELECT "
                    "'D', {g.k}"));
    for (size_t i = 1; i < st->ncols; i++)
        RETL_TRY(retl_buf_printf(b, ", CAST(NULL AS %s)", d->text_type));
    RETL_TRY(
        eng_sql_fmt(X(d, st), b,
                    " FROM (SELECT {k} FROM {snap} WHERE {st} = 'L' %s SELECT {k} FROM "
                    "{stage}) AS g",
                    d->except_kw));
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
    return eng_sql_fmt(X(d, st), b,
                       "SELECT COALESCE(SUM(CASE WHEN {op} = 'I' THEN 1 ELSE 0 END), 0), "
                       "COALESCE(SUM(CASE WHEN {op} = 'U' THEN 1 ELSE 0 END), 0), "
                       "COALESCE(SUM(CASE WHEN {op} = 'D' THEN 1 ELSE 0 END), 0) FROM "
                       "{delta}");
}

/* Error rows stay for the keys still to send, those skipped as failing
 * permanently (P) and, with propagated deletes, the deleted ones (D). */
retl_err eng_dl_sql_errors_prune(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st, bool dels)
{
    const char *keep = eng_dl_lean(d) ? (dels ? "<> 'N'" : "NOT IN ('D', 'N')")
                                      : (dels ? "IS NOT NULL" : "<> 'D'");
    return eng_sql_fmt(X(d, st), b,
                       "DELETE FROM {errors} WHERE {key} NOT IN (SELECT {k} FROM {delta} "
                       "WHERE {op} %s)",
                       keep);
}

retl_err eng_dl_sql_delta_read(const struct eng_dialect *d, struct retl_buf *b,
                               const struct eng_state *st, bool dels)
{
    retl_err rc;
    bool lean = eng_dl_lean(d);
    RETL_TRY(eng_sql_fmt(X(d, st), b,
                         dels ? "SELECT {d.op}, {d.k}{d.c*}, {o.id}"
                              : "SELECT {d.op}, {d.k}{d.c*}"));
    /* The lean hash as text: T-SQL's VARBINARY as hex digits (style 2, read
     * back the same way at commit), Snowflake's is hex text already. */
    if (lean && d->id == ENG_DL_TSQL)
        RETL_TRY(eng_sql_fmt(X(d, st), b, ", CONVERT(NVARCHAR(MAX), {d.h}, 2)"));
    else if (lean)
        RETL_TRY(eng_sql_fmt(X(d, st), b, ", {d.h}"));
    if (!dels)
        RETL_TRY(eng_sql_fmt(X(d, st), b, " FROM {delta} AS d WHERE {d.op} %s", sent(d)));
    else
        /* A join, not a correlated subquery: Snowflake evaluates only those
         * it can decorrelate. */
        RETL_TRY(eng_sql_fmt(X(d, st), b,
                             " FROM {delta} AS d LEFT JOIN {snap} AS o ON {d.op} = 'D' "
                             "AND {o.k} = {d.k} WHERE {d.op} %s",
                             lean ? "NOT IN ('N', 'P')" : "<> 'P'"));
out:
    return rc;
}

retl_err eng_dl_sql_permanent_count(const struct eng_dialect *d, struct retl_buf *b,
                                    const struct eng_state *st)
{
    return eng_sql_fmt(X(d, st), b,
                       "SELECT COUNT(*) FROM {errors} WHERE {class} = 'permanent'");
}

retl_err eng_dl_sql_permanent_rows(const struct eng_dialect *d, struct retl_buf *b,
                                   const struct eng_state *st)
{
    return eng_sql_fmt(X(d, st), b,
                       "SELECT {d.k}, {e.h}{d.c*} FROM {delta} AS d INNER JOIN {errors} "
                       "AS e ON {e.key} = {d.k} WHERE {e.class} = 'permanent' AND {d.op} "
                       "IN ('I', 'U')");
}

retl_err eng_dl_sql_permanent_skip(const struct eng_dialect *d, struct retl_buf *b,
                                   const struct eng_state *st, const char *const *keys,
                                   size_t n)
{
    retl_err rc;
    RETL_TRY(eng_sql_fmt(X(d, st), b, "UPDATE {delta} SET {op} = 'P' WHERE {k} IN ("));
    for (size_t i = 0; i < n; i++) {
        RETL_TRY(retl_buf_adds(b, i ? ", " : ""));
        RETL_TRY(eng_dl_literal(d, b, keys[i]));
    }
    RETL_TRY(retl_buf_adds(b, ")"));
out:
    return rc;
}

retl_err eng_dl_sql_synced_count(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st)
{
    return eng_sql_fmt(X(d, st), b, "SELECT COUNT(*) FROM {snap} WHERE {st} = 'L'");
}

retl_err eng_dl_sql_batch_clear(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st)
{
    return eng_sql_fmt(X(d, st), b, "DELETE FROM {batch}");
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
    RETL_TRY(eng_sql_fmt(X(d, st), b,
                         "INSERT INTO {batch} ({k}, {ok}, {code}, {message}, {fields}, "
                         "{row_json}, {op}, {cls}, {h}, {id}, {origin}) VALUES "));
    for (size_t i = 0; i < n; i++) {
        const struct eng_dl_outcome *r = &rows[i];
        const char *v[] = {r->code, r->message, r->fields, r->row_json,
                           r->op,   r->cls,     r->h,      r->id};
        RETL_TRY(retl_buf_adds(b, i ? ",\n(" : "\n("));
        RETL_TRY(eng_dl_literal(d, b, r->key));
        RETL_TRY(retl_buf_adds(b, r->ok ? ", 't'" : ", 'f'"));
        /* A success keeps only its operation (v[4]: Clear marks its keys
         * gone), lean hash (v[6], when set) and record id (v[7]); a failure
         * no id. */
        for (size_t j = 0; j < sizeof v / sizeof v[0]; j++) {
            bool keep = r->ok ? j == 4 || j == 6 || j == 7 : j != 7;
            RETL_TRY(retl_buf_adds(b, ", "));
            RETL_TRY(lit_or_null(d, b, keep ? v[j] : NULL));
        }
        RETL_TRY(retl_buf_adds(b, ", 'n')"));
    }
out:
    return rc;
}

/* The commit of a batch table, in order. {ok} below is the batch's keys
 * that succeeded, {failed} those that failed, {all} all of them. */
#define BATCH_KEYS(cond) "(SELECT {k} FROM {batch} WHERE {origin} = 'n'" cond ")"
static const char *const commit_stmts[ENG_DL_COMMIT_STMTS] = {
    /* 0: successes leave the snapshot ... */
    "DELETE FROM {snap} WHERE {k} IN " BATCH_KEYS(" AND {ok} = 't'"),
    /* 1: ... and come back with the values sent (from this run's delta). */
    "INSERT INTO {snap} ({k}, {st}{c*}) SELECT {dl.k}, 'L'{dl.c*} FROM {delta} AS dl "
    "WHERE {dl.op} <> 'D' AND {dl.k} IN " BATCH_KEYS(" AND {ok} = 't'"),
    /* 2: remember first failure and attempts of keys failing again. */
    "INSERT INTO {batch} ({k}, {ok}, {origin}, {first_failed}, {attempts}) SELECT "
    "{e.key}, "
    "'f', 'e', "
    "{e.first_failed}, {e.attempts} FROM {errors} AS e WHERE {e.key} IN " BATCH_KEYS(
        " AND {ok} = 'f'"),
    /* 3: every key of the batch leaves errors ... */
    "DELETE FROM {errors} WHERE {key} IN " BATCH_KEYS(""),
    /* 4: ... and the failing ones come back with attempts + 1, their
     * operation (the job's, or delete / clear), class and row hash. */
    "INSERT INTO {errors} ({key}, {run}, {operation}, {code}, {message}, {fields}, "
    "{row}, "
    "{first_failed}, {last_failed}, {attempts}, {class}, {h}) SELECT {b.k}, %lld, "
    "COALESCE({b.op}, %L), {b.code}, "
    "{b.message}, {b.fields}, {b.row_json}, COALESCE({p.first_failed}, %L), %L, "
    "COALESCE({p.attempts}, 0) + 1, {b.cls}, {b.h} FROM {batch} AS b LEFT JOIN {batch} "
    "AS p ON {p.k} = "
    "{b.k} AND {p.origin} = 'e' WHERE {b.origin} = 'n' AND {b.ok} = 'f'",
    /* 5 (Clear only): cleared keys stay in the snapshot as gone from the
     * query (G): cleared once, sent again if they come back. */
    "INSERT INTO {snap} ({k}, {st}) SELECT {k}, 'G' FROM {batch} WHERE {origin} = 'n' "
    "AND {ok} = 't' AND {op} = 'clear'",
};

/* Step 1 of the lean snapshot: the hash instead of the values. */
static const char commit_lean[] =
    "INSERT INTO {snap} ({k}, {st}, {h}) SELECT {dl.k}, 'L', {dl.h} FROM {delta} AS dl "
    "WHERE {dl.op} NOT IN ('D', 'N') AND {dl.k} IN " BATCH_KEYS(" AND {ok} = 't'");

/* Step 1 when the destination returned record ids: kept with the row. */
static const char commit_ids[] =
    "INSERT INTO {snap} ({k}, {st}{c*}, {id}) SELECT {dl.k}, 'L'{dl.c*}, {b.id} FROM "
    "{delta} AS dl INNER JOIN {batch} AS b ON {b.k} = {dl.k} WHERE {b.origin} = 'n' AND "
    "{b.ok} = 't' AND {dl.op} <> 'D'";
static const char commit_ids_lean[] =
    "INSERT INTO {snap} ({k}, {st}, {h}, {id}) SELECT {dl.k}, 'L', {dl.h}, {b.id} FROM "
    "{delta} AS dl INNER JOIN {batch} AS b ON {b.k} = {dl.k} WHERE {b.origin} = 'n' AND "
    "{b.ok} = 't' AND {dl.op} NOT IN ('D', 'N')";

/* Step 1 of the lean snapshot when the batch's successes carry the delta's
 * hash as text (h; op NULL: not a delete): from the batch table alone. The
 * join with the delta above reads the whole delta once per batch, so a
 * first sync of n rows in batches of b read n*n/b delta rows. */
static const char *const commit_lean_batch[2][2] = {
    {"INSERT INTO {snap} ({k}, {st}, {h}) SELECT {k}, 'L', CONVERT(VARBINARY(32), {h}, "
     "2) "
     "FROM {batch} WHERE {origin} = 'n' AND {ok} = 't' AND {op} IS NULL",
     "INSERT INTO {snap} ({k}, {st}, {h}, {id}) SELECT {k}, 'L', CONVERT(VARBINARY(32), "
     "{h}, 2), {id} FROM {batch} WHERE {origin} = 'n' AND {ok} = 't' AND {op} IS NULL"},
    {"INSERT INTO {snap} ({k}, {st}, {h}) SELECT {k}, 'L', {h} FROM {batch} WHERE "
     "{origin} = 'n' AND {ok} = 't' AND {op} IS NULL",
     "INSERT INTO {snap} ({k}, {st}, {h}, {id}) SELECT {k}, 'L', {h}, {id} FROM {batch} "
     "WHERE {origin} = 'n' AND {ok} = 't' AND {op} IS NULL"},
};

retl_err eng_dl_sql_commit(const struct eng_dialect *d, struct retl_buf *b,
                           const struct eng_state *st, long long run, const char *op,
                           const char *now, unsigned flags, size_t *n)
{
    retl_err rc = RETL_E_OK;
    bool ids = flags & ENG_DL_COMMIT_IDS;
    bool lean = eng_dl_lean(d);
    *n = flags & ENG_DL_COMMIT_CLEAR ? ENG_DL_COMMIT_STMTS : ENG_DL_COMMIT_STMTS - 1;
    for (size_t i = 0; i < *n; i++) {
        const char *t = commit_stmts[i];
        if (i == 1 && lean && (flags & ENG_DL_COMMIT_BATCH_H))
            t = commit_lean_batch[d->id != ENG_DL_TSQL][ids];
        else if (i == 1 && ids)
            t = lean ? commit_ids_lean : commit_ids;
        else if (i == 1 && lean)
            t = commit_lean;
        RETL_TRY(eng_sql_fmt(X(d, st), &b[i], t, run, op, now, now));
    }
out:
    return rc;
}

retl_err eng_dl_sql_finish(const struct eng_dialect *d, struct retl_buf *b,
                           const struct eng_state *st)
{
    return eng_sql_fmt(
        X(d, st), b,
        "UPDATE {snap} SET {st} = 'G' WHERE {k} IN (SELECT {k} FROM {delta} "
        "WHERE {op} = 'D')");
}

#define ERROR_COLS(CLASS)                                                                \
    "{run}, {key}, {operation}, {code}, {message}, {fields}, {row}, {first_failed}, "    \
    "{last_failed}, {attempts}, " CLASS

retl_err eng_dl_sql_errors_list(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st, size_t limit, bool cls)
{
    static const char *const top[2] = {
        "SELECT TOP (%zu) " ERROR_COLS("'transient'") " FROM {errors} ORDER BY {key}",
        "SELECT TOP (%zu) " ERROR_COLS(
            "COALESCE({class}, 'transient')") " FROM {errors} "
                                              "ORDER BY {key}"};
    static const char *const lim[2] = {
        "SELECT " ERROR_COLS("'transient'") " FROM {errors} ORDER BY {key} LIMIT %zu",
        "SELECT " ERROR_COLS("COALESCE({class}, 'transient')") " FROM {errors} ORDER BY "
                                                               "{key} LIMIT %zu"};
    return eng_sql_fmt(X(d, st), b, d->top ? top[cls] : lim[cls], limit);
}

retl_err eng_dl_sql_errors_count(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st)
{
    return eng_sql_fmt(X(d, st), b, "SELECT COUNT(*) FROM {errors}");
}

retl_err eng_dl_sql_lock(const struct eng_dialect *d, struct retl_buf *b, const char *id)
{
    const struct eng_sql x = {d, NULL, false};
    switch (d->id) {
    case ENG_DL_POSTGRES:
        return eng_sql_fmt(
            &x, b,
            "SELECT CASE WHEN pg_try_advisory_lock(hashtextextended(%L, 0)) "
            "THEN 1 ELSE 0 END",
            id);
    case ENG_DL_TSQL:
        return eng_sql_fmt(
            &x, b,
            "DECLARE @r INT; EXEC @r = sp_getapplock @Resource = %L, "
            "@LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout "
            "= 0; SELECT CASE WHEN @r >= 0 THEN 1 ELSE 0 END",
            id);
    default: return RETL_E_UNSUPPORTED;
    }
}

retl_err eng_dl_sql_lease(const struct eng_dialect *d, const struct eng_state *st,
                          struct retl_buf *ins, struct retl_buf *take,
                          struct retl_buf *get, const char *value, const char *now)
{
    retl_err rc;
    RETL_TRY(eng_sql_fmt(X(d, st), ins,
                         "INSERT INTO {meta} ({k}, {v}) SELECT %L, %L WHERE NOT EXISTS "
                         "(SELECT 1 FROM {meta} WHERE {k} = %L)",
                         "run_lock", "", "run_lock"));
    RETL_TRY(eng_sql_fmt(X(d, st), take,
                         "UPDATE {meta} SET {v} = %L WHERE {k} = %L AND {v} < %L", value,
                         "run_lock", now));
    RETL_TRY(
        eng_sql_fmt(X(d, st), get, "SELECT {v} FROM {meta} WHERE {k} = %L", "run_lock"));
out:
    return rc;
}

retl_err eng_dl_sql_lease_put(const struct eng_dialect *d, const struct eng_state *st,
                              struct retl_buf *b, const char *old, const char *value)
{
    return eng_sql_fmt(X(d, st), b,
                       "UPDATE {meta} SET {v} = %L WHERE {k} = %L AND {v} = %L", value,
                       "run_lock", old);
}
