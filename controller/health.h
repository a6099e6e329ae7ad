/* The controller's small HTTP endpoints (libmicrohttpd):
 *
 *   --metrics-bind-address (default ":8080")       GET /metrics  (text format 0.0.4)
 *   --health-probe-bind-address (default ":8081")  GET /healthz  GET /readyz
 *
 * Addresses are "host:port", ":port" (every interface, IPv6 and IPv4), "[v6]:port",
 * or "0" (endpoint disabled, as controller-runtime). Port 0 picks a free port
 * (tests read it back). When both addresses are equal, one server serves all
 * three paths.
 *
 * /healthz: 200 "ok" while every liveness check passes, else 500 naming the
 * failing checks. /readyz: 503 with the reason until the controller calls
 * ctl_health_set_ready(h, true, NULL) (after its informers synced), and while
 * any readiness check fails; then 200 "ok". "?verbose" lists every check as
 * controller-runtime does ("[+]ping ok", "[-]informers failed: reason").
 *
 * Typical use in controller/main.c:
 *   ctl_metrics_init();
 *   struct ctl_health_opts ho = {.metrics_addr = flag_metrics, .probe_addr = flag_probe};
 *   if (ctl_health_start(&ho, &health, &eb)) -> exit 1 with eb's message;
 *   ctl_health_add_liveness(health, "leader-lease", lease_ok, le);
 *   ... informers synced ...
 *   ctl_health_set_ready(health, true, NULL);
 *   ... shutdown: ctl_health_stop(health); ctl_metrics_shutdown();
 *
 * All functions are thread-safe; checks run on the server's thread and must be
 * quick and thread-safe themselves. */
#ifndef RETL_CTL_HEALTH_H
#define RETL_CTL_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "controller/metrics.h"

#define CTL_HEALTH_DEFAULT_METRICS_ADDR ":8080"
#define CTL_HEALTH_DEFAULT_PROBE_ADDR ":8081"
/* Most checks of each kind. */
#define CTL_HEALTH_MAX_CHECKS 16

struct ctl_health;

struct ctl_health_opts {
    const char *metrics_addr;      /* NULL = ":8080"; "0" = no metrics endpoint */
    const char *probe_addr;        /* NULL = ":8081"; "0" = no probe endpoints */
    struct ctl_registry *registry; /* NULL = ctl_metrics_default() at request time */
};

/* A check: returns true when healthy; on failure may write a reason (at most n-1
 * bytes) into msg. */
typedef bool (*ctl_health_check_fn)(void *ud, char *msg, size_t n);

/* Parses "host:port", ":port", "[v6]:port" into host (empty = any) and port.
 * RETL_E_INVALID with a message for anything else. */
retl_err ctl_health_parse_addr(const char *addr, char *host, size_t host_n,
                               unsigned short *port, struct retl_errbuf *eb);

/* Binds and starts serving. *out is freed by ctl_health_stop. Fails (RETL_E_IO,
 * message in eb) when an address cannot be bound. Not ready until
 * ctl_health_set_ready(true); the initial reason is "informers not synced". */
retl_err ctl_health_start(const struct ctl_health_opts *o, struct ctl_health **out,
                          struct retl_errbuf *eb);
/* Stops the servers, waits for requests in flight, frees h. NULL is a no-op. */
void ctl_health_stop(struct ctl_health *h);

/* Bound ports (0 when that endpoint is disabled). */
unsigned short ctl_health_metrics_port(const struct ctl_health *h);
unsigned short ctl_health_probe_port(const struct ctl_health *h);

/* Sets the readiness flag; reason (copied, may be NULL) is served with the 503. */
void ctl_health_set_ready(struct ctl_health *h, bool ready, const char *reason);
bool ctl_health_is_ready(const struct ctl_health *h);

/* Adds a check served by /healthz (liveness) or /readyz (readiness). name is
 * copied. RETL_E_LIMIT past CTL_HEALTH_MAX_CHECKS. */
retl_err ctl_health_add_liveness(struct ctl_health *h, const char *name,
                                 ctl_health_check_fn fn, void *ud);
retl_err ctl_health_add_readiness(struct ctl_health *h, const char *name,
                                  ctl_health_check_fn fn, void *ud);

#endif
