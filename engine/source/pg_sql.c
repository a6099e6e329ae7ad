#include "engine/source/pg_sql.h"
#include "engine/source/sql_dialect.h"

#include <stdio.h>
#include <string.h>

enum eng_type eng_pg_type(const char *typname, char category)
{
    static const struct {
        const char *name;
        enum eng_type t;
    } map[] = {
        {"bool", ENG_T_BOOL},
        {"int2", ENG_T_INT},
        {"int4", ENG_T_INT},
        {"int8", ENG_T_INT},
        {"oid", ENG_T_INT},
        {"numeric", ENG_T_NUMERIC},
        {"float4", ENG_T_NUMERIC},
        {"float8", ENG_T_NUMERIC},
        {"date", ENG_T_DATE},
        {"timestamp", ENG_T_TIMESTAMP},
        {"timestamptz", ENG_T_TIMESTAMPTZ},
        {"json", ENG_T_JSON},
        {"jsonb", ENG_T_JSON},
        {"bytea", ENG_T_BYTES},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(map[i].name, typname) == 0)
            return map[i].t;
    }
    if (category == 'A' || category == 'C')
        return ENG_T_JSON;
    return ENG_T_TEXT;
}

retl_err eng_pg_canon_expr(struct retl_buf *b, const char *col, const char *typname,
                           enum eng_type t)
{
    switch (t) {
    case ENG_T_TIMESTAMPTZ:
        /* TimeZone is UTC, so the text ends in "+00"; dest.h wants "+00:00". */
        return retl_buf_printf(b,
                               "CASE WHEN isfinite(%s) THEN (%s)::text || "
                               "':00' ELSE (%s)::text END",
                               col, col, col);
    case ENG_T_BYTES:
        return retl_buf_printf(b, "translate(encode(%s, 'base64'), E'\\n', '')", col);
    case ENG_T_JSON:
        if (strcmp(typname, "json") == 0 || strcmp(typname, "jsonb") == 0)
            return retl_buf_printf(b, "(%s)::text", col);
        return retl_buf_printf(b, "to_json(%s)::text", col);
    default:
        /* bool::text is true/false; numeric keeps its full precision; floats
         * are shortest-exact with extra_float_digits 1; dates are ISO. */
        return retl_buf_printf(b, "(%s)::text", col);
    }
}

