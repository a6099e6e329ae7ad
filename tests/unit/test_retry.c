/* common/retry.c: the one retry/backoff policy (attempts, steps, jitter kinds,
 * Retry-After and its cap, what is worth another try). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <time.h>

#include "common/retry.h"

static void test_attempts(void **state)
{
    struct retl_retry p = {.max_attempts = 3};
    assert_true(retl_retry_more(&p, 1));
    assert_true(retl_retry_more(&p, 2));
    assert_false(retl_retry_more(&p, 3));
    p.max_attempts = 1; /* no retry */
    assert_false(retl_retry_more(&p, 1));
}

static void test_steps_and_jitter(void **state)
{
    struct retl_retry p = {.base_ms = 500, .max_ms = 20000, .jitter = RETL_JITTER_NONE};
    long want[] = {500, 1000, 2000, 4000, 8000, 16000, 20000, 20000};
    for (int i = 0; i < 8; i++)
        assert_int_equal(retl_retry_backoff_ms(&p, i + 1, 0.99), want[i]);
    p.jitter = RETL_JITTER_FULL; /* [0, step] */
    assert_int_equal(retl_retry_backoff_ms(&p, 3, 0.0), 0);
    assert_int_equal(retl_retry_backoff_ms(&p, 3, 0.5), 1000);
    assert_true(retl_retry_backoff_ms(&p, 3, 0.999999) <= 2000);
    p.jitter = RETL_JITTER_EQUAL; /* [step/2, step] */
    assert_int_equal(retl_retry_backoff_ms(&p, 3, 0.0), 1000);
    assert_int_equal(retl_retry_backoff_ms(&p, 3, 0.999999), 2000);
    assert_int_equal(retl_retry_backoff_ms(&p, 9, 0.0), 10000);
}

static void test_retry_after(void **state)
{
    struct retl_retry p = {.base_ms = 1000, .max_ms = 1000, .jitter = RETL_JITTER_NONE};
    assert_int_equal(retl_retry_delay_ms(&p, 1, 0, -1), 1000);  /* none: the backoff */
    assert_int_equal(retl_retry_delay_ms(&p, 1, 0, 500), 1000); /* shorter: the backoff */
    assert_int_equal(retl_retry_delay_ms(&p, 1, 0, 7000),
                     7000); /* longer: the server's */
    assert_int_equal(retl_retry_delay_ms(&p, 1, 0, 900000), 300000); /* default cap */
    p.max_wait_ms = 10000;
    assert_int_equal(retl_retry_delay_ms(&p, 1, 0, 60000), 10000);

    long now = 1767225600; /* Thu, 01 Jan 2026 00:00:00 GMT */
    assert_int_equal(retl_retry_after_parse("3", now), 3000);
    assert_int_equal(retl_retry_after_parse(" 0 \r\n", now), 0);
    assert_int_equal(retl_retry_after_parse("100000", now), RETL_RETRY_AFTER_MAX_MS);
    assert_int_equal(retl_retry_after_parse("Thu, 01 Jan 2026 00:00:30 GMT", now), 30000);
    assert_int_equal(retl_retry_after_parse("Wed, 31 Dec 2025 00:00:00 GMT", now), 0);
    assert_int_equal(retl_retry_after_parse("soon", now), -1);
    assert_int_equal(retl_retry_after_parse("5s", now), -1);
    assert_int_equal(retl_retry_after_parse(NULL, now), -1);
}

static void test_what_is_retried(void **state)
{
    assert_true(retl_retry_status(429));
    assert_true(retl_retry_status(503));
    assert_false(retl_retry_status(500));
    assert_false(retl_retry_status(404));
    assert_true(
        retl_retry_transport(CURLE_COULDNT_CONNECT, false)); /* nothing was sent */
    assert_true(retl_retry_transport(CURLE_COULDNT_RESOLVE_HOST, false));
    assert_false(retl_retry_transport(CURLE_OPERATION_TIMEDOUT, false));
    assert_true(retl_retry_transport(CURLE_OPERATION_TIMEDOUT, true));
    assert_true(retl_retry_transport(CURLE_GOT_NOTHING, true));
    assert_false(retl_retry_transport(CURLE_PEER_FAILED_VERIFICATION, true));
}

static void test_rand_and_sleep(void **state)
{
    unsigned seed = 7;
    for (int i = 0; i < 1000; i++) {
        double r = retl_retry_rand(&seed);
        assert_true(r >= 0.0 && r < 1.0);
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    retl_sleep_ms(-5);
    retl_sleep_ms(0);
    retl_sleep_ms(20);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (long)((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000);
    assert_true(ms >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attempts),       cmocka_unit_test(test_steps_and_jitter),
        cmocka_unit_test(test_retry_after),    cmocka_unit_test(test_what_is_retried),
        cmocka_unit_test(test_rand_and_sleep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
