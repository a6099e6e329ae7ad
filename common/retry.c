#include "common/retry.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <time.h>

bool retl_retry_more(const struct retl_retry *p, int attempt)
{
    return attempt < p->max_attempts;
}

long retl_retry_backoff_ms(const struct retl_retry *p, int attempt, double rnd)
{
    long step = p->base_ms;
    for (int i = 1; i < attempt && step < p->max_ms; i++)
        step *= 2;
    if (step > p->max_ms)
        step = p->max_ms;
    switch (p->jitter) {
    case RETL_JITTER_FULL: return (long)(rnd * (double)step);
    case RETL_JITTER_EQUAL: return step / 2 + (long)(rnd * (double)(step / 2 + 1));
    case RETL_JITTER_NONE: break;
    }
    return step;
}

long retl_retry_delay_ms(const struct retl_retry *p, int attempt, double rnd,
                         long retry_after_ms)
{
    long d = retl_retry_backoff_ms(p, attempt, rnd);
    if (retry_after_ms > d)
        d = retry_after_ms;
    long cap = p->max_wait_ms > 0 ? p->max_wait_ms : RETL_RETRY_AFTER_MAX_MS;
    return d > cap ? cap : d;
}

bool retl_retry_status(long s)
{
    return s == 429 || s == 502 || s == 503 || s == 504;
}

bool retl_retry_transport(int curl_code, bool idempotent)
{
    switch ((CURLcode)curl_code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT: return true;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return idempotent;
    default: return false;
    }
}

long retl_retry_after_parse(const char *v, long now_s)
{
    if (!v)
        return -1;
    while (*v == ' ')
        v++;
    if (*v >= '0' && *v <= '9') {
        char *end;
        long s = strtol(v, &end, 10);
        while (*end == ' ' || *end == '\r' || *end == '\n')
            end++;
        if (*end || s < 0)
            return -1;
        return s > RETL_RETRY_AFTER_MAX_MS / 1000 ? RETL_RETRY_AFTER_MAX_MS : s * 1000;
    }
    time_t t = curl_getdate(v, NULL);
    if (t == (time_t)-1)
        return -1;
    long d = (long)(t - now_s);
    if (d < 0)
        d = 0;
    return d > RETL_RETRY_AFTER_MAX_MS / 1000 ? RETL_RETRY_AFTER_MAX_MS : d * 1000;
}

double retl_retry_rand(unsigned *seed)
{
    return (double)rand_r(seed) / ((double)RAND_MAX + 1);
}

void retl_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}
