/* spec.after (DESIGN.md section 8.5): a job runs once every job it lists (same
 * namespace) has a successful run newer than its own last run. Decided from
 * the informer cache of jobs, so a dependency's status update (its watch
 * event) brings its dependents back at once; nothing is polled. Pure. */
#ifndef RETL_CTL_AFTER_H
#define RETL_CTL_AFTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum ctl_after_state {
    CTL_AFTER_NONE,    /* the job has no spec.after */
    CTL_AFTER_IDLE,    /* no listed job has moved since this job's last run */
    CTL_AFTER_WAITING, /* some have succeeded (or run) since, not all yet */
    CTL_AFTER_DUE,     /* every listed job succeeded since this job's last run */
    CTL_AFTER_MISSING, /* a listed job does not exist: Stalled DependencyNotFound */
    CTL_AFTER_CYCLE,   /* the jobs run after each other in a circle: DependencyCycle */
};

struct ctl_after_out {
    enum ctl_after_state state;
    char message[1024]; /* what it waits for, what is missing, the cycle */
    /* CTL_AFTER_DUE: "name=lastSuccessfulTime;..." of every listed job, the
     * input of the run pod's name (the same successes name the same run). */
    char basis[2048];
};

/* The names rj lists in spec.after (borrowed from rj), at most max; returns
 * how many. */
size_t ctl_after_names(const json_t *rj, const char **names, size_t max);

/* Decides for rj (with status being built) against jobs, the cached
 * ReverseEtlJobs (an array of objects). */
void ctl_after_decide(const json_t *rj, const json_t *status, const json_t *jobs,
                      struct ctl_after_out *out);

/* "<job>-a<8 hex of sha256(basis)>" */
void ctl_after_pod_name(const char *job, const char *basis, char *buf, size_t n);

/* Calls fn(ud, "ns/name") for every job in jobs (same namespace as changed)
 * that lists changed in spec.after: its dependents, to requeue them. */
void ctl_after_dependents(const json_t *jobs, const json_t *changed,
                          void (*fn)(void *ud, const char *key), void *ud);

/* Whether a job event can change what its dependents decide: the job came
 * or went (old or new NULL), its spec.after changed (cycles), or its
 * lastSuccessfulTime or active run moved. */
bool ctl_after_moved(const json_t *old_job, const json_t *new_job);

#endif
