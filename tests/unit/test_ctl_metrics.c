/* The metrics registry: exact exposition text, escaping, histogram buckets,
 * series bounds, removal, the controller's pre-defined metrics, concurrency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/metrics.h"

#define LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char DROPPED_HEAD[] =
    "# HELP retl_metrics_dropped_series_total Metric updates dropped because the "
    "metric reached its series limit.\n"
    "# TYPE retl_metrics_dropped_series_total counter\n";

static char *render(struct ctl_registry *r)
{
    struct retl_buf b;
    retl_buf_init(&b, 1 << 20);
    assert_int_equal(ctl_metrics_render(r, &b), RETL_E_OK);
    return retl_buf_take(&b);
}

static void format_values(void **state)
{
    (void)state;
    char b[64];
    assert_string_equal(ctl_metrics_format_value(0, b, sizeof b), "0");
    assert_string_equal(ctl_metrics_format_value(-0.0, b, sizeof b), "0");
    assert_string_equal(ctl_metrics_format_value(42, b, sizeof b), "42");
    assert_string_equal(ctl_metrics_format_value(-3, b, sizeof b), "-3");
    assert_string_equal(ctl_metrics_format_value(0.25, b, sizeof b), "0.25");
    assert_string_equal(ctl_metrics_format_value(0.1, b, sizeof b), "0.1");
    assert_string_equal(ctl_metrics_format_value(0.005, b, sizeof b), "0.005");
    assert_string_equal(ctl_metrics_format_value(1e-8, b, sizeof b), "1e-08");
    assert_string_equal(ctl_metrics_format_value(1.7e20, b, sizeof b), "1.7e+20");
    assert_string_equal(ctl_metrics_format_value(1763990000, b, sizeof b), "1763990000");
    assert_string_equal(ctl_metrics_format_value(INFINITY, b, sizeof b), "+Inf");
    assert_string_equal(ctl_metrics_format_value(-INFINITY, b, sizeof b), "-Inf");
    assert_string_equal(ctl_metrics_format_value(NAN, b, sizeof b), "NaN");
    /* Shortest round trip. */
    ctl_metrics_format_value(1.0 / 3, b, sizeof b);
    assert_true(strtod(b, NULL) == 1.0 / 3);
}

static void exposition_exact(void **state)
{
    (void)state;
    struct ctl_registry *r;
    assert_int_equal(ctl_metrics_registry_new(&r), RETL_E_OK);
    struct ctl_metric *c, *g, *plain;
    struct ctl_metric_def dc = {.type = CTL_METRIC_COUNTER,
                                .name = "test_requests_total",
                                .help = "Requests.",
                                .labels = LABELS("code", "method")};
    struct ctl_metric_def dg = {
        .type = CTL_METRIC_GAUGE, .name = "a_gauge", .help = "A gauge.", .labels = NULL};
    struct ctl_metric_def dp = {
        .type = CTL_METRIC_GAUGE, .name = "zz_empty", .help = "No series yet."};
    assert_int_equal(ctl_metrics_register(r, &dc, &c, NULL), RETL_E_OK);
    assert_int_equal(ctl_metrics_register(r, &dg, &g, NULL), RETL_E_OK);
    assert_int_equal(ctl_metrics_register(r, &dp, &plain, NULL), RETL_E_OK);

    assert_int_equal(ctl_metrics_counter_add(c, 1, CTL_LV("500", "GET")), RETL_E_OK);
    assert_int_equal(ctl_metrics_counter_add(c, 2, CTL_LV("200", "GET")), RETL_E_OK);
    assert_int_equal(ctl_metrics_counter_add(c, 1.5, CTL_LV("200", "GET")), RETL_E_OK);
    assert_int_equal(ctl_metrics_counter_add(c, 1, CTL_LV("200", "PUT")), RETL_E_OK);
    assert_int_equal(ctl_metrics_gauge_set(g, 7, NULL), RETL_E_OK);
    assert_int_equal(ctl_metrics_gauge_add(g, -2.5, NULL), RETL_E_OK);

    char *out = render(r);
    char want[4096];
    snprintf(want, sizeof want,
             "# HELP a_gauge A gauge.\n"
             "# TYPE a_gauge gauge\n"
             "a_gauge 4.5\n"
             "%s"
             "# HELP test_requests_total Requests.\n"
             "# TYPE test_requests_total counter\n"
             "test_requests_total{code=\"200\",method=\"GET\"} 3.5\n"
             "test_requests_total{code=\"200\",method=\"PUT\"} 1\n"
             "test_requests_total{code=\"500\",method=\"GET\"} 1\n"
             "# HELP zz_empty No series yet.\n"
             "# TYPE zz_empty gauge\n",
             DROPPED_HEAD);
    assert_string_equal(out, want);
    free(out);

    double v;
    assert_int_equal(ctl_metrics_value(c, CTL_LV("200", "GET"), &v), RETL_E_OK);
    assert_true(v == 3.5);
    assert_int_equal(ctl_metrics_value(c, CTL_LV("404", "GET"), &v), RETL_E_NOT_FOUND);
    ctl_metrics_registry_free(r);
}

