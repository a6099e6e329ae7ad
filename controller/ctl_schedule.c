#include "controller/ctl_schedule.h"

/* The latest slot in (from, now], or 0. Walks forward from the start of
 * growing windows before now, so a dense schedule never walks far. */
static time_t latest_slot(const struct ctl_sched_in *in, time_t from)
{
    static const long windows[] = {3600L, 86400L, 31L * 86400, 366L * 86400,
                                   5L * 366 * 86400};
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++) {
        time_t start = in->now - windows[i];
        if (start < from)
            start = from;
        time_t last = 0;
        for (time_t t = retl_cron_next(in->cron, in->tz, start);
             t != (time_t)-1 && t <= in->now; t = retl_cron_next(in->cron, in->tz, t))
            last = t;
        if (last || start == from)
            return last;
    }
    return 0;
}

void ctl_schedule_decide(const struct ctl_sched_in *in, struct ctl_sched_out *out)
{
    *out = (struct ctl_sched_out){0};
    time_t earliest = in->last_schedule ? in->last_schedule : in->created;
    if (in->starting_deadline >= 0 && earliest < in->now - in->starting_deadline)
        earliest = in->now - (time_t)in->starting_deadline;

    time_t t = retl_cron_next(in->cron, in->tz, earliest);
    while (t != (time_t)-1 && t <= in->now && out->missed <= CTL_MAX_MISSED) {
        out->due = t;
        out->missed++;
        t = retl_cron_next(in->cron, in->tz, t);
    }
    if (out->missed > CTL_MAX_MISSED) {
        out->too_many = true;
        out->due = latest_slot(in, earliest);
    }
    time_t n = retl_cron_next(in->cron, in->tz, in->now);
    out->next = n == (time_t)-1 ? 0 : n;
}

long ctl_schedule_requeue_ms(time_t now, time_t next)
{
    if (next <= now)
        return 100;
    double ms = ((double)(next - now)) * 1000.0 + 100.0;
    if (ms > 86400000.0 * 24)
        ms = 86400000.0 * 24;
    return (long)ms;
}
