/* engine/source/pg_sql.c: quoting, COPY escaping, canonical-text expressions
 * and the state SQL of the postgres source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/source/pg_sql.h"

static struct retl_buf b;

static int setup(void **st)
{
    (void)st;
    retl_buf_init(&b, ENG_PG_SQL_MAX);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    retl_buf_free(&b);
    return 0;
}

static const char *out(void)
{
    return retl_buf_str(&b);
}

static void quoting(void **st)
{
    (void)st;
    retl_buf_reset(&b);
    assert_int_equal(eng_pg_ident(&b, "we\"ird"), RETL_E_OK);
    assert_string_equal(out(), "\"we\"\"ird\"");
    retl_buf_reset(&b);
    eng_pg_qname(&b, "retl", "a__b__snap");
    assert_string_equal(out(), "\"retl\".\"a__b__snap\"");
    retl_buf_reset(&b);
    eng_pg_dotted(&b, "analytics.Scores");
    assert_string_equal(out(), "\"analytics\".\"Scores\"");
    retl_buf_reset(&b);
    eng_pg_literal(&b, "it's \\ fine");
    assert_string_equal(out(), "'it''s \\ fine'");
}

static void copy_fields(void **st)
{
    (void)st;
    retl_buf_reset(&b);
    eng_pg_copy_field(&b, NULL);
    assert_string_equal(out(), "\\N");
    retl_buf_reset(&b);
    eng_pg_copy_field(&b, "a\tb\nc\\d\re €");
    assert_string_equal(out(), "a\\tb\\nc\\\\d\\re €");
    retl_buf_reset(&b);
    eng_pg_copy_field(&b, "");
    assert_string_equal(out(), "");
    retl_buf_reset(&b);
    eng_pg_copy_field(&b, "\\N");
    assert_string_equal(out(), "\\\\N");
}

static void types(void **st)
{
    (void)st;
    assert_int_equal(eng_pg_type("bool", 'B'), ENG_T_BOOL);
    assert_int_equal(eng_pg_type("int8", 'N'), ENG_T_INT);
    assert_int_equal(eng_pg_type("numeric", 'N'), ENG_T_NUMERIC);
    assert_int_equal(eng_pg_type("float8", 'N'), ENG_T_NUMERIC);
    assert_int_equal(eng_pg_type("date", 'D'), ENG_T_DATE);
    assert_int_equal(eng_pg_type("timestamp", 'D'), ENG_T_TIMESTAMP);
    assert_int_equal(eng_pg_type("timestamptz", 'D'), ENG_T_TIMESTAMPTZ);
    assert_int_equal(eng_pg_type("jsonb", 'U'), ENG_T_JSON);
    assert_int_equal(eng_pg_type("_int4", 'A'), ENG_T_JSON);
    assert_int_equal(eng_pg_type("bytea", 'U'), ENG_T_BYTES);
    assert_int_equal(eng_pg_type("uuid", 'U'), ENG_T_TEXT);
    assert_int_equal(eng_pg_type("varchar", 'S'), ENG_T_TEXT);
}

static void canon(void **st)
{
    (void)st;
    retl_buf_reset(&b);
    eng_pg_canon_expr(&b, "q.\"c\"", "timestamptz", ENG_T_TIMESTAMPTZ);
    assert_non_null(strstr(out(), "|| ':00'"));
    assert_non_null(strstr(out(), "isfinite(q.\"c\")"));
    retl_buf_reset(&b);
    eng_pg_canon_expr(&b, "x", "bytea", ENG_T_BYTES);
    assert_string_equal(out(), "translate(encode(x, 'base64'), E'\\n', '')");
    retl_buf_reset(&b);
    eng_pg_canon_expr(&b, "x", "_text", ENG_T_JSON);
    assert_string_equal(out(), "to_json(x)::text");
    retl_buf_reset(&b);
    eng_pg_canon_expr(&b, "x", "jsonb", ENG_T_JSON);
    assert_string_equal(out(), "(x)::text");
    retl_buf_reset(&b);
    eng_pg_canon_expr(&b, "x", "bool", ENG_T_BOOL);
    assert_string_equal(out(), "(x)::text");
}

static struct eng_scol cols[] = {{"id", "int4", ENG_T_INT},
                                 {"e\"mail", "text", ENG_T_TEXT},
                                 {"blob", "bytea", ENG_T_BYTES}};

static void mkstate(struct eng_state *s)
{
    memset(s, 0, sizeof *s);
    eng_state_names("retl", "ns", "job", &s->n, NULL);
    s->cols = cols;
    s->ncols = 3;
}

/* numeric's own hash ignores the sign: a negative value flips a constant
 * into the row hash, rows without one keep their hash. */
