/* Kubernetes API errors: a non-2xx response (or a watch ERROR event) carries a
 * metav1.Status body; this module maps it onto retl_err.
 *
 *   404 / reason NotFound          -> RETL_E_NOT_FOUND
 *   409 / reason AlreadyExists     -> RETL_E_ALREADY_EXISTS
 *   409 / reason Conflict (stale)  -> RETL_E_CONFLICT
 *   410 / Gone, Expired            -> RETL_E_GONE (relist / restart the list)
 *   401                            -> RETL_E_UNAUTHORIZED
 *   403                            -> RETL_E_FORBIDDEN
 *   422 / Invalid                  -> RETL_E_UNPROCESSABLE (causes in the message)
 *   429                            -> RETL_E_TOO_MANY_REQUESTS (retry_after_ms)
 *   500 / 503 / 504 / timeouts     -> RETL_E_UNAVAILABLE
 *   anything else                  -> RETL_E_HTTP_STATUS
 *
 * The message written to the errbuf reads
 *   "<message> (reason <Reason>, code <N>): <field>: <cause>; ..." */
#ifndef RETL_KUBE_STATUS_H
#define RETL_KUBE_STATUS_H

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"

struct kube_status {
    long code;           /* HTTP code, or Status.code for watch events */
    char reason[64];     /* Status.reason ("NotFound"), "" when absent */
    char message[512];   /* Status.message, truncated */
    long retry_after_ms; /* Retry-After or details.retryAfterSeconds; -1 */
};

/* The retl_err for an HTTP code and a Status reason (either may be 0/NULL). */
retl_err kube_status_err(long code, const char *reason);

/* Parses a Status response body (any bytes: a body that is not a Status, e.g.
 * an HTML error page from a proxy, still yields the error of the HTTP code).
 * retry_after is the Retry-After header value or NULL. Fills st (when not NULL)
 * and eb; returns the mapped error. Never returns RETL_E_OK for code >= 300. */
retl_err kube_status_parse(long http_code, const char *body, size_t len,
                           const char *retry_after, struct kube_status *st,
                           struct retl_errbuf *eb);

/* Same for an already parsed Status object (watch ERROR events; http_code 0
 * means take Status.code). Borrowed st_obj. */
retl_err kube_status_from_json(long http_code, const json_t *st_obj,
                               const char *retry_after, struct kube_status *st,
                               struct retl_errbuf *eb);

#endif
