/* The reconciler's decisions (controller/ctl_decide.c): which run is due,
 * what the run pods mean, which stall and conditions follow, what deletion
 * does next. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/spec.h"
#include "controller/ctl_decide.h"
#include "controller/ctl_status.h"

#define NOW ((time_t)1767225600) /* 2026-01-01T00:00:00Z */

/* A run pod: run number, then the state ("running", "ok", "fail", "stuck",
 * "deleting" = running with a deletionTimestamp, "cleanup-*" = the cleanup
 * pod in that state). */
static json_t *pod(long long run, const char *state)
{
    const char *dash = strchr(state, '-');
    bool cleanup = dash != NULL;
    const char *st = cleanup ? dash + 1 : state;
    char name[64];
    snprintf(name, sizeof name, cleanup ? "job-cleanup" : "job-%lld", run);
    json_t *labels = json_pack("{s:s}", "retl.io/job", "job");
    if (cleanup)
        json_object_set_new(labels, "retl.io/cleanup", json_string("true"));
    else
        json_object_set_new(labels, "retl.io/run", json_sprintf("%lld", run));
    json_t *p = json_pack("{s:{s:s, s:o}}", "metadata", "name", name, "labels", labels);
    json_t *status;
    if (!strcmp(st, "running") || !strcmp(st, "deleting"))
        status = json_pack("{s:s}", "phase", "Running");
    else if (!strcmp(st, "stuck"))
        status =
            json_pack("{s:s, s:[{s:{s:{s:s, s:s}}}]}", "phase", "Pending",
                      "containerStatuses", "state", "waiting", "reason",
                      "CreateContainerConfigError", "message", "secret \"wh\" not found");
    else
        status = json_pack("{s:s, s:[{s:{s:{s:i, s:s}}}]}", "phase",
                           strcmp(st, "ok") ? "Failed" : "Succeeded", "containerStatuses",
                           "state", "terminated", "exitCode", strcmp(st, "ok") ? 1 : 0,
                           "message", "tables locked");
    json_object_set_new(p, "status", status);
    if (!strcmp(st, "deleting"))
        json_object_set_new(json_object_get(p, "metadata"), "deletionTimestamp",
                            json_string("2026-01-01T00:00:00Z"));
    return p;
}

/* ---- which run is due ---------------------------------------------------- */

static void test_manual_due(void **state)
{
    assert_false(ctl_manual_due(NULL, NULL));
    assert_false(ctl_manual_due("", NULL));
    assert_true(ctl_manual_due("a", NULL));
    assert_true(ctl_manual_due("b", "a"));
    assert_false(ctl_manual_due("a", "a"));
}

static void test_due(void **state)
{
    struct ctl_due_in in = {.concurrency = RETL_CONC_FORBID};
    assert_int_equal(ctl_decide_due(&in), CTL_DUE_NONE);
    in.active = in.stopping = true;
    assert_int_equal(ctl_decide_due(&in), CTL_DUE_NONE); /* nothing due: nothing to do */

    in = (struct ctl_due_in){.sched_due = true, .concurrency = RETL_CONC_FORBID};
    assert_int_equal(ctl_decide_due(&in), CTL_DUE_SCHEDULED);
    in.manual_due = true; /* a manual request comes first */
    assert_int_equal(ctl_decide_due(&in), CTL_DUE_MANUAL);
    in.stopping = true; /* a replaced run's pod still goes away */
    assert_int_equal(ctl_decide_due(&in), CTL_DUE_WAIT_STOPPING);
    in.active = true;
    assert_int_equal(ctl_decide_due(&in), CTL_DUE_WAIT_ACTIVE);
    in.concurrency = RETL_CONC_REPLACE;
    assert_int_equal(ctl_decide_due(&in), CTL_DUE_REPLACE);

    /* spec.after: after the schedule and a request, waits like them */
    in = (struct ctl_due_in){.after_due = true, .concurrency = RETL_CONC_FORBID};
    assert_int_equal(ctl_decide_due(&in), CTL_DUE_AFTER);
    in.sched_due = true;
    assert_int_equal(ctl_decide_due(&in), CTL_DUE_SCHEDULED);
    in.manual_due = true;
    assert_int_equal(ctl_decide_due(&in), CTL_DUE_MANUAL);
    in = (struct ctl_due_in){
        .after_due = true, .active = true, .concurrency = RETL_CONC_FORBID};
    assert_int_equal(ctl_decide_due(&in), CTL_DUE_WAIT_ACTIVE);
}

