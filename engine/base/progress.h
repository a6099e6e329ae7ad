/* A background thread that logs the run's progress at a steady interval
 * (rows extracted and loaded so far), also while a long statement runs. */
#ifndef ENG_PROGRESS_H
#define ENG_PROGRESS_H

#include <stdatomic.h>

struct eng_progress {
    _Atomic(const char *) phase; /* static string: "connecting", "staging"... */
    _Atomic long long extracted;
    _Atomic long long delta;
    _Atomic long long loaded;
    _Atomic long long failed;
};

/* Starts logging p every interval_s seconds (<= 0: never). p must outlive
 * eng_progress_stop. */
void eng_progress_start(struct eng_progress *p, double interval_s);
void eng_progress_stop(void);

#endif
