/* status: the job's conditions, the run in progress and the last runs as a
 * table (newest first), from the resource's status as the controller wrote it. */
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/summary.h"
#include "controller/ctl_status.h"
#include "kubectl-retl/krc.h"

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

static long long rows(const json_t *e, const char *k)
{
    return (long long)json_integer_value(json_object_get(json_object_get(e, "rows"), k));
}

/* One table line; the message is cut so a line stays readable. */
static void run_line(const json_t *e)
{
    long long run = 0;
    retl_json_int(e, "run", &run);
    const char *res = retl_json_str(e, "result");
    const char *reason = retl_json_str(e, "reason");
    char result[64];
    snprintf(result, sizeof result, "%s%s%s", or_dash(res), reason ? "/" : "",
             reason ? reason : "");
    const char *msg = or_dash(retl_json_str(e, "message"));
    printf("%-5lld %-10s %-28s %-20s %8.1f %8lld %8lld %8lld %7lld  %.60s%s\n", run,
           or_dash(retl_json_str(e, "trigger")), result,
           or_dash(retl_json_str(e, "startTime")),
           json_number_value(json_object_get(e, "durationSeconds")), rows(e, "changed"),
           rows(e, "inserted"), rows(e, "updated"), rows(e, "failed"), msg,
           strlen(msg) > 60 ? "..." : "");
}

int krc_status(struct krc *k)
{
    const json_t *st = json_object_get(k->rj, "status");
    printf("reverseetljob %s/%s: %s -> %s %s, mode %s, schedule %s\n", k->ns, k->job,
           or_dash(retl_json_str(k->rj, "spec.source.type")),
           or_dash(retl_json_str(k->rj, "spec.destination.type")),
           or_dash(retl_json_str(k->rj, "spec.destination.object")),
           or_dash(retl_json_str(k->rj, "spec.mode")),
           or_dash(retl_json_str(k->rj, "spec.schedule")));
    size_t i;
    json_t *a;
    size_t n_after = 0;
    json_array_foreach (retl_json_path(k->rj, "spec.after"), i, a) {
        printf("%s%s", i ? ", " : "runs after: ", or_dash(retl_json_str(a, "name")));
        n_after++;
    }
    if (n_after)
        printf("\n");
    static const char *const conds[] = {CTL_COND_READY, CTL_COND_RECONCILING,
                                        CTL_COND_STALLED, CTL_COND_LAST_RUN};
    for (i = 0; i < sizeof conds / sizeof conds[0]; i++) {
        const json_t *c = ctl_cond_get(st, conds[i]);
        if (!c)
            continue;
        printf("  %-17s %-7s %-24s %s\n", conds[i], or_dash(retl_json_str(c, "status")),
               or_dash(retl_json_str(c, "reason")), or_dash(retl_json_str(c, "message")));
    }
    const char *apod = retl_json_str(st, "active.pod");
    if (apod) {
        long long run = 0;
        retl_json_int(st, "active.run", &run);
        printf("running: run %lld in pod %s since %s (%s)", run, apod,
               or_dash(retl_json_str(st, "active.startTime")),
               or_dash(retl_json_str(st, "active.trigger")));
        const char *phase = retl_json_str(st, "active.progress.phase");
        if (phase)
            printf(", %s", phase);
        printf("\n");
    }
    const char *next = retl_json_str(st, "nextScheduleTime");
    if (next)
        printf("next scheduled run: %s\n", next);
    long long failing = 0;
    if (retl_json_int(st, "errors.failingRows", &failing))
        printf("rows failing now: %lld (kubectl retl errors %s -n %s)\n", failing, k->job,
               k->ns);
    const json_t *hist = json_object_get(st, "history");
    const json_t *last = json_object_get(st, "lastRun");
    if (!json_array_size(hist) && !last) {
        printf("no run has finished yet\n");
        return RETL_EXIT_OK;
    }
    printf("%-5s %-10s %-28s %-20s %8s %8s %8s %8s %7s  %s\n", "RUN", "TRIGGER", "RESULT",
           "STARTED", "SECONDS", "CHANGED", "INSERTED", "UPDATED", "FAILED", "MESSAGE");
    if (json_array_size(hist)) {
        json_array_foreach (hist, i, a) {
            run_line(a);
        }
    } else {
        run_line(last);
    }
    return RETL_EXIT_OK;
}
