#include "kube_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/retry.h"

const struct kube_gvr kube_gvr_configmaps = {"", "v1", "configmaps", true};
const struct kube_gvr kube_gvr_secrets = {"", "v1", "secrets", true};
const struct kube_gvr kube_gvr_pods = {"", "v1", "pods", true};
const struct kube_gvr kube_gvr_namespaces = {"", "v1", "namespaces", false};
const struct kube_gvr kube_gvr_leases = {"coordination.k8s.io", "v1", "leases", true};
const struct kube_gvr kube_gvr_events = {"events.k8s.io", "v1", "events", true};
const struct kube_gvr kube_gvr_crds = {"apiextensions.k8s.io", "v1",
                                       "customresourcedefinitions", false};
const struct kube_gvr kube_gvr_reverseetljobs = {"retl.io", "v1alpha1", "reverseetljobs",
                                                 true};

#define POOL_MAX 16
#define KUBE_MAX_CONNECTIONS 64
#define DEFAULT_MAX_BODY (16u * 1024 * 1024)
#define DEFAULT_MAX_LIST_BODY (64u * 1024 * 1024)
#define MAX_RETRY_AFTER_MS 10000

struct kube_client {
    struct kube_config *cfg; /* owned */
    struct kube_client_opts o;
    char *user_agent; /* owned */
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_mu;
    CURL *pool[POOL_MAX];
    int n_pool;
    /* metrics: updated with atomic builtins */
    uint64_t by_code[KUBE_METRIC_CODES];
    uint64_t total, retries_429, token_reloads, connects;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* Per-thread request limits (kube_client_thread_limits). */
static _Thread_local long tl_timeout_ms;
static _Thread_local const atomic_bool *tl_cancel;

void kube_client_thread_limits(long timeout_ms, const atomic_bool *cancel)
{
    tl_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
    tl_cancel = cancel;
}

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *ud)
{
    struct kube_client *c = ud;
    pthread_mutex_lock(&c->share_mu[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *ud)
{
    struct kube_client *c = ud;
    pthread_mutex_unlock(&c->share_mu[d]);
}

retl_err kube_client_new(struct kube_config *cfg, const struct kube_client_opts *opts,
                         struct kube_client **out, struct retl_errbuf *eb)
{
    pthread_once(&curl_once, curl_init_once);
    struct kube_client *c = calloc(1, sizeof *c);
    if (!c)
        return RETL_E_NOMEM;
    if (opts)
        c->o = *opts;
    if (c->o.timeout_ms <= 0)
        c->o.timeout_ms = 30000;
    if (c->o.connect_timeout_ms <= 0)
        c->o.connect_timeout_ms = 10000;
    if (!c->o.max_body)
        c->o.max_body = DEFAULT_MAX_BODY;
    if (!c->o.max_list_body)
        c->o.max_list_body = DEFAULT_MAX_LIST_BODY;
    if (c->o.max_429_retries <= 0)
        c->o.max_429_retries = opts && opts->max_429_retries < 0 ? 0 : 3;
    c->user_agent = strdup(c->o.user_agent ? c->o.user_agent : "retl-controller");
    c->o.user_agent = NULL;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_mu[i], NULL);
    pthread_mutex_init(&c->pool_mu, NULL);
    c->share = curl_share_init();
    if (!c->share || !c->user_agent) {
        kube_client_free(c);
        return retl_errf(eb, RETL_E_NOMEM, "kube client: out of memory");
    }
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    c->cfg = cfg;
    *out = c;
    return RETL_E_OK;
}

void kube_client_free(struct kube_client *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_pool; i++)
        curl_easy_cleanup(c->pool[i]);
    if (c->share)
        curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->share_mu[i]);
    pthread_mutex_destroy(&c->pool_mu);
    kube_config_free(c->cfg);
    free(c->user_agent);
    free(c);
}

const struct kube_config *kube_client_config(const struct kube_client *c)
{
    return c->cfg;
}

