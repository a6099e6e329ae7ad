#include "kube_event_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "kube_client.h"

json_t *kube_event_ref(const json_t *obj)
{
    const char *ns = kube_obj_namespace(obj);
    const char *uid = kube_obj_uid(obj);
    const char *name = kube_obj_name(obj);
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *apiv = json_string_value(json_object_get(obj, "apiVersion"));
    const char *rv = kube_obj_rv(obj);
    json_t *ref = json_pack("{s:s,s:s,s:s}", "apiVersion", apiv ? apiv : "v1", "kind",
                            kind ? kind : "", "name", name ? name : "");
    if (ref && ns && *ns)
        json_object_set_new(ref, "namespace", json_string(ns));
    if (ref && uid)
        json_object_set_new(ref, "uid", json_string(uid));
    if (ref && rv)
        json_object_set_new(ref, "resourceVersion", json_string(rv));
    return ref;
}

const char *kube_event_namespace(const json_t *obj)
{
    const char *ns = kube_obj_namespace(obj);
    return ns && *ns ? ns : "default";
}

void kube_event_object_key(const json_t *obj, char *buf, size_t n)
{
    const char *ns = kube_obj_namespace(obj);
    const char *uid = kube_obj_uid(obj);
    const char *name = kube_obj_name(obj);
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    snprintf(buf, n, "%s/%s/%s/%s", kind ? kind : "", ns ? ns : "", name ? name : "",
             uid ? uid : "");
}

char *kube_event_series_key(const char *object_key, const char *type, const char *reason,
                            const char *action, const char *note)
{
    struct retl_buf k;
    retl_buf_init(&k, 4096);
    retl_buf_printf(&k, "%s|%s|%s|%s|%s", object_key, type, reason, action, note);
    return retl_buf_take(&k);
}

void kube_event_name(const char *object_name, uint64_t unix_ns, char *buf, size_t n)
{
    snprintf(buf, n, "%.200s.%llx", object_name ? object_name : "object",
             (unsigned long long)unix_ns);
}

json_t *kube_event_build(const struct kube_event_fields *f)
{
    return json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:O}",
                     "apiVersion", "events.k8s.io/v1", "kind", "Event", "metadata",
                     "name", f->name, "namespace", f->ns, "eventTime", f->at,
                     "reportingController", f->controller, "reportingInstance",
                     f->instance, "type", f->type, "reason", f->reason, "action",
                     f->action, "note", f->note, "regarding", f->regarding);
}

json_t *kube_event_series_patch(long long count, const char *at)
{
    return json_pack("{s:{s:I,s:s}}", "series", "count", (json_int_t)count,
                     "lastObservedTime", at);
}

struct kube_bucket kube_bucket_full(int burst, int64_t now)
{
    return (struct kube_bucket){.tokens = (double)burst, .at = now};
}

bool kube_bucket_take(struct kube_bucket *b, int64_t now, int burst, long refill_ms)
{
    double tokens = b->tokens + (double)(now - b->at) / (double)refill_ms;
    if (tokens > burst)
        tokens = burst;
    bool ok = tokens >= 1.0;
    if (ok)
        tokens -= 1.0;
    b->tokens = tokens;
    b->at = now;
    return ok;
}

void kube_lru_evict(json_t *map)
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
