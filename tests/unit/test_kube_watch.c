#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/kube_status.h"
#include "controller/kube/kube_watch.h"

struct seen {
    int n;
    enum kube_watch_type types[16];
    char names[16][64];
    retl_err fail_with; /* returned by the callback when set */
};

static retl_err on_event(void *ud, enum kube_watch_type t, json_t *obj,
                         struct retl_errbuf *eb)
{
    struct seen *s = ud;
    if (s->fail_with)
        return retl_errf(eb, s->fail_with, "callback refused");
    if (s->n < 16) {
        s->types[s->n] = t;
        const char *name =
            json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
        snprintf(s->names[s->n], sizeof s->names[0], "%s", name ? name : "");
    }
    s->n++;
    return RETL_E_OK;
}

static const char *stream =
    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":"
    "\"1\"}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":"
    "\"2\"}}}\r\n"
    "\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"3\"}}}\n"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":"
    "\"4\"}}}\n";

static void check_stream(const struct seen *s)
{
    assert_int_equal(s->n, 4);
    assert_int_equal(s->types[0], KUBE_WATCH_ADDED);
    assert_int_equal(s->types[1], KUBE_WATCH_MODIFIED);
    assert_int_equal(s->types[2], KUBE_WATCH_BOOKMARK);
    assert_int_equal(s->types[3], KUBE_WATCH_DELETED);
    assert_string_equal(s->names[3], "a");
}

static void test_whole_stream(void **state)
{
    struct seen s = {0};
    struct kube_watch_parser p;
    kube_watch_parser_init(&p, 0, on_event, &s);
    assert_int_equal(kube_watch_feed(&p, stream, strlen(stream), NULL), RETL_E_OK);
    assert_int_equal(kube_watch_finish(&p, NULL), RETL_E_OK);
    check_stream(&s);
    assert_int_equal(p.events, 4);
    kube_watch_parser_free(&p);
}

static void test_split_anywhere(void **state)
{
    /* Every chunking of the stream into two pieces, and byte by byte. */
    size_t len = strlen(stream);
    for (size_t cut = 0; cut <= len; cut++) {
        struct seen s = {0};
        struct kube_watch_parser p;
        kube_watch_parser_init(&p, 0, on_event, &s);
        assert_int_equal(kube_watch_feed(&p, stream, cut, NULL), RETL_E_OK);
        assert_int_equal(kube_watch_feed(&p, stream + cut, len - cut, NULL), RETL_E_OK);
        assert_int_equal(kube_watch_finish(&p, NULL), RETL_E_OK);
        check_stream(&s);
        kube_watch_parser_free(&p);
    }
    struct seen s = {0};
    struct kube_watch_parser p;
    kube_watch_parser_init(&p, 0, on_event, &s);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(kube_watch_feed(&p, stream + i, 1, NULL), RETL_E_OK);
    check_stream(&s);
    kube_watch_parser_free(&p);
}

static void test_garbage_line(void **state)
{
    struct seen s = {0};
    struct retl_errbuf eb = {{0}};
    struct kube_watch_parser p;
    kube_watch_parser_init(&p, 0, on_event, &s);
    const char *bad = "this is not json\n";
    assert_int_equal(kube_watch_feed(&p, bad, strlen(bad), &eb), RETL_E_PARSE);
    assert_non_null(strstr(eb.msg, "watch event"));
    /* The parser is reset and usable for the next stream. */
    assert_int_equal(kube_watch_feed(&p, stream, strlen(stream), NULL), RETL_E_OK);
    check_stream(&s);
    kube_watch_parser_free(&p);
}

static void test_malformed_events(void **state)
{
    static const char *const bad[] = {
        "{\"type\":\"ADDED\"}\n",                  /* no object */
        "{\"object\":{}}\n",                       /* no type */
        "{\"type\":\"EXPLODED\",\"object\":{}}\n", /* unknown type */
        "{\"type\":\"ADDED\",\"object\":[1]}\n",   /* object not an object */
        "[]\n",                                    /* not an object */
        "{\"type\":\"ADDED\",\"type\":\"DELETED\",\"object\":{}}\n", /* duplicate keys */
        "{\"type\":\"ADDED\",\"object\":{}} trailing\n",
        "\x01\x02\xff\xfe\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct seen s = {0};
        struct kube_watch_parser p;
        kube_watch_parser_init(&p, 0, on_event, &s);
        assert_int_equal(kube_watch_feed(&p, bad[i], strlen(bad[i]), NULL), RETL_E_PARSE);
        assert_int_equal(s.n, 0);
        kube_watch_parser_free(&p);
    }
}

