/* engine/source/sql_dialect.c: quoting, literals, type mapping, canonical
 * text, and the exact statements the warehouse sources send in each dialect
 * (the T-SQL text is what tds-sim receives in suite 35). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/source/sql_dialect.h"

static struct retl_buf b;
static struct eng_state st;
static struct eng_scol cols[3];

static const struct eng_dialect *dl(enum eng_dl_id id)
{
    return eng_dialect_get(id);
}

static int setup(void **s)
{
    (void)s;
    retl_buf_init(&b, ENG_DL_SQL_MAX);
    memset(&st, 0, sizeof st);
    assert_int_equal(eng_state_names("retl", "t", "items", &st.n, NULL), RETL_E_OK);
    cols[0] = (struct eng_scol){.name = "id", .type = ENG_T_INT};
    cols[1] = (struct eng_scol){.name = "name", .type = ENG_T_TEXT};
    cols[2] = (struct eng_scol){.name = "price", .type = ENG_T_NUMERIC};
    st.cols = cols;
    st.ncols = 3;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    retl_buf_free(&b);
    return 0;
}

static const char *out(void)
{
    return retl_buf_str(&b);
}

static void has(const char *needle)
{
    if (!strstr(out(), needle))
        fail_msg("missing [%s] in [%s]", needle, out());
}

static void lacks(const char *needle)
{
    if (strstr(out(), needle))
        fail_msg("unexpected [%s] in [%s]", needle, out());
}

static void quoting(void **s)
{
    (void)s;
    retl_buf_reset(&b);
    eng_dl_ident(dl(ENG_DL_TSQL), &b, "we]ird");
    assert_string_equal(out(), "[we]]ird]");
    retl_buf_reset(&b);
    eng_dl_ident(dl(ENG_DL_SNOWFLAKE), &b, "we\"ird");
    assert_string_equal(out(), "\"we\"\"ird\"");
    retl_buf_reset(&b);
    eng_dl_table(dl(ENG_DL_SQLITE), &b, "retl", "t__items__snap");
    assert_string_equal(out(), "\"retl_t__items__snap\"");
    retl_buf_reset(&b);
    eng_dl_table(dl(ENG_DL_TSQL), &b, "retl", "t__items__snap");
    assert_string_equal(out(), "[retl].[t__items__snap]");
    retl_buf_reset(&b);
    eng_dl_dotted(dl(ENG_DL_TSQL), &b, "dbo.Orders");
    assert_string_equal(out(), "[dbo].[Orders]");
}

static void literals(void **s)
{
    (void)s;
    retl_buf_reset(&b);
    eng_dl_literal(dl(ENG_DL_TSQL), &b, "it's ü");
    assert_string_equal(out(), "N'it''s ü'");
    retl_buf_reset(&b);
    eng_dl_literal(dl(ENG_DL_TSQL), &b, "plain");
    assert_string_equal(out(), "'plain'");
    retl_buf_reset(&b);
    eng_dl_literal(dl(ENG_DL_SNOWFLAKE), &b, "a\\b'c");
    assert_string_equal(out(), "'a\\\\b''c'");
    retl_buf_reset(&b);
    eng_dl_literal(dl(ENG_DL_POSTGRES), &b, "a\\b");
    assert_string_equal(out(), "'a\\b'");
}

static void dialect_lookup(void **s)
{
    (void)s;
    assert_int_equal(eng_dialect_guess("psqlodbca.so", "PostgreSQL")->id,
                     ENG_DL_POSTGRES);
    assert_int_equal(eng_dialect_guess("libsqlite3odbc.so", "SQLite")->id, ENG_DL_SQLITE);
    assert_int_equal(eng_dialect_guess("libtdsodbc.so", "Microsoft SQL Server")->id,
                     ENG_DL_TSQL);
    assert_int_equal(eng_dialect_guess("libmsodbcsql-18.so", "")->id, ENG_DL_TSQL);
    assert_int_equal(eng_dialect_guess("libfoo.so", "Foo DB")->id, ENG_DL_ANSI);
    assert_non_null(eng_dialect_find("TSQL"));
    assert_null(eng_dialect_find("oracle"));
}

static void types(void **s)
{
    (void)s;
    assert_int_equal(eng_dl_type(dl(ENG_DL_TSQL), -155, "datetimeoffset"),
                     ENG_T_TIMESTAMPTZ);
    assert_int_equal(eng_dl_type(dl(ENG_DL_TSQL), -7, "bit"), ENG_T_BOOL);
    assert_int_equal(eng_dl_type(dl(ENG_DL_TSQL), 93, "datetime2"), ENG_T_TIMESTAMP);
    assert_int_equal(eng_dl_type(dl(ENG_DL_TSQL), -9, "nvarchar"), ENG_T_TEXT);
    assert_int_equal(eng_dl_type(dl(ENG_DL_POSTGRES), 12, "bool"), ENG_T_BOOL);
    assert_int_equal(eng_dl_type(dl(ENG_DL_POSTGRES), 93, "timestamptz"),
                     ENG_T_TIMESTAMPTZ);
    assert_int_equal(eng_dl_type(dl(ENG_DL_SQLITE), 12, "BOOLEAN"), ENG_T_BOOL);
    assert_int_equal(eng_dl_type(dl(ENG_DL_SNOWFLAKE), 0, "fixed"), ENG_T_INT);
    assert_int_equal(eng_dl_type(dl(ENG_DL_SNOWFLAKE), 0, "FIXED.scaled"), ENG_T_NUMERIC);
    assert_int_equal(eng_dl_type(dl(ENG_DL_SNOWFLAKE), 0, "timestamp_tz"),
                     ENG_T_TIMESTAMPTZ);
    assert_int_equal(eng_dl_type(dl(ENG_DL_SNOWFLAKE), 0, "variant"), ENG_T_JSON);
}

static void canon_exprs(void **s)
{
    (void)s;
    retl_buf_reset(&b);
    eng_dl_canon_expr(dl(ENG_DL_TSQL), &b, "q.[a]", "bit", ENG_T_BOOL);
    assert_string_equal(
        out(), "CASE WHEN q.[a] = 1 THEN 'true' WHEN q.[a] = 0 THEN 'false' END");
    retl_buf_reset(&b);
    eng_dl_canon_expr(dl(ENG_DL_TSQL), &b, "q.[f]", "float", ENG_T_NUMERIC);
    assert_string_equal(out(), "CONVERT(NVARCHAR(MAX), q.[f], 3)");
    retl_buf_reset(&b);
    eng_dl_canon_expr(dl(ENG_DL_TSQL), &b, "q.[t]", "datetime2", ENG_T_TIMESTAMP);
    assert_string_equal(out(), "CONVERT(NVARCHAR(MAX), q.[t], 121)");
    retl_buf_reset(&b);
    eng_dl_canon_expr(dl(ENG_DL_TSQL), &b, "q.[m]", "decimal", ENG_T_NUMERIC);
    assert_string_equal(out(), "CAST(q.[m] AS NVARCHAR(MAX))");
    retl_buf_reset(&b);
    eng_dl_canon_expr(dl(ENG_DL_SNOWFLAKE), &b, "q.\"T\"", "timestamp_tz",
                      ENG_T_TIMESTAMPTZ);
    assert_string_equal(out(), "TO_VARCHAR(q.\"T\", 'YYYY-MM-DD HH24:MI:SS.FF6TZH:TZM')");
    retl_buf_reset(&b);
    eng_dl_canon_expr(dl(ENG_DL_SNOWFLAKE), &b, "q.\"V\"", "variant", ENG_T_JSON);
    assert_string_equal(out(), "TO_JSON(q.\"V\")");
    retl_buf_reset(&b);
    eng_dl_canon_expr(dl(ENG_DL_SQLITE), &b, "q.\"b\"", "BOOLEAN", ENG_T_BOOL);
    assert_string_equal(out(), "CASE WHEN q.\"b\" IS NULL THEN NULL WHEN "
                               "q.\"b\" THEN 'true' ELSE 'false' END");
}

static void canon(enum eng_type t, const char *in, const char *want)
{
    struct retl_buf sc;
    long off = 0;
    retl_buf_init(&sc, 1 << 20);
    retl_buf_adds(&sc, "x"); /* offsets need not start at 0 */
    assert_int_equal(eng_dl_canon_value(t, in, &sc, &off), RETL_E_OK);
    const char *got = off < 0 ? in : sc.data + off;
    if (!want)
        assert_null(got);
    else
        assert_string_equal(got, want);
    retl_buf_free(&sc);
}

