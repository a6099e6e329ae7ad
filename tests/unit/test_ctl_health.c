/* /metrics, /healthz and /readyz served on free ports and fetched with libcurl. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "controller/health.h"
#include "controller/metrics.h"

struct resp {
    long status;
    char ctype[128];
    struct retl_buf body;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct retl_buf *b = ud;
    return retl_buf_add(b, p, sz * n) ? 0 : sz * n;
}

/* GET (or another method) http://127.0.0.1:port/path; the caller frees r->body. */
static void fetch(const char *method, unsigned short port, const char *path,
                  struct resp *r)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    retl_buf_init(&r->body, 1 << 20);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("GET %s: %s", url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
    curl_easy_cleanup(c);
}

static bool refuses(unsigned short port, const char *path)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    return rc == CURLE_COULDNT_CONNECT;
}

static void parse_addresses(void **state)
{
    (void)state;
    char host[64];
    unsigned short port;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(ctl_health_parse_addr(":8080", host, sizeof host, &port, NULL),
                     RETL_E_OK);
    assert_string_equal(host, "");
    assert_int_equal(port, 8080);
    assert_int_equal(ctl_health_parse_addr("127.0.0.1:0", host, sizeof host, &port, NULL),
                     RETL_E_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 0);
    assert_int_equal(
        ctl_health_parse_addr("localhost:9443", host, sizeof host, &port, NULL),
        RETL_E_OK);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 9443);
    assert_int_equal(ctl_health_parse_addr("[::1]:8081", host, sizeof host, &port, NULL),
                     RETL_E_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8081);
    const char *bad[] = {"8080", "", ":", ":http", ":70000", "::1:80", "[::1]80", "a:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        eb.msg[0] = '\0';
        if (ctl_health_parse_addr(bad[i], host, sizeof host, &port, &eb) !=
            RETL_E_INVALID)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(eb.msg[0] != '\0');
    }
}

static atomic_bool lease_ok = true;

static bool lease_check(void *ud, char *msg, size_t n)
{
    if (atomic_load(&lease_ok))
        return true;
    snprintf(msg, n, "lease %s not renewed for 20s", (const char *)ud);
    return false;
}

static void probes_and_metrics(void **state)
{
    (void)state;
    assert_int_equal(ctl_metrics_init(), RETL_E_OK);
    assert_int_equal(ctl_metrics_run_finished("ns", "job-a", "Succeeded", 3, 0, 0.5, 100),
                     RETL_E_OK);
    struct ctl_health *h = NULL;
    struct ctl_health_opts o = {.metrics_addr = "127.0.0.1:0",
                                .probe_addr = "127.0.0.1:0"};
    struct retl_errbuf eb = {{0}};
    assert_int_equal(ctl_health_start(&o, &h, &eb), RETL_E_OK);
    unsigned short mp = ctl_health_metrics_port(h), pp = ctl_health_probe_port(h);
    assert_true(mp > 0 && pp > 0 && mp != pp);

    struct resp r;
    /* Not ready until the controller says so; the reason is served. */
    fetch("GET", pp, "/readyz", &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(retl_buf_str(&r.body), "informers not synced"));
    retl_buf_free(&r.body);
    assert_false(ctl_health_is_ready(h));

    fetch("GET", pp, "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(retl_buf_str(&r.body), "ok");
    retl_buf_free(&r.body);

    ctl_health_set_ready(h, true, NULL);
    fetch("GET", pp, "/readyz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(retl_buf_str(&r.body), "ok");
    retl_buf_free(&r.body);
    fetch("GET", pp, "/readyz?verbose", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(retl_buf_str(&r.body), "[+]ping ok\n[+]ready ok\n"));
    retl_buf_free(&r.body);

    /* Back to not ready (e.g. watch lost and relisting). */
    ctl_health_set_ready(h, false, "relisting reverseetljobs");
    fetch("GET", pp, "/readyz", &r);
    assert_int_equal(r.status, 503);
    assert_non_null(
        strstr(retl_buf_str(&r.body), "[-]ready failed: relisting reverseetljobs"));
    retl_buf_free(&r.body);
    ctl_health_set_ready(h, true, NULL);

    /* A failing liveness check fails /healthz with its reason, not /readyz. */
    assert_int_equal(ctl_health_add_liveness(h, "leader-lease", lease_check, "retl"),
                     RETL_E_OK);
    fetch("GET", pp, "/healthz", &r);
    assert_int_equal(r.status, 200);
    retl_buf_free(&r.body);
    atomic_store(&lease_ok, false);
    fetch("GET", pp, "/healthz", &r);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(retl_buf_str(&r.body),
                           "[-]leader-lease failed: lease retl not renewed for 20s"));
    retl_buf_free(&r.body);
    fetch("GET", pp, "/readyz", &r);
    assert_int_equal(r.status, 200);
    retl_buf_free(&r.body);
    atomic_store(&lease_ok, true);
    fetch("GET", pp, "/healthz?verbose", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(retl_buf_str(&r.body), "[+]leader-lease ok\n"));
    retl_buf_free(&r.body);

    /* A readiness check. */
    assert_int_equal(ctl_health_add_readiness(h, "informers", lease_check, "x"),
                     RETL_E_OK);
    atomic_store(&lease_ok, false);
    fetch("GET", pp, "/readyz", &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(retl_buf_str(&r.body), "[-]informers failed"));
    retl_buf_free(&r.body);
    atomic_store(&lease_ok, true);

    /* /metrics on its own port, with the exposition content type. */
    fetch("GET", mp, "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(retl_buf_str(&r.body),
                           "retl_runs_total{namespace=\"ns\",job=\"job-a\",result="
                           "\"Succeeded\"} 1\n"));
    assert_non_null(strstr(retl_buf_str(&r.body),
                           "# TYPE controller_runtime_reconcile_total counter\n"));
    retl_buf_free(&r.body);

    /* Paths live on their own server only; other methods are refused. */
    fetch("GET", mp, "/healthz", &r);
    assert_int_equal(r.status, 404);
    retl_buf_free(&r.body);
    fetch("GET", pp, "/metrics", &r);
    assert_int_equal(r.status, 404);
    retl_buf_free(&r.body);
    fetch("POST", mp, "/metrics", &r);
    assert_int_equal(r.status, 405);
    retl_buf_free(&r.body);

    ctl_health_stop(h);
    assert_true(refuses(pp, "/healthz"));
    ctl_metrics_shutdown();
}