retl_err eng_pg_job_query(struct retl_buf *b, const struct retl_job *job)
{
    retl_err rc;
    if (job->source.table) {
        RETL_TRY(retl_buf_adds(b, "SELECT * FROM "));
        RETL_TRY(eng_pg_dotted(b, job->source.table));
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

static retl_err tbl(struct retl_buf *b, const struct eng_state *st, const char *t)
{
    return eng_pg_qname(b, st->n.schema, t);
}

/* ", <pfx>c1, <pfx>c2 ..." over the value columns (cols[1..]). */
static retl_err vcols(struct retl_buf *b, const struct eng_state *st, const char *pfx)
{
    retl_err rc = RETL_E_OK;
    for (size_t i = 1; i < st->ncols; i++)
        RETL_TRY(retl_buf_printf(b, ", %sc%zu", pfx, i));
out:
    return rc;
}

bool eng_pg_typed(const char *typname)
{
    static const char *const ok[] = {"int2",      "int4",        "int8",  "numeric",
                                     "float4",    "float8",      "bool",  "date",
                                     "timestamp", "timestamptz", "text",  "varchar",
                                     "bpchar",    "uuid",        "jsonb", "bytea"};
    for (size_t i = 0; typname && i < sizeof ok / sizeof ok[0]; i++) {
        if (strcmp(ok[i], typname) == 0)
            return true;
    }
    return false;
}

static bool col_typed(const struct eng_scol *c)
{
    return eng_pg_typed(c->sql_type);
}

/* The staged / snapshot type of column i. */
static const char *col_type(const struct eng_state *st, size_t i)
{
    return col_typed(&st->cols[i]) ? st->cols[i].sql_type : "text";
}

/* Column i of alias (k or c<i>) as canonical text. */
static retl_err canon_col(struct retl_buf *b, const struct eng_state *st, size_t i,
                          const char *alias)
{
    char col[64];
    if (i == 0)
        snprintf(col, sizeof col, "%sk", alias);
    else
        snprintf(col, sizeof col, "%sc%zu", alias, i);
    if (!col_typed(&st->cols[i]))
        return retl_buf_adds(b, col);
    return eng_pg_canon_expr(b, col, st->cols[i].sql_type, st->cols[i].type);
}

retl_err eng_pg_sql_types(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc = RETL_E_OK;
    for (size_t i = 0; i < st->ncols; i++)
        RETL_TRY(retl_buf_printf(b, "%s%s", i ? "," : "", col_type(st, i)));
out:
    return rc;
}

retl_err eng_pg_sql_state_ddl(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    /* Concurrent CREATE SCHEMA/TABLE IF NOT EXISTS race in PostgreSQL (a unique
     * violation in pg_namespace); first runs of several jobs take turns. */
    RETL_TRY(retl_buf_adds(b,
                           "SELECT pg_advisory_xact_lock(hashtext('retl.state_ddl'));\n"
                           "CREATE SCHEMA IF NOT EXISTS "));
    RETL_TRY(eng_pg_ident(b, st->n.schema));
    /* The run's row counter (eng_pg_sql_counter_reset): a sequence, as the
     * cheapest counter a statement can draw from; a cached one, since only
     * the run holding the job's lock draws from it. */
    RETL_TRY(retl_buf_adds(b, ";\nCREATE SEQUENCE IF NOT EXISTS "));
    RETL_TRY(tbl(b, st, st->n.rows));
    RETL_TRY(retl_buf_adds(b, " MINVALUE 0 CACHE 100000"));
    RETL_TRY(retl_buf_adds(b, ";\nCREATE TABLE IF NOT EXISTS "));
    RETL_TRY(tbl(b, st, st->n.meta));
    RETL_TRY(retl_buf_adds(b, " (k text PRIMARY KEY, v text NOT NULL);\n"
                              "CREATE TABLE IF NOT EXISTS "));
    RETL_TRY(tbl(b, st, st->n.errors));
    RETL_TRY(retl_buf_adds(
        b, " (key text PRIMARY KEY, run bigint NOT NULL, operation text NOT "
           "NULL, code text, message text, fields text, \"row\" jsonb, "
           "first_failed timestamptz NOT NULL, last_failed timestamptz NOT "
           "NULL, attempts integer NOT NULL)"));
out:
    return rc;
}

retl_err eng_pg_sql_snap_create(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "CREATE TABLE "));
    RETL_TRY(tbl(b, st, st->n.snap));
    RETL_TRY(retl_buf_printf(b, " (k %s PRIMARY KEY, st text NOT NULL, h bigint",
                             col_type(st, 0)));
    for (size_t i = 1; i < st->ncols; i++)
        RETL_TRY(retl_buf_printf(b, ", c%zu %s", i, col_type(st, i)));
    RETL_TRY(retl_buf_adds(b, ")"));
out:
    return rc;
}

retl_err eng_pg_sql_rebase(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "CREATE TEMP TABLE retl_keys ON COMMIT DROP AS "
                              "SELECT k FROM "));
    RETL_TRY(tbl(b, st, st->n.snap));
    RETL_TRY(retl_buf_adds(b, ";\nDROP TABLE "));
    RETL_TRY(tbl(b, st, st->n.snap));
    RETL_TRY(retl_buf_adds(b, ";\n"));
    RETL_TRY(eng_pg_sql_snap_create(b, st));
    RETL_TRY(retl_buf_adds(b, ";\nINSERT INTO "));
    RETL_TRY(tbl(b, st, st->n.snap));
    RETL_TRY(
        retl_buf_printf(b, " (k, st) SELECT k::text::%s, 'K' FROM retl_keys;\nTRUNCATE ",
                        col_type(st, 0)));
    RETL_TRY(tbl(b, st, st->n.errors));
out:
    return rc;
}

retl_err eng_pg_sql_meta_set(struct retl_buf *b, const struct eng_state *st,
                             const char *k, const char *v)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "INSERT INTO "));
    RETL_TRY(tbl(b, st, st->n.meta));
    RETL_TRY(retl_buf_adds(b, " (k, v) VALUES ("));
    RETL_TRY(eng_pg_literal(b, k));
    RETL_TRY(retl_buf_adds(b, ", "));
    RETL_TRY(eng_pg_literal(b, v));
    RETL_TRY(retl_buf_adds(b, ") ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"));
out:
    return rc;
}

