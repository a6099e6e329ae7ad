#include "engine/source/pg_sql.h"

#include <stdio.h>
#include <string.h>

#include "engine/source/sql_tmpl.h"

/* The native statements: the postgres dialect, state columns unquoted. */
#define X(st) (&(const struct eng_sql){eng_dialect_get(ENG_DL_POSTGRES), (st), true})

/* Snapshot statuses: L loaded (hash and values), H loaded (hash only, the
 * hash strategy's lean rows), K key known but not loaded (from an earlier
 * baseline, or its last send failed), G gone from the query. */
#define LOADED "IN ('L', 'H')"

/* The staged / snapshot type of column i. */
static const char *col_type(const struct eng_state *st, size_t i)
{
    return eng_pg_typed(st->cols[i].sql_type) ? st->cols[i].sql_type : "text";
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
    /* Concurrent CREATE SCHEMA/TABLE IF NOT EXISTS race in PostgreSQL (a unique
     * violation in pg_namespace); first runs of several jobs take turns. The
     * run's row counter (eng_pg_sql_counter_reset) is a sequence, as the
     * cheapest counter a statement can draw from; a cached one, since only
     * the run holding the job's lock draws from it. */
    return eng_sql_fmt(
        X(st), b,
        "SELECT pg_advisory_xact_lock(hashtext('retl.state_ddl'));\n"
        "CREATE SCHEMA IF NOT EXISTS %I;\n"
        "CREATE SEQUENCE IF NOT EXISTS {rows} MINVALUE 0 CACHE 100000;\n"
        "CREATE TABLE IF NOT EXISTS {meta} (k text PRIMARY KEY, v text NOT NULL);\n"
        "CREATE TABLE IF NOT EXISTS {errors} (key text PRIMARY KEY, run bigint NOT NULL, "
        "operation text NOT NULL, code text, message text, fields text, \"row\" jsonb, "
        "first_failed timestamptz NOT NULL, last_failed timestamptz NOT NULL, attempts "
        "integer NOT NULL, class text, h bigint);\n"
        /* Tables written before failure classes get the columns in place (no
         * rewrite: nullable, no default); a NULL class is transient. */
        "ALTER TABLE {errors} ADD COLUMN IF NOT EXISTS class text, ADD COLUMN IF NOT "
        "EXISTS h bigint",
        st->n.schema);
}

retl_err eng_pg_sql_snap_create(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(eng_sql_fmt(X(st), b,
                         "CREATE TABLE {snap} (k %s PRIMARY KEY, st text NOT "
                         "NULL, h bigint",
                         col_type(st, 0)));
    for (size_t i = 1; i < st->ncols; i++)
        RETL_TRY(retl_buf_printf(b, ", c%zu %s", i, col_type(st, i)));
    RETL_TRY(retl_buf_adds(b, ", id text)"));
out:
    return rc;
}

retl_err eng_pg_sql_snap_upgrade(struct retl_buf *b, const struct eng_state *st)
{
    return eng_sql_fmt(X(st), b, "ALTER TABLE {snap} ADD COLUMN IF NOT EXISTS id text");
}

retl_err eng_pg_sql_rebase(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(
        eng_sql_fmt(X(st), b,
                    "CREATE TEMP TABLE retl_keys ON COMMIT DROP AS SELECT k, id FROM "
                    "{snap};\nDROP TABLE {snap};\n"));
    RETL_TRY(eng_pg_sql_snap_create(b, st));
    RETL_TRY(eng_sql_fmt(X(st), b,
                         ";\nINSERT INTO {snap} (k, st, id) SELECT k::text::%s, 'K', id "
                         "FROM retl_keys;\nTRUNCATE {errors}",
                         col_type(st, 0)));
out:
    return rc;
}

retl_err eng_pg_sql_meta_set(struct retl_buf *b, const struct eng_state *st,
                             const char *k, const char *v)
{
    return eng_sql_fmt(X(st), b,
                       "INSERT INTO {meta} (k, v) VALUES (%L, %L) ON CONFLICT (k) DO "
                       "UPDATE SET v = EXCLUDED.v",
                       k, v);
}

/* "SELECT <k, c1..cn as staged> FROM (query) AS q" (with key_only the key
 * alone): comparable types are staged as they are (cheap, and equal values
 * compare equal); the others as canonical text. */
