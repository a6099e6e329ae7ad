#include "kube_events.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define NOTE_MAX 1024

struct pending {
    json_t *ref; /* regarding reference; owned */
    char *ns;    /* namespace for the Event; owned */
    char *key;   /* aggregation key; owned */
    char type[16];
    char reason[128];
    char action[128];
    char note[NOTE_MAX];
    char at[40]; /* MicroTime of the occurrence */
};

struct kube_events {
    struct kube_client *c;
    struct kube_events_opts o;
    char *controller, *instance; /* owned */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pending *q; /* ring */
    size_t head, len;
    bool busy; /* the thread is writing one */
    bool stop;
    atomic_bool abort; /* cancels a request in flight at free */
    pthread_t th;
    json_t *series;  /* aggregation key -> {name, ns, count, used} */
    json_t *buckets; /* object key -> {tokens, at} */
    uint64_t tick;   /* LRU clock */
    struct kube_events_stats st;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void micro_time(char *buf, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%06ldZ", base, ts.tv_nsec / 1000);
}

static void pending_free(struct pending *p)
{
    json_decref(p->ref);
    free(p->ns);
    free(p->key);
}

/* Drops the least recently used entry of map (entries carry "used"). */
static void evict_lru(json_t *map)
{
    const char *key, *victim = NULL;
    json_t *v;
    long long best = 0;
    json_object_foreach (map, key, v) {
        long long u = json_integer_value(json_object_get(v, "used"));
        if (!victim || u < best) {
            victim = key;
            best = u;
        }
    }
    if (victim) {
        char *k = strdup(victim);
        if (k)
            json_object_del(map, k);
        free(k);
    }
}

static void create_event(struct kube_events *r, struct pending *p)
{
    struct retl_errbuf eb = {{0}};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const char *oname = json_string_value(json_object_get(p->ref, "name"));
    char name[300];
    snprintf(name, sizeof name, "%.200s.%llx", oname ? oname : "object",
             (unsigned long long)ts.tv_sec * 1000000000ULL +
                 (unsigned long long)ts.tv_nsec);
    json_t *ev = json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:O}",
                           "apiVersion", "events.k8s.io/v1", "kind", "Event", "metadata",
                           "name", name, "namespace", p->ns, "eventTime", p->at,
                           "reportingController", r->controller, "reportingInstance",
                           r->instance, "type", p->type, "reason", p->reason, "action",
                           p->action, "note", p->note, "regarding", p->ref);
    retl_err e =
        ev ? kube_create(r->c, &kube_gvr_events, p->ns, ev, NULL, &eb) : RETL_E_NOMEM;
    json_decref(ev);
    pthread_mutex_lock(&r->mu);
    if (e == RETL_E_OK) {
        r->st.created++;
        if (json_object_size(r->series) >= r->o.cache_size)
            evict_lru(r->series);
        json_object_set_new(r->series, p->key,
                            json_pack("{s:s,s:s,s:i,s:I}", "name", name, "ns", p->ns,
                                      "count", 1, "used", (json_int_t)++r->tick));
    } else {
        r->st.failed++;
    }
    pthread_mutex_unlock(&r->mu);
    if (e)
        RETL_LOG_WARN("event not recorded", RF_S("reason", p->reason),
                      RF_S("error", retl_errbuf_msg(&eb, e)));
}

