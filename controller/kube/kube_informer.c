#include "kube_informer.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube_queue.h"
#include "common/log.h"

#define BACKOFF_START_MS 800
#define BACKOFF_MAX_MS 30000
#define KEY_MAX 512

struct kube_informer {
    struct kube_client *c; /* borrowed */
    struct kube_gvr gvr;
    char *ns, *label, *field, *first_rv; /* owned */
    long page_size;
    size_t max_event;
    bool keep_managed;
    struct kube_informer_handlers h;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *cache; /* key -> entry (see entry_new); replaced only by the
                      informer thread */
    char *rv;      /* owned */
    bool synced;
    bool running;
    bool joined;
    atomic_bool stop;
    pthread_t th;
    struct kube_informer_stats st;
    unsigned seed;
};

static char *xstrdup(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

retl_err kube_informer_new(struct kube_client *c, const struct kube_informer_opts *o,
                           const struct kube_informer_handlers *h,
                           struct kube_informer **out, struct retl_errbuf *eb)
{
    if (!o || !o->gvr)
        return retl_errf(eb, RETL_E_INVALID, "informer: no resource type");
    struct kube_informer *inf = calloc(1, sizeof *inf);
    if (!inf)
        return RETL_E_NOMEM;
    inf->c = c;
    inf->gvr = *o->gvr;
    inf->ns = xstrdup(o->namespace);
    inf->label = xstrdup(o->label_selector);
    inf->field = xstrdup(o->field_selector);
    inf->first_rv = xstrdup(o->test_first_watch_rv);
    inf->page_size = o->page_size > 0 ? o->page_size : 500;
    inf->max_event = o->max_event;
    inf->keep_managed = o->keep_managed_fields;
    if (h)
        inf->h = *h;
    inf->cache = json_object();
    pthread_mutex_init(&inf->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&inf->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&inf->stop, false);
    inf->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)inf;
    if (!inf->cache) {
        kube_informer_free(inf);
        return RETL_E_NOMEM;
    }
    *out = inf;
    return RETL_E_OK;
}