static void numeric_sign_hash(void **st)
{
    (void)st;
    struct eng_scol nc[] = {
        {.name = "id", .sql_type = "int4", .type = ENG_T_INT},
        {.name = "amount", .sql_type = "numeric", .type = ENG_T_NUMERIC},
        {.name = "name", .sql_type = "text", .type = ENG_T_TEXT}};
    struct eng_state s;
    mkstate(&s);
    s.cols = nc;
    retl_buf_reset(&b);
    eng_pg_sql_diff(&b, &s, RETL_MODE_UPSERT, ENG_DIFF_HASH, NULL);
    assert_non_null(strstr(out(), "(hash_record_extended(ROW(s.c1, s.c2), 0) # CASE WHEN "
                                  "s.c1 < 0 THEN "));
    assert_null(strstr(out(), "s.c2 < 0"));
}

static void typed_columns(void **st)
{
    (void)st;
    struct eng_state s;
    mkstate(&s);
    assert_true(eng_pg_typed("int4"));
    assert_true(eng_pg_typed("jsonb"));
    assert_false(eng_pg_typed("json"));
    assert_false(eng_pg_typed("_int4"));
    assert_false(eng_pg_typed(NULL));
    retl_buf_reset(&b);
    eng_pg_sql_types(&b, &s);
    assert_string_equal(out(), "int4,text,bytea");
}

static void stage_sql(void **st)
{
    (void)st;
    struct eng_state s;
    mkstate(&s);
    retl_buf_reset(&b);
    assert_int_equal(eng_pg_sql_stage(&b, &s, "SELECT * FROM t"), RETL_E_OK);
    assert_non_null(strstr(out(), "DROP TABLE IF EXISTS \"retl\".\"ns__job__stage\""));
    assert_non_null(strstr(out(), "CREATE UNLOGGED TABLE \"retl\".\"ns__job__stage\" AS "
                                  "SELECT q.\"id\" AS k, q.\"e\"\"mail\" AS c1, "
                                  "q.\"blob\" AS c2 FROM (\nSELECT * FROM t\n) AS q"));
    /* a type without equality is staged as canonical text */
    cols[2].sql_type = "json";
    cols[2].type = ENG_T_JSON;
    retl_buf_reset(&b);
    eng_pg_sql_stage(&b, &s, "SELECT * FROM t");
    assert_non_null(strstr(out(), "(q.\"blob\")::text AS c2"));
    cols[2].sql_type = "bytea";
    cols[2].type = ENG_T_BYTES;
}

static void job_query(void **st)
{
    (void)st;
    struct retl_job j;
    memset(&j, 0, sizeof j);
    j.source.query = "SELECT 1 AS id;  \n";
    retl_buf_reset(&b);
    eng_pg_job_query(&b, &j);
    assert_string_equal(out(), "SELECT 1 AS id");
    j.source.query = NULL;
    j.source.table = "analytics.scores";
    retl_buf_reset(&b);
    eng_pg_job_query(&b, &j);
    assert_string_equal(out(), "SELECT * FROM \"analytics\".\"scores\"");
}