static void shared_and_disabled_addresses(void **state)
{
    (void)state;
    assert_int_equal(ctl_metrics_init(), RETL_E_OK);
    /* Find a free port, then serve everything on it. */
    struct ctl_health *h = NULL;
    struct ctl_health_opts probe = {.metrics_addr = "0", .probe_addr = "127.0.0.1:0"};
    assert_int_equal(ctl_health_start(&probe, &h, NULL), RETL_E_OK);
    assert_int_equal(ctl_health_metrics_port(h), 0);
    unsigned short port = ctl_health_probe_port(h);
    struct resp r;
    fetch("GET", port, "/metrics", &r);
    assert_int_equal(r.status, 404);
    retl_buf_free(&r.body);
    ctl_health_stop(h);

    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    struct ctl_health_opts same = {.metrics_addr = addr, .probe_addr = addr};
    assert_int_equal(ctl_health_start(&same, &h, NULL), RETL_E_OK);
    assert_int_equal(ctl_health_metrics_port(h), port);
    assert_int_equal(ctl_health_probe_port(h), port);
    fetch("GET", port, "/metrics", &r);
    assert_int_equal(r.status, 200);
    retl_buf_free(&r.body);
    fetch("GET", port, "/healthz", &r);
    assert_int_equal(r.status, 200);
    retl_buf_free(&r.body);

    /* The port is taken now: a second server fails with a clear message. */
    struct ctl_health *h2 = NULL;
    struct retl_errbuf eb = {{0}};
    struct ctl_health_opts clash = {.metrics_addr = addr, .probe_addr = "0"};
    assert_int_equal(ctl_health_start(&clash, &h2, &eb), RETL_E_IO);
    assert_non_null(strstr(eb.msg, addr));
    assert_null(h2);
    ctl_health_stop(h);

    struct ctl_health_opts bad = {.metrics_addr = "nonsense", .probe_addr = "0"};
    assert_int_equal(ctl_health_start(&bad, &h2, &eb), RETL_E_INVALID);
    ctl_metrics_shutdown();
}

static void own_registry(void **state)
{
    (void)state;
    struct ctl_registry *reg;
    assert_int_equal(ctl_metrics_registry_new(&reg), RETL_E_OK);
    struct ctl_metric *g;
    struct ctl_metric_def d = {
        .type = CTL_METRIC_GAUGE, .name = "only_here", .help = "x"};
    assert_int_equal(ctl_metrics_register(reg, &d, &g, NULL), RETL_E_OK);
    assert_int_equal(ctl_metrics_gauge_set(g, 2, NULL), RETL_E_OK);
    struct ctl_health *h = NULL;
    struct ctl_health_opts o = {
        .metrics_addr = "127.0.0.1:0", .probe_addr = "0", .registry = reg};
    assert_int_equal(ctl_health_start(&o, &h, NULL), RETL_E_OK);
    struct resp r;
    fetch("GET", ctl_health_metrics_port(h), "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(retl_buf_str(&r.body), "\nonly_here 2\n"));
    retl_buf_free(&r.body);
    ctl_health_stop(h);
    ctl_metrics_registry_free(reg);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    retl_log_setup("test", RETL_LOG_WARN, RETL_LOG_JSON, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_addresses),
        cmocka_unit_test(probes_and_metrics),
        cmocka_unit_test(shared_and_disabled_addresses),
        cmocka_unit_test(own_registry),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
