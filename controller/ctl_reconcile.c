#include "controller/ctl_reconcile.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"
#include "common/json.h"
#include "common/summary.h"
#include "common/log.h"
#include "common/spec.h"
#include "controller/ctl_progress.h"
#include "controller/ctl_runpod.h"
#include "controller/ctl_schedule.h"
#include "controller/ctl_status.h"
#include "controller/ctl_time.h"
#include "controller/metrics.h"

#define MAX_ACTIONS 64
#define CLEANUP_RETRY_MS 30000

struct pending_event {
    const char *type;
    const char *reason;
    char note[1100];
};

/* One reconcile's working state. */
struct rc {
    struct ctl *c;
    json_t *rj;     /* cached object (shared, read-only) */
    json_t *status; /* the status being built (owned copy) */
    const char *ns, *name, *uid;
    long long gen;
    struct retl_job *job; /* NULL when the spec is invalid */
    time_t now;
    json_t *pods; /* this job's run pods (array, owned) */
    char deletes[MAX_ACTIONS][CTL_POD_NAME_MAX];
    size_t n_deletes;
    struct pending_event events[MAX_ACTIONS];
    size_t n_events;
    /* A run result that means the job cannot work as it is. */
    char stall_reason[64];
    char stall_msg[1024];
    bool ran_ok; /* a run succeeded in this reconcile */
};

static time_t now_of(const struct ctl *c)
{
    return c->now ? c->now() : time(NULL);
}

static void add_event(struct rc *r, const char *type, const char *reason, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

static void add_event(struct rc *r, const char *type, const char *reason, const char *fmt,
                      ...)
{
    if (r->n_events >= MAX_ACTIONS)
        return;
    struct pending_event *e = &r->events[r->n_events++];
    e->type = type;
    e->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->note, sizeof e->note, fmt, ap);
    va_end(ap);
}

static void add_delete(struct rc *r, const char *pod)
{
    for (size_t i = 0; i < r->n_deletes; i++)
        if (strcmp(r->deletes[i], pod) == 0)
            return;
    if (r->n_deletes < MAX_ACTIONS)
        snprintf(r->deletes[r->n_deletes++], CTL_POD_NAME_MAX, "%s", pod);
}

static const char *label(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(retl_json_path(obj, "metadata.labels"), key));
}

static const char *annotation(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(retl_json_path(obj, "metadata.annotations"), key));
}

static int cmp_run(const void *a, const void *b)
{
    long long x = ctl_pod_run(*(json_t *const *)a), y = ctl_pod_run(*(json_t *const *)b);
    return x < y ? -1 : x > y;
}

/* This job's pods from the cache, sorted by run number. */
static json_t *job_pods(struct ctl *c, const char *ns, const char *name, const char *uid)
{
    json_t *all = kube_informer_list(c->pods);
    json_t *out = json_array();
    size_t i;
    json_t *p;
    json_array_foreach (all, i, p) {
        const char *pns = kube_obj_namespace(p);
        const char *job = label(p, CTL_LABEL_JOB);
        if (pns && job && !strcmp(pns, ns) && !strcmp(job, name) &&
            ctl_pod_owned_by(p, uid))
            json_array_append(out, p);
    }
    json_decref(all);
    size_t n = json_array_size(out);
    if (n > 1) {
        json_t **v = malloc(n * sizeof *v);
        if (v) {
            for (i = 0; i < n; i++)
                v[i] = json_incref(json_array_get(out, i));
            qsort(v, n, sizeof *v, cmp_run);
            json_array_clear(out);
            for (i = 0; i < n; i++)
                json_array_append_new(out, v[i]);
            free(v);
        }
    }
    return out;
}

static bool is_cleanup_pod(const json_t *pod)
{
    const char *v = label(pod, CTL_LABEL_CLEANUP);
    return v && !strcmp(v, "true");
}

static bool has_finalizer(const json_t *rj)
{
    size_t i;
    json_t *f;
    json_array_foreach (retl_json_path(rj, "metadata.finalizers"), i, f) {
        if (json_string_value(f) && !strcmp(json_string_value(f), CTL_FINALIZER))
            return true;
    }
    return false;
}

/* Adds or removes our finalizer with a merge patch that carries the
 * resourceVersion, so a concurrent change of the list is never lost. */
