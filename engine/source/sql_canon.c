#include "engine/source/sql_dialect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/base64.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Hex (0x.. or \\x..) as the standard base64 the other sources give bytes in. */
static retl_err hex_to_base64(const char *in, struct retl_buf *o)
{
    retl_err rc = RETL_E_OK;
    if ((in[0] == '0' && (in[1] == 'x' || in[1] == 'X')) ||
        (in[0] == '\\' && in[1] == 'x'))
        in += 2;
    size_t n = strlen(in);
    if (n % 2)
        return RETL_E_PARSE;
    unsigned char *bytes = malloc(n / 2 + 1);
    char *b64 = NULL;
    if (!bytes)
        return RETL_E_NOMEM;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(in[i]), lo = hexval(in[i + 1]);
        if (hi < 0 || lo < 0) {
            rc = RETL_E_PARSE;
            goto out;
        }
        bytes[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    if (!(b64 = retl_base64_encode(bytes, n / 2))) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    rc = retl_buf_adds(o, b64);
out:
    free(bytes);
    free(b64);
    return rc;
}

static retl_err canon_ts(const char *in, bool tz, struct retl_buf *o)
{
    retl_err rc;
    size_t n = strlen(in);
    /* date part and time up to seconds */
    size_t i = 0;
    for (; i < n && i < 19; i++)
        RETL_TRY(retl_buf_addc(o, i == 10 && in[i] == 'T' ? ' ' : in[i]));
    if (i < n && in[i] == '.') {
        size_t s = ++i;
        while (i < n && in[i] >= '0' && in[i] <= '9')
            i++;
        size_t e = i;
        while (e > s && in[e - 1] == '0')
            e--;
        if (e > s) {
            RETL_TRY(retl_buf_addc(o, '.'));
            RETL_TRY(retl_buf_add(o, in + s, e - s));
        }
    }
    while (i < n && in[i] == ' ')
        i++;
    if (i < n) {
        const char *z = in + i;
        if (strcmp(z, "Z") == 0 || strcmp(z, "z") == 0) {
            RETL_TRY(retl_buf_adds(o, "+00:00"));
        } else if ((z[0] == '+' || z[0] == '-') && strlen(z) >= 3) {
            char hh[3] = {z[1], z[2], 0};
            const char *mm = z[3] == ':' ? z + 4 : z + 3;
            char m2[3] = {mm[0] ? mm[0] : '0', mm[0] && mm[1] ? mm[1] : '0', 0};
            RETL_TRY(retl_buf_printf(o, "%c%s:%s", z[0], hh, m2));
        } else {
            RETL_TRY(retl_buf_adds(o, z));
        }
    } else if (tz) {
        RETL_TRY(retl_buf_adds(o, "+00:00"));
    }
out:
    return rc;
}

static retl_err canon_float(const char *in, struct retl_buf *o)
{
    char *end = NULL;
    double v = strtod(in, &end);
    if (!end || *end)
        return retl_buf_adds(o, in);
    char tmp[64];
    for (int p = 15; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return retl_buf_adds(o, tmp);
}

retl_err eng_dl_canon_value(enum eng_type t, const char *in, struct retl_buf *scratch,
                            long *off)
{
    retl_err rc = RETL_E_OK;
    *off = -1;
    if (!in)
        return RETL_E_OK;
    size_t start = scratch->len;
    switch (t) {
    case ENG_T_BOOL: {
        static const char *const yes[] = {"1", "t", "true", "y", "yes", "on"};
        static const char *const no[] = {"0", "f", "false", "n", "no", "off"};
        const char *v = NULL;
        for (size_t i = 0; i < 6; i++) {
            if (strcasecmp(in, yes[i]) == 0)
                v = "true";
            else if (strcasecmp(in, no[i]) == 0)
                v = "false";
        }
        if (!v || strcmp(v, in) == 0)
            return RETL_E_OK;
        RETL_TRY(retl_buf_adds(scratch, v));
        break;
    }
    case ENG_T_NUMERIC:
        if (!strpbrk(in, "eE") || strpbrk(in, "xX"))
            return RETL_E_OK;
        RETL_TRY(canon_float(in, scratch));
        break;
    case ENG_T_TIMESTAMP:
    case ENG_T_TIMESTAMPTZ:
        if (strlen(in) < 19)
            return RETL_E_OK;
        RETL_TRY(canon_ts(in, t == ENG_T_TIMESTAMPTZ, scratch));
        break;
    case ENG_T_BYTES:
        rc = hex_to_base64(in, scratch);
        if (rc == RETL_E_PARSE) {
            scratch->len = start;
            return RETL_E_OK;
        }
        RETL_TRY(rc);
        break;
    default: return RETL_E_OK;
    }
    RETL_TRY(retl_buf_addc(scratch, '\0'));
    *off = (long)start;
out:
    return rc;
}
