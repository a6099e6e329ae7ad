/* common/summary.c: summary JSON, its size limit, exit codes, threshold, the contract the
 * controller reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/summary.h"

static void shape(void **st)
{
    (void)st;
    struct retl_summary s;
    retl_summary_init(&s, 7);
    s.result = RETL_RESULT_SUCCEEDED;
    s.extracted = 100;
    s.changed = 12;
    s.inserted = 2;
    s.updated = 9;
    s.deleted = 3;
    s.failed = 1;
    s.duration = 1.23456;
    s.failing_rows = 4;
    s.failing_permanent = 3;
    strcpy(s.errors_table, "retl.a__b__errors");
    strcpy(s.message, "done \"quoted\"");
    json_t *info = json_pack("{s:[s]}", "externalIdFields", "Ext__c");
    s.dest_info = info;
    char *txt = retl_summary_json(&s);
    assert_non_null(txt);
    json_t *o = json_loads(txt, 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "run")), 7);
    assert_string_equal(json_string_value(json_object_get(o, "result")), "Succeeded");
    json_t *rows = json_object_get(o, "rows");
    assert_int_equal(json_integer_value(json_object_get(rows, "extracted")), 100);
    assert_int_equal(json_integer_value(json_object_get(rows, "changed")), 12);
    assert_int_equal(json_integer_value(json_object_get(rows, "inserted")), 2);
    assert_int_equal(json_integer_value(json_object_get(rows, "updated")), 9);
    assert_int_equal(json_integer_value(json_object_get(rows, "deleted")), 3);
    assert_int_equal(json_integer_value(json_object_get(rows, "failed")), 1);
    assert_true(json_real_value(json_object_get(o, "durationSeconds")) > 1.234);
    assert_string_equal(json_string_value(json_object_get(o, "message")),
                        "done \"quoted\"");
    assert_string_equal(json_string_value(json_object_get(o, "errorsTable")),
                        "retl.a__b__errors");
    assert_int_equal(json_integer_value(json_object_get(o, "failingRows")), 4);
    assert_int_equal(json_integer_value(json_object_get(o, "failingRowsPermanent")), 3);
    assert_non_null(json_object_get(o, "destinationInfo"));
    assert_int_equal(retl_summary_exit(&s), 0);
    json_decref(o);
    json_decref(info);
    free(txt);
}

static void fits_4096(void **st)
{
    (void)st;
    struct retl_summary s;
    retl_summary_init(&s, 1);
    memset(s.message, 'm', sizeof s.message - 1);
    s.message[sizeof s.message - 1] = '\0';
    json_t *info = json_object();
    json_t *arr = json_array();
    for (int i = 0; i < 500; i++)
        json_array_append_new(arr, json_string("Some_Long_Field_Name__c"));
    json_object_set_new(info, "requiredFields", arr);
    s.dest_info = info;
    char *txt = retl_summary_json(&s);
    assert_non_null(txt);
    assert_true(strlen(txt) <= RETL_SUMMARY_MAX);
    json_t *o = json_loads(txt, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "result")), "Failed");
    assert_int_equal(retl_summary_exit(&s), 1);
    json_decref(o);
    json_decref(info);
    free(txt);
}

static void threshold(void **st)
{
    (void)st;
    assert_false(retl_threshold_exceeded(0, 10, 0, 0));
    assert_false(retl_threshold_exceeded(5, 10, -1, -1));
    assert_true(retl_threshold_exceeded(2, 10, 1, -1));
    assert_false(retl_threshold_exceeded(1, 10, 1, -1));
    assert_true(retl_threshold_exceeded(2, 10, -1, 10));
    assert_false(retl_threshold_exceeded(1, 10, -1, 10));
    assert_false(retl_threshold_exceeded(10, 10, -1, 100));
    struct retl_summary s;
    retl_summary_init(&s, 1);
    s.result = RETL_RESULT_THRESHOLD;
    assert_int_equal(retl_summary_exit(&s), 3);
    assert_string_equal(retl_result_name(RETL_RESULT_THRESHOLD), "ThresholdExceeded");
}

/* The controller reads what the engine writes: every result name round-trips,
 * exit codes map to results, and the row keys are the summary's "rows" keys. */
static void contract(void **st)
{
    (void)st;
    const enum retl_result all[] = {RETL_RESULT_SUCCEEDED, RETL_RESULT_FAILED,
                                    RETL_RESULT_THRESHOLD};
    for (size_t i = 0; i < 3; i++) {
        enum retl_result r;
        assert_true(retl_result_parse(retl_result_name(all[i]), &r));
        assert_int_equal(r, all[i]);
    }
    enum retl_result r = RETL_RESULT_SUCCEEDED;
    assert_false(retl_result_parse("succeeded", &r));
    assert_false(retl_result_parse(NULL, &r));
    assert_int_equal(r, RETL_RESULT_SUCCEEDED);
    assert_int_equal(retl_result_for_exit(0), RETL_RESULT_SUCCEEDED);
    assert_int_equal(retl_result_for_exit(1), RETL_RESULT_FAILED);
    assert_int_equal(retl_result_for_exit(2), RETL_RESULT_FAILED);
    assert_int_equal(retl_result_for_exit(3), RETL_RESULT_THRESHOLD);
    assert_int_equal(retl_result_for_exit(137), RETL_RESULT_FAILED);

    struct retl_summary s;
    retl_summary_init(&s, 7);
    s.deleted = 5;
    char *txt = retl_summary_json(&s);
    json_t *o = json_loads(txt, 0, NULL);
    json_t *rows = json_object_get(o, RETL_SUM_ROWS);
    size_t n = 0;
    for (const char *const *k = retl_summary_row_keys; *k; k++, n++)
        assert_true(json_is_integer(json_object_get(rows, *k)));
    assert_int_equal(n, json_object_size(rows));
    assert_int_equal(json_integer_value(json_object_get(rows, "deleted")), 5);
    json_decref(o);
    free(txt);
}

/* Issue 16 item 2: a message cut mid-character never drops the summary. */
static void cut_message_keeps_summary(void **st)
{
    (void)st;
    struct retl_summary s;
    retl_summary_init(&s, 3);
    size_t n = sizeof s.message - 1;
    memset(s.message, 'a', n);
    s.message[n] = '\0';
    /* the last character cut after its first two bytes, as a blind snprintf does */
    s.message[n - 2] = (char)0xe3;
    s.message[n - 1] = (char)0x81;
    char *txt = retl_summary_json(&s);
    assert_non_null(txt);
    json_t *o = json_loads(txt, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "result")), "Failed");
    assert_int_equal(json_integer_value(json_object_get(o, "run")), 3);
    json_decref(o);
    free(txt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shape),
        cmocka_unit_test(fits_4096),
        cmocka_unit_test(threshold),
        cmocka_unit_test(contract),
        cmocka_unit_test(cut_message_keeps_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
