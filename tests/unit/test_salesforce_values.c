/* Salesforce values: Id 15 -> 18, canonical text -> JSON / CSV per describe
 * type (CSV quoting included), Bulk sf__Error strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/salesforce_int.h"

static void test_id15_to_18(void **state)
{
    (void)state;
    static const char *v[][2] = {
        {"001000000000001", "001000000000001AAA"},
        {"a0BA0000000L2ZC", "a0BA0000000L2ZCMA0"},
        {"70130000001tcyI", "70130000001tcyIAAQ"},
        {"00558000001N0Ke", "00558000001N0KeAAK"},
        {"0012800000CXn0k", "0012800000CXn0kAAD"},
        {"003xx000004TmiQ", "003xx000004TmiQAAS"},
        {"00Q5e00000AbCdE", "00Q5e00000AbCdEEAV"},
        {"AaaAABbbBBCccCC", "AaaAABbbBBCccCCZZZ"},
        {"ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNO555"},
        {"aaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaAAA"},
        {"a0D30000001n7Pi", "a0D30000001n7PiEAI"},
    };
    char out[19];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        assert_true(sf_id18(v[i][0], out));
        assert_string_equal(out, v[i][1]);
        assert_true(sf_id18(v[i][1], out)); /* 18 stays 18 */
        assert_string_equal(out, v[i][1]);
    }
    /* Case restored from the suffix of a lower-cased 18-char Id. */
    assert_true(sf_id18("00q5e00000abcdeeav", out));
    assert_string_equal(out, "00Q5e00000AbCdEEAV");
    assert_false(sf_id18("a0D30000001n7PiEAC", out)); /* wrong suffix */
    assert_false(sf_id18("00130000000", out));
    assert_false(sf_id18("001-00000000001", out));
    assert_false(sf_id18("", out));
}

static struct sf_field fld(const char *name, enum sf_ftype t, const char *tn, long len,
                           int prec, int scale)
{
    struct sf_field f = {.name = (char *)name,
                         .type = t,
                         .type_name = (char *)tn,
                         .length = len,
                         .precision = prec,
                         .scale = scale,
                         .nillable = true,
                         .createable = true,
                         .updateable = true};
    return f;
}

/* JSON of one value, or "ERR:<code>". */
static char *conv(const struct sf_field *f, enum eng_type st, const char *v,
                  enum sf_vfmt fmt)
{
    struct retl_buf b;
    retl_buf_init(&b, 1 << 20);
    struct sf_verr err = {0};
    char *r;
    if (sf_value_append(&b, fmt, f, st, v, &err)) {
        r = strdup(retl_buf_str(&b));
    } else {
        r = malloc(strlen(err.code) + strlen(err.message) + 8);
        sprintf(r, "ERR:%s:%s", err.code, err.message);
    }
    retl_buf_free(&b);
    return r;
}

#define CHECK(f, st, v, fmt, want)                                                       \
    do {                                                                                 \
        char *got__ = conv(&(f), st, v, fmt);                                            \
        if (strncmp(want, "ERR:", 4) == 0)                                               \
            assert_memory_equal(got__, want, strlen(want));                              \
        else                                                                             \
            assert_string_equal(got__, want);                                            \
        free(got__);                                                                     \
    } while (0)

