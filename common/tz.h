/* Time zone offsets without the process environment: the zone's TZif file
 * (RFC 8536, /usr/share/zoneinfo/<name>) is read and kept, and the POSIX TZ
 * rule in its footer covers instants after the last transition. Nothing here
 * calls setenv/tzset/localtime, so it is safe on any thread (setenv("TZ")
 * races with getenv in libcurl and glibc on other threads). */
#ifndef RETL_TZ_H
#define RETL_TZ_H

#include <time.h>

#include "error.h"

struct retl_tz;

/* The zone called name (IANA, e.g. "Europe/Berlin"); NULL, "" and "UTC" give
 * UTC (*out = NULL). Loaded once and kept for the life of the process; a
 * 1025th distinct zone is refused with TOO_BIG. Borrowed: never freed by the
 * caller. NOT_FOUND for an unknown or malformed name. */
retl_err retl_tz_get(const char *name, const struct retl_tz **out,
                     struct retl_errbuf *eb);

/* Seconds east of UTC in effect at t (UTC when z is NULL). */
long retl_tz_offset(const struct retl_tz *z, time_t t);

/* Parses a TZif image (tests, fuzzing). Ownership: *out is the caller's,
 * released with retl_tz_free. */
retl_err retl_tz_parse(const unsigned char *p, size_t n, struct retl_tz **out,
                       struct retl_errbuf *eb);
void retl_tz_free(struct retl_tz *z);

#endif