static struct retl_job *job_with(const char *extra)
{
    char text[2048];
    snprintf(
        text, sizeof text,
        "{\"apiVersion\": \"retl.io/v1alpha1\", \"kind\": \"ReverseEtlJob\","
        " \"metadata\": {\"name\": \"job\", \"namespace\": \"ns\", \"uid\": \"u\"},"
        " \"spec\": {\"source\": {\"type\": \"postgres\", \"secretRef\": {\"name\": "
        "\"wh\"}, \"query\": \"SELECT 1\"}, \"destination\": {\"type\": \"salesforce\","
        " \"secretRef\": {\"name\": \"sf\"}, \"object\": \"Account\"},"
        " \"mode\": \"Upsert\", \"key\": {\"source\": \"id\", \"destination\": "
        "\"Ext__c\"}, \"mappings\": [{\"source\": \"a\", \"destination\": \"A__c\"}]%s}}",
        extra);
    json_t *rj = json_loads(text, 0, NULL);
    assert_non_null(rj);
    struct retl_job *job = NULL;
    struct retl_problems p = {0};
    if (retl_job_parse(rj, &job, &p) != RETL_E_OK) {
        char *m = retl_problems_join(&p);
        fail_msg("%s", m);
    }
    retl_problems_free(&p);
    json_decref(rj);
    return job;
}

static void test_schedule(void **state)
{
    json_t *rj =
        json_pack("{s:{s:s}}", "metadata", "creationTimestamp", "2025-12-31T23:00:00Z");
    json_t *st = json_pack("{s:s}", "lastScheduleTime", "2025-12-31T23:50:00Z");
    struct ctl_sched_out so;

    struct retl_job *job = job_with(", \"schedule\": \"*/5 * * * *\"");
    assert_true(ctl_decide_schedule(job, rj, st, NOW + 60, &so));
    assert_int_equal(so.due, NOW); /* the latest slot after lastScheduleTime */
    assert_int_equal(so.next, NOW + 300);
    assert_false(so.too_many);
    retl_job_free(job);

    job = job_with(", \"schedule\": \"*/5 * * * *\", \"suspend\": true");
    assert_false(ctl_decide_schedule(job, rj, st, NOW + 60, &so)); /* suspended */
    retl_job_free(job);

    job = job_with("");
    assert_false(ctl_decide_schedule(job, rj, st, NOW + 60, &so)); /* manual only */
    assert_int_equal(so.due, 0);
    assert_int_equal(so.next, 0);
    retl_job_free(job);
    json_decref(st);
    json_decref(rj);
}

/* ---- what the run pods mean ---------------------------------------------- */

static void plan_of(json_t *pods, long long recorded, struct ctl_pod_plan *plan)
{
    plan->v = calloc(json_array_size(pods) + 1, sizeof *plan->v);
    assert_non_null(plan->v);
    ctl_decide_pods(pods, recorded, recorded, NOW, plan);
}

static void test_pods_record_in_order(void **state)
{
    json_t *pods = json_pack("[o, o, o, o, o]", pod(3, "ok"), pod(4, "ok"),
                             pod(5, "stuck"), pod(6, "fail"), pod(0, "cleanup-running"));
    struct ctl_pod_plan plan;
    plan_of(pods, 3, &plan);
    assert_int_equal(plan.v[0], CTL_PV_DONE); /* recorded already */
    assert_int_equal(plan.v[1], CTL_PV_RECORD);
    assert_int_equal(plan.v[2], CTL_PV_RECORD_STUCK);
    assert_int_equal(plan.v[3], CTL_PV_RECORD);
    assert_int_equal(plan.v[4], CTL_PV_IGNORE);
    assert_int_equal(plan.recorded_max, 6);
    assert_int_equal(plan.max_run, 6);
    assert_null(plan.active);
    assert_false(plan.stopping);
    free(plan.v);
    json_decref(pods);
}

static void test_pods_newest_unfinished_is_active(void **state)
{
    json_t *pods = json_pack("[o, o, o, o, o]", pod(2, "running"), pod(3, "deleting"),
                             pod(4, "ok"), pod(5, "running"), pod(7, "running"));
    struct ctl_pod_plan plan;
    plan_of(pods, 3, &plan);
    assert_int_equal(plan.v[0], CTL_PV_STOP);     /* recorded (replaced), still runs */
    assert_int_equal(plan.v[1], CTL_PV_STOPPING); /* ... and already going */
    assert_int_equal(plan.v[2], CTL_PV_RECORD);
    assert_int_equal(plan.v[3], CTL_PV_REPLACED); /* older than the active run */
    assert_int_equal(plan.v[4], CTL_PV_ACTIVE);
    assert_ptr_equal(plan.active, json_array_get(pods, 4));
    assert_int_equal(plan.recorded_max, 5);
    assert_int_equal(plan.max_run, 7);
    assert_true(plan.stopping);
    free(plan.v);
    json_decref(pods);

    /* The status may know a higher run than any pod (a vanished pod). */
    pods = json_pack("[o]", pod(2, "running"));
    plan.v = calloc(2, sizeof *plan.v);
    ctl_decide_pods(pods, 1, 9, NOW, &plan);
    assert_int_equal(plan.v[0], CTL_PV_ACTIVE);
    assert_int_equal(plan.max_run, 9);
    assert_int_equal(plan.recorded_max, 1);
    assert_false(plan.stopping);
    free(plan.v);
    json_decref(pods);
}