/* "SELECT <k, c1..cn as staged> FROM (query) AS q" */
static retl_err stage_select(struct retl_buf *b, const struct eng_state *st,
                             const char *query)
{
    retl_err rc;
    struct retl_buf col;
    retl_buf_init(&col, 1024);
    RETL_TRY(retl_buf_adds(b, "SELECT "));
    for (size_t i = 0; i < st->ncols; i++) {
        retl_buf_reset(&col);
        RETL_TRY(retl_buf_adds(&col, "q."));
        RETL_TRY(eng_pg_ident(&col, st->cols[i].name));
        if (i)
            RETL_TRY(retl_buf_adds(b, ", "));
        /* Comparable types are staged as they are (cheap, and equal values
         * compare equal); the others as canonical text. */
        if (col_typed(&st->cols[i]))
            RETL_TRY(retl_buf_adds(b, retl_buf_str(&col)));
        else
            RETL_TRY(eng_pg_canon_expr(b, retl_buf_str(&col),
                                       st->cols[i].sql_type ? st->cols[i].sql_type : "",
                                       st->cols[i].type));
        if (i)
            RETL_TRY(retl_buf_printf(b, " AS c%zu", i));
        else
            RETL_TRY(retl_buf_adds(b, " AS k"));
    }
    RETL_TRY(retl_buf_adds(b, " FROM (\n"));
    RETL_TRY(retl_buf_adds(b, query));
    RETL_TRY(retl_buf_adds(b, "\n) AS q"));
out:
    retl_buf_free(&col);
    return rc;
}

retl_err eng_pg_sql_stage(struct retl_buf *b, const struct eng_state *st,
                          const char *query)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "DROP TABLE IF EXISTS "));
    RETL_TRY(tbl(b, st, st->n.stage));
    RETL_TRY(retl_buf_adds(b, ";\nCREATE UNLOGGED TABLE "));
    RETL_TRY(tbl(b, st, st->n.stage));
    RETL_TRY(retl_buf_adds(b, " AS "));
    RETL_TRY(stage_select(b, st, query));
out:
    return rc;
}

static retl_err row_hash(struct retl_buf *b, const struct eng_state *st,
                         const char *alias);

retl_err eng_pg_sql_stage_delta(struct retl_buf *b, const struct eng_state *st,
                                const char *query)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "DROP TABLE IF EXISTS "));
    RETL_TRY(tbl(b, st, st->n.stage));
    RETL_TRY(retl_buf_adds(b, ";\nDROP TABLE IF EXISTS "));
    RETL_TRY(tbl(b, st, st->n.delta));
    RETL_TRY(retl_buf_adds(b, ";\nCREATE UNLOGGED TABLE "));
    RETL_TRY(tbl(b, st, st->n.delta));
    /* The layout eng_pg_sql_diff produces: op, k, h, c1..cn. */
    RETL_TRY(retl_buf_adds(b, " AS SELECT 'I'::text AS op, s.k, "));
    RETL_TRY(row_hash(b, st, "s."));
    RETL_TRY(retl_buf_adds(b, " AS h"));
    RETL_TRY(vcols(b, st, "s."));
    RETL_TRY(retl_buf_adds(b, " FROM ("));
    RETL_TRY(stage_select(b, st, query));
    RETL_TRY(retl_buf_adds(b, ") AS s"));
out:
    return rc;
}

retl_err eng_pg_sql_snap_empty(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "SELECT NOT EXISTS (SELECT 1 FROM "));
    RETL_TRY(tbl(b, st, st->n.snap));
    RETL_TRY(retl_buf_adds(b, ")"));
out:
    return rc;
}

retl_err eng_pg_sql_key_count(struct retl_buf *b, const struct eng_state *st, bool delta)
{
    retl_err rc;
    /* One sort, no grouping: several times faster on a million keys than the
     * GROUP BY ... HAVING that names duplicates, which runs only when needed. */
    /* Text keys count by their bytes: a few times faster than sorting them
     * by the database's collation, and the same count under any
     * deterministic collation. */
    const char *t = col_type(st, 0);
    bool text = !strcmp(t, "text") || !strcmp(t, "varchar") || !strcmp(t, "bpchar");
    RETL_TRY(retl_buf_printf(b,
                             "SELECT count(*) FILTER (WHERE k IS NULL), count(k), "
                             "count(DISTINCT k%s) FROM ",
                             text ? " COLLATE \"C\"" : ""));
    RETL_TRY(tbl(b, st, delta ? st->n.delta : st->n.stage));
    if (delta)
        RETL_TRY(retl_buf_adds(b, " WHERE op <> 'D'"));
out:
    return rc;
}

