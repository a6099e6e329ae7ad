#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/kube/kube_queue.h"

static int64_t fake_now;
static int64_t fake_clock(void *ud)
{
    return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}
static void step_ms(long ms)
{
    __atomic_add_fetch(&fake_now, (int64_t)ms * 1000000LL, __ATOMIC_SEQ_CST);
}
static const struct kube_clock clk = {fake_clock, NULL};

static struct kube_queue *new_queue(double qps, int burst)
{
    fake_now = 1000000000LL;
    struct kube_queue_opts o = {.name = "t", .clock = &clk, .qps = qps, .burst = burst};
    struct kube_queue *q = NULL;
    assert_int_equal(kube_queue_new(&o, &q, NULL), RETL_E_OK);
    return q;
}

static void test_dedup(void **state)
{
    struct kube_queue *q = new_queue(0, 0);
    kube_queue_add(q, "ns/a");
    kube_queue_add(q, "ns/a");
    kube_queue_add(q, "ns/b");
    kube_queue_add(q, "ns/a");
    assert_int_equal(kube_queue_len(q), 2);
    char *k = NULL;
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_OK);
    assert_string_equal(k, "ns/a");
    kube_queue_done(q, k);
    free(k);
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_OK);
    assert_string_equal(k, "ns/b");
    kube_queue_done(q, k);
    free(k);
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_TIMEOUT);
    struct kube_queue_metrics m;
    kube_queue_metrics(q, &m);
    assert_int_equal(m.adds, 2);
    assert_int_equal(m.gets, 2);
    assert_int_equal(m.work_count, 2);
    kube_queue_free(q);
}

static void test_not_while_processing(void **state)
{
    struct kube_queue *q = new_queue(0, 0);
    char *k = NULL, *k2 = NULL;
    kube_queue_add(q, "x");
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_OK);
    /* Re-added while processing: not handed to another worker... */
    kube_queue_add(q, "x");
    kube_queue_add(q, "x");
    assert_int_equal(kube_queue_len(q), 0);
    assert_int_equal(kube_queue_get(q, 0, &k2), RETL_E_TIMEOUT);
    /* ...but queued again, once, when the first is done. */
    kube_queue_done(q, k);
    free(k);
    assert_int_equal(kube_queue_len(q), 1);
    assert_int_equal(kube_queue_get(q, 0, &k2), RETL_E_OK);
    assert_string_equal(k2, "x");
    kube_queue_done(q, k2);
    free(k2);
    assert_int_equal(kube_queue_len(q), 0);
    kube_queue_free(q);
}

/* Many workers, few keys, constant re-adds: no key is ever held twice. */
struct stress {
    struct kube_queue *q;
    int busy[8];
    int overlap;
    long handled;
    pthread_mutex_t mu;
};

static void *stress_worker(void *arg)
{
    struct stress *s = arg;
    char *k;
    while (kube_queue_get(s->q, -1, &k) == RETL_E_OK) {
        int i = k[0] - 'a';
        if (__atomic_add_fetch(&s->busy[i], 1, __ATOMIC_SEQ_CST) != 1)
            __atomic_add_fetch(&s->overlap, 1, __ATOMIC_SEQ_CST);
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
        kube_queue_add(s->q, k); /* re-add while processing */
        __atomic_sub_fetch(&s->busy[i], 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&s->handled, 1, __ATOMIC_SEQ_CST);
        kube_queue_done(s->q, k);
        free(k);
    }
    return NULL;
}

static void test_no_concurrent_processing(void **state)
{
    struct stress s;
    memset(&s, 0, sizeof s);
    assert_int_equal(kube_queue_new(NULL, &s.q, NULL), RETL_E_OK);
    pthread_t th[6];
    for (int i = 0; i < 6; i++)
        pthread_create(&th[i], NULL, stress_worker, &s);
    for (int r = 0; r < 200; r++)
        for (char c = 'a'; c < 'a' + 8; c++) {
            char key[2] = {c, 0};
            kube_queue_add(s.q, key);
        }
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, NULL);
    kube_queue_shutdown(s.q);
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(s.overlap, 0);
    assert_true(s.handled > 100);
    kube_queue_free(s.q);
}

