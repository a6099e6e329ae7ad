/* The engine's commands over one job: run (the delta-snapshot state machine),
 * plan, errors, describe and cleanup. Sources and destinations meet only
 * here, through their vtables. */
#ifndef ENG_RUN_H
#define ENG_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/spec.h"
#include "engine/base/secrets.h"
#include "engine/source/source.h"
#include "common/summary.h"

struct eng_ctx {
    const struct retl_job *job;
    const struct eng_secrets *src_sec;
    const struct eng_secrets *dst_sec; /* may be NULL for errors/cleanup */
    long long run;
    enum eng_diff diff;
    double progress_interval; /* seconds; <= 0 disables progress lines */
    bool resync;              /* a new baseline: every row is sent again */
    bool reset;               /* every current row recorded as synced, none sent */
    bool retry_failed;        /* permanently failed rows are sent again too */
};

/* Set from a signal handler: the run stops after the batch in flight and
 * fails with a message (nothing is lost). */
extern volatile sig_atomic_t eng_stop_requested;

/* Parses "join" | "hash" | "except"; NULL or "" is the default. */
bool eng_diff_parse(const char *s, enum eng_diff *out);
const char *eng_diff_name(enum eng_diff d);

/* One sync. Fills s (result, rows, message ...) and returns the exit code. */
int eng_cmd_run(const struct eng_ctx *c, struct retl_summary *s);
/* Dry run: prints one JSON line of what a run would send; loads nothing and
 * leaves the state as it was. */
int eng_cmd_plan(const struct eng_ctx *c, FILE *out);
/* Rows failing now, as a table or a JSON array. */
int eng_cmd_errors(const struct eng_ctx *c, bool json, FILE *out);
/* Destination metadata (columns, required and unique fields). */
int eng_cmd_describe(const struct eng_ctx *c, FILE *out);
/* Drops the job's state tables. */
int eng_cmd_cleanup(const struct eng_ctx *c, FILE *out);

#endif