static void diff_sql(void **st)
{
    (void)st;
    struct eng_state s;
    mkstate(&s);
    retl_buf_reset(&b);
    eng_pg_sql_diff(&b, &s, RETL_MODE_UPSERT, ENG_DIFF_JOIN, NULL);
    assert_non_null(
        strstr(out(), "FULL JOIN \"retl\".\"ns__job__snap\" AS o ON o.k = s.k"));
    assert_non_null(strstr(out(), "(o.st = 'L' AND ROW(s.c1, s.c2) IS DISTINCT FROM "
                                  "ROW(o.c1, o.c2))"));
    /* Lean rows saved by the hash strategy compare by hash. */
    assert_non_null(strstr(out(), "(o.st = 'H' AND hash_record_extended(ROW(s.c1, "
                                  "s.c2), 0) IS DISTINCT FROM o.h)"));
    retl_buf_reset(&b);
    eng_pg_sql_diff(&b, &s, RETL_MODE_INSERT, ENG_DIFF_JOIN, NULL);
    assert_null(strstr(out(), "IS DISTINCT FROM"));
    assert_non_null(strstr(out(), "OR o.k IS NULL"));
    retl_buf_reset(&b);
    eng_pg_sql_diff(&b, &s, RETL_MODE_UPSERT, ENG_DIFF_EXCEPT, NULL);
    assert_non_null(strstr(
        out(), "EXCEPT SELECT k, c1, c2 FROM \"retl\".\"ns__job__snap\" WHERE st = 'L'"));
    assert_non_null(strstr(out(), "UNION ALL SELECT 'D', g.k, NULL::bigint, NULL::text, "
                                  "NULL::bytea FROM gone AS g"));
    assert_non_null(
        strstr(out(), "ch.k, hash_record_extended(ROW(ch.c1, ch.c2), 0) AS h"));
    assert_non_null(strstr(out(), "WHERE o.st IS DISTINCT FROM 'H' OR "
                                  "hash_record_extended(ROW(ch.c1, ch.c2), 0) IS "
                                  "DISTINCT FROM o.h UNION ALL"));
    assert_non_null(strstr(out(), "WHERE st IN ('L', 'H') EXCEPT SELECT k FROM"));
    /* EXCEPT reads the stage twice: never from the query. */
    retl_buf_reset(&b);
    assert_int_equal(
        eng_pg_sql_diff(&b, &s, RETL_MODE_UPSERT, ENG_DIFF_EXCEPT, "SELECT 1"),
        RETL_E_INTERNAL);
    retl_buf_reset(&b);
    eng_pg_sql_diff(&b, &s, RETL_MODE_UPSERT, ENG_DIFF_HASH, NULL);
    assert_non_null(strstr(out(),
                           "COALESCE(s.k, o.k) AS k, hash_record_extended(ROW(s.c1, "
                           "s.c2), 0) AS h, s.c1, s.c2 FROM"));
    assert_non_null(strstr(out(),
                           "o.st NOT IN ('L', 'H') OR hash_record_extended(ROW(s.c1, "
                           "s.c2), 0) IS DISTINCT FROM o.h))"));
    assert_null(strstr(out(), "ROW(o.c1"));
    /* Straight from the query, each row counted: no stage table. */
    retl_buf_reset(&b);
    eng_pg_sql_diff(&b, &s, RETL_MODE_UPSERT, ENG_DIFF_HASH, "SELECT * FROM t");
    assert_non_null(strstr(out(),
                           "FROM (\nSELECT * FROM t\n) AS q) AS s FULL JOIN "
                           "\"retl\".\"ns__job__snap\" AS o ON o.k = s.k WHERE CASE "
                           "WHEN (s.k IS NOT NULL OR o.k IS NULL) AND "
                           "nextval('\"retl\".\"ns__job__rows\"'::regclass) < 0 THEN "
                           "false ELSE (s.k IS "
                           "NULL AND o.st IN ('L', 'H')) OR o.k IS NULL OR"));
    assert_non_null(strstr(out(), "IS DISTINCT FROM o.h)) END"));
    assert_null(strstr(out(), "ns__job__stage"));
    retl_buf_reset(&b);
    eng_pg_sql_counter_reset(&b, &s);
    assert_string_equal(out(),
                        "SELECT setval('\"retl\".\"ns__job__rows\"'::regclass, 0)");
    /* The same delta under EXPLAIN ANALYZE: the plan counts the rows. */
    retl_buf_reset(&b);
    assert_int_equal(eng_pg_sql_diff_explained(&b, &s, RETL_MODE_UPSERT, ENG_DIFF_HASH,
                                               "SELECT * FROM t"),
                     RETL_E_OK);
    assert_non_null(strstr(out(), "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF, FORMAT JSON) "
                                  "CREATE UNLOGGED TABLE \"retl\".\"ns__job__delta\" AS "
                                  "SELECT CASE WHEN o.k IS NULL"));
    assert_non_null(strstr(out(),
                           ") AS q) AS s FULL JOIN \"retl\".\"ns__job__snap\" AS o "
                           "ON o.k = s.k WHERE (s.k IS NULL AND o.st IN ('L', 'H')) "
                           "OR o.k IS NULL OR"));
    assert_null(strstr(out(), "nextval"));
    assert_null(strstr(out(), "DROP TABLE"));
    retl_buf_reset(&b);
    assert_int_equal(eng_pg_sql_diff_explained(&b, &s, RETL_MODE_UPSERT, ENG_DIFF_EXCEPT,
                                               "SELECT * FROM t"),
                     RETL_E_INTERNAL);
    assert_int_equal(
        eng_pg_sql_diff_explained(&b, &s, RETL_MODE_UPSERT, ENG_DIFF_HASH, NULL),
        RETL_E_INTERNAL);
}