static retl_err staged(struct retl_buf *b, const struct eng_state *st, const char *query,
                       bool key_only)
{
    retl_err rc;
    struct retl_buf col;
    retl_buf_init(&col, 1024);
    RETL_TRY(retl_buf_adds(b, "SELECT "));
    for (size_t i = 0; i < (key_only ? 1 : st->ncols); i++) {
        const struct eng_scol *c = &st->cols[i];
        retl_buf_reset(&col);
        RETL_TRY(eng_sql_fmt(X(st), &col, "q.%I", c->name));
        RETL_TRY(retl_buf_adds(b, i ? ", " : ""));
        if (eng_pg_typed(c->sql_type))
            RETL_TRY(retl_buf_adds(b, retl_buf_str(&col)));
        else
            RETL_TRY(eng_pg_canon_expr(b, retl_buf_str(&col),
                                       c->sql_type ? c->sql_type : "", c->type));
        if (i)
            RETL_TRY(retl_buf_printf(b, " AS c%zu", i));
        else
            RETL_TRY(retl_buf_adds(b, " AS k"));
    }
    RETL_TRY(eng_sql_fmt(X(st), b, " FROM (\n%s\n) AS q", query));
out:
    retl_buf_free(&col);
    return rc;
}

static retl_err stage_select(struct retl_buf *b, const struct eng_state *st,
                             const char *query)
{
    return staged(b, st, query, false);
}

retl_err eng_pg_sql_stage(struct retl_buf *b, const struct eng_state *st,
                          const char *query)
{
    retl_err rc;
    RETL_TRY(eng_sql_fmt(
        X(st), b, "DROP TABLE IF EXISTS {stage};\nCREATE UNLOGGED TABLE {stage} AS "));
    RETL_TRY(stage_select(b, st, query));
out:
    return rc;
}

retl_err eng_pg_sql_stage_delta(struct retl_buf *b, const struct eng_state *st,
                                const char *query)
{
    retl_err rc;
    /* The layout eng_pg_sql_diff produces: op, k, h, c1..cn. */
    RETL_TRY(eng_sql_fmt(X(st), b,
                         "DROP TABLE IF EXISTS {stage};\nDROP TABLE IF EXISTS {delta};\n"
                         "CREATE UNLOGGED TABLE {delta} AS SELECT 'I'::text AS op, s.k, "
                         "{hash:s} AS h{s.c*} FROM ("));
    RETL_TRY(stage_select(b, st, query));
    RETL_TRY(retl_buf_adds(b, ") AS s"));
out:
    return rc;
}

retl_err eng_pg_sql_snap_empty(struct retl_buf *b, const struct eng_state *st)
{
    return eng_sql_fmt(X(st), b,
                       "SELECT NOT EXISTS (SELECT 1 FROM {snap}), NOT EXISTS (SELECT 1 "
                       "FROM {errors})");
}

retl_err eng_pg_sql_key_count(struct retl_buf *b, const struct eng_state *st, bool delta)
{
    /* One sort, no grouping: several times faster on a million keys than the
     * GROUP BY ... HAVING that names duplicates, which runs only when needed.
     * Text keys count by their bytes: a few times faster than sorting them
     * by the database's collation, and the same count under any
     * deterministic collation. */
    const char *t = col_type(st, 0);
    bool text = !strcmp(t, "text") || !strcmp(t, "varchar") || !strcmp(t, "bpchar");
    return eng_sql_fmt(X(st), b,
                       delta ? "SELECT count(*) FILTER (WHERE k IS NULL), count(k), "
                               "count(DISTINCT k%s) FROM {delta} WHERE op <> 'D'"
                             : "SELECT count(*) FILTER (WHERE k IS NULL), count(k), "
                               "count(DISTINCT k%s) FROM {stage}",
                       text ? " COLLATE \"C\"" : "");
}

