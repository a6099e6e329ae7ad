/* kubectl-retl: the kubectl plugin for ReverseEtlJobs (DESIGN.md section 8.5).
 * It runs with the user's own kubeconfig and rights, like kubectl: the
 * controller's RBAC does not grow for it. Shared state of one invocation. */
#ifndef KRC_H
#define KRC_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "controller/kube/kube.h"

struct krc {
    struct kube_client *kc;
    const char *ns;    /* -n, else the context's namespace */
    const char *job;   /* the job's name */
    json_t *rj;        /* the job as read at the start (owned) */
    bool wait;         /* run/resync/reset/retry --wait */
    long timeout_s;    /* --timeout; 0 = none */
    const char *image; /* --image for plan/errors, or NULL */
};

/* Subcommands: each returns the process exit code (0 done, 1 failed, 2 bad
 * usage or no such job, 3 the run exceeded its error threshold). */
int krc_request(struct krc *k, const char *verb);
int krc_status(struct krc *k);
int krc_inspect(struct krc *k, const char *verb);

/* Parses a duration like kubectl: "90s", "5m", "1h30m", "2" (seconds).
 * Returns false when it is not one. */
bool krc_duration(const char *s, long *seconds);

/* Set by SIGINT/SIGTERM: waits and watches stop. */
extern atomic_bool krc_stop;

/* Monotonic seconds. */
double krc_now(void);
/* Sleeps ms milliseconds unless interrupted; false once SIGINT/SIGTERM came. */
bool krc_sleep_ms(long ms);

#endif
