/* The run summary: the contract between the engine, which writes it, and the
 * controller, which reads it (DESIGN.md sections 3 and 5). The JSON object (at
 * most 4096 bytes) goes to the termination message path and is the engine's
 * last stdout line; the exit code says the same result. Result names, exit
 * codes, keys and row counters are defined here once for both binaries. Pure. */
#ifndef RETL_SUMMARY_H
#define RETL_SUMMARY_H

#include <jansson.h>
#include <stdbool.h>

#define RETL_SUMMARY_MAX 4096

enum retl_result { RETL_RESULT_SUCCEEDED, RETL_RESULT_FAILED, RETL_RESULT_THRESHOLD };

/* Exit codes (DESIGN.md section 5). */
#define RETL_EXIT_OK 0
#define RETL_EXIT_FAILED 1
#define RETL_EXIT_USAGE 2
#define RETL_EXIT_THRESHOLD 3

/* Keys of the summary object. */
#define RETL_SUM_RUN "run"
#define RETL_SUM_RESULT "result"
#define RETL_SUM_ROWS "rows"
#define RETL_SUM_DURATION "durationSeconds"
#define RETL_SUM_MESSAGE "message"
#define RETL_SUM_DEST_INFO "destinationInfo"
#define RETL_SUM_ERRORS_TABLE "errorsTable"
#define RETL_SUM_FAILING_ROWS "failingRows"
/* Of those, the rows that failed permanently (resent only when they change
 * or a retry is requested); absent when the source cannot tell. */
#define RETL_SUM_FAILING_PERMANENT "failingRowsPermanent"
/* Why a run failed, when more specific than the result (e.g. DeleteGuard:
 * spec.deletes.maxPercent); the controller uses it as the condition reason. */
#define RETL_SUM_REASON "reason"
/* The run found more deletes than spec.deletes.maxPercent allows. */
#define RETL_REASON_DELETE_GUARD "DeleteGuard"

/* The row counters under "rows", in output order: X(field, "jsonKey"). A new
 * counter is one line here; the engine fills the field, the controller copies
 * every key into status. */
#define RETL_SUMMARY_ROWS(X)                                                             \
    X(extracted, "extracted")                                                            \
    X(changed, "changed")                                                                \
    X(inserted, "inserted")                                                              \
    X(updated, "updated")                                                                \
    X(deleted, "deleted")                                                                \
    X(cleared, "cleared")                                                                \
    X(skipped_permanent, "skippedPermanent")                                             \
    X(failed, "failed")

/* The row counter keys in order, NULL-terminated. */
extern const char *const retl_summary_row_keys[];

struct retl_summary {
    long long run;
    enum retl_result result;
#define RETL_SUM_FIELD(f, k) long long f;
    RETL_SUMMARY_ROWS(RETL_SUM_FIELD)
#undef RETL_SUM_FIELD
    double duration;
    char message[1024];
    json_t *dest_info;           /* borrowed, may be NULL */
    json_t *extra;               /* borrowed object merged in (backend figures) */
    char errors_table[160];      /* "schema.table", "" when unknown */
    long long failing_rows;      /* -1 when unknown */
    long long failing_permanent; /* -1 when unknown */
    char reason[32];             /* "" when the result says it all */
};

void retl_summary_init(struct retl_summary *s, long long run);
/* "Succeeded" | "Failed" | "ThresholdExceeded" */
const char *retl_result_name(enum retl_result r);
/* The result a name stands for; false for anything else. */
bool retl_result_parse(const char *name, enum retl_result *out);
/* The result an exit code stands for when no summary could be read. */
enum retl_result retl_result_for_exit(int code);
int retl_summary_exit(const struct retl_summary *s);
/* Compact JSON of at most RETL_SUMMARY_MAX bytes: when too long, backend
 * figures, then destinationInfo are dropped and the message is shortened.
 * Ownership: caller frees. NULL only when out of memory. */
char *retl_summary_json(const struct retl_summary *s);
/* Whether failed rows out of attempted exceed maxFailedRows (-1 = none) or
 * maxFailedPercent (-1 = none). */
bool retl_threshold_exceeded(long long failed, long long attempted, long long max_rows,
                             double max_pct);

#endif