void kube_client_metrics(const struct kube_client *c, struct kube_client_metrics *m)
{
    for (int i = 0; i < KUBE_METRIC_CODES; i++)
        m->by_code[i] = __atomic_load_n(&c->by_code[i], __ATOMIC_RELAXED);
    m->total = __atomic_load_n(&c->total, __ATOMIC_RELAXED);
    m->retries_429 = __atomic_load_n(&c->retries_429, __ATOMIC_RELAXED);
    m->token_reloads_401 = __atomic_load_n(&c->token_reloads, __ATOMIC_RELAXED);
    m->connects = __atomic_load_n(&c->connects, __ATOMIC_RELAXED);
}

static void count(struct kube_client *c, const char *verb, long code, double secs)
{
    long i = code < 0 ? 0 : (code >= KUBE_METRIC_CODES ? 599 : code);
    __atomic_fetch_add(&c->by_code[i], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->total, 1, __ATOMIC_RELAXED);
    if (c->o.on_request)
        c->o.on_request(c->o.on_request_ud, verb, code, secs);
}

/* ---- handle pool ---------------------------------------------------------- */

static CURL *handle_get(struct kube_client *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->pool_mu);
    if (c->n_pool > 0)
        h = c->pool[--c->n_pool];
    pthread_mutex_unlock(&c->pool_mu);
    if (!h)
        h = curl_easy_init();
    return h;
}

static void handle_put(struct kube_client *c, CURL *h)
{
    if (!h)
        return;
    curl_easy_reset(h);
    pthread_mutex_lock(&c->pool_mu);
    if (c->n_pool < POOL_MAX) {
        c->pool[c->n_pool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- paths ----------------------------------------------------------------- */

char *kube_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *o = malloc(n * 3 + 1);
    if (!o)
        return NULL;
    char *p = o;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
            (*q >= '0' && *q <= '9') || *q == '-' || *q == '_' || *q == '.' ||
            *q == '~') {
            *p++ = (char)*q;
        } else {
            *p++ = '%';
            *p++ = hex[*q >> 4];
            *p++ = hex[*q & 15];
        }
    }
    *p = '\0';
    return o;
}

static retl_err add_seg(struct retl_buf *b, const char *seg)
{
    char *e = kube_escape(seg);
    if (!e)
        return RETL_E_NOMEM;
    retl_err r = retl_buf_printf(b, "/%s", e);
    free(e);
    return r;
}

char *kube_path(const struct kube_gvr *gvr, const char *ns, const char *name,
                const char *subresource)
{
    struct retl_buf b;
    retl_buf_init(&b, 8192);
    retl_err e;
    if (gvr->group && *gvr->group)
        e = retl_buf_printf(&b, "/apis/%s/%s", gvr->group, gvr->version);
    else
        e = retl_buf_printf(&b, "/api/%s", gvr->version);
    if (!e && gvr->namespaced && ns && *ns) {
        e = retl_buf_adds(&b, "/namespaces");
        if (!e)
            e = add_seg(&b, ns);
    }
    if (!e)
        e = retl_buf_printf(&b, "/%s", gvr->resource);
    if (!e && name)
        e = add_seg(&b, name);
    if (!e && name && subresource)
        e = retl_buf_printf(&b, "/%s", subresource);
    if (e) {
        retl_buf_free(&b);
        return NULL;
    }
    return retl_buf_take(&b);
}

/* Appends "&key=value" (or "?key=value" for the first) when value is set. */
static retl_err add_query(struct retl_buf *b, const char *key, const char *val)
{
    if (!val || !*val)
        return RETL_E_OK;
    char *e = kube_escape(val);
    if (!e)
        return RETL_E_NOMEM;
    retl_err r =
        retl_buf_printf(b, "%c%s=%s", strchr(retl_buf_str(b), '?') ? '&' : '?', key, e);
    free(e);
    return r;
}

/* ---- one request ------------------------------------------------------------ */

