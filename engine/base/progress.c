#include "engine/base/progress.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "common/log.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_t thr;
static bool running, stopping;
static struct eng_progress *cur;
static double every;

static void *loop(void *arg)
{
    (void)arg;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&mu);
    while (!stopping) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        long long ns = dl.tv_nsec + (long long)(every * 1e9);
        dl.tv_sec += (time_t)(ns / 1000000000);
        dl.tv_nsec = (long)(ns % 1000000000);
        if (pthread_cond_timedwait(&cv, &mu, &dl) == 0 || stopping)
            continue;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el =
            (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        RETL_LOG_INFO("progress", RF_S("phase", atomic_load(&cur->phase)),
                      RF_I("extracted", atomic_load(&cur->extracted)),
                      RF_I("delta", atomic_load(&cur->delta)),
                      RF_I("loaded", atomic_load(&cur->loaded)),
                      RF_I("failed", atomic_load(&cur->failed)),
                      RF_D("elapsedSeconds", el));
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

void eng_progress_start(struct eng_progress *p, double interval_s)
{
    if (running || interval_s <= 0)
        return;
    cur = p;
    every = interval_s;
    stopping = false;
    running = pthread_create(&thr, NULL, loop, NULL) == 0;
}

void eng_progress_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    stopping = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thr, NULL);
    running = false;
}