retl_err eng_pg_sql_key_check(struct retl_buf *b, const struct eng_state *st, bool delta)
{
    retl_err rc;
    const char *t = delta ? st->n.delta : st->n.stage;
    const char *only = delta ? " AND op <> 'D'" : "";
    RETL_TRY(retl_buf_adds(b, "SELECT count(*) FILTER (WHERE k IS NULL), "
                              "(SELECT string_agg(k::text, ', ') FROM (SELECT k FROM "));
    RETL_TRY(tbl(b, st, t));
    RETL_TRY(retl_buf_printf(b,
                             " WHERE k IS NOT NULL%s GROUP BY k HAVING count(*) > 1 "
                             "ORDER BY k LIMIT 5) AS d) FROM ",
                             only));
    RETL_TRY(tbl(b, st, t));
    if (delta)
        RETL_TRY(retl_buf_adds(b, " WHERE op <> 'D'"));
out:
    return rc;
}

/* 64-bit hash of the value columns of alias (each by its type's own hash
 * function: no text conversion); NULL::bigint when there are none. */
static retl_err row_hash(struct retl_buf *b, const struct eng_state *st,
                         const char *alias)
{
    retl_err rc;
    if (st->ncols < 2)
        return retl_buf_adds(b, "NULL::bigint");
    RETL_TRY(retl_buf_adds(b, "hash_record_extended(ROW("));
    for (size_t i = 1; i < st->ncols; i++)
        RETL_TRY(retl_buf_printf(b, "%s%sc%zu", i > 1 ? ", " : "", alias, i));
    RETL_TRY(retl_buf_adds(b, "), 0)"));
out:
    return rc;
}

/* "<pre>'<schema>.<rows>'::regclass<post>": the job's row counter. */
static retl_err counter(struct retl_buf *b, const struct eng_state *st, const char *pre,
                        const char *post)
{
    retl_err rc;
    struct retl_buf q;
    retl_buf_init(&q, 512);
    RETL_TRY(retl_buf_adds(b, pre));
    RETL_TRY(tbl(&q, st, st->n.rows));
    RETL_TRY(eng_pg_literal(b, retl_buf_str(&q)));
    RETL_TRY(retl_buf_adds(b, "::regclass"));
    RETL_TRY(retl_buf_adds(b, post));
out:
    retl_buf_free(&q);
    return rc;
}

/* Snapshot statuses: L loaded (hash and values), H loaded (hash only, the
 * hash strategy's lean rows), K key known but not loaded (from an earlier
 * baseline, or its last send failed), G gone from the query. */
#define LOADED "IN ('L', 'H')"

/* The condition for a joined row (s staged, o snapshot) to enter the delta. */
static retl_err join_changed(struct retl_buf *b, const struct eng_state *st,
                             enum retl_mode mode, bool hash)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "(s.k IS NULL AND o.st " LOADED ") OR o.k IS NULL"));
    if (mode == RETL_MODE_INSERT || st->ncols < 2) {
        if (mode != RETL_MODE_INSERT)
            RETL_TRY(retl_buf_adds(b, " OR (s.k IS NOT NULL AND o.st NOT " LOADED ")"));
        return RETL_E_OK;
    }
    RETL_TRY(retl_buf_adds(b, " OR (s.k IS NOT NULL AND (o.st NOT " LOADED " OR "));
    /* Only the key, st and h of the snapshot enter the hash table; the join
     * strategy compares values where the snapshot kept them. */
    if (!hash)
        RETL_TRY(retl_buf_adds(b, "(o.st = 'H' AND "));
    RETL_TRY(row_hash(b, st, "s."));
    RETL_TRY(retl_buf_adds(b, " IS DISTINCT FROM o.h)"));
    if (hash)
        return retl_buf_adds(b, ")");
    RETL_TRY(retl_buf_adds(b, " OR (o.st = 'L' AND ROW("));
    for (size_t i = 1; i < st->ncols; i++)
        RETL_TRY(retl_buf_printf(b, "%ss.c%zu", i > 1 ? ", " : "", i));
    RETL_TRY(retl_buf_adds(b, ") IS DISTINCT FROM ROW("));
    for (size_t i = 1; i < st->ncols; i++)
        RETL_TRY(retl_buf_printf(b, "%so.c%zu", i > 1 ? ", " : "", i));
    RETL_TRY(retl_buf_adds(b, "))))"));
out:
    return rc;
}

/* The delta by a key join of the staged rows with the snapshot: from the
 * stage table, or with query from the query itself, each query row counted
 * on the job's row counter. */