static void escaping(void **state)
{
    (void)state;
    struct ctl_registry *r;
    assert_int_equal(ctl_metrics_registry_new(&r), RETL_E_OK);
    struct ctl_metric *g;
    struct ctl_metric_def d = {.type = CTL_METRIC_GAUGE,
                               .name = "esc",
                               .help = "Back\\slash and\nnewline \"quotes\" kept.",
                               .labels = LABELS("v")};
    assert_int_equal(ctl_metrics_register(r, &d, &g, NULL), RETL_E_OK);
    assert_int_equal(ctl_metrics_gauge_set(g, 1, CTL_LV("a\"b\\c\nd")), RETL_E_OK);
    assert_int_equal(ctl_metrics_gauge_set(g, 2, CTL_LV("")), RETL_E_OK);
    assert_int_equal(ctl_metrics_gauge_set(g, 3, CTL_LV("ünïcode")), RETL_E_OK);
    char *out = render(r);
    const char *want = "# HELP esc Back\\\\slash and\\nnewline \"quotes\" kept.\n"
                       "# TYPE esc gauge\n"
                       "esc{v=\"\"} 2\n"
                       "esc{v=\"a\\\"b\\\\c\\nd\"} 1\n"
                       "esc{v=\"ünïcode\"} 3\n";
    assert_non_null(strstr(out, want));
    assert_true(strncmp(out, "# HELP esc", 10) == 0);
    free(out);
    ctl_metrics_registry_free(r);
}

static void histogram_buckets(void **state)
{
    (void)state;
    struct ctl_registry *r;
    assert_int_equal(ctl_metrics_registry_new(&r), RETL_E_OK);
    struct ctl_metric *h;
    static const double b[] = {0.1, 0.5, 1};
    struct ctl_metric_def d = {.type = CTL_METRIC_HISTOGRAM,
                               .name = "lat_seconds",
                               .help = "Latency.",
                               .labels = LABELS("op"),
                               .buckets = b,
                               .nbuckets = 3};
    assert_int_equal(ctl_metrics_register(r, &d, &h, NULL), RETL_E_OK);
    /* 0.1 is inclusive (le), 0.7 lands in 1, 3 only in +Inf. */
    const double obs[] = {0.05, 0.1, 0.2, 0.7, 3};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(ctl_metrics_observe(h, obs[i], CTL_LV("x")), RETL_E_OK);
    assert_int_equal(ctl_metrics_touch(h, CTL_LV("a")), RETL_E_OK);
    char *out = render(r);
    const char *want = "# HELP lat_seconds Latency.\n"
                       "# TYPE lat_seconds histogram\n"
                       "lat_seconds_bucket{op=\"a\",le=\"0.1\"} 0\n"
                       "lat_seconds_bucket{op=\"a\",le=\"0.5\"} 0\n"
                       "lat_seconds_bucket{op=\"a\",le=\"1\"} 0\n"
                       "lat_seconds_bucket{op=\"a\",le=\"+Inf\"} 0\n"
                       "lat_seconds_sum{op=\"a\"} 0\n"
                       "lat_seconds_count{op=\"a\"} 0\n"
                       "lat_seconds_bucket{op=\"x\",le=\"0.1\"} 2\n"
                       "lat_seconds_bucket{op=\"x\",le=\"0.5\"} 3\n"
                       "lat_seconds_bucket{op=\"x\",le=\"1\"} 4\n"
                       "lat_seconds_bucket{op=\"x\",le=\"+Inf\"} 5\n"
                       "lat_seconds_sum{op=\"x\"} 4.05\n"
                       "lat_seconds_count{op=\"x\"} 5\n";
    assert_true(strncmp(out, want, strlen(want)) == 0);
    free(out);

    /* Without labels the le label stands alone; default buckets are used. */
    struct ctl_metric *h2;
    struct ctl_metric_def d2 = {
        .type = CTL_METRIC_HISTOGRAM, .name = "plain_seconds", .help = "P."};
    assert_int_equal(ctl_metrics_register(r, &d2, &h2, NULL), RETL_E_OK);
    assert_int_equal(ctl_metrics_observe(h2, 0.3, NULL), RETL_E_OK);
    out = render(r);
    assert_non_null(strstr(out, "plain_seconds_bucket{le=\"0.005\"} 0\n"));
    assert_non_null(strstr(out, "plain_seconds_bucket{le=\"0.25\"} 0\n"
                                "plain_seconds_bucket{le=\"0.5\"} 1\n"));
    assert_non_null(strstr(out, "plain_seconds_bucket{le=\"10\"} 1\n"
                                "plain_seconds_bucket{le=\"+Inf\"} 1\n"
                                "plain_seconds_sum 0.3\n"
                                "plain_seconds_count 1\n"));
    free(out);
    ctl_metrics_registry_free(r);
}