static retl_err set_finalizer(struct ctl *c, const json_t *rj, bool present,
                              struct retl_errbuf *eb)
{
    json_t *list = json_array();
    size_t i;
    json_t *f;
    json_array_foreach (retl_json_path(rj, "metadata.finalizers"), i, f) {
        if (!json_string_value(f) || strcmp(json_string_value(f), CTL_FINALIZER))
            json_array_append(list, f);
    }
    if (present)
        json_array_append_new(list, json_string(CTL_FINALIZER));
    json_t *patch = json_pack("{s:{s:o, s:s}}", "metadata", "finalizers", list,
                              "resourceVersion", kube_obj_rv(rj) ? kube_obj_rv(rj) : "");
    retl_err e = kube_patch(c->kc, &kube_gvr_reverseetljobs, kube_obj_namespace(rj),
                            kube_obj_name(rj), KUBE_PATCH_MERGE, patch, NULL, NULL, eb);
    json_decref(patch);
    return e;
}

static void emit(struct rc *r)
{
    for (size_t i = 0; i < r->n_events; i++) {
        struct pending_event *e = &r->events[i];
        RETL_LOG(strcmp(e->type, KUBE_EVENT_WARNING) ? RETL_LOG_INFO : RETL_LOG_WARN,
                 e->note, RF_S("namespace", r->ns), RF_S("job", r->name),
                 RF_S("reason", e->reason));
        if (r->c->events)
            kube_eventf(r->c->events, r->rj, e->type, e->reason, NULL, "%s", e->note);
    }
}

static void delete_pods(struct rc *r)
{
    for (size_t i = 0; i < r->n_deletes; i++) {
        struct retl_errbuf eb = {{0}};
        struct kube_delete_opts o = {.propagation = "Background",
                                     .grace_period_seconds = -1};
        retl_err e = kube_delete(r->c->kc, &kube_gvr_pods, r->ns, r->deletes[i], &o, &eb);
        if (e && e != RETL_E_NOT_FOUND)
            RETL_LOG_WARN("deleting run pod failed", RF_S("namespace", r->ns),
                          RF_S("pod", r->deletes[i]), RF_S("error", eb.msg));
    }
}

/* ---- recording runs ------------------------------------------------------ */

static void record(struct rc *r, const json_t *pod, const char *pod_name, long long run,
                   struct ctl_outcome *o)
{
    struct ctl_run_ref ref = {.run = run, .pod = pod_name, .trigger = "Manual"};
    const char *trig = pod ? annotation(pod, CTL_ANN_TRIGGER) : NULL;
    if (!pod) {
        trig = retl_json_str(r->status, "active.trigger");
        ctl_time_parse(retl_json_str(r->status, "active.scheduledTime"), &ref.scheduled);
        ctl_time_parse(retl_json_str(r->status, "active.startTime"), &o->started);
    } else {
        ctl_time_parse(annotation(pod, CTL_ANN_SCHEDULED), &ref.scheduled);
    }
    if (trig)
        ref.trigger = trig;
    json_t *entry = ctl_run_entry(&ref, o);
    ctl_status_record(r->status, entry, o, r->job ? r->job->history_limit : 10);

    long long synced = json_integer_value(retl_json_path(entry, "rows.inserted")) +
                       json_integer_value(retl_json_path(entry, "rows.updated")) +
                       json_integer_value(retl_json_path(entry, "rows.deleted"));
    long long failed = json_integer_value(retl_json_path(entry, "rows.failed"));
    long long changed = json_integer_value(retl_json_path(entry, "rows.changed"));
    double dur = json_number_value(json_object_get(entry, "durationSeconds"));
    ctl_metrics_run_finished(r->ns, r->name, o->result, (uint64_t)synced,
                             (uint64_t)failed, dur, (double)o->finished);
    long long failing = 0;
    if (retl_json_int(r->status, "errors.failingRows", &failing))
        ctl_metrics_rows_failing(r->ns, r->name, (uint64_t)failing);
    json_decref(entry);

    if (!strcmp(o->result, retl_result_name(RETL_RESULT_SUCCEEDED))) {
        r->ran_ok = true;
        r->stall_reason[0] = '\0';
        add_event(
            r, KUBE_EVENT_NORMAL, "RunSucceeded",
            "run %lld (%s) succeeded: %lld changed, %lld synced, %lld failed in %.1fs",
            run, pod_name, changed, synced, failed, dur);
    } else if (!strcmp(o->result, retl_result_name(RETL_RESULT_THRESHOLD))) {
        add_event(r, KUBE_EVENT_WARNING, "ThresholdExceeded",
                  "run %lld (%s) exceeded the error threshold: %lld rows failed: %s", run,
                  pod_name, failed, o->message);
    } else {
        add_event(r, KUBE_EVENT_WARNING, "RunFailed", "run %lld (%s) failed%s%s: %s", run,
                  pod_name, o->reason[0] ? " with " : "", o->reason, o->message);
    }
    RETL_LOG_INFO("run recorded", RF_S("namespace", r->ns), RF_S("job", r->name),
                  RF_I("run", run), RF_S("pod", pod_name), RF_S("result", o->result));
}

