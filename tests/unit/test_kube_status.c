#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/kube_status.h"

static retl_err parse(long code, const char *body, const char *ra, struct kube_status *st,
                      struct retl_errbuf *eb)
{
    memset(eb, 0, sizeof *eb);
    return kube_status_parse(code, body, body ? strlen(body) : 0, ra, st, eb);
}

static void test_not_found(void **state)
{
    struct kube_status st;
    struct retl_errbuf eb;
    retl_err e = parse(404,
                       "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":"
                       "\"Failure\",\"message\":\"configmaps \\\"x\\\" not found\","
                       "\"reason\":\"NotFound\",\"details\":{\"name\":\"x\","
                       "\"kind\":\"configmaps\"},\"code\":404}",
                       NULL, &st, &eb);
    assert_int_equal(e, RETL_E_NOT_FOUND);
    assert_int_equal(st.code, 404);
    assert_string_equal(st.reason, "NotFound");
    assert_string_equal(st.message, "configmaps \"x\" not found");
    assert_non_null(strstr(eb.msg, "configmaps \"x\" not found"));
    assert_non_null(strstr(eb.msg, "reason NotFound"));
    assert_non_null(strstr(eb.msg, "code 404"));
    assert_int_equal(st.retry_after_ms, -1);
}

static void test_conflict_vs_already_exists(void **state)
{
    struct kube_status st;
    struct retl_errbuf eb;
    assert_int_equal(
        parse(409, "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\",\"code\":409}",
              NULL, &st, &eb),
        RETL_E_ALREADY_EXISTS);
    assert_int_equal(parse(409,
                           "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"message\":"
                           "\"Operation cannot be fulfilled: the object has been "
                           "modified\",\"code\":409}",
                           NULL, &st, &eb),
                     RETL_E_CONFLICT);
    assert_non_null(strstr(eb.msg, "has been modified"));
}

static void test_gone_and_expired(void **state)
{
    struct kube_status st;
    struct retl_errbuf eb;
    assert_int_equal(parse(410,
                           "{\"kind\":\"Status\",\"reason\":\"Expired\",\"message\":"
                           "\"too old resource version: 1 (50)\",\"code\":410}",
                           NULL, &st, &eb),
                     RETL_E_GONE);
    assert_int_equal(
        parse(410, "{\"kind\":\"Status\",\"reason\":\"Gone\"}", NULL, &st, &eb),
        RETL_E_GONE);
    /* A watch ERROR event: code from the Status itself. */
    json_t *obj = json_pack("{s:s,s:s,s:s,s:i}", "kind", "Status", "reason", "Expired",
                            "message", "too old resource version", "code", 410);
    memset(&eb, 0, sizeof eb);
    assert_int_equal(kube_status_from_json(0, obj, NULL, &st, &eb), RETL_E_GONE);
    assert_int_equal(st.code, 410);
    json_decref(obj);
}

static void test_auth_errors(void **state)
{
    struct kube_status st;
    struct retl_errbuf eb;
    assert_int_equal(
        parse(401, "{\"kind\":\"Status\",\"reason\":\"Unauthorized\",\"code\":401}", NULL,
              &st, &eb),
        RETL_E_UNAUTHORIZED);
    assert_int_equal(parse(403,
                           "{\"kind\":\"Status\",\"reason\":\"Forbidden\",\"message\":"
                           "\"secrets is forbidden: User cannot list\",\"code\":403}",
                           NULL, &st, &eb),
                     RETL_E_FORBIDDEN);
    assert_non_null(strstr(eb.msg, "forbidden"));
}

static void test_invalid_lists_causes(void **state)
{
    struct kube_status st;
    struct retl_errbuf eb;
    retl_err e =
        parse(422,
              "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"ConfigMap "
              "\\\"Bad_Name\\\" is invalid: metadata.name: Invalid value\",\"reason\":"
              "\"Invalid\",\"details\":{\"name\":\"Bad_Name\",\"kind\":\"ConfigMap\","
              "\"causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid "
              "value: a lowercase RFC 1123 subdomain\",\"field\":\"metadata.name\"},"
              "{\"reason\":\"FieldValueRequired\",\"message\":\"Required value\","
              "\"field\":\"data.key\"}]},\"code\":422}",
              NULL, &st, &eb);
    assert_int_equal(e, RETL_E_UNPROCESSABLE);
    assert_string_equal(st.reason, "Invalid");
    assert_non_null(strstr(eb.msg, "metadata.name: Invalid value: a lowercase"));
    assert_non_null(strstr(eb.msg, "data.key: Required value"));
}

static void test_too_many_requests(void **state)
{
    struct kube_status st;
    struct retl_errbuf eb;
    assert_int_equal(parse(429,
                           "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\","
                           "\"details\":{\"retryAfterSeconds\":3},\"code\":429}",
                           NULL, &st, &eb),
                     RETL_E_TOO_MANY_REQUESTS);
    assert_int_equal(st.retry_after_ms, 3000);
    /* The header wins over the body. */
    assert_int_equal(
        parse(429, "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\"}", "7", &st, &eb),
        RETL_E_TOO_MANY_REQUESTS);
    assert_int_equal(st.retry_after_ms, 7000);
    assert_non_null(strstr(eb.msg, "retry after 7000 ms"));
}

static void test_not_a_status(void **state)
{
    struct kube_status st;
    struct retl_errbuf eb;
    /* A proxy's HTML page: mapped by code, excerpt kept, no crash. */
    assert_int_equal(
        parse(503, "<html><body>\n\x01upstream down</body></html>", NULL, &st, &eb),
        RETL_E_UNAVAILABLE);
    assert_non_null(strstr(eb.msg, "HTTP 503"));
    assert_non_null(strstr(eb.msg, "upstream down"));
    assert_int_equal(parse(404, NULL, NULL, &st, &eb), RETL_E_NOT_FOUND);
    assert_int_equal(parse(418, "", NULL, &st, &eb), RETL_E_HTTP_STATUS);
    assert_int_equal(parse(500, "{\"truncated", NULL, &st, &eb), RETL_E_UNAVAILABLE);
    /* A JSON array is not a Status either. */
    assert_int_equal(parse(409, "[1,2]", NULL, &st, &eb), RETL_E_CONFLICT);
}

static void test_err_table(void **state)
{
    assert_int_equal(kube_status_err(200, NULL), RETL_E_OK);
    assert_int_equal(kube_status_err(0, "NotFound"), RETL_E_NOT_FOUND);
    assert_int_equal(kube_status_err(500, "ServerTimeout"), RETL_E_UNAVAILABLE);
    assert_int_equal(kube_status_err(504, NULL), RETL_E_UNAVAILABLE);
    assert_int_equal(kube_status_err(400, "BadRequest"), RETL_E_HTTP_STATUS);
    assert_int_equal(kube_status_err(410, NULL), RETL_E_GONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_conflict_vs_already_exists),
        cmocka_unit_test(test_gone_and_expired),
        cmocka_unit_test(test_auth_errors),
        cmocka_unit_test(test_invalid_lists_causes),
        cmocka_unit_test(test_too_many_requests),
        cmocka_unit_test(test_not_a_status),
        cmocka_unit_test(test_err_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