static void write_one(struct kube_events *r, struct pending *p)
{
    pthread_mutex_lock(&r->mu);
    json_t *s = json_incref(json_object_get(r->series, p->key));
    long long count = 0;
    if (s) {
        count = json_integer_value(json_object_get(s, "count")) + 1;
        json_object_set_new(s, "count", json_integer(count));
        json_object_set_new(s, "used", json_integer((json_int_t)++r->tick));
    }
    pthread_mutex_unlock(&r->mu);
    if (!s) {
        create_event(r, p);
        return;
    }
    struct retl_errbuf eb = {{0}};
    json_t *patch = json_pack("{s:{s:I,s:s}}", "series", "count", (json_int_t)count,
                              "lastObservedTime", p->at);
    retl_err e = patch ? kube_patch(r->c, &kube_gvr_events,
                                    json_string_value(json_object_get(s, "ns")),
                                    json_string_value(json_object_get(s, "name")),
                                    KUBE_PATCH_MERGE, patch, NULL, NULL, &eb)
                       : RETL_E_NOMEM;
    json_decref(patch);
    if (e == RETL_E_NOT_FOUND) {
        /* The Event expired (events have a TTL): start a new one. */
        pthread_mutex_lock(&r->mu);
        json_object_del(r->series, p->key);
        pthread_mutex_unlock(&r->mu);
        json_decref(s);
        create_event(r, p);
        return;
    }
    pthread_mutex_lock(&r->mu);
    if (e == RETL_E_OK)
        r->st.patched++;
    else
        r->st.failed++;
    pthread_mutex_unlock(&r->mu);
    if (e)
        RETL_LOG_WARN("event series not updated", RF_S("reason", p->reason),
                      RF_S("error", retl_errbuf_msg(&eb, e)));
    json_decref(s);
}

static void *run(void *arg)
{
    struct kube_events *r = arg;
    kube_client_thread_limits(5000, &r->abort);
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (r->len == 0 && !r->stop)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->len == 0 && r->stop)
            break;
        struct pending p = r->q[r->head];
        r->head = (r->head + 1) % r->o.queue_size;
        r->len--;
        r->busy = true;
        pthread_mutex_unlock(&r->mu);
        write_one(r, &p);
        pending_free(&p);
        pthread_mutex_lock(&r->mu);
        r->busy = false;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

retl_err kube_events_new(struct kube_client *c, const struct kube_events_opts *opts,
                         struct kube_events **out, struct retl_errbuf *eb)
{
    struct kube_events *r = calloc(1, sizeof *r);
    if (!r)
        return RETL_E_NOMEM;
    if (opts)
        r->o = *opts;
    if (r->o.burst <= 0)
        r->o.burst = 25;
    if (r->o.refill_ms <= 0)
        r->o.refill_ms = 300000;
    if (!r->o.cache_size)
        r->o.cache_size = 4096;
    if (!r->o.queue_size)
        r->o.queue_size = 1000;
    char host[256] = "unknown";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    r->c = c;
    r->controller = strdup(r->o.reporting_controller ? r->o.reporting_controller
                                                     : "retl.io/controller");
    r->instance = strdup(r->o.reporting_instance ? r->o.reporting_instance : host);
    r->o.reporting_controller = r->o.reporting_instance = NULL;
    r->q = calloc(r->o.queue_size, sizeof *r->q);
    r->series = json_object();
    r->buckets = json_object();
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    atomic_init(&r->abort, false);
    if (!r->controller || !r->instance || !r->q || !r->series || !r->buckets ||
        pthread_create(&r->th, NULL, run, r) != 0) {
        free(r->controller);
        free(r->instance);
        free(r->q);
        json_decref(r->series);
        json_decref(r->buckets);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        free(r);
        return retl_errf(eb, RETL_E_NOMEM, "event recorder: cannot start");
    }
    *out = r;
    return RETL_E_OK;
}

/* Spam filter: one token per event from a per-object bucket (locked). */
static bool allow_locked(struct kube_events *r, const char *objkey)
{
    int64_t t = mono_ms();
    json_t *b = json_object_get(r->buckets, objkey);
    if (!b) {
        if (json_object_size(r->buckets) >= r->o.cache_size)
            evict_lru(r->buckets);
        b = json_pack("{s:f,s:I,s:I}", "tokens", (double)r->o.burst, "at", (json_int_t)t,
                      "used", (json_int_t)0);
        if (!b || json_object_set_new(r->buckets, objkey, b))
            return true;
    }
    double tokens = json_real_value(json_object_get(b, "tokens"));
    int64_t at = json_integer_value(json_object_get(b, "at"));
    tokens += (double)(t - at) / (double)r->o.refill_ms;
    if (tokens > r->o.burst)
        tokens = r->o.burst;
    bool ok = tokens >= 1.0;
    if (ok)
        tokens -= 1.0;
    json_object_set_new(b, "tokens", json_real(tokens));
    json_object_set_new(b, "at", json_integer(t));
    json_object_set_new(b, "used", json_integer((json_int_t)++r->tick));
    return ok;
}