static void fast_paths_sql(void **st)
{
    (void)st;
    struct eng_state s;
    mkstate(&s);
    retl_buf_reset(&b);
    eng_pg_sql_snap_write(&b, &s, "(0,1)", "(9,3)", true, false, true);
    eng_pg_sql_commit_written(&b, &s, 1, "upsert", NULL, "(0,1)", "(9,3)", false);
    assert_string_equal(
        out(),
        "INSERT INTO \"retl\".\"ns__job__snap\" (k, st, h, c1, c2) SELECT d.k, "
        "'L', d.h, d.c1, d.c2 FROM \"retl\".\"ns__job__delta\" AS d WHERE "
        "d.ctid >= '(0,1)'::tid AND d.ctid <= '(9,3)'::tid AND d.op IN ('I', 'U') AND "
        "d.op = 'I';\nDELETE FROM \"retl\".\"ns__job__errors\" AS e USING "
        "\"retl\".\"ns__job__delta\" AS d WHERE d.ctid >= '(0,1)'::tid AND "
        "d.ctid <= '(9,3)'::tid AND d.op IN ('I', 'U') AND e.key = (d.k)::text");
    retl_buf_reset(&b);
    eng_pg_sql_snap_write(&b, &s, "(0,1)", "(9,3)", false, true, true);
    assert_null(strstr(out(), "d.op = 'I'"));
    /* The changed keys' kept record ids come back in ctid order (commit
     * writes only the ids that changed). */
    assert_string_equal(out(),
                        "WITH u AS (UPDATE \"retl\".\"ns__job__snap\" AS o SET st = "
                        "'L', h = d.h, c1 = d.c1, c2 = d.c2 FROM "
                        "\"retl\".\"ns__job__delta\" AS d WHERE o.k = d.k AND d.ctid "
                        ">= '(0,1)'::tid AND d.ctid <= '(9,3)'::tid AND d.op IN ('I', "
                        "'U') AND d.op = 'U' RETURNING d.ctid AS t, o.id) SELECT t, id "
                        "FROM u WHERE id IS NOT NULL ORDER BY t;\n");
    /* The hash strategy's lean rows: key, status H and hash only. */
    retl_buf_reset(&b);
    eng_pg_sql_snap_write(&b, &s, "(0,1)", "(9,3)", true, true, false);
    assert_non_null(strstr(out(), "INSERT INTO \"retl\".\"ns__job__snap\" (k, st, h) "
                                  "SELECT d.k, 'H', d.h FROM"));
    assert_non_null(strstr(out(), "UPDATE \"retl\".\"ns__job__snap\" AS o SET st = 'H', "
                                  "h = d.h, c1 = NULL, c2 = NULL FROM"));
    assert_null(strstr(out(), "d.c1"));
    retl_buf_reset(&b);
    eng_pg_sql_stage_delta(&b, &s, "SELECT * FROM t");
    assert_non_null(strstr(out(), "DROP TABLE IF EXISTS \"retl\".\"ns__job__stage\";"));
    assert_non_null(strstr(
        out(), "CREATE UNLOGGED TABLE \"retl\".\"ns__job__delta\" AS SELECT 'I'::text "
               "AS op, s.k, hash_record_extended(ROW(s.c1, s.c2), 0) AS h, s.c1, s.c2 "
               "FROM (SELECT q.\"id\" AS k"));
    assert_non_null(strstr(out(), "SELECT * FROM t\n) AS q) AS s"));
    retl_buf_reset(&b);
    eng_pg_sql_key_count(&b, &s, true);
    assert_string_equal(out(), "SELECT count(*) FILTER (WHERE k IS NULL), count(k), "
                               "count(DISTINCT k) FROM \"retl\".\"ns__job__delta\" "
                               "WHERE op <> 'D'");
    /* Text keys are counted by their bytes. */
    struct eng_scol tcols[] = {{"id", "varchar", ENG_T_TEXT}, {"v", "int4", ENG_T_INT}};
    struct eng_state ts = s;
    ts.cols = tcols;
    ts.ncols = 2;
    retl_buf_reset(&b);
    eng_pg_sql_key_count(&b, &ts, false);
    assert_non_null(strstr(
        out(), "count(DISTINCT k COLLATE \"C\") FROM \"retl\".\"ns__job__stage\""));
    retl_buf_reset(&b);
    eng_pg_sql_snap_empty(&b, &s);
    assert_string_equal(out(),
                        "SELECT NOT EXISTS (SELECT 1 FROM \"retl\".\"ns__job__snap\"), "
                        "NOT EXISTS (SELECT 1 FROM \"retl\".\"ns__job__errors\")");
}

