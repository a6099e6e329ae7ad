/* Standard 5-field cron expressions (minute hour day-of-month month
 * day-of-week) as Kubernetes CronJob reads them: numbers, ranges, steps,
 * lists, names (JAN, MON), '?' as '*', and the @hourly/@daily/@weekly/
 * @monthly/@yearly/@annually/@midnight macros. Day-of-month and day-of-week
 * combine with OR when both are restricted, as in Vixie cron. */
#ifndef RETL_CRON_H
#define RETL_CRON_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "error.h"

struct retl_cron {
    uint64_t minute; /* bit i = minute i */
    uint32_t hour;
    uint32_t dom;   /* bits 1..31 */
    uint16_t month; /* bits 1..12 */
    uint8_t dow;    /* bits 0..6, Sunday = 0 */
    bool dom_star, dow_star;
};

/* Parses expr into *out. eb names the offending field on error. */
retl_err retl_cron_parse(const char *expr, struct retl_cron *out, struct retl_errbuf *eb);
/* The first scheduled time strictly after `after`, evaluated in time zone tz
 * (IANA name; NULL or "" = UTC). Returns (time_t)-1 when none in 5 years. */
time_t retl_cron_next(const struct retl_cron *c, const char *tz, time_t after);

#endif
