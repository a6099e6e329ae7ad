#include "http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "retry.h"

#define DEFAULT_CONNECT_MS 10000
#define DEFAULT_TIMEOUT_MS 60000
#define DEFAULT_ATTEMPTS 4
#define DEFAULT_BACKOFF_BASE_MS 200
#define DEFAULT_BACKOFF_MAX_MS 30000
#define DEFAULT_MAX_BODY (16u * 1024 * 1024)
#define MAX_HEADERS 256

struct retl_http_client {
    CURL *curl;
    struct retl_http_opts o;
    char *ca_file, *ca_pem, *cert_pem, *key_pem, *ua; /* owned copies */
    unsigned int seed;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void retl_http_client_free(struct retl_http_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->ca_file);
    free(c->ca_pem);
    free(c->cert_pem);
    free(c->key_pem);
    free(c->ua);
    free(c);
}

retl_err retl_http_client_new(const struct retl_http_opts *opts,
                              struct retl_http_client **out, struct retl_errbuf *eb)
{
    pthread_once(&curl_once, curl_init_once);
    struct retl_http_client *c = calloc(1, sizeof *c);
    if (!c)
        return RETL_E_NOMEM;
    if (opts)
        c->o = *opts;
    if (!c->o.connect_timeout_ms)
        c->o.connect_timeout_ms = DEFAULT_CONNECT_MS;
    if (!c->o.timeout_ms)
        c->o.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (c->o.max_attempts <= 0)
        c->o.max_attempts = DEFAULT_ATTEMPTS;
    if (!c->o.backoff_base_ms)
        c->o.backoff_base_ms = DEFAULT_BACKOFF_BASE_MS;
    if (!c->o.backoff_max_ms)
        c->o.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
    if (!c->o.max_body)
        c->o.max_body = DEFAULT_MAX_BODY;
    c->ca_file = dup_or_null(c->o.ca_file);
    c->ca_pem = dup_or_null(c->o.ca_pem);
    c->cert_pem = dup_or_null(c->o.client_cert_pem);
    c->key_pem = dup_or_null(c->o.client_key_pem);
    c->ua = strdup(c->o.user_agent ? c->o.user_agent : "retl/0.1");
    c->o.ca_file = c->ca_file;
    c->o.ca_pem = c->ca_pem;
    c->o.client_cert_pem = c->cert_pem;
    c->o.client_key_pem = c->key_pem;
    c->o.user_agent = c->ua;
    c->seed = (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)c;
    c->curl = curl_easy_init();
    if (!c->curl || !c->ua) {
        retl_http_client_free(c);
        return retl_errf(eb, RETL_E_NOMEM, "cannot create an HTTP handle");
    }
    *out = c;
    return RETL_E_OK;
}

long retl_http_backoff_ms(long base_ms, long max_ms, int attempt, double rnd)
{
    struct retl_retry p = {
        .base_ms = base_ms, .max_ms = max_ms, .jitter = RETL_JITTER_FULL};
    return retl_retry_backoff_ms(&p, attempt, rnd);
}

long retl_http_parse_retry_after(const char *v, long now_s)
{
    return retl_retry_after_parse(v, now_s);
}

struct xfer {
    struct retl_http_resp *resp;
    bool too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    if (retl_buf_add(&x->resp->body, p, size * n)) {
        x->too_big = true;
        return 0;
    }
    return size * n;
}

static void headers_clear(struct retl_http_resp *r)
{
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    r->headers = NULL;
    r->n_headers = 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    struct retl_http_resp *r = x->resp;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        headers_clear(r); /* a new response (redirect, 100-continue) */
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon || r->n_headers >= MAX_HEADERS)
        return len;
    size_t vl = len - (size_t)(colon + 1 - p);
    const char *v = colon + 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    struct retl_http_header *h = realloc(r->headers, (r->n_headers + 1) * sizeof *h);
    if (!h)
        return 0;
    r->headers = h;
    h[r->n_headers].name = strndup(p, (size_t)(colon - p));
    h[r->n_headers].value = strndup(v, vl);
    if (!h[r->n_headers].name || !h[r->n_headers].value) {
        free(h[r->n_headers].name);
        free(h[r->n_headers].value);
        return 0;
    }
    r->n_headers++;
    return len;
}

const char *retl_http_resp_header(const struct retl_http_resp *resp, const char *name)
{
    for (size_t i = resp->n_headers; i-- > 0;) {
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    }
    return NULL;
}

void retl_http_resp_free(struct retl_http_resp *resp)
{
    retl_buf_free(&resp->body);
    headers_clear(resp);
    resp->status = 0;
}