static retl_err diff_join(struct retl_buf *b, const struct eng_state *st,
                          enum retl_mode mode, bool hash, const char *query)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, " AS SELECT CASE WHEN o.k IS NULL THEN 'I' WHEN s.k "
                              "IS NULL THEN 'D' ELSE 'U' END AS op, "
                              "COALESCE(s.k, o.k) AS k, "));
    RETL_TRY(row_hash(b, st, "s."));
    RETL_TRY(retl_buf_adds(b, " AS h"));
    RETL_TRY(vcols(b, st, "s."));
    RETL_TRY(retl_buf_adds(b, " FROM "));
    if (query) {
        RETL_TRY(retl_buf_addc(b, '('));
        RETL_TRY(stage_select(b, st, query));
        RETL_TRY(retl_buf_addc(b, ')'));
    } else {
        RETL_TRY(tbl(b, st, st->n.stage));
    }
    RETL_TRY(retl_buf_adds(b, " AS s FULL JOIN "));
    RETL_TRY(tbl(b, st, st->n.snap));
    RETL_TRY(retl_buf_adds(b, " AS o ON o.k = s.k WHERE "));
    if (!query)
        return join_changed(b, st, mode, hash);
    /* Counted in the join's filter, not in the query, so the query stays
     * free of volatile functions (flattened, e.g. into a merge join on the
     * key's index). A joined row holds a query row unless it is a snapshot
     * row alone (o.k is never NULL). One CASE: its order is kept. */
    RETL_TRY(retl_buf_adds(b, "CASE WHEN (s.k IS NOT NULL OR o.k IS NULL) AND "));
    RETL_TRY(counter(b, st, "nextval(", ") < 0 THEN false ELSE "));
    RETL_TRY(join_changed(b, st, mode, hash));
    RETL_TRY(retl_buf_adds(b, " END"));
out:
    return rc;
}

static retl_err diff_except(struct retl_buf *b, const struct eng_state *st,
                            enum retl_mode mode)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, " AS WITH ch AS (SELECT k"));
    RETL_TRY(vcols(b, st, ""));
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(tbl(b, st, st->n.stage));
    if (mode == RETL_MODE_INSERT) {
        RETL_TRY(retl_buf_adds(b, " WHERE k IN (SELECT k FROM "));
        RETL_TRY(tbl(b, st, st->n.stage));
        RETL_TRY(retl_buf_adds(b, " EXCEPT SELECT k FROM "));
        RETL_TRY(tbl(b, st, st->n.snap));
        RETL_TRY(retl_buf_adds(b, ")"));
    } else {
        RETL_TRY(retl_buf_adds(b, " EXCEPT SELECT k"));
        RETL_TRY(vcols(b, st, ""));
        RETL_TRY(retl_buf_adds(b, " FROM "));
        RETL_TRY(tbl(b, st, st->n.snap));
        RETL_TRY(retl_buf_adds(b, " WHERE st = 'L'"));
    }
    RETL_TRY(retl_buf_adds(b, "), gone AS (SELECT k FROM "));
    RETL_TRY(tbl(b, st, st->n.snap));
    RETL_TRY(retl_buf_adds(b, " WHERE st " LOADED " EXCEPT SELECT k FROM "));
    RETL_TRY(tbl(b, st, st->n.stage));
    RETL_TRY(retl_buf_adds(b, ") SELECT CASE WHEN o.k IS NULL THEN 'I' ELSE 'U' "
                              "END AS op, ch.k, "));
    RETL_TRY(row_hash(b, st, "ch."));
    RETL_TRY(retl_buf_adds(b, " AS h"));
    RETL_TRY(vcols(b, st, "ch."));
    RETL_TRY(retl_buf_adds(b, " FROM ch LEFT JOIN "));
    RETL_TRY(tbl(b, st, st->n.snap));
    /* Rows the hash strategy saved without values compare by hash. */
    RETL_TRY(retl_buf_adds(b, " AS o ON o.k = ch.k WHERE o.st IS DISTINCT FROM 'H' OR "));
    RETL_TRY(row_hash(b, st, "ch."));
    RETL_TRY(retl_buf_adds(
        b, " IS DISTINCT FROM o.h UNION ALL SELECT 'D', g.k, NULL::bigint"));
    for (size_t i = 1; i < st->ncols; i++)
        RETL_TRY(retl_buf_printf(b, ", NULL::%s", col_type(st, i)));
    RETL_TRY(retl_buf_adds(b, " FROM gone AS g"));
