/* Leader election's pure parts (controller/kube/kube_lease.c, used by
 * kube_leader.c): options, what a Lease record means, the spec written, the
 * retry wait; and kube_leader_start's refusals. The election against a real
 * kube-apiserver is tests/suites/60-kube-client.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <string.h>

#include "controller/kube/kube_lease.h"
#include "controller/kube/kube_leader.h"

static void test_opts(void **state)
{
    struct retl_errbuf eb = {{0}};
    struct kube_leader_opts o = {.namespace = "ns", .name = "lease"};
    assert_int_equal(kube_lease_opts_check(&o, &eb), RETL_E_OK);
    assert_int_equal(o.lease_duration_ms, 15000);
    assert_int_equal(o.renew_deadline_ms, 10000);
    assert_int_equal(o.retry_period_ms, 2000);

    o = (struct kube_leader_opts){.name = "lease"};
    assert_int_equal(kube_lease_opts_check(&o, &eb), RETL_E_INVALID);
    assert_non_null(strstr(eb.msg, "namespace and name required"));

    /* renewDeadline must exceed 1.2 * retryPeriod, leaseDuration renewDeadline. */
    o = (struct kube_leader_opts){
        .namespace = "ns", .name = "l", .retry_period_ms = 9000};
    assert_int_equal(kube_lease_opts_check(&o, &eb), RETL_E_INVALID);
    assert_non_null(strstr(eb.msg, "leaseDuration > renewDeadline > 1.2 * retryPeriod"));
    o = (struct kube_leader_opts){
        .namespace = "ns", .name = "l", .renew_deadline_ms = 15000};
    assert_int_equal(kube_lease_opts_check(&o, &eb), RETL_E_INVALID);

    /* kube_leader_start refuses before it touches the client or starts a thread. */
    struct kube_leader *l = NULL;
    o = (struct kube_leader_opts){
        .namespace = "ns", .name = "l", .retry_period_ms = 9000};
    assert_int_equal(kube_leader_start(NULL, &o, &l, &eb), RETL_E_INVALID);
    assert_null(l);
    assert_int_equal(kube_leader_start(NULL, NULL, &l, &eb), RETL_E_INVALID);
}

static void test_judge(void **state)
{
    int64_t exp = -1;
    json_t *spec =
        json_pack("{s:s, s:i}", "holderIdentity", "me", "leaseDurationSeconds", 15);
    assert_int_equal(kube_lease_judge(spec, "me", 1000, 99999, 15000, &exp),
                     KUBE_LEASE_OURS);
    assert_int_equal(exp, -1);
    /* Another holder: alive until its record is leaseDurationSeconds old on our clock. */
    assert_int_equal(kube_lease_judge(spec, "you", 1000, 15999, 9000, &exp),
                     KUBE_LEASE_HELD);
    assert_int_equal(exp, 16000);
    assert_int_equal(kube_lease_judge(spec, "you", 1000, 16000, 9000, &exp),
                     KUBE_LEASE_EXPIRED);
    json_decref(spec);

    /* Without leaseDurationSeconds our own duration stands in. */
    spec = json_pack("{s:s}", "holderIdentity", "me");
    assert_int_equal(kube_lease_judge(spec, "you", 1000, 5000, 9000, &exp),
                     KUBE_LEASE_HELD);
    assert_int_equal(exp, 10000);
    json_decref(spec);

    spec = json_pack("{s:s}", "holderIdentity", ""); /* released */
    assert_int_equal(kube_lease_judge(spec, "you", 0, 0, 9000, &exp), KUBE_LEASE_FREE);
    json_decref(spec);
    assert_int_equal(kube_lease_judge(NULL, "you", 0, 0, 9000, &exp), KUBE_LEASE_FREE);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static long long num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void test_spec(void **state)
{
    const char *t1 = "2026-01-01T00:00:00.000001Z", *t2 = "2026-01-01T00:00:02.500000Z";
    /* A new Lease. */
    json_t *s = kube_lease_spec(NULL, "me", 15000, t1, false);
    assert_string_equal(str(s, "holderIdentity"), "me");
    assert_int_equal(num(s, "leaseDurationSeconds"), 15);
    assert_string_equal(str(s, "acquireTime"), t1);
    assert_string_equal(str(s, "renewTime"), t1);
    assert_int_equal(num(s, "leaseTransitions"), 0);

    /* Renewal keeps acquireTime and the transitions. */
    json_t *r = kube_lease_spec(s, "me", 1500, t2, false);
    assert_string_equal(str(r, "acquireTime"), t1);
    assert_string_equal(str(r, "renewTime"), t2);
    assert_int_equal(num(r, "leaseDurationSeconds"), 2); /* rounded up */
    assert_int_equal(num(r, "leaseTransitions"), 0);

    /* A takeover is a transition and a new acquireTime. */
    json_t *o = kube_lease_spec(r, "you", 15000, t2, false);
    assert_string_equal(str(o, "holderIdentity"), "you");
    assert_string_equal(str(o, "acquireTime"), t2);
    assert_int_equal(num(o, "leaseTransitions"), 1);

    /* Release: no holder, expires in a second, history kept. */
    json_t *rel = kube_lease_spec(o, "you", 15000, t2, true);
    assert_string_equal(str(rel, "holderIdentity"), "");
    assert_int_equal(num(rel, "leaseDurationSeconds"), 1);
    assert_string_equal(str(rel, "acquireTime"), t2);
    assert_int_equal(num(rel, "leaseTransitions"), 1);
    json_decref(s);
    json_decref(r);
    json_decref(o);
    json_decref(rel);
}

static void test_retry_wait(void **state)
{
    /* retryPeriod plus up to a fifth as jitter. */
    assert_int_equal(kube_lease_retry_wait(2000, 0, 0, 100000), 2000);
    assert_int_equal(kube_lease_retry_wait(2000, 400, 0, 100000), 2400);
    assert_int_equal(kube_lease_retry_wait(2000, 401, 0, 100000), 2000);
    /* Cut short to 50 ms after the holder's lease runs out. */
    assert_int_equal(kube_lease_retry_wait(2000, 0, 100500, 100000), 550);
    assert_int_equal(kube_lease_retry_wait(2000, 0, 105000, 100000), 2000);
}

static void test_default_identity(void **state)
{
    char a[300], b[300];
    kube_leader_default_identity(a, sizeof a);
    kube_leader_default_identity(b, sizeof b);
    assert_string_not_equal(a, b);
    const char *u = strrchr(a, '_');
    assert_non_null(u);
    u++;
    assert_int_equal(strlen(u), 36); /* a UUID v4 */
    assert_int_equal(u[14], '4');
    assert_non_null(strchr("89ab", u[19]));
    assert_int_equal(u[8], '-');
    assert_int_equal(u[23], '-');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts),
        cmocka_unit_test(test_judge),
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_retry_wait),
        cmocka_unit_test(test_default_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