/* A result that no retry can fix without a change (bad config, spec refused
 * by the engine) makes the job Stalled until a run succeeds or the spec
 * changes. */
static void note_stall(struct rc *r, const struct ctl_outcome *o, bool stuck)
{
    if (stuck) {
        snprintf(r->stall_reason, sizeof r->stall_reason, "RunPodConfigError");
        snprintf(r->stall_msg, sizeof r->stall_msg, "%s", o->message);
    } else if (o->exit_code == RETL_EXIT_USAGE &&
               strcmp(o->result, retl_result_name(RETL_RESULT_SUCCEEDED))) {
        snprintf(r->stall_reason, sizeof r->stall_reason, "RunRejected");
        snprintf(r->stall_msg, sizeof r->stall_msg, "the engine rejected the job: %s",
                 o->message);
    }
}

struct observed {
    long long recorded_max; /* highest run recorded in status */
    json_t *active;         /* the newest unfinished run pod (borrowed) or NULL */
    long long max_run;      /* highest run number seen anywhere */
    bool stopping;          /* a recorded (replaced) run pod is still going away */
};

/* Records every finished run pod not yet in status, in run order; stuck pods
 * are recorded as failed and deleted; older unfinished pods than the newest
 * one were replaced. */
static void observe_pods(struct rc *r, struct observed *ob)
{
    long long v = 0;
    ob->recorded_max = retl_json_int(r->status, "lastRun.run", &v) ? v : 0;
    ob->max_run = ctl_status_max_run(r->status);
    ob->active = NULL;
    ob->stopping = false;

    size_t i;
    json_t *p;
    json_array_foreach (r->pods, i, p) {
        if (is_cleanup_pod(p))
            continue;
        long long run = ctl_pod_run(p);
        if (run > ob->max_run)
            ob->max_run = run;
    }
    json_array_foreach (r->pods, i, p) {
        if (is_cleanup_pod(p))
            continue;
        long long run = ctl_pod_run(p);
        const char *pn = kube_obj_name(p);
        struct ctl_outcome o;
        enum ctl_pod_phase ph = ctl_pod_observe(p, r->now, &o);
        if (run <= ob->recorded_max) {
            if (ph == CTL_POD_WAITING) {
                ob->stopping = true;
                if (!retl_json_path(p, "metadata.deletionTimestamp"))
                    add_delete(r, pn); /* recorded already (replaced): stop it */
            } else {
                ctl_outcome_free(&o);
            }
            continue;
        }
        if (ph == CTL_POD_WAITING) {
            ob->active = p; /* the newest unfinished one wins, see below */
            continue;
        }
        record(r, p, pn, run, &o);
        note_stall(r, &o, ph == CTL_POD_STUCK);
        if (ph == CTL_POD_STUCK)
            add_delete(r, pn);
        ctl_outcome_free(&o);
        ob->recorded_max = run;
    }
    /* Unfinished pods older than the newest unfinished one were replaced. */
    json_array_foreach (r->pods, i, p) {
        if (is_cleanup_pod(p) || !ob->active || p == ob->active)
            continue;
        long long run = ctl_pod_run(p);
        struct ctl_outcome o;
        if (run <= ob->recorded_max || run >= ctl_pod_run(ob->active) ||
            ctl_pod_observe(p, r->now, &o) != CTL_POD_WAITING)
            continue;
        memset(&o, 0, sizeof o);
        o.exit_code = -1;
        o.finished = r->now;
        snprintf(o.result, sizeof o.result, "%s", retl_result_name(RETL_RESULT_FAILED));
        snprintf(o.reason, sizeof o.reason, "Replaced");
        snprintf(o.message, sizeof o.message,
                 "replaced by run %lld (concurrencyPolicy Replace)",
                 ctl_pod_run(ob->active));
        ctl_time_parse(retl_json_str(p, "status.startTime"), &o.started);
        record(r, p, kube_obj_name(p), run, &o);
        add_delete(r, kube_obj_name(p));
        ob->recorded_max = run;
        ob->stopping = true;
    }
}

/* status.active names a pod that is no longer cached: confirm with the API
 * (the cache may simply not have seen a pod we just created) and record the
 * run as failed when the pod is really gone. */