struct xfer {
    struct retl_buf body;
    char retry_after[64];
    /* watch mode */
    struct kube_watch_parser *parser;
    struct retl_errbuf *eb;
    retl_err cb_err;
    long code;
    CURL *h;
    const atomic_bool *stop;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    struct xfer *x = ud;
    size_t n = sz * nm;
    if (x->parser) {
        if (x->code == 0)
            curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->code);
        if (x->code == 200) {
            retl_err e = kube_watch_feed(x->parser, p, n, x->eb);
            if (e) {
                x->cb_err = e;
                return 0; /* aborts the transfer */
            }
            return n;
        }
    }
    if (retl_buf_add(&x->body, p, n)) {
        x->cb_err = RETL_E_TOO_BIG;
        return 0;
    }
    return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    struct xfer *x = ud;
    size_t n = sz * nm;
    static const char name[] = "retry-after:";
    if (n > sizeof name && !strncasecmp(p, name, sizeof name - 1)) {
        size_t vl = n - (sizeof name - 1);
        const char *v = p + sizeof name - 1;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= sizeof x->retry_after)
            vl = sizeof x->retry_after - 1;
        memcpy(x->retry_after, v, vl);
        x->retry_after[vl] = '\0';
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                       curl_off_t un)
{
    struct xfer *x = ud;
    return x->stop && atomic_load(x->stop) ? 1 : 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sets up h for one request on the client's configuration. */
static retl_err setup(struct kube_client *c, CURL *h, const char *url,
                      struct curl_slist *hdrs, struct xfer *x, bool watch)
{
    const struct kube_config *cfg = c->cfg;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    /* The shared cache keeps at most this many idle connections (curl's
     * default, 5, would close most of them when many threads work). */
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, (long)KUBE_MAX_CONNECTIONS);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
    if (!watch)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                         tl_timeout_ms > 0 ? tl_timeout_ms : c->o.timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    if (cfg->insecure_skip_tls_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (cfg->ca_pem) {
        struct curl_blob blob = {cfg->ca_pem, strlen(cfg->ca_pem), CURL_BLOB_NOCOPY};
        if (curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob) != CURLE_OK)
            return RETL_E_TLS;
    }
    if (cfg->cert_pem && cfg->key_pem) {
        struct curl_blob cert = {cfg->cert_pem, strlen(cfg->cert_pem), CURL_BLOB_NOCOPY};
        struct curl_blob key = {cfg->key_pem, strlen(cfg->key_pem), CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
        if (curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert) != CURLE_OK ||
            curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key) != CURLE_OK)
            return RETL_E_TLS;
    }
    if (cfg->username && cfg->password) {
        curl_easy_setopt(h, CURLOPT_USERNAME, cfg->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, cfg->password);
    }
    return RETL_E_OK;
}

static retl_err transport_err(CURLcode rc, struct xfer *x, struct retl_errbuf *eb,
                              const char *errbuf)
{
    if (x->cb_err)
        return x->cb_err == RETL_E_TOO_BIG && !x->parser
                   ? retl_errf(eb, RETL_E_TOO_BIG, "response body over %zu bytes",
                               x->body.max)
                   : x->cb_err;
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return retl_errf(eb, RETL_E_CANCELLED, "request cancelled");
    retl_err e = RETL_E_HTTP;
    if (rc == CURLE_OPERATION_TIMEDOUT)
        e = RETL_E_TIMEOUT;
    else if (rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ||
             rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE)
        e = RETL_E_TLS;
    return retl_errf(eb, e, "kube API: %s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/* One HTTP exchange as perform() carries it out. */
struct exchange {
    const char *method, *path, *ctype;
    const char *body;
    size_t body_len;
    size_t max_body;
    const char *verb;                /* metric label */
    struct kube_watch_parser *watch; /* set = streaming mode */
    const atomic_bool *stop;         /* NULL = the thread's cancel flag */
    json_t **out;                    /* 2xx: the parsed body (optional) */
    struct kube_status *st;          /* not 2xx: the Status (optional) */
    struct retl_buf *text;           /* 2xx: the raw body instead of *out */
};

/* The request headers: Accept, the bearer token (reloaded from its file when
 * asked), Content-Type. Ownership: the caller frees *out (curl_slist). */
static retl_err request_headers(struct kube_client *c, const struct exchange *ex,
                                bool reload, struct curl_slist **out,
                                struct retl_errbuf *eb)
{
    char *token = NULL;
    retl_err e = kube_config_token(c->cfg, reload, &token, eb);
    if (e)
        return e;
    struct curl_slist *hdrs = curl_slist_append(
        NULL, ex->text ? "Accept: application/json, */*" : "Accept: application/json");
    struct curl_slist *t = hdrs;
    if (t && token) {
        struct retl_buf ab;
        retl_buf_init(&ab, 70000);
        if (retl_buf_printf(&ab, "Authorization: Bearer %s", token) == RETL_E_OK)
            t = curl_slist_append(hdrs, ab.data);
        else
            t = NULL;
        if (ab.data)
            memset(ab.data, 0, ab.len);
        retl_buf_free(&ab);
    }
    if (t && ex->ctype) {
        char ct[128];
        snprintf(ct, sizeof ct, "Content-Type: %s", ex->ctype);
        t = curl_slist_append(hdrs, ct);
    }
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    if (!t) {
        curl_slist_free_all(hdrs);
        return RETL_E_NOMEM;
    }
    *out = hdrs;
    return RETL_E_OK;
}

/* Method, body and, for a watch, the dead-connection checks. */
static void request_body(CURL *h, const struct exchange *ex)
{
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, ex->method);
    if (ex->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, ex->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)ex->body_len);
    } else if (!strcmp(ex->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    if (ex->watch) {
        kube_watch_parser_reset(ex->watch);
        /* A silent connection (server gone without a FIN) is caught by TCP
         * keepalive and a low-speed check; the server's bookmarks (about once
         * a minute) keep a healthy watch above it. */
        curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
        curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 200L);
    }
}