static void rejects_bad_definitions_and_updates(void **state)
{
    (void)state;
    struct ctl_registry *r;
    assert_int_equal(ctl_metrics_registry_new(&r), RETL_E_OK);
    struct ctl_metric *m = NULL, *c = NULL;
    struct retl_errbuf eb = {{0}};
    struct ctl_metric_def bad_name = {
        .type = CTL_METRIC_GAUGE, .name = "1abc", .help = ""};
    assert_int_equal(ctl_metrics_register(r, &bad_name, &m, &eb), RETL_E_INVALID);
    assert_non_null(strstr(eb.msg, "1abc"));
    struct ctl_metric_def bad_label = {
        .type = CTL_METRIC_GAUGE, .name = "ok", .help = "", .labels = LABELS("a-b")};
    assert_int_equal(ctl_metrics_register(r, &bad_label, &m, NULL), RETL_E_INVALID);
    struct ctl_metric_def reserved = {
        .type = CTL_METRIC_GAUGE, .name = "ok", .help = "", .labels = LABELS("__x")};
    assert_int_equal(ctl_metrics_register(r, &reserved, &m, NULL), RETL_E_INVALID);
    struct ctl_metric_def le = {
        .type = CTL_METRIC_HISTOGRAM, .name = "h", .help = "", .labels = LABELS("le")};
    assert_int_equal(ctl_metrics_register(r, &le, &m, NULL), RETL_E_INVALID);
    static const double unsorted[] = {1, 0.5};
    struct ctl_metric_def bk = {.type = CTL_METRIC_HISTOGRAM,
                                .name = "h",
                                .help = "",
                                .buckets = unsorted,
                                .nbuckets = 2};
    assert_int_equal(ctl_metrics_register(r, &bk, &m, NULL), RETL_E_INVALID);
    struct ctl_metric_def dup = {.type = CTL_METRIC_GAUGE,
                                 .name = "retl_metrics_dropped_series_total",
                                 .help = ""};
    assert_int_equal(ctl_metrics_register(r, &dup, &m, NULL), RETL_E_ALREADY_EXISTS);

    struct ctl_metric_def dc = {
        .type = CTL_METRIC_COUNTER, .name = "c_total", .help = "", .labels = LABELS("a")};
    assert_int_equal(ctl_metrics_register(r, &dc, &c, NULL), RETL_E_OK);
    assert_int_equal(ctl_metrics_counter_add(c, -1, CTL_LV("x")), RETL_E_INVALID);
    assert_int_equal(ctl_metrics_gauge_set(c, 1, CTL_LV("x")), RETL_E_INVALID);
    assert_int_equal(ctl_metrics_observe(c, 1, CTL_LV("x")), RETL_E_INVALID);
    assert_int_equal(ctl_metrics_counter_add(c, 1, NULL), RETL_E_INVALID);
    assert_int_equal(ctl_metrics_counter_add(c, 1, CTL_LV(NULL)), RETL_E_INVALID);
    char long_value[CTL_METRICS_MAX_VALUE_LEN + 2];
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    assert_int_equal(ctl_metrics_counter_add(c, 1, CTL_LV(long_value)), RETL_E_INVALID);
    assert_int_equal(ctl_metrics_series_count(c), 0);
    ctl_metrics_registry_free(r);
}

