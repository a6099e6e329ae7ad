/* A growable byte buffer with a hard maximum size, set at init (after curl's
 * dynbuf). Appending past the maximum fails with RETL_E_TOO_BIG and frees the
 * buffer, so a hostile peer can never make us grow without bound. The data is
 * always NUL-terminated. */
#ifndef RETL_BUF_H
#define RETL_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "error.h"

struct retl_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* largest len allowed */
};

/* Sets up an empty buffer that may hold at most max bytes. Allocates nothing. */
void retl_buf_init(struct retl_buf *b, size_t max);
/* Appends n bytes. On TOO_BIG or NOMEM the buffer is freed (and stays usable,
 * empty). */
retl_err retl_buf_add(struct retl_buf *b, const void *p, size_t n);
retl_err retl_buf_adds(struct retl_buf *b, const char *s);
retl_err retl_buf_addc(struct retl_buf *b, char c);
retl_err retl_buf_printf(struct retl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
retl_err retl_buf_vprintf(struct retl_buf *b, const char *fmt, va_list ap);
/* Drops the first n bytes (e.g. a consumed line), keeping the memory. */
void retl_buf_consume(struct retl_buf *b, size_t n);
/* Empties the buffer, keeping its memory. */
void retl_buf_reset(struct retl_buf *b);
/* Releases the memory; the buffer is empty and usable afterwards. */
void retl_buf_free(struct retl_buf *b);
/* The contents as a C string; "" when empty. Valid until the next change. */
const char *retl_buf_str(const struct retl_buf *b);
/* Hands the memory to the caller (who frees it with free()) and leaves the
 * buffer empty. Never NULL unless out of memory. */
char *retl_buf_take(struct retl_buf *b);

#endif
