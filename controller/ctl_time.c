#include "controller/ctl_time.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

char *ctl_time_fmt(time_t t, char *buf, size_t n)
{
    struct tm tm;
    if (n == 0)
        return buf;
    if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        buf[0] = '\0';
    return buf;
}

bool ctl_time_parse(const char *s, time_t *out)
{
    if (!s)
        return false;
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return false;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return false;
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
    *out = t - off;
    return true;
}