retl_err eng_pg_sql_key_check(struct retl_buf *b, const struct eng_state *st, bool delta)
{
    if (delta)
        return eng_sql_fmt(
            X(st), b,
            "SELECT count(*) FILTER (WHERE k IS NULL), (SELECT "
            "string_agg(k::text, ', ') FROM (SELECT k FROM {delta} WHERE k "
            "IS NOT NULL AND op <> 'D' GROUP BY k HAVING count(*) > 1 ORDER "
            "BY k LIMIT 5) AS d) FROM {delta} WHERE op <> 'D'");
    return eng_sql_fmt(
        X(st), b,
        "SELECT count(*) FILTER (WHERE k IS NULL), (SELECT string_agg(k::text, "
        "', ') FROM (SELECT k FROM {stage} WHERE k IS NOT NULL GROUP BY k "
        "HAVING count(*) > 1 ORDER BY k LIMIT 5) AS d) FROM {stage}");
}

/* Text keys count by their bytes (see eng_pg_sql_key_count). */
static const char *key_collate(const struct eng_state *st)
{
    const char *t = col_type(st, 0);
    bool text = !strcmp(t, "text") || !strcmp(t, "varchar") || !strcmp(t, "bpchar");
    return text ? " COLLATE \"C\"" : "";
}

retl_err eng_pg_sql_key_count_query(struct retl_buf *b, const struct eng_state *st,
                                    const char *query)
{
    retl_err rc;
    /* Only the key is read: a flattened query reads no other column. */
    RETL_TRY(eng_sql_fmt(X(st), b,
                         "SELECT count(*) FILTER (WHERE k IS NULL), count(k), "
                         "count(DISTINCT k%s) FROM (",
                         key_collate(st)));
    RETL_TRY(staged(b, st, query, true));
    RETL_TRY(retl_buf_adds(b, ") AS s"));
out:
    return rc;
}

retl_err eng_pg_sql_key_check_query(struct retl_buf *b, const struct eng_state *st,
                                    const char *query)
{
    retl_err rc;
    RETL_TRY(retl_buf_adds(b, "WITH s AS MATERIALIZED ("));
    RETL_TRY(staged(b, st, query, true));
    RETL_TRY(retl_buf_adds(
        b,
        ") SELECT count(*) FILTER (WHERE k IS NULL), (SELECT string_agg(k::text, ', ') "
        "FROM (SELECT k FROM s WHERE k IS NOT NULL GROUP BY k HAVING count(*) > 1 "
        "ORDER BY k LIMIT 5) AS d) FROM s"));
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
    RETL_TRY(eng_sql_fmt(X(st), &q, "{rows}"));
    RETL_TRY(eng_sql_fmt(X(st), b, "%s%L::regclass%s", pre, retl_buf_str(&q), post));
out:
    retl_buf_free(&q);
    return rc;
}

/* The condition for a joined row (s staged, o snapshot) to enter the delta.
 * Only the key, st and h of the snapshot enter the hash table; the join
 * strategy compares values where the snapshot kept them. */
static retl_err join_changed(struct retl_buf *b, const struct eng_state *st,
                             enum retl_mode mode, bool hash)
{
    const char *t;
    if (mode == RETL_MODE_INSERT)
        t = "(s.k IS NULL AND o.st " LOADED ") OR o.k IS NULL";
    else if (st->ncols < 2)
        t = "(s.k IS NULL AND o.st " LOADED ") OR o.k IS NULL OR (s.k IS NOT NULL AND "
            "o.st NOT " LOADED ")";
    else if (hash)
        t = "(s.k IS NULL AND o.st " LOADED ") OR o.k IS NULL OR (s.k IS NOT NULL AND "
            "(o.st NOT " LOADED " OR {hash:s} IS DISTINCT FROM o.h))";
    else
        t = "(s.k IS NULL AND o.st " LOADED ") OR o.k IS NULL OR (s.k IS NOT NULL AND "
            "(o.st NOT " LOADED " OR (o.st = 'H' AND {hash:s} IS DISTINCT FROM o.h) OR "
            "(o.st = 'L' AND ROW({s.c+}) IS DISTINCT FROM ROW({o.c+}))))";
    return eng_sql_fmt(X(st), b, t);
}

/* The delta by a key join of the staged rows with the snapshot: from the
 * stage table, or with query from the query itself, each query row counted
 * on the job's row counter when counted (else the plan counts them). */
