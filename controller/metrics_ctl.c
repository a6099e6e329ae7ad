/* The controller's pre-defined metrics in the default registry: the names
 * controller-runtime and client-go export (so existing dashboards and alerts
 * work) and retl's per-job metrics. */
#include "controller/metrics.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timestamp.h"

/* client-go's workqueue buckets: ExponentialBuckets(10e-9, 10, 12). */
static const double workqueue_buckets[] = {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3,
                                           1e-2, 1e-1, 1,    10,   100,  1000};

struct std_metrics {
    struct ctl_registry *reg;
    struct ctl_metric *reconcile_total, *reconcile_errors, *reconcile_time;
    struct ctl_metric *wq_depth, *wq_adds, *wq_queue, *wq_work, *wq_retries;
    struct ctl_metric *leader;
    struct ctl_metric *rest;
    struct ctl_metric *runs, *rows_synced, *rows_failed, *last_duration, *last_ts,
        *last_success_ts, *rows_failing, *consecutive;
};

static _Atomic(struct std_metrics *) std_;
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

#define LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

struct std_def {
    size_t offset; /* of the family pointer in struct std_metrics */
    struct ctl_metric_def def;
};

#define SLOT(f) offsetof(struct std_metrics, f)

static const struct std_def defs[] = {
    {SLOT(reconcile_total),
     {CTL_METRIC_COUNTER, "controller_runtime_reconcile_total",
      "Total number of reconciliations per controller", LABELS("controller", "result"),
      NULL, 0, 1000}},
    {SLOT(reconcile_errors),
     {CTL_METRIC_COUNTER, "controller_runtime_reconcile_errors_total",
      "Total number of reconciliation errors per controller", LABELS("controller"), NULL,
      0, 100}},
    {SLOT(reconcile_time),
     {CTL_METRIC_HISTOGRAM, "controller_runtime_reconcile_time_seconds",
      "Length of time per reconciliation per controller", LABELS("controller"),
      ctl_metrics_reconcile_buckets, CTL_METRICS_RECONCILE_NBUCKETS, 100}},
    {SLOT(wq_depth),
     {CTL_METRIC_GAUGE, "workqueue_depth", "Current depth of workqueue", LABELS("name"),
      NULL, 0, 100}},
    {SLOT(wq_adds),
     {CTL_METRIC_COUNTER, "workqueue_adds_total",
      "Total number of adds handled by workqueue", LABELS("name"), NULL, 0, 100}},
    {SLOT(wq_queue),
     {CTL_METRIC_HISTOGRAM, "workqueue_queue_duration_seconds",
      "How long in seconds an item stays in workqueue before being requested",
      LABELS("name"), workqueue_buckets, sizeof workqueue_buckets / sizeof(double), 100}},
    {SLOT(wq_work),
     {CTL_METRIC_HISTOGRAM, "workqueue_work_duration_seconds",
      "How long in seconds processing an item from workqueue takes.", LABELS("name"),
      workqueue_buckets, sizeof workqueue_buckets / sizeof(double), 100}},
    {SLOT(wq_retries),
     {CTL_METRIC_COUNTER, "workqueue_retries_total",
      "Total number of retries handled by workqueue", LABELS("name"), NULL, 0, 100}},
    {SLOT(leader),
     {CTL_METRIC_GAUGE, "leader_election_master_status",
      "Gauge of if the reporting system is master of the relevant lease, 0 indicates "
      "backup, 1 indicates master. 'name' is the string used to identify the lease.",
      LABELS("name"), NULL, 0, 100}},
    {SLOT(rest),
     {CTL_METRIC_COUNTER, "rest_client_requests_total",
      "Number of HTTP requests, partitioned by status code, method, and host.",
      LABELS("code", "method", "host"), NULL, 0, 1000}},
    {SLOT(runs),
     {CTL_METRIC_COUNTER, "retl_runs_total",
      "Finished runs of ReverseEtlJobs, by result (Succeeded, Failed, "
      "ThresholdExceeded).",
      LABELS("namespace", "job", "result"), NULL, 0, 30000}},
    {SLOT(rows_synced),
     {CTL_METRIC_COUNTER, "retl_rows_synced_total",
      "Rows written to the destination (inserted + updated + deleted) by finished runs.",
      LABELS("namespace", "job"), NULL, 0, 10000}},
    {SLOT(rows_failed),
     {CTL_METRIC_COUNTER, "retl_rows_failed_total",
      "Row failures reported by finished runs (a row failing in two runs counts twice).",
      LABELS("namespace", "job"), NULL, 0, 10000}},
    {SLOT(last_duration),
     {CTL_METRIC_GAUGE, "retl_last_run_duration_seconds",
      "Duration of the job's last finished run.", LABELS("namespace", "job"), NULL, 0,
      10000}},
    {SLOT(last_ts),
     {CTL_METRIC_GAUGE, "retl_last_run_timestamp_seconds",
      "Completion time of the job's last finished run (Unix seconds).",
      LABELS("namespace", "job"), NULL, 0, 10000}},
    {SLOT(last_success_ts),
     {CTL_METRIC_GAUGE, "retl_last_success_timestamp_seconds",
      "Completion time of the job's last successful run (Unix seconds).",
      LABELS("namespace", "job"), NULL, 0, 10000}},
    {SLOT(consecutive),
     {CTL_METRIC_GAUGE, "retl_consecutive_failed_runs",
      "Finished runs since the job's last successful run (0 after a success).",
      LABELS("namespace", "job"), NULL, 0, 10000}},
    {SLOT(rows_failing),
     {CTL_METRIC_GAUGE, "retl_rows_failing",
      "Rows failing now (status.errors.failingRows: keys in the job's errors table).",
      LABELS("namespace", "job"), NULL, 0, 10000}},
};

