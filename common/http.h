/* An HTTP client on libcurl: timeouts, TLS verification on by default (with an
 * optional CA bundle), retries by the common policy (common/retry.h:
 * exponential backoff with full jitter, Retry-After honoured), and a cap on
 * the response body size. A client keeps one
 * curl easy handle so connections are reused; it is not thread-safe (use one
 * per thread). */
#ifndef RETL_HTTP_H
#define RETL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

struct retl_http_opts {
    long connect_timeout_ms;     /* default 10 s */
    long timeout_ms;             /* whole request; default 60 s; 0 = default */
    const char *ca_file;         /* PEM bundle; NULL = system store */
    const char *ca_pem;          /* PEM data in memory (takes precedence) */
    const char *client_cert_pem; /* mTLS, optional */
    const char *client_key_pem;
    bool insecure_skip_verify; /* only when a user asked for it explicitly */
    int max_attempts;          /* total tries; default 4; 1 = no retry */
    long backoff_base_ms;      /* default 200 */
    long backoff_max_ms;       /* default 30 s */
    size_t max_body;           /* response cap; default 16 MiB */
    const char *user_agent;    /* default "retl/<version>" */
};

struct retl_http_header {
    char *name;  /* owned */
    char *value; /* owned */
};

struct retl_http_resp {
    long status;
    struct retl_buf body;             /* owned; NUL-terminated */
    struct retl_http_header *headers; /* owned; of the last attempt */
    size_t n_headers;
    int attempts; /* how many tries it took */
};

struct retl_http_req {
    const char *method; /* "GET" when NULL */
    const char *url;
    const char *const *headers; /* "Name: value", NULL-terminated, or NULL */
    const void *body;
    size_t body_len;
    /* Which outcomes are retried: transport errors and 429/502/503/504 when
     * retry_idempotent_only is false or the method is idempotent. */
    bool no_retry;
};

struct retl_http_client;

/* Creates a client. opts is copied (strings too). Ownership: the caller frees
 * the client with retl_http_client_free. */
retl_err retl_http_client_new(const struct retl_http_opts *opts,
                              struct retl_http_client **out, struct retl_errbuf *eb);
void retl_http_client_free(struct retl_http_client *c);

/* Performs the request, retrying as configured. Any HTTP status is a success
 * of the call (resp->status says what happened) once retries are exhausted;
 * RETL_E_HTTP / RETL_E_TIMEOUT / RETL_E_TLS / RETL_E_TOO_BIG are transport
 * failures. resp must be released with retl_http_resp_free. */
retl_err retl_http_do(struct retl_http_client *c, const struct retl_http_req *req,
                      struct retl_http_resp *resp, struct retl_errbuf *eb);
void retl_http_resp_free(struct retl_http_resp *resp);
/* Case-insensitive header lookup in resp (last occurrence); NULL if absent. */
const char *retl_http_resp_header(const struct retl_http_resp *resp, const char *name);

/* Parses a Retry-After value (delta seconds or an HTTP date) into a delay in
 * milliseconds, relative to now_s. Returns -1 when unparsable. The same as
 * retl_retry_after_parse. */
long retl_http_parse_retry_after(const char *v, long now_s);
/* The delay before retry number attempt (1-based), with full jitter:
 * random in [0, min(max, base * 2^(attempt-1))]. rnd is a value in [0,1).
 * retl_retry_backoff_ms with RETL_JITTER_FULL. */
long retl_http_backoff_ms(long base_ms, long max_ms, int attempt, double rnd);

#endif