static retl_err diff_join(struct retl_buf *b, const struct eng_state *st,
                          enum retl_mode mode, bool hash, const char *query, bool counted)
{
    retl_err rc;
    RETL_TRY(
        eng_sql_fmt(X(st), b,
                    " AS SELECT CASE WHEN o.k IS NULL THEN 'I' WHEN s.k IS NULL THEN "
                    "'D' ELSE 'U' END AS op, COALESCE(s.k, o.k) AS k, {hash:s} AS "
                    "h{s.c*} FROM "));
    if (!query) {
        RETL_TRY(eng_sql_fmt(X(st), b,
                             "{stage} AS s FULL JOIN {snap} AS o ON o.k = s.k WHERE "));
        return join_changed(b, st, mode, hash);
    }
    RETL_TRY(retl_buf_addc(b, '('));
    RETL_TRY(stage_select(b, st, query));
    if (!counted) {
        RETL_TRY(
            eng_sql_fmt(X(st), b, ") AS s FULL JOIN {snap} AS o ON o.k = s.k WHERE "));
        return join_changed(b, st, mode, hash);
    }
    /* Counted in the join's filter, not in the query, so the query stays
     * free of volatile functions (flattened, e.g. into a merge join on the
     * key's index). A joined row holds a query row unless it is a snapshot
     * row alone (o.k is never NULL). One CASE: its order is kept. */
    RETL_TRY(eng_sql_fmt(X(st), b,
                         ") AS s FULL JOIN {snap} AS o ON o.k = s.k WHERE CASE WHEN (s.k "
                         "IS NOT NULL OR o.k IS NULL) AND "));
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
    if (mode == RETL_MODE_INSERT)
        RETL_TRY(
            eng_sql_fmt(X(st), b,
                        " AS WITH ch AS (SELECT k{c*} FROM {stage} WHERE k IN (SELECT "
                        "k FROM {stage} EXCEPT SELECT k FROM {snap})"));
    else
        RETL_TRY(eng_sql_fmt(X(st), b,
                             " AS WITH ch AS (SELECT k{c*} FROM {stage} EXCEPT SELECT "
                             "k{c*} FROM {snap} WHERE st = 'L'"));
    /* Rows the hash strategy saved without values compare by hash. */
    RETL_TRY(eng_sql_fmt(X(st), b,
                         "), gone AS (SELECT k FROM {snap} WHERE st " LOADED
                         " EXCEPT SELECT k FROM {stage}) SELECT CASE WHEN o.k IS NULL "
                         "THEN 'I' ELSE 'U' END AS op, ch.k, {hash:ch} AS h{ch.c*} FROM "
                         "ch LEFT JOIN {snap} AS o ON o.k = ch.k WHERE o.st IS DISTINCT "
                         "FROM 'H' OR {hash:ch} IS DISTINCT FROM o.h UNION ALL SELECT "
                         "'D', g.k, NULL::bigint"));
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
    if (how == ENG_DIFF_EXCEPT && query)
        return RETL_E_INTERNAL;
    RETL_TRY(eng_sql_fmt(X(st), b,
                         "DROP TABLE IF EXISTS {delta};\nCREATE UNLOGGED TABLE {delta}"));
    if (how == ENG_DIFF_EXCEPT)
        RETL_TRY(diff_except(b, st, mode));
    else
        RETL_TRY(diff_join(b, st, mode, how == ENG_DIFF_HASH, query, true));
out:
    return rc;
}

retl_err eng_pg_sql_diff_explained(struct retl_buf *b, const struct eng_state *st,
                                   enum retl_mode mode, enum eng_diff how,
                                   const char *query)
{
    retl_err rc;
    if (how == ENG_DIFF_EXCEPT || !query)
        return RETL_E_INTERNAL;
    /* TIMING OFF: the row counts are wanted, not a clock read per row. */
    RETL_TRY(eng_sql_fmt(X(st), b,
                         "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF, FORMAT JSON) CREATE "
                         "UNLOGGED TABLE {delta}"));
    RETL_TRY(diff_join(b, st, mode, how == ENG_DIFF_HASH, query, false));
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
    return eng_sql_fmt(
        X(st), b,
        "SELECT count(*) FILTER (WHERE op = 'I'), count(*) FILTER (WHERE op "
        "= 'U'), count(*) FILTER (WHERE op = 'D') FROM {delta}");
}

retl_err eng_pg_sql_permanent_any(struct retl_buf *b, const struct eng_state *st)
{
    return eng_sql_fmt(
        X(st), b, "SELECT EXISTS (SELECT 1 FROM {errors} WHERE class = 'permanent')");
}