retl_err ctl_metrics_init(void)
{
    retl_err e = RETL_E_OK;
    pthread_mutex_lock(&init_mu);
    if (atomic_load(&std_))
        goto out;
    struct std_metrics *s = calloc(1, sizeof *s);
    if (!s) {
        e = RETL_E_NOMEM;
        goto out;
    }
    e = ctl_metrics_registry_new(&s->reg);
    for (size_t i = 0; !e && i < sizeof defs / sizeof defs[0]; i++)
        e = ctl_metrics_register(s->reg, &defs[i].def,
                                 (struct ctl_metric **)((char *)s + defs[i].offset),
                                 NULL);
    if (e) {
        ctl_metrics_registry_free(s->reg);
        free(s);
        goto out;
    }
    atomic_store(&std_, s);
out:
    pthread_mutex_unlock(&init_mu);
    return e;
}

void ctl_metrics_shutdown(void)
{
    pthread_mutex_lock(&init_mu);
    struct std_metrics *s = atomic_exchange(&std_, NULL);
    if (s) {
        ctl_metrics_registry_free(s->reg);
        free(s);
    }
    pthread_mutex_unlock(&init_mu);
}

struct ctl_registry *ctl_metrics_default(void)
{
    struct std_metrics *s = atomic_load(&std_);
    return s ? s->reg : NULL;
}

#define STD_OR_INVALID(s)                                                                \
    struct std_metrics *s = atomic_load(&std_);                                          \
    if (!s)                                                                              \
    return RETL_E_INVALID

static const char *const reconcile_results[] = {"error", "requeue", "requeue_after",
                                                "success"};

retl_err ctl_metrics_controller_register(const char *controller)
{
    STD_OR_INVALID(s);
    retl_err e = RETL_E_OK;
    for (size_t i = 0; !e && i < 4; i++)
        e = ctl_metrics_touch(s->reconcile_total,
                              CTL_LV(controller, reconcile_results[i]));
    if (!e)
        e = ctl_metrics_touch(s->reconcile_errors, CTL_LV(controller));
    return e;
}

retl_err ctl_metrics_reconcile_done(const char *controller, const char *result,
                                    double seconds)
{
    STD_OR_INVALID(s);
    retl_err e =
        ctl_metrics_counter_add(s->reconcile_total, 1, CTL_LV(controller, result));
    if (!e && result && strcmp(result, "error") == 0)
        e = ctl_metrics_counter_add(s->reconcile_errors, 1, CTL_LV(controller));
    if (!e)
        e = ctl_metrics_observe(s->reconcile_time, seconds, CTL_LV(controller));
    return e;
}

retl_err ctl_metrics_workqueue_add(const char *name)
{
    STD_OR_INVALID(s);
    return ctl_metrics_counter_add(s->wq_adds, 1, CTL_LV(name));
}

retl_err ctl_metrics_workqueue_depth(const char *name, size_t depth)
{
    STD_OR_INVALID(s);
    return ctl_metrics_gauge_set(s->wq_depth, (double)depth, CTL_LV(name));
}

retl_err ctl_metrics_workqueue_queue_duration(const char *name, double seconds)
{
    STD_OR_INVALID(s);
    return ctl_metrics_observe(s->wq_queue, seconds, CTL_LV(name));
}

retl_err ctl_metrics_workqueue_work_duration(const char *name, double seconds)
{
    STD_OR_INVALID(s);
    return ctl_metrics_observe(s->wq_work, seconds, CTL_LV(name));
}

retl_err ctl_metrics_workqueue_retry(const char *name)
{
    STD_OR_INVALID(s);
    return ctl_metrics_counter_add(s->wq_retries, 1, CTL_LV(name));
}