static void commit_sql(void **st)
{
    (void)st;
    struct eng_state s;
    mkstate(&s);
    retl_buf_reset(&b);
    eng_pg_sql_commit_written(&b, &s, 42, "upsert", NULL, "(0,1)", "(9,3)", true);
    /* What prewrite saved for the failed keys is taken back. */
    assert_non_null(strstr(
        out(),
        "DELETE FROM \"retl\".\"ns__job__snap\" AS o USING "
        "\"retl\".\"ns__job__delta\" AS d, pg_temp.retl_batch AS f WHERE d.ctid >= "
        "'(0,1)'::tid AND d.ctid <= '(9,3)'::tid AND d.op IN ('I', 'U') AND d.op = 'I' "
        "AND "
        "o.k = d.k AND f.k = (d.k)::text;\n"));
    assert_non_null(strstr(out(),
                           "UPDATE \"retl\".\"ns__job__snap\" AS o SET st = 'K', h "
                           "= NULL, c1 = NULL, c2 = NULL FROM "
                           "\"retl\".\"ns__job__delta\" AS d, pg_temp.retl_batch AS f "
                           "WHERE"));
    assert_non_null(strstr(out(), "d.op = 'U' AND o.k = d.k AND f.k = (d.k)::text;\n"));
    assert_non_null(strstr(out(), "DELETE FROM \"retl\".\"ns__job__errors\" AS e USING "
                                  "\"retl\".\"ns__job__delta\" AS d WHERE"));
    assert_non_null(strstr(out(),
                           "AND e.key = (d.k)::text AND NOT EXISTS (SELECT 1 FROM "
                           "pg_temp.retl_batch AS b WHERE b.k = (d.k)::text);\nINSERT "
                           "INTO \"retl\".\"ns__job__errors\""));
    assert_non_null(strstr(out(), "SELECT b.k, 42, 'upsert'"));
    assert_non_null(strstr(out(),
                           "json_object(ARRAY['id', 'e\"mail', 'blob']::text[], "
                           "ARRAY[(d.k)::text, (d.c1)::text, "
                           "translate(encode(d.c2, 'base64'), E'\\n', '')]::text[])"));
    assert_non_null(strstr(out(), "attempts = e.attempts + 1"));
    retl_buf_reset(&b);
    eng_pg_sql_batch_table(&b, &s);
    assert_string_equal(out(),
                        "CREATE TEMP TABLE IF NOT EXISTS retl_batch (k text, code "
                        "text, message text, fields text, cls text) ON COMMIT DELETE "
                        "ROWS");
    retl_buf_reset(&b);
    eng_pg_sql_delta_cursor(&b, &s, false);
    assert_string_equal(out(), "DECLARE retl_delta NO SCROLL CURSOR FOR SELECT op, "
                               "(k)::text, (c1)::text, translate(encode(c2, 'base64'), "
                               "E'\\n', ''), CASE WHEN op = 'D' THEN (SELECT o.id FROM "
                               "\"retl\".\"ns__job__snap\" AS o WHERE o.k = d.k) END, "
                               "ctid FROM \"retl\".\"ns__job__delta\" AS d WHERE "
                               "op IN ('I', 'U')");
    /* With deletes propagated the gone keys are read too. */
    retl_buf_reset(&b);
    eng_pg_sql_delta_cursor(&b, &s, true);
    assert_non_null(strstr(out(), "AS d WHERE op IN ('I', 'U', 'D')"));
    /* Permanent failures with the same row hash are left out (op P). */
    retl_buf_reset(&b);
    eng_pg_sql_skip_permanent(&b, &s);
    assert_string_equal(out(),
                        "UPDATE \"retl\".\"ns__job__delta\" AS d SET op = 'P' FROM "
                        "\"retl\".\"ns__job__errors\" AS e WHERE e.class = "
                        "'permanent' AND d.op IN ('I', 'U') AND e.h IS NOT DISTINCT "
                        "FROM d.h AND e.key = (d.k)::text");
    retl_buf_reset(&b);
    eng_pg_sql_commit_written(&b, &s, 7, "upsert", NULL, "(0,1)", "(9,3)", true);
    assert_non_null(strstr(out(), "attempts, class, h) SELECT b.k, 7, "));
    assert_non_null(strstr(out(), "class = EXCLUDED.class, h = EXCLUDED.h"));
    /* Deletes: successes leave the snapshot, failures keep it and go to
     * errors as operation delete; the batch range covers D rows. */
    retl_buf_reset(&b);
    eng_pg_sql_commit_written(&b, &s, 7, "upsert", "delete", "(0,1)", "(9,3)", true);
    assert_non_null(strstr(out(), "DELETE FROM \"retl\".\"ns__job__snap\" AS o USING "
                                  "\"retl\".\"ns__job__delta\" AS d WHERE d.ctid >= "
                                  "'(0,1)'::tid AND d.ctid <= '(9,3)'::tid AND d.op IN "
                                  "('I', 'U', 'D') AND d.op = 'D' AND o.k = d.k AND NOT "
                                  "EXISTS"));
    assert_non_null(
        strstr(out(), "CASE WHEN d.op = 'D' THEN 'delete' ELSE 'upsert' END"));
    retl_buf_reset(&b);
    eng_pg_sql_commit_written(&b, &s, 7, "upsert", "clear", "(0,1)", "(9,3)", false);
    assert_non_null(strstr(out(), "UPDATE \"retl\".\"ns__job__snap\" AS o SET st = 'G' "
                                  "FROM"));
    /* Record ids the destination returned go into the snapshot. */
    retl_buf_reset(&b);
    eng_pg_sql_ids_save(&b, &s, "(0,1)", "(9,3)");
    assert_non_null(strstr(out(), "SET id = i.id FROM pg_temp.retl_ids AS i"));
    assert_non_null(strstr(out(), "AND o.id IS DISTINCT FROM i.id"));
}

