/* Internal to the reconciler (ctl_reconcile.c, ctl_record.c, ctl_finalize.c):
 * one reconcile pass's working state and the actions it collects. Events and
 * pod deletions are collected during the pass and carried out after the
 * status write, so a failed write leaves no trace. */
#ifndef RETL_CTL_RECONCILE_INT_H
#define RETL_CTL_RECONCILE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "common/error.h"
#include "common/spec.h"
#include "controller/ctl_decide.h"
#include "controller/ctl_reconcile.h"
#include "controller/ctl_runpod.h"

#define CTL_MAX_ACTIONS 64
#define CTL_CLEANUP_RETRY_MS 30000

struct ctl_pending_event {
    const char *type;
    const char *reason;
    char note[1100];
};

/* One reconcile pass's working state. */
struct ctl_pass {
    struct ctl *c;
    json_t *rj;     /* cached object (shared, read-only) */
    json_t *status; /* the status being built (owned copy) */
    const char *ns, *name, *uid;
    long long gen;
    struct retl_job *job; /* NULL when the spec is invalid */
    time_t now;
    json_t *pods; /* this job's run pods, sorted by run number (array, owned) */
    char deletes[CTL_MAX_ACTIONS][CTL_POD_NAME_MAX];
    size_t n_deletes;
    struct ctl_pending_event events[CTL_MAX_ACTIONS];
    size_t n_events;
    struct ctl_stall stall;     /* made by a run recorded in this pass */
    bool ran_ok;                /* a run succeeded in this pass */
    struct ctl_after_out after; /* spec.after's decision */
};

/* Collects an event (at most CTL_MAX_ACTIONS per pass). */
void ctl_pass_event(struct ctl_pass *r, const char *type, const char *reason,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Collects a pod to delete (once). */
void ctl_pass_delete(struct ctl_pass *r, const char *pod);
/* Logs and emits the collected events. */
void ctl_pass_emit(struct ctl_pass *r);
/* Deletes the collected pods; failures are logged, a missing pod is fine. */
void ctl_pass_delete_pods(struct ctl_pass *r);
/* The value of a metadata annotation, or NULL. */
const char *ctl_annotation(const json_t *obj, const char *key);

/* ---- ctl_record.c: recording runs ---------------------------------------- */

/* Records one finished run (status, metrics, an event, the stall it causes).
 * pod may be NULL (vanished): then the trigger and times come from
 * status.active. */
void ctl_record_run(struct ctl_pass *r, const json_t *pod, const char *pod_name,
                    long long run, struct ctl_outcome *o, bool stuck);

/* Carries out the pods' plan (ctl_decide_pods over r->pods): records
 * finished, stuck and replaced runs, collects the deletions. */
void ctl_record_pods(struct ctl_pass *r, const struct ctl_pod_plan *plan);

/* status.active names a pod that is no longer cached: confirm with the API
 * and record the run as failed (PodDeleted) when the pod is really gone;
 * RETL_E_CONFLICT when the cache is only behind. */
retl_err ctl_record_vanished(struct ctl_pass *r, struct ctl_pod_plan *plan,
                             struct retl_errbuf *eb);

/* Records the active run as Failed/Replaced and collects its pod's deletion. */
void ctl_record_replaced(struct ctl_pass *r, struct ctl_pod_plan *plan);

/* ---- ctl_finalize.c: deletion --------------------------------------------- */

/* Adds or removes our finalizer (a merge patch carrying the resourceVersion). */
retl_err ctl_set_finalizer(struct ctl *c, const json_t *rj, bool present,
                           struct retl_errbuf *eb);

/* Whether a create failed because the namespace is being deleted (nothing
 * can be created there any more). */
bool ctl_namespace_terminating(retl_err e, const struct retl_errbuf *eb);

/* The job is being deleted: stops its runs, runs the cleanup pod with
 * cleanupPolicy Delete, and lets the job go. *requeue_ms is set for a retry of
 * a failed cleanup. */
retl_err ctl_finalize(struct ctl_pass *r, long *requeue_ms, struct retl_errbuf *eb);

#endif