retl_err ctl_metrics_leader(const char *name, bool leading)
{
    STD_OR_INVALID(s);
    return ctl_metrics_gauge_set(s->leader, leading ? 1 : 0, CTL_LV(name));
}

retl_err ctl_metrics_rest_request(int code, const char *method, const char *host)
{
    STD_OR_INVALID(s);
    char c[16];
    if (code > 0)
        snprintf(c, sizeof c, "%d", code);
    else
        snprintf(c, sizeof c, "<error>");
    return ctl_metrics_counter_add(s->rest, 1,
                                   CTL_LV(c, method ? method : "", host ? host : ""));
}

retl_err ctl_metrics_run_finished(const char *ns, const char *job, const char *result,
                                  uint64_t rows_synced, uint64_t rows_failed,
                                  double duration_seconds, double ts)
{
    STD_OR_INVALID(s);
    if (!ns || !job || !result)
        return RETL_E_INVALID;
    retl_err e = ctl_metrics_counter_add(s->runs, 1, CTL_LV(ns, job, result));
    if (!e)
        e = ctl_metrics_counter_add(s->rows_synced, (double)rows_synced, CTL_LV(ns, job));
    if (!e)
        e = ctl_metrics_counter_add(s->rows_failed, (double)rows_failed, CTL_LV(ns, job));
    if (!e)
        e = ctl_metrics_gauge_set(s->last_duration, duration_seconds, CTL_LV(ns, job));
    if (!e)
        e = ctl_metrics_gauge_set(s->last_ts, ts, CTL_LV(ns, job));
    bool ok = strcmp(result, "Succeeded") == 0;
    if (!e && ok)
        e = ctl_metrics_gauge_set(s->last_success_ts, ts, CTL_LV(ns, job));
    if (!e)
        e = ok ? ctl_metrics_gauge_set(s->consecutive, 0, CTL_LV(ns, job))
               : ctl_metrics_gauge_add(s->consecutive, 1, CTL_LV(ns, job));
    return e;
}

retl_err ctl_metrics_rows_failing(const char *ns, const char *job, uint64_t failing)
{
    STD_OR_INVALID(s);
    return ctl_metrics_gauge_set(s->rows_failing, (double)failing, CTL_LV(ns, job));
}

void ctl_metrics_job_deleted(const char *ns, const char *job)
{
    struct std_metrics *s = atomic_load(&std_);
    if (!s || !ns || !job)
        return;
    struct ctl_metric *const fams[] = {
        s->runs,    s->rows_synced,     s->rows_failed,  s->last_duration,
        s->last_ts, s->last_success_ts, s->rows_failing, s->consecutive};
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++)
        ctl_metrics_remove_matching(fams[i], LABELS("namespace", "job"), CTL_LV(ns, job),
                                    2);
}

static bool succeeded(const json_t *run)
{
    const char *r = json_string_value(json_object_get(run, "result"));
    return r && strcmp(r, "Succeeded") == 0;
}

retl_err ctl_metrics_job_status(const char *ns, const char *job, const json_t *status)
{
    STD_OR_INVALID(s);
    if (!ns || !job || !json_is_object(status))
        return RETL_E_INVALID;
    const json_t *errors = json_object_get(status, "errors");
    json_int_t failing = json_integer_value(json_object_get(errors, "failingRows"));
    retl_err e = ctl_metrics_gauge_set(
        s->rows_failing, (double)(failing > 0 ? failing : 0), CTL_LV(ns, job));

    /* history is newest first; without one, lastRun alone tells 0 or 1. */
    const json_t *hist = json_object_get(status, "history");
    const json_t *last = json_object_get(status, "lastRun");
    size_t n = 0;
    if (json_array_size(hist)) {
        while (n < json_array_size(hist) && !succeeded(json_array_get(hist, n)))
            n++;
    } else if (json_is_object(last) && !succeeded(last)) {
        n = 1;
    }
    if (!e)
        e = ctl_metrics_gauge_set(s->consecutive, (double)n, CTL_LV(ns, job));

    double ts;
    if (!e && retl_time_parse_real(
                  json_string_value(json_object_get(last, "completionTime")), &ts))
        e = ctl_metrics_gauge_set(s->last_ts, ts, CTL_LV(ns, job));
    const json_t *dur = json_object_get(last, "durationSeconds");
    if (!e && json_is_number(dur))
        e = ctl_metrics_gauge_set(s->last_duration, json_number_value(dur),
                                  CTL_LV(ns, job));
    if (!e && retl_time_parse_real(
                  json_string_value(json_object_get(status, "lastSuccessfulTime")), &ts))
        e = ctl_metrics_gauge_set(s->last_success_ts, ts, CTL_LV(ns, job));
    return e;
}
