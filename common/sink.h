/* A small bounded text writer over a caller's array: what does not fit is cut
 * off, never in the middle of a UTF-8 character, and the text is always
 * terminated (also when nothing is written). Used where a fixed buffer must
 * hold a line (log lines, redacted copies). */
#ifndef RETL_SINK_H
#define RETL_SINK_H

#include <stddef.h>
#include <string.h>

#include "common/utf8.h"

struct retl_sink {
    char *p;
    size_t n, len; /* capacity (terminator included) and length */
};

static inline struct retl_sink retl_sink_make(char *p, size_t n)
{
    if (n)
        p[0] = '\0';
    return (struct retl_sink){p, n, 0};
}

static inline void retl_sink_put(struct retl_sink *s, const char *p, size_t n)
{
    if (!s->n)
        return;
    size_t room = s->n - 1 - s->len;
    if (n > room)
        n = retl_utf8_prefix(p, n, room);
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static inline void retl_sink_puts(struct retl_sink *s, const char *p)
{
    retl_sink_put(s, p, strlen(p));
}

#endif