static void canon_values(void **s)
{
    (void)s;
    canon(ENG_T_BOOL, "1", "true");
    canon(ENG_T_BOOL, "0", "false");
    canon(ENG_T_BOOL, "TRUE", "true");
    canon(ENG_T_BOOL, "false", "false");
    canon(ENG_T_BOOL, NULL, NULL);
    canon(ENG_T_TIMESTAMP, "2024-01-01T10:00:00.1230000", "2024-01-01 10:00:00.123");
    canon(ENG_T_TIMESTAMP, "2024-01-01 10:00:00.000000", "2024-01-01 10:00:00");
    canon(ENG_T_TIMESTAMP, "2024-01-01 10:00:00", "2024-01-01 10:00:00");
    canon(ENG_T_TIMESTAMPTZ, "2024-01-01T10:00:00Z", "2024-01-01 10:00:00+00:00");
    canon(ENG_T_TIMESTAMPTZ, "2024-01-01 10:00:00.500000+0530",
          "2024-01-01 10:00:00.5+05:30");
    canon(ENG_T_TIMESTAMPTZ, "2024-01-01 10:00:00 -08", "2024-01-01 10:00:00-08:00");
    canon(ENG_T_TIMESTAMPTZ, "infinity", "infinity");
    canon(ENG_T_BYTES, "DEADBEEF", "3q2+7w==");
    canon(ENG_T_BYTES, "0x00FF10", "AP8Q");
    canon(ENG_T_BYTES, "not hex", "not hex");
    canon(ENG_T_NUMERIC, "1.5000000000000000e+000", "1.5");
    canon(ENG_T_NUMERIC, "0.10000000000000001e+000", "0.1");
    canon(ENG_T_NUMERIC, "12.50", "12.50");
    canon(ENG_T_TEXT, "1e5", "1e5");
}

