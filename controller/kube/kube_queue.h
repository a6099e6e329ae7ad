/* A work queue with client-go semantics (util/workqueue):
 *
 * - deduplicated: a key waiting in the queue is held once however often it
 *   is added;
 * - exclusive: a key is never handed to two workers at once; a key added
 *   while a worker processes it is queued again when that worker calls
 *   kube_queue_done (dirty + processing sets);
 * - delayed adds (kube_queue_add_after), merged to the earliest time;
 * - rate-limited adds (kube_queue_add_rate_limited): the delay is the larger
 *   of a per-key exponential backoff (base 5 ms doubling per failure up to
 *   1000 s, reset by kube_queue_forget) and an overall token bucket (10 qps,
 *   burst 100), as client-go's DefaultControllerRateLimiter;
 * - shutdown: no new adds; workers still get what is queued, then
 *   RETL_E_CANCELLED; kube_queue_shutdown_drain also waits until every key
 *   being processed is done.
 *
 * Worker loop:
 *   char *key;
 *   while (kube_queue_get(q, -1, &key) == RETL_E_OK) {
 *       retl_err e = reconcile(key);
 *       if (e) kube_queue_add_rate_limited(q, key);  // retry with backoff
 *       else   kube_queue_forget(q, key);            // reset its backoff
 *       kube_queue_done(q, key);
 *       free(key);
 *   }
 *
 * All functions are thread-safe. Time comes from an injectable monotonic
 * clock (tests step a fake clock and call kube_queue_get with timeout 0). */
#ifndef RETL_KUBE_QUEUE_H
#define RETL_KUBE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct kube_clock {
    int64_t (*now_ns)(void *ud); /* monotonic nanoseconds */
    void *ud;
};

struct kube_queue_opts {
    const char *name;               /* for logs/metrics (copied); default "queue" */
    const struct kube_clock *clock; /* NULL = CLOCK_MONOTONIC (copied) */
    long base_delay_ms;             /* per-key backoff base; default 5 */
    long max_delay_ms;              /* per-key backoff cap; default 1000 s */
    double qps;                     /* token bucket rate; default 10; < 0 = off */
    int burst;                      /* token bucket size; default 100 */
};

struct kube_queue_metrics {
    size_t depth;             /* keys ready to be handed out */
    size_t waiting;           /* keys delayed (add_after / rate limited) */
    size_t processing;        /* keys held by workers */
    uint64_t adds;            /* kube_queue_add calls that queued a new key */
    uint64_t retries;         /* kube_queue_add_rate_limited calls */
    uint64_t gets;            /* keys handed out */
    double queue_seconds_sum; /* time from add to get, summed over gets */
    double queue_seconds_max;
    double work_seconds_sum; /* time from get to done, summed */
    double work_seconds_max;
    uint64_t work_count;
    double longest_running_s; /* the oldest key being processed now */
};

struct kube_queue;

/* Ownership: free *out with kube_queue_free (after the workers stopped). opts
 * may be NULL. */
retl_err kube_queue_new(const struct kube_queue_opts *opts, struct kube_queue **out,
                        struct retl_errbuf *eb);
void kube_queue_free(struct kube_queue *q);

/* Queues key (copied) unless it is already queued; if it is being processed,
 * it is queued again after kube_queue_done. Ignored after shutdown. */
void kube_queue_add(struct kube_queue *q, const char *key);
/* Queues key after delay_ms (<= 0: now). A key already waiting keeps the
 * earlier of its two times. */
void kube_queue_add_after(struct kube_queue *q, const char *key, long delay_ms);
/* add_after with the rate limiter's delay for key (one more failure). */
void kube_queue_add_rate_limited(struct kube_queue *q, const char *key);
/* The delay the rate limiter gives key now, counting one more failure (what
 * add_rate_limited uses). */
long kube_queue_when_ms(struct kube_queue *q, const char *key);
/* Resets key's failure count (after a success). */
void kube_queue_forget(struct kube_queue *q, const char *key);
/* Failures counted for key since the last forget. */
int kube_queue_num_requeues(struct kube_queue *q, const char *key);

/* Takes the next key: RETL_E_OK with *key (heap string, the caller frees it
 * after kube_queue_done), RETL_E_TIMEOUT after timeout_ms (0 = do not wait,
 * < 0 = wait forever), RETL_E_CANCELLED when shut down and nothing is left. */
retl_err kube_queue_get(struct kube_queue *q, long timeout_ms, char **key);
/* Marks key processed (requeues it if it was added meanwhile). */
void kube_queue_done(struct kube_queue *q, const char *key);

/* Stops accepting adds and wakes waiting workers; delayed keys are dropped. */
void kube_queue_shutdown(struct kube_queue *q);
/* shutdown, then waits until the queue is empty and no key is being
 * processed, or timeout_ms (< 0 = forever): RETL_E_OK or RETL_E_TIMEOUT. */
retl_err kube_queue_shutdown_drain(struct kube_queue *q, long timeout_ms);
bool kube_queue_shutting_down(struct kube_queue *q);

size_t kube_queue_len(struct kube_queue *q);
void kube_queue_metrics(struct kube_queue *q, struct kube_queue_metrics *out);

#endif