/* A 2xx answer to the caller: the raw text, or the parsed JSON. */
static retl_err deliver(const struct exchange *ex, struct xfer *x, struct retl_errbuf *eb)
{
    if (ex->text) {
        /* Hand the body over; the caller's buffer owns it from here. */
        retl_buf_free(ex->text);
        *ex->text = x->body;
        retl_buf_init(&x->body, ex->max_body);
        return RETL_E_OK;
    }
    if (!ex->out)
        return RETL_E_OK;
    json_t *obj = NULL;
    if (x->body.len) {
        json_error_t jerr;
        obj = json_loadb(x->body.data, x->body.len, 0, &jerr);
        if (!obj)
            return retl_errf(eb, RETL_E_PARSE, "kube API %s %s: bad JSON: %s", ex->method,
                             ex->path, jerr.text);
    }
    *ex->out = obj;
    return RETL_E_OK;
}

/* One try on h: set up, perform, count. *code gets the HTTP status. */
static retl_err try_once(struct kube_client *c, CURL *h, const char *url,
                         struct curl_slist *hdrs, struct xfer *x,
                         const struct exchange *ex, long *code, struct retl_errbuf *eb)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    retl_buf_reset(&x->body);
    x->retry_after[0] = '\0';
    x->cb_err = RETL_E_OK;
    x->code = 0;
    x->h = h;
    retl_err e = setup(c, h, url, hdrs, x, ex->watch != NULL);
    if (e)
        return retl_errf(eb, e, "kube client: TLS material rejected by libcurl");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    request_body(h, ex);
    double t0 = now_s();
    CURLcode rc = curl_easy_perform(h);
    *code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, code);
    long nconn = 0;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn);
    if (nconn > 0)
        __atomic_fetch_add(&c->connects, (uint64_t)nconn, __ATOMIC_RELAXED);
    count(c, ex->verb, rc == CURLE_OK || (ex->watch && *code) ? *code : 0, now_s() - t0);
    if (rc != CURLE_OK)
        return transport_err(rc, x, eb, errbuf);
    return RETL_E_OK;
}

/* Performs one exchange: a 401 reloads a rotated token once, a 429 waits as
 * the common retry policy says (Retry-After, at least 1 s, at most 10 s) up
 * to max_429_retries times. */
