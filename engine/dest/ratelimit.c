#include "engine/dest/ratelimit.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

double eng_ratelimit_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

retl_err eng_ratelimit_init(struct eng_ratelimit *rl, long max, long interval_ms,
                            long margin_ms)
{
    memset(rl, 0, sizeof *rl);
    if (pthread_mutex_init(&rl->mu, NULL))
        return RETL_E_INTERNAL;
    rl->margin_ms = margin_ms;
    retl_err e = eng_ratelimit_set(rl, max, interval_ms);
    if (e)
        pthread_mutex_destroy(&rl->mu);
    return e;
}

void eng_ratelimit_free(struct eng_ratelimit *rl)
{
    if (!rl)
        return;
    free(rl->starts);
    pthread_mutex_destroy(&rl->mu);
    memset(rl, 0, sizeof *rl);
}

retl_err eng_ratelimit_set(struct eng_ratelimit *rl, long max, long interval_ms)
{
    if (max < 0 || max > ENG_RL_MAX_SLOTS || interval_ms < 0)
        return RETL_E_INVALID;
    pthread_mutex_lock(&rl->mu);
    retl_err e = RETL_E_OK;
    if (max != rl->max) {
        double *ring = max ? calloc((size_t)max, sizeof *ring) : NULL;
        if (max && !ring) {
            e = RETL_E_NOMEM;
            goto out;
        }
        /* Keep the newest starts, oldest first. */
        long keep = rl->n < max ? rl->n : max;
        for (long i = 0; i < keep; i++)
            ring[i] = rl->starts[(rl->head + rl->n - keep + i) % rl->max];
        free(rl->starts);
        rl->starts = ring;
        rl->max = max;
        rl->head = 0;
        rl->n = keep;
    }
    rl->interval_ms = interval_ms;
out:
    pthread_mutex_unlock(&rl->mu);
    return e;
}

/* Under mu: seconds to wait before a start at now. */
static double wait_locked(const struct eng_ratelimit *rl, double now)
{
    double w = rl->blocked_until > now ? rl->blocked_until - now : 0;
    if (rl->max > 0 && rl->n >= rl->max) {
        double free_at =
            rl->starts[rl->head] + (double)(rl->interval_ms + rl->margin_ms) / 1000.0;
        if (free_at - now > w)
            w = free_at - now;
    }
    return w;
}

long eng_ratelimit_wait_ms(struct eng_ratelimit *rl, double now_s)
{
    pthread_mutex_lock(&rl->mu);
    double w = wait_locked(rl, now_s);
    pthread_mutex_unlock(&rl->mu);
    return (long)(w * 1000.0 + 0.999);
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

void eng_ratelimit_acquire(struct eng_ratelimit *rl)
{
    bool waited = false;
    double t0 = eng_ratelimit_now();
    for (;;) {
        pthread_mutex_lock(&rl->mu);
        double now = eng_ratelimit_now();
        double w = wait_locked(rl, now);
        if (w <= 0) {
            if (rl->max > 0) {
                if (rl->n == rl->max) {
                    rl->head = (rl->head + 1) % rl->max;
                    rl->n--;
                }
                rl->starts[(rl->head + rl->n) % rl->max] = now;
                rl->n++;
            }
            if (waited) {
                rl->waits++;
                rl->waited_s += now - t0;
            }
            pthread_mutex_unlock(&rl->mu);
            return;
        }
        pthread_mutex_unlock(&rl->mu);
        waited = true;
        /* Sleep in short steps: another thread may take the slot first. */
        sleep_s(w < 0.05 ? w : 0.05);
    }
}

void eng_ratelimit_note_used(struct eng_ratelimit *rl, long used)
{
    pthread_mutex_lock(&rl->mu);
    if (rl->max > 0) {
        double now = eng_ratelimit_now();
        double cut = now - (double)rl->interval_ms / 1000.0;
        long recent = 0;
        for (long i = 0; i < rl->n; i++)
            recent += rl->starts[(rl->head + i) % rl->max] > cut;
        if (used > rl->max)
            used = rl->max;
        for (long k = recent; k < used; k++) {
            if (rl->n == rl->max) {
                rl->head = (rl->head + 1) % rl->max;
                rl->n--;
            }
            rl->starts[(rl->head + rl->n) % rl->max] = now;
            rl->n++;
        }
    }
    pthread_mutex_unlock(&rl->mu);
}

void eng_ratelimit_block(struct eng_ratelimit *rl, long ms)
{
    pthread_mutex_lock(&rl->mu);
    double until = eng_ratelimit_now() + (double)ms / 1000.0;
    if (until > rl->blocked_until)
        rl->blocked_until = until;
    pthread_mutex_unlock(&rl->mu);
}
