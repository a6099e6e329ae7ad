#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

static void test_append_and_take(void **state)
{
    struct retl_buf b;
    retl_buf_init(&b, 1024);
    assert_string_equal(retl_buf_str(&b), "");
    assert_int_equal(retl_buf_adds(&b, "hello"), RETL_E_OK);
    assert_int_equal(retl_buf_addc(&b, ' '), RETL_E_OK);
    assert_int_equal(retl_buf_printf(&b, "%d-%s", 42, "x"), RETL_E_OK);
    assert_string_equal(retl_buf_str(&b), "hello 42-x");
    assert_int_equal(b.len, 10);
    char *s = retl_buf_take(&b);
    assert_string_equal(s, "hello 42-x");
    assert_int_equal(b.len, 0);
    assert_null(b.data);
    free(s);
}

static void test_max_size_enforced(void **state)
{
    struct retl_buf b;
    retl_buf_init(&b, 8);
    assert_int_equal(retl_buf_adds(&b, "12345678"), RETL_E_OK);
    /* max + 1 fails and frees, like curl's dynbuf */
    assert_int_equal(retl_buf_addc(&b, '9'), RETL_E_TOO_BIG);
    assert_int_equal(b.len, 0);
    assert_null(b.data);
    assert_int_equal(retl_buf_printf(&b, "%s", "123456789"), RETL_E_TOO_BIG);
    assert_int_equal(retl_buf_adds(&b, "ok"), RETL_E_OK);
    assert_string_equal(retl_buf_str(&b), "ok");
    retl_buf_free(&b);
}

static void test_huge_length_does_not_overflow(void **state)
{
    struct retl_buf b;
    retl_buf_init(&b, 16);
    assert_int_equal(retl_buf_adds(&b, "abc"), RETL_E_OK);
    assert_int_equal(retl_buf_add(&b, "x", SIZE_MAX), RETL_E_TOO_BIG);
    retl_buf_free(&b);
}

static void test_consume_and_grow(void **state)
{
    struct retl_buf b;
    retl_buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(retl_buf_printf(&b, "line %d\n", i), RETL_E_OK);
    char *nl = strchr(b.data, '\n');
    retl_buf_consume(&b, (size_t)(nl - b.data) + 1);
    assert_true(strncmp(retl_buf_str(&b), "line 1\n", 7) == 0);
    retl_buf_consume(&b, b.len + 10);
    assert_int_equal(b.len, 0);
    assert_string_equal(retl_buf_str(&b), "");
    retl_buf_reset(&b);
    retl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_take),
        cmocka_unit_test(test_max_size_enforced),
        cmocka_unit_test(test_huge_length_does_not_overflow),
        cmocka_unit_test(test_consume_and_grow),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
