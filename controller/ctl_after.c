#include "controller/ctl_after.h"

#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/spec.h"
#include "common/timestamp.h"
#include "controller/ctl_runpod.h"

/* Longest chain followed when looking for a cycle. */
#define MAX_DEPTH 64
/* Most jobs one search visits. */
#define MAX_SEEN 1024

size_t ctl_after_names(const json_t *rj, const char **names, size_t max)
{
    size_t n = 0, i;
    json_t *e;
    json_array_foreach (retl_json_path(rj, "spec.after"), i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        if (name && *name && n < max)
            names[n++] = name;
    }
    return n;
}

static const json_t *find_job(const json_t *jobs, const char *ns, const char *name)
{
    size_t i;
    json_t *j;
    json_array_foreach (jobs, i, j) {
        const char *jns = retl_json_str(j, "metadata.namespace");
        const char *jn = retl_json_str(j, "metadata.name");
        if (jns && jn && !strcmp(jns, ns) && !strcmp(jn, name))
            return j;
    }
    return NULL;
}

/* Depth-first search from `at` for `start`; path holds the names so far,
 * seen the jobs already searched (each once, so a wide graph stays linear).
 * Returns whether a cycle back to start was found (path then holds it). */
struct search {
    const json_t *jobs;
    const char *ns, *start;
    const char *path[MAX_DEPTH + 1];
    const char *seen[MAX_SEEN];
    size_t nseen, len;
};

static bool reaches(struct search *s, const char *at, size_t depth)
{
    if (depth >= MAX_DEPTH)
        return false;
    s->path[depth] = at;
    if (depth > 0 && !strcmp(at, s->start)) {
        s->len = depth + 1;
        return true;
    }
    for (size_t k = 0; k < s->nseen; k++)
        if (!strcmp(s->seen[k], at))
            return false;
    if (s->nseen < MAX_SEEN)
        s->seen[s->nseen++] = at;
    const json_t *j = find_job(s->jobs, s->ns, at);
    const char *names[RETL_MAX_AFTER];
    size_t n = j ? ctl_after_names(j, names, RETL_MAX_AFTER) : 0;
    for (size_t i = 0; i < n; i++)
        if (reaches(s, names[i], depth + 1))
            return true;
    return false;
}

/* When this job last ran (its active run, else its last run), else when it
 * was created: a dependency's success must be newer. */
static time_t reference(const json_t *rj, const json_t *status)
{
    time_t t = 0;
    if (retl_time_parse(retl_json_str(status, "active.startTime"), &t) ||
        retl_time_parse(retl_json_str(status, "lastRun.startTime"), &t))
        return t;
    retl_time_parse(retl_json_str(rj, "metadata.creationTimestamp"), &t);
    return t;
}

