#include "common/timestamp.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

char *retl_time_fmt(time_t t, char *buf, size_t n)
{
    struct timespec ts = {.tv_sec = t};
    return retl_time_fmt_ts(&ts, 0, buf, n);
}

char *retl_time_fmt_ts(const struct timespec *ts, int digits, char *buf, size_t n)
{
    struct tm tm;
    if (n == 0)
        return buf;
    size_t len = 0;
    if (gmtime_r(&ts->tv_sec, &tm))
        len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    if (len == 0) {
        buf[0] = '\0';
        return buf;
    }
    if (digits > 9)
        digits = 9;
    if (digits > 0) {
        long frac = ts->tv_nsec;
        for (int i = digits; i < 9; i++)
            frac /= 10;
        snprintf(buf + len, n - len, ".%0*ldZ", digits, frac);
    } else {
        snprintf(buf + len, n - len, "Z");
    }
    if (!strchr(buf, 'Z'))
        buf[0] = '\0'; /* cut short: no half time stamp */
    return buf;
}

char *retl_time_now_micro(char *buf, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return retl_time_fmt_ts(&ts, 6, buf, n);
}

/* Seconds and fraction of s. */
static bool parse(const char *s, time_t *sec, double *frac)
{
    if (!s)
        return false;
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return false;
    *frac = 0;
    if (*p == '.') {
        double scale = 0.1;
        for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
            *frac += (*p - '0') * scale;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        const char *o = p + 1; /* exactly hh:mm */
        if (!isdigit((unsigned char)o[0]) || !isdigit((unsigned char)o[1]) ||
            o[2] != ':' || !isdigit((unsigned char)o[3]) || !isdigit((unsigned char)o[4]))
            return false;
        long hh = (o[0] - '0') * 10 + (o[1] - '0'), mm = (o[3] - '0') * 10 + (o[4] - '0');
        off = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *sec = t - off;
    return true;
}

bool retl_time_parse(const char *s, time_t *out)
{
    time_t t;
    double frac;
    if (!parse(s, &t, &frac))
        return false;
    *out = t;
    return true;
}

bool retl_time_parse_real(const char *s, double *out)
{
    time_t t;
    double frac;
    if (!parse(s, &t, &frac))
        return false;
    *out = (double)t + frac;
    return true;
}