static void bounded_cardinality(void **state)
{
    (void)state;
    struct ctl_registry *r;
    assert_int_equal(ctl_metrics_registry_new(&r), RETL_E_OK);
    struct ctl_metric *g;
    struct ctl_metric_def d = {.type = CTL_METRIC_GAUGE,
                               .name = "per_key",
                               .help = "",
                               .labels = LABELS("key"),
                               .max_series = 3};
    assert_int_equal(ctl_metrics_register(r, &d, &g, NULL), RETL_E_OK);
    assert_int_equal(ctl_metrics_gauge_set(g, 1, CTL_LV("a")), RETL_E_OK);
    assert_int_equal(ctl_metrics_gauge_set(g, 1, CTL_LV("b")), RETL_E_OK);
    assert_int_equal(ctl_metrics_gauge_set(g, 1, CTL_LV("c")), RETL_E_OK);
    assert_int_equal(ctl_metrics_gauge_set(g, 1, CTL_LV("d")), RETL_E_LIMIT);
    assert_int_equal(ctl_metrics_gauge_set(g, 1, CTL_LV("e")), RETL_E_LIMIT);
    /* Existing series still update. */
    assert_int_equal(ctl_metrics_gauge_set(g, 9, CTL_LV("b")), RETL_E_OK);
    assert_int_equal(ctl_metrics_series_count(g), 3);
    char *out = render(r);
    assert_non_null(
        strstr(out, "retl_metrics_dropped_series_total{metric=\"per_key\"} 2\n"));
    assert_null(strstr(out, "per_key{key=\"d\"}"));
    free(out);
    /* Removing frees room. */
    assert_int_equal(ctl_metrics_remove(g, CTL_LV("a")), RETL_E_OK);
    assert_int_equal(ctl_metrics_remove(g, CTL_LV("a")), RETL_E_NOT_FOUND);
    assert_int_equal(ctl_metrics_gauge_set(g, 4, CTL_LV("d")), RETL_E_OK);
    double v;
    assert_int_equal(ctl_metrics_value(g, CTL_LV("b"), &v), RETL_E_OK);
    assert_true(v == 9);
    ctl_metrics_registry_free(r);
}

static void many_series_and_remove_matching(void **state)
{
    (void)state;
    struct ctl_registry *r;
    assert_int_equal(ctl_metrics_registry_new(&r), RETL_E_OK);
    struct ctl_metric *c;
    struct ctl_metric_def d = {.type = CTL_METRIC_COUNTER,
                               .name = "runs_total",
                               .help = "",
                               .labels = LABELS("namespace", "job", "result")};
    assert_int_equal(ctl_metrics_register(r, &d, &c, NULL), RETL_E_OK);
    char job[32];
    for (int i = 0; i < 500; i++) {
        snprintf(job, sizeof job, "job-%03d", i);
        assert_int_equal(ctl_metrics_counter_add(c, 1, CTL_LV("ns1", job, "Succeeded")),
                         RETL_E_OK);
        assert_int_equal(ctl_metrics_counter_add(c, i, CTL_LV("ns1", job, "Failed")),
                         RETL_E_OK);
        assert_int_equal(ctl_metrics_counter_add(c, 1, CTL_LV("ns2", job, "Failed")),
                         RETL_E_OK);
    }
    assert_int_equal(ctl_metrics_series_count(c), 1500);
    assert_int_equal(
        ctl_metrics_remove_matching(c, (const char *const[]){"namespace", "job"},
                                    CTL_LV("ns1", "job-007"), 2),
        2);
    assert_int_equal(
        ctl_metrics_remove_matching(c, (const char *const[]){"nope"}, CTL_LV("x"), 1), 0);
    assert_int_equal(ctl_metrics_series_count(c), 1498);
    double v;
    assert_int_equal(ctl_metrics_value(c, CTL_LV("ns1", "job-007", "Failed"), &v),
                     RETL_E_NOT_FOUND);
    assert_int_equal(ctl_metrics_value(c, CTL_LV("ns2", "job-007", "Failed"), &v),
                     RETL_E_OK);
    assert_int_equal(ctl_metrics_value(c, CTL_LV("ns1", "job-123", "Failed"), &v),
                     RETL_E_OK);
    assert_true(v == 123);
    assert_int_equal(ctl_metrics_remove_matching(c, (const char *const[]){"namespace"},
                                                 CTL_LV("ns2"), 1),
                     500);
    assert_int_equal(ctl_metrics_series_count(c), 998);
    ctl_metrics_registry_free(r);
}