static retl_err check_vanished(struct rc *r, struct observed *ob, struct retl_errbuf *eb)
{
    const char *pod = retl_json_str(r->status, "active.pod");
    long long run = 0;
    if (!pod || !retl_json_int(r->status, "active.run", &run) || run <= ob->recorded_max)
        return RETL_E_OK;
    if (ob->active && !strcmp(kube_obj_name(ob->active), pod))
        return RETL_E_OK;
    size_t i;
    json_t *p;
    json_array_foreach (r->pods, i, p) {
        if (!strcmp(kube_obj_name(p), pod))
            return RETL_E_OK;
    }
    json_t *live = NULL;
    retl_err e = kube_get(r->c->kc, &kube_gvr_pods, r->ns, pod, &live, eb);
    if (e == RETL_E_OK) {
        /* The cache is behind (the pod was just created): decide nothing on
         * it; the pod's ADDED event or the retry brings us back. */
        json_decref(live);
        return retl_errf(eb, RETL_E_CONFLICT, "pod cache behind: %s not seen yet", pod);
    }
    if (e != RETL_E_NOT_FOUND)
        return e;
    struct ctl_outcome o = {.exit_code = -1, .finished = r->now};
    snprintf(o.result, sizeof o.result, "%s", retl_result_name(RETL_RESULT_FAILED));
    snprintf(o.reason, sizeof o.reason, "PodDeleted");
    snprintf(o.message, sizeof o.message, "run pod %s was deleted before it finished",
             pod);
    char name[CTL_POD_NAME_MAX];
    snprintf(name, sizeof name, "%s", pod);
    record(r, NULL, name, run, &o);
    ob->recorded_max = run;
    return RETL_E_OK;
}

/* ---- starting runs -------------------------------------------------------- */

static json_t *find_pod(const json_t *pods, const char *name)
{
    size_t i;
    json_t *p;
    json_array_foreach (pods, i, p) {
        if (!strcmp(kube_obj_name(p), name))
            return p;
    }
    return NULL;
}

static void set_active(struct rc *r, long long run, const char *pod, const char *trigger,
                       time_t scheduled, time_t started)
{
    char ts[CTL_TIME_LEN];
    json_t *a =
        json_pack("{s:I, s:s, s:s, s:s}", "run", (json_int_t)run, "pod", pod, "trigger",
                  trigger, "startTime", ctl_time_fmt(started, ts, sizeof ts));
    if (scheduled)
        json_object_set_new(a, "scheduledTime",
                            json_string(ctl_time_fmt(scheduled, ts, sizeof ts)));
    json_object_set_new(r->status, "active", a);
}

/* Creates (or adopts) the run pod. *started is false when the pod exists and
 * already finished (it was recorded or will be on the next pass). */
static retl_err start_run(struct rc *r, struct observed *ob, const char *pod_name,
                          const char *trigger, time_t scheduled, bool *started,
                          struct retl_errbuf *eb)
{
    *started = false;
    json_t *existing = find_pod(r->pods, pod_name);
    json_t *fetched = NULL;
    long long run = ob->max_run + 1;
    if (!existing) {
        struct ctl_pod_params pp = {.rj = r->rj,
                                    .job = r->job,
                                    .name = pod_name,
                                    .run = run,
                                    .trigger = trigger,
                                    .scheduled = scheduled,
                                    .default_image = r->c->engine_image};
        json_t *pod = ctl_pod_build(&pp);
        if (!pod)
            return retl_errf(eb, RETL_E_NOMEM, "building run pod %s", pod_name);
        retl_err e = kube_create(r->c->kc, &kube_gvr_pods, r->ns, pod, NULL, eb);
        json_decref(pod);
        if (e == RETL_E_OK) {
            ob->max_run = run;
            set_active(r, run, pod_name, trigger, scheduled, r->now);
            add_event(r, KUBE_EVENT_NORMAL, "RunStarted",
                      "run %lld started in pod %s (%s)", run, pod_name, trigger);
            *started = true;
            return RETL_E_OK;
        }
        if (e != RETL_E_ALREADY_EXISTS)
            return e;
        e = kube_get(r->c->kc, &kube_gvr_pods, r->ns, pod_name, &fetched, eb);
        if (e)
            return e;
        if (!ctl_pod_owned_by(fetched, r->uid)) {
            json_decref(fetched);
            return retl_errf(eb, RETL_E_CONFLICT,
                             "pod %s exists and does not belong to this job", pod_name);
        }
        existing = fetched;
    }
    /* Adopt: the pod was created before (by us, before a restart). */
    long long prun = ctl_pod_run(existing);
    struct ctl_outcome o;
    enum ctl_pod_phase ph = ctl_pod_observe(existing, r->now, &o);
    if (ph != CTL_POD_WAITING)
        ctl_outcome_free(&o);
    if (ph == CTL_POD_WAITING && prun > ob->recorded_max) {
        time_t st = r->now;
        ctl_time_parse(retl_json_str(existing, "metadata.creationTimestamp"), &st);
        set_active(r, prun, pod_name, trigger, scheduled, st);
        *started = true;
    }
    if (prun > ob->max_run)
        ob->max_run = prun;
    json_decref(fetched);
    return RETL_E_OK;
}

