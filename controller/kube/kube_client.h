/* A thread-safe Kubernetes REST client on libcurl + jansson.
 *
 * One struct kube_client serves every thread of the process: requests take an
 * easy handle from a small pool, and all handles share one curl share object
 * (connection cache, DNS cache, TLS sessions), so connections to the API
 * server are reused across threads. HTTP/1.1 is used (a watch holds its own
 * connection; no HTTP/2 multiplexing surprises).
 *
 * Every call returns retl_err. Non-2xx answers are parsed from their
 * metav1.Status body (kube_status.h): NOT_FOUND, ALREADY_EXISTS, CONFLICT,
 * GONE, FORBIDDEN, UNAUTHORIZED, UNPROCESSABLE (Invalid, with its causes in the
 * message), TOO_MANY_REQUESTS (after honouring Retry-After up to
 * max_429_retries times), UNAVAILABLE; the errbuf gets the server's message,
 * reason and code. Transport failures are RETL_E_HTTP / RETL_E_TIMEOUT /
 * RETL_E_TLS; an oversize body is RETL_E_TOO_BIG.
 *
 * Objects are jansson values. Functions that return an object give the caller
 * a new reference (json_decref it); objects passed in are borrowed.
 *
 *   struct kube_config *cfg; struct kube_client *kc;
 *   kube_config_load(&(struct kube_config_opts){.kubeconfig = path}, &cfg, &eb);
 *   kube_client_new(cfg, NULL, &kc, &eb);          // kc now owns cfg
 *   json_t *cm;
 *   if (kube_get(kc, &kube_gvr_configmaps, "ns", "name", &cm, &eb) == RETL_E_OK)
 *       ... json_decref(cm);
 *   kube_client_free(kc);
 */
#ifndef RETL_KUBE_CLIENT_H
#define RETL_KUBE_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "kube_config.h"
#include "kube_status.h"
#include "kube_watch.h"

/* A resource type: group ("" for the core group), version, plural resource
 * name, and whether it lives in namespaces. */
struct kube_gvr {
    const char *group;
    const char *version;
    const char *resource;
    bool namespaced;
};

extern const struct kube_gvr kube_gvr_configmaps;
extern const struct kube_gvr kube_gvr_secrets;
extern const struct kube_gvr kube_gvr_pods;
extern const struct kube_gvr kube_gvr_namespaces;
extern const struct kube_gvr kube_gvr_leases;         /* coordination.k8s.io/v1 */
extern const struct kube_gvr kube_gvr_events;         /* events.k8s.io/v1 */
extern const struct kube_gvr kube_gvr_crds;           /* apiextensions.k8s.io/v1 */
extern const struct kube_gvr kube_gvr_reverseetljobs; /* retl.io/v1alpha1 */

/* Called after every request (from the requesting thread): verb
 * ("GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "DELETE"), HTTP code (0 =
 * transport error) and duration. Must be thread-safe and quick. */
typedef void (*kube_request_fn)(void *ud, const char *verb, long code, double seconds);

struct kube_client_opts {
    long timeout_ms;         /* per request (not watches); default 30 s */
    long connect_timeout_ms; /* default 10 s */
    size_t max_body;         /* single objects; default 16 MiB */
    size_t max_list_body;    /* one list page; default 64 MiB */
    int max_429_retries;     /* default 3; each waits Retry-After (<= 10 s) */
    const char *user_agent;  /* default "retl-controller" (copied) */
    kube_request_fn on_request;
    void *on_request_ud;
};

struct kube_client;

/* Creates a client. On success it takes ownership of cfg (freed by
 * kube_client_free); on failure cfg stays the caller's. opts may be NULL.
 * Ownership: free *out with kube_client_free after every thread using it has
 * stopped. */
retl_err kube_client_new(struct kube_config *cfg, const struct kube_client_opts *opts,
                         struct kube_client **out, struct retl_errbuf *eb);
void kube_client_free(struct kube_client *c);

/* The configuration in use (borrowed; namespace, server, ...). */
const struct kube_config *kube_client_config(const struct kube_client *c);

/* Request counts by HTTP code, for /metrics. by_code[0] counts transport
 * errors; codes >= KUBE_METRIC_CODES are counted in by_code[599]. */
