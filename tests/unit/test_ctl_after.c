#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "controller/ctl_after.h"

/* A job NAME in ns "n" listing AFTER (comma-separated, "" = none), with a
 * lastSuccessfulTime OK (NULL = none) and an active run when active. */
static json_t *job(const char *name, const char *after, const char *ok, bool active)
{
    json_t *a = json_array();
    char buf[256];
    snprintf(buf, sizeof buf, "%s", after);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
        json_array_append_new(a, json_pack("{s:s}", "name", t));
    json_t *j = json_pack("{s:{s:s, s:s, s:s}, s:{s:o}, s:{}}", "metadata", "name", name,
                          "namespace", "n", "creationTimestamp", "2026-01-01T00:00:00Z",
                          "spec", "after", a, "status");
    json_t *st = json_object_get(j, "status");
    if (ok)
        json_object_set_new(st, "lastSuccessfulTime", json_string(ok));
    if (active)
        json_object_set_new(st, "active", json_pack("{s:s}", "pod", "x-1"));
    return j;
}

static struct ctl_after_out decide(json_t *jobs, size_t i)
{
    struct ctl_after_out o;
    json_t *rj = json_array_get(jobs, i);
    ctl_after_decide(rj, json_object_get(rj, "status"), jobs, &o);
    return o;
}

static void test_no_after(void **state)
{
    json_t *jobs = json_pack("[o]", job("a", "", NULL, false));
    assert_int_equal(decide(jobs, 0).state, CTL_AFTER_NONE);
    json_decref(jobs);
}

static void test_idle_waiting_due(void **state)
{
    /* c after a and b; c was created at 2026-01-01 and never ran */
    json_t *jobs = json_pack("[o, o, o]", job("a", "", NULL, false),
                             job("b", "", NULL, false), job("c", "a,b", NULL, false));
    struct ctl_after_out o = decide(jobs, 2);
    assert_int_equal(o.state, CTL_AFTER_IDLE);
    assert_non_null(strstr(o.message, "a, b"));
    /* a runs: c waits (Reconciling) */
    json_object_set_new(json_object_get(json_array_get(jobs, 0), "status"), "active",
                        json_pack("{s:s}", "pod", "a-1"));
    assert_int_equal(decide(jobs, 2).state, CTL_AFTER_WAITING);
    /* a succeeded: still waiting for b, named */
    json_t *as = json_object_get(json_array_get(jobs, 0), "status");
    json_object_del(as, "active");
    json_object_set_new(as, "lastSuccessfulTime", json_string("2026-01-02T00:00:00Z"));
    o = decide(jobs, 2);
    assert_int_equal(o.state, CTL_AFTER_WAITING);
    assert_non_null(strstr(o.message, "waiting for a successful run of b"));
    /* b succeeded too: due, and the basis names both successes */
    json_object_set_new(json_object_get(json_array_get(jobs, 1), "status"),
                        "lastSuccessfulTime", json_string("2026-01-02T00:00:05Z"));
    o = decide(jobs, 2);
    assert_int_equal(o.state, CTL_AFTER_DUE);
    assert_string_equal(o.basis, "a=2026-01-02T00:00:00Z;b=2026-01-02T00:00:05Z");
    /* c ran after both: idle again; a success older than c's run does not count */
    json_object_set_new(json_object_get(json_array_get(jobs, 2), "status"), "lastRun",
                        json_pack("{s:s}", "startTime", "2026-01-02T00:00:06Z"));
    assert_int_equal(decide(jobs, 2).state, CTL_AFTER_IDLE);
    json_decref(jobs);
}

/* Whole-second times: a success in the second c's last run started counts
 * unless it is one that started that run (status.lastHandledDependencies). */
static void test_success_in_run_second(void **state)
{
    json_t *jobs = json_pack("[o, o, o]", job("a", "", "2026-01-02T00:00:06Z", false),
                             job("b", "", "2026-01-02T00:00:06Z", false),
                             job("c", "a,b", NULL, false));
    json_t *cs = json_object_get(json_array_get(jobs, 2), "status");
    json_object_set_new(cs, "lastRun",
                        json_pack("{s:s}", "startTime", "2026-01-02T00:00:06Z"));
    /* c's last run was scheduled: both may have finished after it started */
    struct ctl_after_out o = decide(jobs, 2);
    assert_int_equal(o.state, CTL_AFTER_DUE);
    /* the run these successes started: nothing new */
    json_object_set_new(cs, "lastHandledDependencies", json_string(o.basis));
    assert_int_equal(decide(jobs, 2).state, CTL_AFTER_IDLE);
    /* b succeeds again in the same second (a later run of b): due */
    json_object_set_new(cs, "lastHandledDependencies",
                        json_string("a=2026-01-02T00:00:06Z;b=2026-01-02T00:00:05Z"));
    o = decide(jobs, 2);
    assert_int_equal(o.state, CTL_AFTER_WAITING);
    assert_non_null(strstr(o.message, "waiting for a successful run of a"));
    /* an older success never counts, handled or not */
    json_object_set_new(json_object_get(json_array_get(jobs, 0), "status"),
                        "lastSuccessfulTime", json_string("2026-01-02T00:00:05Z"));
    json_object_del(cs, "lastHandledDependencies");
    assert_int_equal(decide(jobs, 2).state, CTL_AFTER_WAITING);
    json_decref(jobs);
}

