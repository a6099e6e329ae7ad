/* A rolling-window rate limiter shared by the HTTP-based destinations: at
 * most `max` calls may start within any `interval_ms`. It keeps the start
 * times of the last `max` calls, so a call waits until the oldest of them
 * leaves the window; calls still in flight count, so never more than the
 * limit is in flight either. Thread-safe. HubSpot's ten-secondly limit
 * (max 100 per 10,000 ms) and http's requestsPerSecond (N per 1,000 ms) are
 * both this shape. */
#ifndef ENG_DEST_RATELIMIT_H
#define ENG_DEST_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>

#include "common/error.h"

#define ENG_RL_MAX_SLOTS 100000

struct eng_ratelimit {
    pthread_mutex_t mu;
    long max;         /* 0 = unlimited */
    long interval_ms; /* window length */
    long margin_ms;   /* added to the window: clocks and network delays differ */
    double *starts;   /* owned ring of the last max start times (monotonic s) */
    long head, n;
    double blocked_until; /* a 429 told everyone to wait until then */
    long long waits;      /* calls that had to wait */
    double waited_s;
};

/* max 0 means unlimited (set_limit may add one later). Ownership: release
 * with eng_ratelimit_free. */
retl_err eng_ratelimit_init(struct eng_ratelimit *rl, long max, long interval_ms,
                            long margin_ms);
void eng_ratelimit_free(struct eng_ratelimit *rl);
/* Changes the limit (e.g. from X-HubSpot-RateLimit-Max); keeps the history. */
retl_err eng_ratelimit_set(struct eng_ratelimit *rl, long max, long interval_ms);
/* Blocks until a call may start, then records its start. */
void eng_ratelimit_acquire(struct eng_ratelimit *rl);
/* The server says `used` calls are in its current window (e.g. Max minus
 * X-HubSpot-RateLimit-Remaining): when fewer are on record (calls made before
 * the limit was known, or by other clients of the same app), the missing
 * ones are recorded as starting now. Never forgets a call. */
void eng_ratelimit_note_used(struct eng_ratelimit *rl, long used);
/* No call starts before now + ms (a 429's Retry-After or window). */
void eng_ratelimit_block(struct eng_ratelimit *rl, long ms);
/* How long acquire would wait now, in ms (0 = no wait); records nothing. For
 * tests. now_s is the monotonic clock. */
long eng_ratelimit_wait_ms(struct eng_ratelimit *rl, double now_s);
double eng_ratelimit_now(void);

#endif