static void replace_active(struct rc *r, struct observed *ob)
{
    json_t *p = ob->active;
    long long run = ctl_pod_run(p);
    struct ctl_outcome o = {.exit_code = -1, .finished = r->now};
    snprintf(o.result, sizeof o.result, "%s", retl_result_name(RETL_RESULT_FAILED));
    snprintf(o.reason, sizeof o.reason, "Replaced");
    snprintf(o.message, sizeof o.message,
             "replaced by a newer run (concurrencyPolicy Replace)");
    ctl_time_parse(retl_json_str(p, "status.startTime"), &o.started);
    record(r, p, kube_obj_name(p), run, &o);
    add_delete(r, kube_obj_name(p));
    ob->recorded_max = run;
    ob->active = NULL;
}

/* Decides and starts the due run, if any. Sets *next_slot. */
static retl_err schedule_runs(struct rc *r, struct observed *ob, time_t *next_slot,
                              struct retl_errbuf *eb)
{
    *next_slot = 0;
    const char *req = annotation(r->rj, CTL_ANN_REQUEST);
    const char *handled =
        json_string_value(json_object_get(r->status, "lastHandledRunRequest"));
    bool manual_due = req && *req && (!handled || strcmp(req, handled) != 0);

    struct ctl_sched_out so = {0};
    bool sched_on = r->job->schedule && !r->job->suspend;
    if (r->job->schedule) {
        struct retl_cron cron;
        struct retl_errbuf ceb = {{0}};
        if (retl_cron_parse(r->job->schedule, &cron, &ceb) == RETL_E_OK) {
            struct ctl_sched_in in = {.cron = &cron,
                                      .tz = r->job->time_zone,
                                      .now = r->now,
                                      .starting_deadline =
                                          r->job->starting_deadline_seconds};
            ctl_time_parse(
                json_string_value(json_object_get(r->status, "lastScheduleTime")),
                &in.last_schedule);
            ctl_time_parse(retl_json_str(r->rj, "metadata.creationTimestamp"),
                           &in.created);
            ctl_schedule_decide(&in, &so);
        } else {
            sched_on = false;
        }
    }
    if (sched_on)
        *next_slot = so.next;
    bool sched_due = sched_on && so.due;
    if (!manual_due && !sched_due)
        return RETL_E_OK;

    if (ob->active) {
        if (r->job->concurrency == RETL_CONC_FORBID) {
            RETL_LOG_DEBUG("run due but another is active (Forbid)", RF_S("job", r->name),
                           RF_S("active", kube_obj_name(ob->active)));
            return RETL_E_OK;
        }
        /* Replace: stop the active run now; the new one starts once its pod
         * is gone (its deletion event brings us back), so two runs of a job
         * never overlap. */
        replace_active(r, ob);
        return RETL_E_OK;
    }
    if (ob->stopping) {
        RETL_LOG_DEBUG("run due; waiting for a replaced run pod to go",
                       RF_S("job", r->name));
        return RETL_E_OK;
    }

    char pod[CTL_POD_NAME_MAX];
    bool started;
    retl_err e;
    if (manual_due) {
        ctl_pod_name_manual(r->name, req, pod, sizeof pod);
        e = start_run(r, ob, pod, "Manual", 0, &started, eb);
        if (e)
            return e;
        json_object_set_new(r->status, "lastHandledRunRequest", json_string(req));
        if (sched_due) /* the slot waits for the manual run: look again soon */
            *next_slot = r->now;
        return RETL_E_OK;
    }
    if (so.too_many)
        add_event(
            r, KUBE_EVENT_WARNING, "MissedSchedule",
            "more than %d scheduled runs were missed; starting only the most recent. "
            "Set or decrease spec.startingDeadlineSeconds or check clock skew",
            CTL_MAX_MISSED);
    ctl_pod_name_scheduled(r->name, so.due, pod, sizeof pod);
    e = start_run(r, ob, pod, "Schedule", so.due, &started, eb);
    if (e)
        return e;
    char ts[CTL_TIME_LEN];
    json_object_set_new(r->status, "lastScheduleTime",
                        json_string(ctl_time_fmt(so.due, ts, sizeof ts)));
    return RETL_E_OK;
}

/* ---- progress --------------------------------------------------------------- */

/* While the active run's pod runs, refreshes status.active.progress from its
 * log at most every CTL_PROGRESS_EVERY_S and returns when to look again (ms),
 * or -1 when no run is running. Never fails: progress is best effort. */