out:
    return rc;
}

retl_err eng_pg_sql_diff(struct retl_buf *b, const struct eng_state *st,
                         enum retl_mode mode, enum eng_diff how, const char *query)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "DROP TABLE IF EXISTS "));
    RETL_TRY(tbl(b, st, st->n.delta));
    RETL_TRY(retl_buf_adds(b, ";\nCREATE UNLOGGED TABLE "));
    RETL_TRY(tbl(b, st, st->n.delta));
    if (how == ENG_DIFF_EXCEPT)
        RETL_TRY(query ? RETL_E_INTERNAL : diff_except(b, st, mode));
    else
        RETL_TRY(diff_join(b, st, mode, how == ENG_DIFF_HASH, query));
out:
    return rc;
}

retl_err eng_pg_sql_counter_reset(struct retl_buf *b, const struct eng_state *st)
{
    return counter(b, st, "SELECT setval(", ", 0)");
}

retl_err eng_pg_sql_counter_read(struct retl_buf *b, const struct eng_state *st)
{
    return counter(b, st, "SELECT currval(", ")");
}

retl_err eng_pg_sql_delta_counts(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "SELECT count(*) FILTER (WHERE op = 'I'), count(*) "
                              "FILTER (WHERE op = 'U'), count(*) FILTER (WHERE op "
                              "= 'D') FROM "));
    RETL_TRY(tbl(b, st, st->n.delta));
out:
    return rc;
}

retl_err eng_pg_sql_errors_prune(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "DELETE FROM "));
    RETL_TRY(tbl(b, st, st->n.errors));
    RETL_TRY(retl_buf_adds(b, " AS e WHERE NOT EXISTS (SELECT 1 FROM "));
    RETL_TRY(tbl(b, st, st->n.delta));
    RETL_TRY(retl_buf_adds(b, " AS d WHERE d.op <> 'D' AND "));
    RETL_TRY(canon_col(b, st, 0, "d."));
    RETL_TRY(retl_buf_adds(b, " = e.key)"));
out:
    return rc;
}

retl_err eng_pg_sql_delta_cursor(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "DECLARE retl_delta NO SCROLL CURSOR FOR SELECT op"));
    for (size_t i = 0; i < st->ncols; i++) {
        RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(canon_col(b, st, i, ""));
    }
    RETL_TRY(retl_buf_adds(b, ", ctid FROM "));
    RETL_TRY(tbl(b, st, st->n.delta));
    RETL_TRY(retl_buf_adds(b, " WHERE op <> 'D'"));
out:
    return rc;
}

retl_err eng_pg_sql_batch_table(struct retl_buf *b, const struct eng_state *st)
{
    (void)st;
    return retl_buf_adds(b, "CREATE TEMP TABLE IF NOT EXISTS retl_batch (k text, code "
                            "text, message text, fields text) ON COMMIT DELETE ROWS");
}

/* " d.ctid >= 'A'::tid AND d.ctid <= 'B'::tid AND d.op <> 'D'" */
static retl_err range(struct retl_buf *b, const char *first, const char *last)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, " d.ctid >= "));
    RETL_TRY(eng_pg_literal(b, first));
    RETL_TRY(retl_buf_adds(b, "::tid AND d.ctid <= "));
    RETL_TRY(eng_pg_literal(b, last));
    RETL_TRY(retl_buf_adds(b, "::tid AND d.op <> 'D'"));
out:
    return rc;
}

/* " AND NOT EXISTS (... the batch's failed keys ...)" */
static retl_err not_failed(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(
        b, " AND NOT EXISTS (SELECT 1 FROM pg_temp.retl_batch AS b WHERE b.k = "));
    RETL_TRY(canon_col(b, st, 0, "d."));
    RETL_TRY(retl_buf_adds(b, ")"));
out:
    return rc;
}

/* ", c1 = NULL, ..., cn = NULL": a snapshot row without values. */
static retl_err null_values(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc = RETL_E_OK;
    for (size_t i = 1; i < st->ncols; i++)
        RETL_TRY(retl_buf_printf(b, ", c%zu = NULL", i));
out:
    return rc;
}

/* New keys: "INSERT INTO snap (k, st, h[, c1..cn]) SELECT ... FROM delta AS d
 * WHERE"; changed keys (present in the snapshot: the diff matched them, and
 * the job's lock keeps it so): "UPDATE snap AS o SET ... FROM delta AS d
 * WHERE o.k = d.k AND", without ON CONFLICT's speculative insertion (about a
 * quarter cheaper). With values, status L and the values; without, status H
 * and the hash only (the lean rows of the hash strategy). */
