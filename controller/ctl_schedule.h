/* CronJob-compatible scheduling decisions, pure (no I/O, the clock is an
 * argument): which slot is due now, how many were missed, when the next one
 * is. Semantics of kube-controller-manager's CronJob controller v2: only the
 * most recent missed slot runs; startingDeadlineSeconds bounds how late a slot
 * may start; more than 100 missed slots is worth a warning. */
#ifndef RETL_CTL_SCHEDULE_H
#define RETL_CTL_SCHEDULE_H

#include <stdbool.h>
#include <time.h>

#include "common/cron.h"

#define CTL_MAX_MISSED 100

struct ctl_sched_in {
    const struct retl_cron *cron;
    const char *tz; /* IANA zone; NULL/"" = UTC */
    time_t now;
    time_t last_schedule;        /* status.lastScheduleTime, or 0 */
    time_t created;              /* metadata.creationTimestamp */
    long long starting_deadline; /* seconds; < 0 = none */
};

struct ctl_sched_out {
    time_t due;    /* the most recent slot in (earliest, now] to run, or 0 */
    long missed;   /* slots in (earliest, now], counted up to CTL_MAX_MISSED + 1 */
    bool too_many; /* missed > CTL_MAX_MISSED */
    time_t next;   /* first slot after now, or 0 when none in 5 years */
};

/* earliest = last_schedule (or created when 0), moved up to
 * now - starting_deadline when a deadline is set. */
void ctl_schedule_decide(const struct ctl_sched_in *in, struct ctl_sched_out *out);

/* Milliseconds from now until `next` plus 100 ms of padding (clock skew, as
 * the CronJob controller), at least 100. */
long ctl_schedule_requeue_ms(time_t now, time_t next);

#endif
