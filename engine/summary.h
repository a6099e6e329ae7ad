/* The run summary: the JSON object (at most 4096 bytes) the engine writes to
 * the termination message path and as its last stdout line, the exit code,
 * and the error threshold rule. Pure. */
#ifndef ENG_SUMMARY_H
#define ENG_SUMMARY_H

#include <jansson.h>
#include <stdbool.h>

#define ENG_SUMMARY_MAX 4096

enum eng_result { ENG_SUCCEEDED, ENG_FAILED, ENG_THRESHOLD };

/* Exit codes (DESIGN.md section 5). */
#define ENG_EXIT_OK 0
#define ENG_EXIT_FAILED 1
#define ENG_EXIT_USAGE 2
#define ENG_EXIT_THRESHOLD 3

struct eng_summary {
    long long run;
    enum eng_result result;
    long long extracted, changed, inserted, updated, deleted, failed;
    double duration;
    char message[1024];
    json_t *dest_info;      /* borrowed, may be NULL */
    json_t *extra;          /* borrowed object merged in (backend figures) */
    char errors_table[160]; /* "schema.table", "" when unknown */
    long long failing_rows; /* -1 when unknown */
};

void eng_summary_init(struct eng_summary *s, long long run);
/* "Succeeded" | "Failed" | "ThresholdExceeded" */
const char *eng_result_name(enum eng_result r);
int eng_summary_exit(const struct eng_summary *s);
/* Compact JSON of at most ENG_SUMMARY_MAX bytes: when too long, backend
 * figures, then destinationInfo are dropped and the message is shortened.
 * Ownership: caller frees. NULL only when out of memory. */
char *eng_summary_json(const struct eng_summary *s);
/* Whether failed rows out of attempted exceed maxFailedRows (-1 = none) or
 * maxFailedPercent (-1 = none). */
bool eng_threshold_exceeded(long long failed, long long attempted, long long max_rows,
                            double max_pct);

#endif
