/* The HubSpot destination's pure parts: property parsing and validation,
 * value conversion per property type, batch bodies and 207 answers matched
 * back to rows, failure classes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/hubspot_int.h"

static const char *PROPS =
    "{\"results\": ["
    "{\"name\": \"email\", \"type\": \"string\", \"hasUniqueValue\": false},"
    "{\"name\": \"external_id\", \"type\": \"string\", \"hasUniqueValue\": true},"
    "{\"name\": \"score\", \"type\": \"number\"},"
    "{\"name\": \"vip\", \"type\": \"bool\"},"
    "{\"name\": \"born\", \"type\": \"date\"},"
    "{\"name\": \"seen\", \"type\": \"datetime\"},"
    "{\"name\": \"plan\", \"type\": \"enumeration\", \"options\": [{\"value\": "
    "\"free\"}, "
    "{\"value\": \"pro\"}]},"
    "{\"name\": \"hubspotscore\", \"type\": \"number\", \"modificationMetadata\": "
    "{\"readOnlyValue\": true}}]}";

static struct hs_props load_props(void)
{
    json_error_t je;
    json_t *j = json_loads(PROPS, 0, &je);
    struct hs_props p;
    assert_int_equal(hs_props_parse(j, &p, NULL), RETL_E_OK);
    json_decref(j);
    return p;
}

static void check(const struct hs_props *ps, const char *prop, enum eng_type t,
                  const char *in, const char *want)
{
    const char *why = NULL;
    char *got = hs_value(hs_props_find(ps, prop), t, in, &why);
    if (!want) {
        assert_null(got);
        assert_non_null(why);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_values(void **state)
{
    (void)state;
    struct hs_props p = load_props();
    check(&p, "score", ENG_T_NUMERIC, "12.50", "12.50");
    check(&p, "score", ENG_T_NUMERIC, "1.5e3", "1500");
    check(&p, "score", ENG_T_TEXT, "abc", NULL);
    check(&p, "score", ENG_T_BOOL, "true", NULL);
    check(&p, "vip", ENG_T_BOOL, "true", "true");
    check(&p, "vip", ENG_T_TEXT, "No", "false");
    check(&p, "vip", ENG_T_TEXT, "maybe", NULL);
    check(&p, "born", ENG_T_DATE, "1990-05-01", "1990-05-01");
    check(&p, "born", ENG_T_TIMESTAMPTZ, "2024-01-01 23:30:00-02:00", "2024-01-02");
    check(&p, "born", ENG_T_TEXT, "May 1", NULL);
    check(&p, "seen", ENG_T_TIMESTAMPTZ, "2024-05-01 12:07:00.25+02:00",
          "2024-05-01T10:07:00.250Z");
    check(&p, "seen", ENG_T_TIMESTAMP, "2024-05-01 12:07:00", "2024-05-01T12:07:00.000Z");
    check(&p, "seen", ENG_T_DATE, "2024-05-01", "2024-05-01T00:00:00.000Z");
    check(&p, "seen", ENG_T_INT, "1700000000000", "1700000000000");
    check(&p, "plan", ENG_T_TEXT, "pro", "pro");
    check(&p, "plan", ENG_T_TEXT, "free;pro", "free;pro");
    check(&p, "plan", ENG_T_TEXT, "Pro", NULL);
    hs_props_free(&p);
}

static void test_validate(void **state)
{
    (void)state;
    struct hs_props p = load_props();
    struct retl_mapping maps[] = {{.source = "s", .destination = "score"},
                                  {.source = "x", .destination = "nope"},
                                  {.source = "h", .destination = "hubspotscore"}};
    struct retl_job job = {.mode = RETL_MODE_UPSERT, .mappings = maps, .n_mappings = 3};
    struct eng_col cols[] = {
        {.source = "k", .destination = "external_id", .type = ENG_T_TEXT, .is_key = true},
        {.source = "s", .destination = "score", .type = ENG_T_NUMERIC, .is_key = false},
        {.source = "x", .destination = "nope", .type = ENG_T_TEXT, .is_key = false},
        {.source = "h",
         .destination = "hubspotscore",
         .type = ENG_T_INT,
         .is_key = false}};
    const struct hs_prop *out[4];
    struct retl_problems probs = {0};
    hs_validate(&p, &job, "contacts", cols, 4, out, &probs);
    assert_int_equal(probs.n, 2);
    assert_string_equal(probs.msgs[0],
                        "spec.mappings[1].destination: property \"nope\" does "
                        "not exist on HubSpot object contacts");
    assert_non_null(strstr(probs.msgs[1], "spec.mappings[2].destination: property "
                                          "\"hubspotscore\" of contacts is read-only"));
    retl_problems_free(&probs);
    /* email is an upsert key on contacts only; score is never one. */
    cols[0].destination = "email";
    hs_validate(&p, &job, "contacts", cols, 2, out, &probs);
    assert_int_equal(probs.n, 0);
    hs_validate(&p, &job, "companies", cols, 2, out, &probs);
    assert_int_equal(probs.n, 1);
    assert_non_null(strstr(probs.msgs[0], "spec.key.destination: property \"email\" of "
                                          "companies does not have unique values"));
    retl_problems_free(&probs);
    job.mode = RETL_MODE_UPDATE;
    cols[0].destination = "hs_object_id";
    hs_validate(&p, &job, "contacts", cols, 2, out, &probs);
    assert_int_equal(probs.n, 0);
    assert_null(out[0]);
    hs_props_free(&p);
}