static void tsql_statements(void **s)
{
    (void)s;
    const struct eng_dialect *d = dl(ENG_DL_TSQL);
    retl_buf_reset(&b);
    eng_dl_sql_create_as(d, &b, &st, st.n.stage, "SELECT 1 AS [k]");
    assert_string_equal(out(), "SELECT * INTO [retl].[t__items__stage] FROM (\n"
                               "SELECT 1 AS [k]\n) AS x");
    retl_buf_reset(&b);
    eng_dl_sql_dups(d, &b, &st, false);
    assert_string_equal(out(), "SELECT TOP (5) [k] FROM [retl].[t__items__stage] "
                               "WHERE [k] IS NOT NULL GROUP BY [k] HAVING "
                               "COUNT(*) > 1 ORDER BY [k]");
    retl_buf_reset(&b);
    eng_dl_sql_errors_list(d, &b, &st, 50, true);
    has("SELECT TOP (50) [run], [key], ");
    has("[attempts], COALESCE([class], 'transient') FROM");
    retl_buf_reset(&b);
    eng_dl_sql_errors_list(d, &b, &st, 50, false);
    has("[attempts], 'transient' FROM");
    lacks("LIMIT");
    retl_buf_reset(&b);
    eng_dl_sql_diff_select(d, &b, &st, RETL_MODE_UPSERT, ENG_DIFF_JOIN);
    has(" FULL JOIN [retl].[t__items__snap] AS o ON o.[k] = s.[k]");
    has("NOT EXISTS (SELECT s.[c1], s.[c2] INTERSECT SELECT o.[c1], o.[c2])");
    lacks("IS DISTINCT FROM");
    retl_buf_reset(&b);
    eng_dl_sql_diff_select(d, &b, &st, RETL_MODE_UPSERT, ENG_DIFF_EXCEPT);
    has(" EXCEPT SELECT [k], [c1], [c2] FROM [retl].[t__items__snap] WHERE "
        "[st] = 'L'");
    has("CAST(NULL AS NVARCHAR(MAX))");
    lacks("WITH ");
    retl_buf_reset(&b);
    eng_dl_sql_create_snap(d, &b, &st);
    /* The lean snapshot: key, status, the row's SHA-256, the record id. */
    assert_string_equal(out(), "CREATE TABLE [retl].[t__items__snap] ([k] "
                               "NVARCHAR(450) NOT NULL PRIMARY KEY, [st] "
                               "NVARCHAR(8) NOT NULL, [h] VARBINARY(32), [id] "
                               "NVARCHAR(MAX))");
    retl_buf_reset(&b);
    eng_dl_sql_lock(d, &b, "retl retl.t__items");
    assert_string_equal(out(), "DECLARE @r INT; EXEC @r = sp_getapplock @Resource = "
                               "'retl retl.t__items', @LockMode = 'Exclusive', "
                               "@LockOwner = 'Session', @LockTimeout = 0; SELECT "
                               "CASE WHEN @r >= 0 THEN 1 ELSE 0 END");
    retl_buf_reset(&b);
    struct eng_dl_params p;
    eng_dl_sql_table_exists(d, &b, "retl", "t__items__snap", &p);
    assert_string_equal(out(), "SELECT COUNT(*) FROM information_schema.tables "
                               "WHERE table_schema = ? AND table_name = ?");
    assert_int_equal(p.n, 2);
    struct retl_buf q;
    retl_buf_init(&q, 4096);
    assert_int_equal(eng_dl_inline(d, &q, out(), &p), RETL_E_OK);
    assert_string_equal(retl_buf_str(&q), "SELECT COUNT(*) FROM "
                                          "information_schema.tables WHERE "
                                          "table_schema = 'retl' AND table_name = "
                                          "'t__items__snap'");
    retl_buf_reset(&b);
    eng_dl_sql_column_exists(d, &b, "retl", "t__items__batch", "ph", &p);
    assert_string_equal(out(), "SELECT COUNT(*) FROM information_schema.columns WHERE "
                               "table_schema = ? AND table_name = ? AND column_name = ?");
    assert_int_equal(p.n, 3);
    assert_string_equal(p.v[2], "ph");
    retl_buf_free(&q);
}

