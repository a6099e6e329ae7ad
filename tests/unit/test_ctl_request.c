#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "controller/ctl_request.h"
#include "controller/ctl_runpod.h"

static void test_pending_in_order_and_once(void **state)
{
    json_t *rj =
        json_pack("{s:{s:{s:s, s:s}}}", "metadata", "annotations",
                  "retl.io/reset-requested-at", "t1", "retl.io/run-requested-at", "t2");
    json_t *st = json_object();
    const char *v = NULL;
    const struct ctl_request *rq = ctl_request_pending(rj, st, &v);
    assert_non_null(rq);
    assert_string_equal(rq->trigger, "Manual");
    assert_string_equal(v, "t2");
    json_object_set_new(st, rq->status_field, json_string(v));
    rq = ctl_request_pending(rj, st, &v);
    assert_non_null(rq);
    assert_string_equal(rq->status_field, "lastHandledResetRequest");
    assert_string_equal(rq->env, "RETL_RESET");
    assert_string_equal(v, "t1");
    json_object_set_new(st, rq->status_field, json_string(v));
    /* the same values again: nothing */
    assert_null(ctl_request_pending(rj, st, &v));
    json_decref(rj);
    json_decref(st);
}

static void test_verbs_and_names(void **state)
{
    assert_string_equal(ctl_request_by_verb("resync")->annotation,
                        "retl.io/resync-requested-at");
    assert_string_equal(ctl_request_by_verb("retry")->env, "RETL_RETRY_FAILED");
    assert_null(ctl_request_by_verb("explode"));
    char a[64], b[64], m[64];
    assert_true(ctl_request_pod_name(ctl_request_by_verb("run"), "j", "v", a, sizeof a));
    ctl_pod_name_manual("j", "v", m, sizeof m);
    assert_string_equal(a, m); /* the plain run keeps DESIGN.md's name */
    assert_true(
        ctl_request_pod_name(ctl_request_by_verb("resync"), "j", "v", b, sizeof b));
    assert_string_not_equal(a, b);
    assert_int_equal(strncmp(b, "j-m", 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pending_in_order_and_once),
        cmocka_unit_test(test_verbs_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