static bool method_idempotent(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "PUT") ||
           !strcmp(m, "DELETE") || !strcmp(m, "OPTIONS");
}

static retl_err curl_to_err(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT: return RETL_E_TIMEOUT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE: return RETL_E_TLS;
    default: return RETL_E_HTTP;
    }
}

/* One attempt. Returns the curl code; resp filled. */
static CURLcode attempt(struct retl_http_client *c, const struct retl_http_req *req,
                        const char *method, struct curl_slist *hdrs,
                        struct retl_http_resp *resp, bool *too_big, char *errbuf)
{
    CURL *h = c->curl;
    struct xfer x = {resp, false};
    curl_easy_reset(h);
    retl_buf_free(&resp->body);
    retl_buf_init(&resp->body, c->o.max_body);
    headers_clear(resp);
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->o.timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->o.user_agent);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (c->o.insecure_skip_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (c->o.ca_pem) {
        struct curl_blob b = {(void *)c->o.ca_pem, strlen(c->o.ca_pem), CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    } else if (c->o.ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->o.ca_file);
    }
    if (c->o.client_cert_pem && c->o.client_key_pem) {
        struct curl_blob cb = {(void *)c->o.client_cert_pem, strlen(c->o.client_cert_pem),
                               CURL_BLOB_NOCOPY};
        struct curl_blob kb = {(void *)c->o.client_key_pem, strlen(c->o.client_key_pem),
                               CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body ? req->body_len : 0));
    }
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    *too_big = x.too_big;
    return cc;
}

retl_err retl_http_do(struct retl_http_client *c, const struct retl_http_req *req,
                      struct retl_http_resp *resp, struct retl_errbuf *eb)
{
    const char *method = req->method ? req->method : "GET";
    bool idem = method_idempotent(method);
    struct curl_slist *hdrs = NULL;
    retl_err e = RETL_E_OK;
    char redacted[512];
    char errbuf[CURL_ERROR_SIZE];
    resp->status = 0;
    resp->headers = NULL;
    resp->n_headers = 0;
    resp->attempts = 0;
    retl_buf_init(&resp->body, c->o.max_body);
    for (const char *const *hp = req->headers; hp && *hp; hp++) {
        struct curl_slist *n = curl_slist_append(hdrs, *hp);
        if (!n) {
            e = RETL_E_NOMEM;
            goto out;
        }
        hdrs = n;
    }
    retl_redact_url(req->url, redacted, sizeof redacted);
    struct retl_retry policy = {.max_attempts = req->no_retry ? 1 : c->o.max_attempts,
                                .base_ms = c->o.backoff_base_ms,
                                .max_ms = c->o.backoff_max_ms,
                                .jitter = RETL_JITTER_FULL};
    for (int i = 1;; i++) {
        bool too_big = false;
        resp->attempts = i;
        CURLcode cc = attempt(c, req, method, hdrs, resp, &too_big, errbuf);
        if (too_big) {
            e = retl_errf(eb, RETL_E_TOO_BIG,
                          "%s %s: response body larger than %zu bytes", method, redacted,
                          c->o.max_body);
            goto out;
        }
        bool last = !retl_retry_more(&policy, i);
        double rnd = retl_retry_rand(&c->seed);
        if (cc != CURLE_OK) {
            long delay = retl_retry_delay_ms(&policy, i, rnd, -1);
            if (last || !retl_retry_transport(cc, idem)) {
                e = retl_errf(eb, curl_to_err(cc), "%s %s: %s", method, redacted,
                              errbuf[0] ? errbuf : curl_easy_strerror(cc));
                goto out;
            }
            RETL_LOG_WARN("HTTP request failed, retrying", RF_S("method", method),
                          RF_S("url", redacted), RF_S("error", curl_easy_strerror(cc)),
                          RF_I("attempt", i), RF_I("delayMs", delay));
            retl_sleep_ms(delay);
            continue;
        }
        if (last || !retl_retry_status(resp->status))
            goto out;
        long delay = retl_retry_delay_ms(
            &policy, i, rnd,
            retl_retry_after_parse(retl_http_resp_header(resp, "Retry-After"),
                                   (long)time(NULL)));
        RETL_LOG_WARN("HTTP status is retryable, retrying", RF_S("method", method),
                      RF_S("url", redacted), RF_I("status", resp->status),
                      RF_I("attempt", i), RF_I("delayMs", delay));
        retl_sleep_ms(delay);
    }
out:
    curl_slist_free_all(hdrs);
    if (e)
        retl_http_resp_free(resp);
    return e;
}