static void snowflake_statements(void **s)
{
    (void)s;
    const struct eng_dialect *d = dl(ENG_DL_SNOWFLAKE);
    retl_buf_reset(&b);
    eng_dl_sql_create_as(d, &b, &st, st.n.delta, "SELECT 1");
    assert_string_equal(
        out(), "CREATE TRANSIENT TABLE \"retl\".\"t__items__delta\" AS\nSELECT 1");
    retl_buf_reset(&b);
    eng_dl_sql_diff_select(d, &b, &st, RETL_MODE_UPSERT, ENG_DIFF_EXCEPT);
    has(" MINUS SELECT \"k\", \"c1\", \"c2\" FROM \"retl\".\"t__items__snap\"");
    lacks("EXCEPT");
    retl_buf_reset(&b);
    eng_dl_sql_diff_select(d, &b, &st, RETL_MODE_UPSERT, ENG_DIFF_JOIN);
    has("(s.\"c1\" IS DISTINCT FROM o.\"c1\" OR s.\"c2\" IS DISTINCT FROM "
        "o.\"c2\")");
    retl_buf_reset(&b);
    assert_int_equal(eng_dl_sql_lock(d, &b, "x"), RETL_E_UNSUPPORTED);
}

/* The lean snapshot's statements: the row hash is unambiguous (NULL and ''
 * differ, lengths first), the diff reads the query once, the upgrade fills h
 * from the stored values with the same expression. */
static void lean_statements(void **s)
{
    (void)s;
    const struct eng_dialect *t = dl(ENG_DL_TSQL), *sf = dl(ENG_DL_SNOWFLAKE);
    assert_true(eng_dl_lean(t));
    assert_true(eng_dl_lean(sf));
    assert_false(eng_dl_lean(dl(ENG_DL_SQLITE)));
    assert_false(eng_dl_lean(dl(ENG_DL_ANSI)));
    retl_buf_reset(&b);
    eng_dl_row_hash(t, &b, &st, "z");
    assert_string_equal(out(), "HASHBYTES('SHA2_256', CONCAT(DATALENGTH(z.[c1]), N':', "
                               "z.[c1], DATALENGTH(z.[c2]), N':', z.[c2]))");
    retl_buf_reset(&b);
    eng_dl_row_hash(sf, &b, &st, "");
    assert_string_equal(out(), "SHA2(COALESCE(LENGTH(\"c1\") || ':' || \"c1\", '~') || "
                               "COALESCE(LENGTH(\"c2\") || ':' || \"c2\", '~'), 256)");
    retl_buf_reset(&b);
    const char *real[] = {"id", "name", "price"};
    assert_int_equal(
        eng_dl_sql_lean_diff(t, &b, &st, RETL_MODE_UPSERT, real, "SELECT * FROM items"),
        RETL_E_OK);
    has("SELECT x.[op], x.[k], x.[h], x.[c1], x.[c2], x.[st] FROM (SELECT CASE WHEN "
        "o.[k] IS NULL THEN 'I'");
    has(" WHEN o.[st] <> 'L' OR o.[h] IS NULL OR o.[h] <> s.[h] THEN 'U' ELSE 'N' END");
    /* unchanged rows of loaded keys are not written, and the query is read
     * once */
    has("FROM (\nSELECT * FROM items\n) AS q) AS z) AS s FULL JOIN "
        "[retl].[t__items__snap] AS o ON o.[k] = s.[k]) AS x WHERE x.[op] <> 'X' AND "
        "(x.[op] <> 'N' OR x.[st] <> 'L')");
    assert_null(strstr(strstr(out(), "SELECT * FROM items") + 1, "SELECT * FROM items"));
    lacks("__stage");
    retl_buf_reset(&b);
    eng_dl_sql_lean_diff(t, &b, &st, RETL_MODE_INSERT, real, "SELECT * FROM items");
    lacks("THEN 'U'");
    retl_buf_reset(&b);
    eng_dl_sql_lean_counts(sf, &b, &st);
    has("WHEN \"op\" <> 'D' AND (\"st\" IS NULL OR \"st\" <> 'L') THEN 1");
    has("WHEN \"op\" = 'I' AND \"k\" IS NULL THEN 1");
    retl_buf_reset(&b);
    eng_dl_sql_lean_fill_h(t, &b, &st);
    assert_string_equal(out(), "UPDATE [retl].[t__items__snap] SET [h] = "
                               "HASHBYTES('SHA2_256', CONCAT(DATALENGTH([c1]), N':', "
                               "[c1], DATALENGTH([c2]), N':', [c2])) WHERE [st] = 'L'");
    retl_buf_reset(&b);
    eng_dl_sql_lean_add_h(sf, &b, &st);
    assert_string_equal(out(), "ALTER TABLE \"retl\".\"t__items__snap\" ADD \"h\" "
                               "VARCHAR(64)");
    retl_buf_reset(&b);
    eng_dl_sql_drop_column(sf, &b, &st, "c2");
    assert_string_equal(out(), "ALTER TABLE \"retl\".\"t__items__snap\" DROP COLUMN "
                               "\"c2\"");
}

