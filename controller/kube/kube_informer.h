/* A shared informer (client-go's Reflector + Indexer + handlers) for one
 * resource type, optionally narrowed to a namespace and label/field selectors.
 *
 * Its thread lists every page, then watches from the list's resourceVersion
 * with allowWatchBookmarks=true and a random timeoutSeconds in [300, 600],
 * re-watching from the last seen resourceVersion when the server closes the
 * stream. A 410 Gone (or a watch ERROR "too old resource version"), an expired
 * continue token, a malformed or oversize event all lead to a relist; other
 * failures to a reconnect after a backoff of 0.8 s doubling up to 30 s (reset
 * once a watch is healthy).
 *
 * The cache holds the latest state of every object, keyed "namespace/name"
 * ("name" for cluster-scoped). metadata.managedFields is dropped unless
 * keep_managed_fields is set (it is most of an object's size and no
 * controller reads it).
 *
 * Handlers run on the informer's thread, one at a time, in event order:
 *   on_add    an object appeared (initial list included),
 *   on_update its resourceVersion changed (old and new states),
 *   on_delete it was deleted; final_state_unknown = true when the deletion was
 *             noticed by a relist (the object is its last known state).
 * A relist compares with the cache, so an object seen again with the same
 * resourceVersion triggers nothing: reconnects and relists never duplicate a
 * handler call. Objects given to handlers are borrowed for the call
 * (json_incref to keep one) and MUST NOT be modified. Handlers should be
 * quick: typically they put the object's key (kube_obj_key) into a work
 * queue (see kube_informer_queue_handlers).
 *
 * The cache stores each object as compact JSON text (a sixth of the memory of
 * a parsed tree); kube_informer_get and kube_informer_list parse a fresh copy
 * for the caller, which owns it. */
#ifndef RETL_KUBE_INFORMER_H
#define RETL_KUBE_INFORMER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "kube_client.h"

struct kube_queue;

struct kube_informer_handlers {
    void (*on_add)(void *ud, json_t *obj);
    void (*on_update)(void *ud, json_t *old_obj, json_t *new_obj);
    void (*on_delete)(void *ud, json_t *obj, bool final_state_unknown);
    void *ud;
};

struct kube_informer_opts {
    const struct kube_gvr *gvr; /* required; copied by value (strings must
                                   outlive the informer: use the kube_gvr_*
                                   constants or static strings) */
    const char *namespace;      /* NULL/"" = all namespaces */
    const char *label_selector; /* NULL = everything */
    const char *field_selector;
    long page_size;   /* list page size; 0 = 500 */
    size_t max_event; /* one watch event; 0 = 16 MiB */
    bool keep_managed_fields;
    /* Tests only: the first watch starts from this resourceVersion instead of
     * the list's (a stale one forces the 410 path). */
    const char *test_first_watch_rv;
};

struct kube_informer_stats {
    uint64_t lists;   /* completed lists (1 + relists) */
    uint64_t watches; /* watch requests started */
    uint64_t events;  /* watch events applied (bookmarks excluded) */
    uint64_t bookmarks;
    uint64_t gone;   /* 410 answers / ERROR events that forced a relist */
    uint64_t errors; /* other failures (transport, parse, status) */
    size_t objects;  /* objects in the cache now */
};

struct kube_informer;

/* Creates an informer (not started). opts strings are copied; c is borrowed
 * and must outlive the informer; h may be NULL. Ownership: free *out with
 * kube_informer_free. */
retl_err kube_informer_new(struct kube_client *c, const struct kube_informer_opts *opts,
                           const struct kube_informer_handlers *h,
                           struct kube_informer **out, struct retl_errbuf *eb);
/* Starts the thread. */
retl_err kube_informer_start(struct kube_informer *inf, struct retl_errbuf *eb);
/* Stops the thread (an open watch is aborted within about a second) and
 * joins it. No handler runs after it returns. Idempotent. */
void kube_informer_stop(struct kube_informer *inf);
/* Stops if needed and frees everything, the cache included. */
void kube_informer_free(struct kube_informer *inf);

/* True once the first list has been applied to the cache (and its on_add
 * handlers have returned). */
bool kube_informer_has_synced(struct kube_informer *inf);
/* Waits until synced, or timeout_ms (< 0 = forever), or the informer stops.
 * Returns has_synced. */
bool kube_informer_wait_synced(struct kube_informer *inf, long timeout_ms);

/* A copy of the cached object, or NULL. Ownership: the caller owns and
 * decrefs it (and may modify it). ns is ignored for cluster-scoped types. */
json_t *kube_informer_get(struct kube_informer *inf, const char *ns, const char *name);
/* Same by "ns/name" key. */
json_t *kube_informer_get_key(struct kube_informer *inf, const char *key);
/* A snapshot array with a copy of every cached object. Ownership: the
 * caller decrefs the array. */
json_t *kube_informer_list(struct kube_informer *inf);
size_t kube_informer_count(struct kube_informer *inf);
/* The last resourceVersion seen (list, event or bookmark). Ownership: caller
 * frees; NULL before the first list. */
char *kube_informer_resource_version(struct kube_informer *inf);
void kube_informer_stats(struct kube_informer *inf, struct kube_informer_stats *out);

/* Handlers that add the object's "ns/name" key to q on add, on update and on
 * delete (the usual controller wiring). q is borrowed. */
struct kube_informer_handlers kube_informer_queue_handlers(struct kube_queue *q);

#endif