#define KUBE_METRIC_CODES 600
struct kube_client_metrics {
    uint64_t by_code[KUBE_METRIC_CODES];
    uint64_t total;
    uint64_t retries_429;
    uint64_t token_reloads_401;
    uint64_t connects; /* new connections opened (reuse keeps it low) */
};
void kube_client_metrics(const struct kube_client *c, struct kube_client_metrics *out);

/* Limits for the requests the calling thread makes from now on (watches
 * excepted for the timeout): timeout_ms (0 = the client's) and a cancel flag
 * (NULL = none) that aborts a request in flight within about a second with
 * RETL_E_CANCELLED. Background threads that must stop promptly (leader
 * election, the event recorder, reconcile workers) set these. */
void kube_client_thread_limits(long timeout_ms, const atomic_bool *cancel);

/* ---- typed verbs ---------------------------------------------------------
 * ns is ignored for cluster-scoped resources; for namespaced ones NULL or ""
 * means all namespaces (list/watch only). */

/* GET one object. Ownership: *out is a new reference. */
retl_err kube_get(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                  const char *name, json_t **out, struct retl_errbuf *eb);

struct kube_list_opts {
    const char *label_selector;   /* "app=x,tier!=db" or NULL */
    const char *field_selector;   /* "metadata.name=x" or NULL */
    long limit;                   /* page size; 0 = 500 */
    const char *resource_version; /* NULL/"" = consistent read; "0" = cache */
    const atomic_bool *cancel;    /* optional: abort (RETL_E_CANCELLED) when set */
};

/* Called for each listed item (borrowed; incref to keep). A non-OK return
 * stops the listing and is returned. */
typedef retl_err (*kube_item_fn)(void *ud, json_t *item, struct retl_errbuf *eb);

/* Lists every page (following metadata.continue); items lacking apiVersion
 * and kind (built-in types) get them from the list. *rv_out (optional) gets the
 * list's resourceVersion, the one to start a watch from. An expired continue
 * token yields RETL_E_GONE (restart the list). Ownership: *rv_out is a heap
 * string the caller frees. */
retl_err kube_list_each(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                        const struct kube_list_opts *o, kube_item_fn fn, void *ud,
                        char **rv_out, struct retl_errbuf *eb);
/* Same, collecting everything into {"items": [...], "metadata":
 * {"resourceVersion": ...}}. Ownership: *out is a new reference. */
retl_err kube_list(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                   const struct kube_list_opts *o, json_t **out, struct retl_errbuf *eb);
/* One page: continue_token NULL for the first. Returns the raw List object
 * (metadata.continue says whether more follow). Ownership: new reference. */
retl_err kube_list_page(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                        const struct kube_list_opts *o, const char *continue_token,
                        json_t **out, struct retl_errbuf *eb);

/* POST. obj must carry metadata.name (or generateName). Ownership: *out
 * (optional) is a new reference to the created object. */
retl_err kube_create(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                     const json_t *obj, json_t **out, struct retl_errbuf *eb);
/* PUT (optimistic concurrency: obj's metadata.resourceVersion must be current,
 * else RETL_E_CONFLICT). subresource NULL or "status". Ownership: *out
 * optional, new reference. */
retl_err kube_update(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                     const json_t *obj, const char *subresource, json_t **out,
                     struct retl_errbuf *eb);
/* PUT of the status subresource; same as kube_update(..., "status", ...). */
retl_err kube_update_status(struct kube_client *c, const struct kube_gvr *gvr,
                            const char *ns, const json_t *obj, json_t **out,
                            struct retl_errbuf *eb);

enum kube_patch_type {
    KUBE_PATCH_MERGE, /* application/merge-patch+json (RFC 7386) */
    KUBE_PATCH_JSON,  /* application/json-patch+json (RFC 6902) */
    KUBE_PATCH_APPLY, /* server-side apply, application/apply-patch+yaml */
};

struct kube_patch_opts {
    const char *field_manager; /* required for APPLY; default "retl-controller" */
    bool force;                /* APPLY: take ownership of conflicting fields */
    const char *subresource;   /* NULL or "status" */
};

/* PATCH. For APPLY, patch is the full intent with apiVersion, kind and
 * metadata.name (JSON is valid YAML). opts may be NULL. Ownership: *out
 * optional, new reference. */
