#include "kube_leader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timestamp.h"
#include "kube_lease.h"

struct kube_leader {
    struct kube_client *c;
    struct kube_leader_opts o;
    char *ns, *name, *id; /* owned */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stop;
    bool leading;
    bool joined;
    /* What we last saw of the Lease, and when (monotonic ms). */
    char *observed_holder;
    char *observed_rv;
    int64_t observed_at;
    int64_t expires_at; /* when the other holder's lease runs out (ms) */
    unsigned seed;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kube_leader_default_identity(char *buf, size_t n)
{
    char host[256] = "unknown";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    unsigned char r[16] = {0};
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof r; i++)
            r[i] ^= (unsigned char)((ts.tv_nsec >> (i % 8)) + getpid() + i * 31);
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(buf, n,
             "%s_%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             host, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
             r[11], r[12], r[13], r[14], r[15]);
}

/* Waits ms on the monotonic clock or until stop. */
static void nap(struct kube_leader *l, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&l->mu);
    while (!atomic_load(&l->stop))
        if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) != 0)
            break;
    pthread_mutex_unlock(&l->mu);
}

static void observe(struct kube_leader *l, const char *holder, const char *rv)
{
    bool changed = !l->observed_rv || !rv || strcmp(l->observed_rv, rv) != 0;
    if (!changed)
        return;
    bool new_holder =
        !l->observed_holder || !holder || strcmp(l->observed_holder, holder) != 0;
    free(l->observed_holder);
    free(l->observed_rv);
    l->observed_holder = holder ? strdup(holder) : NULL;
    l->observed_rv = rv ? strdup(rv) : NULL;
    l->observed_at = mono_ms();
    if (new_holder && holder && *holder && l->o.on_new_leader)
        l->o.on_new_leader(l->o.ud, holder);
}

static json_t *lease_spec(struct kube_leader *l, const json_t *old_spec, bool release)
{
    char now[64];
    retl_time_now_micro(now, sizeof now);
    return kube_lease_spec(old_spec, l->id, l->o.lease_duration_ms, now, release);
}

/* One attempt to acquire or renew: true when we hold the lease afterwards. */
static bool try_acquire_or_renew(struct kube_leader *l)
{
    struct retl_errbuf eb = {{0}};
    json_t *lease = NULL;
    bool ok = false;
    retl_err e = kube_get(l->c, &kube_gvr_leases, l->ns, l->name, &lease, &eb);
    if (e == RETL_E_NOT_FOUND) {
        json_t *obj =
            json_pack("{s:s,s:s,s:{s:s,s:s},s:o}", "apiVersion", "coordination.k8s.io/v1",
                      "kind", "Lease", "metadata", "name", l->name, "namespace", l->ns,
                      "spec", lease_spec(l, NULL, false));
        json_t *created = NULL;
        e = obj ? kube_create(l->c, &kube_gvr_leases, l->ns, obj, &created, &eb)
                : RETL_E_NOMEM;
        json_decref(obj);
        if (e == RETL_E_OK) {
            observe(l, l->id, kube_obj_rv(created));
            ok = true;
        }
        json_decref(created);
        goto out;
    }
    if (e) {
        RETL_LOG_WARN("leader election: cannot read lease", RF_S("lease", l->name),
                      RF_S("error", retl_errbuf_msg(&eb, e)));
        goto out;
    }
    json_t *spec = json_object_get(lease, "spec");
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    observe(l, holder, kube_obj_rv(lease));
    if (kube_lease_judge(spec, l->id, l->observed_at, mono_ms(), l->o.lease_duration_ms,
                         &l->expires_at) == KUBE_LEASE_HELD)
        goto out; /* held by someone alive */
    json_t *upd = json_deep_copy(lease);
    if (!upd)
        goto out;
    json_object_set_new(upd, "spec", lease_spec(l, spec, false));
    json_t *res = NULL;
    e = kube_update(l->c, &kube_gvr_leases, l->ns, upd, NULL, &res, &eb);
    json_decref(upd);
    if (e == RETL_E_OK) {
        observe(l, l->id, kube_obj_rv(res));
        ok = true;
    } else if (e != RETL_E_CONFLICT) {
        RETL_LOG_WARN("leader election: cannot update lease", RF_S("lease", l->name),
                      RF_S("error", retl_errbuf_msg(&eb, e)));
    }
    json_decref(res);
out:
    json_decref(lease);
    return ok;
}

static void release(struct kube_leader *l)
{
    struct retl_errbuf eb = {{0}};
    json_t *lease = NULL;
    if (kube_get(l->c, &kube_gvr_leases, l->ns, l->name, &lease, &eb))
        return;
    json_t *spec = json_object_get(lease, "spec");
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    if (holder && !strcmp(holder, l->id)) {
        json_t *upd = json_deep_copy(lease);
        if (upd) {
            json_object_set_new(upd, "spec", lease_spec(l, spec, true));
            retl_err e = kube_update(l->c, &kube_gvr_leases, l->ns, upd, NULL, NULL, &eb);
            if (e)
                RETL_LOG_WARN("leader election: release failed",
                              RF_S("error", retl_errbuf_msg(&eb, e)));
            else
                RETL_LOG_INFO("leader election: lease released", RF_S("lease", l->name));
        }
        json_decref(upd);
    }
    json_decref(lease);
}