static retl_err perform(struct kube_client *c, const struct exchange *ex,
                        struct retl_errbuf *eb)
{
    const atomic_bool *stop = ex->stop ? ex->stop : tl_cancel;
    if (stop && atomic_load(stop))
        return retl_errf(eb, RETL_E_CANCELLED, "request cancelled");
    const struct retl_retry on_429 = {.max_attempts = c->o.max_429_retries + 1,
                                      .base_ms = 1000,
                                      .max_ms = 1000,
                                      .jitter = RETL_JITTER_NONE,
                                      .max_wait_ms = MAX_RETRY_AFTER_MS};
    retl_err e = RETL_E_OK;
    CURL *h = NULL;
    struct curl_slist *hdrs = NULL;
    struct xfer x = {.parser = ex->watch, .eb = eb, .stop = stop};
    retl_buf_init(&x.body, ex->max_body);
    char *url = NULL;
    if (asprintf(&url, "%s%s", c->cfg->server, ex->path) < 0) {
        url = NULL;
        e = RETL_E_NOMEM;
        goto out;
    }
    bool reloaded = false;
    for (int tries = 1;; tries++) {
        curl_slist_free_all(hdrs);
        hdrs = NULL;
        e = request_headers(c, ex, reloaded, &hdrs, eb);
        if (e)
            goto out;
        if (h)
            curl_easy_reset(h);
        else if (!(h = handle_get(c))) {
            e = RETL_E_NOMEM;
            goto out;
        }
        long code = 0;
        e = try_once(c, h, url, hdrs, &x, ex, &code, eb);
        if (e)
            goto out;
        if (ex->watch && code == 200) {
            e = kube_watch_finish(ex->watch, eb);
            goto out;
        }
        if (code == 401 && c->cfg->token_file && !reloaded) {
            reloaded = true; /* the token may have rotated under us */
            tries--;
            __atomic_fetch_add(&c->token_reloads, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (code == 429 && retl_retry_more(&on_429, tries) &&
            !(stop && atomic_load(stop))) {
            struct kube_status s;
            kube_status_parse(code, x.body.data, x.body.len,
                              x.retry_after[0] ? x.retry_after : NULL, &s, NULL);
            __atomic_fetch_add(&c->retries_429, 1, __ATOMIC_RELAXED);
            retl_sleep_ms(retl_retry_delay_ms(&on_429, tries, 0, s.retry_after_ms));
            continue;
        }
        if (code < 200 || code >= 300)
            e = kube_status_parse(code, x.body.data, x.body.len,
                                  x.retry_after[0] ? x.retry_after : NULL, ex->st, eb);
        else
            e = deliver(ex, &x, eb);
        goto out;
    }
out:
    handle_put(c, h);
    curl_slist_free_all(hdrs);
    free(url);
    retl_buf_free(&x.body);
    return e;
}

retl_err kube_request(struct kube_client *c, const struct kube_req *req, json_t **out,
                      struct kube_status *st, struct retl_errbuf *eb)
{
    const char *method = req->method ? req->method : "GET";
    struct exchange ex = {.method = method,
                          .path = req->path,
                          .ctype = req->content_type,
                          .body = req->body,
                          .body_len = req->body_len,
                          .max_body = req->max_body ? req->max_body : c->o.max_body,
                          .verb = req->verb ? req->verb : method,
                          .out = out,
                          .st = st};
    return perform(c, &ex, eb);
}

retl_err kube_get_text(struct kube_client *c, const char *path, size_t max_body,
                       char **out, size_t *len, struct retl_errbuf *eb)
{
    struct retl_buf b;
    size_t max = max_body ? max_body : c->o.max_body;
    retl_buf_init(&b, max);
    struct exchange ex = {
        .method = "GET", .path = path, .max_body = max, .verb = "GET", .text = &b};
    retl_err e = perform(c, &ex, eb);
    if (e == RETL_E_OK) {
        char *s = malloc(b.len + 1);
        if (!s) {
            e = RETL_E_NOMEM;
        } else {
            if (b.len)
                memcpy(s, b.data, b.len);
            s[b.len] = '\0';
            *out = s;
            *len = b.len;
        }
    }
    retl_buf_free(&b);
    return e;
}

/* ---- typed verbs -------------------------------------------------------------- */

static retl_err do_json(struct kube_client *c, const char *method, const char *verb,
                        const char *path, const char *ctype, const json_t *body,
                        size_t max, const atomic_bool *stop, json_t **out,
                        struct retl_errbuf *eb)
{
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
            return retl_errf(eb, RETL_E_NOMEM, "cannot serialise request body");
    }
    struct exchange ex = {.method = method,
                          .path = path,
                          .ctype = ctype,
                          .body = text,
                          .body_len = text ? strlen(text) : 0,
                          .max_body = max ? max : c->o.max_body,
                          .verb = verb,
                          .stop = stop,
                          .out = out};
    retl_err e = perform(c, &ex, eb);
    free(text);
    return e;
}

/* The optional out-parameter of the write verbs: the answer goes to *out on
 * success when the caller wants it, and is released otherwise. */
static retl_err hand_out(retl_err e, json_t *res, json_t **out)
{
    if (e == RETL_E_OK && out)
        *out = res;
    else
        json_decref(res);
    return e;
}

retl_err kube_get(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                  const char *name, json_t **out, struct retl_errbuf *eb)
{
    char *path = kube_path(gvr, ns, name, NULL);
    if (!path)
        return RETL_E_NOMEM;
    json_t *obj = NULL;
    retl_err e = do_json(c, "GET", "GET", path, NULL, NULL, 0, NULL, &obj, eb);
    free(path);
    if (e == RETL_E_OK && !json_is_object(obj)) {
        json_decref(obj);
        return retl_errf(eb, RETL_E_PARSE, "GET %s/%s: empty answer", gvr->resource,
                         name);
    }
    if (e == RETL_E_OK)
        *out = obj;
    return e;
}

retl_err kube_list_page(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                        const struct kube_list_opts *o, const char *continue_token,
                        json_t **out, struct retl_errbuf *eb)
{
    struct kube_list_opts lo = {0};
    if (o)
        lo = *o;
    struct retl_buf b;
    retl_buf_init(&b, 65536);
    char *path = kube_path(gvr, ns, NULL, NULL);
    retl_err e = path ? retl_buf_adds(&b, path) : RETL_E_NOMEM;
    char lim[32];
    snprintf(lim, sizeof lim, "%ld", lo.limit > 0 ? lo.limit : 500);
    if (!e)
        e = add_query(&b, "limit", lim);
    if (!e)
        e = add_query(&b, "labelSelector", lo.label_selector);
    if (!e)
        e = add_query(&b, "fieldSelector", lo.field_selector);
    if (!e)
        e = add_query(&b, "continue", continue_token);
    /* resourceVersion may not be combined with continue. */
    if (!e && !continue_token)
        e = add_query(&b, "resourceVersion", lo.resource_version);
    json_t *obj = NULL;
    if (!e)
        e = do_json(c, "GET", "LIST", b.data, NULL, NULL, c->o.max_list_body, lo.cancel,
                    &obj, eb);
    free(path);
    retl_buf_free(&b);
    if (e == RETL_E_OK && !json_is_array(json_object_get(obj, "items"))) {
        json_decref(obj);
        return retl_errf(eb, RETL_E_PARSE, "LIST %s: answer has no items", gvr->resource);
    }
    if (e == RETL_E_OK)
        *out = obj;
    return e;
}

retl_err kube_list_each(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                        const struct kube_list_opts *o, kube_item_fn fn, void *ud,
                        char **rv_out, struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    char *cont = NULL;
    char *rv = NULL;
    json_t *page = NULL;
    do {
        json_decref(page);
        page = NULL;
        e = kube_list_page(c, gvr, ns, o, cont, &page, eb);
        if (e)
            goto out;
        json_t *md = json_object_get(page, "metadata");
        if (!rv) {
            const char *r = json_string_value(json_object_get(md, "resourceVersion"));
            rv = strdup(r ? r : "");
            if (!rv) {
                e = RETL_E_NOMEM;
                goto out;
            }
        }
        /* Items of built-in lists come without apiVersion and kind; give
         * them the list's, so every object can be referenced (events). */
        const char *lkind = json_string_value(json_object_get(page, "kind"));
        const char *lapi = json_string_value(json_object_get(page, "apiVersion"));
        size_t lk = lkind ? strlen(lkind) : 0;
        bool fill = lapi && lk > 4 && !strcmp(lkind + lk - 4, "List");
        size_t i;
        json_t *it;
        json_array_foreach (json_object_get(page, "items"), i, it) {
            if (fill && !json_object_get(it, "kind")) {
                json_object_set_new(it, "kind", json_stringn(lkind, lk - 4));
                json_object_set_new(it, "apiVersion", json_string(lapi));
            }
            e = fn(ud, it, eb);
            if (e)
                goto out;
        }
        const char *next = json_string_value(json_object_get(md, "continue"));
        free(cont);
        cont = next && *next ? strdup(next) : NULL;
        if (next && *next && !cont) {
            e = RETL_E_NOMEM;
            goto out;
        }
    } while (cont);
    if (rv_out) {
        *rv_out = rv;
        rv = NULL;
    }
out:
    json_decref(page);
    free(cont);
    free(rv);
    return e;
}

static retl_err collect(void *ud, json_t *item, struct retl_errbuf *eb)
{
    return json_array_append(ud, item) ? RETL_E_NOMEM : RETL_E_OK;
}

retl_err kube_list(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                   const struct kube_list_opts *o, json_t **out, struct retl_errbuf *eb)
{
    json_t *items = json_array();
    char *rv = NULL;
    if (!items)
        return RETL_E_NOMEM;
    retl_err e = kube_list_each(c, gvr, ns, o, collect, items, &rv, eb);
    if (e) {
        json_decref(items);
        return e;
    }
    json_t *list =
        json_pack("{s:o,s:{s:s}}", "items", items, "metadata", "resourceVersion", rv);
    free(rv);
    if (!list)
        return RETL_E_NOMEM;
    *out = list;
    return RETL_E_OK;
}

retl_err kube_create(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                     const json_t *obj, json_t **out, struct retl_errbuf *eb)
{
    char *path = kube_path(gvr, ns, NULL, NULL);
    if (!path)
        return RETL_E_NOMEM;
    json_t *res = NULL;
    retl_err e =
        do_json(c, "POST", "POST", path, "application/json", obj, 0, NULL, &res, eb);
    free(path);
    return hand_out(e, res, out);
}

retl_err kube_update(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                     const json_t *obj, const char *subresource, json_t **out,
                     struct retl_errbuf *eb)
{
    const char *name = kube_obj_name(obj);
    if (!name)
        return retl_errf(eb, RETL_E_INVALID, "update: object has no name");
    char *path = kube_path(gvr, ns, name, subresource);
    if (!path)
        return RETL_E_NOMEM;
    json_t *res = NULL;
    retl_err e =
        do_json(c, "PUT", "PUT", path, "application/json", obj, 0, NULL, &res, eb);
    free(path);
    return hand_out(e, res, out);
}

retl_err kube_update_status(struct kube_client *c, const struct kube_gvr *gvr,
                            const char *ns, const json_t *obj, json_t **out,
                            struct retl_errbuf *eb)
{
    return kube_update(c, gvr, ns, obj, "status", out, eb);
}

retl_err kube_patch(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                    const char *name, enum kube_patch_type type, const json_t *patch,
                    const struct kube_patch_opts *opts, json_t **out,
                    struct retl_errbuf *eb)
{
    struct kube_patch_opts po = {0};
    if (opts)
        po = *opts;
    static const char *const ctypes[] = {"application/merge-patch+json",
                                         "application/json-patch+json",
                                         "application/apply-patch+yaml"};
    if ((unsigned)type > KUBE_PATCH_APPLY)
        return retl_errf(eb, RETL_E_INVALID, "patch: unknown type");
    char *p = kube_path(gvr, ns, name, po.subresource);
    struct retl_buf b;
    retl_buf_init(&b, 65536);
    retl_err e = p ? retl_buf_adds(&b, p) : RETL_E_NOMEM;
    free(p);
    if (!e && (type == KUBE_PATCH_APPLY || po.field_manager))
        e = add_query(&b, "fieldManager",
                      po.field_manager ? po.field_manager : "retl-controller");
    if (!e && type == KUBE_PATCH_APPLY && po.force)
        e = add_query(&b, "force", "true");
    json_t *res = NULL;
    if (!e)
        e = do_json(c, "PATCH", "PATCH", b.data, ctypes[type], patch, 0, NULL, &res, eb);
    retl_buf_free(&b);
    return hand_out(e, res, out);
}

retl_err kube_apply(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                    const json_t *obj, const char *field_manager, json_t **out,
                    struct retl_errbuf *eb)
{
    const char *name = kube_obj_name(obj);
    if (!name)
        return retl_errf(eb, RETL_E_INVALID, "apply: object has no name");
    struct kube_patch_opts po = {.field_manager = field_manager, .force = true};
    return kube_patch(c, gvr, ns, name, KUBE_PATCH_APPLY, obj, &po, out, eb);
}

retl_err kube_delete(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                     const char *name, const struct kube_delete_opts *opts,
                     struct retl_errbuf *eb)
{
    struct kube_delete_opts d = {.grace_period_seconds = -1};
    if (opts)
        d = *opts;
    json_t *body = json_pack("{s:s,s:s}", "kind", "DeleteOptions", "apiVersion", "v1");
    if (!body)
        return RETL_E_NOMEM;
    if (d.uid || d.resource_version) {
        json_t *pre = json_object();
        if (d.uid)
            json_object_set_new(pre, "uid", json_string(d.uid));
        if (d.resource_version)
            json_object_set_new(pre, "resourceVersion", json_string(d.resource_version));
        json_object_set_new(body, "preconditions", pre);
    }
    if (d.propagation)
        json_object_set_new(body, "propagationPolicy", json_string(d.propagation));
    if (d.grace_period_seconds >= 0)
        json_object_set_new(body, "gracePeriodSeconds",
                            json_integer(d.grace_period_seconds));
    char *path = kube_path(gvr, ns, name, NULL);
    retl_err e = path ? do_json(c, "DELETE", "DELETE", path, "application/json", body, 0,
                                NULL, NULL, eb)
                      : RETL_E_NOMEM;
    free(path);
    json_decref(body);
    return e;
}

retl_err kube_watch(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
                    const struct kube_watch_opts *o, kube_watch_event_fn fn, void *ud,
                    const atomic_bool *stop, struct retl_errbuf *eb)
{
    struct kube_watch_opts wo = {0};
    if (o)
        wo = *o;
    struct retl_buf b;
    retl_buf_init(&b, 65536);
    char *path = kube_path(gvr, ns, NULL, NULL);
    retl_err e = path ? retl_buf_printf(&b, "%s?watch=1", path) : RETL_E_NOMEM;
    free(path);
    if (!e)
        e = add_query(&b, "resourceVersion", wo.resource_version);
    if (!e && wo.bookmarks)
        e = add_query(&b, "allowWatchBookmarks", "true");
    if (!e && wo.timeout_seconds > 0) {
        char ts[32];
        snprintf(ts, sizeof ts, "%ld", wo.timeout_seconds);
        e = add_query(&b, "timeoutSeconds", ts);
    }
    if (!e)
        e = add_query(&b, "labelSelector", wo.label_selector);
    if (!e)
        e = add_query(&b, "fieldSelector", wo.field_selector);
    if (e) {
        retl_buf_free(&b);
        return RETL_E_NOMEM;
    }
    struct kube_watch_parser parser;
    kube_watch_parser_init(&parser, wo.max_event, fn, ud);
    struct exchange ex = {.method = "GET",
                          .path = b.data,
                          .max_body = c->o.max_body,
                          .verb = "WATCH",
                          .watch = &parser,
                          .stop = stop};
    e = perform(c, &ex, eb);
    kube_watch_parser_free(&parser);
    retl_buf_free(&b);
    return e;
}

/* ---- object helpers ------------------------------------------------------------ */

static const char *md_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

const char *kube_obj_name(const json_t *obj)
{
    return md_str(obj, "name");
}

const char *kube_obj_namespace(const json_t *obj)
{
    return md_str(obj, "namespace");
}

const char *kube_obj_uid(const json_t *obj)
{
    return md_str(obj, "uid");
}

const char *kube_obj_rv(const json_t *obj)
{
    return md_str(obj, "resourceVersion");
}

bool kube_obj_key(const json_t *obj, char *buf, size_t n)
{
    const char *name = kube_obj_name(obj);
    const char *ns = kube_obj_namespace(obj);
    if (!name || !*name)
        return false;
    int w =
        ns && *ns ? snprintf(buf, n, "%s/%s", ns, name) : snprintf(buf, n, "%s", name);
    return w >= 0 && (size_t)w < n;
}

bool kube_key_split(const char *key, char *buf, size_t n, const char **ns,
                    const char **name)
{
    int w = snprintf(buf, n, "%s", key);
    if (w < 0 || (size_t)w >= n)
        return false;
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
        *ns = buf;
        *name = slash + 1;
    } else {
        *ns = "";
        *name = buf;
    }
    return true;
}
