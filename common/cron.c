#include "cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tz.h"

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

static bool day_matches(const struct retl_cron *c, const struct tm *tm)
{
    bool dom = c->dom & (1u << tm->tm_mday);
    bool dow = c->dow & (1u << tm->tm_wday);
    if (c->dom_star || c->dow_star)
        return dom && dow;
    return dom || dow;
}

/* Wall-clock arithmetic on "local seconds" (a local time read as if it were
 * UTC): timegm/gmtime_r never look at TZ. */
static void normalize(struct tm *tm)
{
    time_t t = timegm(tm);
    gmtime_r(&t, tm);
}

/* The first wall-clock minute >= *tm that the expression matches, in place;
 * false when none before year `limit`. */
static bool next_local(const struct retl_cron *c, struct tm *tm, int limit)
{
    for (int guard = 0; guard < 100000; guard++) {
        if (tm->tm_year > limit)
            return false;
        if (!(c->month & (1u << (tm->tm_mon + 1)))) {
            tm->tm_mon++;
            tm->tm_mday = 1;
            tm->tm_hour = 0;
            tm->tm_min = 0;
        } else if (!day_matches(c, tm)) {
            tm->tm_mday++;
            tm->tm_hour = 0;
            tm->tm_min = 0;
        } else if (!(c->hour & (1u << tm->tm_hour))) {
            tm->tm_hour++;
            tm->tm_min = 0;
        } else if (!(c->minute & ((uint64_t)1 << tm->tm_min))) {
            tm->tm_min++;
        } else {
            return true;
        }
        normalize(tm);
    }
    return false;
}

/* A zone's offset changes at most by this much (and the instants mapping to
 * one wall-clock time lie within it). */
#define FOLD_MAX (3 * 3600)

/* The instants > after whose wall-clock time in z is local, earliest first
 * into *best (kept when earlier). None in a spring-forward gap, two in a
 * fall-back fold: the schedule fires at every real instant whose wall clock
 * matches, as Kubernetes CronJob does. */
static void instants(const struct retl_tz *z, time_t local, time_t after, time_t *best)
{
    static const long probes[] = {-26 * 3600, -FOLD_MAX, 0, FOLD_MAX, 26 * 3600};
    long seen[sizeof probes / sizeof probes[0]] = {0};
    size_t ns = 0;
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        long o = retl_tz_offset(z, local + probes[i]);
        bool dup = false;
        for (size_t k = 0; k < ns; k++)
            dup = dup || seen[k] == o;
        if (dup)
            continue;
        seen[ns++] = o;
        time_t t = local - o;
        if (retl_tz_offset(z, t) == o && t > after && (*best == (time_t)-1 || t < *best))
            *best = t;
    }
}

/* FOLD_MAX near an offset change, else 0 (the common case costs nothing). */
static long slack_at(const struct retl_tz *z, time_t x)
{
    long o = retl_tz_offset(z, x);
    return z && (retl_tz_offset(z, x - FOLD_MAX) != o ||
                 retl_tz_offset(z, x + FOLD_MAX) != o)
               ? FOLD_MAX
               : 0;
}

time_t retl_cron_next(const struct retl_cron *c, const char *tz, time_t after)
{
    const struct retl_tz *z = NULL;
    if (retl_tz_get(tz, &z, NULL) != RETL_E_OK)
        z = NULL; /* the spec validation names an unknown zone; UTC meanwhile */
    time_t t = after - (after % 60) + 60;
    /* Start a fold's width early: the second pass of a repeated hour has
     * wall-clock times before t's own. */
    time_t local = t + retl_tz_offset(z, t) - slack_at(z, t);
    struct tm tm;
    gmtime_r(&local, &tm);
    tm.tm_sec = 0;
    int limit = tm.tm_year + 5;
    time_t best = (time_t)-1;
    while (next_local(c, &tm, limit)) {
        time_t l = timegm(&tm);
        if (best != (time_t)-1 && l > best + retl_tz_offset(z, best) + slack_at(z, best))
            break;
        instants(z, l, after, &best);
        tm.tm_min++;
        normalize(&tm);
    }
    return best;
}
