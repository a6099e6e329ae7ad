#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/spec.h"
#include "common/yaml.h"

static const char *const valid_job =
    "apiVersion: retl.io/v1alpha1\n"
    "kind: ReverseEtlJob\n"
    "metadata: {name: account-scores, namespace: sales-ops, generation: 3}\n"
    "spec:\n"
    "  source:\n"
    "    type: postgres\n"
    "    secretRef: {name: warehouse}\n"
    "    query: SELECT id, email, score FROM analytics.account_scores\n"
    "  destination:\n"
    "    type: salesforce\n"
    "    secretRef: {name: salesforce}\n"
    "    object: Account\n"
    "    api: auto\n"
    "  mode: Upsert\n"
    "  key: {source: id, destination: External_Id__c}\n"
    "  mappings:\n"
    "    - {source: email, destination: Email__c}\n"
    "    - {source: score, destination: Score__c, nulls: Skip}\n"
    "    - {source: acct, destination: AccountId,\n"
    "       lookup: {object: Account, field: External_Id__c}}\n"
    "  deletes: {mode: Delete, maxPercent: 5}\n"
    "  schedule: \"*/30 * * * *\"\n"
    "  timeZone: Europe/Berlin\n"
    "  concurrencyPolicy: Replace\n"
    "  startingDeadlineSeconds: 300\n"
    "  batchSize: 150\n"
    "  errorThreshold: {maxFailedRows: 1000, maxFailedPercent: 10}\n"
    "  historyLimit: 5\n"
    "  cleanupPolicy: Delete\n"
    "  runTemplate: {activeDeadlineSeconds: 3600, nodeSelector: {disk: ssd}}\n";

static json_t *doc(const char *y)
{
    json_t *docs = NULL;
    struct retl_errbuf eb = {{0}};
    if (retl_yaml_load(y, strlen(y), &docs, &eb))
        fail_msg("yaml: %s", eb.msg);
    json_t *d = json_incref(json_array_get(docs, 0));
    json_decref(docs);
    return d;
}

static void test_valid_job_parses_every_field(void **state)
{
    json_t *d = doc(valid_job);
    struct retl_job *j = NULL;
    struct retl_problems p = {0};
    assert_int_equal(retl_job_parse(d, &j, &p), RETL_E_OK);
    assert_int_equal(p.n, 0);
    assert_string_equal(j->name, "account-scores");
    assert_string_equal(j->namespace, "sales-ops");
    assert_int_equal(j->generation, 3);
    assert_string_equal(j->source.type, "postgres");
    assert_string_equal(j->source.secret_name, "warehouse");
    assert_non_null(j->source.query);
    assert_null(j->source.table);
    assert_string_equal(j->source.state_schema, "retl");
    assert_string_equal(j->destination.type, "salesforce");
    assert_string_equal(j->destination.object, "Account");
    assert_int_equal(j->destination.api, RETL_API_AUTO);
    assert_int_equal(j->mode, RETL_MODE_UPSERT);
    assert_string_equal(j->key.source, "id");
    assert_string_equal(j->key.destination, "External_Id__c");
    assert_int_equal(j->n_mappings, 3);
    assert_string_equal(j->mappings[1].destination, "Score__c");
    assert_int_equal(j->mappings[0].nulls, RETL_NULLS_WRITE);
    assert_int_equal(j->mappings[1].nulls, RETL_NULLS_SKIP);
    assert_null(j->mappings[1].lookup_object);
    assert_string_equal(j->mappings[2].lookup_object, "Account");
    assert_string_equal(j->mappings[2].lookup_field, "External_Id__c");
    assert_int_equal(j->deletes, RETL_DELETES_DELETE);
    assert_true(j->deletes_max_percent == 5.0);
    assert_string_equal(retl_deletes_name(j->deletes), "Delete");
    assert_string_equal(j->schedule, "*/30 * * * *");
    assert_string_equal(j->time_zone, "Europe/Berlin");
    assert_false(j->suspend);
    assert_int_equal(j->concurrency, RETL_CONC_REPLACE);
    assert_int_equal(j->starting_deadline_seconds, 300);
    assert_int_equal(j->batch_size, 150);
    assert_true(j->batch_size_set);
    assert_int_equal(j->max_failed_rows, 1000);
    assert_true(j->max_failed_percent == 10.0);
    assert_int_equal(j->history_limit, 5);
    assert_int_equal(j->cleanup, RETL_CLEANUP_DELETE);
    assert_non_null(j->run_template);
    assert_string_equal(retl_mode_name(j->mode), "Upsert");
    retl_job_free(j);
    json_decref(d);
}