struct worker_arg {
    struct ctl_metric *c, *h;
};

static void *worker(void *p)
{
    struct worker_arg *a = p;
    for (int i = 0; i < 10000; i++) {
        ctl_metrics_counter_add(a->c, 1, CTL_LV(i % 2 ? "odd" : "even"));
        ctl_metrics_observe(a->h, 0.001, CTL_LV("x"));
    }
    return NULL;
}

static void concurrent_updates(void **state)
{
    (void)state;
    struct ctl_registry *r;
    assert_int_equal(ctl_metrics_registry_new(&r), RETL_E_OK);
    struct worker_arg a;
    struct ctl_metric_def dc = {
        .type = CTL_METRIC_COUNTER, .name = "n_total", .help = "", .labels = LABELS("p")};
    struct ctl_metric_def dh = {.type = CTL_METRIC_HISTOGRAM,
                                .name = "d_seconds",
                                .help = "",
                                .labels = LABELS("p")};
    assert_int_equal(ctl_metrics_register(r, &dc, &a.c, NULL), RETL_E_OK);
    assert_int_equal(ctl_metrics_register(r, &dh, &a.h, NULL), RETL_E_OK);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, &a);
    for (int i = 0; i < 20; i++)
        free(render(r)); /* rendering while writers run */
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    double v;
    assert_int_equal(ctl_metrics_value(a.c, CTL_LV("odd"), &v), RETL_E_OK);
    assert_true(v == 20000);
    char *out = render(r);
    assert_non_null(strstr(out, "d_seconds_count{p=\"x\"} 40000\n"));
    free(out);
    ctl_metrics_registry_free(r);
}

