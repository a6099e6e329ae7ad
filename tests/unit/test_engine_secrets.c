/* engine/secrets.c: secrets from the environment and from Secret manifests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/log.h"
#include "engine/base/secrets.h"

static void from_env(void **st)
{
    (void)st;
    char *env[] = {"RETL_SOURCE_url=postgresql://u@h/db",
                   "RETL_SOURCE_password=s3cr3t-pw",
                   "RETL_DESTINATION_url=other",
                   "PATH=/bin",
                   "RETL_SOURCE_=ignored",
                   NULL};
    struct eng_secrets s = {0};
    assert_int_equal(eng_secrets_from_env("SOURCE", env, &s, NULL), RETL_E_OK);
    assert_string_equal(eng_secret_get(&s, "url"), "postgresql://u@h/db");
    assert_string_equal(eng_secret_get(&s, "password"), "s3cr3t-pw");
    assert_null(eng_secret_get(&s, "nope"));
    assert_int_equal(json_object_size(s.data), 2);
    char red[128];
    retl_redact_text("pw is s3cr3t-pw here", red, sizeof red);
    assert_null(strstr(red, "s3cr3t-pw"));
    eng_secrets_free(&s);
}

static void from_docs(void **st)
{
    (void)st;
    json_t *docs =
        json_loads("[{\"kind\":\"ReverseEtlJob\"},"
                   "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"wh\",\"namespace\":"
                   "\"other\"},\"stringData\":{\"url\":\"wrong\"}},"
                   "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"wh\",\"namespace\":"
                   "\"ns\"},\"data\":{\"url\":\"aG9zdD1oIGRibmFtZT1k\",\"password\":"
                   "\"cGFzc3dvcmQtMTIz\"},\"stringData\":{\"extra\":\"x\"}}]",
                   0, NULL);
    assert_non_null(docs);
    struct eng_secrets s = {0};
    assert_int_equal(eng_secrets_from_docs(docs, "ns", "wh", &s, NULL), RETL_E_OK);
    assert_string_equal(eng_secret_get(&s, "url"), "host=h dbname=d");
    assert_string_equal(eng_secret_get(&s, "password"), "password-123");
    assert_string_equal(eng_secret_get(&s, "extra"), "x");
    eng_secrets_free(&s);
    struct retl_errbuf eb = {{0}};
    assert_int_equal(eng_secrets_from_docs(docs, "ns", "missing", &s, &eb),
                     RETL_E_NOT_FOUND);
    assert_non_null(strstr(eb.msg, "missing"));
    json_decref(docs);
}

static void bad_base64(void **st)
{
    (void)st;
    json_t *docs = json_loads("[{\"kind\":\"Secret\",\"metadata\":{\"name\":"
                              "\"wh\"},\"data\":{\"url\":\"!!!\"}}]",
                              0, NULL);
    struct eng_secrets s = {0};
    struct retl_errbuf eb = {{0}};
    assert_int_equal(eng_secrets_from_docs(docs, "ns", "wh", &s, &eb), RETL_E_PARSE);
    assert_non_null(strstr(eb.msg, "base64"));
    json_decref(docs);
}

static void get_line(void **st)
{
    (void)st;
    char *env[] = {"RETL_DESTINATION_bearerToken=tok-abc\n",
                   "RETL_DESTINATION_accessToken=ok", NULL};
    struct eng_secrets s = {0};
    assert_int_equal(eng_secrets_from_env("DESTINATION", env, &s, NULL), RETL_E_OK);
    const char *v = "untouched";
    struct retl_errbuf eb = {{0}};
    assert_int_equal(eng_secret_get_line(&s, "bearerToken", &v, &eb), RETL_E_CONFIG);
    assert_string_equal(v, "untouched");
    assert_non_null(strstr(eb.msg, "bearerToken contains a line break"));
    assert_null(strstr(eb.msg, "tok-abc"));
    assert_int_equal(eng_secret_get_line(&s, "accessToken", &v, &eb), RETL_E_OK);
    assert_string_equal(v, "ok");
    assert_int_equal(eng_secret_get_line(&s, "absent", &v, &eb), RETL_E_OK);
    assert_null(v);
    eng_secrets_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(from_env),
        cmocka_unit_test(from_docs),
        cmocka_unit_test(bad_base64),
        cmocka_unit_test(get_line),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    retl_secret_clear();
    return rc;
}