static void test_backoff_5ms_to_1000s(void **state)
{
    struct kube_queue *q = new_queue(-1, 0); /* bucket off: per-key only */
    long expect = 5;
    for (int i = 0; i < 18; i++) {
        assert_int_equal(kube_queue_when_ms(q, "k"), expect);
        expect *= 2;
    }
    /* 5 ms * 2^18 > 1000 s: capped from here on. */
    assert_int_equal(kube_queue_when_ms(q, "k"), 1000000);
    for (int i = 0; i < 100; i++)
        assert_int_equal(kube_queue_when_ms(q, "k"), 1000000);
    assert_int_equal(kube_queue_num_requeues(q, "k"), 119);
    /* Other keys have their own count; forget resets. */
    assert_int_equal(kube_queue_when_ms(q, "other"), 5);
    kube_queue_forget(q, "k");
    assert_int_equal(kube_queue_num_requeues(q, "k"), 0);
    assert_int_equal(kube_queue_when_ms(q, "k"), 5);
    kube_queue_free(q);
}

static void test_token_bucket(void **state)
{
    struct kube_queue *q = new_queue(10, 100); /* client-go defaults */
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(kube_queue_when_ms(q, key), 5); /* within the burst */
    }
    /* Burst spent: 10 qps means 100 ms, 200 ms, ... for new keys. */
    assert_int_equal(kube_queue_when_ms(q, "k100"), 100);
    assert_int_equal(kube_queue_when_ms(q, "k101"), 200);
    assert_int_equal(kube_queue_when_ms(q, "k102"), 300);
    /* One second refills 10 tokens: the debt of 3 is paid, 7 left. */
    step_ms(1000);
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof key, "n%d", i);
        assert_int_equal(kube_queue_when_ms(q, key), 5);
    }
    assert_int_equal(kube_queue_when_ms(q, "n7"), 100);
    kube_queue_free(q);
}

static void test_add_after(void **state)
{
    struct kube_queue *q = new_queue(0, 0);
    char *k = NULL;
    kube_queue_add_after(q, "later", 100);
    assert_int_equal(kube_queue_len(q), 0);
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_TIMEOUT);
    step_ms(99);
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_TIMEOUT);
    step_ms(1);
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_OK);
    assert_string_equal(k, "later");
    kube_queue_done(q, k);
    free(k);
    /* The earlier of two delays wins; the item comes once. */
    kube_queue_add_after(q, "twice", 1000);
    kube_queue_add_after(q, "twice", 10);
    kube_queue_add_after(q, "twice", 500);
    step_ms(10);
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_OK);
    assert_string_equal(k, "twice");
    kube_queue_done(q, k);
    free(k);
    step_ms(2000);
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_TIMEOUT);
    /* Zero delay is an add. */
    kube_queue_add_after(q, "now", 0);
    assert_int_equal(kube_queue_len(q), 1);
    struct kube_queue_metrics m;
    kube_queue_metrics(q, &m);
    assert_int_equal(m.depth, 1);
    assert_int_equal(m.waiting, 0);
    kube_queue_free(q);
}

static void test_add_rate_limited(void **state)
{
    struct kube_queue *q = new_queue(0, 0);
    char *k = NULL;
    kube_queue_add_rate_limited(q, "r"); /* 5 ms */
    step_ms(4);
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_TIMEOUT);
    step_ms(1);
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_OK);
    kube_queue_add_rate_limited(q, "r"); /* 10 ms, queued after done */
    kube_queue_done(q, k);
    free(k);
    step_ms(9);
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_TIMEOUT);
    step_ms(1);
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_OK);
    kube_queue_done(q, k);
    free(k);
    struct kube_queue_metrics m;
    kube_queue_metrics(q, &m);
    assert_int_equal(m.retries, 2);
    assert_int_equal(kube_queue_num_requeues(q, "r"), 2);
    kube_queue_free(q);
}