static void test_body_and_results(void **state)
{
    (void)state;
    struct hs_props p = load_props();
    struct eng_col cols[] = {
        {.source = "k", .destination = "email", .type = ENG_T_TEXT, .is_key = true},
        {.source = "s", .destination = "score", .type = ENG_T_NUMERIC, .is_key = false},
        {.source = "p", .destination = "plan", .type = ENG_T_TEXT, .is_key = false}};
    const char *v0[] = {"a@x.com", "1", "pro"};
    const char *v1[] = {"b@x.com", NULL, "gold"};
    const char *v2[] = {"C@x.com", "2", "free"};
    const char *v3[] = {"d@x.com", "3", "free"};
    struct eng_row rows[] = {{.key = "a@x.com", .vals = v0, .op = ENG_OP_UPSERT},
                             {.key = "b@x.com", .vals = v1, .op = ENG_OP_UPSERT},
                             {.key = "C@x.com", .vals = v2, .op = ENG_OP_UPSERT},
                             {.key = "d@x.com", .vals = v3, .op = ENG_OP_UPSERT}};
    struct eng_batch b = {.cols = cols, .ncols = 3, .rows = rows, .nrows = 4};
    const struct hs_prop *cp[] = {hs_props_find(&p, "email"), hs_props_find(&p, "score"),
                                  hs_props_find(&p, "plan")};
    struct hs_load L = {.object = "contacts",
                        .mode = RETL_MODE_UPSERT,
                        .id_property = "email",
                        .props = cp,
                        .email_key = true};
    struct eng_row_result res[4] = {0};
    size_t n = 0;
    char *body = hs_chunk_body(&L, &b, 0, 4, res, &n);
    assert_int_equal(n, 3);
    assert_string_equal(res[1].code, "INVALID_OPTION");
    assert_non_null(strstr(body, "\"id\":\"a@x.com\",\"idProperty\":\"email\""));
    assert_non_null(strstr(body, "\"objectWriteTraceId\":\"3\""));
    assert_null(strstr(body, "b@x.com"));
    free(body);
    /* A 207: row 0 created (matched by trace id), row 2 by its lower-cased
     * email, row 3 failed with the embedded code. */
    const char *answer =
        "{\"status\":\"COMPLETE\",\"results\":["
        "{\"id\":\"11\",\"new\":true,\"objectWriteTraceId\":\"0\",\"properties\":{}},"
        "{\"id\":\"12\",\"new\":false,\"properties\":{\"email\":\"c@x.com\"}}],"
        "\"numErrors\":1,\"errors\":[{\"status\":\"error\",\"category\":\"VALIDATION_"
        "ERROR\","
        "\"message\":\"Property values were not valid: "
        "[{\\\"isValid\\\":false,\\\"message\\\":"
        "\\\"bad\\\",\\\"error\\\":\\\"INVALID_INTEGER\\\",\\\"name\\\":\\\"score\\\"}]"
        "\","
        "\"context\":{\"objectWriteTraceId\":[\"3\"]}}]}";
    json_error_t je;
    struct hs_resp r = {.status = 207, .body = json_loads(answer, 0, &je)};
    assert_non_null(r.body);
    hs_chunk_results(&L, &b, 0, 4, &r, res);
    assert_true(res[0].ok && res[0].created);
    assert_string_equal(res[0].dest_id, "11");
    assert_true(res[2].ok && !res[2].created);
    assert_false(res[3].ok);
    assert_string_equal(res[3].code, "INVALID_INTEGER");
    assert_string_equal(res[3].fields, "score");
    assert_true(strncmp(res[3].message,
                        "VALIDATION_ERROR: Property values were not valid", 48) == 0);
    assert_string_equal(res[1].code, "INVALID_OPTION");
    /* Data errors are permanent: not resent until the row changes. */
    assert_int_equal(res[3].cls, ENG_FAIL_PERMANENT);
    assert_int_equal(res[1].cls, ENG_FAIL_PERMANENT);
    eng_results_clear(res, 4);
    /* A whole-call 400: every row sent fails with HubSpot's words; a row the
     * answer does not mention is never counted as synced. */
    hs_resp_clear(&r);
    r.status = 200;
    r.body = json_loads("{\"status\":\"COMPLETE\",\"results\":[]}", 0, &je);
    hs_chunk_results(&L, &b, 0, 1, &r, res);
    assert_false(res[0].ok);
    assert_string_equal(res[0].code, "NO_RESULT");
    assert_true(hs_code_transient(res[0].code));
    assert_int_equal(res[0].cls, ENG_FAIL_TRANSIENT);
    eng_results_clear(res, 4);
    hs_resp_clear(&r);
    r.status = 400;
    r.body =
        json_loads("{\"status\":\"error\",\"category\":\"VALIDATION_ERROR\",\"message\":"
                   "\"Unable to perform update/upsert by non-unique 0-1 property x\"}",
                   0, &je);
    hs_chunk_results(&L, &b, 0, 2, &r, res);
    assert_string_equal(res[0].code, "VALIDATION_ERROR");
    assert_string_equal(res[0].message, "400 VALIDATION_ERROR: Unable to perform "
                                        "update/upsert by non-unique 0-1 property x");
    assert_false(hs_code_transient(res[0].code));
    assert_int_equal(res[0].cls, ENG_FAIL_PERMANENT);
    eng_results_clear(res, 4);
    hs_resp_clear(&r);
    /* NULL clears a property, unless its mapping says nulls: Skip. */
    const char *v4[] = {"e@x.com", NULL, "pro"};
    struct eng_row row4[] = {{.key = "e@x.com", .vals = v4, .op = ENG_OP_UPSERT}};
    struct eng_batch b4 = {.cols = cols, .ncols = 3, .rows = row4, .nrows = 1};
    body = hs_chunk_body(&L, &b4, 0, 1, res, &n);
    assert_non_null(strstr(body, "\"score\":\"\""));
    free(body);
    const bool skip[] = {false, true, false};
    L.skip_null = skip;
    body = hs_chunk_body(&L, &b4, 0, 1, res, &n);
    assert_null(strstr(body, "score"));
    free(body);
    hs_props_free(&p);
}

