#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "common/yaml.h"

static json_t *load_ok(const char *y)
{
    json_t *docs = NULL;
    struct retl_errbuf eb = {{0}};
    retl_err e = retl_yaml_load(y, strlen(y), &docs, &eb);
    if (e)
        fail_msg("unexpected error: %s", eb.msg);
    return docs;
}

static void test_multi_document_stream(void **state)
{
    json_t *docs = load_ok("---\napiVersion: v1\nkind: Secret\n---\n# empty\n---\n"
                           "kind: B\nlist: [1, 2]\n...\n");
    assert_int_equal(json_array_size(docs), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(docs, 0), "kind")), "Secret");
    json_t *l = json_object_get(json_array_get(docs, 1), "list");
    assert_int_equal(json_array_size(l), 2);
    json_decref(docs);
}

static void test_scalar_types(void **state)
{
    json_t *docs =
        load_ok("a: 42\nb: -7\nc: 3.5\nd: true\ne: False\nf: null\ng: ~\n"
                "h: \"42\"\ni: 'true'\nj: 1e3\nk: 0x1F\nl: hello world\n"
                "m: 2024-01-01\nn:\no: \"*/30 * * * *\"\np: |\n  line1\n  line2\n");
    json_t *d = json_array_get(docs, 0);
    assert_int_equal(json_integer_value(json_object_get(d, "a")), 42);
    assert_int_equal(json_integer_value(json_object_get(d, "b")), -7);
    assert_true(json_real_value(json_object_get(d, "c")) == 3.5);
    assert_true(json_is_true(json_object_get(d, "d")));
    assert_true(json_is_false(json_object_get(d, "e")));
    assert_true(json_is_null(json_object_get(d, "f")));
    assert_true(json_is_null(json_object_get(d, "g")));
    assert_string_equal(json_string_value(json_object_get(d, "h")), "42");
    assert_string_equal(json_string_value(json_object_get(d, "i")), "true");
    assert_true(json_real_value(json_object_get(d, "j")) == 1000.0);
    assert_int_equal(json_integer_value(json_object_get(d, "k")), 31);
    assert_string_equal(json_string_value(json_object_get(d, "l")), "hello world");
    assert_string_equal(json_string_value(json_object_get(d, "m")), "2024-01-01");
    assert_true(json_is_null(json_object_get(d, "n")));
    assert_string_equal(json_string_value(json_object_get(d, "o")), "*/30 * * * *");
    assert_string_equal(json_string_value(json_object_get(d, "p")), "line1\nline2\n");
    json_decref(docs);
}

static void test_anchors_and_merge(void **state)
{
    json_t *docs = load_ok("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nref: *b\n");
    json_t *d = json_array_get(docs, 0);
    json_t *o = json_object_get(d, "other");
    assert_int_equal(json_integer_value(json_object_get(o, "x")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "y")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "ref"), "y")),
                     2);
    json_decref(docs);
}

static void expect_error(const char *y, const char *needle)
{
    json_t *docs = NULL;
    struct retl_errbuf eb = {{0}};
    retl_err e = retl_yaml_load(y, strlen(y), &docs, &eb);
    assert_int_not_equal(e, RETL_E_OK);
    assert_null(docs);
    if (!strstr(eb.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", eb.msg, needle);
}

static void test_errors_name_line(void **state)
{
    expect_error("a: 1\nb: [1, 2\n", "line");
    expect_error("a: 1\na: 2\n", "duplicate mapping key \"a\"");
    expect_error("a: *nope\n", "unknown alias");
    expect_error("a: b: c\n", "line 1");
    expect_error("[1]: x\n", "mapping keys must be scalars");
}

static void test_alias_bomb_is_bounded(void **state)
{
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    expect_error(bomb, "too large");
}

static void test_deep_nesting_is_bounded(void **state)
{
    char y[2100];
    memset(y, '[', 1000);
    memset(y + 1000, ']', 1000);
    y[2000] = '\0';
    expect_error(y, "too deep");
}

static void test_file_errors(void **state)
{
    json_t *docs = NULL;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(retl_yaml_load_file("/nonexistent/x.yaml", &docs, &eb), RETL_E_IO);
    assert_non_null(strstr(eb.msg, "/nonexistent/x.yaml"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_document_stream),
        cmocka_unit_test(test_scalar_types),
        cmocka_unit_test(test_anchors_and_merge),
        cmocka_unit_test(test_errors_name_line),
        cmocka_unit_test(test_alias_bomb_is_bounded),
        cmocka_unit_test(test_deep_nesting_is_bounded),
        cmocka_unit_test(test_file_errors),
    };
    return cmocka_run_group_tests_name("yaml", tests, NULL, NULL);
}
