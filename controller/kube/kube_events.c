#include "kube_events.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timestamp.h"
#include "common/utf8.h"
#include "kube_event_rules.h"

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

static void pending_free(struct pending *p)
{
    json_decref(p->ref);
    free(p->ns);
    free(p->key);
}

static void create_event(struct kube_events *r, struct pending *p)
{
    struct retl_errbuf eb = {{0}};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char name[300];
    kube_event_name(json_string_value(json_object_get(p->ref, "name")),
                    (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec, name,
                    sizeof name);
    struct kube_event_fields f = {.name = name,
                                  .ns = p->ns,
                                  .at = p->at,
                                  .controller = r->controller,
                                  .instance = r->instance,
                                  .type = p->type,
                                  .reason = p->reason,
                                  .action = p->action,
                                  .note = p->note,
                                  .regarding = p->ref};
    json_t *ev = kube_event_build(&f);
    retl_err e =
        ev ? kube_create(r->c, &kube_gvr_events, p->ns, ev, NULL, &eb) : RETL_E_NOMEM;
    json_decref(ev);
    pthread_mutex_lock(&r->mu);
    if (e == RETL_E_OK) {
        r->st.created++;
        if (json_object_size(r->series) >= r->o.cache_size)
            kube_lru_evict(r->series);
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
    json_t *patch = kube_event_series_patch(count, p->at);
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
            kube_lru_evict(r->buckets);
        struct kube_bucket full = kube_bucket_full(r->o.burst, t);
        b = json_pack("{s:f,s:I,s:I}", "tokens", full.tokens, "at", (json_int_t)full.at,
                      "used", (json_int_t)0);
        if (!b || json_object_set_new(r->buckets, objkey, b))
            return true;
    }
    struct kube_bucket kb = {.tokens = json_real_value(json_object_get(b, "tokens")),
                             .at = json_integer_value(json_object_get(b, "at"))};
    bool ok = kube_bucket_take(&kb, t, r->o.burst, r->o.refill_ms);
    json_object_set_new(b, "tokens", json_real(kb.tokens));
    json_object_set_new(b, "at", json_integer(kb.at));
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
    retl_utf8_vprintf(p.note, sizeof p.note, fmt, ap);
    va_end(ap);
    snprintf(p.type, sizeof p.type, "%s", type ? type : KUBE_EVENT_NORMAL);
    snprintf(p.reason, sizeof p.reason, "%s", reason ? reason : "Unknown");
    snprintf(p.action, sizeof p.action, "%s", action ? action : p.reason);
    retl_time_now_micro(p.at, sizeof p.at);
    p.ref = kube_event_ref(obj);
    p.ns = strdup(kube_event_namespace(obj));
    char objkey[600];
    kube_event_object_key(obj, objkey, sizeof objkey);
    p.key = kube_event_series_key(objkey, p.type, p.reason, p.action, p.note);
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
