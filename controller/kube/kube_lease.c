#include "kube_lease.h"

#include <string.h>

retl_err kube_lease_opts_check(struct kube_leader_opts *o, struct retl_errbuf *eb)
{
    if (!o->namespace || !o->name)
        return retl_errf(eb, RETL_E_INVALID,
                         "leader election: lease namespace and name required");
    if (o->lease_duration_ms <= 0)
        o->lease_duration_ms = 15000;
    if (o->renew_deadline_ms <= 0)
        o->renew_deadline_ms = 10000;
    if (o->retry_period_ms <= 0)
        o->retry_period_ms = 2000;
    if (!(o->lease_duration_ms > o->renew_deadline_ms &&
          (double)o->renew_deadline_ms > 1.2 * (double)o->retry_period_ms))
        return retl_errf(eb, RETL_E_INVALID,
                         "leader election: need leaseDuration > renewDeadline "
                         "> 1.2 * retryPeriod");
    return RETL_E_OK;
}

enum kube_lease_state kube_lease_judge(const json_t *spec, const char *id,
                                       int64_t observed_at, int64_t now, long default_ms,
                                       int64_t *expires_at)
{
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    if (holder && !strcmp(holder, id))
        return KUBE_LEASE_OURS;
    if (!holder || !*holder)
        return KUBE_LEASE_FREE;
    json_t *ld = json_object_get(spec, "leaseDurationSeconds");
    int64_t dur = json_is_integer(ld) ? json_integer_value(ld) * 1000 : default_ms;
    *expires_at = observed_at + dur;
    return now < *expires_at ? KUBE_LEASE_HELD : KUBE_LEASE_EXPIRED;
}

json_t *kube_lease_spec(const json_t *old_spec, const char *id, long lease_duration_ms,
                        const char *now, bool release)
{
    const char *old_holder =
        json_string_value(json_object_get(old_spec, "holderIdentity"));
    json_t *tr = json_object_get(old_spec, "leaseTransitions");
    long long transitions = json_is_integer(tr) ? json_integer_value(tr) : 0;
    json_t *spec = json_object();
    if (release) {
        json_object_set_new(spec, "holderIdentity", json_string(""));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
        json_object_set_new(spec, "renewTime", json_string(now));
        json_t *at = json_object_get(old_spec, "acquireTime");
        if (at)
            json_object_set(spec, "acquireTime", at);
        json_object_set_new(spec, "leaseTransitions", json_integer(transitions));
        return spec;
    }
    bool ours = old_holder && !strcmp(old_holder, id);
    json_object_set_new(spec, "holderIdentity", json_string(id));
    json_object_set_new(spec, "leaseDurationSeconds",
                        json_integer((lease_duration_ms + 999) / 1000));
    json_object_set_new(spec, "renewTime", json_string(now));
    if (ours && json_object_get(old_spec, "acquireTime"))
        json_object_set(spec, "acquireTime", json_object_get(old_spec, "acquireTime"));
    else
        json_object_set_new(spec, "acquireTime", json_string(now));
    json_object_set_new(spec, "leaseTransitions",
                        json_integer(ours || !old_spec ? transitions : transitions + 1));
    return spec;
}

long kube_lease_retry_wait(long retry_period_ms, unsigned rnd, int64_t expires_at,
                           int64_t now)
{
    long jitter = (long)(rnd % (unsigned)(retry_period_ms / 5 + 1));
    long wait = retry_period_ms + jitter;
    int64_t until = expires_at - now + 50;
    if (until > 0 && until < wait)
        wait = (long)until;
    return wait;
}
