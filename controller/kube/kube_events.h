/* An events.k8s.io/v1 event recorder (client-go tools/events, best effort).
 *
 * kube_eventf never blocks on the network: it applies the per-object spam
 * filter (a token bucket per regarding object: burst 25, then one event per
 * 5 minutes, as client-go's record spam filter) and queues the event (bounded;
 * dropped when full). A thread writes them: the first occurrence of an
 * (object, type, reason, action, note) creates an Event named
 * "<object name>.<hex nanoseconds>"; repeats are folded into that Event's
 * series {count, lastObservedTime} with a merge patch (count = occurrences so
 * far), as long as the entry stays in an LRU of cache_size entries.
 * reportingController is "retl.io/controller" unless set, reportingInstance
 * the given identity (e.g. the pod name) or the hostname. Cluster-scoped
 * objects get their events in namespace "default". */
#ifndef RETL_KUBE_EVENTS_H
#define RETL_KUBE_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#include "common/error.h"
#include "kube_client.h"

#define KUBE_EVENT_NORMAL "Normal"
#define KUBE_EVENT_WARNING "Warning"

struct kube_events_opts {
    const char *reporting_controller; /* default "retl.io/controller" */
    const char *reporting_instance;   /* default: hostname */
    int burst;                        /* per object; default 25 */
    long refill_ms;                   /* one token per; default 300000 */
    size_t cache_size;                /* aggregation LRU; default 4096 */
    size_t queue_size;                /* pending events; default 1000 */
};

struct kube_events_stats {
    uint64_t emitted;   /* kube_eventf calls */
    uint64_t created;   /* Events created */
    uint64_t patched;   /* series updates */
    uint64_t throttled; /* dropped by the spam filter */
    uint64_t dropped;   /* queue full */
    uint64_t failed;    /* API errors */
};

struct kube_events;

/* Starts the recorder thread. c is borrowed and must outlive the recorder.
 * Ownership: free *out with kube_events_free. opts may be NULL. */
retl_err kube_events_new(struct kube_client *c, const struct kube_events_opts *opts,
                         struct kube_events **out, struct retl_errbuf *eb);
/* Records an event about regarding (any object with apiVersion, kind and
 * metadata; borrowed). type is KUBE_EVENT_NORMAL or KUBE_EVENT_WARNING; reason
 * is UpperCamelCase ("RunStarted"); action (NULL = reason) what was done; the
 * note (<= 1 KiB) is formatted from fmt. Thread-safe, never blocks on I/O. */
void kube_eventf(struct kube_events *r, const json_t *regarding, const char *type,
                 const char *reason, const char *action, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Waits until every queued event has been written (or timeout_ms):
 * RETL_E_OK or RETL_E_TIMEOUT. */
retl_err kube_events_flush(struct kube_events *r, long timeout_ms);
void kube_events_stats(struct kube_events *r, struct kube_events_stats *out);
/* Writes what is queued (at most ~2 s), stops the thread and frees. */
void kube_events_free(struct kube_events *r);

#endif
