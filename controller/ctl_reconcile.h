/* The ReverseEtlJob reconciler: one call brings one job's world in line with
 * its spec, from the informer caches, with as few API writes as possible:
 *
 *   finished run pods are recorded (once: the status write carries the
 *   cached resourceVersion, so a stale cache ends in a 409 and a retry, never
 *   in a double record) -> a due run (manual request, else the schedule) is
 *   started or waits (Forbid) or replaces the active one (Replace) -> one
 *   status write -> then pods that are done with (stuck, replaced, beyond
 *   historyLimit) are deleted and events are emitted.
 *
 * Deletion: the finalizer retl.io/cleanup stops running runs and, with
 * cleanupPolicy Delete, runs a cleanup pod before letting the job go. */
#ifndef RETL_CTL_RECONCILE_H
#define RETL_CTL_RECONCILE_H

#include <jansson.h>
#include <time.h>

#include "common/error.h"
#include "controller/ctl_policy.h"
#include "controller/kube/kube.h"

/* The informers of one watched namespace (ns NULL: all namespaces). */
struct ctl_scope {
    const char *ns;
    struct kube_informer *jobs; /* ReverseEtlJobs */
    struct kube_informer *pods; /* pods labelled retl.io/job */
};

struct ctl {
    struct kube_client *kc;
    struct ctl_scope scopes[CTL_POLICY_MAX_ITEMS]; /* --watch-namespaces, or one */
    size_t n_scopes;
    struct kube_queue *queue;
    struct kube_events *events; /* may be NULL */
    const char *engine_image;
    const struct ctl_list *allowed_images; /* --allowed-run-images; may be NULL */
    const struct ctl_list *allowed_sas; /* --allowed-run-service-accounts; may be NULL */
    time_t (*now)(void);                /* NULL = time() */
};

/* Reconciles the job "ns/name". *requeue_ms gets when to look again without
 * an event (the next schedule slot, a cleanup retry), or -1. A non-OK return
 * asks for a rate-limited retry. */
retl_err ctl_reconcile(struct ctl *c, const char *key, long *requeue_ms,
                       struct retl_errbuf *eb);

/* The cached ReverseEtlJobs of namespace ns (an empty array when ns is not
 * watched). Ownership: new reference. */
json_t *ctl_jobs_list(const struct ctl *c, const char *ns);

/* Informer handlers for run pods: each event queues "<ns>/<retl.io/job>". */
struct kube_informer_handlers ctl_pod_handlers(struct kube_queue *q);

#endif