/* The streamed first sync: keys checked over the query itself, the cursor
 * with the key's own text and the hash, its batch saved by key. */
static void stream_sql(void **st)
{
    (void)st;
    struct eng_state s;
    mkstate(&s);
    retl_buf_reset(&b);
    assert_int_equal(eng_pg_sql_key_count_query(&b, &s, "SELECT * FROM t"), RETL_E_OK);
    assert_string_equal(out(), "SELECT count(*) FILTER (WHERE k IS NULL), count(k), "
                               "count(DISTINCT k) FROM (SELECT q.\"id\" AS k FROM (\n"
                               "SELECT * FROM t\n) AS q) AS s");
    retl_buf_reset(&b);
    assert_int_equal(eng_pg_sql_key_check_query(&b, &s, "SELECT * FROM t"), RETL_E_OK);
    assert_non_null(strstr(out(), "WITH s AS MATERIALIZED (SELECT q.\"id\" AS k FROM"));
    assert_non_null(strstr(out(), "GROUP BY k HAVING count(*) > 1 ORDER BY k LIMIT 5"));
    retl_buf_reset(&b);
    assert_int_equal(eng_pg_sql_stream_cursor(&b, &s, "SELECT * FROM t"), RETL_E_OK);
    assert_non_null(strstr(out(), "DECLARE retl_delta NO SCROLL CURSOR FOR SELECT "
                                  "'I'::text AS op, (s.k)::text, "));
    assert_non_null(strstr(out(), ", NULL::text AS id, s.k::text AS nk, "
                                  "hash_record_extended(ROW(s.c1, s.c2), 0) AS h FROM "
                                  "(SELECT q.\"id\" AS k, "));
    assert_null(strstr(out(), "ns__job__delta"));
    retl_buf_reset(&b);
    assert_int_equal(eng_pg_sql_stream_copy(&b, &s, false), RETL_E_OK);
    assert_string_equal(out(), "COPY \"retl\".\"ns__job__snap\" (k, st, h) FROM STDIN");
    retl_buf_reset(&b);
    assert_int_equal(eng_pg_sql_stream_copy(&b, &s, true), RETL_E_OK);
    assert_string_equal(out(),
                        "COPY \"retl\".\"ns__job__snap\" (k, st, h, id) FROM STDIN");
    retl_buf_reset(&b);
    assert_int_equal(eng_pg_sql_stream_tables(&b, &s), RETL_E_OK);
    assert_non_null(strstr(out(), "retl_fail (k text, nk int4, h bigint,"));
    assert_non_null(strstr(out(), "retl_sids (k int4, id text)"));
    retl_buf_reset(&b);
    assert_int_equal(eng_pg_sql_stream_commit(&b, &s, 42, "upsert", false, false),
                     RETL_E_OK);
    assert_string_equal(out(), "");
    assert_int_equal(eng_pg_sql_stream_commit(&b, &s, 42, "upsert", true, true),
                     RETL_E_OK);
    assert_non_null(strstr(out(), "DELETE FROM \"retl\".\"ns__job__snap\" AS o USING "
                                  "pg_temp.retl_fail AS f WHERE o.k = f.nk;\n"));
    assert_non_null(strstr(out(), "SELECT f.k, 42, 'upsert', f.code, f.message, "
                                  "f.fields, f.\"row\"::jsonb, now(), now(), 1, f.cls, "
                                  "f.h FROM pg_temp.retl_fail AS f ON CONFLICT (key) DO "
                                  "UPDATE SET"));
    assert_non_null(strstr(out(), "UPDATE \"retl\".\"ns__job__snap\" AS o SET id = i.id "
                                  "FROM pg_temp.retl_sids AS i WHERE o.k = i.k;\n"));
}