static void sqlite_and_pg_statements(void **s)
{
    (void)s;
    retl_buf_reset(&b);
    eng_dl_sql_diff_select(dl(ENG_DL_SQLITE), &b, &st, RETL_MODE_UPSERT, ENG_DIFF_JOIN);
    has("(s.\"c1\" IS NOT o.\"c1\" OR s.\"c2\" IS NOT o.\"c2\")");
    has("FROM \"retl_t__items__stage\" AS s FULL JOIN \"retl_t__items__snap\"");
    retl_buf_reset(&b);
    struct eng_dl_params p;
    eng_dl_sql_table_exists(dl(ENG_DL_SQLITE), &b, "retl", "t__items__snap", &p);
    assert_string_equal(out(), "SELECT COUNT(*) FROM sqlite_master WHERE type = "
                               "'table' AND name = ?");
    assert_int_equal(p.n, 1);
    assert_string_equal(p.v[0], "retl_t__items__snap");
    retl_buf_reset(&b);
    eng_dl_sql_column_exists(dl(ENG_DL_SQLITE), &b, "retl", "t__items__batch", "ph", &p);
    assert_string_equal(out(),
                        "SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?");
    assert_int_equal(p.n, 2);
    assert_string_equal(p.v[0], "retl_t__items__batch");
    assert_string_equal(p.v[1], "ph");
    retl_buf_reset(&b);
    eng_dl_sql_diff_select(dl(ENG_DL_POSTGRES), &b, &st, RETL_MODE_UPSERT, ENG_DIFF_JOIN);
    has("ROW(s.\"c1\", s.\"c2\") IS DISTINCT FROM ROW(o.\"c1\", o.\"c2\")");
    retl_buf_reset(&b);
    eng_dl_sql_diff_select(dl(ENG_DL_POSTGRES), &b, &st, RETL_MODE_INSERT, ENG_DIFF_JOIN);
    lacks("DISTINCT");
    retl_buf_reset(&b);
    eng_dl_sql_dups(dl(ENG_DL_SQLITE), &b, &st, true);
    assert_string_equal(out(),
                        "SELECT \"k\" FROM \"retl_t__items__delta\" WHERE "
                        "\"op\" NOT IN ('D', 'P') AND \"k\" IS NOT NULL GROUP BY \"k\" "
                        "HAVING COUNT(*) > 1 ORDER BY \"k\" LIMIT 5");
}