static retl_err snap_save(struct retl_buf *b, const struct eng_state *st, bool values,
                          bool changed)
{
    retl_err rc = RETL_E_OK;
    if (changed) {
        RETL_TRY(retl_buf_adds(b, "UPDATE "));
        RETL_TRY(tbl(b, st, st->n.snap));
        RETL_TRY(retl_buf_printf(b, " AS o SET st = '%c', h = d.h", values ? 'L' : 'H'));
        for (size_t i = 1; values && i < st->ncols; i++)
            RETL_TRY(retl_buf_printf(b, ", c%zu = d.c%zu", i, i));
        if (!values)
            RETL_TRY(null_values(b, st));
        RETL_TRY(retl_buf_adds(b, " FROM "));
        RETL_TRY(tbl(b, st, st->n.delta));
        return retl_buf_adds(b, " AS d WHERE o.k = d.k AND");
    }
    RETL_TRY(retl_buf_adds(b, "INSERT INTO "));
    RETL_TRY(tbl(b, st, st->n.snap));
    RETL_TRY(retl_buf_adds(b, " (k, st, h"));
    if (values)
        RETL_TRY(vcols(b, st, ""));
    RETL_TRY(
        retl_buf_adds(b, values ? ") SELECT d.k, 'L', d.h" : ") SELECT d.k, 'H', d.h"));
    if (values)
        RETL_TRY(vcols(b, st, "d."));
    RETL_TRY(retl_buf_adds(b, " FROM "));
    RETL_TRY(tbl(b, st, st->n.delta));
    RETL_TRY(retl_buf_adds(b, " AS d WHERE"));
out:
    return rc;
}

/* "DELETE FROM errors ... " for the batch's keys (with only_ok, those not in
 * the batch table). */
static retl_err errors_clear(struct retl_buf *b, const struct eng_state *st,
                             const char *first, const char *last, bool only_ok)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "DELETE FROM "));
    RETL_TRY(tbl(b, st, st->n.errors));
    RETL_TRY(retl_buf_adds(b, " AS e USING "));
    RETL_TRY(tbl(b, st, st->n.delta));
    RETL_TRY(retl_buf_adds(b, " AS d WHERE"));
    RETL_TRY(range(b, first, last));
    RETL_TRY(retl_buf_adds(b, " AND e.key = "));
    RETL_TRY(canon_col(b, st, 0, "d."));
    if (only_ok)
        RETL_TRY(not_failed(b, st));
out:
    return rc;
}

/* Error rows for the keys of the batch table (attempts + 1 when known). */
static retl_err errors_save(struct retl_buf *b, const struct eng_state *st, long long run,
                            const char *op, const char *first, const char *last)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "INSERT INTO "));
    RETL_TRY(tbl(b, st, st->n.errors));
    RETL_TRY(retl_buf_printf(b,
                             " AS e (key, run, operation, code, message, fields, "
                             "\"row\", first_failed, last_failed, attempts) SELECT "
                             "b.k, %lld, ",
                             run));
    RETL_TRY(eng_pg_literal(b, op));
    RETL_TRY(retl_buf_adds(b, ", b.code, b.message, b.fields, json_object(ARRAY["));
    for (size_t i = 0; i < st->ncols; i++) {
        if (i)
            RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(eng_pg_literal(b, st->cols[i].name));
    }
    RETL_TRY(retl_buf_adds(b, "]::text[], ARRAY["));
    for (size_t i = 0; i < st->ncols; i++) {
        if (i)
            RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(canon_col(b, st, i, "d."));
    }
    RETL_TRY(retl_buf_adds(
        b, "]::text[])::jsonb, now(), now(), 1 FROM pg_temp.retl_batch AS b, "));
    RETL_TRY(tbl(b, st, st->n.delta));
    RETL_TRY(retl_buf_adds(b, " AS d WHERE"));
    RETL_TRY(range(b, first, last));
    RETL_TRY(retl_buf_adds(b, " AND b.k = "));
    RETL_TRY(canon_col(b, st, 0, "d."));
    RETL_TRY(retl_buf_adds(
        b, " ON CONFLICT (key) DO UPDATE SET run = EXCLUDED.run, "
           "operation = EXCLUDED.operation, code = EXCLUDED.code, message = "
           "EXCLUDED.message, fields = EXCLUDED.fields, \"row\" = "
           "EXCLUDED.\"row\", last_failed = EXCLUDED.last_failed, attempts = "
           "e.attempts + 1"));
