#include "common/base64.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

retl_err retl_base64_decode(const char *in, char **out, size_t *len_out)
{
    size_t len = strlen(in);
    char *buf = malloc(len / 4 * 3 + 4);
    if (!buf)
        return RETL_E_NOMEM;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t')
            continue;
        int v = b64_val(c);
        if (v < 0) {
            free(buf);
            return RETL_E_PARSE;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    buf[o] = '\0';
    if (len_out)
        *len_out = o;
    *out = buf;
    return RETL_E_OK;
}

/* Encodes n bytes with the URL-safe alphabet without padding, or the
 * standard one with padding. Ownership: the caller frees the result. */
static char *encode(const unsigned char *p, size_t n, bool url)
{
    const char *al =
        url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(n / 3 * 4 + 5);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = al[v >> 18];
        out[o++] = al[(v >> 12) & 63];
        out[o++] = al[(v >> 6) & 63];
        out[o++] = al[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        out[o++] = al[v >> 18];
        out[o++] = al[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = al[(v >> 6) & 63];
        else if (!url)
            out[o++] = '=';
        if (!url)
            out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

char *retl_base64url_encode(const unsigned char *p, size_t n)
{
    return encode(p, n, true);
}

char *retl_base64_encode(const unsigned char *p, size_t n)
{
    return encode(p, n, false);
}
