#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

static void test_decode(void **state)
{
    char *out = NULL;
    size_t n = 0;
    assert_int_equal(retl_base64_decode("aGVs\nbG8=", &out, &n), RETL_E_OK);
    assert_string_equal(out, "hello");
    assert_int_equal(n, 5);
    free(out);
    /* unpadded and URL-safe */
    assert_int_equal(retl_base64_decode("-_8", &out, &n), RETL_E_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\xfb\xff", 2);
    free(out);
    assert_int_equal(retl_base64_decode("", &out, &n), RETL_E_OK);
    assert_int_equal(n, 0);
    free(out);
    assert_int_equal(retl_base64_decode("a$b", &out, &n), RETL_E_PARSE);
}

static void test_url_encode_roundtrip(void **state)
{
    char *s = retl_base64url_encode((const unsigned char *)"\xfb\xff", 2);
    assert_string_equal(s, "-_8");
    free(s);
    s = retl_base64url_encode((const unsigned char *)"abc", 3);
    assert_string_equal(s, "YWJj");
    free(s);
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    for (size_t len = 0; len <= sizeof all; len += 37) {
        s = retl_base64url_encode(all, len);
        char *back = NULL;
        size_t n = 0;
        assert_int_equal(retl_base64_decode(s, &back, &n), RETL_E_OK);
        assert_int_equal(n, len);
        assert_memory_equal(back, all, len);
        free(back);
        free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_url_encode_roundtrip),
    };
    return cmocka_run_group_tests_name("base64", tests, NULL, NULL);
}