static void set_leading(struct kube_leader *l, bool v)
{
    pthread_mutex_lock(&l->mu);
    l->leading = v;
    pthread_mutex_unlock(&l->mu);
}

static void *run(void *arg)
{
    struct kube_leader *l = arg;
    /* Each try is bounded (client-go bounds it by renewDeadline) and a stop
     * aborts it, so stopping never waits on a hung API server. */
    kube_client_thread_limits(l->o.renew_deadline_ms / 2, &l->stop);
    /* Acquire. */
    while (!atomic_load(&l->stop)) {
        if (try_acquire_or_renew(l))
            break;
        /* Try again right when the current holder's lease would expire. */
        nap(l, kube_lease_retry_wait(l->o.retry_period_ms, (unsigned)rand_r(&l->seed),
                                     l->expires_at, mono_ms()));
    }
    if (atomic_load(&l->stop))
        return NULL;
    set_leading(l, true);
    RETL_LOG_INFO("leader election: became leader", RF_S("lease", l->name),
                  RF_S("identity", l->id));
    if (l->o.on_started_leading)
        l->o.on_started_leading(l->o.ud);
    /* Renew. */
    int64_t last_renew = mono_ms();
    bool lost = false;
    while (!atomic_load(&l->stop)) {
        nap(l, l->o.retry_period_ms);
        if (atomic_load(&l->stop))
            break;
        if (try_acquire_or_renew(l)) {
            last_renew = mono_ms();
            continue;
        }
        if (mono_ms() - last_renew >= l->o.renew_deadline_ms) {
            lost = true;
            break;
        }
    }
    set_leading(l, false);
    /* Releasing happens after stop was set: at most two short requests. */
    kube_client_thread_limits(2000, NULL);
    if (lost) {
        RETL_LOG_ERROR("leader election lost", RF_S("lease", l->name),
                       RF_S("identity", l->id));
        if (!l->o.on_stopped_leading)
            _exit(1);
        l->o.on_stopped_leading(l->o.ud, true);
        return NULL;
    }
    release(l);
    if (l->o.on_stopped_leading)
        l->o.on_stopped_leading(l->o.ud, false);
    return NULL;
}

retl_err kube_leader_start(struct kube_client *c, const struct kube_leader_opts *opts,
                           struct kube_leader **out, struct retl_errbuf *eb)
{
    if (!opts)
        return retl_errf(eb, RETL_E_INVALID,
                         "leader election: lease namespace and name required");
    struct kube_leader_opts o = *opts;
    retl_err e = kube_lease_opts_check(&o, eb);
    if (e)
        return e;
    struct kube_leader *l = calloc(1, sizeof *l);
    if (!l)
        return RETL_E_NOMEM;
    l->c = c;
    l->o = o;
    char idbuf[512];
    if (opts->identity && *opts->identity)
        snprintf(idbuf, sizeof idbuf, "%s", opts->identity);
    else
        kube_leader_default_identity(idbuf, sizeof idbuf);
    l->ns = strdup(opts->namespace);
    l->name = strdup(opts->name);
    l->id = strdup(idbuf);
    l->o.namespace = l->ns;
    l->o.name = l->name;
    l->o.identity = l->id;
    l->seed = (unsigned)mono_ms() ^ (unsigned)getpid();
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&l->stop, false);
    if (!l->ns || !l->name || !l->id) {
        l->joined = true;
        kube_leader_free(l);
        return RETL_E_NOMEM;
    }
    if (pthread_create(&l->th, NULL, run, l) != 0) {
        l->joined = true;
        kube_leader_free(l);
        return retl_errf(eb, RETL_E_INTERNAL, "leader election: no thread");
    }
    *out = l;
    return RETL_E_OK;
}

void kube_leader_stop(struct kube_leader *l)
{
    if (!l || l->joined)
        return;
    pthread_mutex_lock(&l->mu);
    atomic_store(&l->stop, true);
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->th, NULL);
    l->joined = true;
}

void kube_leader_free(struct kube_leader *l)
{
    if (!l)
        return;
    kube_leader_stop(l);
    free(l->ns);
    free(l->name);
    free(l->id);
    free(l->observed_holder);
    free(l->observed_rv);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

bool kube_leader_is_leader(struct kube_leader *l)
{
    pthread_mutex_lock(&l->mu);
    bool v = l->leading;
    pthread_mutex_unlock(&l->mu);
    return v;
}

const char *kube_leader_identity(const struct kube_leader *l)
{
    return l->id;
}
