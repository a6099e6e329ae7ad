#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "common/error.h"

static void test_table_names_unique_and_present(void **state)
{
    for (int i = 0; i < RETL_E__COUNT; i++) {
        assert_non_null(retl_err_name((retl_err)i));
        assert_true(strlen(retl_err_str((retl_err)i)) > 0);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(retl_err_name((retl_err)i),
                                    retl_err_name((retl_err)k));
    }
    assert_string_equal(retl_err_name(RETL_E_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(retl_err_name((retl_err)9999), "UNKNOWN");
}

static void test_errf_and_wrap(void **state)
{
    struct retl_errbuf eb = {{0}};
    assert_string_equal(retl_errbuf_msg(&eb, RETL_E_IO), "input/output error");
    assert_int_equal(retl_errf(&eb, RETL_E_PARSE, "line %d: bad", 3), RETL_E_PARSE);
    assert_string_equal(eb.msg, "line 3: bad");
    assert_int_equal(retl_err_wrap(&eb, RETL_E_PARSE, "job.yaml"), RETL_E_PARSE);
    assert_string_equal(eb.msg, "job.yaml: line 3: bad");
    assert_int_equal(retl_errf(NULL, RETL_E_IO, "ignored"), RETL_E_IO);
}

/* Issue 16 item 2: a message longer than the buffer is cut between characters. */
static void test_errf_cuts_utf8_safely(void **state)
{
    (void)state;
    static char big[4000];
    big[0] = 'x';
    for (size_t i = 1; i + 3 < sizeof big; i += 3)
        memcpy(big + i, "\xe3\x81\x82", 3);
    struct retl_errbuf eb = {{0}};
    retl_errf(&eb, RETL_E_DEST, "%s", big);
    json_t *js = json_string(eb.msg);
    assert_non_null(js);
    json_decref(js);
    retl_err_wrap(&eb, RETL_E_DEST, "ctx %s", big + 1);
    js = json_string(eb.msg);
    assert_non_null(js);
    json_decref(js);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_names_unique_and_present),
        cmocka_unit_test(test_errf_and_wrap),
        cmocka_unit_test(test_errf_cuts_utf8_safely),
    };
    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
