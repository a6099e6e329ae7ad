#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/jwt.h"
#include "engine/source/snowflake_int.h"

void eng_snow_jwt_account(const char *account, char *out, size_t n)
{
    size_t o = 0;
    bool global = account && strcasestr(account, ".global") != NULL;
    char cut = global ? '-' : '.';
    for (const char *p = account ? account : ""; *p && o + 1 < n; p++) {
        if (*p == cut)
            break;
        out[o++] = (char)toupper((unsigned char)*p);
    }
    out[o] = '\0';
}

/* The key of the source secret; a message that names the source. */
static retl_err load_key(const char *pem, struct retl_rsa_key **k, struct retl_errbuf *eb)
{
    retl_err rc = retl_rsa_key_load(pem, k, eb);
    if (rc == RETL_E_CONFIG && eb) {
        char m[sizeof eb->msg];
        snprintf(m, sizeof m, "%s", eb->msg);
        retl_errf(eb, rc, "source: %s", m);
    }
    return rc;
}

retl_err eng_snow_fingerprint(const char *pem, char *out, size_t n,
                              struct retl_errbuf *eb)
{
    struct retl_rsa_key *k = NULL;
    retl_err rc = load_key(pem, &k, eb);
    if (!rc)
        rc = retl_rsa_key_fingerprint(k, out, n, eb);
    retl_rsa_key_free(k);
    return rc;
}

retl_err eng_snow_jwt(const char *pem, const char *account, const char *user, long now,
                      long lifetime, char **out, struct retl_errbuf *eb)
{
    char acct[256], usr[256], fp[128], claims[1024];
    struct retl_rsa_key *k = NULL;
    retl_err rc = load_key(pem, &k, eb);
    if (rc)
        return rc;
    eng_snow_jwt_account(account, acct, sizeof acct);
    size_t o = 0;
    for (const char *p = user ? user : ""; *p && o + 1 < sizeof usr; p++)
        usr[o++] = (char)toupper((unsigned char)*p);
    usr[o] = '\0';
    rc = retl_rsa_key_fingerprint(k, fp, sizeof fp, eb);
    if (rc)
        goto out;
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s.%s.%s\",\"sub\":\"%s.%s\",\"iat\":%ld,\"exp\":%ld}", acct,
             usr, fp, acct, usr, now, now + lifetime);
    rc = retl_jwt_rs256(k, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", claims, out, eb);
out:
    retl_rsa_key_free(k);
    return rc;
}

/* Bounds of what a cell may say (far beyond Snowflake's years 0-9999, far
 * within what the date arithmetic can hold). */
#define SNOW_MAX_DAYS 100000000LL /* about 273,000 years */
#define SNOW_MAX_SECONDS (SNOW_MAX_DAYS * 86400LL)
#define SNOW_MAX_OFFSET_MIN 2880L /* TIMESTAMP_TZ: +-1440 around 1440 */