static void test_defaults(void **state)
{
    json_t *d =
        doc("apiVersion: retl.io/v1alpha1\nkind: ReverseEtlJob\n"
            "metadata: {name: j}\nspec:\n"
            "  source: {type: postgres, secretRef: {name: w}, table: public.t}\n"
            "  destination: {type: postgres, secretRef: {name: d}, object: app.t}\n"
            "  mode: Insert\n  key: {source: id}\n"
            "  mappings: [{source: a, destination: a}]\n");
    struct retl_job *j = NULL;
    struct retl_problems p = {0};
    assert_int_equal(retl_job_parse(d, &j, &p), RETL_E_OK);
    assert_string_equal(j->namespace, "default");
    assert_null(j->schedule);
    assert_string_equal(j->time_zone, "UTC");
    assert_int_equal(j->batch_size, 200);
    assert_false(j->batch_size_set); /* the destination's default applies */
    assert_int_equal(j->history_limit, 10);
    assert_int_equal(j->concurrency, RETL_CONC_FORBID);
    assert_int_equal(j->cleanup, RETL_CLEANUP_RETAIN);
    assert_int_equal(j->starting_deadline_seconds, -1);
    assert_int_equal(j->max_failed_rows, -1);
    assert_null(j->key.destination);
    assert_int_equal(j->deletes, RETL_DELETES_IGNORE);
    assert_true(j->deletes_max_percent == 20.0);
    assert_int_equal(j->mappings[0].nulls, RETL_NULLS_WRITE);
    assert_null(j->mappings[0].lookup_object);
    retl_job_free(j);
    json_decref(d);
}

/* Replaces the first occurrence of from in valid_job with to and expects
 * exactly the given problems (each a substring of one message). */
static void expect_problems(const char *from, const char *to, const char *const *want,
                            size_t n_want)
{
    const char *at = strstr(valid_job, from);
    assert_non_null(at);
    char y[4096];
    snprintf(y, sizeof y, "%.*s%s%s", (int)(at - valid_job), valid_job, to,
             at + strlen(from));
    json_t *d = doc(y);
    struct retl_job *j = NULL;
    struct retl_problems p = {0};
    assert_int_equal(retl_job_parse(d, &j, &p), RETL_E_SPEC);
    assert_null(j);
    char *all = retl_problems_join(&p);
    if (p.n != n_want)
        fail_msg("expected %zu problems, got %zu: %s", n_want, p.n, all);
    for (size_t i = 0; i < n_want; i++) {
        if (!strstr(p.msgs[i], want[i]))
            fail_msg("problem %zu is \"%s\", expected \"%s\"", i, p.msgs[i], want[i]);
    }
    free(all);
    retl_problems_free(&p);
    json_decref(d);
}

#define EXPECT(from, to, ...)                                                            \
    do {                                                                                 \
        const char *const w__[] = {__VA_ARGS__};                                         \
        expect_problems(from, to, w__, sizeof w__ / sizeof w__[0]);                      \
    } while (0)