static void commit_statements(void **s)
{
    (void)s;
    const struct eng_dialect *d = dl(ENG_DL_TSQL);
    struct eng_dl_outcome o[3] = {
        {.key = "1", .ok = true, .id = "001A"},
        {.key = "2",
         .ok = false,
         .code = "23514",
         .message = "it's ü",
         .fields = "price",
         .row_json = "{\"id\":\"2\"}",
         .cls = "permanent",
         .h = "ab12",
         .id = "ignored"},
        {.key = "3", .ok = true, .op = "clear", .code = "ignored"},
    };
    retl_buf_reset(&b);
    eng_dl_sql_batch_insert(d, &b, &st, o, 3);
    assert_string_equal(
        out(),
        "INSERT INTO [retl].[t__items__batch] ([k], [ok], [code], "
        "[message], [fields], [row_json], [op], [cls], [h], [id], [origin]) VALUES "
        "\n('1', 't', NULL, NULL, NULL, NULL, NULL, NULL, NULL, '001A', 'n'),"
        "\n('2', 'f', '23514', N'it''s ü', 'price', '{\"id\":\"2\"}', NULL, "
        "'permanent', 'ab12', NULL, 'n'),"
        "\n('3', 't', NULL, NULL, NULL, NULL, 'clear', NULL, NULL, NULL, 'n')");
    struct retl_buf c[ENG_DL_COMMIT_STMTS];
    size_t nc = 0;
    for (int i = 0; i < ENG_DL_COMMIT_STMTS; i++)
        retl_buf_init(&c[i], ENG_DL_SQL_MAX);
    assert_int_equal(
        eng_dl_sql_commit(d, c, &st, 7, "upsert", "2026-01-01T00:00:00Z", 0, &nc),
        RETL_E_OK);
    assert_int_equal(nc, ENG_DL_COMMIT_STMTS - 1);
    assert_string_equal(retl_buf_str(&c[0]),
                        "DELETE FROM [retl].[t__items__snap] WHERE [k] IN "
                        "(SELECT [k] FROM [retl].[t__items__batch] WHERE [origin] "
                        "= 'n' AND [ok] = 't')");
    assert_non_null(strstr(retl_buf_str(&c[1]),
                           "INSERT INTO [retl].[t__items__snap] ([k], [st], [h]) SELECT "
                           "dl.[k], 'L', dl.[h] FROM [retl].[t__items__delta] AS dl "
                           "WHERE dl.[op] NOT IN ('D', 'N')"));
    assert_non_null(strstr(retl_buf_str(&c[2]), "'f', 'e', e.[first_failed], "
                                                "e.[attempts]"));
    assert_non_null(strstr(retl_buf_str(&c[4]),
                           ", 7, COALESCE(b.[op], 'upsert'), b.[code], b.[message], "
                           "b.[fields], b.[row_json], COALESCE(p.[first_failed], "
                           "'2026-01-01T00:00:00Z'), '2026-01-01T00:00:00Z', "
                           "COALESCE(p.[attempts], 0) + 1, b.[cls], b.[h]"));
    assert_string_equal(retl_buf_str(&c[5]), "");
    /* Clear: cleared keys come back into the snapshot as gone (G). */
    for (int i = 0; i < ENG_DL_COMMIT_STMTS; i++)
        retl_buf_reset(&c[i]);
    assert_int_equal(eng_dl_sql_commit(d, c, &st, 7, "upsert", "2026-01-01T00:00:00Z",
                                       ENG_DL_COMMIT_CLEAR | ENG_DL_COMMIT_IDS, &nc),
                     RETL_E_OK);
    assert_int_equal(nc, ENG_DL_COMMIT_STMTS);
    /* ids: the snapshot keeps the record ids the destination returned. */
    assert_string_equal(
        retl_buf_str(&c[1]),
        "INSERT INTO [retl].[t__items__snap] ([k], [st], [h], [id]) SELECT "
        "dl.[k], 'L', dl.[h], b.[id] FROM [retl].[t__items__delta] AS dl "
        "INNER JOIN [retl].[t__items__batch] AS b ON b.[k] = dl.[k] WHERE "
        "b.[origin] = 'n' AND b.[ok] = 't' AND dl.[op] NOT IN ('D', 'N')");
    /* The batch carries the hashes: the snapshot rows come from it alone
     * (the delta is not read), the T-SQL hash back from its hex text. */
    for (int i = 0; i < ENG_DL_COMMIT_STMTS; i++)
        retl_buf_reset(&c[i]);
    assert_int_equal(eng_dl_sql_commit(d, c, &st, 7, "upsert", "2026-01-01T00:00:00Z",
                                       ENG_DL_COMMIT_BATCH_H, &nc),
                     RETL_E_OK);
    assert_string_equal(
        retl_buf_str(&c[1]),
        "INSERT INTO [retl].[t__items__snap] ([k], [st], [h]) SELECT [k], "
        "'L', CONVERT(VARBINARY(32), [h], 2) FROM "
        "[retl].[t__items__batch] WHERE [origin] = 'n' AND [ok] = 't' "
        "AND [op] IS NULL");
    for (int i = 0; i < ENG_DL_COMMIT_STMTS; i++)
        assert_null(strstr(retl_buf_str(&c[i]), "delta"));
    for (int i = 0; i < ENG_DL_COMMIT_STMTS; i++)
        retl_buf_reset(&c[i]);
    assert_int_equal(
        eng_dl_sql_commit(
            dl(ENG_DL_SNOWFLAKE), c, &st, 7, "upsert", "2026-01-01T00:00:00Z",
            ENG_DL_COMMIT_CLEAR | ENG_DL_COMMIT_IDS | ENG_DL_COMMIT_BATCH_H, &nc),
        RETL_E_OK);
    assert_non_null(
        strstr(retl_buf_str(&c[1]), "SELECT \"k\", 'L', \"h\", \"id\" FROM "));
    assert_non_null(strstr(retl_buf_str(&c[1]), "AND \"op\" IS NULL"));
    /* A batch without the hashes (the wide dialects) keeps the delta join. */
    for (int i = 0; i < ENG_DL_COMMIT_STMTS; i++)
        retl_buf_reset(&c[i]);
    assert_int_equal(eng_dl_sql_commit(dl(ENG_DL_SQLITE), c, &st, 7, "upsert",
                                       "2026-01-01T00:00:00Z", ENG_DL_COMMIT_BATCH_H,
                                       &nc),
                     RETL_E_OK);
    assert_non_null(strstr(retl_buf_str(&c[1]), "__delta\" AS dl"));
    for (int i = 0; i < ENG_DL_COMMIT_STMTS; i++)
        retl_buf_reset(&c[i]);
    assert_int_equal(eng_dl_sql_commit(d, c, &st, 7, "upsert", "2026-01-01T00:00:00Z",
                                       ENG_DL_COMMIT_CLEAR | ENG_DL_COMMIT_IDS, &nc),
                     RETL_E_OK);
    assert_string_equal(retl_buf_str(&c[5]),
                        "INSERT INTO [retl].[t__items__snap] ([k], [st]) SELECT [k], 'G' "
                        "FROM [retl].[t__items__batch] WHERE [origin] = 'n' AND [ok] = "
                        "'t' AND [op] = 'clear'");
    for (int i = 0; i < ENG_DL_COMMIT_STMTS; i++) {
        const char *t = retl_buf_str(&c[i]);
        assert_null(strstr(t, "MERGE"));
        assert_null(strstr(t, "UPDATE"));
        retl_buf_free(&c[i]);
    }
}