/* days since 1970-01-01 -> civil date (Howard Hinnant's algorithm). */
static void civil(long long z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long yy = (long long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

/* seconds(.fraction) + offset minutes -> "YYYY-MM-DD HH:MM:SS[.f]". */
static retl_err ts_text(const char *in, long off_min, struct retl_buf *b)
{
    char *end = NULL;
    errno = 0;
    long long s = strtoll(in, &end, 10);
    /* Snowflake's range is years 0-9999; anything far outside is a garbled
     * answer, and the arithmetic below must not overflow on it. */
    if (errno || end == in || s < -SNOW_MAX_SECONDS || s > SNOW_MAX_SECONDS ||
        off_min < -SNOW_MAX_OFFSET_MIN || off_min > SNOW_MAX_OFFSET_MIN)
        return RETL_E_PARSE;
    const char *frac = "";
    size_t fl = 0;
    bool neg = in[0] == '-';
    if (end && *end == '.') {
        frac = end + 1;
        while (frac[fl] >= '0' && frac[fl] <= '9')
            fl++;
    }
    /* "-1.5" is 1.5 seconds before the epoch: floor the seconds. */
    char fbuf[16] = "";
    if (neg && fl > 0) {
        bool nz = false;
        for (size_t i = 0; i < fl; i++)
            nz = nz || frac[i] != '0';
        if (nz) {
            s -= 1;
            /* 10^fl - frac */
            size_t n = fl < 9 ? fl : 9;
            long long f = 0, p = 1;
            for (size_t i = 0; i < n; i++) {
                f = f * 10 + (frac[i] - '0');
                p *= 10;
            }
            snprintf(fbuf, sizeof fbuf, "%0*lld", (int)n, p - f);
            frac = fbuf;
            fl = n;
        }
    }
    s += (long long)off_min * 60;
    long long days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    long long rem = s - days * 86400;
    int y;
    unsigned m, d;
    civil(days, &y, &m, &d);
    retl_err rc = retl_buf_printf(b, "%04d-%02u-%02u %02lld:%02lld:%02lld", y, m, d,
                                  rem / 3600, rem / 60 % 60, rem % 60);
    while (!rc && fl > 0 && frac[fl - 1] == '0')
        fl--;
    if (!rc && fl > 0) {
        rc = retl_buf_addc(b, '.');
        if (!rc)
            rc = retl_buf_add(b, frac, fl);
    }
    return rc;
}

retl_err eng_snow_cell(const char *type, const char *in, struct retl_buf *b)
{
    retl_err rc;
    const char *t = type ? type : "";
    if (strcasecmp(t, "date") == 0) {
        char *end = NULL;
        errno = 0;
        long long days = strtoll(in, &end, 10);
        if (end != in && !*end &&
            (errno || days < -SNOW_MAX_DAYS || days > SNOW_MAX_DAYS))
            return RETL_E_PARSE;
        if (end != in && !*end) {
            int y;
            unsigned m, d;
            civil(days, &y, &m, &d);
            rc = retl_buf_printf(b, "%04d-%02u-%02u", y, m, d);
            return rc ? rc : retl_buf_addc(b, '\0');
        }
    } else if (strcasecmp(t, "timestamp_ntz") == 0 ||
               strcasecmp(t, "timestamp_ltz") == 0) {
        rc = ts_text(in, 0, b);
        if (!rc && strcasecmp(t, "timestamp_ltz") == 0)
            rc = retl_buf_adds(b, "+00:00");
        return rc ? rc : retl_buf_addc(b, '\0');
    } else if (strcasecmp(t, "timestamp_tz") == 0) {
        const char *sp = strchr(in, ' ');
        long off = sp ? strtol(sp + 1, NULL, 10) : 1440;
        if (off < 0 || off > SNOW_MAX_OFFSET_MIN)
            return RETL_E_PARSE;
        off -= 1440;
        rc = ts_text(in, off, b);
        if (!rc) {
            long a = off < 0 ? -off : off;
            rc = retl_buf_printf(b, "%c%02ld:%02ld", off < 0 ? '-' : '+', a / 60, a % 60);
        }
        return rc ? rc : retl_buf_addc(b, '\0');
    }
    rc = retl_buf_adds(b, in);
    return rc ? rc : retl_buf_addc(b, '\0');
}

retl_err eng_snow_row(const json_t *types, const json_t *row, size_t rownum,
                      struct retl_buf *b, long *offs, struct retl_errbuf *eb)
{
    size_t nc = json_array_size(types);
    if (!json_is_array(row) || json_array_size(row) != nc)
        return retl_errf(eb, RETL_E_PARSE,
                         "source: Snowflake result row %zu is not an array of %zu "
                         "cells (got %s of %zu)",
                         rownum, nc, json_is_array(row) ? "an array" : "no array",
                         json_array_size(row));
    retl_err rc = RETL_E_OK;
    for (size_t c = 0; c < nc && !rc; c++) {
        const json_t *v = json_array_get(row, c);
        if (json_is_null(v)) {
            offs[c] = -1;
            continue;
        }
        offs[c] = (long)b->len;
        const char *t = json_string_value(json_array_get(types, c));
        if (json_is_string(v)) {
            rc = eng_snow_cell(t, json_string_value(v), b);
        } else {
            char *txt = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            rc = txt ? eng_snow_cell("text", txt, b) : RETL_E_NOMEM;
            free(txt);
        }
    }
    if (rc == RETL_E_PARSE)
        rc = retl_errf(eb, rc,
                       "source: Snowflake returned a date or time outside any year "
                       "it holds (result row %zu)",
                       rownum);
    return rc;
}