static void test_bad_inputs_one_message_each(void **state)
{
    EXPECT("  mode: Upsert\n", "  mode: Upsert\n  key2: x\n", "spec.key2: unknown field");
    EXPECT("batchSize: 150", "batchSize: lots",
           "spec.batchSize: must be an integer, not string");
    EXPECT("batchSize: 150", "batchSize: 0", "spec.batchSize: must be between 1 and");
    EXPECT("    type: postgres\n", "    type: mysql\n",
           "spec.source.type: unsupported value \"mysql\": must be one of postgres, "
           "sqlserver, snowflake, odbc");
    EXPECT("    query: SELECT id, email, score FROM analytics.account_scores\n",
           "    query: SELECT 1\n    table: x.y\n",
           "spec.source: exactly one of query or table must be set, not both");
    EXPECT("    query: SELECT id, email, score FROM analytics.account_scores\n", "",
           "spec.source: exactly one of query or table must be set");
    EXPECT("  schedule: \"*/30 * * * *\"", "  schedule: \"0 */30 * * * *\"",
           "spec.schedule: \"0 */30 * * * *\": expected 5 fields");
    EXPECT("  schedule: \"*/30 * * * *\"", "  schedule: \"TZ=UTC */30 * * * *\"",
           "spec.schedule: \"TZ=UTC */30 * * * *\": TZ= is not supported");
    EXPECT("  schedule: \"*/30 * * * *\"", "  schedule: \"61 * * * *\"",
           "spec.schedule: \"61 * * * *\": invalid minute field");
    EXPECT("Europe/Berlin", "Mars/Olympus_Mons",
           "spec.timeZone: unknown time zone \"Mars/Olympus_Mons\"");
    EXPECT("Europe/Berlin", "../../etc/passwd", "spec.timeZone: unknown time zone");
    EXPECT("  mode: Upsert\n", "  mode: Update\n",
           "spec.key.destination: must be \"Id\" in Update mode");
    EXPECT("  mode: Upsert\n", "  mode: upsert\n",
           "spec.mode: unsupported value \"upsert\": must be one of Insert, Upsert, "
           "Update");
    EXPECT("  key: {source: id, destination: External_Id__c}\n", "",
           "spec.key: required field is missing");
    EXPECT("  key: {source: id, destination: External_Id__c}\n", "  key: {source: id}\n",
           "spec.key.destination: required field is missing");
    EXPECT("    secretRef: {name: warehouse}\n", "",
           "spec.source.secretRef: required field is missing");
    EXPECT("metadata: {name: account-scores,", "metadata: {name: Account_Scores,",
           "metadata.name: \"Account_Scores\" must be a DNS label");
    EXPECT("metadata: {name: account-scores,",
           "metadata: {name: a-very-long-job-name-that-will-not-fit-into-a-run-pod-x,",
           "metadata.name:");
    EXPECT("    - {source: score, destination: Score__c, nulls: Skip}\n",
           "    - {source: score, destination: Email__c}\n",
           "spec.mappings[1].destination: \"Email__c\" is already mapped by "
           "spec.mappings[0]");
    EXPECT("    - {source: score, destination: Score__c, nulls: Skip}\n", "    - score\n",
           "spec.mappings[1]: must be an object, not string");
    EXPECT("maxFailedPercent: 10", "maxFailedPercent: 150",
           "spec.errorThreshold.maxFailedPercent: must be between 0 and 100");
    EXPECT("apiVersion: retl.io/v1alpha1", "apiVersion: retl.io/v2",
           "apiVersion: must be \"retl.io/v1alpha1\"");
    EXPECT("  cleanupPolicy: Delete\n", "  cleanupPolicy: Delete\n  suspend: \"yes\"\n",
           "spec.suspend: must be a boolean, not string");
    EXPECT("runTemplate: {", "runTemplate: {privileged: true, ",
           "spec.runTemplate.privileged: unknown field");
    EXPECT("    object: Account\n", "",
           "spec.destination.object: required field is missing");
    EXPECT("deletes: {mode: Delete,", "deletes: {mode: Purge,",
           "spec.deletes.mode: unsupported value \"Purge\": must be one of Ignore, "
           "Delete, Clear");
    EXPECT("maxPercent: 5}", "maxPercent: 101}",
           "spec.deletes.maxPercent: must be between 0 and 100, got 101");
    EXPECT("maxPercent: 5}", "maxPercent: 5, dryRun: true}",
           "spec.deletes.dryRun: unknown field");
    EXPECT(
        "nulls: Skip}", "nulls: Keep}",
        "spec.mappings[1].nulls: unsupported value \"Keep\": must be one of Write, Skip");
    EXPECT("lookup: {object: Account, field: External_Id__c}",
           "lookup: {object: Account}",
           "spec.mappings[2].lookup.field: required field is "
           "missing");
    EXPECT("lookup: {object: Account, field: External_Id__c}",
           "lookup: {object: Account, field: X, via: Y}",
           "spec.mappings[2].lookup.via: unknown field");
    EXPECT("  cleanupPolicy: Delete\n",
           "  cleanupPolicy: Delete\n  after: [{name: account-scores}]\n",
           "spec.after[0].name: a job cannot run after itself");
    EXPECT("  cleanupPolicy: Delete\n",
           "  cleanupPolicy: Delete\n  after: [{name: a}, {name: a}]\n",
           "spec.after[1].name: \"a\" is listed twice");
    EXPECT("  cleanupPolicy: Delete\n",
           "  cleanupPolicy: Delete\n  after: [{name: Bad_Name}]\n",
           "spec.after[0].name: \"Bad_Name\" is not a job name");
    EXPECT("  cleanupPolicy: Delete\n",
           "  cleanupPolicy: Delete\n  after: [{name: a, job: b}]\n",
           "spec.after[0].job: unknown field");
    EXPECT("  cleanupPolicy: Delete\n", "  cleanupPolicy: Delete\n  after: accounts\n",
           "spec.after: must be an array, not string");
    /* several problems at once, each reported */
    EXPECT("  mode: Upsert\n  key: {source: id, destination: External_Id__c}\n",
           "  mode: Sideways\n  key: 7\n", "spec.mode: unsupported value \"Sideways\"",
           "spec.key: must be an object");
}