void kube_eventf(struct kube_events *r, const json_t *obj, const char *type,
                 const char *reason, const char *action, const char *fmt, ...)
{
    struct pending p;
    memset(&p, 0, sizeof p);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p.note, sizeof p.note, fmt, ap);
    va_end(ap);
    snprintf(p.type, sizeof p.type, "%s", type ? type : KUBE_EVENT_NORMAL);
    snprintf(p.reason, sizeof p.reason, "%s", reason ? reason : "Unknown");
    snprintf(p.action, sizeof p.action, "%s", action ? action : p.reason);
    micro_time(p.at, sizeof p.at);
    const char *name = kube_obj_name(obj);
    const char *ns = kube_obj_namespace(obj);
    const char *uid = kube_obj_uid(obj);
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *apiv = json_string_value(json_object_get(obj, "apiVersion"));
    const char *rv = kube_obj_rv(obj);
    p.ref = json_pack("{s:s,s:s,s:s}", "apiVersion", apiv ? apiv : "v1", "kind",
                      kind ? kind : "", "name", name ? name : "");
    if (p.ref && ns && *ns)
        json_object_set_new(p.ref, "namespace", json_string(ns));
    if (p.ref && uid)
        json_object_set_new(p.ref, "uid", json_string(uid));
    if (p.ref && rv)
        json_object_set_new(p.ref, "resourceVersion", json_string(rv));
    p.ns = strdup(ns && *ns ? ns : "default");
    struct retl_buf k;
    retl_buf_init(&k, 4096);
    char objkey[600];
    snprintf(objkey, sizeof objkey, "%s/%s/%s/%s", kind ? kind : "", ns ? ns : "",
             name ? name : "", uid ? uid : "");
    retl_buf_printf(&k, "%s|%s|%s|%s|%s", objkey, p.type, p.reason, p.action, p.note);
    p.key = retl_buf_take(&k);
    pthread_mutex_lock(&r->mu);
    r->st.emitted++;
    if (!p.ref || !p.ns || !p.key || r->stop) {
        r->st.dropped++;
    } else if (!allow_locked(r, objkey)) {
        r->st.throttled++;
    } else if (r->len == r->o.queue_size) {
        r->st.dropped++;
    } else {
        r->q[(r->head + r->len) % r->o.queue_size] = p;
        r->len++;
        memset(&p, 0, sizeof p);
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    pending_free(&p);
}

retl_err kube_events_flush(struct kube_events *r, long timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    retl_err e = RETL_E_OK;
    pthread_mutex_lock(&r->mu);
    while (r->len > 0 || r->busy) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) != 0) {
            e = RETL_E_TIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return e;
}

void kube_events_stats(struct kube_events *r, struct kube_events_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->st;
    pthread_mutex_unlock(&r->mu);
}

void kube_events_free(struct kube_events *r)
{
    if (!r)
        return;
    kube_events_flush(r, 2000);
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    /* Whatever could not be written in time is dropped. */
    while (r->len > 0) {
        pending_free(&r->q[r->head]);
        r->head = (r->head + 1) % r->o.queue_size;
        r->len--;
        r->st.dropped++;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    atomic_store(&r->abort, true);
    pthread_join(r->th, NULL);
    free(r->q);
    json_decref(r->series);
    json_decref(r->buckets);
    free(r->controller);
    free(r->instance);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
