/* The Lease rules of leader election (kube_leader.c), pure: the options'
 * defaults and bounds, what a Lease record means for a candidate, the spec it
 * writes, and how long it waits before the next try. Times are arguments:
 * monotonic milliseconds and RFC 3339 MicroTime strings. */
#ifndef RETL_KUBE_LEASE_H
#define RETL_KUBE_LEASE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "kube_leader.h"

/* Fills the defaults (15 s, 10 s, 2 s) of *o and checks namespace, name and
 * leaseDuration > renewDeadline > 1.2 * retryPeriod. */
retl_err kube_lease_opts_check(struct kube_leader_opts *o, struct retl_errbuf *eb);

enum kube_lease_state {
    KUBE_LEASE_OURS,    /* we hold it: renew */
    KUBE_LEASE_FREE,    /* no holder: take it */
    KUBE_LEASE_EXPIRED, /* the holder's record did not change for its duration: take it */
    KUBE_LEASE_HELD,    /* someone alive holds it: wait */
};

/* What the Lease spec means for candidate id. observed_at is when the holder's
 * record last changed on our clock; *expires_at gets when the holder's lease
 * runs out (for HELD and EXPIRED). default_ms stands in for a missing
 * leaseDurationSeconds. */
enum kube_lease_state kube_lease_judge(const json_t *spec, const char *id,
                                       int64_t observed_at, int64_t now, long default_ms,
                                       int64_t *expires_at);

/* The spec to write: taking or renewing for id (acquireTime kept on a renewal,
 * leaseTransitions counted up when the holder changes), or releasing it
 * (holderIdentity "", leaseDurationSeconds 1). old_spec may be NULL (a new
 * Lease). now is a MicroTime. Ownership: new reference. */
json_t *kube_lease_spec(const json_t *old_spec, const char *id, long lease_duration_ms,
                        const char *now, bool release);

/* The wait before the next acquire try: retryPeriod plus jitter (up to 1.2x,
 * from rnd), cut short to right after the holder's lease would expire. */
long kube_lease_retry_wait(long retry_period_ms, unsigned rnd, int64_t expires_at,
                           int64_t now);

#endif