/* Propagated deletes and skipped permanent failures (issue 13): which delta
 * rows are read and which keys keep their error rows. */
static void delete_statements(void **s)
{
    (void)s;
    const struct eng_dialect *t = dl(ENG_DL_TSQL), *q = dl(ENG_DL_SQLITE);
    retl_buf_reset(&b);
    eng_dl_sql_delta_read(t, &b, &st, false);
    has("CONVERT(NVARCHAR(MAX), d.[h], 2) FROM [retl].[t__items__delta] AS d WHERE "
        "d.[op] NOT IN ('D', 'N', 'P')");
    retl_buf_reset(&b);
    eng_dl_sql_delta_read(t, &b, &st, true);
    assert_string_equal(out(), "SELECT d.[op], d.[k], d.[c1], d.[c2], o.[id], "
                               "CONVERT(NVARCHAR(MAX), d.[h], 2) FROM "
                               "[retl].[t__items__delta] AS d LEFT JOIN "
                               "[retl].[t__items__snap] AS o ON d.[op] = 'D' AND o.[k] = "
                               "d.[k] WHERE d.[op] NOT IN ('N', 'P')");
    retl_buf_reset(&b);
    eng_dl_sql_delta_read(q, &b, &st, true);
    has("WHERE d.\"op\" <> 'P'");
    retl_buf_reset(&b);
    eng_dl_sql_errors_prune(t, &b, &st, true);
    has("WHERE [op] <> 'N')");
    retl_buf_reset(&b);
    eng_dl_sql_errors_prune(t, &b, &st, false);
    has("WHERE [op] NOT IN ('D', 'N'))");
    retl_buf_reset(&b);
    eng_dl_sql_errors_prune(q, &b, &st, false);
    has("WHERE \"op\" <> 'D')");
    retl_buf_reset(&b);
    eng_dl_sql_permanent_rows(t, &b, &st);
    assert_string_equal(out(), "SELECT d.[k], e.[h], d.[c1], d.[c2] FROM "
                               "[retl].[t__items__delta] AS d INNER JOIN "
                               "[retl].[t__items__errors] AS e ON e.[key] = d.[k] WHERE "
                               "e.[class] = 'permanent' AND d.[op] IN ('I', 'U')");
    const char *keys[] = {"1", "it's"};
    retl_buf_reset(&b);
    eng_dl_sql_permanent_skip(t, &b, &st, keys, 2);
    assert_string_equal(out(), "UPDATE [retl].[t__items__delta] SET [op] = 'P' WHERE "
                               "[k] IN ('1', 'it''s')");
    retl_buf_reset(&b);
    eng_dl_sql_errors_add(q, &b, &st, "class");
    assert_string_equal(out(),
                        "ALTER TABLE \"retl_t__items__errors\" ADD \"class\" TEXT");
    retl_buf_reset(&b);
    eng_dl_sql_synced_count(t, &b, &st);
    assert_string_equal(out(),
                        "SELECT COUNT(*) FROM [retl].[t__items__snap] WHERE [st] = "
                        "'L'");
}