out:
    return rc;
}

retl_err eng_pg_sql_snap_write(struct retl_buf *b, const struct eng_state *st,
                               const char *first, const char *last, bool ins, bool upd,
                               bool values)
{
    retl_err rc = RETL_E_OK;
    for (int pass = 0; pass < 2; pass++) {
        if (!(pass ? upd : ins))
            continue;
        RETL_TRY(snap_save(b, st, values, pass == 1));
        RETL_TRY(range(b, first, last));
        RETL_TRY(retl_buf_adds(b, pass ? " AND d.op = 'U';\n" : " AND d.op = 'I';\n"));
    }
out:
    return rc;
}

retl_err eng_pg_sql_commit_written(struct retl_buf *b, const struct eng_state *st,
                                   long long run, const char *op, const char *first,
                                   const char *last, bool failed)
{
    retl_err rc;
    if (!failed)
        return errors_clear(b, st, first, last, false);
    /* Failed new keys leave the snapshot again; failed changed keys stay
     * known (Update mode may still address them) but no longer loaded, so
     * the next run sends them again whatever their values then. */
    for (int pass = 0; pass < 2; pass++) {
        RETL_TRY(retl_buf_adds(b, pass ? "UPDATE " : "DELETE FROM "));
        RETL_TRY(tbl(b, st, st->n.snap));
        RETL_TRY(retl_buf_adds(b, pass ? " AS o SET st = 'K', h = NULL" : " AS o"));
        if (pass)
            RETL_TRY(null_values(b, st));
        RETL_TRY(retl_buf_adds(b, pass ? " FROM " : " USING "));
        RETL_TRY(tbl(b, st, st->n.delta));
        RETL_TRY(retl_buf_adds(b, " AS d, pg_temp.retl_batch AS f WHERE"));
        RETL_TRY(range(b, first, last));
        RETL_TRY(retl_buf_adds(b, pass ? " AND d.op = 'U'" : " AND d.op = 'I'"));
        RETL_TRY(retl_buf_adds(b, " AND o.k = d.k AND f.k = "));
        RETL_TRY(canon_col(b, st, 0, "d."));
        RETL_TRY(retl_buf_adds(b, ";\n"));
    }
    RETL_TRY(errors_clear(b, st, first, last, true));
    RETL_TRY(retl_buf_adds(b, ";\n"));
    RETL_TRY(errors_save(b, st, run, op, first, last));
out:
    return rc;
}

retl_err eng_pg_sql_finish(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "UPDATE "));
    RETL_TRY(tbl(b, st, st->n.snap));
    RETL_TRY(retl_buf_adds(b, " AS o SET st = 'G' FROM "));
    RETL_TRY(tbl(b, st, st->n.delta));
    RETL_TRY(retl_buf_adds(b, " AS d WHERE d.op = 'D' AND o.k = d.k;\n"
                              "DROP TABLE IF EXISTS "));
    RETL_TRY(tbl(b, st, st->n.delta));
    RETL_TRY(retl_buf_adds(b, ";\nDROP TABLE IF EXISTS "));
    RETL_TRY(tbl(b, st, st->n.stage));
out:
    return rc;
}

retl_err eng_pg_sql_errors_list(struct retl_buf *b, const struct eng_state *st,
                                size_t limit)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(
        b, "SELECT run, key, operation, code, message, fields, \"row\"::text, "
           "to_char(first_failed AT TIME ZONE 'UTC', "
           "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), to_char(last_failed AT TIME "
           "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), attempts, count(*) "
           "OVER () FROM "));
    RETL_TRY(tbl(b, st, st->n.errors));
    RETL_TRY(retl_buf_printf(b, " ORDER BY key LIMIT %zu", limit));
out:
    return rc;
}

retl_err eng_pg_sql_drop(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    const char *t[] = {st->n.delta, st->n.stage, st->n.snap, st->n.errors, st->n.meta};
    RETL_TRY(retl_buf_adds(b, "DROP TABLE IF EXISTS "));
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (i)
            RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(tbl(b, st, t[i]));
    }
    RETL_TRY(retl_buf_adds(b, ";\nDROP SEQUENCE IF EXISTS "));
    RETL_TRY(tbl(b, st, st->n.rows));
out:
    return rc;
}
