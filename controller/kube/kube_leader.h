/* Leader election on a coordination.k8s.io/v1 Lease (client-go's
 * leaderelection with the core defaults): leaseDuration 15 s, renewDeadline
 * 10 s, retryPeriod 2 s (with up to 1.2x jitter while acquiring).
 *
 * A candidate takes the Lease when it is free (no holderIdentity), or when the
 * holder's record has not changed for leaseDuration as measured on this
 * process's monotonic clock (no trust in remote timestamps, so clock skew does
 * not matter). Writes use the Lease's resourceVersion, so two candidates can
 * never both win. The leader renews every retryPeriod; when it cannot renew
 * for renewDeadline it has lost the lease: on_stopped_leading(lost=true) runs
 * and the process MUST exit (another replica may already lead). If the
 * callback is NULL the process exits with status 1.
 *
 * kube_leader_stop releases the Lease when leading (holderIdentity cleared,
 * leaseDurationSeconds 1), so a standby takes over at its next retry instead
 * of waiting for expiry; then on_stopped_leading(lost=false) runs. */
#ifndef RETL_KUBE_LEADER_H
#define RETL_KUBE_LEADER_H

#include <stdbool.h>

#include "common/error.h"
#include "kube_client.h"

struct kube_leader_opts {
    const char *namespace;  /* of the Lease; required */
    const char *name;       /* Lease name; required */
    const char *identity;   /* NULL = "<hostname>_<random uuid>" */
    long lease_duration_ms; /* default 15000 */
    long renew_deadline_ms; /* default 10000 */
    long retry_period_ms;   /* default 2000 */
    /* Called on the election thread. */
    void (*on_started_leading)(void *ud);
    void (*on_stopped_leading)(void *ud, bool lost);
    void (*on_new_leader)(void *ud, const char *identity); /* optional */
    void *ud;
};

struct kube_leader;

/* Validates opts (lease > renew > 1.2 * retry), copies them and starts the
 * election thread. c is borrowed and must outlive the elector. Ownership:
 * free *out with kube_leader_free. */
retl_err kube_leader_start(struct kube_client *c, const struct kube_leader_opts *opts,
                           struct kube_leader **out, struct retl_errbuf *eb);
/* Stops campaigning; releases the Lease if held (bounded by the client's
 * request timeout, a few seconds at most in practice). Joins the thread. */
void kube_leader_stop(struct kube_leader *l);
void kube_leader_free(struct kube_leader *l);

bool kube_leader_is_leader(struct kube_leader *l);
/* This candidate's identity (borrowed, valid until free). */
const char *kube_leader_identity(const struct kube_leader *l);

/* "<hostname>_<uuid v4>" into buf. */
void kube_leader_default_identity(char *buf, size_t n);

#endif