static long refresh_progress(struct rc *r, const struct observed *ob)
{
    json_t *active = json_object_get(r->status, "active");
    const char *apod = json_string_value(json_object_get(active, "pod"));
    if (!apod || !ob->active || strcmp(kube_obj_name(ob->active), apod) != 0)
        return -1;
    const char *phase = retl_json_str(ob->active, "status.phase");
    if (!phase || strcmp(phase, "Running") != 0)
        return -1; /* its Running update brings us back */
    long wait = 0;
    if (!ctl_progress_due(json_object_get(active, "progress"), r->now, &wait))
        return wait + 100;
    json_t *p = NULL;
    struct retl_errbuf peb = {{0}};
    retl_err e = ctl_progress_fetch(r->c->kc, r->ns, apod, &p, &peb);
    if (e) {
        RETL_LOG_DEBUG("no run progress", RF_S("namespace", r->ns), RF_S("job", r->name),
                       RF_S("pod", apod), RF_S("error", peb.msg));
    } else if (ctl_progress_changed(json_object_get(active, "progress"), p)) {
        char ts[CTL_TIME_LEN];
        json_object_set_new(p, "updateTime",
                            json_string(ctl_time_fmt(r->now, ts, sizeof ts)));
        json_object_set(active, "progress", p);
    }
    json_decref(p);
    return CTL_PROGRESS_EVERY_S * 1000L + 100;
}

/* ---- conditions ----------------------------------------------------------- */

static void set_conditions(struct rc *r, const char *invalid_msg, time_t next_slot)
{
    long long g = r->gen;
    char msg[1200];
    json_t *st = r->status;
    if (invalid_msg) {
        ctl_cond_set(st, CTL_COND_READY, "False", "InvalidSpec", invalid_msg, g, r->now);
        ctl_cond_set(st, CTL_COND_STALLED, "True", "InvalidSpec", invalid_msg, g, r->now);
    } else {
        /* A run-made stall persists until a run succeeds or the spec changes. */
        json_t *sc = ctl_cond_get(st, CTL_COND_STALLED);
        const char *sr = ctl_cond_reason(st, CTL_COND_STALLED);
        long long sg = -1;
        retl_json_int(sc, "observedGeneration", &sg);
        if (!r->stall_reason[0] && !r->ran_ok && sr && sg == g &&
            !strcmp(ctl_cond_status(st, CTL_COND_STALLED), "True") &&
            (!strcmp(sr, "RunPodConfigError") || !strcmp(sr, "RunRejected"))) {
            snprintf(r->stall_reason, sizeof r->stall_reason, "%s", sr);
            snprintf(r->stall_msg, sizeof r->stall_msg, "%s",
                     json_string_value(json_object_get(sc, "message")));
        }
        if (r->stall_reason[0]) {
            ctl_cond_set(st, CTL_COND_READY, "False", r->stall_reason, r->stall_msg, g,
                         r->now);
            ctl_cond_set(st, CTL_COND_STALLED, "True", r->stall_reason, r->stall_msg, g,
                         r->now);
        } else {
            char ts[CTL_TIME_LEN];
            const char *reason = "Scheduled";
            if (!r->job->schedule) {
                reason = "ManualOnly";
                snprintf(msg, sizeof msg,
                         "no schedule; request a run with the annotation %s",
                         CTL_ANN_REQUEST);
            } else if (r->job->suspend) {
                reason = "Suspended";
                snprintf(msg, sizeof msg, "scheduled runs are suspended");
            } else if (next_slot) {
                snprintf(msg, sizeof msg, "next run at %s",
                         ctl_time_fmt(next_slot, ts, sizeof ts));
            } else {
                snprintf(msg, sizeof msg, "the schedule has no next run");
            }
            ctl_cond_set(st, CTL_COND_READY, "True", reason, msg, g, r->now);
            ctl_cond_set(st, CTL_COND_STALLED, "False", "Ok", "", g, r->now);
        }
    }
    const char *apod = retl_json_str(st, "active.pod");
    if (apod) {
        long long run = 0;
        retl_json_int(st, "active.run", &run);
        snprintf(msg, sizeof msg, "run %lld is in progress in pod %s", run, apod);
        ctl_cond_set(st, CTL_COND_RECONCILING, "True", "RunInProgress", msg, g, r->now);
    } else {
        ctl_cond_set(st, CTL_COND_RECONCILING, "False", "Idle", "no run in progress", g,
                     r->now);
    }
    const char *res = retl_json_str(st, "lastRun.result");
    if (!res) {
        ctl_cond_set(st, CTL_COND_LAST_RUN, "Unknown", "NoRunYet",
                     "no run has finished yet", g, r->now);
    } else {
        long long run = 0;
        retl_json_int(st, "lastRun.run", &run);
        const char *m = retl_json_str(st, "lastRun.message");
        snprintf(msg, sizeof msg, "run %lld: %s", run, m ? m : "");
        ctl_cond_set(st, CTL_COND_LAST_RUN,
                     strcmp(res, retl_result_name(RETL_RESULT_SUCCEEDED)) ? "False"
                                                                          : "True",
                     res, msg, g, r->now);
    }
    json_object_set_new(st, "observedGeneration", json_integer(g));
    if (next_slot && !invalid_msg) {
        char ts[CTL_TIME_LEN];
        json_object_set_new(st, "nextScheduleTime",
                            json_string(ctl_time_fmt(next_slot, ts, sizeof ts)));
    } else {
        json_object_del(st, "nextScheduleTime");
    }
}