static void test_success_before_creation_does_not_count(void **state)
{
    json_t *jobs = json_pack("[o, o]", job("a", "", "2025-12-31T00:00:00Z", false),
                             job("b", "a", NULL, false));
    assert_int_equal(decide(jobs, 1).state, CTL_AFTER_IDLE);
    json_decref(jobs);
}

/* A dependency that succeeds in the second the job was created counts (a job
 * applied just as its dependency finishes); before it, it does not. */
static void test_success_in_creation_second_counts(void **state)
{
    json_t *jobs = json_pack("[o, o]", job("a", "", "2026-01-01T00:00:00Z", false),
                             job("b", "a", NULL, false));
    assert_int_equal(decide(jobs, 1).state, CTL_AFTER_DUE);
    json_object_set_new(json_object_get(json_array_get(jobs, 0), "status"),
                        "lastSuccessfulTime", json_string("2025-12-31T23:59:59Z"));
    assert_int_equal(decide(jobs, 1).state, CTL_AFTER_IDLE);
    json_decref(jobs);
}

static void test_missing_and_cycle(void **state)
{
    json_t *jobs =
        json_pack("[o, o, o, o]", job("a", "c", NULL, false), job("b", "a", NULL, false),
                  job("c", "b", NULL, false), job("d", "a,ghost", NULL, false));
    struct ctl_after_out o = decide(jobs, 0);
    assert_int_equal(o.state, CTL_AFTER_CYCLE);
    assert_non_null(strstr(o.message, "a -> c -> b -> a"));
    o = decide(jobs, 3);
    assert_int_equal(o.state, CTL_AFTER_MISSING);
    assert_non_null(strstr(o.message, "ghost"));
    /* d depends on the cycle but is not in it: not a cycle of d's */
    json_t *d = json_array_get(jobs, 3);
    json_object_set_new(json_object_get(d, "spec"), "after",
                        json_pack("[{s:s}]", "name", "a"));
    assert_int_equal(decide(jobs, 3).state, CTL_AFTER_IDLE);
    json_decref(jobs);
}

static void test_other_namespace_is_missing(void **state)
{
    json_t *a = job("a", "", NULL, false);
    json_object_set_new(json_object_get(a, "metadata"), "namespace",
                        json_string("other"));
    json_t *jobs = json_pack("[o, o]", a, job("b", "a", NULL, false));
    assert_int_equal(decide(jobs, 1).state, CTL_AFTER_MISSING);
    json_decref(jobs);
}

static int n_keys;
static char keys[4][64];
static void collect(void *ud, const char *key)
{
    (void)ud;
    snprintf(keys[n_keys++ % 4], sizeof keys[0], "%s", key);
}

static void test_dependents_and_pod_name(void **state)
{
    json_t *jobs = json_pack("[o, o, o]", job("a", "", NULL, false),
                             job("b", "a", NULL, false), job("c", "b,a", NULL, false));
    n_keys = 0;
    ctl_after_dependents(jobs, json_array_get(jobs, 0), collect, NULL);
    assert_int_equal(n_keys, 2);
    assert_string_equal(keys[0], "n/b");
    assert_string_equal(keys[1], "n/c");
    char p1[64], p2[64];
    ctl_after_pod_name("contacts", "a=1", p1, sizeof p1);
    ctl_after_pod_name("contacts", "a=2", p2, sizeof p2);
    assert_int_equal(strncmp(p1, "contacts-a", 10), 0);
    assert_int_equal(strlen(p1), strlen("contacts-a") + 8);
    assert_string_not_equal(p1, p2);
    json_decref(jobs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_after),
        cmocka_unit_test(test_idle_waiting_due),
        cmocka_unit_test(test_success_before_creation_does_not_count),
        cmocka_unit_test(test_success_in_creation_second_counts),
        cmocka_unit_test(test_success_in_run_second),
        cmocka_unit_test(test_missing_and_cycle),
        cmocka_unit_test(test_other_namespace_is_missing),
        cmocka_unit_test(test_dependents_and_pod_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