static void test_values_json(void **state)
{
    (void)state;
    struct sf_field s = fld("Name", SF_F_STRING, "string", 5, 0, 0);
    CHECK(s, ENG_T_TEXT, "ab\"c", SF_VAL_JSON, "\"ab\\\"c\"");
    CHECK(s, ENG_T_TEXT, "a\nb\x01", SF_VAL_JSON, "\"a\\nb\\u0001\"");
    CHECK(s, ENG_T_TEXT, NULL, SF_VAL_JSON, "null");
    CHECK(s, ENG_T_TEXT, "h\xc3\xa9llo", SF_VAL_JSON, "\"h\xc3\xa9llo\""); /* 5 chars */
    CHECK(s, ENG_T_TEXT, "toolong", SF_VAL_JSON,
          "ERR:STRING_TOO_LONG:Name: data value too large: toolong (max length=5)");
    struct sf_field b = fld("Active__c", SF_F_BOOL, "boolean", 0, 0, 0);
    CHECK(b, ENG_T_BOOL, "true", SF_VAL_JSON, "true");
    CHECK(b, ENG_T_TEXT, "F", SF_VAL_JSON, "false");
    CHECK(b, ENG_T_TEXT, "maybe", SF_VAL_JSON,
          "ERR:INVALID_TYPE_ON_FIELD_IN_RECORD:Active__c: value not of required type: "
          "maybe");
    struct sf_field d = fld("Amount__c", SF_F_DOUBLE, "currency", 0, 18, 2);
    CHECK(d, ENG_T_NUMERIC, "12.50", SF_VAL_JSON, "12.50");
    CHECK(d, ENG_T_NUMERIC, "+007.5", SF_VAL_JSON, "7.5");
    CHECK(d, ENG_T_NUMERIC, "-.5", SF_VAL_JSON, "-0.5");
    CHECK(d, ENG_T_NUMERIC, "1e3", SF_VAL_JSON, "1e3");
    CHECK(d, ENG_T_NUMERIC, "12345678901234567", SF_VAL_JSON,
          "ERR:NUMBER_OUTSIDE_VALID_RANGE");
    CHECK(d, ENG_T_NUMERIC, "NaN", SF_VAL_JSON, "ERR:INVALID_TYPE_ON_FIELD_IN_RECORD");
    CHECK(d, ENG_T_TEXT, "", SF_VAL_JSON, "null");
    struct sf_field i = fld("Count__c", SF_F_INT, "int", 0, 0, 0);
    i.digits = 9;
    CHECK(i, ENG_T_INT, "42", SF_VAL_JSON, "42");
    CHECK(i, ENG_T_NUMERIC, "42.000", SF_VAL_JSON, "42");
    CHECK(i, ENG_T_NUMERIC, "42.5", SF_VAL_JSON, "ERR:INVALID_TYPE_ON_FIELD_IN_RECORD");
    CHECK(i, ENG_T_INT, "1234567890", SF_VAL_JSON, "ERR:NUMBER_OUTSIDE_VALID_RANGE");
    struct sf_field dt = fld("Seen__c", SF_F_DATETIME, "datetime", 0, 0, 0);
    CHECK(dt, ENG_T_TIMESTAMP, "2024-05-01 10:00:00", SF_VAL_JSON,
          "\"2024-05-01T10:00:00.000Z\"");
    CHECK(dt, ENG_T_TIMESTAMPTZ, "2024-05-01 01:30:00.123456+02", SF_VAL_JSON,
          "\"2024-04-30T23:30:00.123Z\"");
    CHECK(dt, ENG_T_TIMESTAMPTZ, "2024-12-31 22:00:00-05:30", SF_VAL_JSON,
          "\"2025-01-01T03:30:00.000Z\"");
    CHECK(dt, ENG_T_DATE, "2024-02-29", SF_VAL_JSON, "\"2024-02-29T00:00:00.000Z\"");
    CHECK(dt, ENG_T_TEXT, "2023-02-29", SF_VAL_JSON,
          "ERR:INVALID_TYPE_ON_FIELD_IN_RECORD");
    struct sf_field da = fld("Day__c", SF_F_DATE, "date", 0, 0, 0);
    CHECK(da, ENG_T_DATE, "2024-05-01", SF_VAL_JSON, "\"2024-05-01\"");
    CHECK(da, ENG_T_TIMESTAMPTZ, "2024-05-01 23:30:00-02:00", SF_VAL_JSON,
          "\"2024-05-02\"");
    CHECK(da, ENG_T_TEXT, "05/01/2024", SF_VAL_JSON,
          "ERR:INVALID_TYPE_ON_FIELD_IN_RECORD");
    struct sf_field tm = fld("At__c", SF_F_TIME, "time", 0, 0, 0);
    CHECK(tm, ENG_T_TEXT, "10:00:00", SF_VAL_JSON, "\"10:00:00.000Z\"");
    struct sf_field ref = fld("AccountId", SF_F_ID, "reference", 18, 0, 0);
    CHECK(ref, ENG_T_TEXT, "001000000000001", SF_VAL_JSON, "\"001000000000001AAA\"");
    CHECK(ref, ENG_T_TEXT, "bogus", SF_VAL_JSON,
          "ERR:MALFORMED_ID:AccountId: id value of incorrect type: bogus");
    struct sf_field mp = fld("Tags__c", SF_F_STRING, "multipicklist", 255, 0, 0);
    CHECK(mp, ENG_T_JSON, "[\"A\",\"B c\"]", SF_VAL_JSON, "\"A;B c\"");
}

