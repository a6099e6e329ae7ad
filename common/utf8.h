/* UTF-8 safe cutting. Every place that shortens text for a message, a status
 * condition, an event, a summary or an error row cuts through these, so a cut
 * never splits a character and the result stays valid UTF-8 (PostgreSQL's
 * COPY, the apiserver and JSON encoders all reject invalid UTF-8). */
#ifndef RETL_UTF8_H
#define RETL_UTF8_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* The length of the longest prefix of s[0..len) of at most max bytes that
 * does not end inside a UTF-8 sequence. */
size_t retl_utf8_prefix(const char *s, size_t len, size_t max);

/* Copies src into dst (n bytes, NUL included). When src does not fit it is
 * cut at a character boundary and ends with ellipsis (may be NULL or ""),
 * all within n. Returns dst. Invalid sequences in src are replaced by '?'. */
char *retl_utf8_trunc(char *dst, size_t n, const char *src, const char *ellipsis);

/* Whether s[0..len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool retl_utf8_valid(const char *s, size_t len);

/* Replaces each byte of an invalid sequence in the NUL-terminated s by '?',
 * in place, so the text is valid UTF-8 afterwards. */
void retl_utf8_scrub(char *s);

/* snprintf into dst (n bytes) whose result is always valid UTF-8: a result
 * too long for dst is cut at a character boundary (never inside one) and
 * invalid bytes become '?'. Returns dst. Use it for every message, condition,
 * event, summary and error row text that a fixed buffer may cut. */
char *retl_utf8_printf(char *dst, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
char *retl_utf8_vprintf(char *dst, size_t n, const char *fmt, va_list ap);

#endif
