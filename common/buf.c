#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void retl_buf_init(struct retl_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void retl_buf_free(struct retl_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void retl_buf_reset(struct retl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static retl_err buf_reserve(struct retl_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n) {
        retl_buf_free(b);
        return RETL_E_TOO_BIG;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return RETL_E_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p) {
        retl_buf_free(b);
        return RETL_E_NOMEM;
    }
    b->data = p;
    b->cap = cap;
    return RETL_E_OK;
}

retl_err retl_buf_add(struct retl_buf *b, const void *p, size_t n)
{
    retl_err e = buf_reserve(b, n);
    if (e)
        return e;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return RETL_E_OK;
}

retl_err retl_buf_adds(struct retl_buf *b, const char *s)
{
    return retl_buf_add(b, s, strlen(s));
}

retl_err retl_buf_addc(struct retl_buf *b, char c)
{
    return retl_buf_add(b, &c, 1);
}

retl_err retl_buf_vprintf(struct retl_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return RETL_E_INVALID;
    retl_err e = buf_reserve(b, (size_t)n);
    if (e)
        return e;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return RETL_E_OK;
}

retl_err retl_buf_printf(struct retl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    retl_err e = retl_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return e;
}

void retl_buf_consume(struct retl_buf *b, size_t n)
{
    if (n >= b->len) {
        retl_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

const char *retl_buf_str(const struct retl_buf *b)
{
    return b->data ? b->data : "";
}

char *retl_buf_take(struct retl_buf *b)
{
    char *p = b->data ? b->data : calloc(1, 1);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