static void test_after(void **state)
{
    char *y = malloc(strlen(valid_job) + 64);
    assert_non_null(y);
    sprintf(y, "%s  after: [{name: accounts}, {name: leads}]\n", valid_job);
    json_t *d = doc(y);
    struct retl_job *j = NULL;
    struct retl_problems p = {0};
    assert_int_equal(retl_job_parse(d, &j, &p), RETL_E_OK);
    assert_int_equal(j->n_after, 2);
    assert_string_equal(j->after[0], "accounts");
    assert_string_equal(j->after[1], "leads");
    retl_job_free(j);
    json_decref(d);
    d = doc(valid_job);
    assert_int_equal(retl_job_parse(d, &j, &p), RETL_E_OK);
    assert_int_equal(j->n_after, 0);
    retl_job_free(j);
    json_decref(d);
    free(y);
}

static void test_not_an_object(void **state)
{
    struct retl_job *j = NULL;
    struct retl_problems p = {0};
    json_t *s = json_string("x");
    assert_int_equal(retl_job_parse(s, &j, &p), RETL_E_SPEC);
    assert_int_equal(p.n, 1);
    retl_problems_free(&p);
    json_decref(s);
    json_t *empty = json_object();
    assert_int_equal(retl_job_parse(empty, &j, &p), RETL_E_SPEC);
    assert_true(p.n >= 3);
    retl_problems_free(&p);
    json_decref(empty);
}

/* hubspot and http (DESIGN 8.2): http needs no object; rateLimit parses. */
static void test_http_destinations(void **state)
{
    const char *y = "apiVersion: retl.io/v1alpha1\nkind: ReverseEtlJob\n"
                    "metadata: {name: j}\nspec:\n"
                    "  source: {type: postgres, secretRef: {name: w}, table: public.t}\n"
                    "  destination: {type: http, secretRef: {name: d}, rateLimit: "
                    "{requestsPerSecond: 0.5}}\n"
                    "  mode: Upsert\n  key: {source: id, destination: id}\n"
                    "  mappings: [{source: a, destination: a}]\n";
    json_t *d = doc(y);
    struct retl_job *j = NULL;
    struct retl_problems p = {0};
    assert_int_equal(retl_job_parse(d, &j, &p), RETL_E_OK);
    assert_string_equal(j->destination.type, "http");
    assert_null(j->destination.object);
    assert_true(j->destination.rate_limit_rps > 0.49 &&
                j->destination.rate_limit_rps < 0.51);
    retl_job_free(j);
    json_decref(d);
    EXPECT("    type: salesforce\n",
           "    type: hubspot\n    rateLimit: {requestsPerSecond: 0}\n",
           "spec.destination.rateLimit.requestsPerSecond: must be a number above 0");
}

static void test_tz(void **state)
{
    assert_true(retl_tz_valid("UTC"));
    assert_true(retl_tz_valid("Europe/Berlin"));
    assert_true(retl_tz_valid("America/New_York"));
    assert_false(retl_tz_valid("Europe/Nowhere"));
    assert_false(retl_tz_valid("/etc/localtime"));
    assert_false(retl_tz_valid(""));
}

/* The rejection corpus the apiserver gets too (suite 70): every file in
 * tests/spec/reject is refused by the parser, and tests/spec/valid.yaml (the
 * document each one changes) is accepted. */
static json_t *load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s (run from the repository root)", path);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return doc(buf);
}

static void test_rejection_corpus(void **state)
{
    json_t *d = load_file("tests/spec/valid.yaml");
    struct retl_job *j = NULL;
    struct retl_problems p = {0};
    assert_int_equal(retl_job_parse(d, &j, &p), RETL_E_OK);
    retl_job_free(j);
    json_decref(d);
    DIR *dir = opendir("tests/spec/reject");
    assert_non_null(dir);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dir))) {
        if (!strstr(e->d_name, ".yaml"))
            continue;
        char path[512];
        snprintf(path, sizeof path, "tests/spec/reject/%s", e->d_name);
        d = load_file(path);
        struct retl_problems q = {0};
        j = NULL;
        if (retl_job_parse(d, &j, &q) != RETL_E_SPEC)
            fail_msg("%s: accepted by the parser", path);
        retl_problems_free(&q);
        json_decref(d);
        n++;
    }
    closedir(dir);
    assert_true(n >= 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_job_parses_every_field),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_bad_inputs_one_message_each),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_after),
        cmocka_unit_test(test_tz),
        cmocka_unit_test(test_rejection_corpus),
        cmocka_unit_test(test_http_destinations),
    };
    return cmocka_run_group_tests_name("spec", tests, NULL, NULL);
}
