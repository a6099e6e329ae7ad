/* The one retry/backoff policy of every HTTP client in the tree: common/http.c,
 * the kube client (pool and watch), the Salesforce multi-handle transport and
 * the destinations built on them. A policy says how many tries, the capped
 * exponential backoff and its jitter; a server's Retry-After is honoured
 * (capped at RETL_RETRY_AFTER_MAX_MS) when it asks for longer than the
 * backoff; which statuses and transport failures are worth another try is
 * decided here once. Pure except retl_sleep_ms. */
#ifndef RETL_RETRY_H
#define RETL_RETRY_H

#include <stdbool.h>

#define RETL_RETRY_AFTER_MAX_MS 300000

enum retl_jitter {
    RETL_JITTER_FULL,  /* uniform in [0, step]: spreads many clients best */
    RETL_JITTER_EQUAL, /* uniform in [step/2, step]: always a real pause */
    RETL_JITTER_NONE,  /* exactly the step */
};

struct retl_retry {
    int max_attempts; /* total tries; 1 = no retry */
    long base_ms;     /* the first step */
    long max_ms;      /* steps double up to this */
    enum retl_jitter jitter;
    long max_wait_ms; /* cap of a wait, Retry-After included; 0 = RETL_RETRY_AFTER_MAX_MS
                       */
};

/* Whether another try may follow try number attempt (1-based). */
bool retl_retry_more(const struct retl_retry *p, int attempt);

/* The backoff before retry number attempt (1-based): step = min(max, base *
 * 2^(attempt-1)), jittered with rnd in [0,1). */
long retl_retry_backoff_ms(const struct retl_retry *p, int attempt, double rnd);

/* The wait before the next try: the backoff, or retry_after_ms (the server's
 * Retry-After, < 0 = none) when longer, at most max_wait_ms. */
long retl_retry_delay_ms(const struct retl_retry *p, int attempt, double rnd,
                         long retry_after_ms);

/* 429, 502, 503 and 504: the server asks to come back. */
bool retl_retry_status(long status);

/* A libcurl result (CURLcode) worth another try: a failed connect always
 * (nothing was sent), a timeout or a broken exchange only when the request
 * is idempotent. */
bool retl_retry_transport(int curl_code, bool idempotent);

/* A Retry-After value (delta seconds or an HTTP date) as a delay in ms from
 * now_s, at most RETL_RETRY_AFTER_MAX_MS; -1 when unparsable. */
long retl_retry_after_parse(const char *v, long now_s);

/* A uniform number in [0,1) from the caller's seed (rand_r). */
double retl_retry_rand(unsigned *seed);

/* Sleeps ms milliseconds (nothing when ms <= 0), resuming after signals. */
void retl_sleep_ms(long ms);

#endif
