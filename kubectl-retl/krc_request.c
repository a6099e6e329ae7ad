/* run, resync, reset, retry: set the request annotation to a new value (the
 * controller starts exactly one run for it) and, with --wait, follow the job
 * until the run named by that value is recorded. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/summary.h"
#include "controller/ctl_request.h"
#include "controller/ctl_status.h"
#include "kubectl-retl/krc.h"

/* Pause before a new GET after a failed read or watch. */
#define POLL_MS 500

/* The run entry of pod in status (lastRun or history), or NULL. */
static const json_t *find_run(const json_t *status, const char *pod)
{
    const json_t *last = json_object_get(status, "lastRun");
    if (last &&
        !strcmp(retl_json_str(last, "pod") ? retl_json_str(last, "pod") : "", pod))
        return last;
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(status, "history"), i, e) {
        const char *p = retl_json_str(e, "pod");
        if (p && !strcmp(p, pod))
            return e;
    }
    return NULL;
}

static long long row(const json_t *e, const char *k)
{
    return (long long)json_integer_value(json_object_get(json_object_get(e, "rows"), k));
}

/* Prints the run and returns the engine's exit code for it. */
static int report(const json_t *e)
{
    const char *res = retl_json_str(e, "result");
    const char *reason = retl_json_str(e, "reason");
    const char *msg = retl_json_str(e, "message");
    long long run = 0, ec = -1;
    retl_json_int(e, "run", &run);
    retl_json_int(e, "exitCode", &ec);
    printf("run %lld (pod %s, %s): %s%s%s in %.1fs: extracted %lld, changed %lld, "
           "inserted %lld, updated %lld, deleted %lld, failed %lld\n",
           run, retl_json_str(e, "pod"), retl_json_str(e, "trigger"), res ? res : "?",
           reason ? " " : "", reason ? reason : "",
           json_number_value(json_object_get(e, "durationSeconds")), row(e, "extracted"),
           row(e, "changed"), row(e, "inserted"), row(e, "updated"), row(e, "deleted"),
           row(e, "failed"));
    if (msg && *msg)
        printf("  %s\n", msg);
    if (res && !strcmp(res, retl_result_name(RETL_RESULT_SUCCEEDED)))
        return RETL_EXIT_OK;
    if (res && !strcmp(res, retl_result_name(RETL_RESULT_THRESHOLD)))
        return RETL_EXIT_THRESHOLD;
    if (ec == RETL_EXIT_USAGE || (reason && !strcmp(reason, "RunRejected")))
        return RETL_EXIT_USAGE;
    return RETL_EXIT_FAILED;
}

/* A stall the request cannot get past (the controller starts no run). */
static const char *blocking_stall(const json_t *status)
{
    const char *st = ctl_cond_status(status, CTL_COND_STALLED);
    const char *r = ctl_cond_reason(status, CTL_COND_STALLED);
    if (st && !strcmp(st, "True") && r && !strcmp(r, "InvalidSpec"))
        return json_string_value(
            json_object_get(ctl_cond_get(status, CTL_COND_STALLED), "message"));
    return NULL;
}

struct waiter {
    struct krc *k;
    const struct ctl_request *rq;
    const char *value, *pod;
    bool announced, done;
    int code;
};

/* Looks at one state of the job: done (w->code set) when the run of the
 * request is recorded or cannot come. */
static void look(struct waiter *w, const json_t *rj)
{
    const json_t *st = json_object_get(rj, "status");
    const json_t *run = find_run(st, w->pod);
    if (run) {
        w->code = report(run);
        w->done = true;
        return;
    }
    const char *stall = blocking_stall(st);
    const char *handled = retl_json_str(st, w->rq->status_field);
    if (stall && !(handled && !strcmp(handled, w->value))) {
        fprintf(stderr, "error: the job cannot run: %s\n", stall);
        w->code = RETL_EXIT_USAGE;
        w->done = true;
        return;
    }
    const char *apod = retl_json_str(st, "active.pod");
    if (!w->announced && apod && !strcmp(apod, w->pod)) {
        long long n = 0;
        retl_json_int(st, "active.run", &n);
        fprintf(stderr, "run %lld started in pod %s\n", n, w->pod);
        w->announced = true;
    }
}

