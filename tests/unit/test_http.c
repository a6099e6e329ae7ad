/* The HTTP client against a real local server (libmicrohttpd) started here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/http.h"

static struct MHD_Daemon *daemon_;
static unsigned short port;
static atomic_int flaky_calls;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status,
                             const char *body, const char *hname, const char *hval)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    if (hname)
        MHD_add_response_header(r, hname, hval);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version,
                               const char *upload, size_t *upload_size, void **ctx)
{
    if (!*ctx) { /* first call: headers only */
        *ctx = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* echo handler reads the body below */
        return MHD_YES;
    }
    if (strcmp(url, "/flaky") == 0) {
        if (atomic_fetch_add(&flaky_calls, 1) == 0)
            return reply(c, 503, "busy", "Retry-After", "1");
        return reply(c, 200, "ok", "X-Test", "yes");
    }
    if (strcmp(url, "/always503") == 0)
        return reply(c, 503, "down", NULL, NULL);
    if (strcmp(url, "/notfound") == 0)
        return reply(c, 404, "{\"error\":\"nope\"}", "Content-Type", "application/json");
    if (strcmp(url, "/big") == 0) {
        static char big[2 * 1024 * 1024];
        memset(big, 'x', sizeof big - 1);
        return reply(c, 200, big, NULL, NULL);
    }
    if (strcmp(url, "/slow") == 0) {
        usleep(1500 * 1000);
        return reply(c, 200, "late", NULL, NULL);
    }
    if (strcmp(url, "/method") == 0) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Req");
        char body[128];
        snprintf(body, sizeof body, "%s %s", method, h ? h : "-");
        return reply(c, 200, body, NULL, NULL);
    }
    return reply(c, 500, "?", NULL, NULL);
}

static int setup(void **state)
{
    daemon_ =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                         0, NULL, NULL, handler, NULL, MHD_OPTION_END);
    assert_non_null(daemon_);
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    port = info->port;
    return 0;
}

static int teardown(void **state)
{
    MHD_stop_daemon(daemon_);
    return 0;
}

static struct retl_http_client *client(long timeout_ms, int attempts, size_t max_body)
{
    struct retl_http_opts o = {.timeout_ms = timeout_ms,
                               .max_attempts = attempts,
                               .backoff_base_ms = 10,
                               .max_body = max_body};
    struct retl_http_client *c = NULL;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(retl_http_client_new(&o, &c, &eb), RETL_E_OK);
    return c;
}

static void url(char *out, size_t n, const char *path)
{
    snprintf(out, n, "http://127.0.0.1:%u%s", port, path);
}

static void test_503_then_200_honours_retry_after(void **state)
{
    struct retl_http_client *c = client(5000, 4, 0);
    char u[128];
    url(u, sizeof u, "/flaky");
    struct retl_http_resp r;
    struct retl_errbuf eb = {{0}};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(retl_http_do(c, &(struct retl_http_req){.url = u}, &r, &eb),
                     RETL_E_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(r.status, 200);
    assert_int_equal(r.attempts, 2);
    assert_string_equal(retl_buf_str(&r.body), "ok");
    assert_string_equal(retl_http_resp_header(&r, "x-test"), "yes");
    assert_null(retl_http_resp_header(&r, "Retry-After"));
    /* waited for Retry-After: 1, not the 10 ms base backoff */
    assert_true(secs >= 0.9);
    assert_int_equal(atomic_load(&flaky_calls), 2);
    retl_http_resp_free(&r);
    retl_http_client_free(c);
}

static void test_retries_exhausted_returns_last_status(void **state)
{
    struct retl_http_client *c = client(5000, 3, 0);
    char u[128];
    url(u, sizeof u, "/always503");
    struct retl_http_resp r;
    assert_int_equal(retl_http_do(c, &(struct retl_http_req){.url = u}, &r, NULL),
                     RETL_E_OK);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.attempts, 3);
    retl_http_resp_free(&r);
    /* 404 is not retried */
    url(u, sizeof u, "/notfound");
    assert_int_equal(retl_http_do(c, &(struct retl_http_req){.url = u}, &r, NULL),
                     RETL_E_OK);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.attempts, 1);
    assert_string_equal(retl_http_resp_header(&r, "content-type"), "application/json");
    retl_http_resp_free(&r);
    retl_http_client_free(c);
}

static void test_body_cap(void **state)
{
    struct retl_http_client *c = client(5000, 1, 1024 * 1024);
    char u[128];
    url(u, sizeof u, "/big");
    struct retl_http_resp r;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(retl_http_do(c, &(struct retl_http_req){.url = u}, &r, &eb),
                     RETL_E_TOO_BIG);
    assert_non_null(strstr(eb.msg, "larger than 1048576 bytes"));
    retl_http_client_free(c);
}