static void state_sql(void **st)
{
    (void)st;
    struct eng_state s;
    mkstate(&s);
    retl_buf_reset(&b);
    eng_pg_sql_snap_create(&b, &s);
    assert_string_equal(out(),
                        "CREATE TABLE \"retl\".\"ns__job__snap\" (k int4 PRIMARY "
                        "KEY, st text NOT NULL, h bigint, c1 text, c2 bytea, id text)");
    retl_buf_reset(&b);
    eng_pg_sql_rebase(&b, &s);
    /* The destination's record ids survive a new baseline. */
    assert_non_null(strstr(out(), "SELECT k, id FROM \"retl\".\"ns__job__snap\""));
    assert_non_null(
        strstr(out(), "(k, st, id) SELECT k::text::int4, 'K', id FROM retl_keys"));
    assert_non_null(strstr(out(), "TRUNCATE \"retl\".\"ns__job__errors\""));
    retl_buf_reset(&b);
    eng_pg_sql_snap_upgrade(&b, &s);
    assert_string_equal(out(), "ALTER TABLE \"retl\".\"ns__job__snap\" ADD COLUMN IF NOT "
                               "EXISTS id text");
    retl_buf_reset(&b);
    eng_pg_sql_meta_set(&b, &s, "fingerprint", "ab'c");
    assert_non_null(
        strstr(out(), "VALUES ('fingerprint', 'ab''c') ON CONFLICT (k) DO UPDATE"));
    retl_buf_reset(&b);
    eng_pg_sql_drop(&b, &s);
    assert_string_equal(out(),
                        "DROP TABLE IF EXISTS \"retl\".\"ns__job__delta\", "
                        "\"retl\".\"ns__job__stage\", \"retl\".\"ns__job__snap\", "
                        "\"retl\".\"ns__job__errors\", \"retl\".\"ns__job__meta\";\nDROP "
                        "SEQUENCE IF EXISTS \"retl\".\"ns__job__rows\"");
    retl_buf_reset(&b);
    eng_pg_sql_finish(&b, &s);
    assert_non_null(strstr(out(), "SET st = 'G'"));
    /* Without deleted keys the run only drops its scratch tables. */
    retl_buf_reset(&b);
    eng_pg_sql_scratch_drop(&b, &s);
    assert_string_equal(out(),
                        "DROP TABLE IF EXISTS \"retl\".\"ns__job__delta\";\nDROP TABLE "
                        "IF EXISTS \"retl\".\"ns__job__stage\"");
}

static void too_big(void **st)
{
    (void)st;
    struct retl_buf small;
    struct eng_state s;
    mkstate(&s);
    retl_buf_init(&small, 32);
    assert_int_equal(
        eng_pg_sql_commit_written(&small, &s, 1, "upsert", NULL, "(0,1)", "(0,2)", true),
        RETL_E_TOO_BIG);
    retl_buf_free(&small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quoting),       cmocka_unit_test(copy_fields),
        cmocka_unit_test(types),         cmocka_unit_test(canon),
        cmocka_unit_test(typed_columns), cmocka_unit_test(stage_sql),
        cmocka_unit_test(job_query),     cmocka_unit_test(diff_sql),
        cmocka_unit_test(commit_sql),    cmocka_unit_test(fast_paths_sql),
        cmocka_unit_test(state_sql),     cmocka_unit_test(stream_sql),
        cmocka_unit_test(too_big),       cmocka_unit_test(numeric_sign_hash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