static retl_err on_event(void *ud, enum kube_watch_type type, json_t *obj,
                         struct retl_errbuf *eb)
{
    struct waiter *w = ud;
    if (type == KUBE_WATCH_DELETED) {
        fprintf(stderr, "error: reverseetljob %s/%s was deleted while waiting\n",
                w->k->ns, w->k->job);
        w->code = RETL_EXIT_FAILED;
        w->done = true;
    } else if (type == KUBE_WATCH_ERROR) {
        return retl_errf(eb, RETL_E_GONE, "watch: %s", retl_json_str(obj, "message"));
    } else if (type != KUBE_WATCH_BOOKMARK) {
        look(w, obj);
    }
    return w->done ? RETL_E_CANCELLED : RETL_E_OK;
}

/* Follows the job (a GET, then a watch of it from that resourceVersion,
 * again after the server ends the watch) until the request's run is recorded,
 * the deadline passes or a signal comes. */
static int wait_for(struct krc *k, const struct ctl_request *rq, const char *value,
                    const char *pod)
{
    double deadline = k->timeout_s > 0 ? krc_now() + (double)k->timeout_s : 0;
    struct waiter w = {.k = k, .rq = rq, .value = value, .pod = pod};
    char sel[128];
    snprintf(sel, sizeof sel, "metadata.name=%s", k->job);
    for (;;) {
        json_t *rj = NULL;
        struct retl_errbuf eb = {{0}};
        retl_err e = kube_get(k->kc, &kube_gvr_reverseetljobs, k->ns, k->job, &rj, &eb);
        if (e == RETL_E_NOT_FOUND) {
            fprintf(stderr, "error: reverseetljob %s/%s was deleted while waiting\n",
                    k->ns, k->job);
            return RETL_EXIT_FAILED;
        }
        if (e == RETL_E_OK) {
            look(&w, rj);
            if (!w.done) {
                double left = deadline ? deadline - krc_now() : 300;
                struct kube_watch_opts wo = {.resource_version = kube_obj_rv(rj),
                                             .field_selector = sel,
                                             .timeout_seconds =
                                                 left < 1 ? 1 : (long)left};
                e = kube_watch(k->kc, &kube_gvr_reverseetljobs, k->ns, &wo, on_event, &w,
                               &krc_stop, &eb);
                if (e && e != RETL_E_CANCELLED && e != RETL_E_GONE)
                    fprintf(stderr, "warning: watching the job: %s (retrying)\n",
                            retl_errbuf_msg(&eb, e));
            }
        } else {
            fprintf(stderr, "warning: reading the job: %s (retrying)\n",
                    retl_errbuf_msg(&eb, e));
        }
        json_decref(rj);
        if (w.done)
            return w.code;
        if (deadline && krc_now() >= deadline) {
            fprintf(stderr,
                    "error: timed out after %lds waiting for the run of %s in pod %s; "
                    "it goes on (kubectl retl status %s -n %s)\n",
                    k->timeout_s, k->job, pod, k->job, k->ns);
            return RETL_EXIT_FAILED;
        }
        if (atomic_load(&krc_stop) || !krc_sleep_ms(e ? POLL_MS : 0)) {
            fprintf(stderr, "interrupted; the run goes on (pod %s)\n", pod);
            return RETL_EXIT_FAILED;
        }
    }
}

int krc_request(struct krc *k, const char *verb)
{
    const struct ctl_request *rq = ctl_request_by_verb(verb);
    struct retl_errbuf eb = {{0}};
    if (!rq)
        return RETL_EXIT_USAGE;
    /* A new value every time (nanoseconds): each call is one run. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char base[32], value[48];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(value, sizeof value, "%s.%09ldZ", base, ts.tv_nsec);

    json_t *patch =
        json_pack("{s:{s:{s:s}}}", "metadata", "annotations", rq->annotation, value);
    struct kube_patch_opts po = {.field_manager = "kubectl-retl"};
    retl_err e = patch ? kube_patch(k->kc, &kube_gvr_reverseetljobs, k->ns, k->job,
                                    KUBE_PATCH_MERGE, patch, &po, NULL, &eb)
                       : RETL_E_NOMEM;
    json_decref(patch);
    if (e) {
        fprintf(stderr, "error: annotating reverseetljob %s/%s: %s\n", k->ns, k->job,
                retl_errbuf_msg(&eb, e));
        return e == RETL_E_NOT_FOUND ? RETL_EXIT_USAGE : RETL_EXIT_FAILED;
    }
    printf("reverseetljob.retl.io/%s: %s requested (%s=%s)\n", k->job, verb,
           rq->annotation, value);
    fflush(stdout);
    if (!k->wait)
        return RETL_EXIT_OK;
    char pod[64];
    if (!ctl_request_pod_name(rq, k->job, value, pod, sizeof pod))
        return RETL_EXIT_FAILED;
    return wait_for(k, rq, value, pod);
}
