/* engine/base/failure.c: which destination error codes are permanent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/base/row.h"

static void salesforce_codes(void **st)
{
    (void)st;
    assert_int_equal(eng_fail_classify("NOT_FOUND"), ENG_FAIL_PERMANENT);
    assert_int_equal(eng_fail_classify("FIELD_CUSTOM_VALIDATION_EXCEPTION"),
                     ENG_FAIL_PERMANENT);
    assert_int_equal(eng_fail_classify("DUPLICATE_VALUE"), ENG_FAIL_PERMANENT);
    assert_int_equal(eng_fail_classify("MALFORMED_ID"), ENG_FAIL_PERMANENT);
    assert_int_equal(eng_fail_classify("UNABLE_TO_LOCK_ROW"), ENG_FAIL_TRANSIENT);
    assert_int_equal(eng_fail_classify("LOOKUP_NOT_FOUND"), ENG_FAIL_TRANSIENT);
    assert_int_equal(eng_fail_classify("SERVER_UNAVAILABLE"), ENG_FAIL_TRANSIENT);
    /* Unknown codes are retried: the safe side. */
    assert_int_equal(eng_fail_classify("SOMETHING_NEW"), ENG_FAIL_TRANSIENT);
    assert_int_equal(eng_fail_classify(NULL), ENG_FAIL_TRANSIENT);
    assert_int_equal(eng_fail_classify(""), ENG_FAIL_TRANSIENT);
}

static void sqlstates(void **st)
{
    (void)st;
    assert_int_equal(eng_fail_classify("22001"), ENG_FAIL_PERMANENT); /* too long */
    assert_int_equal(eng_fail_classify("23514"), ENG_FAIL_PERMANENT); /* check */
    assert_int_equal(eng_fail_classify("23505"), ENG_FAIL_PERMANENT); /* unique */
    assert_int_equal(eng_fail_classify("23503"), ENG_FAIL_TRANSIENT); /* parent later */
    assert_int_equal(eng_fail_classify("40001"), ENG_FAIL_TRANSIENT); /* serialization */
    assert_int_equal(eng_fail_classify("55P03"), ENG_FAIL_TRANSIENT); /* lock */
    assert_int_equal(eng_fail_classify("08006"), ENG_FAIL_TRANSIENT);
    assert_int_equal(eng_fail_classify("22"), ENG_FAIL_TRANSIENT); /* not a SQLSTATE */
    assert_string_equal(eng_fail_class_name(ENG_FAIL_PERMANENT), "permanent");
    assert_string_equal(eng_fail_class_name(ENG_FAIL_TRANSIENT), "transient");
    assert_string_equal(eng_fail_class_name(ENG_FAIL_BY_CODE), "transient");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(salesforce_codes),
        cmocka_unit_test(sqlstates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
