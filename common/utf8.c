#include "utf8.h"

#include <stdio.h>
#include <string.h>

/* Length of the valid sequence at s (at most len bytes), or 0 if invalid. */
static size_t seq_len(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (len < n)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

size_t retl_utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = max;
    /* back over continuation bytes to the start of the cut character */
    while (i > 0 && (u[i] & 0xC0) == 0x80 && max - i < 3)
        i--;
    return i;
}

bool retl_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = seq_len(u + i, len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

void retl_utf8_scrub(char *s)
{
    unsigned char *u = (unsigned char *)s;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        size_t n = seq_len(u + i, len - i);
        if (!n) {
            u[i++] = '?';
            continue;
        }
        i += n;
    }
}

char *retl_utf8_trunc(char *dst, size_t n, const char *src, const char *ellipsis)
{
    if (!n)
        return dst;
    size_t sl = strlen(src ? src : "");
    size_t el = ellipsis ? strlen(ellipsis) : 0;
    if (!src)
        src = "";
    if (sl < n) {
        memcpy(dst, src, sl + 1);
    } else {
        if (el >= n)
            el = 0;
        size_t keep = retl_utf8_prefix(src, sl, n - 1 - el);
        memcpy(dst, src, keep);
        memcpy(dst + keep, ellipsis ? ellipsis : "", el);
        dst[keep + el] = '\0';
    }
    retl_utf8_scrub(dst);
    return dst;
}

char *retl_utf8_vprintf(char *dst, size_t n, const char *fmt, va_list ap)
{
    if (!n)
        return dst;
    int w = vsnprintf(dst, n, fmt, ap);
    if (w < 0) {
        dst[0] = '\0';
        return dst;
    }
    if ((size_t)w >= n) {
        /* vsnprintf kept n - 1 bytes; drop a character it split */
        size_t keep = n - 1;
        const unsigned char *u = (const unsigned char *)dst;
        size_t i = keep;
        while (i > 0 && keep - i < 3 && (u[i - 1] & 0xC0) == 0x80)
            i--;
        /* i is just past the last lead byte's continuations; check the lead */
        if (i > 0 && keep - i < 3 && u[i - 1] >= 0xC0) {
            size_t need = u[i - 1] >= 0xF0 ? 4 : u[i - 1] >= 0xE0 ? 3 : 2;
            if (keep - (i - 1) < need)
                keep = i - 1;
        }
        dst[keep] = '\0';
    }
    retl_utf8_scrub(dst);
    return dst;
}

char *retl_utf8_printf(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    retl_utf8_vprintf(dst, n, fmt, ap);
    va_end(ap);
    return dst;
}
