#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

static char *capture(enum retl_log_format fmt, void (*fn)(void))
{
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    retl_log_setup("test", RETL_LOG_DEBUG, fmt, f);
    fn();
    fclose(f);
    retl_log_setup("test", RETL_LOG_INFO, RETL_LOG_JSON, NULL);
    return mem;
}

static void log_with_secret(void)
{
    RETL_LOG_INFO("connecting", RF_S("url", "postgresql://app:s3cretpw@db:5432/x"),
                  RF_I("attempt", 2), RF_B("tls", 1));
}

static void test_json_line_redacts_url_password(void **state)
{
    char *out = capture(RETL_LOG_JSON, log_with_secret);
    assert_null(strstr(out, "s3cretpw"));
    json_error_t err;
    json_t *v = json_loads(out, 0, &err);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "component")), "test");
    assert_string_equal(json_string_value(json_object_get(v, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(v, "url")),
                        "postgresql://app:***@db:5432/x");
    assert_int_equal(json_integer_value(json_object_get(v, "attempt")), 2);
    assert_true(json_is_true(json_object_get(v, "tls")));
    json_decref(v);
    free(out);
}

static void log_registered(void)
{
    RETL_LOG_WARN("oauth failed", RF_S("detail", "token abcdefghij-123 rejected"));
}

static void test_registered_secret_never_printed(void **state)
{
    retl_secret_register("abcdefghij-123");
    char *out = capture(RETL_LOG_LOGFMT, log_registered);
    assert_null(strstr(out, "abcdefghij-123"));
    assert_non_null(strstr(out, "[REDACTED]"));
    assert_non_null(strstr(out, "level=warn"));
    assert_non_null(strstr(out, "component=test"));
    retl_secret_clear();
    free(out);
}

static void log_debug_when_info(void)
{
    retl_log_setup("test", RETL_LOG_INFO, RETL_LOG_JSON, NULL);
}

static void test_levels_parse(void **state)
{
    enum retl_log_level l;
    assert_int_equal(retl_log_parse_level("debug", &l), RETL_E_OK);
    assert_int_equal(l, RETL_LOG_DEBUG);
    assert_int_equal(retl_log_parse_level("WARN", &l), RETL_E_OK);
    assert_int_equal(l, RETL_LOG_WARN);
    assert_int_equal(retl_log_parse_level("loud", &l), RETL_E_INVALID);
    log_debug_when_info();
    assert_false(retl_log_enabled(RETL_LOG_DEBUG));
    assert_true(retl_log_enabled(RETL_LOG_ERROR));
}

static void test_redact_helpers(void **state)
{
    char out[256];
    assert_string_equal(
        retl_redact_url("https://u:p4ss@h.example/p?a=1&access_token=xyz&b=2", out,
                        sizeof out),
        "https://u:***@h.example/p?a=1&access_token=***&b=2");
    assert_string_equal(retl_redact_url("http://h/x", out, sizeof out), "http://h/x");
    assert_string_equal(
        retl_redact_conninfo("host=db user=app password='a b' dbname=x", out, sizeof out),
        "host=db user=app password='***' dbname=x");
    assert_string_equal(retl_redact_conninfo("Driver={ODBC};Server=s;UID=u;PWD=hunter22;",
                                             out, sizeof out),
                        "Driver={ODBC};Server=s;UID=u;PWD=***;");
    assert_string_equal(retl_redact_token("eyJhbGciOi", out, sizeof out), "***");
    assert_string_equal(
        retl_redact_text("Authorization: Bearer abc.def.ghi and client_secret=zz9", out,
                         sizeof out),
        "Authorization: Bearer *** and client_secret=***");
    assert_string_equal(
        retl_redact_text("{\"password\": \"pw1\", \"user\": \"u\"}", out, sizeof out),
        "{\"password\": \"***\", \"user\": \"u\"}");
    /* truncation is safe */
    char small[8];
    retl_redact_url("https://u:p@verylonghost/", small, sizeof small);
    assert_int_equal(strlen(small), 7);
}

/* Issue 16 item 3: an empty text left the intermediate buffer unterminated. */
static void test_redact_empty_text(void **state)
{
    char out[64] = "garbage";
    assert_string_equal(retl_redact_text("", out, sizeof out), "");
    assert_string_equal(retl_redact_text(NULL, out, sizeof out), "");
    retl_secret_register("s3cret-value");
    assert_string_equal(retl_redact_text("", out, sizeof out), "");
    retl_secret_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_line_redacts_url_password),
        cmocka_unit_test(test_registered_secret_never_printed),
        cmocka_unit_test(test_levels_parse),
        cmocka_unit_test(test_redact_helpers),
        cmocka_unit_test(test_redact_empty_text),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