retl_err kube_patch(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                    const char *name, enum kube_patch_type type, const json_t *patch,
                    const struct kube_patch_opts *opts, json_t **out,
                    struct retl_errbuf *eb);
/* Server-side apply with force=true and field_manager (NULL = default): what
 * controllers should use for objects they own. Ownership as kube_patch. */
retl_err kube_apply(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                    const json_t *obj, const char *field_manager, json_t **out,
                    struct retl_errbuf *eb);

struct kube_delete_opts {
    const char *uid;              /* precondition, or NULL */
    const char *resource_version; /* precondition, or NULL */
    const char *propagation;      /* "Background" | "Foreground" | "Orphan" | NULL */
    long grace_period_seconds;    /* -1 = server default */
};
/* DELETE. A failed precondition is RETL_E_CONFLICT. opts may be NULL. */
retl_err kube_delete(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                     const char *name, const struct kube_delete_opts *opts,
                     struct retl_errbuf *eb);

/* ---- watch ---------------------------------------------------------------- */

struct kube_watch_opts {
    const char *resource_version; /* start after this RV ("" = now) */
    const char *label_selector;
    const char *field_selector;
    long timeout_seconds; /* server-side timeout; 0 = server default */
    bool bookmarks;       /* allowWatchBookmarks=true */
    size_t max_event;     /* one event; 0 = KUBE_WATCH_MAX_LINE */
};

/* Streams a watch, calling fn for each event on this thread until the server
 * ends the stream (RETL_E_OK), stop becomes true (RETL_E_CANCELLED, within
 * about a second), the transport fails (RETL_E_HTTP), a line is malformed or
 * too big (RETL_E_PARSE / RETL_E_TOO_BIG), fn fails (its error), or the server
 * refuses the watch (its Status error, e.g. RETL_E_GONE). ERROR events are
 * passed to fn like any other. stop may be NULL. */
retl_err kube_watch(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                    const struct kube_watch_opts *o, kube_watch_event_fn fn, void *ud,
                    const atomic_bool *stop, struct retl_errbuf *eb);

/* ---- raw access ------------------------------------------------------------ */

struct kube_req {
    const char *method;       /* "GET" ... */
    const char *path;         /* "/api/v1/..." with query string */
    const char *content_type; /* for a body */
    const char *body;
    size_t body_len;
    size_t max_body;  /* 0 = opts.max_body */
    const char *verb; /* metric label; NULL = method */
};
/* Performs one request. On 2xx, *out (optional) gets the parsed body (NULL
 * when empty). On failure, st (optional) gets the parsed Status. Ownership:
 * *out is a new reference. */
retl_err kube_request(struct kube_client *c, const struct kube_req *req, json_t **out,
                      struct kube_status *st, struct retl_errbuf *eb);

/* GET of a path (with query string) whose answer is not JSON, e.g. a pod's
 * log. On 2xx, *out gets the body NUL-terminated and *len its length; a body
 * over max_body (0 = opts.max_body) is RETL_E_TOO_BIG; errors as
 * kube_request. Ownership: the caller frees *out. */
retl_err kube_get_text(struct kube_client *c, const char *path, size_t max_body,
                       char **out, size_t *len, struct retl_errbuf *eb);

/* Builds "/api/v1/namespaces/<ns>/<resource>[/<name>[/<sub>]]" (or
 * "/apis/<group>/<version>/..."), with path segments escaped. Ownership:
 * caller frees. NULL when out of memory. */
char *kube_path(const struct kube_gvr *gvr, const char *ns, const char *name,
                const char *subresource);
/* Percent-encodes s for a query value. Ownership: caller frees. */
char *kube_escape(const char *s);

/* ---- object helpers (borrowed strings, NULL when absent) ------------------ */
const char *kube_obj_name(const json_t *obj);
const char *kube_obj_namespace(const json_t *obj);
const char *kube_obj_uid(const json_t *obj);
const char *kube_obj_rv(const json_t *obj);
/* "namespace/name", or "name" for cluster-scoped objects, into buf; false
 * when the object has no name or buf is too small. */
bool kube_obj_key(const json_t *obj, char *buf, size_t n);
/* Splits a key "ns/name" (or "name") into ns (maybe "") and name, in buf. */
bool kube_key_split(const char *key, char *buf, size_t n, const char **ns,
                    const char **name);

#endif