retl_err eng_pg_sql_skip_permanent(struct retl_buf *b, const struct eng_state *st)
{
    return eng_sql_fmt(
        X(st), b,
        "UPDATE {delta} AS d SET op = 'P' FROM {errors} AS e WHERE e.class "
        "= 'permanent' AND d.op IN ('I', 'U') AND e.h IS NOT DISTINCT "
        "FROM d.h AND e.key = {=d.k}");
}

retl_err eng_pg_sql_errors_prune(struct retl_buf *b, const struct eng_state *st,
                                 bool dels)
{
    return eng_sql_fmt(X(st), b,
                       dels ? "DELETE FROM {errors} AS e WHERE NOT EXISTS (SELECT 1 FROM "
                              "{delta} AS d WHERE {=d.k} = e.key)"
                            : "DELETE FROM {errors} AS e WHERE NOT EXISTS (SELECT 1 FROM "
                              "{delta} AS d WHERE d.op <> 'D' AND {=d.k} = e.key)");
}

retl_err eng_pg_sql_delta_cursor(struct retl_buf *b, const struct eng_state *st,
                                 bool dels)
{
    /* The destination's record id, which deletes address records by. */
    return eng_sql_fmt(X(st), b,
                       "DECLARE retl_delta NO SCROLL CURSOR FOR SELECT op, {=*}, CASE "
                       "WHEN op = 'D' THEN (SELECT o.id FROM {snap} AS o WHERE o.k = "
                       "d.k) END, ctid FROM {delta} AS d WHERE op IN ('I', 'U'%s)",
                       dels ? ", 'D'" : "");
}

retl_err eng_pg_sql_ids_table(struct retl_buf *b, const struct eng_state *st)
{
    (void)st;
    return retl_buf_adds(b, "CREATE TEMP TABLE IF NOT EXISTS retl_ids (k text, id text) "
                            "ON COMMIT DELETE ROWS");
}

retl_err eng_pg_sql_synced_count(struct retl_buf *b, const struct eng_state *st)
{
    return eng_sql_fmt(X(st), b, "SELECT count(*) FROM {snap} WHERE st " LOADED);
}

retl_err eng_pg_sql_batch_table(struct retl_buf *b, const struct eng_state *st)
{
    (void)st;
    return retl_buf_adds(b, "CREATE TEMP TABLE IF NOT EXISTS retl_batch (k text, code "
                            "text, message text, fields text, cls text) ON COMMIT "
                            "DELETE ROWS");
}

/* The delta rows of one batch (between ctids %L and %L): the cursor reads
 * the delta in physical order. RANGE: the rows written (not those skipped as
 * permanently failing, P); RANGE_D also the deletes, when propagated. */
#define RANGE "d.ctid >= %L::tid AND d.ctid <= %L::tid AND d.op IN ('I', 'U')"
#define RANGE_D "d.ctid >= %L::tid AND d.ctid <= %L::tid AND d.op IN ('I', 'U', 'D')"

retl_err eng_pg_sql_ids_save(struct retl_buf *b, const struct eng_state *st,
                             const char *first, const char *last)
{
    return eng_sql_fmt(X(st), b,
                       "UPDATE {snap} AS o SET id = i.id FROM pg_temp.retl_ids AS i, "
                       "{delta} AS d WHERE " RANGE " AND o.k = d.k AND i.k = {=d.k} AND "
                       "o.id IS DISTINCT FROM i.id",
                       first, last);
}

/* A batch's rows into the snapshot, [values][changed]: new keys by INSERT;
 * changed keys (present in the snapshot: the diff matched them, and the
 * job's lock keeps it so) by UPDATE ... FROM the delta, without ON
 * CONFLICT's speculative insertion (about a quarter cheaper). With values,
 * status L and the values; without, status H and the hash only (the lean
 * rows of the hash strategy, their values NULL). The changed keys' kept
 * record ids come back (delta ctid, id; in ctid order, none when the
 * destination keeps no ids), so commit writes only the ids that changed. */
#define IDS_BACK(UPDATE)                                                                 \
    "WITH u AS (" UPDATE                                                                 \
    " RETURNING d.ctid AS t, o.id) SELECT t, id FROM u WHERE id IS "                     \
    "NOT NULL ORDER BY t;\n"