/* Finished, recorded run pods beyond historyLimit (oldest first) go. */
static void prune(struct rc *r, const struct observed *ob)
{
    int keep = r->job ? r->job->history_limit : 10;
    size_t n = json_array_size(r->pods);
    int kept = 0;
    for (size_t i = n; i-- > 0;) {
        json_t *p = json_array_get(r->pods, i);
        if (is_cleanup_pod(p) || ctl_pod_run(p) > ob->recorded_max)
            continue;
        struct ctl_outcome o;
        enum ctl_pod_phase ph = ctl_pod_observe(p, r->now, &o);
        if (ph == CTL_POD_WAITING)
            continue;
        ctl_outcome_free(&o);
        if (kept < keep)
            kept++;
        else
            add_delete(r, kube_obj_name(p));
    }
}

static retl_err write_status(struct rc *r, struct retl_errbuf *eb)
{
    json_t *old = json_object_get(r->rj, "status");
    retl_err e = RETL_E_OK;
    if (!old || !json_equal(old, r->status)) {
        json_t *obj = json_deep_copy(r->rj);
        if (!obj)
            return RETL_E_NOMEM;
        json_object_set(obj, "status", r->status);
        e = kube_update_status(r->c->kc, &kube_gvr_reverseetljobs, r->ns, obj, NULL, eb);
        json_decref(obj);
    }
    /* Per-job gauges follow the status as stored, so they are right again
     * after a controller restart. */
    if (!e)
        ctl_metrics_job_status(r->ns, r->name, r->status);
    return e;
}

/* ---- deletion ------------------------------------------------------------- */

static retl_err finalize(struct rc *r, long *requeue_ms, struct retl_errbuf *eb)
{
    if (!has_finalizer(r->rj))
        return RETL_E_OK;
    bool cleanup = r->job && r->job->cleanup == RETL_CLEANUP_DELETE;
    json_t *cpod = NULL;
    bool running = false;
    size_t i;
    json_t *p;
    json_array_foreach (r->pods, i, p) {
        if (is_cleanup_pod(p)) {
            cpod = p;
            continue;
        }
        struct ctl_outcome o;
        if (ctl_pod_observe(p, r->now, &o) != CTL_POD_WAITING) {
            ctl_outcome_free(&o);
            continue;
        }
        running = true;
        if (!retl_json_path(p, "metadata.deletionTimestamp"))
            add_delete(r, kube_obj_name(p));
    }
    if (!cleanup) {
        delete_pods(r);
        return set_finalizer(r->c, r->rj, false, eb);
    }
    if (running) {
        delete_pods(r); /* stop runs first; their deletion requeues us */
        return RETL_E_OK;
    }
    if (!cpod) {
        char name[CTL_POD_NAME_MAX];
        ctl_pod_name_cleanup(r->name, name, sizeof name);
        struct ctl_pod_params pp = {.rj = r->rj,
                                    .job = r->job,
                                    .name = name,
                                    .default_image = r->c->engine_image,
                                    .cleanup = true};
        json_t *pod = ctl_pod_build(&pp);
        retl_err e = pod ? kube_create(r->c->kc, &kube_gvr_pods, r->ns, pod, NULL, eb)
                         : RETL_E_NOMEM;
        json_decref(pod);
        if (e && e != RETL_E_ALREADY_EXISTS)
            return e;
        add_event(r, KUBE_EVENT_NORMAL, "CleanupStarted",
                  "dropping the state tables (cleanupPolicy Delete) in pod %s", name);
        emit(r);
        return RETL_E_OK;
    }
    struct ctl_outcome o;
    enum ctl_pod_phase ph = ctl_pod_observe(cpod, r->now, &o);
    if (ph == CTL_POD_WAITING)
        return RETL_E_OK;
    bool ok = ph == CTL_POD_FINISHED && o.exit_code == 0;
    if (ok) {
        ctl_outcome_free(&o);
        retl_err e = set_finalizer(r->c, r->rj, false, eb);
        if (e == RETL_E_OK)
            RETL_LOG_INFO("state tables dropped; finalizer removed",
                          RF_S("namespace", r->ns), RF_S("job", r->name));
        return e;
    }
    add_event(r, KUBE_EVENT_WARNING, "CleanupFailed",
              "dropping the state tables failed (retrying in %ds; set spec.cleanupPolicy "
              "to Retain to give up): %s",
              CLEANUP_RETRY_MS / 1000, o.message);
    ctl_outcome_free(&o);
    emit(r);
    add_delete(r, kube_obj_name(cpod));
    delete_pods(r);
    *requeue_ms = CLEANUP_RETRY_MS;
    return RETL_E_OK;
}

