/* The ReverseEtlJob status: metav1.Conditions, run entries, bounded history,
 * totals and errors. Pure functions over a status object (jansson). */
#ifndef RETL_CTL_STATUS_H
#define RETL_CTL_STATUS_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "controller/ctl_runpod.h"

#define CTL_COND_READY "Ready"
#define CTL_COND_RECONCILING "Reconciling"
#define CTL_COND_STALLED "Stalled"
#define CTL_COND_LAST_RUN "LastRunSucceeded"

/* The condition of that type in status.conditions (borrowed), or NULL. */
json_t *ctl_cond_get(const json_t *status, const char *type);
/* "True" | "False" | "Unknown" | NULL when absent. */
const char *ctl_cond_status(const json_t *status, const char *type);
const char *ctl_cond_reason(const json_t *status, const char *type);
/* Sets a condition (added when missing, conditions kept in the order Ready,
 * Reconciling, Stalled, LastRunSucceeded, others). lastTransitionTime moves
 * only when the status value changes. An empty reason becomes "Unknown". */
void ctl_cond_set(json_t *status, const char *type, const char *cond_status,
                  const char *reason, const char *message, long long generation,
                  time_t now);

struct ctl_run_ref {
    long long run;
    const char *pod;
    const char *trigger; /* Schedule, Manual, Dependency, Resync, Reset, Retry */
    time_t scheduled;    /* 0 = none */
};

/* A run entry (the shape of status.lastRun and history items). Ownership:
 * new reference. */
json_t *ctl_run_entry(const struct ctl_run_ref *ref, const struct ctl_outcome *o);

/* Records one finished run: lastRun, history (newest first, at most
 * history_limit), totals, errors, destinationInfo, lastSuccessfulTime; clears
 * status.active when it is this run. entry is borrowed. */
void ctl_status_record(json_t *status, const json_t *entry, const struct ctl_outcome *o,
                       int history_limit);

/* Highest run number status knows about (lastRun, active, history, totals). */
long long ctl_status_max_run(const json_t *status);

#endif
