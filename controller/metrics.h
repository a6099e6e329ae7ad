/* Prometheus metrics for retl-controller: a small thread-safe registry
 * (counters, gauges, histograms with labels) rendered in the text exposition
 * format 0.0.4, plus the pre-defined metrics Kubernetes users know from
 * controller-runtime and client-go and retl's own per-job metrics.
 *
 * Every family bounds its number of series (its label cardinality): a new
 * label combination beyond the bound is dropped, the update returns
 * RETL_E_LIMIT and retl_metrics_dropped_series_total{metric} counts it.
 *
 * The reconciler uses the simple functions at the end (ctl_metrics_init once,
 * then ctl_metrics_reconcile_done, ctl_metrics_run_finished, ...); they update
 * the default registry, which controller/health.h serves on /metrics. They are
 * no-ops returning RETL_E_INVALID before ctl_metrics_init. All functions are
 * thread-safe. */
#ifndef RETL_CTL_METRICS_H
#define RETL_CTL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/buf.h"
#include "common/error.h"

enum ctl_metric_type {
    CTL_METRIC_COUNTER,
    CTL_METRIC_GAUGE,
    CTL_METRIC_HISTOGRAM,
};

struct ctl_registry; /* a set of metric families */
struct ctl_metric;   /* one family: name, help, label names, series */

/* Label values in the order of the family's label names:
 *   ctl_metrics_counter_add(m, 1, CTL_LV("default", "job-a"));
 * A family without labels takes NULL. */
#define CTL_LV(...) ((const char *const[]){__VA_ARGS__})

/* Most labels a family may have. */
#define CTL_METRICS_MAX_LABELS 8
/* Longest label value accepted (Kubernetes names are at most 253 bytes). */
#define CTL_METRICS_MAX_VALUE_LEN 1024
/* Default series bound per family when a definition gives 0. */
#define CTL_METRICS_DEFAULT_MAX_SERIES 10000
/* Largest rendered exposition (bounded buffer). */
#define CTL_METRICS_MAX_RENDER (64u * 1024 * 1024)

struct ctl_metric_def {
    enum ctl_metric_type type;
    const char *name;          /* [a-zA-Z_:][a-zA-Z0-9_:]*; copied */
    const char *help;          /* copied; escaped on output */
    const char *const *labels; /* NULL-terminated label names, or NULL; copied */
    const double *buckets;     /* histogram upper bounds, strictly increasing,
                                  +Inf implied; NULL = ctl_metrics_default_buckets */
    size_t nbuckets;
    size_t max_series; /* 0 = CTL_METRICS_DEFAULT_MAX_SERIES */
};

/* Prometheus' default buckets (0.005 ... 10 seconds). */
#define CTL_METRICS_DEFAULT_NBUCKETS 11
extern const double ctl_metrics_default_buckets[CTL_METRICS_DEFAULT_NBUCKETS];
/* Buckets for reconcile times (0.005 ... 60 s, as controller-runtime). */
#define CTL_METRICS_RECONCILE_NBUCKETS 40
extern const double ctl_metrics_reconcile_buckets[CTL_METRICS_RECONCILE_NBUCKETS];

/* Creates an empty registry; the caller frees it with ctl_metrics_registry_free,
 * which also frees every family registered in it. */
retl_err ctl_metrics_registry_new(struct ctl_registry **out);
void ctl_metrics_registry_free(struct ctl_registry *r);

/* Registers a family. *out is owned by the registry (valid until the registry is
 * freed). RETL_E_INVALID for bad names, bad buckets or a "le" label on a
 * histogram; RETL_E_ALREADY_EXISTS when the name is taken. */
retl_err ctl_metrics_register(struct ctl_registry *r, const struct ctl_metric_def *def,
                              struct ctl_metric **out, struct retl_errbuf *eb);

/* Counter: adds v (>= 0, else RETL_E_INVALID). */
retl_err ctl_metrics_counter_add(struct ctl_metric *m, double v,
                                 const char *const *values);
/* Gauge: sets / adds (v may be negative). */
retl_err ctl_metrics_gauge_set(struct ctl_metric *m, double v, const char *const *values);
retl_err ctl_metrics_gauge_add(struct ctl_metric *m, double v, const char *const *values);
/* Histogram: records one observation. */
retl_err ctl_metrics_observe(struct ctl_metric *m, double v, const char *const *values);
/* Creates the series at zero if it does not exist (so rate() and absent-based
 * alerts see it before the first event). */
retl_err ctl_metrics_touch(struct ctl_metric *m, const char *const *values);
/* Reads a counter or gauge series (tests, health checks). RETL_E_NOT_FOUND when
 * the series does not exist. */