static const char *const snap_save[2][2] = {
    {"INSERT INTO {snap} (k, st, h) SELECT d.k, 'H', d.h FROM {delta} AS d WHERE " RANGE
     " AND d.op = 'I';\n",
     IDS_BACK("UPDATE {snap} AS o SET st = 'H', h = d.h%s FROM {delta} AS d WHERE o.k = "
              "d.k AND " RANGE " AND d.op = 'U'")},
    {"INSERT INTO {snap} (k, st, h{c*}) SELECT d.k, 'L', d.h{d.c*} FROM {delta} AS d "
     "WHERE " RANGE " AND d.op = 'I';\n",
     IDS_BACK("UPDATE {snap} AS o SET st = 'L', h = d.h%s FROM {delta} AS d WHERE o.k = "
              "d.k AND " RANGE " AND d.op = 'U'")},
};

/* ", c1 = <pfx>c1, ..." (pfx NULL: ", c1 = NULL, ..."): the value columns an
 * UPDATE of a snapshot row sets. */
static retl_err set_values(struct retl_buf *b, const struct eng_state *st,
                           const char *pfx)
{
    retl_err rc = RETL_E_OK;
    for (size_t i = 1; i < st->ncols; i++) {
        if (pfx)
            RETL_TRY(retl_buf_printf(b, ", c%zu = %sc%zu", i, pfx, i));
        else
            RETL_TRY(retl_buf_printf(b, ", c%zu = NULL", i));
    }
out:
    return rc;
}

retl_err eng_pg_sql_snap_write(struct retl_buf *b, const struct eng_state *st,
                               const char *first, const char *last, bool ins, bool upd,
                               bool values)
{
    retl_err rc = RETL_E_OK;
    struct retl_buf set;
    retl_buf_init(&set, 1u << 20);
    RETL_TRY(set_values(&set, st, values ? "d." : NULL));
    if (ins)
        RETL_TRY(eng_sql_fmt(X(st), b, snap_save[values][0], first, last));
    if (upd)
        RETL_TRY(
            eng_sql_fmt(X(st), b, snap_save[values][1], retl_buf_str(&set), first, last));
out:
    retl_buf_free(&set);
    return rc;
}

/* An error row of a key that failed before: the latest failure, one more
 * attempt. */
#define ERRORS_AGAIN                                                                     \
    " ON CONFLICT (key) DO UPDATE SET run = EXCLUDED.run, operation = "                  \
    "EXCLUDED.operation, code = EXCLUDED.code, message = EXCLUDED.message, fields = "    \
    "EXCLUDED.fields, \"row\" = EXCLUDED.\"row\", last_failed = EXCLUDED.last_failed, "  \
    "attempts = e.attempts + 1, class = EXCLUDED.class, h = EXCLUDED.h"

/* A failed batch, in order: failed new keys leave the snapshot again;
 * failed changed keys stay known (Update mode may still address them) but
 * no longer loaded, so the next run sends them again whatever their values
 * then; the successes leave errors; the failures are upserted into errors
 * (attempts + 1 when known). */
/* A failed batch, in order: failed new keys leave the snapshot again;
 * failed changed keys stay known (Update mode may still address them) but
 * no longer loaded, so the next run sends them again whatever their values
 * then; the successes leave errors; the failures are upserted into errors
 * (attempts + 1 when known) with their class and row hash. The errors half
 * covers the batch's deletes too when they are propagated (R). */
#define COMMIT_FAILED(R)                                                                 \
    "DELETE FROM {snap} AS o USING {delta} AS d, pg_temp.retl_batch AS f WHERE " RANGE   \
    " AND d.op = 'I' AND o.k = d.k AND f.k = {=d.k};\n"                                  \
    "UPDATE {snap} AS o SET st = 'K', h = NULL%s FROM {delta} AS d, pg_temp.retl_batch " \
    "AS f WHERE " RANGE " AND d.op = 'U' AND o.k = d.k AND f.k = {=d.k};\n"              \
    "DELETE FROM {errors} AS e USING {delta} AS d WHERE " R                              \
    " AND e.key = {=d.k} AND NOT EXISTS (SELECT 1 FROM pg_temp.retl_batch AS b WHERE "   \
    "b.k = {=d.k});\n"                                                                   \
    "INSERT INTO {errors} AS e (key, run, operation, code, message, fields, \"row\", "   \
    "first_failed, last_failed, attempts, class, h) SELECT b.k, %lld, %s, b.code, "      \
    "b.message, b.fields, json_object(ARRAY[%s]::text[], "                               \
    "ARRAY[{=d.*}]::text[])::jsonb, now(), now(), 1, b.cls, d.h FROM "                   \
    "pg_temp.retl_batch AS b, {delta} AS d WHERE " R " AND b.k = {=d.k}" ERRORS_AGAIN