static void test_real_clock_wait(void **state)
{
    struct kube_queue *q = NULL;
    assert_int_equal(kube_queue_new(NULL, &q, NULL), RETL_E_OK);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    kube_queue_add_after(q, "soon", 50);
    char *k = NULL;
    assert_int_equal(kube_queue_get(q, 2000, &k), RETL_E_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(ms >= 45 && ms < 1000);
    kube_queue_done(q, k);
    free(k);
    assert_int_equal(kube_queue_get(q, 30, &k), RETL_E_TIMEOUT);
    kube_queue_free(q);
}

static void test_shutdown_drains(void **state)
{
    struct kube_queue *q = new_queue(0, 0);
    char *k = NULL;
    kube_queue_add(q, "a");
    kube_queue_add(q, "b");
    kube_queue_add_after(q, "delayed", 100);
    kube_queue_shutdown(q);
    assert_true(kube_queue_shutting_down(q));
    kube_queue_add(q, "ignored");
    assert_int_equal(kube_queue_get(q, -1, &k), RETL_E_OK);
    assert_string_equal(k, "a");
    kube_queue_done(q, k);
    free(k);
    assert_int_equal(kube_queue_get(q, -1, &k), RETL_E_OK);
    assert_string_equal(k, "b");
    kube_queue_done(q, k);
    free(k);
    step_ms(200);
    assert_int_equal(kube_queue_get(q, -1, &k), RETL_E_CANCELLED);
    kube_queue_free(q);
}

struct holder {
    struct kube_queue *q;
    char *key;
};

static void *hold_then_done(void *arg)
{
    struct holder *h = arg;
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    kube_queue_done(h->q, h->key);
    return NULL;
}

static void test_shutdown_drain_waits_for_workers(void **state)
{
    struct kube_queue *q = NULL;
    assert_int_equal(kube_queue_new(NULL, &q, NULL), RETL_E_OK);
    char *k = NULL;
    kube_queue_add(q, "busy");
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_OK);
    /* A worker that never finishes: drain times out. */
    assert_int_equal(kube_queue_shutdown_drain(q, 50), RETL_E_TIMEOUT);
    struct holder h = {q, k};
    pthread_t th;
    pthread_create(&th, NULL, hold_then_done, &h);
    assert_int_equal(kube_queue_shutdown_drain(q, 5000), RETL_E_OK);
    pthread_join(th, NULL);
    free(k);
    struct kube_queue_metrics m;
    kube_queue_metrics(q, &m);
    assert_int_equal(m.processing, 0);
    assert_true(m.work_seconds_max >= 0.1);
    kube_queue_free(q);
}

static void test_metrics_latency(void **state)
{
    struct kube_queue *q = new_queue(0, 0);
    char *k = NULL;
    kube_queue_add(q, "m");
    step_ms(250);
    assert_int_equal(kube_queue_get(q, 0, &k), RETL_E_OK);
    step_ms(750);
    struct kube_queue_metrics m;
    kube_queue_metrics(q, &m);
    assert_int_equal(m.processing, 1);
    assert_true(m.longest_running_s > 0.74 && m.longest_running_s < 0.76);
    kube_queue_done(q, k);
    free(k);
    kube_queue_metrics(q, &m);
    assert_true(m.queue_seconds_sum > 0.24 && m.queue_seconds_sum < 0.26);
    assert_true(m.work_seconds_sum > 0.74 && m.work_seconds_sum < 0.76);
    kube_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_not_while_processing),
        cmocka_unit_test(test_no_concurrent_processing),
        cmocka_unit_test(test_backoff_5ms_to_1000s),
        cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_add_after),
        cmocka_unit_test(test_add_rate_limited),
        cmocka_unit_test(test_real_clock_wait),
        cmocka_unit_test(test_shutdown_drains),
        cmocka_unit_test(test_shutdown_drain_waits_for_workers),
        cmocka_unit_test(test_metrics_latency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
