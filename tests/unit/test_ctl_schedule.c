#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "controller/ctl_schedule.h"
#include "common/timestamp.h"

static time_t at(const char *s)
{
    time_t t = 0;
    if (!retl_time_parse(s, &t))
        fail_msg("bad time %s", s);
    return t;
}

static struct ctl_sched_out decide(const char *expr, const char *tz, const char *created,
                                   const char *last, const char *now, long long deadline)
{
    struct retl_cron c;
    struct retl_errbuf eb = {{0}};
    if (retl_cron_parse(expr, &c, &eb))
        fail_msg("%s: %s", expr, eb.msg);
    struct ctl_sched_in in = {.cron = &c,
                              .tz = tz,
                              .now = at(now),
                              .last_schedule = last ? at(last) : 0,
                              .created = at(created),
                              .starting_deadline = deadline};
    struct ctl_sched_out out;
    ctl_schedule_decide(&in, &out);
    return out;
}

static void test_first_slot_after_creation(void **state)
{
    struct ctl_sched_out o = decide("* * * * *", "UTC", "2026-03-01T10:00:30Z", NULL,
                                    "2026-03-01T10:01:05Z", -1);
    assert_int_equal(o.due, at("2026-03-01T10:01:00Z"));
    assert_int_equal(o.missed, 1);
    assert_false(o.too_many);
    assert_int_equal(o.next, at("2026-03-01T10:02:00Z"));
}

static void test_nothing_due_before_first_slot(void **state)
{
    struct ctl_sched_out o = decide("* * * * *", "UTC", "2026-03-01T10:00:30Z", NULL,
                                    "2026-03-01T10:00:50Z", -1);
    assert_int_equal(o.due, 0);
    assert_int_equal(o.missed, 0);
    assert_int_equal(o.next, at("2026-03-01T10:01:00Z"));
}

static void test_slot_already_handled(void **state)
{
    struct ctl_sched_out o = decide("* * * * *", "UTC", "2026-03-01T09:00:00Z",
                                    "2026-03-01T10:01:00Z", "2026-03-01T10:01:30Z", -1);
    assert_int_equal(o.due, 0);
    assert_int_equal(o.next, at("2026-03-01T10:02:00Z"));
}

static void test_only_most_recent_missed_slot_runs(void **state)
{
    struct ctl_sched_out o = decide("*/5 * * * *", "UTC", "2026-03-01T09:00:00Z",
                                    "2026-03-01T10:00:00Z", "2026-03-01T10:17:00Z", -1);
    assert_int_equal(o.due, at("2026-03-01T10:15:00Z"));
    assert_int_equal(o.missed, 3);
    assert_int_equal(o.next, at("2026-03-01T10:20:00Z"));
}

static void test_starting_deadline(void **state)
{
    /* 10:15 is 120 s late: a 60 s deadline skips it, 180 s runs it. */
    struct ctl_sched_out o = decide("*/5 * * * *", "UTC", "2026-03-01T09:00:00Z",
                                    "2026-03-01T10:00:00Z", "2026-03-01T10:17:00Z", 60);
    assert_int_equal(o.due, 0);
    assert_int_equal(o.next, at("2026-03-01T10:20:00Z"));
    o = decide("*/5 * * * *", "UTC", "2026-03-01T09:00:00Z", "2026-03-01T10:00:00Z",
               "2026-03-01T10:17:00Z", 180);
    assert_int_equal(o.due, at("2026-03-01T10:15:00Z"));
    assert_int_equal(o.missed, 1);
}

static void test_too_many_missed(void **state)
{
    struct ctl_sched_out o = decide("* * * * *", "UTC", "2026-03-01T00:00:00Z",
                                    "2026-03-01T07:00:00Z", "2026-03-01T10:00:30Z", -1);
    assert_true(o.too_many);
    assert_true(o.missed > CTL_MAX_MISSED);
    assert_int_equal(o.due, at("2026-03-01T10:00:00Z"));
    /* A sparse schedule missed for a month: still the latest slot. */
    o = decide("0 * * * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z",
               "2026-02-10T10:30:00Z", -1);
    assert_true(o.too_many);
    assert_int_equal(o.due, at("2026-02-10T10:00:00Z"));
    assert_int_equal(o.next, at("2026-02-10T11:00:00Z"));
}

static void test_time_zones(void **state)
{
    /* 09:00 in Berlin is 08:00 UTC in winter (CET), 07:00 UTC in summer. */
    struct ctl_sched_out o = decide("0 9 * * *", "Europe/Berlin", "2026-01-14T12:00:00Z",
                                    NULL, "2026-01-15T08:30:00Z", -1);
    assert_int_equal(o.due, at("2026-01-15T08:00:00Z"));
    assert_int_equal(o.next, at("2026-01-16T08:00:00Z"));
    o = decide("0 9 * * *", "Europe/Berlin", "2026-07-14T12:00:00Z", NULL,
               "2026-07-15T07:30:00Z", -1);
    assert_int_equal(o.due, at("2026-07-15T07:00:00Z"));
    o = decide("0 9 * * *", "America/New_York", "2026-07-15T00:00:00Z", NULL,
               "2026-07-15T12:59:00Z", -1);
    assert_int_equal(o.due, 0);
    assert_int_equal(o.next, at("2026-07-15T13:00:00Z"));
}

static void test_requeue(void **state)
{
    assert_int_equal(ctl_schedule_requeue_ms(1000, 1010), 10100);
    assert_int_equal(ctl_schedule_requeue_ms(1000, 1000), 100);
    assert_int_equal(ctl_schedule_requeue_ms(1000, 900), 100);
}

static void test_time_parse(void **state)
{
    time_t t;
    char buf[RETL_TIME_LEN];
    assert_true(retl_time_parse("2026-03-01T10:00:00Z", &t));
    assert_string_equal(retl_time_fmt(t, buf, sizeof buf), "2026-03-01T10:00:00Z");
    assert_true(retl_time_parse("2026-03-01T11:00:00.123+01:00", &t));
    assert_string_equal(retl_time_fmt(t, buf, sizeof buf), "2026-03-01T10:00:00Z");
    assert_false(retl_time_parse("yesterday", &t));
    assert_false(retl_time_parse(NULL, &t));
    assert_false(retl_time_parse("2026-03-01T10:00:00", &t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_slot_after_creation),
        cmocka_unit_test(test_nothing_due_before_first_slot),
        cmocka_unit_test(test_slot_already_handled),
        cmocka_unit_test(test_only_most_recent_missed_slot_runs),
        cmocka_unit_test(test_starting_deadline),
        cmocka_unit_test(test_too_many_missed),
        cmocka_unit_test(test_time_zones),
        cmocka_unit_test(test_requeue),
        cmocka_unit_test(test_time_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
