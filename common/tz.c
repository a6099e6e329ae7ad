#include "tz.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_DIR "/usr/share/zoneinfo/"
#define TZ_FILE_MAX (1 << 20)
#define TZ_CACHE_MAX 1024

/* A POSIX TZ rule date: Jn (julian, no Feb 29), n (zero-based day of year)
 * or Mm.w.d; secs is the local time of day of the change. */
struct rule_date {
    char kind; /* 'J', 'D', 'M' */
    int n, m, w, d;
    long secs;
};

struct posix_rule {
    bool valid, has_dst;
    long std_off, dst_off; /* seconds east of UTC */
    struct rule_date start, end;
};

struct retl_tz {
    char *name;
    size_t ntrans;
    int64_t *trans;     /* transition instants, ascending */
    unsigned char *idx; /* type after each transition */
    size_t ntypes;
    long *type_off; /* seconds east of UTC of each type */
    struct posix_rule footer;
};

void retl_tz_free(struct retl_tz *z)
{
    if (!z)
        return;
    free(z->name);
    free(z->trans);
    free(z->idx);
    free(z->type_off);
    free(z);
}

static int64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    if (n == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

/* [+-]hh[:mm[:ss]] into seconds; returns the end or NULL. */
static const char *parse_hms(const char *s, long *out)
{
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*s))
        return NULL;
    long h = 0, m = 0, sec = 0;
    while (isdigit((unsigned char)*s) && h < 1000)
        h = h * 10 + (*s++ - '0');
    if (*s == ':') {
        s++;
        if (!isdigit((unsigned char)*s))
            return NULL;
        while (isdigit((unsigned char)*s) && m < 100)
            m = m * 10 + (*s++ - '0');
        if (*s == ':') {
            s++;
            if (!isdigit((unsigned char)*s))
                return NULL;
            while (isdigit((unsigned char)*s) && sec < 100)
                sec = sec * 10 + (*s++ - '0');
        }
    }
    if (h > 167 || m > 59 || sec > 59)
        return NULL;
    *out = sign * (h * 3600 + m * 60 + sec);
    return s;
}

static const char *parse_name(const char *s)
{
    if (*s == '<') {
        const char *e = strchr(s, '>');
        return e && e - s >= 4 ? e + 1 : NULL;
    }
    const char *b = s;
    while (isalpha((unsigned char)*s))
        s++;
    return s - b >= 3 ? s : NULL;
}

static int parse_int(const char **ps, int lo, int hi)
{
    const char *s = *ps;
    if (!isdigit((unsigned char)*s))
        return -1;
    int v = 0;
    while (isdigit((unsigned char)*s) && v <= hi)
        v = v * 10 + (*s++ - '0');
    *ps = s;
    return v >= lo && v <= hi ? v : -1;
}