static void controller_metrics(void **state)
{
    (void)state;
    assert_int_equal(ctl_metrics_run_finished("ns", "j", "Succeeded", 1, 0, 1, 1),
                     RETL_E_INVALID); /* before init */
    assert_int_equal(ctl_metrics_init(), RETL_E_OK);
    assert_int_equal(ctl_metrics_init(), RETL_E_OK);
    assert_int_equal(ctl_metrics_controller_register("reverseetljob"), RETL_E_OK);
    assert_int_equal(ctl_metrics_reconcile_done("reverseetljob", "success", 0.02),
                     RETL_E_OK);
    assert_int_equal(ctl_metrics_reconcile_done("reverseetljob", "error", 0.3),
                     RETL_E_OK);
    assert_int_equal(ctl_metrics_workqueue_add("reverseetljob"), RETL_E_OK);
    assert_int_equal(ctl_metrics_workqueue_depth("reverseetljob", 3), RETL_E_OK);
    assert_int_equal(ctl_metrics_workqueue_queue_duration("reverseetljob", 0.002),
                     RETL_E_OK);
    assert_int_equal(ctl_metrics_workqueue_work_duration("reverseetljob", 0.05),
                     RETL_E_OK);
    assert_int_equal(ctl_metrics_workqueue_retry("reverseetljob"), RETL_E_OK);
    assert_int_equal(ctl_metrics_leader("retl-controller", true), RETL_E_OK);
    assert_int_equal(ctl_metrics_rest_request(200, "GET", "10.0.0.1:443"), RETL_E_OK);
    assert_int_equal(ctl_metrics_rest_request(0, "PATCH", "10.0.0.1:443"), RETL_E_OK);
    assert_int_equal(ctl_metrics_run_finished("sales-ops", "account-scores", "Succeeded",
                                              118, 2, 3.1, 1763990000),
                     RETL_E_OK);
    assert_int_equal(ctl_metrics_run_finished("sales-ops", "account-scores", "Failed", 0,
                                              5, 1.5, 1763990600),
                     RETL_E_OK);
    assert_int_equal(ctl_metrics_rows_failing("sales-ops", "account-scores", 7),
                     RETL_E_OK);
    assert_int_equal(
        ctl_metrics_run_finished("sales-ops", "other", "Succeeded", 1, 0, 1, 5),
        RETL_E_OK);

    char *out = render(ctl_metrics_default());
    const char *want[] = {
        "controller_runtime_reconcile_total{controller=\"reverseetljob\",result="
        "\"error\"} "
        "1\n",
        "controller_runtime_reconcile_total{controller=\"reverseetljob\",result="
        "\"requeue\"} "
        "0\n",
        "controller_runtime_reconcile_total{controller=\"reverseetljob\",result="
        "\"success\"} "
        "1\n",
        "controller_runtime_reconcile_errors_total{controller=\"reverseetljob\"} 1\n",
        "controller_runtime_reconcile_time_seconds_bucket{controller=\"reverseetljob\","
        "le="
        "\"0.025\"} 1\n",
        "controller_runtime_reconcile_time_seconds_bucket{controller=\"reverseetljob\","
        "le="
        "\"60\"} 2\n",
        "controller_runtime_reconcile_time_seconds_count{controller=\"reverseetljob\"} "
        "2\n",
        "# TYPE controller_runtime_reconcile_time_seconds histogram\n",
        "workqueue_adds_total{name=\"reverseetljob\"} 1\n",
        "workqueue_depth{name=\"reverseetljob\"} 3\n",
        "workqueue_queue_duration_seconds_bucket{name=\"reverseetljob\",le=\"0.01\"} 1\n",
        "workqueue_work_duration_seconds_bucket{name=\"reverseetljob\",le=\"0.1\"} 1\n",
        "workqueue_retries_total{name=\"reverseetljob\"} 1\n",
        "leader_election_master_status{name=\"retl-controller\"} 1\n",
        "rest_client_requests_total{code=\"200\",method=\"GET\",host=\"10.0.0.1:443\"} "
        "1\n",
        "rest_client_requests_total{code=\"<error>\",method=\"PATCH\",host=\"10.0.0.1:"
        "443\"} "
        "1\n",
        "retl_runs_total{namespace=\"sales-ops\",job=\"account-scores\",result="
        "\"Failed\"} 1\n",
        "retl_runs_total{namespace=\"sales-ops\",job=\"account-scores\",result="
        "\"Succeeded\"} "
        "1\n",
        "retl_rows_synced_total{namespace=\"sales-ops\",job=\"account-scores\"} 118\n",
        "retl_rows_failed_total{namespace=\"sales-ops\",job=\"account-scores\"} 7\n",
        "retl_last_run_duration_seconds{namespace=\"sales-ops\",job=\"account-scores\"} "
        "1.5\n",
        "retl_last_run_timestamp_seconds{namespace=\"sales-ops\",job=\"account-scores\"} "
        "1763990600\n",
        "retl_last_success_timestamp_seconds{namespace=\"sales-ops\",job=\"account-"
        "scores\"} "
        "1763990000\n",
        "retl_rows_failing{namespace=\"sales-ops\",job=\"account-scores\"} 7\n",
        "# TYPE retl_runs_total counter\n",
        "# TYPE retl_rows_failing gauge\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(out, want[i]))
            fail_msg("missing: %s", want[i]);
    }
    free(out);

    ctl_metrics_job_deleted("sales-ops", "account-scores");
    out = render(ctl_metrics_default());
    assert_null(strstr(out, "job=\"account-scores\""));
    assert_non_null(strstr(out, "retl_runs_total{namespace=\"sales-ops\",job=\"other\","
                                "result=\"Succeeded\"} 1\n"));
    free(out);
    ctl_metrics_shutdown();
    assert_null(ctl_metrics_default());
    assert_int_equal(ctl_metrics_leader("x", true), RETL_E_INVALID);
}