/* The batch's propagated deletes that succeeded: Delete forgets the key (a
 * key that comes back is new), Clear keeps it as gone from the source (G,
 * its record id kept), so it is cleared once and sent again if it returns.
 * Failed ones (in the batch table) stay synced: the next run tries again. */
static const char *const deletes_saved[2][2] = {
    {"DELETE FROM {snap} AS o USING {delta} AS d WHERE " RANGE_D
     " AND d.op = 'D' AND o.k = d.k;\n",
     "DELETE FROM {snap} AS o USING {delta} AS d WHERE " RANGE_D
     " AND d.op = 'D' AND o.k = d.k AND NOT EXISTS (SELECT 1 FROM pg_temp.retl_batch AS "
     "b WHERE b.k = {=d.k});\n"},
    {"UPDATE {snap} AS o SET st = 'G' FROM {delta} AS d WHERE " RANGE_D
     " AND d.op = 'D' AND o.k = d.k;\n",
     "UPDATE {snap} AS o SET st = 'G' FROM {delta} AS d WHERE " RANGE_D
     " AND d.op = 'D' AND o.k = d.k AND NOT EXISTS (SELECT 1 FROM pg_temp.retl_batch AS "
     "b WHERE b.k = {=d.k});\n"},
};

retl_err eng_pg_sql_commit_written(struct retl_buf *b, const struct eng_state *st,
                                   long long run, const char *op, const char *del_op,
                                   const char *first, const char *last, bool failed)
{
    retl_err rc;
    struct retl_buf nulls, names, opx;
    retl_buf_init(&nulls, 1u << 20);
    retl_buf_init(&names, 1u << 20);
    retl_buf_init(&opx, 1024);
    if (del_op)
        RETL_TRY(eng_sql_fmt(X(st), b, deletes_saved[!strcmp(del_op, "clear")][failed],
                             first, last));
    if (!failed) {
        rc = eng_sql_fmt(
            X(st), b,
            del_op ? "DELETE FROM {errors} AS e USING {delta} AS d WHERE " RANGE_D
                     " AND e.key = {=d.k}"
                   : "DELETE FROM {errors} AS e USING {delta} AS d WHERE " RANGE
                     " AND e.key = {=d.k}",
            first, last);
        goto out;
    }
    RETL_TRY(set_values(&nulls, st, NULL));
    for (size_t i = 0; i < st->ncols; i++)
        RETL_TRY(eng_sql_fmt(X(st), &names, "%s%L", i ? ", " : "", st->cols[i].name));
    if (del_op)
        RETL_TRY(eng_sql_fmt(X(st), &opx, "CASE WHEN d.op = 'D' THEN %L ELSE %L END",
                             del_op, op));
    else
        RETL_TRY(eng_sql_fmt(X(st), &opx, "%L", op));
    RETL_TRY(eng_sql_fmt(X(st), b, del_op ? COMMIT_FAILED(RANGE_D) : COMMIT_FAILED(RANGE),
                         first, last, retl_buf_str(&nulls), first, last, first, last, run,
                         retl_buf_str(&opx), retl_buf_str(&names), first, last));
out:
    retl_buf_free(&nulls);
    retl_buf_free(&names);
    retl_buf_free(&opx);
    return rc;
}

