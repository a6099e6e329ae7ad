/* /metrics, /healthz and /readyz on libmicrohttpd. One daemon per distinct
 * address, each with its own polling thread; handlers answer in one call. */
#include "controller/health.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/log.h"

#define REASON_MAX 256
#define CHECK_NAME_MAX 64
#define PROBE_BODY_MAX (16 * 1024)

enum serves { SERVE_METRICS = 1, SERVE_PROBES = 2 };

struct check {
    char name[CHECK_NAME_MAX];
    ctl_health_check_fn fn;
    void *ud;
};

struct ctl_health;

struct server {
    struct MHD_Daemon *d;
    unsigned short port;
    int serves;
    struct ctl_health *h;
};

struct ctl_health {
    struct server *srv[2];
    size_t nsrv;
    struct ctl_registry *registry;
    pthread_mutex_t mu; /* ready_reason, checks */
    atomic_bool ready;
    char ready_reason[REASON_MAX];
    struct check live[CTL_HEALTH_MAX_CHECKS], readyc[CTL_HEALTH_MAX_CHECKS];
    size_t nlive, nready;
};

retl_err ctl_health_parse_addr(const char *addr, char *host, size_t host_n,
                               unsigned short *port, struct retl_errbuf *eb)
{
    if (!addr || !*addr)
        return retl_errf(eb, RETL_E_INVALID, "empty bind address");
    const char *colon, *hs = addr;
    size_t hl;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return retl_errf(eb, RETL_E_INVALID,
                             "bind address \"%s\": expected [ipv6]:port", addr);
        hs = addr + 1;
        hl = (size_t)(close - hs);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return retl_errf(eb, RETL_E_INVALID,
                             "bind address \"%s\": expected host:port or :port", addr);
        hl = (size_t)(colon - addr);
    }
    const char *ps = colon + 1;
    char *end;
    if (!*ps || strspn(ps, "0123456789") != strlen(ps))
        return retl_errf(eb, RETL_E_INVALID, "bind address \"%s\": bad port", addr);
    unsigned long p = strtoul(ps, &end, 10);
    if (p > 65535)
        return retl_errf(eb, RETL_E_INVALID, "bind address \"%s\": port out of range",
                         addr);
    if (hl >= host_n)
        return retl_errf(eb, RETL_E_INVALID, "bind address \"%s\": host too long", addr);
    memcpy(host, hs, hl);
    host[hl] = '\0';
    *port = (unsigned short)p;
    return RETL_E_OK;
}

/* ---- responses ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status,
                             const char *ctype, void *body, size_t len,
                             enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned int status,
                                  const char *text)
{
    return reply(c, status, "text/plain; charset=utf-8", (void *)text, strlen(text),
                 MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result serve_metrics(struct ctl_health *h, struct MHD_Connection *c)
{
    struct ctl_registry *reg = h->registry ? h->registry : ctl_metrics_default();
    if (!reg)
        return reply_text(c, 503, "metrics not initialised\n");
    struct retl_buf b;
    retl_buf_init(&b, CTL_METRICS_MAX_RENDER);
    retl_err e = ctl_metrics_render(reg, &b);
    if (e) {
        retl_buf_free(&b);
        RETL_LOG_ERROR("rendering metrics failed", RF_S("error", retl_err_name(e)));
        return reply_text(c, 500, "rendering metrics failed\n");
    }
    size_t len = b.len;
    char *body = retl_buf_take(&b);
    if (!body)
        return MHD_NO;
    return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", body, len,
                 MHD_RESPMEM_MUST_FREE);
}

/* Runs the checks (copied under the lock, called outside it); returns how many
 * failed and writes the controller-runtime style report into b. */
static size_t run_checks(struct ctl_health *h, bool readiness, struct retl_buf *b)
{
    struct check checks[CTL_HEALTH_MAX_CHECKS];
    char reason[REASON_MAX];
    pthread_mutex_lock(&h->mu);
    size_t n = readiness ? h->nready : h->nlive;
    memcpy(checks, readiness ? h->readyc : h->live, n * sizeof *checks);
    snprintf(reason, sizeof reason, "%s", h->ready_reason);
    pthread_mutex_unlock(&h->mu);

    size_t failed = 0;
    retl_buf_printf(b, "[+]ping ok\n");
    if (readiness) {
        if (atomic_load(&h->ready)) {
            retl_buf_printf(b, "[+]ready ok\n");
        } else {
            failed++;
            retl_buf_printf(b, "[-]ready failed: %s\n", reason[0] ? reason : "not ready");
        }
    }
    for (size_t i = 0; i < n; i++) {
        char msg[REASON_MAX] = "";
        if (checks[i].fn(checks[i].ud, msg, sizeof msg)) {
            retl_buf_printf(b, "[+]%s ok\n", checks[i].name);
        } else {
            failed++;
            retl_buf_printf(b, "[-]%s failed: %s\n", checks[i].name,
                            msg[0] ? msg : "check failed");
        }
    }
    return failed;
}

