#include "kube_queue.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct waiter {
    int64_t ready_ns;
    char *key; /* owned */
};

struct kube_queue {
    char *name;
    struct kube_clock clock;
    long base_ms, max_ms;
    double qps;
    int burst;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* work available / shutdown / done */

    char **fifo; /* ring of owned keys */
    size_t head, len, cap;
    json_t *dirty;      /* key -> add time (ns) */
    json_t *processing; /* key -> start time (ns) */
    json_t *failures;   /* key -> count */
    json_t *waiting;    /* key -> ready time (ns) */
    struct waiter *heap;
    size_t n_heap, cap_heap;

    double tokens;
    int64_t tokens_at;
    bool shutting_down;
    struct kube_queue_metrics m;
};

static int64_t mono_ns(void *ud)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t now(struct kube_queue *q)
{
    return q->clock.now_ns(q->clock.ud);
}

retl_err kube_queue_new(const struct kube_queue_opts *opts, struct kube_queue **out,
                        struct retl_errbuf *eb)
{
    struct kube_queue_opts o = {0};
    if (opts)
        o = *opts;
    struct kube_queue *q = calloc(1, sizeof *q);
    if (!q)
        return RETL_E_NOMEM;
    q->name = strdup(o.name ? o.name : "queue");
    q->clock = o.clock ? *o.clock : (struct kube_clock){mono_ns, NULL};
    q->base_ms = o.base_delay_ms > 0 ? o.base_delay_ms : 5;
    q->max_ms = o.max_delay_ms > 0 ? o.max_delay_ms : 1000L * 1000;
    q->qps = o.qps == 0 ? 10 : o.qps;
    q->burst = o.burst > 0 ? o.burst : 100;
    q->tokens = q->burst;
    q->tokens_at = now(q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    q->dirty = json_object();
    q->processing = json_object();
    q->failures = json_object();
    q->waiting = json_object();
    if (!q->name || !q->dirty || !q->processing || !q->failures || !q->waiting) {
        kube_queue_free(q);
        return retl_errf(eb, RETL_E_NOMEM, "queue: out of memory");
    }
    *out = q;
    return RETL_E_OK;
}

void kube_queue_free(struct kube_queue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->len; i++)
        free(q->fifo[(q->head + i) % q->cap]);
    free(q->fifo);
    for (size_t i = 0; i < q->n_heap; i++)
        free(q->heap[i].key);
    free(q->heap);
    json_decref(q->dirty);
    json_decref(q->processing);
    json_decref(q->failures);
    json_decref(q->waiting);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q->name);
    free(q);
}

/* ---- FIFO and heap (locked) --------------------------------------------------- */

static bool fifo_push(struct kube_queue *q, const char *key)
{
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        char **n = malloc(cap * sizeof *n);
        if (!n)
            return false;
        for (size_t i = 0; i < q->len; i++)
            n[i] = q->fifo[(q->head + i) % q->cap];
        free(q->fifo);
        q->fifo = n;
        q->cap = cap;
        q->head = 0;
    }
    char *k = strdup(key);
    if (!k)
        return false;
    q->fifo[(q->head + q->len) % q->cap] = k;
    q->len++;
    return true;
}