static void test_prune(void **state)
{
    json_t *pods =
        json_pack("[o, o, o, o, o, o]", pod(1, "ok"), pod(2, "fail"), pod(3, "ok"),
                  pod(4, "running"), pod(5, "ok"), pod(0, "cleanup-ok"));
    bool del[6];
    ctl_decide_prune(pods, 5, 2, NOW, del); /* run 4 was replaced, still running */
    assert_true(del[0]);
    assert_true(del[1]);
    assert_false(del[2]);
    assert_false(del[3]);
    assert_false(del[4]);
    assert_false(del[5]);
    ctl_decide_prune(pods, 3, 0, NOW, del); /* run 5 not recorded yet */
    assert_true(del[0] && del[1] && del[2]);
    assert_false(del[3] || del[4] || del[5]);
    json_decref(pods);
}

/* ---- stall and conditions ------------------------------------------------ */

static void test_stall(void **state)
{
    struct ctl_stall s = {.reason = ""};
    struct ctl_outcome o = {.exit_code = 1, .result = "Failed", .message = "boom"};
    ctl_decide_stall(&o, false, &s);
    assert_string_equal(s.reason, ""); /* a retry may fix it */
    o.exit_code = 2;
    ctl_decide_stall(&o, false, &s);
    assert_string_equal(s.reason, "RunRejected");
    assert_string_equal(s.msg, "the engine rejected the job: boom");
    o.exit_code = -1;
    snprintf(o.message, sizeof o.message, "run pod cannot start");
    ctl_decide_stall(&o, true, &s);
    assert_string_equal(s.reason, "RunPodConfigError");
    assert_string_equal(s.msg, "run pod cannot start");
}

static const char *cond(const json_t *st, const char *type, const char *field)
{
    return json_string_value(json_object_get(ctl_cond_get(st, type), field));
}

static void test_conditions(void **state)
{
    struct retl_job *job = job_with("");
    struct ctl_stall none = {.reason = ""},
                     rejected = {"RunRejected", "the engine rejected the job"};
    struct ctl_cond_in in = {.job = job, .stall = &none, .generation = 4, .now = NOW};
    json_t *st = json_object();

    ctl_decide_conditions(st, &in);
    assert_string_equal(cond(st, "Ready", "status"), "True");
    assert_string_equal(cond(st, "Ready", "reason"), "ManualOnly");
    assert_string_equal(cond(st, "Stalled", "status"), "False");
    assert_string_equal(cond(st, "Reconciling", "reason"), "Idle");
    assert_string_equal(cond(st, "LastRunSucceeded", "reason"), "NoRunYet");
    assert_int_equal(json_integer_value(json_object_get(st, "observedGeneration")), 4);

    /* A run-made stall holds on later passes of the same generation ... */
    in.stall = &rejected;
    ctl_decide_conditions(st, &in);
    in.stall = &none;
    ctl_decide_conditions(st, &in);
    assert_string_equal(cond(st, "Stalled", "reason"), "RunRejected");
    assert_string_equal(cond(st, "Ready", "status"), "False");
    /* ... until a run succeeds */
    in.ran_ok = true;
    ctl_decide_conditions(st, &in);
    assert_string_equal(cond(st, "Stalled", "status"), "False");
    /* ... or the spec changes. */
    in.ran_ok = false;
    in.stall = &rejected;
    ctl_decide_conditions(st, &in);
    in.stall = &none;
    in.generation = 5;
    ctl_decide_conditions(st, &in);
    assert_string_equal(cond(st, "Stalled", "status"), "False");

    /* An invalid spec, an active run, a finished run. */
    json_object_set_new(st, "active", json_pack("{s:i, s:s}", "run", 8, "pod", "job-m1"));
    json_object_set_new(
        st, "lastRun",
        json_pack("{s:i, s:s, s:s}", "run", 7, "result", "Failed", "message", "boom"));
    in.job = NULL;
    in.invalid = "spec.mode: unknown";
    in.next_slot = NOW + 60;
    ctl_decide_conditions(st, &in);
    assert_string_equal(cond(st, "Stalled", "reason"), "InvalidSpec");
    assert_string_equal(cond(st, "Ready", "message"), "spec.mode: unknown");
    assert_string_equal(cond(st, "Reconciling", "message"),
                        "run 8 is in progress in pod job-m1");
    assert_string_equal(cond(st, "LastRunSucceeded", "status"), "False");
    assert_string_equal(cond(st, "LastRunSucceeded", "message"), "run 7: boom");
    assert_string_equal(cond(st, "LastRunSucceeded", "reason"), "Failed");
    assert_null(json_object_get(st, "nextScheduleTime")); /* not with an invalid spec */
    /* The delete guard is named as the reason. */
    json_object_set_new(st, "lastRun",
                        json_pack("{s:i, s:s, s:s, s:s}", "run", 7, "result", "Failed",
                                  "reason", "DeleteGuard", "message", "delete guard"));
    ctl_decide_conditions(st, &in);
    assert_string_equal(cond(st, "LastRunSucceeded", "reason"), "DeleteGuard");
    assert_string_equal(cond(st, "LastRunSucceeded", "status"), "False");

    retl_job_free(job);
    job = job_with(", \"schedule\": \"*/5 * * * *\"");
    in = (struct ctl_cond_in){
        .job = job, .stall = &none, .next_slot = NOW + 300, .generation = 5, .now = NOW};
    ctl_decide_conditions(st, &in);
    assert_string_equal(cond(st, "Ready", "reason"), "Scheduled");
    assert_string_equal(cond(st, "Ready", "message"), "next run at 2026-01-01T00:05:00Z");
    assert_string_equal(json_string_value(json_object_get(st, "nextScheduleTime")),
                        "2026-01-01T00:05:00Z");
    retl_job_free(job);
    json_decref(st);
}

