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

/* Issue 16 item 1: credentials the redactor missed. */
static void test_redact_odbc_braces_and_headers(void **state)
{
    char out[512];
    assert_string_equal(
        retl_redact_conninfo("Driver={X};Server=s;PWD={correct horse battery staple};",
                             out, sizeof out),
        "Driver={X};Server=s;PWD={***};");
    assert_string_equal(
        retl_redact_conninfo("UID=u;Pwd={a}}b;c};Database=d", out, sizeof out),
        "UID=u;Pwd={***};Database=d");
    retl_redact_text("GET /x\r\nAuthorization: OAuth 00Dxx!AQ4AQFakeToken\r\n", out,
                     sizeof out);
    assert_null(strstr(out, "00Dxx"));
    assert_non_null(strstr(out, "Authorization: OAuth ***"));
    retl_redact_text("grant_type=jwt&client_assertion=eyJhbGc.eyJzdWIi.sig1&x=1", out,
                     sizeof out);
    assert_string_equal(out, "grant_type=jwt&client_assertion=***&x=1");
    retl_redact_text("<sessionId>ab</sessionId> sessionId=00D5!AQcd sid", out,
                     sizeof out);
    assert_null(strstr(out, "00D5!AQcd"));
    retl_redact_text(
        "key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
        "BKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\nnext",
        out, sizeof out);
    assert_null(strstr(out, "MIIEvQ"));
    assert_null(strstr(out, "BKcwgg"));
    assert_non_null(strstr(out, "-----END PRIVATE KEY-----\nnext"));
    retl_redact_text("unterminated -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA",
                     out, sizeof out);
    assert_null(strstr(out, "MIIEpA"));
}

/* A password with spaces: the parts a tokeniser splits off stay masked. */
static void test_redact_secret_tokens(void **state)
{
    char out[512];
    assert_int_equal(retl_secret_register("correct horse battery staple"), RETL_E_OK);
    retl_redact_text("password=correct horse battery staple host=db", out, sizeof out);
    assert_null(strstr(out, "horse"));
    assert_null(strstr(out, "staple"));
    assert_non_null(strstr(out, "host=db"));
    retl_redact_text("FATAL: bad value near \"battery staple\"", out, sizeof out);
    assert_null(strstr(out, "battery"));
    assert_null(strstr(out, "staple"));
    retl_secret_clear();
}

/* Registration has no silent cap: the 100th secret is masked like the 1st. */
static void test_secret_registry_no_cap(void **state)
{
    char v[32], out[128];
    for (int i = 0; i < 100; i++) {
        snprintf(v, sizeof v, "s3cret-number-%03d", i);
        assert_int_equal(retl_secret_register(v), RETL_E_OK);
    }
    retl_redact_text("leaked s3cret-number-099 and s3cret-number-000", out, sizeof out);
    assert_null(strstr(out, "s3cret"));
    retl_secret_clear();
}

/* Hostile values in every spelling a message can carry them in. */
static void test_redact_hostile_values(void **state)
{
    static const char *const values[] = {
        "correct horse battery staple",
        "p}w{d;Server=evil;",
        "it's \"quoted\" \\ back",
        "multi\nline\tsecret value",
        "日本語のパスワード 秘密",
        "semi;colon=equals&amp",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE "
        "KEY-----\n",
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        const char *pw = values[i];
        char conn[512], json[512], pq[512], msg[2048], out[4096];
        assert_int_equal(retl_secret_register_text("Driver={D};Server=s;UID=u"),
                         RETL_E_OK);
        /* an ODBC connection string with the password braced, as odbc_drv builds it */
        size_t n = (size_t)snprintf(conn, sizeof conn, "Driver={D};Server=s;PWD={");
        for (const char *p = pw; *p; p++) {
            if (*p == '}')
                conn[n++] = '}';
            conn[n++] = *p;
        }
        snprintf(conn + n, sizeof conn - n, "};UID=u");
        assert_int_equal(retl_secret_register_text(conn), RETL_E_OK);
        json_t *js = json_string(pw);
        char *enc = json_dumps(js, JSON_ENCODE_ANY);
        snprintf(json, sizeof json, "{\"detail\": %s}", enc);
        free(enc);
        json_decref(js);
        n = (size_t)snprintf(pq, sizeof pq, "password='");
        for (const char *p = pw; *p; p++) {
            if (*p == '\'' || *p == '\\')
                pq[n++] = '\\';
            pq[n++] = *p;
        }
        snprintf(pq + n, sizeof pq - n, "'");
        snprintf(msg, sizeof msg, "driver said [%s] | %s | %s | raw %s | tail", conn,
                 json, pq, pw);
        retl_redact_text(msg, out, sizeof out);
        /* neither the value nor any >= 4-byte piece between separators survives */
        char *copy = strdup(pw);
        for (char *tok = strtok(copy, " \t\n;,&{}'\"\\:=<>"); tok;
             tok = strtok(NULL, " \t\n;,&{}'\"\\:=<>")) {
            if (strlen(tok) >= 4 && !strstr("Server=evil", tok) &&
                strcmp(tok, "PRIVATE") && strcmp(tok, "-----END") &&
                strcmp(tok, "-----BEGIN") && strcmp(tok, "KEY-----"))
                assert_null(strstr(out, tok));
        }
        free(copy);
        assert_non_null(strstr(out, "tail"));
        retl_secret_clear();
    }
}

static void test_conn_describe(void **state)
{
    char out[256];
    assert_string_equal(
        retl_conn_describe("Driver={PostgreSQL Unicode};Server=db;Port=5432;UID=u;"
                           "PWD={a b};Database=x;",
                           out, sizeof out),
        "Driver={PostgreSQL Unicode} Server=db Port=5432 Database=x");
    assert_string_equal(
        retl_conn_describe("host=db password=a b user=u dbname=d", out, sizeof out),
        "host=db dbname=d");
    assert_string_equal(
        retl_conn_describe("postgresql://u:p%20w@db:5432/app?sslmode=require&password=x",
                           out, sizeof out),
        "host=db:5432 dbname=app");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_line_redacts_url_password),
        cmocka_unit_test(test_registered_secret_never_printed),
        cmocka_unit_test(test_levels_parse),
        cmocka_unit_test(test_redact_helpers),
        cmocka_unit_test(test_redact_empty_text),
        cmocka_unit_test(test_redact_odbc_braces_and_headers),
        cmocka_unit_test(test_redact_secret_tokens),
        cmocka_unit_test(test_secret_registry_no_cap),
        cmocka_unit_test(test_redact_hostile_values),
        cmocka_unit_test(test_conn_describe),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
