/* Salesforce describe: parsing, validation messages naming the spec field,
 * and the info published as status.destinationInfo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/salesforce_int.h"

static const char *describe_json =
    "{\"name\":\"Account\",\"keyPrefix\":\"001\",\"fields\":["
    "{\"name\":\"Id\",\"type\":\"id\",\"length\":18,\"nillable\":false,\"createable\":"
    "false,"
    "\"updateable\":false,\"defaultedOnCreate\":true,\"externalId\":false,\"idLookup\":"
    "true},"
    "{\"name\":\"Name\",\"type\":\"string\",\"length\":80,\"nillable\":false,"
    "\"createable\":true,"
    "\"updateable\":true,\"defaultedOnCreate\":false,\"externalId\":false,\"idLookup\":"
    "true},"
    "{\"name\":\"External_Id__c\",\"type\":\"string\",\"length\":64,\"nillable\":true,"
    "\"createable\":true,"
    "\"updateable\":true,\"defaultedOnCreate\":false,\"externalId\":true,\"idLookup\":"
    "true},"
    "{\"name\":\"Score__c\",\"type\":\"double\",\"precision\":5,\"scale\":2,\"nillable\":"
    "true,"
    "\"createable\":true,\"updateable\":true,\"defaultedOnCreate\":false},"
    "{\"name\":\"Region__c\",\"type\":\"picklist\",\"length\":40,\"nillable\":false,"
    "\"createable\":true,"
    "\"updateable\":true,\"defaultedOnCreate\":false},"
    "{\"name\":\"IsActive__c\",\"type\":\"boolean\",\"nillable\":false,\"createable\":"
    "true,"
    "\"updateable\":true,\"defaultedOnCreate\":true},"
    "{\"name\":\"CreatedDate\",\"type\":\"datetime\",\"nillable\":false,\"createable\":"
    "false,"
    "\"updateable\":false,\"defaultedOnCreate\":true},"
    "{\"name\":\"Locked__c\",\"type\":\"string\",\"length\":10,\"nillable\":true,"
    "\"createable\":true,"
    "\"updateable\":false,\"defaultedOnCreate\":false}"
    "]}";

struct fixture {
    struct sf_describe d;
    struct retl_job job;
    struct retl_mapping maps[4];
    struct eng_col cols[5];
    size_t ncols;
};

static void setup_job(struct fixture *f, enum retl_mode mode, const char *key,
                      const char *const *dests, size_t n)
{
    memset(&f->job, 0, sizeof f->job);
    f->job.mode = mode;
    f->job.key.source = (char *)"id";
    f->job.key.destination = (char *)key;
    f->job.destination.object = (char *)"Account";
    static const char *srcs[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < n; i++) {
        f->maps[i].source = (char *)srcs[i];
        f->maps[i].destination = (char *)dests[i];
    }
    f->job.mappings = f->maps;
    f->job.n_mappings = n;
    f->ncols = 0;
    f->cols[f->ncols++] = (struct eng_col){
        .source = "id", .destination = key, .type = ENG_T_TEXT, .is_key = true};
    for (size_t i = 0; i < n; i++)
        f->cols[f->ncols++] = (struct eng_col){.source = srcs[i],
                                               .destination = dests[i],
                                               .type = ENG_T_TEXT,
                                               .is_key = false};
}

static char *validate(struct fixture *f)
{
    const struct sf_field *fields[5];
    struct retl_problems p = {0};
    sf_validate(&f->d, &f->job, f->cols, f->ncols, fields, &p);
    char *msg = p.n ? retl_problems_join(&p) : NULL;
    retl_problems_free(&p);
    return msg;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct retl_errbuf eb = {{0}};
    if (sf_describe_parse(describe_json, &f->d, &eb))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sf_describe_free(&f->d);
    free(f);
    return 0;
}

static void test_parse(void **state)
{
    struct fixture *f = *state;
    assert_string_equal(f->d.object, "Account");
    assert_int_equal(f->d.n_fields, 8);
    const struct sf_field *s = sf_describe_field(&f->d, "score__C");
    assert_non_null(s);
    assert_int_equal(s->type, SF_F_DOUBLE);
    assert_int_equal(s->precision, 5);
    assert_null(sf_describe_field(&f->d, "Nope"));
    struct sf_describe bad;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(sf_describe_parse("[]", &bad, &eb), RETL_E_PARSE);
}

static void test_valid_upsert(void **state)
{
    struct fixture *f = *state;
    const char *d[] = {"Name", "score__c", "Region__c"};
    setup_job(f, RETL_MODE_UPSERT, "External_Id__c", d, 3);
    assert_null(validate(f));
}

static void test_unknown_field(void **state)
{
    struct fixture *f = *state;
    const char *d[] = {"Name", "Region__c", "Scor__c"};
    setup_job(f, RETL_MODE_UPSERT, "External_Id__c", d, 3);
    char *m = validate(f);
    assert_string_equal(
        m, "spec.mappings[2].destination: field Scor__c does not exist on Account");
    free(m);
}

static void test_required_and_writable(void **state)
{
    struct fixture *f = *state;
    const char *d[] = {"Score__c", "CreatedDate", "Locked__c"};
    setup_job(f, RETL_MODE_UPSERT, "External_Id__c", d, 3);
    char *m = validate(f);
    assert_non_null(strstr(m, "spec.mappings[1].destination: field CreatedDate on "
                              "Account is not createable (mode Upsert)"));
    assert_non_null(strstr(m, "spec.mappings[1].destination: field CreatedDate on "
                              "Account is not updateable (mode Upsert)"));
    assert_non_null(strstr(m, "spec.mappings[2].destination: field Locked__c on Account "
                              "is not updateable (mode Upsert)"));
    assert_non_null(
        strstr(m, "spec.mappings: required field Name of Account is not mapped"));
    assert_non_null(
        strstr(m, "spec.mappings: required field Region__c of Account is not mapped"));
    assert_null(strstr(m, "IsActive__c")); /* defaulted on create */
    free(m);
    /* Update needs no required fields, and Locked__c is createable only. */
    setup_job(f, RETL_MODE_UPDATE, "Id", (const char *[]){"Score__c"}, 1);
    assert_null(validate(f));
    setup_job(f, RETL_MODE_INSERT, NULL,
              (const char *[]){"Name", "Region__c", "Locked__c"}, 3);
    assert_null(validate(f));
}