static void job_status_seeds_gauges(void **state)
{
    (void)state;
    assert_int_equal(ctl_metrics_init(), RETL_E_OK);
    json_error_t je;
    json_t *st =
        json_loads("{\"lastRun\":{\"run\":9,\"result\":\"Failed\",\"completionTime\":"
                   "\"2026-11-24T13:00:05Z\",\"durationSeconds\":2.5},"
                   "\"history\":[{\"run\":9,\"result\":\"Failed\"},{\"run\":8,\"result\":"
                   "\"ThresholdExceeded\"},{\"run\":7,\"result\":\"Failed\"},{\"run\":6,"
                   "\"result\":\"Succeeded\"},{\"run\":5,\"result\":\"Failed\"}],"
                   "\"lastSuccessfulTime\":\"2026-11-24T11:00:00.5+01:00\","
                   "\"errors\":{\"failingRows\":12}}",
                   0, &je);
    assert_non_null(st);
    assert_int_equal(ctl_metrics_job_status("ns", "j", st), RETL_E_OK);
    char *out = render(ctl_metrics_default());
    assert_non_null(
        strstr(out, "retl_consecutive_failed_runs{namespace=\"ns\",job=\"j\"} 3\n"));
    assert_non_null(strstr(out, "retl_rows_failing{namespace=\"ns\",job=\"j\"} 12\n"));
    assert_non_null(strstr(out,
                           "retl_last_run_timestamp_seconds{namespace=\"ns\",job=\"j\"} "
                           "1795525205\n"));
    assert_non_null(strstr(out,
                           "retl_last_run_duration_seconds{namespace=\"ns\",job=\"j\"} "
                           "2.5\n"));
    /* 11:00:00.5+01:00 is 10:00:00.5Z. */
    assert_non_null(strstr(out,
                           "retl_last_success_timestamp_seconds{namespace=\"ns\",job="
                           "\"j\"} 1795514400.5\n"));
    free(out);
    json_decref(st);

    /* A success resets the streak; a failure adds to it. */
    assert_int_equal(ctl_metrics_run_finished("ns", "j", "Succeeded", 1, 0, 1, 1),
                     RETL_E_OK);
    out = render(ctl_metrics_default());
    assert_non_null(
        strstr(out, "retl_consecutive_failed_runs{namespace=\"ns\",job=\"j\"} 0\n"));
    free(out);
    assert_int_equal(ctl_metrics_run_finished("ns", "j", "Failed", 0, 0, 1, 2),
                     RETL_E_OK);
    assert_int_equal(ctl_metrics_run_finished("ns", "j", "ThresholdExceeded", 0, 9, 1, 3),
                     RETL_E_OK);
    out = render(ctl_metrics_default());
    assert_non_null(
        strstr(out, "retl_consecutive_failed_runs{namespace=\"ns\",job=\"j\"} 2\n"));
    free(out);

    /* Only lastRun, no history; empty status. */
    st = json_loads("{\"lastRun\":{\"result\":\"Failed\"}}", 0, &je);
    assert_int_equal(ctl_metrics_job_status("ns", "k", st), RETL_E_OK);
    json_decref(st);
    st = json_object();
    assert_int_equal(ctl_metrics_job_status("ns", "new", st), RETL_E_OK);
    json_decref(st);
    out = render(ctl_metrics_default());
    assert_non_null(
        strstr(out, "retl_consecutive_failed_runs{namespace=\"ns\",job=\"k\"} 1\n"));
    assert_non_null(
        strstr(out, "retl_consecutive_failed_runs{namespace=\"ns\",job=\"new\"} 0\n"));
    assert_non_null(strstr(out, "retl_rows_failing{namespace=\"ns\",job=\"new\"} 0\n"));
    assert_null(
        strstr(out, "retl_last_run_timestamp_seconds{namespace=\"ns\",job=\"new\"}"));
    free(out);
    assert_int_equal(ctl_metrics_job_status("ns", "x", NULL), RETL_E_INVALID);
    ctl_metrics_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_values),
        cmocka_unit_test(exposition_exact),
        cmocka_unit_test(escaping),
        cmocka_unit_test(histogram_buckets),
        cmocka_unit_test(rejects_bad_definitions_and_updates),
        cmocka_unit_test(bounded_cardinality),
        cmocka_unit_test(many_series_and_remove_matching),
        cmocka_unit_test(concurrent_updates),
        cmocka_unit_test(controller_metrics),
        cmocka_unit_test(job_status_seeds_gauges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