static void test_values_csv(void **state)
{
    (void)state;
    struct sf_field s = fld("Name", SF_F_STRING, "string", 80, 0, 0);
    CHECK(s, ENG_T_TEXT, NULL, SF_VAL_CSV, "#N/A");
    CHECK(s, ENG_T_TEXT, "plain", SF_VAL_CSV, "plain");
    CHECK(s, ENG_T_TEXT, "a,b", SF_VAL_CSV, "\"a,b\"");
    CHECK(s, ENG_T_TEXT, "say \"hi\"", SF_VAL_CSV, "\"say \"\"hi\"\"\"");
    CHECK(s, ENG_T_TEXT, "two\nlines", SF_VAL_CSV, "\"two\nlines\"");
    CHECK(s, ENG_T_TEXT, "cr\r", SF_VAL_CSV, "\"cr\r\"");
    CHECK(s, ENG_T_TEXT, " keep spaces ", SF_VAL_CSV, " keep spaces ");
    struct sf_field b = fld("B", SF_F_BOOL, "boolean", 0, 0, 0);
    CHECK(b, ENG_T_BOOL, "true", SF_VAL_CSV, "true");
    struct sf_field dt = fld("T", SF_F_DATETIME, "datetime", 0, 0, 0);
    CHECK(dt, ENG_T_TIMESTAMPTZ, "2024-05-01 10:00:00+00", SF_VAL_CSV,
          "2024-05-01T10:00:00.000Z");
    /* Every part zero-padded. */
    CHECK(dt, ENG_T_TIMESTAMPTZ, "1700-01-02 03:04:05.006+00", SF_VAL_CSV,
          "1700-01-02T03:04:05.006Z");
    CHECK(dt, ENG_T_TIMESTAMPTZ, "1700-01-01 00:30:00+01", SF_VAL_CSV,
          "1699-12-31T23:30:00.000Z");
    struct sf_field da = fld("D", SF_F_DATE, "date", 0, 0, 0);
    CHECK(da, ENG_T_DATE, "2024-01-09", SF_VAL_CSV, "2024-01-09");
}

static void test_bulk_error_split(void **state)
{
    (void)state;
    struct {
        const char *in, *code, *msg, *fields;
    } v[] = {
        {"REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --",
         "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", "LastName"},
        {"INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--",
         "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", NULL},
        {"INVALID_EMAIL_ADDRESS:Email: invalid email address: nope:Email --",
         "INVALID_EMAIL_ADDRESS", "Email: invalid email address: nope", "Email"},
        {"STRING_TOO_LONG:Name: data value too large: x y (max length=5)",
         "STRING_TOO_LONG", "Name: data value too large: x y (max length=5)", NULL},
        {"garbage", "garbage", "garbage", NULL},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *c, *m, *f;
        sf_bulk_error_split(v[i].in, &c, &m, &f);
        assert_string_equal(c, v[i].code);
        assert_string_equal(m, v[i].msg);
        if (v[i].fields)
            assert_string_equal(f, v[i].fields);
        else
            assert_null(f);
        free(c);
        free(m);
        free(f);
    }
}

/* Issue 16 item 2: a field of length 10 and 40 "あ": the error message (which
 * goes into the errors table through COPY) must stay valid UTF-8. */
static void test_too_long_multibyte_message_is_utf8(void **state)
{
    (void)state;
    struct sf_field f = fld("Name", SF_F_STRING, "string", 10, 0, 0);
    char v[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(v, "\xe3\x81\x82");
    struct retl_buf b;
    retl_buf_init(&b, 1 << 20);
    struct sf_verr err = {0};
    assert_false(sf_value_append(&b, SF_VAL_JSON, &f, ENG_T_TEXT, v, &err));
    assert_string_equal(err.code, "STRING_TOO_LONG");
    json_t *js = json_string(err.message); /* NULL for invalid UTF-8 */
    assert_non_null(js);
    json_decref(js);
    assert_non_null(strstr(err.message, "..."));
    retl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id15_to_18),
        cmocka_unit_test(test_values_json),
        cmocka_unit_test(test_values_csv),
        cmocka_unit_test(test_bulk_error_split),
        cmocka_unit_test(test_too_long_multibyte_message_is_utf8),
    };
    return cmocka_run_group_tests_name("salesforce_values", tests, NULL, NULL);
}
