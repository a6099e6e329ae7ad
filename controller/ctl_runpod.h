/* Run pods (DESIGN.md section 3): deterministic names, the pod object the
 * controller creates, the cleanup pod, and how a pod's state reads as a run
 * outcome. Pure functions over jansson values. */
#ifndef RETL_CTL_RUNPOD_H
#define RETL_CTL_RUNPOD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/spec.h"

#define CTL_LABEL_JOB "retl.io/job"
#define CTL_LABEL_RUN "retl.io/run"
#define CTL_LABEL_CLEANUP "retl.io/cleanup"
#define CTL_ANN_TRIGGER "retl.io/trigger"
#define CTL_ANN_SCHEDULED "retl.io/scheduled-time"
#define CTL_ANN_REQUEST "retl.io/run-requested-at"
#define CTL_FINALIZER "retl.io/cleanup"
#define CTL_POD_NAME_MAX 64
#define CTL_DEFAULT_DEADLINE 3600
#define CTL_RUN_USER 65532

/* "<job>-<slot / 60>" */
void ctl_pod_name_scheduled(const char *job, time_t slot, char *buf, size_t n);
/* "<job>-m<first 8 hex digits of sha256(value)>" */
void ctl_pod_name_manual(const char *job, const char *value, char *buf, size_t n);
/* "<job>-cleanup" */
void ctl_pod_name_cleanup(const char *job, char *buf, size_t n);

/* The RETL_JOB document: apiVersion, kind, metadata {name, namespace, uid,
 * generation} and spec of rj. Ownership: caller frees the string. */
char *ctl_job_env(const json_t *rj);

struct ctl_pod_params {
    const json_t *rj;           /* the ReverseEtlJob (borrowed) */
    const struct retl_job *job; /* its parsed spec */
    const char *name;           /* pod name */
    long long run;              /* run number (0 for the cleanup pod) */
    const char *trigger;        /* "Schedule" | "Manual" | NULL (cleanup) */
    time_t scheduled;           /* slot for scheduled runs, else 0 */
    const char *default_image;  /* --engine-image */
    bool cleanup;               /* `retl-engine cleanup --from-env` instead of run */
    const char *env_flag;       /* engine env set to "1" (RETL_RESYNC, ...) or NULL */
};

/* The pod object to create. Ownership: new reference. NULL when out of memory. */
json_t *ctl_pod_build(const struct ctl_pod_params *p);

enum ctl_pod_phase {
    CTL_POD_WAITING,  /* pending or running normally */
    CTL_POD_FINISHED, /* terminated: outcome filled */
    CTL_POD_STUCK,    /* can never start (bad config): outcome filled */
};

struct ctl_outcome {
    char result[24]; /* "Succeeded" | "Failed" | "ThresholdExceeded" */
    char reason[64]; /* "" or DeadlineExceeded, OOMKilled, CreateContainerConfigError, ...
                      */
    int exit_code;   /* -1 when unknown */
    char message[1024];
    json_t *summary; /* the engine summary when there is one (owned), else NULL */
    time_t started, finished;
};

/* Reads the pod's state. For FINISHED and STUCK, *o is filled (free with
 * ctl_outcome_free). */
enum ctl_pod_phase ctl_pod_observe(const json_t *pod, time_t now, struct ctl_outcome *o);
void ctl_outcome_free(struct ctl_outcome *o);

/* The run number label of a pod, or 0. */
long long ctl_pod_run(const json_t *pod);
/* Whether the pod has a controller ownerReference to uid. */
bool ctl_pod_owned_by(const json_t *pod, const char *uid);

#endif
