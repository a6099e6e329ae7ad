/* RFC 3339 time stamps in UTC, the one place that writes and reads them:
 * "2026-01-02T03:04:05Z" as the Kubernetes API writes metav1.Time, with 3
 * fraction digits in log lines, 6 for metav1.MicroTime (Events, Leases).
 * Parsing honours a fraction and a "Z" or +hh:mm offset. */
#ifndef RETL_TIMESTAMP_H
#define RETL_TIMESTAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define RETL_TIME_LEN 40 /* fits every form below */

/* "2026-01-02T03:04:05Z" into buf; returns buf ("" when n is too small). */
char *retl_time_fmt(time_t t, char *buf, size_t n);
/* With `digits` fraction digits (0 to 9): "2026-01-02T03:04:05.123Z". */
char *retl_time_fmt_ts(const struct timespec *ts, int digits, char *buf, size_t n);
/* The current time as a metav1.MicroTime (6 fraction digits). */
char *retl_time_now_micro(char *buf, size_t n);

/* Whole seconds of an RFC 3339 time; false when s is NULL or malformed. */
bool retl_time_parse(const char *s, time_t *out);
/* Seconds with the fraction; false when s is NULL or malformed. */
bool retl_time_parse_real(const char *s, double *out);

#endif