static void deadline_after(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Sleeps ms unless stopped first. */
static void nap(struct kube_informer *inf, long ms)
{
    struct timespec ts;
    deadline_after(&ts, ms);
    pthread_mutex_lock(&inf->mu);
    while (!atomic_load(&inf->stop)) {
        if (pthread_cond_timedwait(&inf->cv, &inf->mu, &ts) != 0)
            break;
    }
    pthread_mutex_unlock(&inf->mu);
}

static void strip(struct kube_informer *inf, json_t *obj)
{
    if (!inf->keep_managed)
        json_object_del(json_object_get(obj, "metadata"), "managedFields");
}

static void set_rv(struct kube_informer *inf, const char *rv)
{
    if (!rv || !*rv)
        return;
    char *copy = strdup(rv);
    if (!copy)
        return;
    pthread_mutex_lock(&inf->mu);
    free(inf->rv);
    inf->rv = copy;
    pthread_mutex_unlock(&inf->mu);
}

/* A cache entry is one jansson string holding "<resourceVersion>\0<compact
 * JSON>": about a sixth of the memory of the parsed tree (10,000 small custom
 * resources: ~5 MiB instead of ~30 MiB). Objects are parsed again when read,
 * which costs microseconds per object. */
static json_t *entry_new(const json_t *obj)
{
    const char *rv = kube_obj_rv(obj);
    if (!rv)
        rv = "";
    char *text = json_dumps(obj, JSON_COMPACT);
    if (!text)
        return NULL;
    size_t rl = strlen(rv), tl = strlen(text);
    char *buf = malloc(rl + 1 + tl);
    json_t *e = NULL;
    if (buf) {
        memcpy(buf, rv, rl + 1);
        memcpy(buf + rl + 1, text, tl);
        e = json_stringn_nocheck(buf, rl + 1 + tl);
    }
    free(buf);
    free(text);
    return e;
}

static const char *entry_rv(const json_t *e)
{
    return json_string_value(e);
}

/* Ownership: a new object the caller decrefs; NULL when e is NULL. */
static json_t *entry_obj(const json_t *e)
{
    if (!e)
        return NULL;
    const char *p = json_string_value(e);
    size_t rl = strlen(p) + 1;
    return json_loadb(p + rl, json_string_length(e) - rl, 0, NULL);
}

/* ---- list ------------------------------------------------------------------ */

static retl_err list_item(void *ud, json_t *item, struct retl_errbuf *eb)
{
    struct kube_informer *inf = ((void **)ud)[0];
    json_t *fresh = ((void **)ud)[1];
    char key[KEY_MAX];
    if (!kube_obj_key(item, key, sizeof key))
        return RETL_E_OK; /* nameless: cannot be keyed, skip */
    strip(inf, item);
    json_t *e = entry_new(item);
    return !e || json_object_set_new(fresh, key, e) ? RETL_E_NOMEM : RETL_E_OK;
}

/* Lists everything and swaps the result in, calling handlers for the
 * differences with the previous cache. */
static retl_err relist(struct kube_informer *inf, struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    json_t *fresh = NULL;
    char *rv = NULL;
    for (int attempt = 0; attempt < 3; attempt++) {
        json_decref(fresh);
        fresh = json_object();
        if (!fresh)
            return RETL_E_NOMEM;
        void *ctx[2] = {inf, fresh};
        struct kube_list_opts lo = {.label_selector = inf->label,
                                    .field_selector = inf->field,
                                    .limit = inf->page_size,
                                    .cancel = &inf->stop};
        e = kube_list_each(inf->c, &inf->gvr, inf->ns, &lo, list_item, ctx, &rv, eb);
        if (e != RETL_E_GONE)
            break;
        /* The continue token expired mid-list: start again. */
        pthread_mutex_lock(&inf->mu);
        inf->st.gone++;
        pthread_mutex_unlock(&inf->mu);
    }
    if (e) {
        json_decref(fresh);
        free(rv);
        return e;
    }
    pthread_mutex_lock(&inf->mu);
    json_t *old = inf->cache;
    inf->cache = fresh;
    free(inf->rv);
    inf->rv = rv;
    inf->st.lists++;
    inf->st.objects = json_object_size(fresh);
    pthread_mutex_unlock(&inf->mu);

    /* Only this thread changes the cache, so both maps are stable here. */
    const char *key;
    json_t *ent;
    json_object_foreach (fresh, key, ent) {
        json_t *prev = json_object_get(old, key);
        bool add = !prev && inf->h.on_add;
        bool upd = prev && strcmp(entry_rv(prev), entry_rv(ent)) != 0 && inf->h.on_update;
        if (!add && !upd)
            continue;
        json_t *obj = entry_obj(ent);
        json_t *pobj = upd ? entry_obj(prev) : NULL;
        if (obj && add)
            inf->h.on_add(inf->h.ud, obj);
        else if (obj && pobj)
            inf->h.on_update(inf->h.ud, pobj, obj);
        json_decref(obj);
        json_decref(pobj);
    }
    json_object_foreach (old, key, ent) {
        if (!json_object_get(fresh, key) && inf->h.on_delete) {
            json_t *obj = entry_obj(ent);
            if (obj)
                inf->h.on_delete(inf->h.ud, obj, true);
            json_decref(obj);
        }
    }
    json_decref(old);
    /* The list pages' memory is free now: hand it back to the system. */
    malloc_trim(0);
    return RETL_E_OK;
}

/* ---- watch ------------------------------------------------------------------- */

struct watch_ctx {
    struct kube_informer *inf;
    size_t applied;
};

static retl_err on_event(void *ud, enum kube_watch_type type, json_t *obj,
                         struct retl_errbuf *eb)
{
    struct watch_ctx *w = ud;
    struct kube_informer *inf = w->inf;
    char key[KEY_MAX];
    w->applied++;
    if (type == KUBE_WATCH_BOOKMARK) {
        set_rv(inf, kube_obj_rv(obj));
        pthread_mutex_lock(&inf->mu);
        inf->st.bookmarks++;
        pthread_mutex_unlock(&inf->mu);
        return RETL_E_OK;
    }
    if (type == KUBE_WATCH_ERROR)
        return kube_status_from_json(0, obj, NULL, NULL, eb);
    if (!kube_obj_key(obj, key, sizeof key))
        return retl_errf(eb, RETL_E_PARSE, "watch event object without a name");
    strip(inf, obj);
    json_t *ent = NULL;
    if (type != KUBE_WATCH_DELETED) {
        ent = entry_new(obj);
        if (!ent)
            return RETL_E_NOMEM;
    }
    json_t *prev_ent = NULL;
    bool skip = false;
    pthread_mutex_lock(&inf->mu);
    inf->st.events++;
    prev_ent = json_incref(json_object_get(inf->cache, key));
    if (type == KUBE_WATCH_DELETED) {
        if (prev_ent)
            json_object_del(inf->cache, key);
        else
            skip = true;
    } else if (prev_ent && !strcmp(entry_rv(prev_ent), entry_rv(ent))) {
        skip = true; /* already applied (a replayed event) */
    } else if (json_object_set_new(inf->cache, key, ent)) {
        pthread_mutex_unlock(&inf->mu);
        json_decref(prev_ent);
        return RETL_E_NOMEM;
    } else {
        ent = NULL; /* now the cache's */
    }
    inf->st.objects = json_object_size(inf->cache);
    pthread_mutex_unlock(&inf->mu);
    json_decref(ent);
    set_rv(inf, kube_obj_rv(obj));
    /* The previous state is parsed only when a handler needs it. */
    json_t *prev = NULL;
    if (!skip && type != KUBE_WATCH_DELETED && prev_ent && inf->h.on_update)
        prev = entry_obj(prev_ent);
    bool had_prev = prev_ent != NULL;
    json_decref(prev_ent);
    if (!skip) {
        if (type == KUBE_WATCH_DELETED) {
            if (inf->h.on_delete)
                inf->h.on_delete(inf->h.ud, obj, false);
        } else if (had_prev) {
            if (prev)
                inf->h.on_update(inf->h.ud, prev, obj);
        } else if (inf->h.on_add) {
            inf->h.on_add(inf->h.ud, obj);
        }
    }
    json_decref(prev);
    return RETL_E_OK;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    struct kube_informer *inf = arg;
    long backoff = BACKOFF_START_MS;
    bool need_list = true;
    char what[128];
    snprintf(what, sizeof what, "%s%s%s", inf->gvr.resource, inf->ns ? " in " : "",
             inf->ns ? inf->ns : "");
    while (!atomic_load(&inf->stop)) {
        struct retl_errbuf eb = {{0}};
        retl_err e;
        if (need_list) {
            e = relist(inf, &eb);
            if (atomic_load(&inf->stop))
                break;
            if (e) {
                pthread_mutex_lock(&inf->mu);
                inf->st.errors++;
                pthread_mutex_unlock(&inf->mu);
                RETL_LOG_WARN("informer list failed", RF_S("resource", what),
                              RF_S("error", retl_errbuf_msg(&eb, e)),
                              RF_I("retry_ms", backoff));
                nap(inf, backoff);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            need_list = false;
            pthread_mutex_lock(&inf->mu);
            if (!inf->synced) {
                inf->synced = true;
                pthread_cond_broadcast(&inf->cv);
            }
            pthread_mutex_unlock(&inf->mu);
        }
        char *rv = NULL;
        if (inf->first_rv) {
            rv = inf->first_rv;
            inf->first_rv = NULL;
        } else {
            rv = kube_informer_resource_version(inf);
        }
        struct kube_watch_opts wo = {
            .resource_version = rv,
            .label_selector = inf->label,
            .field_selector = inf->field,
            .timeout_seconds = 300 + (long)(rand_r(&inf->seed) % 301),
            .bookmarks = true,
            .max_event = inf->max_event,
        };
        struct watch_ctx w = {.inf = inf};
        pthread_mutex_lock(&inf->mu);
        inf->st.watches++;
        pthread_mutex_unlock(&inf->mu);
        double t0 = mono_s();
        e = kube_watch(inf->c, &inf->gvr, inf->ns, &wo, on_event, &w, &inf->stop, &eb);
        free(rv);
        if (atomic_load(&inf->stop))
            break;
        if (e == RETL_E_OK) {
            backoff = BACKOFF_START_MS; /* the server ended a healthy watch */
            continue;
        }
        if (e == RETL_E_GONE) {
            pthread_mutex_lock(&inf->mu);
            inf->st.gone++;
            pthread_mutex_unlock(&inf->mu);
            RETL_LOG_INFO("informer resourceVersion expired; relisting",
                          RF_S("resource", what),
                          RF_S("reason", retl_errbuf_msg(&eb, e)));
            need_list = true;
            continue;
        }
        pthread_mutex_lock(&inf->mu);
        inf->st.errors++;
        pthread_mutex_unlock(&inf->mu);
        /* A watch that delivered events or ran a while was healthy. */
        if (w.applied > 0 || mono_s() - t0 > 30)
            backoff = BACKOFF_START_MS;
        if (e == RETL_E_PARSE || e == RETL_E_TOO_BIG)
            need_list = true; /* we may have lost an event: start over */
        RETL_LOG_WARN("informer watch failed", RF_S("resource", what),
                      RF_S("error", retl_errbuf_msg(&eb, e)), RF_B("relist", need_list),
                      RF_I("retry_ms", backoff));
        nap(inf, backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    pthread_mutex_lock(&inf->mu);
    pthread_cond_broadcast(&inf->cv);
    pthread_mutex_unlock(&inf->mu);
    return NULL;
}

retl_err kube_informer_start(struct kube_informer *inf, struct retl_errbuf *eb)
{
    if (inf->running)
        return RETL_E_OK;
    atomic_store(&inf->stop, false);
    if (pthread_create(&inf->th, NULL, run, inf) != 0)
        return retl_errf(eb, RETL_E_INTERNAL, "informer: cannot start thread");
    inf->running = true;
    inf->joined = false;
    return RETL_E_OK;
}

void kube_informer_stop(struct kube_informer *inf)
{
    if (!inf || !inf->running || inf->joined)
        return;
    pthread_mutex_lock(&inf->mu);
    atomic_store(&inf->stop, true);
    pthread_cond_broadcast(&inf->cv);
    pthread_mutex_unlock(&inf->mu);
    pthread_join(inf->th, NULL);
    inf->joined = true;
    inf->running = false;
}

void kube_informer_free(struct kube_informer *inf)
{
    if (!inf)
        return;
    kube_informer_stop(inf);
    json_decref(inf->cache);
    free(inf->ns);
    free(inf->label);
    free(inf->field);
    free(inf->first_rv);
    free(inf->rv);
    pthread_mutex_destroy(&inf->mu);
    pthread_cond_destroy(&inf->cv);
    free(inf);
}

bool kube_informer_has_synced(struct kube_informer *inf)
{
    pthread_mutex_lock(&inf->mu);
    bool s = inf->synced;
    pthread_mutex_unlock(&inf->mu);
    return s;
}

bool kube_informer_wait_synced(struct kube_informer *inf, long timeout_ms)
{
    struct timespec ts;
    if (timeout_ms >= 0)
        deadline_after(&ts, timeout_ms);
    pthread_mutex_lock(&inf->mu);
    while (!inf->synced && !atomic_load(&inf->stop)) {
        if (timeout_ms < 0)
            pthread_cond_wait(&inf->cv, &inf->mu);
        else if (pthread_cond_timedwait(&inf->cv, &inf->mu, &ts) != 0)
            break;
    }
    bool s = inf->synced;
    pthread_mutex_unlock(&inf->mu);
    return s;
}

json_t *kube_informer_get_key(struct kube_informer *inf, const char *key)
{
    pthread_mutex_lock(&inf->mu);
    json_t *e = json_incref(json_object_get(inf->cache, key));
    pthread_mutex_unlock(&inf->mu);
    json_t *o = entry_obj(e);
    json_decref(e);
    return o;
}

json_t *kube_informer_get(struct kube_informer *inf, const char *ns, const char *name)
{
    char key[KEY_MAX];
    if (inf->gvr.namespaced && ns && *ns)
        snprintf(key, sizeof key, "%s/%s", ns, name);
    else
        snprintf(key, sizeof key, "%s", name);
    return kube_informer_get_key(inf, key);
}

json_t *kube_informer_list(struct kube_informer *inf)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    json_t *entries = json_array();
    pthread_mutex_lock(&inf->mu);
    const char *key;
    json_t *e;
    json_object_foreach (inf->cache, key, e) {
        if (json_array_append(entries, e))
            break;
    }
    pthread_mutex_unlock(&inf->mu);
    size_t i;
    json_array_foreach (entries, i, e) {
        json_t *obj = entry_obj(e);
        if (!obj || json_array_append_new(arr, obj)) {
            json_decref(arr);
            arr = NULL;
            break;
        }
    }
    json_decref(entries);
    return arr;
}

size_t kube_informer_count(struct kube_informer *inf)
{
    pthread_mutex_lock(&inf->mu);
    size_t n = json_object_size(inf->cache);
    pthread_mutex_unlock(&inf->mu);
    return n;
}

char *kube_informer_resource_version(struct kube_informer *inf)
{
    pthread_mutex_lock(&inf->mu);
    char *rv = inf->rv ? strdup(inf->rv) : NULL;
    pthread_mutex_unlock(&inf->mu);
    return rv;
}

void kube_informer_stats(struct kube_informer *inf, struct kube_informer_stats *out)
{
    pthread_mutex_lock(&inf->mu);
    *out = inf->st;
    out->objects = json_object_size(inf->cache);
    pthread_mutex_unlock(&inf->mu);
}

static void q_add(void *ud, json_t *obj)
{
    char key[KEY_MAX];
    if (kube_obj_key(obj, key, sizeof key))
        kube_queue_add(ud, key);
}

static void q_update(void *ud, json_t *old_obj, json_t *new_obj)
{
    q_add(ud, new_obj);
}

static void q_delete(void *ud, json_t *obj, bool unknown)
{
    q_add(ud, obj);
}

struct kube_informer_handlers kube_informer_queue_handlers(struct kube_queue *q)
{
    struct kube_informer_handlers h = {q_add, q_update, q_delete, q};
    return h;
}
