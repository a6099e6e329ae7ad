/* Requests made with annotations on a job (DESIGN.md sections 2 and 8.5): each
 * new value starts exactly one run and is echoed into its status field, so the
 * same value twice does nothing. A run, a resync (every row sent again), a
 * reset (every row recorded as synced, none sent) and a retry (permanently
 * failed rows sent again too). Pure. */
#ifndef RETL_CTL_REQUEST_H
#define RETL_CTL_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct ctl_request {
    const char *annotation;   /* e.g. "retl.io/resync-requested-at" */
    const char *status_field; /* e.g. "lastHandledResyncRequest" */
    const char *trigger;      /* status.lastRun.trigger: Manual, Resync, Reset, Retry */
    const char *env;          /* engine env set to "1" in the run pod, or NULL */
    const char *verb;         /* kubectl retl subcommand: run, resync, reset, retry */
};

#define CTL_N_REQUESTS 4
/* In the order they are served when several are pending: the plain run first. */
extern const struct ctl_request ctl_requests[CTL_N_REQUESTS];

/* The request of that kubectl retl verb, or NULL. */
const struct ctl_request *ctl_request_by_verb(const char *verb);

/* The first request whose annotation on rj holds a value that status has not
 * handled yet, or NULL. *value (borrowed from rj) gets that value. */
const struct ctl_request *ctl_request_pending(const json_t *rj, const json_t *status,
                                              const char **value);

/* The run pod name of a request value: "<job>-m<8 hex of sha256(value)>" for a
 * plain run (DESIGN.md section 3), "<job>-m<8 hex of sha256(verb ":" value)>"
 * for the others, so the same value on two annotations names two runs. False
 * only when out of memory. */
bool ctl_request_pod_name(const struct ctl_request *rq, const char *job,
                          const char *value, char *buf, size_t n);

#endif