/* "?verbose" carries no value, which MHD_lookup_connection_value cannot tell
 * from an absent key. */
static enum MHD_Result find_verbose(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    (void)value;
    if (strcmp(key, "verbose") == 0)
        *(bool *)cls = true;
    return MHD_YES;
}

static enum MHD_Result serve_probe(struct ctl_health *h, struct MHD_Connection *c,
                                   bool readiness)
{
    struct retl_buf b;
    retl_buf_init(&b, PROBE_BODY_MAX);
    size_t failed = run_checks(h, readiness, &b);
    bool verbose = false;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, find_verbose, &verbose);
    const char *what = readiness ? "readyz" : "healthz";
    enum MHD_Result ret;
    if (!failed) {
        if (verbose)
            retl_buf_printf(&b, "%s check passed\n", what);
        ret = reply_text(c, 200, verbose ? retl_buf_str(&b) : "ok");
    } else {
        /* Without ?verbose only the failing lines (the reasons) are shown. */
        struct retl_buf f;
        retl_buf_init(&f, PROBE_BODY_MAX);
        const char *s = retl_buf_str(&b);
        while (*s) {
            const char *nl = strchr(s, '\n');
            size_t len = nl ? (size_t)(nl - s) + 1 : strlen(s);
            if (verbose || strncmp(s, "[-]", 3) == 0)
                retl_buf_add(&f, s, len);
            s += len;
        }
        retl_buf_printf(&f, "%s check failed\n", what);
        ret = reply_text(c, readiness ? 503 : 500, retl_buf_str(&f));
        retl_buf_free(&f);
    }
    retl_buf_free(&b);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version,
                               const char *upload, size_t *upload_size, void **ctx)
{
    (void)version;
    (void)upload;
    const struct server *srv = cls;
    struct ctl_health *h = srv->h;
    if (!*ctx) { /* first call: headers only */
        *ctx = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) { /* bodies are ignored */
        *upload_size = 0;
        return MHD_YES;
    }
    bool is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int which = 0;
    if ((srv->serves & SERVE_METRICS) && strcmp(url, "/metrics") == 0)
        which = 1;
    else if ((srv->serves & SERVE_PROBES) && strcmp(url, "/healthz") == 0)
        which = 2;
    else if ((srv->serves & SERVE_PROBES) && strcmp(url, "/readyz") == 0)
        which = 3;
    if (!which)
        return reply_text(c, 404, "404 page not found\n");
    if (!is_get)
        return reply_text(c, 405, "method not allowed\n");
    switch (which) {
    case 1: return serve_metrics(h, c);
    case 2: return serve_probe(h, c, false);
    default: return serve_probe(h, c, true);
    }
}

/* ---- lifecycle ---- */

static void server_stop(struct server *srv)
{
    if (!srv)
        return;
    if (srv->d)
        MHD_stop_daemon(srv->d);
    free(srv);
}

/* Binds addr; *out (owned by the caller, freed with server_stop) is the
 * handler's closure, so it lives as long as the daemon. */