retl_err eng_pg_sql_stream_cursor(struct retl_buf *b, const struct eng_state *st,
                                  const char *query)
{
    retl_err rc;
    /* The layout of eng_pg_sql_delta_cursor, then the key as its type's own
     * text (what COPY into the snapshot reads back exactly) and the hash. */
    RETL_TRY(
        eng_sql_fmt(X(st), b,
                    "DECLARE retl_delta NO SCROLL CURSOR FOR SELECT 'I'::text AS op, "
                    "{=s.*}, NULL::text AS id, s.k::text AS nk, {hash:s} AS h FROM ("));
    RETL_TRY(stage_select(b, st, query));
    RETL_TRY(retl_buf_adds(b, ") AS s"));
out:
    return rc;
}

retl_err eng_pg_sql_stream_copy(struct retl_buf *b, const struct eng_state *st, bool ids)
{
    return eng_sql_fmt(X(st), b,
                       ids ? "COPY {snap} (k, st, h, id) FROM STDIN"
                           : "COPY {snap} (k, st, h) FROM STDIN");
}

retl_err eng_pg_sql_stream_tables(struct retl_buf *b, const struct eng_state *st)
{
    return eng_sql_fmt(
        X(st), b,
        "CREATE TEMP TABLE IF NOT EXISTS retl_fail (k text, nk %s, h bigint, code text, "
        "message text, fields text, cls text, \"row\" text) ON COMMIT DELETE ROWS;\n"
        "CREATE TEMP TABLE IF NOT EXISTS retl_sids (k %s, id text) ON COMMIT DELETE ROWS",
        col_type(st, 0), col_type(st, 0));
}

retl_err eng_pg_sql_stream_commit(struct retl_buf *b, const struct eng_state *st,
                                  long long run, const char *op, bool failed, bool ids)
{
    retl_err rc = RETL_E_OK;
    /* A streamed sync starts with no error row, and each key comes once:
     * the successes have none to leave. */
    if (failed)
        RETL_TRY(eng_sql_fmt(
            X(st), b,
            "DELETE FROM {snap} AS o USING pg_temp.retl_fail AS f WHERE o.k = f.nk;\n"
            "INSERT INTO {errors} AS e (key, run, operation, code, message, fields, "
            "\"row\", first_failed, last_failed, attempts, class, h) SELECT f.k, %lld, "
            "%L, f.code, f.message, f.fields, f.\"row\"::jsonb, now(), now(), 1, f.cls, "
            "f.h FROM pg_temp.retl_fail AS f" ERRORS_AGAIN ";\n",
            run, op));
    if (ids)
        RETL_TRY(eng_sql_fmt(X(st), b,
                             "UPDATE {snap} AS o SET id = i.id FROM pg_temp.retl_sids AS "
                             "i WHERE o.k = i.k;\n"));
out:
    return rc;
}

retl_err eng_pg_sql_finish(struct retl_buf *b, const struct eng_state *st)
{
    retl_err rc;
    RETL_TRY(eng_sql_fmt(X(st), b,
                         "UPDATE {snap} AS o SET st = 'G' FROM {delta} AS d WHERE d.op = "
                         "'D' AND o.k = d.k;\n"));
    RETL_TRY(eng_pg_sql_scratch_drop(b, st));
out:
    return rc;
}

retl_err eng_pg_sql_scratch_drop(struct retl_buf *b, const struct eng_state *st)
{
    return eng_sql_fmt(X(st), b,
                       "DROP TABLE IF EXISTS {delta};\nDROP TABLE IF EXISTS {stage}");
}

retl_err eng_pg_sql_errors_list(struct retl_buf *b, const struct eng_state *st,
                                size_t limit)
{
    return eng_sql_fmt(
        X(st), b,
        "SELECT run, key, operation, code, message, fields, \"row\"::text, "
        "to_char(first_failed AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), to_char(last_failed AT TIME "
        "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), attempts, count(*) "
        "OVER (), COALESCE(class, 'transient') FROM {errors} ORDER BY key LIMIT %zu",
        limit);
}

retl_err eng_pg_sql_errors_permanent(struct retl_buf *b, const struct eng_state *st)
{
    return eng_sql_fmt(X(st), b,
                       "SELECT count(*) FROM {errors} WHERE class = 'permanent'");
}

retl_err eng_pg_sql_drop(struct retl_buf *b, const struct eng_state *st)
{
    return eng_sql_fmt(
        X(st), b,
        "DROP TABLE IF EXISTS {delta}, {stage}, {snap}, {errors}, {meta};\n"
        "DROP SEQUENCE IF EXISTS {rows}");
}
