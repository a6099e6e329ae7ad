/* The event recorder's rules (kube_events.c), pure: the regarding reference,
 * the keys of the spam filter and of aggregation, the Event object and its
 * series patch, the per-object token bucket, LRU eviction. Times are
 * arguments. */
#ifndef RETL_KUBE_EVENT_RULES_H
#define RETL_KUBE_EVENT_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The regarding reference of obj: apiVersion (default "v1"), kind, name, and
 * namespace, uid, resourceVersion when set. Ownership: new reference, NULL
 * when out of memory. */
json_t *kube_event_ref(const json_t *obj);

/* Where obj's events go: its namespace, "default" for cluster-scoped objects. */
const char *kube_event_namespace(const json_t *obj);

/* The spam filter's key of obj: "kind/namespace/name/uid". */
void kube_event_object_key(const json_t *obj, char *buf, size_t n);

/* The aggregation key: the object key, type, reason, action and note.
 * Ownership: caller frees; NULL when out of memory. */
char *kube_event_series_key(const char *object_key, const char *type, const char *reason,
                            const char *action, const char *note);

/* "<object name>.<hex nanoseconds>" (the object name cut at 200 bytes). */
void kube_event_name(const char *object_name, uint64_t unix_ns, char *buf, size_t n);

struct kube_event_fields {
    const char *name, *ns;  /* of the Event */
    const char *at;         /* eventTime (MicroTime) */
    const char *controller; /* reportingController */
    const char *instance;   /* reportingInstance */
    const char *type, *reason, *action, *note;
    json_t *regarding; /* borrowed */
};

/* The events.k8s.io/v1 Event. Ownership: new reference, NULL when out of memory. */
json_t *kube_event_build(const struct kube_event_fields *f);

/* The merge patch that folds a repeat into the Event's series. Ownership: new
 * reference. */
json_t *kube_event_series_patch(long long count, const char *at);

/* One object's token bucket: burst tokens, refilled one per refill_ms. */
struct kube_bucket {
    double tokens;
    int64_t at; /* when tokens was last computed (monotonic ms) */
};

/* A full bucket at now. */
struct kube_bucket kube_bucket_full(int burst, int64_t now);
/* Refills up to burst, then takes one token: false when none is left. */
bool kube_bucket_take(struct kube_bucket *b, int64_t now, int burst, long refill_ms);

/* Drops the entry of map with the smallest "used" (the least recently used). */
void kube_lru_evict(json_t *map);

#endif