static void rebase_statements(void **s)
{
    (void)s;
    struct retl_buf r[7];
    for (int i = 0; i < 7; i++)
        retl_buf_init(&r[i], ENG_DL_SQL_MAX);
    assert_int_equal(eng_dl_sql_rebase(dl(ENG_DL_TSQL), r, 7, &st), RETL_E_OK);
    assert_string_equal(retl_buf_str(&r[0]),
                        "DROP TABLE IF EXISTS [retl].[t__items__keys]");
    assert_string_equal(retl_buf_str(&r[1]),
                        "SELECT * INTO [retl].[t__items__keys] FROM (\nSELECT "
                        "[k], [id] FROM [retl].[t__items__snap]\n) AS x");
    assert_string_equal(retl_buf_str(&r[4]),
                        "INSERT INTO [retl].[t__items__snap] ([k], [st], [id]) SELECT "
                        "[k], 'K', [id] FROM [retl].[t__items__keys]");
    assert_string_equal(retl_buf_str(&r[6]), "DELETE FROM [retl].[t__items__errors]");
    assert_int_equal(eng_dl_sql_rebase(dl(ENG_DL_TSQL), r, 3, &st), RETL_E_INVALID);
    for (int i = 0; i < 7; i++)
        retl_buf_free(&r[i]);
}

static void stage_statement(void **s)
{
    (void)s;
    const char *real[] = {"ID", "NAME", "PRICE"};
    retl_buf_reset(&b);
    eng_dl_sql_stage_select(dl(ENG_DL_SNOWFLAKE), &b, &st, real, "SELECT * FROM items");
    assert_string_equal(out(), "SELECT CAST(q.\"ID\" AS VARCHAR) AS \"k\", "
                               "CAST(q.\"NAME\" AS VARCHAR) AS \"c1\", "
                               "CAST(q.\"PRICE\" AS VARCHAR) AS \"c2\" FROM (\n"
                               "SELECT * FROM items\n) AS q");
}

static void inline_values(void **s)
{
    (void)s;
    struct eng_dl_params p = {.v = {"it's", "ü"}, .n = 2};
    retl_buf_reset(&b);
    assert_int_equal(eng_dl_inline(dl(ENG_DL_TSQL), &b,
                                   "SELECT '?', [a?] FROM t WHERE x = ? AND y = ?", &p),
                     RETL_E_OK);
    assert_string_equal(out(), "SELECT '?', [a?] FROM t WHERE x = 'it''s' AND y = N'ü'");
    retl_buf_reset(&b);
    assert_int_equal(eng_dl_inline(dl(ENG_DL_POSTGRES), &b, "SELECT ?", &p),
                     RETL_E_INVALID);
    retl_buf_reset(&b);
    p.n = 1;
    assert_int_equal(eng_dl_inline(dl(ENG_DL_POSTGRES), &b, "SELECT ?, ?", &p),
                     RETL_E_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quoting),
        cmocka_unit_test(literals),
        cmocka_unit_test(dialect_lookup),
        cmocka_unit_test(types),
        cmocka_unit_test(canon_exprs),
        cmocka_unit_test(canon_values),
        cmocka_unit_test(tsql_statements),
        cmocka_unit_test(snowflake_statements),
        cmocka_unit_test(sqlite_and_pg_statements),
        cmocka_unit_test(commit_statements),
        cmocka_unit_test(delete_statements),
        cmocka_unit_test(rebase_statements),
        cmocka_unit_test(lean_statements),
        cmocka_unit_test(stage_statement),
        cmocka_unit_test(inline_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