static void test_keys(void **state)
{
    struct fixture *f = *state;
    const char *d[] = {"Name", "Region__c"};
    setup_job(f, RETL_MODE_UPSERT, "Score__c", d, 2);
    char *m = validate(f);
    assert_string_equal(m, "spec.key.destination: field Score__c on Account is not an "
                           "external id field (external ids: External_Id__c)");
    free(m);
    setup_job(f, RETL_MODE_UPSERT, "Id", d, 2);
    m = validate(f);
    assert_non_null(strstr(
        m, "spec.key.destination: Upsert matches on an external id field, not Id"));
    free(m);
    setup_job(f, RETL_MODE_UPDATE, "External_Id__c", (const char *[]){"Score__c"}, 1);
    m = validate(f);
    assert_string_equal(
        m, "spec.key.destination: must be Id in Update mode (got External_Id__c)");
    free(m);
    /* idLookup fields are usable upsert keys. */
    setup_job(f, RETL_MODE_UPSERT, "Name", (const char *[]){"Region__c"}, 1);
    assert_null(validate(f));
}

static void test_info(void **state)
{
    struct fixture *f = *state;
    json_t *info = json_object();
    sf_describe_info(&f->d, info);
    char *s = json_dumps(info, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"externalIdFields\":[\"External_Id__c\"],"
                           "\"requiredFields\":[\"Name\",\"Region__c\"]}");
    free(s);
    json_decref(info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_valid_upsert),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_required_and_writable),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_info),
    };
    return cmocka_run_group_tests_name("salesforce_describe", tests, setup, teardown);
}
