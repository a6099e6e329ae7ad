/* The active run's progress, read from the tail of the run pod's log: the
 * engine logs a JSON line {"msg":"progress","phase",...} at a steady interval
 * (engine/progress.c); the newest one becomes status.active.progress.
 * Progress is best effort: a log that cannot be read changes nothing. */
#ifndef RETL_CTL_PROGRESS_H
#define RETL_CTL_PROGRESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/error.h"
#include "controller/kube/kube.h"

/* At most one progress write per job per this many seconds. */
#define CTL_PROGRESS_EVERY_S 10
/* Only the last this many bytes of a log tail are looked at. */
#define CTL_PROGRESS_MAX_INPUT 16384
/* Longer lines are not progress lines (they are a few hundred bytes). */
#define CTL_PROGRESS_MAX_LINE 4096

/* The last complete line of text[0..len) that is a JSON object with
 * "msg":"progress", as {phase, extracted, delta, loaded, failed,
 * elapsedSeconds} (fields absent in the line are left out; wrong types are
 * dropped). Garbage, oversize and unterminated (truncated) lines are skipped.
 * Pure. Ownership: *out is a new reference. false when there is none. */
bool ctl_progress_parse(const char *text, size_t len, json_t **out);

/* True when progress (status.active.progress, may be NULL) is due for a
 * refresh at now: absent, without a readable updateTime, or at least
 * CTL_PROGRESS_EVERY_S old. *wait_ms (optional) gets the time until it is
 * due (0 when due). */
bool ctl_progress_due(const json_t *progress, time_t now, long *wait_ms);

/* Whether p (fresh, without updateTime) says something that old (the
 * stored status.active.progress, may be NULL) does not: updateTime is
 * ignored in the comparison. */
bool ctl_progress_changed(const json_t *old, const json_t *p);

/* GETs the tail of the engine container's log of pod ns/pod and parses it.
 * RETL_E_NOT_FOUND when the tail has no progress line yet. Ownership: *out
 * is a new reference. */
retl_err ctl_progress_fetch(struct kube_client *kc, const char *ns, const char *pod,
                            json_t **out, struct retl_errbuf *eb);

#endif