static const char *parse_date(const char *s, struct rule_date *d)
{
    memset(d, 0, sizeof *d);
    d->secs = 7200;
    if (*s == 'J') {
        s++;
        d->kind = 'J';
        if ((d->n = parse_int(&s, 1, 365)) < 0)
            return NULL;
    } else if (*s == 'M') {
        s++;
        d->kind = 'M';
        if ((d->m = parse_int(&s, 1, 12)) < 0 || *s++ != '.' ||
            (d->w = parse_int(&s, 1, 5)) < 0 || *s++ != '.' ||
            (d->d = parse_int(&s, 0, 6)) < 0)
            return NULL;
    } else {
        d->kind = 'D';
        if ((d->n = parse_int(&s, 0, 365)) < 0)
            return NULL;
    }
    if (*s == '/')
        s = parse_hms(s + 1, &d->secs);
    return s;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3": offsets are west-positive in the string. */
static bool parse_posix(const char *s, struct posix_rule *r)
{
    memset(r, 0, sizeof *r);
    long off;
    if (!(s = parse_name(s)) || !(s = parse_hms(s, &off)))
        return false;
    r->std_off = -off;
    r->dst_off = r->std_off;
    if (*s) {
        if (!(s = parse_name(s)))
            return false;
        r->has_dst = true;
        r->dst_off = r->std_off + 3600;
        if (*s && *s != ',') {
            if (!(s = parse_hms(s, &off)))
                return false;
            r->dst_off = -off;
        }
        if (*s != ',')
            return false; /* no rule: the zone files always give one */
        if (!(s = parse_date(s + 1, &r->start)) || *s != ',' ||
            !(s = parse_date(s + 1, &r->end)))
            return false;
    }
    if (*s)
        return false;
    r->valid = true;
    return true;
}

static bool leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static long days_from_civil(long y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The UTC-naive second at which date d of year y begins (local midnight). */
static int64_t rule_day(long y, const struct rule_date *d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    long day;
    if (d->kind == 'J') {
        day = days_from_civil(y, 1, 1) + d->n - 1;
        if (leap(y) && d->n >= 60)
            day++;
    } else if (d->kind == 'D') {
        day = days_from_civil(y, 1, 1) + d->n;
    } else {
        long first = days_from_civil(y, d->m, 1);
        int wday = (int)(((first % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
        int md = mdays[d->m - 1] + (d->m == 2 && leap(y));
        int dom = 1 + (d->d - wday + 7) % 7 + (d->w - 1) * 7;
        while (dom > md)
            dom -= 7;
        day = first + dom - 1;
    }
    return (int64_t)day * 86400;
}

static long year_of(int64_t t)
{
    long days = (long)(t >= 0 ? t / 86400 : (t - 86399) / 86400);
    long y = 1970 + days / 366;
    while (days_from_civil(y + 1, 1, 1) <= days)
        y++;
    while (days_from_civil(y, 1, 1) > days)
        y--;
    return y;
}

static long posix_offset(const struct posix_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    long y = year_of(t + r->std_off);
    int64_t start = rule_day(y, &r->start) + r->start.secs - r->std_off;
    int64_t end = rule_day(y, &r->end) + r->end.secs - r->dst_off;
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? r->dst_off : r->std_off;
}

long retl_tz_offset(const struct retl_tz *z, time_t t)
{
    if (!z)
        return 0;
    if (z->ntrans == 0 || t < z->trans[0]) {
        if (z->ntrans == 0 && z->footer.valid)
            return posix_offset(&z->footer, t);
        return z->ntypes ? z->type_off[0] : 0;
    }
    if (t >= z->trans[z->ntrans - 1] && z->footer.valid)
        return posix_offset(&z->footer, t);
    size_t lo = 0, hi = z->ntrans; /* last transition <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->type_off[z->idx[lo]];
}

retl_err retl_tz_parse(const unsigned char *p, size_t n, struct retl_tz **out,
                       struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    struct retl_tz *z = calloc(1, sizeof *z);
    if (!z)
        return RETL_E_NOMEM;
    size_t off = 0;
    int tsize = 4;
    for (int pass = 0; pass < 2; pass++) {
        if (n - off < 44 || memcmp(p + off, "TZif", 4) != 0) {
            rc = retl_errf(eb, RETL_E_PARSE, "time zone file: bad header");
            goto out;
        }
        char version = (char)p[off + 4];
        uint64_t isut = (uint32_t)be(p + off + 20, 4),
                 isstd = (uint32_t)be(p + off + 24, 4),
                 leapc = (uint32_t)be(p + off + 28, 4),
                 timec = (uint32_t)be(p + off + 32, 4),
                 typec = (uint32_t)be(p + off + 36, 4),
                 charc = (uint32_t)be(p + off + 40, 4);
        uint64_t body = timec * (uint64_t)tsize + timec + typec * 6 + charc +
                        leapc * (uint64_t)(tsize + 4) + isstd + isut;
        off += 44;
        if (typec == 0 || typec > 256 || timec > 100000 || body > n - off ||
            (isstd && isstd != typec) || (isut && isut != typec)) {
            rc = retl_errf(eb, RETL_E_PARSE, "time zone file: bad counts");
            goto out;
        }
        if (pass == 0 && version >= '2') {
            off += body; /* the 64-bit block follows */
            tsize = 8;
            continue;
        }
        z->ntrans = timec;
        z->ntypes = typec;
        z->trans = malloc((timec ? timec : 1) * sizeof *z->trans);
        z->idx = malloc(timec ? timec : 1);
        z->type_off = malloc(typec * sizeof *z->type_off);
        if (!z->trans || !z->idx || !z->type_off) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        const unsigned char *q = p + off;
        for (size_t i = 0; i < timec; i++, q += tsize) {
            z->trans[i] = be(q, tsize);
            if (i && z->trans[i] <= z->trans[i - 1]) {
                rc = retl_errf(eb, RETL_E_PARSE,
                               "time zone file: transitions out of order");
                goto out;
            }
        }
        for (size_t i = 0; i < timec; i++) {
            z->idx[i] = *q++;
            if (z->idx[i] >= typec) {
                rc = retl_errf(eb, RETL_E_PARSE, "time zone file: bad type index");
                goto out;
            }
        }
        for (size_t i = 0; i < typec; i++, q += 6) {
            long o = (long)be(q, 4);
            if (o < -89999 || o > 93599) {
                rc = retl_errf(eb, RETL_E_PARSE, "time zone file: bad offset");
                goto out;
            }
            z->type_off[i] = o;
        }
        off += body;
        if (tsize == 8 && off < n && p[off] == '\n') {
            const unsigned char *nl = memchr(p + off + 1, '\n', n - off - 1);
            if (nl && nl - (p + off + 1) < 128) {
                char foot[128];
                size_t fl = (size_t)(nl - (p + off + 1));
                memcpy(foot, p + off + 1, fl);
                foot[fl] = '\0';
                if (fl)
                    parse_posix(foot, &z->footer);
            }
        }
        break;
    }
    *out = z;
    z = NULL;
out:
    retl_tz_free(z);
    return rc;
}

static bool name_ok(const char *name)
{
    if (!*name || *name == '/' || strlen(name) > 128)
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("/_+-", *c))
            return false;
    return !strstr(name, "//") && name[strlen(name) - 1] != '/' && name[0] != '.';
}

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct retl_tz *cache[TZ_CACHE_MAX];
static size_t ncache;

static retl_err load(const char *name, struct retl_tz **out, struct retl_errbuf *eb)
{
    if (!name_ok(name))
        return retl_errf(eb, RETL_E_NOT_FOUND, "unknown time zone \"%s\"", name);
    char path[256];
    snprintf(path, sizeof path, TZ_DIR "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return retl_errf(eb, RETL_E_NOT_FOUND, "unknown time zone \"%s\"", name);
    unsigned char *buf = malloc(TZ_FILE_MAX);
    retl_err rc = RETL_E_NOMEM;
    if (buf) {
        size_t n = fread(buf, 1, TZ_FILE_MAX, f);
        rc = retl_tz_parse(buf, n, out, eb);
        if (rc == RETL_E_PARSE)
            rc = retl_errf(eb, RETL_E_NOT_FOUND, "time zone \"%s\": %s", name,
                           eb ? eb->msg : "");
    }
    free(buf);
    fclose(f);
    return rc;
}

retl_err retl_tz_get(const char *name, const struct retl_tz **out, struct retl_errbuf *eb)
{
    if (!name || !*name || !strcmp(name, "UTC") || !strcmp(name, "Etc/UTC")) {
        *out = NULL;
        return RETL_E_OK;
    }
    retl_err rc = RETL_E_OK;
    pthread_mutex_lock(&cache_mu);
    for (size_t i = 0; i < ncache; i++) {
        if (!strcmp(cache[i]->name, name)) {
            *out = cache[i];
            goto out;
        }
    }
    if (ncache == TZ_CACHE_MAX) {
        rc =
            retl_errf(eb, RETL_E_TOO_BIG, "more than %d time zones in use", TZ_CACHE_MAX);
        goto out;
    }
    struct retl_tz *z = NULL;
    if ((rc = load(name, &z, eb)))
        goto out;
    z->name = strdup(name);
    if (!z->name) {
        retl_tz_free(z);
        rc = RETL_E_NOMEM;
        goto out;
    }
    cache[ncache++] = z;
    *out = z;
out:
    pthread_mutex_unlock(&cache_mu);
    return rc;
}
