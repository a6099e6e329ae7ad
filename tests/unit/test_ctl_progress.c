#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/ctl_progress.h"
#include "common/timestamp.h"

#define LINE(ph, ex, lo, el)                                                             \
    "{\"time\":\"2026-03-01T10:00:00Z\",\"level\":\"info\",\"msg\":\"progress\","        \
    "\"phase\":\"" ph "\",\"extracted\":" #ex ",\"delta\":7,\"loaded\":" #lo             \
    ",\"failed\":1,\"elapsedSeconds\":" #el "}\n"

static json_t *parse(const char *s)
{
    json_t *p = NULL;
    if (!ctl_progress_parse(s, strlen(s), &p))
        return NULL;
    return p;
}

static long long num(const json_t *p, const char *k)
{
    return json_integer_value(json_object_get(p, k));
}

static void test_last_progress_line_wins(void **state)
{
    (void)state;
    json_t *p =
        parse("{\"level\":\"info\",\"msg\":\"run started\"}\n" LINE("staging", 0, 0, 5.01)
                  LINE("loading", 500, 200, 10.04) "{\"msg\":\"batch loaded\"}\n");
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "phase")), "loading");
    assert_int_equal(num(p, "extracted"), 500);
    assert_int_equal(num(p, "delta"), 7);
    assert_int_equal(num(p, "loaded"), 200);
    assert_int_equal(num(p, "failed"), 1);
    assert_true(json_number_value(json_object_get(p, "elapsedSeconds")) == 10.0);
    assert_null(json_object_get(p, "msg"));
    assert_null(json_object_get(p, "time"));
    json_decref(p);
}

static void test_garbage_and_truncated_lines(void **state)
{
    (void)state;
    /* The last line has no newline (cut by limitBytes): not trusted. */
    json_t *p =
        parse(LINE("staging", 10, 0,
                   5) "not json at all\n"
                      "{\"msg\":\"progress\",\"phase\":\"lo\n"
                      "\x01\x02\xff{}\n" LINE("loading", 99, 1,
                                              9) "{\"msg\":\"progress\",\"extracted\":1");
    assert_non_null(p);
    assert_int_equal(num(p, "extracted"), 99);
    json_decref(p);

    /* A progress line that is not an object, wrong types, negative counts. */
    p = parse(
        "[\"msg\",\"progress\"]\n{\"msg\":\"progress\",\"phase\":3,\"extracted\":-4,"
        "\"loaded\":\"12\",\"failed\":2}\r\n");
    assert_non_null(p);
    assert_null(json_object_get(p, "phase"));
    assert_null(json_object_get(p, "extracted"));
    assert_null(json_object_get(p, "loaded"));
    assert_int_equal(num(p, "failed"), 2);
    json_decref(p);

    assert_null(parse(""));
    assert_null(parse("\n\n\n"));
    assert_null(parse("{\"msg\":\"progress\"")); /* no newline at all */
    assert_null(parse("{\"msg\":\"other\",\"extracted\":5}\n"));
    assert_null(parse("msg=progress phase=loading extracted=5\n"));
    json_t *x = NULL;
    assert_false(ctl_progress_parse(NULL, 0, &x));
    assert_null(x);
}

static void test_bounded_input(void **state)
{
    (void)state;
    /* A progress line followed by more than the window of other output: only
     * the last CTL_PROGRESS_MAX_INPUT bytes are looked at. */
    size_t big = CTL_PROGRESS_MAX_INPUT + 4096;
    char *s = malloc(big + 512);
    assert_non_null(s);
    size_t n = (size_t)snprintf(s, 512, "%s", LINE("loading", 1, 1, 1));
    while (n < big) {
        memcpy(s + n, "{\"msg\":\"noise\"}\n", 16);
        n += 16;
    }
    json_t *p = NULL;
    assert_false(ctl_progress_parse(s, n, &p));
    /* ... and one at the end of a long text is found. */
    n += (size_t)snprintf(s + n, 512, "%s", LINE("finishing", 3, 3, 42));
    assert_true(ctl_progress_parse(s, n, &p));
    assert_int_equal(num(p, "extracted"), 3);
    json_decref(p);

    /* A line over CTL_PROGRESS_MAX_LINE is skipped, the one before is used. */
    size_t llen = CTL_PROGRESS_MAX_LINE + 100;
    char *l = malloc(llen + 512);
    assert_non_null(l);
    n = (size_t)snprintf(l, 512, "%s{\"msg\":\"progress\",\"phase\":\"",
                         LINE("a", 5, 5, 5));
    memset(l + n, 'x', llen);
    n += llen;
    n += (size_t)snprintf(l + n, 512, "\",\"extracted\":6}\n");
    assert_true(ctl_progress_parse(l, n, &p));
    assert_int_equal(num(p, "extracted"), 5);
    json_decref(p);
    free(l);
    free(s);
}

static void test_due_and_changed(void **state)
{
    (void)state;
    time_t now = 0;
    assert_true(retl_time_parse("2026-03-01T10:00:20Z", &now));
    long wait = -1;
    assert_true(ctl_progress_due(NULL, now, &wait));
    assert_int_equal(wait, 0);
    json_t *old = json_pack("{s:s, s:I, s:s}", "phase", "loading", "extracted",
                            (json_int_t)5, "updateTime", "2026-03-01T10:00:14Z");
    assert_false(ctl_progress_due(old, now, &wait));
    assert_int_equal(wait, 4000);
    assert_true(ctl_progress_due(old, now + 4, &wait));
    assert_int_equal(wait, 0);
    /* A time in the future (clock skew between replicas) does not block. */
    assert_true(ctl_progress_due(old, now - 60, NULL));
    json_object_set_new(old, "updateTime", json_string("garbage"));
    assert_true(ctl_progress_due(old, now, NULL));

    json_t *same =
        json_pack("{s:s, s:I}", "phase", "loading", "extracted", (json_int_t)5);
    json_t *more =
        json_pack("{s:s, s:I}", "phase", "loading", "extracted", (json_int_t)6);
    assert_false(ctl_progress_changed(old, same));
    assert_true(ctl_progress_changed(old, more));
    assert_true(ctl_progress_changed(NULL, same));
    assert_string_equal(json_string_value(json_object_get(old, "updateTime")), "garbage");
    json_decref(old);
    json_decref(same);
    json_decref(more);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_progress_line_wins),
        cmocka_unit_test(test_garbage_and_truncated_lines),
        cmocka_unit_test(test_bounded_input),
        cmocka_unit_test(test_due_and_changed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
