/* The rolling-window limiter of the HTTP destinations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/dest/ratelimit.h"

static void test_unlimited(void **state)
{
    (void)state;
    struct eng_ratelimit rl;
    assert_int_equal(eng_ratelimit_init(&rl, 0, 1000, 0), RETL_E_OK);
    for (int i = 0; i < 1000; i++)
        eng_ratelimit_acquire(&rl);
    assert_int_equal(eng_ratelimit_wait_ms(&rl, eng_ratelimit_now()), 0);
    eng_ratelimit_free(&rl);
}

static void test_window(void **state)
{
    (void)state;
    struct eng_ratelimit rl;
    assert_int_equal(eng_ratelimit_init(&rl, 3, 10000, 30), RETL_E_OK);
    double t0 = eng_ratelimit_now();
    for (int i = 0; i < 3; i++)
        eng_ratelimit_acquire(&rl);
    /* The fourth call waits for the first to leave the window (+ margin). */
    long w = eng_ratelimit_wait_ms(&rl, t0);
    assert_true(w > 9900 && w <= 10031);
    assert_true(eng_ratelimit_wait_ms(&rl, t0 + 10.1) == 0);
    eng_ratelimit_free(&rl);
}

static void test_note_used_and_set(void **state)
{
    (void)state;
    struct eng_ratelimit rl;
    assert_int_equal(eng_ratelimit_init(&rl, 0, 10000, 0), RETL_E_OK);
    eng_ratelimit_acquire(&rl); /* before the limit was known: not on record */
    assert_int_equal(eng_ratelimit_set(&rl, 2, 10000), RETL_E_OK);
    double now = eng_ratelimit_now();
    assert_int_equal(eng_ratelimit_wait_ms(&rl, now), 0);
    /* The server says 2 of 2 are used: the next call must wait. */
    eng_ratelimit_note_used(&rl, 2);
    assert_true(eng_ratelimit_wait_ms(&rl, now) > 9000);
    /* A stale, lower figure never frees slots. */
    eng_ratelimit_note_used(&rl, 0);
    assert_true(eng_ratelimit_wait_ms(&rl, now) > 9000);
    /* Raising the limit keeps the history and frees the new slots. */
    assert_int_equal(eng_ratelimit_set(&rl, 5, 10000), RETL_E_OK);
    assert_int_equal(eng_ratelimit_wait_ms(&rl, now), 0);
    assert_int_equal(eng_ratelimit_set(&rl, -1, 10000), RETL_E_INVALID);
    eng_ratelimit_free(&rl);
}

static void test_block(void **state)
{
    (void)state;
    struct eng_ratelimit rl;
    assert_int_equal(eng_ratelimit_init(&rl, 0, 1000, 0), RETL_E_OK);
    eng_ratelimit_block(&rl, 2000);
    long w = eng_ratelimit_wait_ms(&rl, eng_ratelimit_now());
    assert_true(w > 1900 && w <= 2000);
    eng_ratelimit_free(&rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unlimited),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_note_used_and_set),
        cmocka_unit_test(test_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