static char *fifo_pop(struct kube_queue *q)
{
    char *k = q->fifo[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return k;
}

static void heap_swap(struct kube_queue *q, size_t a, size_t b)
{
    struct waiter t = q->heap[a];
    q->heap[a] = q->heap[b];
    q->heap[b] = t;
}

static bool heap_push(struct kube_queue *q, int64_t ready, const char *key)
{
    if (q->n_heap == q->cap_heap) {
        size_t cap = q->cap_heap ? q->cap_heap * 2 : 64;
        struct waiter *n = realloc(q->heap, cap * sizeof *n);
        if (!n)
            return false;
        q->heap = n;
        q->cap_heap = cap;
    }
    char *k = strdup(key);
    if (!k)
        return false;
    size_t i = q->n_heap++;
    q->heap[i] = (struct waiter){ready, k};
    while (i > 0 && q->heap[(i - 1) / 2].ready_ns > q->heap[i].ready_ns) {
        heap_swap(q, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return true;
}

static struct waiter heap_pop(struct kube_queue *q)
{
    struct waiter top = q->heap[0];
    q->heap[0] = q->heap[--q->n_heap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < q->n_heap && q->heap[l].ready_ns < q->heap[m].ready_ns)
            m = l;
        if (r < q->n_heap && q->heap[r].ready_ns < q->heap[m].ready_ns)
            m = r;
        if (m == i)
            break;
        heap_swap(q, i, m);
        i = m;
    }
    return top;
}

/* ---- core (locked) -------------------------------------------------------------- */

static void add_locked(struct kube_queue *q, const char *key)
{
    if (q->shutting_down || json_object_get(q->dirty, key))
        return;
    if (json_object_set_new(q->dirty, key, json_integer(now(q))))
        return;
    q->m.adds++;
    if (json_object_get(q->processing, key))
        return; /* re-queued by done */
    if (!fifo_push(q, key)) {
        json_object_del(q->dirty, key);
        return;
    }
    pthread_cond_signal(&q->cv);
}

/* Moves due waiters into the queue; returns ns until the next one (or -1). */
static int64_t promote_locked(struct kube_queue *q)
{
    int64_t t = now(q);
    while (q->n_heap > 0) {
        if (q->heap[0].ready_ns > t)
            return q->heap[0].ready_ns - t;
        struct waiter w = heap_pop(q);
        json_t *cur = json_object_get(q->waiting, w.key);
        /* A stale entry (the key was re-scheduled earlier) is skipped. */
        if (cur && json_integer_value(cur) == w.ready_ns) {
            json_object_del(q->waiting, w.key);
            add_locked(q, w.key);
        }
        free(w.key);
    }
    return -1;
}

void kube_queue_add(struct kube_queue *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    add_locked(q, key);
    pthread_mutex_unlock(&q->mu);
}

static void add_after_locked(struct kube_queue *q, const char *key, long ms)
{
    if (q->shutting_down)
        return;
    if (ms <= 0) {
        add_locked(q, key);
        return;
    }
    int64_t ready = now(q) + (int64_t)ms * 1000000LL;
    json_t *cur = json_object_get(q->waiting, key);
    if (cur && json_integer_value(cur) <= ready)
        return; /* already due sooner */
    if (json_object_set_new(q->waiting, key, json_integer(ready)))
        return;
    if (!heap_push(q, ready, key)) {
        json_object_del(q->waiting, key);
        return;
    }
    pthread_cond_broadcast(&q->cv); /* a sleeper may need to wake sooner */
}

void kube_queue_add_after(struct kube_queue *q, const char *key, long delay_ms)
{
    pthread_mutex_lock(&q->mu);
    add_after_locked(q, key, delay_ms);
    pthread_mutex_unlock(&q->mu);
}

/* max(per-key exponential, token bucket), counting one failure. */
static long when_locked(struct kube_queue *q, const char *key)
{
    json_t *f = json_object_get(q->failures, key);
    long long n = f ? json_integer_value(f) : 0;
    json_object_set_new(q->failures, key, json_integer(n + 1));
    double exp_ms = (double)q->base_ms * pow(2.0, (double)(n > 62 ? 62 : n));
    if (exp_ms > (double)q->max_ms)
        exp_ms = (double)q->max_ms;
    double bucket_ms = 0;
    if (q->qps > 0) {
        int64_t t = now(q);
        double refill = (double)(t - q->tokens_at) / 1e9 * q->qps;
        if (refill > 0) {
            q->tokens += refill;
            q->tokens_at = t;
        }
        if (q->tokens > q->burst)
            q->tokens = q->burst;
        q->tokens -= 1;
        if (q->tokens < 0)
            bucket_ms = -q->tokens / q->qps * 1000.0;
    }
    double ms = exp_ms > bucket_ms ? exp_ms : bucket_ms;
    return (long)ceil(ms);
}

long kube_queue_when_ms(struct kube_queue *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    long ms = when_locked(q, key);
    pthread_mutex_unlock(&q->mu);
    return ms;
}

void kube_queue_add_rate_limited(struct kube_queue *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    if (!q->shutting_down) {
        q->m.retries++;
        add_after_locked(q, key, when_locked(q, key));
    }
    pthread_mutex_unlock(&q->mu);
}

void kube_queue_forget(struct kube_queue *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    json_object_del(q->failures, key);
    pthread_mutex_unlock(&q->mu);
}

int kube_queue_num_requeues(struct kube_queue *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    json_t *f = json_object_get(q->failures, key);
    int n = f ? (int)json_integer_value(f) : 0;
    pthread_mutex_unlock(&q->mu);
    return n;
}

static void deadline_after_ns(struct timespec *ts, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    int64_t t = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec + ns;
    ts->tv_sec = t / 1000000000LL;
    ts->tv_nsec = t % 1000000000LL;
}

retl_err kube_queue_get(struct kube_queue *q, long timeout_ms, char **key)
{
    retl_err e = RETL_E_OK;
    int64_t start = mono_ns(NULL);
    pthread_mutex_lock(&q->mu);
    for (;;) {
        int64_t next = promote_locked(q);
        if (q->len > 0)
            break;
        if (q->shutting_down) {
            e = RETL_E_CANCELLED;
            goto out;
        }
        int64_t left = -1;
        if (timeout_ms >= 0) {
            left = (int64_t)timeout_ms * 1000000LL - (mono_ns(NULL) - start);
            if (left <= 0) {
                e = RETL_E_TIMEOUT;
                goto out;
            }
        }
        int64_t wait = left;
        if (next >= 0 && (wait < 0 || next < wait))
            wait = next;
        if (wait < 0) {
            pthread_cond_wait(&q->cv, &q->mu);
        } else {
            struct timespec ts;
            deadline_after_ns(&ts, wait);
            pthread_cond_timedwait(&q->cv, &q->mu, &ts);
        }
    }
    char *k = fifo_pop(q);
    int64_t t = now(q);
    json_t *added = json_object_get(q->dirty, k);
    double waited = added ? (double)(t - json_integer_value(added)) / 1e9 : 0;
    json_object_del(q->dirty, k);
    json_object_set_new(q->processing, k, json_integer(t));
    q->m.gets++;
    q->m.queue_seconds_sum += waited;
    if (waited > q->m.queue_seconds_max)
        q->m.queue_seconds_max = waited;
    *key = k;
out:
    pthread_mutex_unlock(&q->mu);
    return e;
}

void kube_queue_done(struct kube_queue *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    json_t *started = json_object_get(q->processing, key);
    if (started) {
        double took = (double)(now(q) - json_integer_value(started)) / 1e9;
        q->m.work_seconds_sum += took;
        q->m.work_count++;
        if (took > q->m.work_seconds_max)
            q->m.work_seconds_max = took;
        json_object_del(q->processing, key);
        /* Added while it was being processed: hand it out again. */
        if (json_object_get(q->dirty, key) && !fifo_push(q, key))
            json_object_del(q->dirty, key);
    }
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void kube_queue_shutdown(struct kube_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->shutting_down = true;
    while (q->n_heap > 0) {
        struct waiter w = heap_pop(q);
        free(w.key);
    }
    json_object_clear(q->waiting);
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

retl_err kube_queue_shutdown_drain(struct kube_queue *q, long timeout_ms)
{
    kube_queue_shutdown(q);
    retl_err e = RETL_E_OK;
    struct timespec ts;
    if (timeout_ms >= 0)
        deadline_after_ns(&ts, (int64_t)timeout_ms * 1000000LL);
    pthread_mutex_lock(&q->mu);
    while (q->len > 0 || json_object_size(q->processing) > 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&q->cv, &q->mu);
        } else if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) != 0) {
            e = RETL_E_TIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&q->mu);
    return e;
}

bool kube_queue_shutting_down(struct kube_queue *q)
{
    pthread_mutex_lock(&q->mu);
    bool s = q->shutting_down;
    pthread_mutex_unlock(&q->mu);
    return s;
}

size_t kube_queue_len(struct kube_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void kube_queue_metrics(struct kube_queue *q, struct kube_queue_metrics *out)
{
    pthread_mutex_lock(&q->mu);
    *out = q->m;
    out->depth = q->len;
    out->waiting = json_object_size(q->waiting);
    out->processing = json_object_size(q->processing);
    int64_t t = now(q), oldest = t;
    const char *k;
    json_t *v;
    json_object_foreach (q->processing, k, v) {
        if (json_integer_value(v) < oldest)
            oldest = json_integer_value(v);
    }
    out->longest_running_s = (double)(t - oldest) / 1e9;
    pthread_mutex_unlock(&q->mu);
}
