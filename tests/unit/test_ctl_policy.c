#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "controller/ctl_policy.h"

static void test_list_parse(void **state)
{
    (void)state;
    struct ctl_list l;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(ctl_list_parse(" a, b ,,a,\tc ", &l, &eb), RETL_E_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0], "a");
    assert_string_equal(l.items[1], "b");
    assert_string_equal(l.items[2], "c");
    assert_int_equal(ctl_list_parse(NULL, &l, &eb), RETL_E_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(ctl_list_parse("", &l, &eb), RETL_E_OK);
    assert_int_equal(l.n, 0);
}

static void test_list_limits(void **state)
{
    (void)state;
    static char big[CTL_POLICY_MAX_ITEMS * 8 + 64];
    struct ctl_list l = {.n = 7};
    struct retl_errbuf eb = {{0}};
    size_t off = 0;
    for (int i = 0; i <= CTL_POLICY_MAX_ITEMS; i++)
        off += (size_t)snprintf(big + off, sizeof big - off, "n%d,", i);
    assert_int_equal(ctl_list_parse(big, &l, &eb), RETL_E_TOO_BIG);
    assert_int_equal(l.n, 7); /* untouched on failure */
    char longitem[CTL_POLICY_MAX_ITEM + 1];
    memset(longitem, 'x', sizeof longitem - 1);
    longitem[sizeof longitem - 1] = '\0';
    assert_int_equal(ctl_list_parse(longitem, &l, &eb), RETL_E_TOO_BIG);
    assert_non_null(strstr(eb.msg, "at most"));
}

static void test_image_allowed(void **state)
{
    (void)state;
    struct ctl_list l;
    struct retl_errbuf eb = {{0}};
    const char *engine = "localhost/retl:dev";
    assert_int_equal(ctl_list_parse("", &l, &eb), RETL_E_OK);
    /* Default: only the engine image. */
    assert_true(ctl_policy_image_allowed(&l, engine, "localhost/retl:dev"));
    assert_false(ctl_policy_image_allowed(&l, engine, "busybox"));
    assert_false(ctl_policy_image_allowed(&l, engine, "localhost/retl:dev2"));
    assert_false(ctl_policy_image_allowed(&l, engine, "localhost/retl"));
    assert_false(ctl_policy_image_allowed(&l, engine, ""));
    assert_false(ctl_policy_image_allowed(NULL, engine, NULL));
    assert_int_equal(
        ctl_list_parse("ghcr.io/retl/retl:1.2.3, registry.example.com/retl:*", &l, &eb),
        RETL_E_OK);
    assert_true(ctl_policy_image_allowed(&l, engine, "ghcr.io/retl/retl:1.2.3"));
    assert_false(ctl_policy_image_allowed(&l, engine, "ghcr.io/retl/retl:1.2.4"));
    assert_true(ctl_policy_image_allowed(&l, engine, "registry.example.com/retl:9"));
    assert_false(
        ctl_policy_image_allowed(&l, engine, "registry.example.com/retl-evil:9"));
    assert_false(ctl_policy_image_allowed(&l, engine, "busybox"));
    assert_true(ctl_policy_image_allowed(&l, engine, engine));
}

static void test_sa_allowed(void **state)
{
    (void)state;
    struct ctl_list l;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(ctl_list_parse("", &l, &eb), RETL_E_OK);
    /* No list: any name; no name: the namespace's default, always. */
    assert_true(ctl_policy_sa_allowed(&l, "anything"));
    assert_true(ctl_policy_sa_allowed(NULL, "anything"));
    assert_int_equal(ctl_list_parse("retl-runner, retl-run-*", &l, &eb), RETL_E_OK);
    assert_true(ctl_policy_sa_allowed(&l, NULL));
    assert_true(ctl_policy_sa_allowed(&l, ""));
    assert_true(ctl_policy_sa_allowed(&l, "retl-runner"));
    assert_true(ctl_policy_sa_allowed(&l, "retl-run-snowflake"));
    assert_false(ctl_policy_sa_allowed(&l, "retl-runner2"));
    assert_false(ctl_policy_sa_allowed(&l, "warehouse-admin"));
    assert_true(ctl_policy_sa_allowed(&l, "default"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_parse),
        cmocka_unit_test(test_list_limits),
        cmocka_unit_test(test_image_allowed),
        cmocka_unit_test(test_sa_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