/* The code of a failed call, shared by writes, deletes and clears. */
static void test_call_code(void **state)
{
    (void)state;
    static const struct {
        long status;
        const char *body, *code, *fields;
    } t[] = {
        {429, NULL, "RATE_LIMIT", NULL},
        {503, "{\"category\":\"VALIDATION_ERROR\"}", "HTTP_5XX", NULL},
        {423, NULL, "LOCKED", NULL},
        {477, NULL, "MIGRATION_IN_PROGRESS", NULL},
        {404, NULL, "HTTP_404", NULL},
        {400, "{\"category\":\"VALIDATION_ERROR\",\"message\":\"Duplicate IDs\"}",
         "VALIDATION_ERROR", NULL},
        {400,
         "{\"category\":\"VALIDATION_ERROR\",\"message\":\"Property values were not "
         "valid: [{\\\"error\\\":\\\"INVALID_OPTION\\\",\\\"name\\\":\\\"plan\\\"}]\"}",
         "INVALID_OPTION", "plan"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        json_error_t je;
        struct hs_resp r = {.status = t[i].status,
                            .body = t[i].body ? json_loads(t[i].body, 0, &je) : NULL};
        char *fields = NULL;
        char *code = hs_call_code(&r, &fields);
        assert_string_equal(code, t[i].code);
        if (t[i].fields)
            assert_string_equal(fields, t[i].fields);
        else
            assert_null(fields);
        free(code);
        free(fields);
        hs_resp_clear(&r);
    }
}

static void test_classes(void **state)
{
    (void)state;
    assert_true(hs_code_transient("RATE_LIMIT"));
    assert_true(hs_code_transient("HTTP_5XX"));
    assert_true(hs_code_transient("LOCKED"));
    assert_false(hs_code_transient("OBJECT_NOT_FOUND"));
    assert_false(hs_code_transient("CONFLICT"));
    assert_false(hs_code_transient("INVALID_OPTION"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),           cmocka_unit_test(test_validate),
        cmocka_unit_test(test_body_and_results), cmocka_unit_test(test_call_code),
        cmocka_unit_test(test_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
