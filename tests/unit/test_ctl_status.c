#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "controller/ctl_status.h"

static void test_conditions(void **state)
{
    json_t *st = json_object();
    ctl_cond_set(st, CTL_COND_LAST_RUN, "Unknown", "NoRunYet", "none", 1, 100);
    ctl_cond_set(st, CTL_COND_READY, "True", "Scheduled", "next", 1, 100);
    ctl_cond_set(st, CTL_COND_STALLED, "False", "", "", 1, 100);
    json_t *conds = json_object_get(st, "conditions");
    assert_int_equal(json_array_size(conds), 3);
    /* Kept in a stable order: Ready first. */
    assert_string_equal(retl_json_str(json_array_get(conds, 0), "type"), "Ready");
    assert_string_equal(retl_json_str(json_array_get(conds, 1), "type"), "Stalled");
    assert_string_equal(retl_json_str(json_array_get(conds, 2), "type"),
                        "LastRunSucceeded");
    assert_string_equal(ctl_cond_reason(st, CTL_COND_STALLED),
                        "Unknown"); /* never empty */

    /* Same status later: lastTransitionTime stays, message and generation move. */
    ctl_cond_set(st, CTL_COND_READY, "True", "Scheduled", "next later", 2, 200);
    json_t *r = ctl_cond_get(st, CTL_COND_READY);
    assert_string_equal(retl_json_str(r, "lastTransitionTime"), "1970-01-01T00:01:40Z");
    assert_string_equal(retl_json_str(r, "message"), "next later");
    long long g = 0;
    assert_true(retl_json_int(r, "observedGeneration", &g));
    assert_int_equal(g, 2);
    /* Changed status: lastTransitionTime moves. */
    ctl_cond_set(st, CTL_COND_READY, "False", "InvalidSpec", "bad", 3, 300);
    r = ctl_cond_get(st, CTL_COND_READY);
    assert_string_equal(retl_json_str(r, "lastTransitionTime"), "1970-01-01T00:05:00Z");
    assert_string_equal(ctl_cond_status(st, CTL_COND_READY), "False");
    assert_int_equal(json_array_size(conds), 3);
    assert_null(ctl_cond_get(st, CTL_COND_RECONCILING));
    json_decref(st);
}

static void outcome(struct ctl_outcome *o, const char *result, const char *summary)
{
    memset(o, 0, sizeof *o);
    o->exit_code = 0;
    o->started = 1000;
    o->finished = 1010;
    snprintf(o->result, sizeof o->result, "%s", result);
    snprintf(o->message, sizeof o->message, "msg %s", result);
    o->summary = summary ? json_loads(summary, 0, NULL) : NULL;
}

static void record(json_t *st, long long run, const char *result, const char *summary,
                   int limit)
{
    struct ctl_outcome o;
    outcome(&o, result, summary);
    char pod[32];
    snprintf(pod, sizeof pod, "job-m%lld", run);
    struct ctl_run_ref ref = {.run = run, .pod = pod, .trigger = "Manual"};
    json_t *e = ctl_run_entry(&ref, &o);
    ctl_status_record(st, e, &o, limit);
    json_decref(e);
    ctl_outcome_free(&o);
}

static long long num(const json_t *st, const char *path)
{
    long long v = -1;
    retl_json_int(st, path, &v);
    return v;
}

static void test_history_bounded_newest_first(void **state)
{
    json_t *st = json_object();
    for (int i = 1; i <= 5; i++)
        record(st, i, "Succeeded",
               "{\"rows\": {\"extracted\": 10, \"changed\": 4, \"inserted\": 1,"
               " \"updated\": 2, \"failed\": 1}, \"failingRows\": 1,"
               " \"errorsTable\": \"retl.ns__job__errors\", \"durationSeconds\": 1.5,"
               " \"destinationInfo\": {\"externalIdFields\": [\"Ext__c\"]}}",
               3);
    json_t *h = json_object_get(st, "history");
    assert_int_equal(json_array_size(h), 3);
    assert_int_equal(num(json_array_get(h, 0), "run"), 5);
    assert_int_equal(num(json_array_get(h, 1), "run"), 4);
    assert_int_equal(num(json_array_get(h, 2), "run"), 3);
    assert_int_equal(num(st, "lastRun.run"), 5);
    assert_int_equal(num(st, "lastRun.rows.changed"), 4);
    assert_string_equal(retl_json_str(st, "lastRun.pod"), "job-m5");
    assert_true(json_real_value(retl_json_path(st, "lastRun.durationSeconds")) == 1.5);
    assert_int_equal(num(st, "totals.runs"), 5);
    assert_int_equal(num(st, "totals.succeeded"), 5);
    assert_int_equal(num(st, "totals.rowsSynced"), 15);
    assert_int_equal(num(st, "totals.rowErrors"), 5);
    assert_int_equal(num(st, "errors.failingRows"), 1);
    assert_string_equal(retl_json_str(st, "errors.table"), "retl.ns__job__errors");
    assert_string_equal(retl_json_str(st, "errors.lastMessage"), "msg Succeeded");
    assert_string_equal(json_string_value(json_array_get(
                            retl_json_path(st, "destinationInfo.externalIdFields"), 0)),
                        "Ext__c");
    assert_string_equal(retl_json_str(st, "lastSuccessfulTime"), "1970-01-01T00:16:50Z");
    assert_int_equal(ctl_status_max_run(st), 5);
    json_decref(st);
}

static void test_failures_and_active(void **state)
{
    json_t *st = json_object();
    json_object_set_new(st, "active", json_pack("{s:i, s:s}", "run", 1, "pod", "job-m1"));
    record(st, 1, "Failed", NULL, 10);
    assert_null(json_object_get(st, "active")); /* this run is no longer active */
    assert_null(json_object_get(st, "lastSuccessfulTime"));
    assert_int_equal(num(st, "totals.failed"), 1);
    assert_string_equal(retl_json_str(st, "errors.lastMessage"), "msg Failed");
    assert_int_equal(num(st, "errors.failingRows"), 0);
    assert_int_equal(num(st, "lastRun.rows.changed"), 0);

    json_object_set_new(st, "active", json_pack("{s:i}", "run", 3));
    record(st, 2, "ThresholdExceeded",
           "{\"rows\": {\"failed\": 9}, \"failingRows\": 9, \"failingRowsPermanent\": 2}",
           10);
    assert_non_null(json_object_get(st, "active")); /* a different run */
    assert_int_equal(num(st, "totals.thresholdExceeded"), 1);
    assert_int_equal(num(st, "errors.failingRows"), 9);
    assert_int_equal(num(st, "errors.failingRowsPermanent"), 2);
    assert_int_equal(ctl_status_max_run(st), 3);

    /* A clean run clears the last error message. */
    record(st, 3, "Succeeded", "{\"rows\": {\"changed\": 0}, \"failingRows\": 0}", 10);
    assert_null(retl_json_path(st, "errors.lastMessage"));
    assert_int_equal(num(st, "errors.failingRows"), 0);
    assert_null(
        retl_json_path(st, "errors.failingRowsPermanent")); /* not reported: gone */
    json_decref(st);
}

static void test_history_limit_zero(void **state)
{
    json_t *st = json_object();
    record(st, 1, "Succeeded", "{}", 0);
    assert_int_equal(json_array_size(json_object_get(st, "history")), 0);
    assert_int_equal(num(st, "lastRun.run"), 1);
    json_decref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_history_bounded_newest_first),
        cmocka_unit_test(test_failures_and_active),
        cmocka_unit_test(test_history_limit_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