retl_err ctl_metrics_value(struct ctl_metric *m, const char *const *values, double *out);
/* Number of series in the family. */
size_t ctl_metrics_series_count(struct ctl_metric *m);

/* Deletes the series with exactly these label values; RETL_E_NOT_FOUND if absent. */
retl_err ctl_metrics_remove(struct ctl_metric *m, const char *const *values);
/* Deletes every series whose labels match all n (name, value) pairs given as
 * names[i] / values[i]; returns how many were deleted. A name the family does not
 * have matches nothing. */
size_t ctl_metrics_remove_matching(struct ctl_metric *m, const char *const *names,
                                   const char *const *values, size_t n);

/* Appends the whole registry in text format 0.0.4 to out (families sorted by
 * name, series by label values; families without series print HELP and TYPE
 * only). */
retl_err ctl_metrics_render(struct ctl_registry *r, struct retl_buf *out);

/* Formats v as the exposition format does ("1", "0.25", "+Inf", "NaN") into buf
 * (at least 32 bytes). Returns buf. */
char *ctl_metrics_format_value(double v, char *buf, size_t n);

/* ---- The controller's metrics (default registry) ---- */

/* Creates the default registry with every pre-defined family. Idempotent. */
retl_err ctl_metrics_init(void);
/* Frees the default registry (after the HTTP server stopped). */
void ctl_metrics_shutdown(void);
/* The default registry, or NULL before ctl_metrics_init. */
struct ctl_registry *ctl_metrics_default(void);

/* Pre-creates controller_runtime_reconcile_total{controller,result} for every
 * result and controller_runtime_reconcile_errors_total{controller} at 0. */
retl_err ctl_metrics_controller_register(const char *controller);

/* One reconcile finished. result: "success" | "error" | "requeue" |
 * "requeue_after" (controller-runtime's values). Updates reconcile_total,
 * reconcile_errors_total (on "error") and reconcile_time_seconds. */
retl_err ctl_metrics_reconcile_done(const char *controller, const char *result,
                                    double seconds);

/* Work queue (label name = the queue's name, e.g. "reverseetljob"). */
retl_err ctl_metrics_workqueue_add(const char *name);
retl_err ctl_metrics_workqueue_depth(const char *name, size_t depth);
/* Time a key waited in the queue before a worker got it. */
retl_err ctl_metrics_workqueue_queue_duration(const char *name, double seconds);
/* Time a worker spent on a key (get to done). */
retl_err ctl_metrics_workqueue_work_duration(const char *name, double seconds);
retl_err ctl_metrics_workqueue_retry(const char *name);

/* leader_election_master_status{name}: 1 while leading, 0 otherwise. */
retl_err ctl_metrics_leader(const char *name, bool leading);

/* rest_client_requests_total{code,method,host}: code is the HTTP status, or
 * <= 0 for a transport error (rendered "<error>" as client-go does); method is
 * upper case ("GET"); host is "host:port" of the API server. */
retl_err ctl_metrics_rest_request(int code, const char *method, const char *host);

/* A run of a job finished (read from the run pod's summary).
 * result: "Succeeded" | "Failed" | "ThresholdExceeded" (engine summary values).
 * Adds 1 to retl_runs_total{namespace,job,result}, rows_synced to
 * retl_rows_synced_total, rows_failed to retl_rows_failed_total, and sets
 * retl_last_run_duration_seconds and retl_last_run_timestamp_seconds (ts = the
 * run's completion time, Unix seconds); on Succeeded sets
 * retl_last_success_timestamp_seconds and zeroes retl_consecutive_failed_runs,
 * otherwise adds 1 to it. */
retl_err ctl_metrics_run_finished(const char *ns, const char *job, const char *result,
                                  uint64_t rows_synced, uint64_t rows_failed,
                                  double duration_seconds, double ts);
/* Sets the per-job gauges from the job's status as written (jansson object,
 * borrowed), so they survive a controller restart: retl_rows_failing
 * (errors.failingRows), retl_consecutive_failed_runs (leading non-Succeeded
 * entries of history, newest first), retl_last_run_timestamp_seconds and
 * retl_last_run_duration_seconds (lastRun), retl_last_success_timestamp_seconds
 * (lastSuccessfulTime). Call it after each status write (or each reconcile). */
retl_err ctl_metrics_job_status(const char *ns, const char *job, const json_t *status);
/* retl_rows_failing{namespace,job} = status.errors.failingRows. */
retl_err ctl_metrics_rows_failing(const char *ns, const char *job, uint64_t failing);
/* The job is gone: deletes every retl_* series of namespace/job. */
void ctl_metrics_job_deleted(const char *ns, const char *job);

#endif