static retl_err server_start(struct ctl_health *h, const char *addr, int serves,
                             struct server **out, struct retl_errbuf *eb)
{
    char host[256];
    unsigned short port;
    retl_err e = ctl_health_parse_addr(addr, host, sizeof host, &port, eb);
    if (e)
        return e;
    struct server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return RETL_E_NOMEM;
    srv->serves = serves;
    srv->h = h;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    if (host[0]) {
        struct addrinfo hints = {
            .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
        struct addrinfo *ai = NULL;
        int rc = getaddrinfo(host, NULL, &hints, &ai);
        if (rc || !ai) {
            free(srv);
            return retl_errf(eb, RETL_E_IO, "bind address %s: %s", addr,
                             rc ? gai_strerror(rc) : "no address");
        }
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof ss);
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        if (ai->ai_family == AF_INET6) {
            ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
            flags |= MHD_USE_IPv6;
        } else {
            ((struct sockaddr_in *)&ss)->sin_port = htons(port);
        }
        freeaddrinfo(ai);
        srv->d =
            MHD_start_daemon(flags, port, NULL, NULL, handler, srv, MHD_OPTION_SOCK_ADDR,
                             (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 64u,
                             MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    } else {
        srv->d = MHD_start_daemon(flags | MHD_USE_DUAL_STACK, port, NULL, NULL, handler,
                                  srv, MHD_OPTION_CONNECTION_LIMIT, 64u,
                                  MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
        if (!srv->d) /* no IPv6 on this host */
            srv->d = MHD_start_daemon(flags, port, NULL, NULL, handler, srv,
                                      MHD_OPTION_CONNECTION_LIMIT, 64u,
                                      MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    }
    if (!srv->d) {
        free(srv);
        return retl_errf(eb, RETL_E_IO, "cannot listen on %s (address in use?)", addr);
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info && info->port ? info->port : port;
    *out = srv;
    return RETL_E_OK;
}

static bool disabled(const char *addr)
{
    return strcmp(addr, "0") == 0;
}

retl_err ctl_health_start(const struct ctl_health_opts *o, struct ctl_health **out,
                          struct retl_errbuf *eb)
{
    const char *maddr =
        o && o->metrics_addr ? o->metrics_addr : CTL_HEALTH_DEFAULT_METRICS_ADDR;
    const char *paddr =
        o && o->probe_addr ? o->probe_addr : CTL_HEALTH_DEFAULT_PROBE_ADDR;
    struct ctl_health *h = calloc(1, sizeof *h);
    if (!h)
        return RETL_E_NOMEM;
    pthread_mutex_init(&h->mu, NULL);
    atomic_init(&h->ready, false);
    snprintf(h->ready_reason, sizeof h->ready_reason, "informers not synced");
    h->registry = o ? o->registry : NULL;
    retl_err e = RETL_E_OK;
    /* Equal non-zero ports share one server; port 0 always means two servers. */
    bool same = !disabled(maddr) && strcmp(maddr, paddr) == 0 &&
                !(strlen(maddr) >= 2 && strcmp(maddr + strlen(maddr) - 2, ":0") == 0);
    if (same) {
        e = server_start(h, maddr, SERVE_METRICS | SERVE_PROBES, &h->srv[h->nsrv], eb);
        if (!e)
            h->nsrv++;
    } else {
        if (!disabled(maddr)) {
            e = server_start(h, maddr, SERVE_METRICS, &h->srv[h->nsrv], eb);
            if (!e)
                h->nsrv++;
        }
        if (!e && !disabled(paddr)) {
            e = server_start(h, paddr, SERVE_PROBES, &h->srv[h->nsrv], eb);
            if (!e)
                h->nsrv++;
        }
    }
    if (e) {
        ctl_health_stop(h);
        return e;
    }
    RETL_LOG_INFO("serving metrics and probes", RF_S("metricsBindAddress", maddr),
                  RF_I("metricsPort", ctl_health_metrics_port(h)),
                  RF_S("healthProbeBindAddress", paddr),
                  RF_I("probePort", ctl_health_probe_port(h)));
    *out = h;
    return RETL_E_OK;
}

void ctl_health_stop(struct ctl_health *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nsrv; i++)
        server_stop(h->srv[i]);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static unsigned short port_of(const struct ctl_health *h, int serves)
{
    for (size_t i = 0; h && i < h->nsrv; i++)
        if (h->srv[i]->serves & serves)
            return h->srv[i]->port;
    return 0;
}

unsigned short ctl_health_metrics_port(const struct ctl_health *h)
{
    return port_of(h, SERVE_METRICS);
}

unsigned short ctl_health_probe_port(const struct ctl_health *h)
{
    return port_of(h, SERVE_PROBES);
}

void ctl_health_set_ready(struct ctl_health *h, bool ready, const char *reason)
{
    pthread_mutex_lock(&h->mu);
    snprintf(h->ready_reason, sizeof h->ready_reason, "%s", reason ? reason : "");
    atomic_store(&h->ready, ready);
    pthread_mutex_unlock(&h->mu);
}

bool ctl_health_is_ready(const struct ctl_health *h)
{
    return atomic_load(&h->ready);
}

static retl_err add_check(struct ctl_health *h, bool readiness, const char *name,
                          ctl_health_check_fn fn, void *ud)
{
    if (!h || !name || !*name || !fn)
        return RETL_E_INVALID;
    retl_err e = RETL_E_OK;
    pthread_mutex_lock(&h->mu);
    struct check *arr = readiness ? h->readyc : h->live;
    size_t *n = readiness ? &h->nready : &h->nlive;
    if (*n >= CTL_HEALTH_MAX_CHECKS) {
        e = RETL_E_LIMIT;
    } else {
        snprintf(arr[*n].name, sizeof arr[*n].name, "%s", name);
        arr[*n].fn = fn;
        arr[*n].ud = ud;
        (*n)++;
    }
    pthread_mutex_unlock(&h->mu);
    return e;
}

retl_err ctl_health_add_liveness(struct ctl_health *h, const char *name,
                                 ctl_health_check_fn fn, void *ud)
{
    return add_check(h, false, name, fn, ud);
}

retl_err ctl_health_add_readiness(struct ctl_health *h, const char *name,
                                  ctl_health_check_fn fn, void *ud)
{
    return add_check(h, true, name, fn, ud);
}