static void test_timeout(void **state)
{
    struct retl_http_client *c = client(300, 1, 0);
    char u[128];
    url(u, sizeof u, "/slow");
    struct retl_http_resp r;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(retl_http_do(c, &(struct retl_http_req){.url = u}, &r, &eb),
                     RETL_E_TIMEOUT);
    assert_non_null(strstr(eb.msg, "GET http://127.0.0.1"));
    retl_http_client_free(c);
}

static void test_methods_headers_body(void **state)
{
    struct retl_http_client *c = client(5000, 1, 0);
    char u[128];
    url(u, sizeof u, "/method");
    const char *const hdrs[] = {"X-Req: abc", "Content-Type: application/json", NULL};
    struct retl_http_resp r;
    struct retl_http_req req = {
        .method = "PATCH", .url = u, .headers = hdrs, .body = "{\"a\":1}", .body_len = 7};
    assert_int_equal(retl_http_do(c, &req, &r, NULL), RETL_E_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(retl_buf_str(&r.body), "PATCH abc");
    retl_http_resp_free(&r);
    /* connection reused for a second request */
    assert_int_equal(retl_http_do(c, &(struct retl_http_req){.url = u}, &r, NULL),
                     RETL_E_OK);
    assert_string_equal(retl_buf_str(&r.body), "GET -");
    retl_http_resp_free(&r);
    retl_http_client_free(c);
}

static void test_connection_refused_and_redaction(void **state)
{
    struct retl_http_client *c = client(2000, 2, 0);
    struct retl_http_resp r;
    struct retl_errbuf eb = {{0}};
    /* port 1 on loopback: nothing listens */
    assert_int_equal(
        retl_http_do(
            c, &(struct retl_http_req){.url = "http://user:topsecret@127.0.0.1:1/x"}, &r,
            &eb),
        RETL_E_HTTP);
    assert_null(strstr(eb.msg, "topsecret"));
    assert_non_null(strstr(eb.msg, "user:***@127.0.0.1"));
    retl_http_client_free(c);
}

static void test_tls_verified_by_default(void **state)
{
    /* A TLS handshake against a plain HTTP port fails: proof that https is
     * attempted with verification rather than silently downgraded. */
    struct retl_http_client *c = client(2000, 1, 0);
    char u[128];
    snprintf(u, sizeof u, "https://127.0.0.1:%u/method", port);
    struct retl_http_resp r;
    struct retl_errbuf eb = {{0}};
    retl_err e = retl_http_do(c, &(struct retl_http_req){.url = u}, &r, &eb);
    assert_true(e == RETL_E_TLS || e == RETL_E_HTTP);
    retl_http_client_free(c);
}

static void test_backoff_and_retry_after_parsing(void **state)
{
    for (int a = 1; a < 30; a++) {
        long d = retl_http_backoff_ms(200, 30000, a, 0.999);
        assert_true(d >= 0 && d <= 30000);
    }
    assert_int_equal(retl_http_backoff_ms(200, 30000, 1, 0.5), 100);
    assert_int_equal(retl_http_backoff_ms(200, 30000, 3, 0.5), 400);
    assert_int_equal(retl_http_backoff_ms(200, 30000, 20, 0.5), 15000);
    assert_int_equal(retl_http_backoff_ms(200, 30000, 4, 0.0), 0);
    assert_int_equal(retl_http_parse_retry_after("2", 0), 2000);
    assert_int_equal(retl_http_parse_retry_after(" 0", 0), 0);
    assert_int_equal(retl_http_parse_retry_after("99999", 0), 300000);
    assert_int_equal(retl_http_parse_retry_after("abc", 0), -1);
    assert_int_equal(retl_http_parse_retry_after("-1", 0), -1);
    assert_int_equal(retl_http_parse_retry_after(NULL, 0), -1);
    /* HTTP date: 1994-11-06 08:49:37 UTC = 784111777 */
    assert_int_equal(
        retl_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111770), 7000);
    assert_int_equal(
        retl_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111800), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_503_then_200_honours_retry_after),
        cmocka_unit_test(test_retries_exhausted_returns_last_status),
        cmocka_unit_test(test_body_cap),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_methods_headers_body),
        cmocka_unit_test(test_connection_refused_and_redaction),
        cmocka_unit_test(test_tls_verified_by_default),
        cmocka_unit_test(test_backoff_and_retry_after_parsing),
    };
    return cmocka_run_group_tests_name("http", tests, setup, teardown);
}
