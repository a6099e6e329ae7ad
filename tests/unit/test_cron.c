#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include "common/cron.h"

static time_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return timegm(&tm);
}

static time_t next(const char *expr, const char *tz, time_t after)
{
    struct retl_cron c;
    struct retl_errbuf eb = {{0}};
    if (retl_cron_parse(expr, &c, &eb))
        fail_msg("%s: %s", expr, eb.msg);
    return retl_cron_next(&c, tz, after);
}

static void test_every_30_minutes(void **state)
{
    assert_int_equal(next("*/30 * * * *", "UTC", utc(2026, 1, 1, 10, 0)),
                     utc(2026, 1, 1, 10, 30));
    assert_int_equal(next("*/30 * * * *", "UTC", utc(2026, 1, 1, 10, 29)),
                     utc(2026, 1, 1, 10, 30));
    assert_int_equal(next("*/30 * * * *", "UTC", utc(2026, 1, 1, 23, 45)),
                     utc(2026, 1, 2, 0, 0));
    assert_int_equal(next("* * * * *", "UTC", utc(2026, 1, 1, 10, 0) + 5),
                     utc(2026, 1, 1, 10, 1));
}

static void test_fields_names_ranges_lists(void **state)
{
    /* 9:15 on weekdays */
    assert_int_equal(next("15 9 * * MON-FRI", "UTC", utc(2026, 11, 27, 10, 0)),
                     utc(2026, 11, 30, 9, 15)); /* Fri after 9:15 -> Mon */
    assert_int_equal(next("0 0 1 JAN,jul *", "UTC", utc(2026, 2, 1, 0, 0)),
                     utc(2026, 7, 1, 0, 0));
    assert_int_equal(next("@daily", "UTC", utc(2026, 2, 1, 0, 0)), utc(2026, 2, 2, 0, 0));
    /* day-of-month OR day-of-week when both restricted */
    assert_int_equal(next("0 0 13 * 5", "UTC", utc(2026, 11, 1, 0, 0)),
                     utc(2026, 11, 6, 0, 0));
    assert_int_equal(next("0 0 29 2 *", "UTC", utc(2026, 3, 1, 0, 0)),
                     utc(2028, 2, 29, 0, 0));
    assert_int_equal(next("0 12 * * 7", "UTC", utc(2026, 11, 24, 0, 0)),
                     utc(2026, 11, 29, 12, 0));
}

static void test_time_zone(void **state)
{
    /* 09:00 in Berlin (UTC+1 in winter, +2 in summer) */
    assert_int_equal(next("0 9 * * *", "Europe/Berlin", utc(2026, 1, 10, 12, 0)),
                     utc(2026, 1, 11, 8, 0));
    assert_int_equal(next("0 9 * * *", "Europe/Berlin", utc(2026, 7, 10, 12, 0)),
                     utc(2026, 7, 11, 7, 0));
    /* the caller's TZ is restored */
    assert_null(getenv("TZ"));
}

static void expect_bad(const char *expr, const char *needle)
{
    struct retl_cron c;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(retl_cron_parse(expr, &c, &eb), RETL_E_PARSE);
    if (!strstr(eb.msg, needle))
        fail_msg("%s: message \"%s\" lacks \"%s\"", expr, eb.msg, needle);
}

static void test_rejects(void **state)
{
    expect_bad("* * * *", "expected 5 fields");
    expect_bad("0 * * * * *", "found 6");
    expect_bad("60 * * * *", "minute");
    expect_bad("* 24 * * *", "hour");
    expect_bad("* * 0 * *", "day of month");
    expect_bad("* * * 13 *", "month");
    expect_bad("* * * * 8", "day of week");
    expect_bad("*/0 * * * *", "minute");
    expect_bad("5-1 * * * *", "minute");
    expect_bad("1,,2 * * * *", "minute");
    expect_bad("TZ=UTC * * * * *", "TZ=");
    expect_bad("@sometimes", "unknown macro");
    expect_bad("", "expected 5 fields");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_30_minutes),
        cmocka_unit_test(test_fields_names_ranges_lists),
        cmocka_unit_test(test_time_zone),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests_name("cron", tests, NULL, NULL);
}