static void test_truncated_stream(void **state)
{
    struct seen s = {0};
    struct retl_errbuf eb = {{0}};
    struct kube_watch_parser p;
    kube_watch_parser_init(&p, 0, on_event, &s);
    const char *cut = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
                      "{\"type\":\"MODIFIED\",\"object\":{\"metad";
    assert_int_equal(kube_watch_feed(&p, cut, strlen(cut), NULL), RETL_E_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(kube_watch_finish(&p, &eb), RETL_E_PARSE);
    assert_non_null(strstr(eb.msg, "truncated"));
    assert_int_equal(s.n, 1);
    /* A last event missing only its newline is complete. */
    const char *nonl = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\"}}}";
    assert_int_equal(kube_watch_feed(&p, nonl, strlen(nonl), NULL), RETL_E_OK);
    assert_int_equal(kube_watch_finish(&p, NULL), RETL_E_OK);
    assert_int_equal(s.n, 2);
    kube_watch_parser_free(&p);
}

static void test_oversize(void **state)
{
    struct seen s = {0};
    struct retl_errbuf eb = {{0}};
    struct kube_watch_parser p;
    kube_watch_parser_init(&p, 64, on_event, &s);
    char big[200];
    memset(big, 'x', sizeof big);
    /* Accumulated across pieces without a newline. */
    assert_int_equal(kube_watch_feed(&p, big, 50, NULL), RETL_E_OK);
    assert_int_equal(kube_watch_feed(&p, big, 50, &eb), RETL_E_TOO_BIG);
    assert_non_null(strstr(eb.msg, "64 bytes"));
    assert_int_equal(p.line.len, 0);
    /* A whole oversize line in one piece. */
    big[150] = '\n';
    assert_int_equal(kube_watch_feed(&p, big, 151, NULL), RETL_E_TOO_BIG);
    /* A line of exactly the bound is fine. */
    const char *ok = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"n\"}}}\n";
    assert_true(strlen(ok) - 1 <= 64);
    assert_int_equal(kube_watch_feed(&p, ok, strlen(ok), NULL), RETL_E_OK);
    assert_int_equal(s.n, 1);
    kube_watch_parser_free(&p);
}

static void test_callback_error_and_error_event(void **state)
{
    struct seen s = {.fail_with = RETL_E_GONE};
    struct kube_watch_parser p;
    kube_watch_parser_init(&p, 0, on_event, &s);
    assert_int_equal(kube_watch_feed(&p, stream, strlen(stream), NULL), RETL_E_GONE);
    kube_watch_parser_free(&p);

    const char *line =
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":"
        "\"v1\",\"status\":\"Failure\",\"message\":\"too old resource "
        "version: 5 (90)\",\"reason\":\"Expired\",\"code\":410}}";
    enum kube_watch_type t;
    json_t *obj = NULL;
    assert_int_equal(kube_watch_parse_line(line, strlen(line), &t, &obj, NULL),
                     RETL_E_OK);
    assert_int_equal(t, KUBE_WATCH_ERROR);
    struct retl_errbuf eb = {{0}};
    assert_int_equal(kube_status_from_json(0, obj, NULL, NULL, &eb), RETL_E_GONE);
    assert_non_null(strstr(eb.msg, "too old resource version"));
    json_decref(obj);
    assert_string_equal(kube_watch_type_name(KUBE_WATCH_BOOKMARK), "BOOKMARK");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_stream),
        cmocka_unit_test(test_split_anywhere),
        cmocka_unit_test(test_garbage_line),
        cmocka_unit_test(test_malformed_events),
        cmocka_unit_test(test_truncated_stream),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_callback_error_and_error_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