/* ---- deletion ------------------------------------------------------------ */

static enum ctl_fin_step fin(json_t *pods, bool finalizer, enum retl_cleanup policy,
                             bool *stop, struct ctl_fin_plan *plan)
{
    json_t *rj = json_pack("{s:{s:[s]}}", "metadata", "finalizers",
                           finalizer ? "retl.io/cleanup" : "other.io/x");
    plan->stop = stop;
    ctl_decide_finalize(rj, pods, policy, NOW, plan);
    json_decref(rj);
    return plan->step;
}

static void test_finalize(void **state)
{
    struct ctl_fin_plan plan;
    bool stop[4];
    json_t *pods =
        json_pack("[o, o, o]", pod(1, "ok"), pod(2, "running"), pod(3, "deleting"));
    assert_int_equal(fin(pods, false, RETL_CLEANUP_DELETE, stop, &plan), CTL_FIN_NONE);
    assert_false(stop[1]);
    /* Retain: stop the runs and let the job go. */
    assert_int_equal(fin(pods, true, RETL_CLEANUP_RETAIN, stop, &plan), CTL_FIN_RELEASE);
    assert_false(stop[0]);
    assert_true(stop[1]);
    assert_false(stop[2]); /* already going */
    /* Delete: stop the runs first. */
    assert_int_equal(fin(pods, true, RETL_CLEANUP_DELETE, stop, &plan),
                     CTL_FIN_STOP_RUNS);
    assert_true(stop[1]);
    json_decref(pods);

    pods = json_pack("[o]", pod(1, "ok"));
    assert_int_equal(fin(pods, true, RETL_CLEANUP_DELETE, stop, &plan),
                     CTL_FIN_START_CLEANUP);
    json_decref(pods);

    pods = json_pack("[o, o]", pod(1, "ok"), pod(0, "cleanup-running"));
    assert_int_equal(fin(pods, true, RETL_CLEANUP_DELETE, stop, &plan),
                     CTL_FIN_WAIT_CLEANUP);
    assert_ptr_equal(plan.cleanup, json_array_get(pods, 1));
    json_decref(pods);

    pods = json_pack("[o]", pod(0, "cleanup-ok"));
    assert_int_equal(fin(pods, true, RETL_CLEANUP_DELETE, stop, &plan), CTL_FIN_CLEANED);
    json_decref(pods);

    pods = json_pack("[o]", pod(0, "cleanup-fail"));
    assert_int_equal(fin(pods, true, RETL_CLEANUP_DELETE, stop, &plan),
                     CTL_FIN_CLEANUP_FAILED);
    assert_string_equal(plan.message, "exit code 1: tables locked");
    json_decref(pods);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manual_due),
        cmocka_unit_test(test_due),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_pods_record_in_order),
        cmocka_unit_test(test_pods_newest_unfinished_is_active),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_stall),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_finalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
