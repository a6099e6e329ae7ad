/* The generic HTTP destination's pure parts: the batch body, its signature,
 * per-key failures from the answer, failure classes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/http_int.h"

static void test_body(void **state)
{
    (void)state;
    struct retl_job job = {
        .name = "orders", .namespace = "shop", .mode = RETL_MODE_UPSERT};
    struct eng_col cols[] = {
        {.source = "id", .destination = "id", .type = ENG_T_TEXT, .is_key = true},
        {.source = "n", .destination = "qty", .type = ENG_T_INT, .is_key = false},
        {.source = "a", .destination = "amount", .type = ENG_T_NUMERIC, .is_key = false},
        {.source = "big", .destination = "big", .type = ENG_T_NUMERIC, .is_key = false},
        {.source = "ok", .destination = "paid", .type = ENG_T_BOOL, .is_key = false},
        {.source = "j", .destination = "meta", .type = ENG_T_JSON, .is_key = false},
        {.source = "t", .destination = "note", .type = ENG_T_TEXT, .is_key = false}};
    const char *v[] = {"o-1",  "3",           "2.5", "12345678901234567890.5",
                       "true", "{\"a\":[1]}", NULL};
    struct eng_row rows[] = {{.key = "o-1", .vals = v, .op = ENG_OP_UPSERT}};
    struct eng_batch b = {.cols = cols, .ncols = 7, .rows = rows, .nrows = 1, .run = 42};
    char *body = http_batch_body(&job, &b);
    assert_string_equal(body,
                        "{\"job\":\"shop/orders\",\"run\":42,\"operation\":\"upsert\","
                        "\"records\":[{\"key\":\"o-1\",\"fields\":{\"qty\":3,\"amount\":"
                        "2.5,\"big\":\"12345678901234567890.5\",\"paid\":true,\"meta\":{"
                        "\"a\":[1]},\"note\":null}}]}");
    /* nulls: Skip leaves a NULL out instead of sending null. */
    struct retl_mapping skip = {
        .source = "t", .destination = "note", .nulls = RETL_NULLS_SKIP};
    job.mappings = &skip;
    job.n_mappings = 1;
    char *body2 = http_batch_body(&job, &b);
    assert_non_null(strstr(body2, "\"meta\":{\"a\":[1]}}}]}"));
    assert_null(strstr(body2, "note"));
    free(body2);
    char sig[80];
    assert_int_equal(http_signature("s3cret", "{}", 2, sig), RETL_E_OK);
    /* echo -n '{}' | openssl dgst -sha256 -hmac s3cret */
    assert_string_equal(sig,
                        "sha256=adbde1ce40c89c14215687d5d762a47df6dfaefcfad61e2e86718ffc"
                        "8498571b");
    free(body);
}

/* spec.deletes: Delete sends the keys alone, Clear an update nulling every
 * mapped field (the values of the row are not sent). */
static void test_delete_body(void **state)
{
    (void)state;
    struct retl_job job = {
        .name = "orders", .namespace = "shop", .mode = RETL_MODE_UPSERT};
    struct eng_col cols[] = {
        {.source = "id", .destination = "id", .type = ENG_T_TEXT, .is_key = true},
        {.source = "n", .destination = "qty", .type = ENG_T_INT, .is_key = false}};
    const char *v[] = {"o-1", "3"};
    struct eng_row rows[] = {{.key = "o-1", .vals = v, .op = ENG_OP_DELETE}};
    struct eng_batch b = {.cols = cols,
                          .ncols = 2,
                          .rows = rows,
                          .nrows = 1,
                          .run = 9,
                          .op = ENG_OP_DELETE};
    char *body = http_batch_body(&job, &b);
    assert_string_equal(body,
                        "{\"job\":\"shop/orders\",\"run\":9,\"operation\":\"delete\","
                        "\"records\":[{\"key\":\"o-1\"}]}");
    free(body);
    rows[0].op = ENG_OP_CLEAR;
    b.op = ENG_OP_CLEAR;
    body = http_batch_body(&job, &b);
    assert_string_equal(body,
                        "{\"job\":\"shop/orders\",\"run\":9,\"operation\":\"update\","
                        "\"records\":[{\"key\":\"o-1\",\"fields\":{\"qty\":null}}]}");
    free(body);
}

static void test_answer(void **state)
{
    (void)state;
    struct eng_col cols[] = {
        {.source = "id", .destination = "id", .type = ENG_T_TEXT, .is_key = true}};
    const char *v[] = {"a"};
    struct eng_row rows[] = {{.key = "a", .vals = v, .op = ENG_OP_UPSERT},
                             {.key = "b", .vals = v, .op = ENG_OP_UPSERT}};
    struct eng_batch b = {
        .cols = cols, .ncols = 1, .rows = rows, .nrows = 2, .new_keys = true};
    struct eng_row_result res[2];
    http_apply_answer(
        &b, 200, "{\"results\":[{\"key\":\"b\",\"error\":\"no such customer\"}]}", res);
    assert_true(res[0].ok && res[0].created);
    assert_false(res[1].ok);
    assert_string_equal(res[1].code, "REJECTED");
    assert_string_equal(res[1].message, "no such customer");
    assert_int_equal(res[1].cls, ENG_FAIL_BY_CODE); /* REJECTED: transient */
    assert_int_equal(eng_fail_classify(res[1].code), ENG_FAIL_TRANSIENT);
    eng_results_clear(res, 2);
    http_apply_answer(&b, 204, "", res);
    assert_true(res[0].ok && res[1].ok);
    http_apply_answer(&b, 200, "not json at all", res);
    assert_true(res[0].ok && res[1].ok);
    http_apply_answer(&b, 200, "{\"results\":\"oops\"}", res);
    assert_string_equal(res[0].code, "BAD_RESPONSE");
    assert_true(http_code_transient(res[0].code));
    assert_int_equal(eng_fail_classify(res[0].code), ENG_FAIL_TRANSIENT);
    eng_results_clear(res, 2);
    assert_true(http_code_transient("HTTP_503"));
    assert_true(http_code_transient("HTTP_429"));
    assert_false(http_code_transient("HTTP_400"));
    assert_false(http_code_transient("REJECTED"));
    /* A refusal (4xx) is permanent: not resent until the record changes. */
    assert_int_equal(http_code_class("HTTP_400"), ENG_FAIL_PERMANENT);
    assert_int_equal(http_code_class("HTTP_422"), ENG_FAIL_PERMANENT);
    assert_int_equal(http_code_class("HTTP_429"), ENG_FAIL_BY_CODE);
    assert_int_equal(http_code_class("HTTP_503"), ENG_FAIL_BY_CODE);
    assert_int_equal(http_code_class("REJECTED"), ENG_FAIL_BY_CODE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_delete_body),
        cmocka_unit_test(test_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
