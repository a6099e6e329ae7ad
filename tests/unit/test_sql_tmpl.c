/* engine/source/sql_tmpl.c: statement templates, expanded per dialect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/source/sql_tmpl.h"

static struct retl_buf b;
static struct eng_state st;
static struct eng_scol cols[3];

static int setup(void **s)
{
    (void)s;
    retl_buf_init(&b, 1u << 20);
    memset(&st, 0, sizeof st);
    assert_int_equal(eng_state_names("retl", "ns", "job", &st.n, NULL), RETL_E_OK);
    cols[0] = (struct eng_scol){.name = "id", .sql_type = "int4", .type = ENG_T_INT};
    cols[1] = (struct eng_scol){
        .name = "ts", .sql_type = "timestamptz", .type = ENG_T_TIMESTAMPTZ};
    cols[2] = (struct eng_scol){.name = "tags", .sql_type = "_text", .type = ENG_T_JSON};
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

/* A template without arguments, expanded in dialect id. */
static const char *fmt_in(enum eng_dl_id id, bool bare, const char *t)
{
    const struct eng_sql x = {eng_dialect_get(id), &st, bare};
    retl_buf_reset(&b);
    assert_int_equal(eng_sql_fmt(&x, &b, t), RETL_E_OK);
    return retl_buf_str(&b);
}

static void tables_and_columns(void **s)
{
    (void)s;
    assert_string_equal(
        fmt_in(ENG_DL_POSTGRES, true, "SELECT {o.k}, {st}{o.c*} FROM {snap} AS o"),
        "SELECT o.k, st, o.c1, o.c2 FROM \"retl\".\"ns__job__snap\" AS o");
    assert_string_equal(
        fmt_in(ENG_DL_TSQL, false, "SELECT {k}{c*} FROM {delta} JOIN {batch}"),
        "SELECT [k], [c1], [c2] FROM [retl].[ns__job__delta] JOIN "
        "[retl].[ns__job__batch]");
    assert_string_equal(fmt_in(ENG_DL_SQLITE, false, "ROW({s.c+}) {keys}"),
                        "ROW(s.\"c1\", s.\"c2\") \"retl_ns__job__keys\"");
}

static void directives(void **s)
{
    (void)s;
    const struct eng_sql x = {eng_dialect_get(ENG_DL_TSQL), &st, false};
    retl_buf_reset(&b);
    assert_int_equal(eng_sql_fmt(&x, &b, "%s = %L, %I, %T, %c%d%zu%lld, 100%%", "x", "é'",
                                 "a]b", "t", 'c', 1, (size_t)2, 3LL),
                     RETL_E_OK);
    assert_string_equal(retl_buf_str(&b), "x = N'é''', [a]]b], [retl].[t], c123, 100%");
}

static void postgres_expressions(void **s)
{
    (void)s;
    assert_string_equal(fmt_in(ENG_DL_POSTGRES, true, "{hash:s}"),
                        "hash_record_extended(ROW(s.c1, s.c2), 0)");
    /* typed columns through their canonical expression, text ones as they are */
    assert_string_equal(
        fmt_in(ENG_DL_POSTGRES, true, "{=d.k}|{=*}"),
        "(d.k)::text|(k)::text, CASE WHEN isfinite(c1) THEN (c1)::text || "
        "':00' ELSE (c1)::text END, c2");
}

static void bad_templates(void **s)
{
    (void)s;
    const struct eng_sql x = {eng_dialect_get(ENG_DL_POSTGRES), &st, true};
    retl_buf_reset(&b);
    assert_int_equal(eng_sql_fmt(&x, &b, "SELECT {k"), RETL_E_INVALID);
    assert_int_equal(eng_sql_fmt(&x, &b, "100%"), RETL_E_INVALID);
    assert_int_equal(eng_sql_fmt(&x, &b, "%q"), RETL_E_INVALID);
    assert_int_equal(eng_sql_fmt(&x, &b, "{=d.c1}"), RETL_E_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tables_and_columns),
        cmocka_unit_test(directives),
        cmocka_unit_test(postgres_expressions),
        cmocka_unit_test(bad_templates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
