/* The event recorder's pure parts (controller/kube/kube_event_rules.c, used
 * by kube_events.c): the reference, keys, the Event object and series patch,
 * the spam filter's token bucket, LRU eviction. Recording against a real
 * kube-apiserver is tests/suites/60-kube-client.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/kube_event_rules.h"

static const char *str(const json_t *o, const char *path)
{
    const json_t *v = o;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k;
         k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    return json_string_value(v);
}

static void test_reference_and_keys(void **state)
{
    json_t *job =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "apiVersion", "retl.io/v1alpha1",
                  "kind", "ReverseEtlJob", "metadata", "name", "scores", "namespace",
                  "sales", "uid", "u-1", "resourceVersion", "42");
    json_t *ref = kube_event_ref(job);
    assert_string_equal(str(ref, "apiVersion"), "retl.io/v1alpha1");
    assert_string_equal(str(ref, "kind"), "ReverseEtlJob");
    assert_string_equal(str(ref, "name"), "scores");
    assert_string_equal(str(ref, "namespace"), "sales");
    assert_string_equal(str(ref, "uid"), "u-1");
    assert_string_equal(str(ref, "resourceVersion"), "42");
    assert_string_equal(kube_event_namespace(job), "sales");
    char key[256];
    kube_event_object_key(job, key, sizeof key);
    assert_string_equal(key, "ReverseEtlJob/sales/scores/u-1");
    char *sk = kube_event_series_key(key, "Normal", "RunStarted", "RunStarted", "run 1");
    assert_string_equal(
        sk, "ReverseEtlJob/sales/scores/u-1|Normal|RunStarted|RunStarted|run 1");
    free(sk);
    json_decref(ref);
    json_decref(job);

    /* A cluster-scoped object without apiVersion: "v1", events in "default". */
    json_t *node = json_pack("{s:s, s:{s:s}}", "kind", "Node", "metadata", "name", "n1");
    ref = kube_event_ref(node);
    assert_string_equal(str(ref, "apiVersion"), "v1");
    assert_null(json_object_get(ref, "namespace"));
    assert_null(json_object_get(ref, "uid"));
    assert_string_equal(kube_event_namespace(node), "default");
    kube_event_object_key(node, key, sizeof key);
    assert_string_equal(key, "Node//n1/");
    json_decref(ref);
    json_decref(node);
}

static void test_event_object(void **state)
{
    char name[300];
    kube_event_name("scores", 0x1234abcdULL, name, sizeof name);
    assert_string_equal(name, "scores.1234abcd");
    kube_event_name(NULL, 1, name, sizeof name);
    assert_string_equal(name, "object.1");
    char longname[300];
    memset(longname, 'a', 260);
    longname[260] = '\0';
    kube_event_name(longname, 15, name, sizeof name);
    assert_int_equal(strlen(name), 202); /* the object name is cut at 200 */

    json_t *ref = json_pack("{s:s}", "kind", "Pod");
    struct kube_event_fields f = {.name = "p.1",
                                  .ns = "ns",
                                  .at = "2026-01-01T00:00:00.000001Z",
                                  .controller = "retl.io/controller",
                                  .instance = "ctl-0",
                                  .type = "Warning",
                                  .reason = "RunFailed",
                                  .action = "Run",
                                  .note = "run 3 failed",
                                  .regarding = ref};
    json_t *ev = kube_event_build(&f);
    assert_string_equal(str(ev, "apiVersion"), "events.k8s.io/v1");
    assert_string_equal(str(ev, "kind"), "Event");
    assert_string_equal(str(ev, "metadata.name"), "p.1");
    assert_string_equal(str(ev, "metadata.namespace"), "ns");
    assert_string_equal(str(ev, "eventTime"), "2026-01-01T00:00:00.000001Z");
    assert_string_equal(str(ev, "reportingController"), "retl.io/controller");
    assert_string_equal(str(ev, "reportingInstance"), "ctl-0");
    assert_string_equal(str(ev, "type"), "Warning");
    assert_string_equal(str(ev, "reason"), "RunFailed");
    assert_string_equal(str(ev, "action"), "Run");
    assert_string_equal(str(ev, "note"), "run 3 failed");
    assert_ptr_equal(json_object_get(ev, "regarding"), ref); /* borrowed, shared */
    json_decref(ev);
    json_decref(ref);

    json_t *p = kube_event_series_patch(3, "2026-01-01T00:00:09.000000Z");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(p, "series"), "count")), 3);
    assert_string_equal(str(p, "series.lastObservedTime"), "2026-01-01T00:00:09.000000Z");
    json_decref(p);
}

static void test_bucket(void **state)
{
    /* Burst 3, then one per 1000 ms. */
    struct kube_bucket b = kube_bucket_full(3, 0);
    assert_true(kube_bucket_take(&b, 0, 3, 1000));
    assert_true(kube_bucket_take(&b, 0, 3, 1000));
    assert_true(kube_bucket_take(&b, 0, 3, 1000));
    assert_false(kube_bucket_take(&b, 10, 3, 1000));
    assert_false(kube_bucket_take(&b, 990, 3, 1000));
    assert_true(kube_bucket_take(&b, 1010, 3, 1000));
    assert_false(kube_bucket_take(&b, 1020, 3, 1000));
    /* A long quiet refills up to the burst only. */
    assert_true(kube_bucket_take(&b, 1000000, 3, 1000));
    assert_true(kube_bucket_take(&b, 1000000, 3, 1000));
    assert_true(kube_bucket_take(&b, 1000000, 3, 1000));
    assert_false(kube_bucket_take(&b, 1000000, 3, 1000));
}

static void test_lru(void **state)
{
    json_t *m = json_pack("{s:{s:i}, s:{s:i}, s:{s:i}}", "a", "used", 5, "b", "used", 2,
                          "c", "used", 9);
    kube_lru_evict(m);
    assert_null(json_object_get(m, "b"));
    assert_int_equal(json_object_size(m), 2);
    kube_lru_evict(m);
    assert_null(json_object_get(m, "a"));
    kube_lru_evict(m);
    kube_lru_evict(m); /* empty: nothing to do */
    assert_int_equal(json_object_size(m), 0);
    json_decref(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_and_keys),
        cmocka_unit_test(test_event_object),
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_lru),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
