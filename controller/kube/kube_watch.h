/* Incremental parser for a Kubernetes watch stream: newline-delimited JSON
 * objects {"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": {...}},
 * fed in whatever pieces the transport delivers (HTTP chunks split lines
 * anywhere). A line is held in a bounded buffer (common/buf.h); a line longer
 * than max_line, a line that is not a watch event, or bytes left over when the
 * stream ends are errors, never crashes: the informer answers them with a
 * relist. */
#ifndef RETL_KUBE_WATCH_H
#define RETL_KUBE_WATCH_H

#include <jansson.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

enum kube_watch_type {
    KUBE_WATCH_ADDED,
    KUBE_WATCH_MODIFIED,
    KUBE_WATCH_DELETED,
    KUBE_WATCH_BOOKMARK,
    KUBE_WATCH_ERROR, /* object is a metav1.Status */
};

/* Default bound for one event (one line). */
#define KUBE_WATCH_MAX_LINE (16u * 1024 * 1024)

/* Called once per complete event. obj is borrowed (incref to keep it). A
 * non-OK return stops the feed and is returned by kube_watch_feed. */
typedef retl_err (*kube_watch_event_fn)(void *ud, enum kube_watch_type type, json_t *obj,
                                        struct retl_errbuf *eb);

struct kube_watch_parser {
    struct retl_buf line; /* the incomplete line so far */
    kube_watch_event_fn fn;
    void *ud;
    size_t events; /* complete events delivered */
};

/* max_line 0 = KUBE_WATCH_MAX_LINE. Allocates nothing. */
void kube_watch_parser_init(struct kube_watch_parser *p, size_t max_line,
                            kube_watch_event_fn fn, void *ud);
/* Frees the line buffer; the parser may be re-initialised. */
void kube_watch_parser_free(struct kube_watch_parser *p);
/* Empties the pending line (a new stream starts). */
void kube_watch_parser_reset(struct kube_watch_parser *p);

/* Feeds n bytes. Returns RETL_E_PARSE for a line that is not a watch event,
 * RETL_E_TOO_BIG for a line over the bound, or the callback's error. After an
 * error the parser is reset. Empty lines are ignored. */
retl_err kube_watch_feed(struct kube_watch_parser *p, const char *data, size_t n,
                         struct retl_errbuf *eb);
/* The stream ended: RETL_E_PARSE when a partial line is left (a truncated
 * event), else OK. */
retl_err kube_watch_finish(struct kube_watch_parser *p, struct retl_errbuf *eb);

/* Parses one complete line (without the newline). Exposed for tests.
 * Ownership: *obj is a new reference the caller decrefs. */
retl_err kube_watch_parse_line(const char *line, size_t len, enum kube_watch_type *type,
                               json_t **obj, struct retl_errbuf *eb);

/* "ADDED", ... */
const char *kube_watch_type_name(enum kube_watch_type t);

#endif
