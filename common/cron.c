#include "cron.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct field_def {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] is value lo + i */
    int n_names;
};

static const struct field_def fields[5] = {
    {"minute", 0, 59, NULL, 0},          {"hour", 0, 23, NULL, 0},
    {"day of month", 1, 31, NULL, 0},    {"month", 1, 12, month_names, 12},
    {"day of week", 0, 6, dow_names, 7},
};

static bool parse_value(const struct field_def *f, const char *s, size_t n, int *out)
{
    if (n == 0)
        return false;
    if (f->names && n == 3) {
        for (int i = 0; i < f->n_names; i++) {
            if (strncasecmp(s, f->names[i], 3) == 0) {
                *out = f->names == month_names ? i + 1 : i;
                return true;
            }
        }
    }
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]) || v > 1000)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    /* day of week 7 is Sunday too */
    if (f->names == dow_names && v == 7)
        v = 0;
    if (v < f->lo || v > f->hi)
        return false;
    *out = v;
    return true;
}

/* Parses one comma-separated field into a bit set. */
static retl_err parse_field(const struct field_def *f, const char *s, size_t n,
                            uint64_t *bits, bool *star, struct retl_errbuf *eb)
{
    uint64_t set = 0;
    *star = false;
    const char *end = s + n;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *pe = comma ? comma : end;
        const char *slash = memchr(s, '/', (size_t)(pe - s));
        const char *re = slash ? slash : pe;
        int lo, hi, step = 1;
        if (re - s == 1 && (*s == '*' || *s == '?')) {
            lo = f->lo;
            hi = f->hi;
            if (!slash && n == 1)
                *star = true;
        } else {
            const char *dash = memchr(s, '-', (size_t)(re - s));
            if (!parse_value(f, s, (size_t)((dash ? dash : re) - s), &lo))
                goto bad;
            if (dash) {
                if (!parse_value(f, dash + 1, (size_t)(re - dash - 1), &hi))
                    goto bad;
                if (f->names == dow_names && hi == 0 && re - dash - 1 == 1 &&
                    dash[1] == '7')
                    hi = 6, set |= 1; /* "5-7" includes Sunday */
            } else {
                hi = slash ? f->hi : lo;
            }
            if (hi < lo)
                goto bad;
        }
        if (slash) {
            if (!parse_value(&(struct field_def){"step", 1, 1000, NULL, 0}, slash + 1,
                             (size_t)(pe - slash - 1), &step))
                goto bad;
        }
        for (int v = lo; v <= hi; v += step)
            set |= (uint64_t)1 << v;
        s = comma ? comma + 1 : end;
        if (comma && s == end)
            goto bad;
    }
    if (!set)
        goto bad;
    *bits = set;
    return RETL_E_OK;
bad:
    return retl_errf(eb, RETL_E_PARSE, "invalid %s field", f->name);
}

static const struct {
    const char *macro;
    const char *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

retl_err retl_cron_parse(const char *expr, struct retl_cron *out, struct retl_errbuf *eb)
{
    if (!expr)
        return retl_errf(eb, RETL_E_PARSE, "empty schedule");
    while (isspace((unsigned char)*expr))
        expr++;
    if (strncasecmp(expr, "TZ=", 3) == 0 || strncasecmp(expr, "CRON_TZ=", 8) == 0)
        return retl_errf(eb, RETL_E_PARSE,
                         "TZ= is not supported in the schedule; use spec.timeZone");
    if (*expr == '@') {
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
            if (strcasecmp(expr, macros[i].macro) == 0)
                return retl_cron_parse(macros[i].expr, out, eb);
        }
        return retl_errf(eb, RETL_E_PARSE, "unknown macro \"%s\"", expr);
    }
    const char *starts[6];
    size_t lens[6];
    int nf = 0;
    const char *p = expr;
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *st = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (nf < 6) {
            starts[nf] = st;
            lens[nf] = (size_t)(p - st);
        }
        nf++;
    }
    if (nf != 5)
        return retl_errf(eb, RETL_E_PARSE,
                         "expected 5 fields (minute hour day-of-month month "
                         "day-of-week), found %d",
                         nf);
    struct retl_cron c = {0};
    uint64_t bits[5];
    bool stars[5];
    for (int i = 0; i < 5; i++) {
        retl_err e = parse_field(&fields[i], starts[i], lens[i], &bits[i], &stars[i], eb);
        if (e)
            return e;
    }
    c.minute = bits[0];
    c.hour = (uint32_t)bits[1];
    c.dom = (uint32_t)bits[2];
    c.month = (uint16_t)bits[3];
    c.dow = (uint8_t)bits[4];
    c.dom_star = stars[2];
    c.dow_star = stars[4];
    *out = c;
    return RETL_E_OK;
}

static pthread_mutex_t tz_mu = PTHREAD_MUTEX_INITIALIZER;

static bool day_matches(const struct retl_cron *c, const struct tm *tm)
{
    bool dom = c->dom & (1u << tm->tm_mday);
    bool dow = c->dow & (1u << tm->tm_wday);
    if (c->dom_star || c->dow_star)
        return dom && dow;
    return dom || dow;
}

static void normalize(struct tm *tm)
{
    tm->tm_isdst = -1;
    time_t t = mktime(tm);
    localtime_r(&t, tm);
}

time_t retl_cron_next(const struct retl_cron *c, const char *tz, time_t after)
{
    pthread_mutex_lock(&tz_mu);
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", tz && *tz ? tz : "UTC", 1);
    tzset();
    time_t t = after - (after % 60) + 60;
    struct tm tm;
    localtime_r(&t, &tm);
    int limit = tm.tm_year + 5;
    time_t result = (time_t)-1;
    for (int guard = 0; guard < 100000; guard++) {
        if (tm.tm_year > limit)
            break;
        if (!(c->month & (1u << (tm.tm_mon + 1)))) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = 0;
            tm.tm_min = 0;
            normalize(&tm);
            continue;
        }
        if (!day_matches(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = 0;
            tm.tm_min = 0;
            normalize(&tm);
            continue;
        }
        if (!(c->hour & (1u << tm.tm_hour))) {
            tm.tm_hour++;
            tm.tm_min = 0;
            normalize(&tm);
            continue;
        }
        if (!(c->minute & ((uint64_t)1 << tm.tm_min))) {
            tm.tm_min++;
            normalize(&tm);
            continue;
        }
        tm.tm_isdst = -1;
        result = mktime(&tm);
        if (result <= after) { /* DST fold: step on */
            tm.tm_min++;
            normalize(&tm);
            result = (time_t)-1;
            continue;
        }
        break;
    }
    if (old) {
        setenv("TZ", old, 1);
        free(old);
    } else {
        unsetenv("TZ");
    }
    tzset();
    pthread_mutex_unlock(&tz_mu);
    return result;
}