/* Whether "name=time" is one of the ';'-separated parts of basis. */
static bool basis_has(const char *basis, const char *part)
{
    size_t l = strlen(part);
    for (const char *p = basis; p && *p;) {
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == l && !strncmp(p, part, l))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Times have whole seconds, so a success in the reference's own second may
 * have come before or after it. It counts unless it is one the latest
 * dependency run was started by (status.lastHandledDependencies): a spare run
 * sends only changed rows, a missed one leaves the data stale until the
 * dependency succeeds again. */
static bool newer(const char *name, const char *ok, time_t ref, const char *handled)
{
    time_t t = 0;
    if (!ok || !retl_time_parse(ok, &t) || t < ref)
        return false;
    if (t > ref)
        return true;
    char part[160];
    snprintf(part, sizeof part, "%s=%s", name, ok);
    return !basis_has(handled, part);
}

static void add(char *buf, size_t n, const char *sep, const char *s)
{
    size_t l = strlen(buf);
    if (l < n)
        snprintf(buf + l, n - l, "%s%s", l ? sep : "", s);
}

void ctl_after_decide(const json_t *rj, const json_t *status, const json_t *jobs,
                      struct ctl_after_out *out)
{
    memset(out, 0, sizeof *out);
    const char *names[RETL_MAX_AFTER];
    size_t n = ctl_after_names(rj, names, RETL_MAX_AFTER);
    if (n == 0)
        return;
    const char *ns = retl_json_str(rj, "metadata.namespace");
    const char *self = retl_json_str(rj, "metadata.name");
    if (!ns || !self)
        return;

    char missing[512] = "";
    for (size_t i = 0; i < n; i++)
        if (!find_job(jobs, ns, names[i]))
            add(missing, sizeof missing, ", ", names[i]);
    if (missing[0]) {
        out->state = CTL_AFTER_MISSING;
        snprintf(out->message, sizeof out->message,
                 "spec.after names jobs that do not exist in namespace %s: %s", ns,
                 missing);
        return;
    }
    struct search srch = {.jobs = jobs, .ns = ns, .start = self};
    if (reaches(&srch, self, 0)) {
        char chain[768] = "";
        for (size_t i = 0; i < srch.len; i++)
            add(chain, sizeof chain, " -> ", srch.path[i]);
        out->state = CTL_AFTER_CYCLE;
        snprintf(out->message, sizeof out->message,
                 "spec.after makes a cycle: %s (each waits for the other)", chain);
        return;
    }

    time_t ref = reference(rj, status);
    const char *handled = retl_json_str(status, "lastHandledDependencies");
    char waiting[512] = "", done[512] = "";
    bool moving = false;
    for (size_t i = 0; i < n; i++) {
        const json_t *d = find_job(jobs, ns, names[i]);
        const json_t *ds = json_object_get(d, "status");
        const char *ok = retl_json_str(ds, "lastSuccessfulTime");
        if (newer(names[i], ok, ref, handled)) {
            add(done, sizeof done, ", ", names[i]);
            moving = true;
            char part[160];
            snprintf(part, sizeof part, "%s=%s", names[i], ok);
            add(out->basis, sizeof out->basis, ";", part);
        } else {
            add(waiting, sizeof waiting, ", ", names[i]);
            moving |= retl_json_path(ds, "active.pod") != NULL;
        }
    }
    if (!waiting[0]) {
        out->state = CTL_AFTER_DUE;
        snprintf(out->message, sizeof out->message, "%s succeeded since the last run",
                 done);
    } else if (moving) {
        out->state = CTL_AFTER_WAITING;
        snprintf(out->message, sizeof out->message,
                 "waiting for a successful run of %s%s%s", waiting,
                 done[0] ? " (done: " : "", done[0] ? done : "");
        if (done[0])
            add(out->message, sizeof out->message, "", ")");
    } else {
        out->state = CTL_AFTER_IDLE;
        snprintf(out->message, sizeof out->message, "runs after a successful run of %s",
                 waiting);
    }
}

void ctl_after_pod_name(const char *job, const char *basis, char *buf, size_t n)
{
    ctl_pod_name_manual(job, basis, buf, n);
    /* "<job>-m..." -> "<job>-a...": dependency runs are told apart by name. */
    size_t l = strlen(job);
    if (strlen(buf) > l + 1)
        buf[l + 1] = 'a';
}

void ctl_after_dependents(const json_t *jobs, const json_t *changed,
                          void (*fn)(void *ud, const char *key), void *ud)
{
    const char *ns = retl_json_str(changed, "metadata.namespace");
    const char *name = retl_json_str(changed, "metadata.name");
    if (!ns || !name)
        return;
    size_t i;
    json_t *j;
    json_array_foreach (jobs, i, j) {
        const char *jns = retl_json_str(j, "metadata.namespace");
        const char *jn = retl_json_str(j, "metadata.name");
        if (!jns || !jn || strcmp(jns, ns) != 0)
            continue;
        const char *names[RETL_MAX_AFTER];
        size_t n = ctl_after_names(j, names, RETL_MAX_AFTER);
        for (size_t k = 0; k < n; k++) {
            if (!strcmp(names[k], name)) {
                char key[512];
                snprintf(key, sizeof key, "%s/%s", jns, jn);
                fn(ud, key);
                break;
            }
        }
    }
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

bool ctl_after_moved(const json_t *old_job, const json_t *new_job)
{
    if (!old_job || !new_job)
        return true;
    const json_t *oa = retl_json_path(old_job, "spec.after");
    const json_t *na = retl_json_path(new_job, "spec.after");
    if ((oa || na) && !(oa && na && json_equal(oa, na)))
        return true; /* a cycle through this job may have come or gone */
    return !same_str(retl_json_str(old_job, "status.lastSuccessfulTime"),
                     retl_json_str(new_job, "status.lastSuccessfulTime")) ||
           !same_str(retl_json_str(old_job, "status.active.pod"),
                     retl_json_str(new_job, "status.active.pod"));
}
