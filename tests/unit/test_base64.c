#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
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

/* The standard alphabet with padding agrees with OpenSSL's EVP_EncodeBlock. */
static void test_std_encode_matches_openssl(void **state)
{
    char *s = retl_base64_encode((const unsigned char *)"\xfb\xff", 2);
    assert_string_equal(s, "+/8=");
    free(s);
    s = retl_base64_encode((const unsigned char *)"a", 1);
    assert_string_equal(s, "YQ==");
    free(s);
    unsigned char all[256], want[400];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)(255 - i);
    for (size_t len = 0; len <= sizeof all; len += 17) {
        EVP_EncodeBlock(want, all, (int)len);
        s = retl_base64_encode(all, len);
        assert_string_equal(s, (char *)want);
        free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_url_encode_roundtrip),
        cmocka_unit_test(test_std_encode_matches_openssl),
    };
    return cmocka_run_group_tests_name("base64", tests, NULL, NULL);
}
