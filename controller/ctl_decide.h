/* The reconciler's decisions as pure functions (no I/O; the clock and the
 * cached objects are arguments): which run is due, what the job's run pods
 * mean (record, active, replaced, stop, prune), which stall and conditions
 * follow, and what deletion does next. ctl_reconcile.c, ctl_record.c and
 * ctl_finalize.c carry the decisions out. */
#ifndef RETL_CTL_DECIDE_H
#define RETL_CTL_DECIDE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/spec.h"
#include "controller/ctl_after.h"
#include "controller/ctl_runpod.h"
#include "controller/ctl_schedule.h"

/* ---- which run is due ---------------------------------------------------- */

/* Whether the run-request annotation value asks for a run not handled yet
 * (status.lastHandledRunRequest). */
bool ctl_manual_due(const char *requested, const char *handled);

/* The schedule's decision for this job: *so from the cron expression,
 * status.lastScheduleTime and metadata.creationTimestamp. Returns whether
 * scheduled runs are on (a schedule that parses and is not suspended). */
bool ctl_decide_schedule(const struct retl_job *job, const json_t *rj,
                         const json_t *status, time_t now, struct ctl_sched_out *so);

enum ctl_due {
    CTL_DUE_NONE,          /* nothing is due */
    CTL_DUE_WAIT_ACTIVE,   /* due, but another run is active (Forbid) */
    CTL_DUE_REPLACE,       /* due: stop the active run first (Replace) */
    CTL_DUE_WAIT_STOPPING, /* due, but a replaced run's pod is still going away */
    CTL_DUE_MANUAL,        /* start the requested run */
    CTL_DUE_SCHEDULED,     /* start the schedule's slot */
    CTL_DUE_AFTER,         /* start the run spec.after asks for */
};

struct ctl_due_in {
    bool manual_due, sched_due;
    bool after_due; /* every job in spec.after succeeded since the last run */
    bool active;    /* a run is in progress */
    bool stopping;  /* a recorded (replaced) run's pod is still running */
    enum retl_concurrency concurrency;
};

/* A manual request comes before the schedule, the schedule before spec.after
 * (a run started for either is newer than the dependencies' successes, so it
 * serves them too); two runs never overlap. */
enum ctl_due ctl_decide_due(const struct ctl_due_in *in);

/* ---- what the run pods mean ---------------------------------------------- */

enum ctl_pod_verdict {
    CTL_PV_IGNORE,       /* the cleanup pod */
    CTL_PV_DONE,         /* recorded and finished */
    CTL_PV_STOP,         /* recorded (replaced) but still running: delete it */
    CTL_PV_STOPPING,     /* recorded, still running, its deletion is under way */
    CTL_PV_RECORD,       /* finished, not recorded yet */
    CTL_PV_RECORD_STUCK, /* can never start: record as failed, then delete */
    CTL_PV_ACTIVE,       /* the newest unfinished run */
    CTL_PV_WAITING,      /* unfinished, left alone */
    CTL_PV_REPLACED,     /* unfinished, older than the active run: record and delete */
};

struct ctl_pod_plan {
    enum ctl_pod_verdict *v; /* one per pod, in the pods' order (caller's array) */
    long long recorded_max;  /* highest recorded run once the plan is carried out */
    long long max_run;       /* highest run number known (status or pods) */
    const json_t *active;    /* the active pod (borrowed from pods) or NULL */
    bool stopping;           /* a recorded run's pod is still running */
};

/* pods: the job's run pods sorted by run number; recorded_max: status.lastRun.run;
 * status_max_run: ctl_status_max_run(status). Records happen in the pods' order,
 * every CTL_PV_RECORD* before any CTL_PV_REPLACED. plan->v must hold
 * json_array_size(pods) entries. */
void ctl_decide_pods(const json_t *pods, long long recorded_max, long long status_max_run,
                     time_t now, struct ctl_pod_plan *plan);

/* Finished, recorded run pods beyond history_limit (oldest first): del[i] is
 * set for each pod to delete. del must hold json_array_size(pods) entries. */
void ctl_decide_prune(const json_t *pods, long long recorded_max, int history_limit,
                      time_t now, bool *del);

/* ---- stall and conditions ------------------------------------------------ */

/* A result that no retry can fix without a change of the job. */
struct ctl_stall {
    char reason[64]; /* "" = none, RunPodConfigError, RunRejected */
    char msg[1024];
};

/* The stall a recorded run causes: a stuck pod (RunPodConfigError) or an
 * engine that rejected the job (exit code 2, RunRejected). *s is left alone
 * for any other outcome. */
void ctl_decide_stall(const struct ctl_outcome *o, bool stuck, struct ctl_stall *s);

struct ctl_cond_in {
    const struct retl_job *job;        /* NULL when the spec is invalid */
    const char *invalid;               /* the spec's problems, or NULL */
    const char *invalid_reason;        /* their reason; NULL = InvalidSpec */
    const struct ctl_stall *stall;     /* made by this reconcile's runs */
    bool ran_ok;                       /* a run succeeded in this reconcile */
    time_t next_slot;                  /* 0 = none */
    const struct ctl_after_out *after; /* spec.after's decision, or NULL */
    long long generation;
    time_t now;
};

/* Sets Ready, Stalled, Reconciling and LastRunSucceeded, observedGeneration
 * and nextScheduleTime in status. A run-made stall persists until a run
 * succeeds or the spec changes. */
void ctl_decide_conditions(json_t *status, const struct ctl_cond_in *in);

/* ---- deletion ------------------------------------------------------------ */

enum ctl_fin_step {
    CTL_FIN_NONE,           /* our finalizer is not there: nothing to do */
    CTL_FIN_RELEASE,        /* stop running runs, remove the finalizer (Retain) */
    CTL_FIN_STOP_RUNS,      /* Delete: stop running runs first; their deletion requeues */
    CTL_FIN_START_CLEANUP,  /* Delete: create the cleanup pod */
    CTL_FIN_WAIT_CLEANUP,   /* the cleanup pod runs */
    CTL_FIN_CLEANED,        /* the cleanup pod succeeded: remove the finalizer */
    CTL_FIN_CLEANUP_FAILED, /* delete the cleanup pod and retry later */
};

struct ctl_fin_plan {
    enum ctl_fin_step step;
    bool *stop;            /* per pod: a running run pod to delete (caller's array) */
    const json_t *cleanup; /* the cleanup pod (borrowed) or NULL */
    char message[1024];    /* CTL_FIN_CLEANUP_FAILED: why */
};

/* What deleting the job does next. plan->stop must hold json_array_size(pods)
 * entries. */
void ctl_decide_finalize(const json_t *rj, const json_t *pods, enum retl_cleanup policy,
                         time_t now, struct ctl_fin_plan *plan);

/* Whether rj's finalizers hold CTL_FINALIZER. */
bool ctl_has_finalizer(const json_t *rj);
/* Whether the pod is a job's cleanup pod (label retl.io/cleanup=true). */
bool ctl_is_cleanup_pod(const json_t *pod);

#endif
