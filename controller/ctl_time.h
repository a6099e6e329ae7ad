/* Time stamps as the Kubernetes API writes them (RFC 3339, UTC, seconds). */
#ifndef RETL_CTL_TIME_H
#define RETL_CTL_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define CTL_TIME_LEN 32

/* "2026-01-02T03:04:05Z" into buf (at least CTL_TIME_LEN bytes); returns buf. */
char *ctl_time_fmt(time_t t, char *buf, size_t n);
/* Parses an RFC 3339 time (fraction and offset honoured); false when s is
 * NULL or malformed. */
bool ctl_time_parse(const char *s, time_t *out);

#endif
