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

/* Issue 16 item 8: the schedule never touches the process environment
 * (setenv("TZ") races with getenv on other threads). These definitions take
 * the place of libc's for the whole test binary. */
static int env_writes;
int setenv(const char *name, const char *value, int overwrite)
{
    (void)name, (void)value, (void)overwrite;
    env_writes++;
    return 0;
}
int unsetenv(const char *name)
{
    (void)name;
    env_writes++;
    return 0;
}

static void test_no_environment_writes(void **state)
{
    env_writes = 0;
    next("0 9 * * *", "Europe/Berlin", utc(2026, 1, 10, 12, 0));
    next("*/5 * * * *", "America/New_York", utc(2026, 3, 8, 6, 0));
    next("0 0 * * *", NULL, utc(2026, 3, 8, 6, 0));
    assert_int_equal(env_writes, 0);
}

/* Across DST transitions: a wall-clock time in a spring-forward gap does not
 * exist (that day is skipped), one in a fall-back fold happens twice, as in
 * Kubernetes CronJob; every-N-minutes schedules keep real-time spacing. */
static void test_dst_transitions(void **state)
{
    /* Berlin 2026-03-29: 02:00 CET -> 03:00 CEST (01:00Z) */
    assert_int_equal(next("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12, 0)),
                     utc(2026, 3, 30, 0, 30));
    assert_int_equal(next("0 3 * * *", "Europe/Berlin", utc(2026, 3, 28, 12, 0)),
                     utc(2026, 3, 29, 1, 0));
    assert_int_equal(next("*/30 * * * *", "Europe/Berlin", utc(2026, 3, 29, 0, 45)),
                     utc(2026, 3, 29, 1, 0));
    /* Berlin 2026-10-25: 03:00 CEST -> 02:00 CET (01:00Z); 02:30 twice */
    assert_int_equal(next("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12, 0)),
                     utc(2026, 10, 25, 0, 30));
    assert_int_equal(next("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 0, 30)),
                     utc(2026, 10, 25, 1, 30));
    assert_int_equal(next("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 1, 30)),
                     utc(2026, 10, 26, 1, 30));
    assert_int_equal(next("0 * * * *", "Europe/Berlin", utc(2026, 10, 25, 0, 0)),
                     utc(2026, 10, 25, 1, 0));
    /* New York 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z); 11-01 fold at 06:00Z */
    assert_int_equal(next("0 9 * * *", "America/New_York", utc(2026, 3, 7, 15, 0)),
                     utc(2026, 3, 8, 13, 0));
    assert_int_equal(next("15 1 * * *", "America/New_York", utc(2026, 11, 1, 5, 15)),
                     utc(2026, 11, 1, 6, 15));
    /* Sydney (southern hemisphere): AEDT (+11) until 2026-04-05 03:00 local */
    assert_int_equal(next("0 12 * * *", "Australia/Sydney", utc(2026, 4, 3, 12, 0)),
                     utc(2026, 4, 4, 1, 0));
    assert_int_equal(next("0 12 * * *", "Australia/Sydney", utc(2026, 4, 4, 12, 0)),
                     utc(2026, 4, 5, 2, 0));
    /* Lord Howe: a 30-minute DST shift; India: no DST, +05:30 */
    assert_int_equal(next("0 12 * * *", "Asia/Kolkata", utc(2026, 6, 1, 0, 0)),
                     utc(2026, 6, 1, 6, 30));
    assert_int_equal(next("0 12 * * *", "Australia/Lord_Howe", utc(2026, 1, 10, 0, 0)),
                     utc(2026, 1, 10, 1, 0));
    assert_int_equal(next("0 12 * * *", "Australia/Lord_Howe", utc(2026, 7, 10, 0, 0)),
                     utc(2026, 7, 10, 1, 30));
    /* past the file's last transition: the footer's POSIX rule (2040) */
    assert_int_equal(next("0 9 * * *", "Europe/Berlin", utc(2040, 7, 1, 12, 0)),
                     utc(2040, 7, 2, 7, 0));
    assert_int_equal(next("0 9 * * *", "Europe/Berlin", utc(2040, 12, 1, 12, 0)),
                     utc(2040, 12, 2, 8, 0));
    /* an unknown or hostile zone name reads as UTC, never a file outside */
    assert_int_equal(next("0 9 * * *", "../../etc/passwd", utc(2026, 1, 10, 12, 0)),
                     utc(2026, 1, 11, 9, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_30_minutes),
        cmocka_unit_test(test_fields_names_ranges_lists),
        cmocka_unit_test(test_time_zone),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_no_environment_writes),
        cmocka_unit_test(test_dst_transitions),
    };
    return cmocka_run_group_tests_name("cron", tests, NULL, NULL);
}
