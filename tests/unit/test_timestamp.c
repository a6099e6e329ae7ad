#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/timestamp.h"

#define T0 ((time_t)1767323045) /* 2026-01-02T03:04:05Z */

static void test_format(void **state)
{
    char buf[RETL_TIME_LEN];
    assert_string_equal(retl_time_fmt(T0, buf, sizeof buf), "2026-01-02T03:04:05Z");
    assert_string_equal(retl_time_fmt(0, buf, sizeof buf), "1970-01-01T00:00:00Z");
    struct timespec ts = {.tv_sec = T0, .tv_nsec = 123456789};
    assert_string_equal(retl_time_fmt_ts(&ts, 3, buf, sizeof buf),
                        "2026-01-02T03:04:05.123Z");
    assert_string_equal(retl_time_fmt_ts(&ts, 6, buf, sizeof buf),
                        "2026-01-02T03:04:05.123456Z");
    ts.tv_nsec = 5000; /* leading zeros kept */
    assert_string_equal(retl_time_fmt_ts(&ts, 6, buf, sizeof buf),
                        "2026-01-02T03:04:05.000005Z");
    /* Too small a buffer gives "", never half a time stamp. */
    char small[21];
    assert_string_equal(retl_time_fmt(T0, small, sizeof small), "2026-01-02T03:04:05Z");
    assert_string_equal(retl_time_fmt_ts(&ts, 3, small, sizeof small), "");
    assert_string_equal(retl_time_fmt(T0, small, 10), "");
    retl_time_now_micro(buf, sizeof buf);
    assert_int_equal(strlen(buf), 27);
    assert_int_equal(buf[19], '.');
    assert_int_equal(buf[26], 'Z');
}

static void test_parse(void **state)
{
    time_t t = 0;
    assert_true(retl_time_parse("2026-01-02T03:04:05Z", &t));
    assert_int_equal(t, T0);
    assert_true(retl_time_parse("2026-01-02T03:04:05.999999Z", &t));
    assert_int_equal(t, T0);
    assert_true(retl_time_parse("2026-01-02T05:04:05+02:00", &t));
    assert_int_equal(t, T0);
    assert_true(retl_time_parse("2026-01-01T23:34:05-03:30", &t));
    assert_int_equal(t, T0);

    double d = 0;
    assert_true(retl_time_parse_real("2026-01-02T03:04:05.25Z", &d));
    assert_true(d == (double)T0 + 0.25);
    assert_true(retl_time_parse_real("2026-01-02T04:04:05.5+01:00", &d));
    assert_true(d == (double)T0 + 0.5);

    /* Malformed: nothing is written. */
    const char *bad[] = {"",
                         "2026-01-02",
                         "2026-01-02T03:04:05",
                         "2026-01-02T03:04:05Zx",
                         "2026-01-02T03:04:05+1:2",
                         "2026-01-02T03:04:05+01",
                         "2026-01-02T03:04:05+01:00x",
                         "2026-01-02 03:04:05Z",
                         "yesterday"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = 42;
        d = 42;
        assert_false(retl_time_parse(bad[i], &t));
        assert_false(retl_time_parse_real(bad[i], &d));
        assert_int_equal(t, 42);
        assert_true(d == 42);
    }
    assert_false(retl_time_parse(NULL, &t));
    assert_false(retl_time_parse_real(NULL, &d));
}

static void test_round_trip(void **state)
{
    char buf[RETL_TIME_LEN];
    for (time_t t = 0; t < (time_t)4102444800; t += 86399 * 37) {
        time_t back = -1;
        assert_true(retl_time_parse(retl_time_fmt(t, buf, sizeof buf), &back));
        assert_int_equal(back, t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