/* ---- the reconcile -------------------------------------------------------- */

retl_err ctl_reconcile(struct ctl *c, const char *key, long *requeue_ms,
                       struct retl_errbuf *eb)
{
    *requeue_ms = -1;
    struct rc r = {.c = c, .now = now_of(c)};
    retl_err e = RETL_E_OK;
    struct retl_problems probs = {0};
    char *invalid = NULL;

    r.rj = kube_informer_get_key(c->jobs, key);
    if (!r.rj) {
        char buf[512];
        const char *ns, *name;
        if (kube_key_split(key, buf, sizeof buf, &ns, &name))
            ctl_metrics_job_deleted(ns, name);
        return RETL_E_OK;
    }
    r.ns = kube_obj_namespace(r.rj);
    r.name = kube_obj_name(r.rj);
    r.uid = kube_obj_uid(r.rj);
    retl_json_int(r.rj, "metadata.generation", &r.gen);
    if (retl_job_parse(r.rj, &r.job, &probs) != RETL_E_OK) {
        r.job = NULL;
        invalid = retl_problems_join(&probs);
    }
    r.pods = job_pods(c, r.ns, r.name, r.uid);

    if (retl_json_path(r.rj, "metadata.deletionTimestamp")) {
        e = finalize(&r, requeue_ms, eb);
        goto out;
    }
    if (!has_finalizer(r.rj)) {
        /* The update event of this patch brings us back. */
        e = set_finalizer(c, r.rj, true, eb);
        goto out;
    }

    json_t *old = json_object_get(r.rj, "status");
    r.status = json_is_object(old) ? json_deep_copy(old) : json_object();
    const char *old_stalled = ctl_cond_reason(r.status, CTL_COND_STALLED);
    long long old_gen = 0;
    retl_json_int(ctl_cond_get(r.status, CTL_COND_STALLED), "observedGeneration",
                  &old_gen);
    bool was_invalid =
        old_stalled && !strcmp(old_stalled, "InvalidSpec") && old_gen == r.gen;

    struct observed ob;
    observe_pods(&r, &ob);
    e = check_vanished(&r, &ob, eb);
    if (e)
        goto out;

    time_t next_slot = 0;
    if (r.job) {
        e = schedule_runs(&r, &ob, &next_slot, eb);
        if (e)
            goto out;
    } else if (!was_invalid) {
        add_event(&r, KUBE_EVENT_WARNING, "InvalidSpec", "%s", invalid);
    }
    long progress_ms = r.job ? refresh_progress(&r, &ob) : -1;
    set_conditions(&r, invalid, next_slot);

    e = write_status(&r, eb);
    if (e) {
        /* Nothing happened as far as status knows: pods created here are
         * adopted by name on the retry; no event, no deletion. */
        goto out;
    }
    emit(&r);
    prune(&r, &ob);
    delete_pods(&r);
    if (next_slot)
        *requeue_ms = ctl_schedule_requeue_ms(r.now, next_slot);
    if (progress_ms >= 0 && (*requeue_ms < 0 || progress_ms < *requeue_ms))
        *requeue_ms = progress_ms;

out:
    json_decref(r.status);
    json_decref(r.pods);
    json_decref(r.rj);
    retl_job_free(r.job);
    retl_problems_free(&probs);
    free(invalid);
    return e;
}

/* ---- pod events -> job keys ---------------------------------------------- */

static void pod_key(void *ud, json_t *pod)
{
    const char *ns = kube_obj_namespace(pod);
    const char *job = label(pod, CTL_LABEL_JOB);
    if (!ns || !job)
        return;
    char key[512];
    snprintf(key, sizeof key, "%s/%s", ns, job);
    kube_queue_add(ud, key);
}

static void pod_add(void *ud, json_t *obj)
{
    pod_key(ud, obj);
}

static void pod_update(void *ud, json_t *old_obj, json_t *new_obj)
{
    (void)old_obj;
    pod_key(ud, new_obj);
}

static void pod_delete(void *ud, json_t *obj, bool final_state_unknown)
{
    (void)final_state_unknown;
    pod_key(ud, obj);
}

struct kube_informer_handlers ctl_pod_handlers(struct kube_queue *q)
{
    return (struct kube_informer_handlers){
        .on_add = pod_add, .on_update = pod_update, .on_delete = pod_delete, .ud = q};
}
