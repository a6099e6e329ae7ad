#include "controller/ctl_reconcile.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/spec.h"
#include "common/utf8.h"
#include "controller/ctl_decide.h"
#include "controller/ctl_progress.h"
#include "controller/ctl_request.h"
#include "controller/ctl_reconcile_int.h"
#include "controller/ctl_runpod.h"
#include "controller/ctl_schedule.h"
#include "controller/ctl_status.h"
#include "common/timestamp.h"
#include "controller/metrics.h"

static time_t now_of(const struct ctl *c)
{
    return c->now ? c->now() : time(NULL);
}

void ctl_pass_event(struct ctl_pass *r, const char *type, const char *reason,
                    const char *fmt, ...)
{
    if (r->n_events >= CTL_MAX_ACTIONS)
        return;
    struct ctl_pending_event *e = &r->events[r->n_events++];
    e->type = type;
    e->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->note, sizeof e->note, fmt, ap);
    va_end(ap);
}

void ctl_pass_delete(struct ctl_pass *r, const char *pod)
{
    for (size_t i = 0; i < r->n_deletes; i++)
        if (strcmp(r->deletes[i], pod) == 0)
            return;
    if (r->n_deletes < CTL_MAX_ACTIONS)
        snprintf(r->deletes[r->n_deletes++], CTL_POD_NAME_MAX, "%s", pod);
}

static const char *label(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(retl_json_path(obj, "metadata.labels"), key));
}

const char *ctl_annotation(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(retl_json_path(obj, "metadata.annotations"), key));
}

static int cmp_run(const void *a, const void *b)
{
    long long x = ctl_pod_run(*(json_t *const *)a), y = ctl_pod_run(*(json_t *const *)b);
    return x < y ? -1 : x > y;
}

/* The informers that watch namespace ns, or NULL when none does. */
static const struct ctl_scope *scope_of(const struct ctl *c, const char *ns)
{
    for (size_t i = 0; i < c->n_scopes; i++)
        if (!c->scopes[i].ns || (ns && !strcmp(c->scopes[i].ns, ns)))
            return &c->scopes[i];
    return NULL;
}

json_t *ctl_jobs_list(const struct ctl *c, const char *ns)
{
    const struct ctl_scope *sc = scope_of(c, ns);
    json_t *all = sc ? kube_informer_list(sc->jobs) : NULL;
    return all ? all : json_array();
}

/* Why job's run image may not run (DESIGN.md §8.3), or NULL when it may.
 * Ownership: caller frees the message. */
static char *image_not_allowed(const struct ctl *c, const struct retl_job *job)
{
    const char *image = json_string_value(json_object_get(job->run_template, "image"));
    if (!image || !*image ||
        ctl_policy_image_allowed(c->allowed_images, c->engine_image, image))
        return NULL;
    char *msg = NULL;
    if (asprintf(
            &msg,
            "runTemplate.image %.256s is not allowed: the run pod receives the job's "
            "Secrets, so only the engine image (%.256s) and the controller's "
            "--allowed-run-images may run",
            image, c->engine_image ? c->engine_image : "") < 0)
        return strdup("runTemplate.image is not allowed");
    return msg;
}

/* Why job's run pod may not use its service account, or NULL when it may.
 * Ownership: caller frees the message. */
static char *sa_not_allowed(const struct ctl *c, const struct retl_job *job)
{
    const char *sa =
        json_string_value(json_object_get(job->run_template, "serviceAccountName"));
    if (ctl_policy_sa_allowed(c->allowed_sas, sa))
        return NULL;
    char *msg = NULL;
    if (asprintf(&msg,
                 "runTemplate.serviceAccountName %.256s is not allowed: a run pod's "
                 "service account may carry a cloud identity, so only the controller's "
                 "--allowed-run-service-accounts (or none: the namespace's default) may "
                 "be named",
                 sa) < 0)
        return strdup("runTemplate.serviceAccountName is not allowed");
    return msg;
}

/* This job's pods from the cache, sorted by run number. */
static json_t *job_pods(const struct ctl_scope *sc, const char *ns, const char *name,
                        const char *uid)
{
    json_t *all = kube_informer_list(sc->pods);
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

void ctl_pass_emit(struct ctl_pass *r)
{
    for (size_t i = 0; i < r->n_events; i++) {
        struct ctl_pending_event *e = &r->events[i];
        RETL_LOG(strcmp(e->type, KUBE_EVENT_WARNING) ? RETL_LOG_INFO : RETL_LOG_WARN,
                 e->note, RF_S("namespace", r->ns), RF_S("job", r->name),
                 RF_S("reason", e->reason));
        if (r->c->events)
            kube_eventf(r->c->events, r->rj, e->type, e->reason, NULL, "%s", e->note);
    }
}

void ctl_pass_delete_pods(struct ctl_pass *r)
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

static void set_active(struct ctl_pass *r, long long run, const char *pod,
                       const char *trigger, time_t scheduled, time_t started)
{
    char ts[RETL_TIME_LEN];
    json_t *a =
        json_pack("{s:I, s:s, s:s, s:s}", "run", (json_int_t)run, "pod", pod, "trigger",
                  trigger, "startTime", retl_time_fmt(started, ts, sizeof ts));
    if (scheduled)
        json_object_set_new(a, "scheduledTime",
                            json_string(retl_time_fmt(scheduled, ts, sizeof ts)));
    json_object_set_new(r->status, "active", a);
}

/* Creates (or adopts) the run pod. *started is false when the pod exists and
 * already finished (it was recorded or will be on the next pass). */
static retl_err start_run(struct ctl_pass *r, struct ctl_pod_plan *ob,
                          const char *pod_name, const char *trigger, time_t scheduled,
                          const char *env_flag, bool *started, long long *adopted,
                          struct retl_errbuf *eb)
{
    *started = false;
    *adopted = 0;
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
                                    .default_image = r->c->engine_image,
                                    .env_flag = env_flag};
        json_t *pod = ctl_pod_build(&pp);
        if (!pod)
            return retl_errf(eb, RETL_E_NOMEM, "building run pod %s", pod_name);
        retl_err e = kube_create(r->c->kc, &kube_gvr_pods, r->ns, pod, NULL, eb);
        json_decref(pod);
        if (e == RETL_E_OK) {
            ob->max_run = run;
            set_active(r, run, pod_name, trigger, scheduled, r->now);
            ctl_pass_event(r, KUBE_EVENT_NORMAL, "RunStarted",
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
    *adopted = prun;
    struct ctl_outcome o;
    enum ctl_pod_phase ph = ctl_pod_observe(existing, r->now, &o);
    if (ph != CTL_POD_WAITING)
        ctl_outcome_free(&o);
    if (ph == CTL_POD_WAITING && prun > ob->recorded_max) {
        time_t st = r->now;
        retl_time_parse(retl_json_str(existing, "metadata.creationTimestamp"), &st);
        set_active(r, prun, pod_name, trigger, scheduled, st);
        *started = true;
    }
    if (prun > ob->max_run)
        ob->max_run = prun;
    json_decref(fetched);
    return RETL_E_OK;
}

/* A run request whose value was used before names a pod that already ran
 * and was recorded: nothing runs, and the user is told so (status and a
 * Warning event) instead of silently. */
static void request_reused(struct ctl_pass *r, const char *ann, const char *req,
                           const char *pod, long long run)
{
    char msg[512];
    retl_utf8_printf(
        msg, sizeof msg,
        "run request %s=%s was already handled by run %lld (pod %s); nothing "
        "ran. Set a new value (e.g. the current time) to run again",
        ann, req, run, pod);
    json_object_set_new(r->status, "lastIgnoredRunRequest",
                        json_pack("{s:s, s:s}", "value", req, "message", msg));
    ctl_pass_event(r, KUBE_EVENT_WARNING, "RunRequestReused", "%s", msg);
    RETL_LOG_WARN("run request value reused; nothing ran", RF_S("namespace", r->ns),
                  RF_S("job", r->name), RF_S("value", req), RF_I("run", run));
}

/* Decides and starts the due run, if any. Sets *next_slot. */
static retl_err schedule_runs(struct ctl_pass *r, struct ctl_pod_plan *ob,
                              time_t *next_slot, struct retl_errbuf *eb)
{
    const char *req = NULL;
    const struct ctl_request *rq = ctl_request_pending(r->rj, r->status, &req);
    struct ctl_sched_out so;
    bool sched_on = ctl_decide_schedule(r->job, r->rj, r->status, r->now, &so);
    *next_slot = sched_on ? so.next : 0;
    struct ctl_due_in in = {.manual_due = rq != NULL,
                            .sched_due = sched_on && so.due,
                            /* suspend stops every run that is not an explicit request */
                            .after_due =
                                r->after.state == CTL_AFTER_DUE && !r->job->suspend,
                            .active = ob->active != NULL,
                            .stopping = ob->stopping,
                            .concurrency = r->job->concurrency};

    char pod[CTL_POD_NAME_MAX];
    bool started;
    long long adopted;
    retl_err e = RETL_E_OK;
    switch (ctl_decide_due(&in)) {
    case CTL_DUE_NONE: break;
    case CTL_DUE_WAIT_ACTIVE:
        RETL_LOG_DEBUG("run due but another is active (Forbid)", RF_S("job", r->name),
                       RF_S("active", kube_obj_name(ob->active)));
        break;
    case CTL_DUE_REPLACE:
        /* Stop the active run now; the new one starts once its pod is gone
         * (its deletion event brings us back), so two runs never overlap. */
        ctl_record_replaced(r, ob);
        break;
    case CTL_DUE_WAIT_STOPPING:
        RETL_LOG_DEBUG("run due; waiting for a replaced run pod to go",
                       RF_S("job", r->name));
        break;
    case CTL_DUE_MANUAL:
        if (!ctl_request_pod_name(rq, r->name, req, pod, sizeof pod)) {
            e = RETL_E_NOMEM;
            break;
        }
        e = start_run(r, ob, pod, rq->trigger, 0, rq->env, &started, &adopted, eb);
        if (e)
            break;
        if (!started && adopted > 0 && adopted <= ob->recorded_max)
            request_reused(r, rq->annotation, req, pod, adopted);
        json_object_set_new(r->status, rq->status_field, json_string(req));
        if (in.sched_due) /* the slot waits for the manual run: look again soon */
            *next_slot = r->now;
        break;
    case CTL_DUE_AFTER:
        /* Named by the dependencies' successes: a restart adopts, never repeats. */
        ctl_after_pod_name(r->name, r->after.basis, pod, sizeof pod);
        e = start_run(r, ob, pod, "Dependency", 0, NULL, &started, &adopted, eb);
        if (!e)
            json_object_set_new(r->status, "lastHandledDependencies",
                                json_string(r->after.basis));
        break;
    case CTL_DUE_SCHEDULED:
        if (so.too_many)
            ctl_pass_event(
                r, KUBE_EVENT_WARNING, "MissedSchedule",
                "more than %d scheduled runs were missed; starting only the most recent. "
                "Set or decrease spec.startingDeadlineSeconds or check clock skew",
                CTL_MAX_MISSED);
        ctl_pod_name_scheduled(r->name, so.due, pod, sizeof pod);
        e = start_run(r, ob, pod, "Schedule", so.due, NULL, &started, &adopted, eb);
        if (e)
            break;
        char ts[RETL_TIME_LEN];
        json_object_set_new(r->status, "lastScheduleTime",
                            json_string(retl_time_fmt(so.due, ts, sizeof ts)));
        break;
    }
    return e;
}

/* ---- progress --------------------------------------------------------------- */

/* While the active run's pod runs, refreshes status.active.progress from its
 * log at most every CTL_PROGRESS_EVERY_S and returns when to look again (ms),
 * or -1 when no run is running. Never fails: progress is best effort. */
static long refresh_progress(struct ctl_pass *r, const struct ctl_pod_plan *ob)
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
        char ts[RETL_TIME_LEN];
        json_object_set_new(p, "updateTime",
                            json_string(retl_time_fmt(r->now, ts, sizeof ts)));
        json_object_set(active, "progress", p);
    }
    json_decref(p);
    return CTL_PROGRESS_EVERY_S * 1000L + 100;
}

static retl_err write_status(struct ctl_pass *r, struct retl_errbuf *eb)
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

/* ---- the reconcile -------------------------------------------------------- */

/* Finished, recorded run pods beyond historyLimit go (best effort: without
 * memory, the next pass prunes). */
static void prune(struct ctl_pass *r, const struct ctl_pod_plan *ob)
{
    size_t n = json_array_size(r->pods);
    bool *del = calloc(n ? n : 1, sizeof *del);
    if (!del)
        return;
    ctl_decide_prune(r->pods, ob->recorded_max, r->job ? r->job->history_limit : 10,
                     r->now, del);
    for (size_t i = 0; i < n; i++)
        if (del[i])
            ctl_pass_delete(r, kube_obj_name(json_array_get(r->pods, i)));
    free(del);
}

/* A job that is not being deleted: record, start, write status, then act. */
static retl_err reconcile_live(struct ctl_pass *r, const char *invalid,
                               const char *invalid_reason, long *requeue_ms,
                               struct retl_errbuf *eb)
{
    json_t *old = json_object_get(r->rj, "status");
    r->status = json_is_object(old) ? json_deep_copy(old) : json_object();
    if (!r->status)
        return retl_errf(eb, RETL_E_NOMEM, "copying the status of %s", r->name);
    const char *old_stalled = ctl_cond_reason(r->status, CTL_COND_STALLED);
    long long old_gen = 0;
    retl_json_int(ctl_cond_get(r->status, CTL_COND_STALLED), "observedGeneration",
                  &old_gen);
    bool was_invalid =
        old_stalled && !strcmp(old_stalled, invalid_reason) && old_gen == r->gen;

    size_t n = json_array_size(r->pods);
    struct ctl_pod_plan ob = {.v = calloc(n ? n : 1, sizeof *ob.v)};
    if (!ob.v)
        return retl_errf(eb, RETL_E_NOMEM, "planning the run pods of %s", r->name);
    long long recorded = 0;
    retl_json_int(r->status, "lastRun.run", &recorded);
    ctl_decide_pods(r->pods, recorded, ctl_status_max_run(r->status), r->now, &ob);
    ctl_record_pods(r, &ob);
    retl_err e = ctl_record_vanished(r, &ob, eb);
    if (e)
        goto out;

    time_t next_slot = 0;
    if (r->job && r->job->n_after) {
        json_t *jobs = ctl_jobs_list(r->c, r->ns);
        ctl_after_decide(r->rj, r->status, jobs, &r->after);
        json_decref(jobs);
        if (!r->stall.reason[0] &&
            (r->after.state == CTL_AFTER_MISSING || r->after.state == CTL_AFTER_CYCLE)) {
            snprintf(r->stall.reason, sizeof r->stall.reason, "%s",
                     r->after.state == CTL_AFTER_MISSING ? "DependencyNotFound"
                                                         : "DependencyCycle");
            snprintf(r->stall.msg, sizeof r->stall.msg, "%s", r->after.message);
        }
    }
    if (r->job) {
        e = schedule_runs(r, &ob, &next_slot, eb);
        if (e)
            goto out;
    } else if (!was_invalid) {
        ctl_pass_event(r, KUBE_EVENT_WARNING, invalid_reason, "%s", invalid);
    }
    long progress_ms = r->job ? refresh_progress(r, &ob) : -1;
    struct ctl_cond_in ci = {.job = r->job,
                             .invalid = invalid,
                             .invalid_reason = invalid_reason,
                             .stall = &r->stall,
                             .ran_ok = r->ran_ok,
                             .next_slot = next_slot,
                             .after = &r->after,
                             .generation = r->gen,
                             .now = r->now};
    ctl_decide_conditions(r->status, &ci);

    e = write_status(r, eb);
    if (e) {
        /* Nothing happened as far as status knows: pods created here are
         * adopted by name on the retry; no event, no deletion. */
        goto out;
    }
    ctl_pass_emit(r);
    prune(r, &ob);
    ctl_pass_delete_pods(r);
    if (next_slot)
        *requeue_ms = ctl_schedule_requeue_ms(r->now, next_slot);
    if (progress_ms >= 0 && (*requeue_ms < 0 || progress_ms < *requeue_ms))
        *requeue_ms = progress_ms;
out:
    free(ob.v);
    return e;
}

retl_err ctl_reconcile(struct ctl *c, const char *key, long *requeue_ms,
                       struct retl_errbuf *eb)
{
    *requeue_ms = -1;
    struct ctl_pass r = {.c = c, .now = now_of(c)};
    retl_err e = RETL_E_OK;
    struct retl_problems probs = {0};
    char *invalid = NULL;
    const char *invalid_reason = "InvalidSpec";
    char kbuf[512];
    const char *kns = NULL, *kname = NULL;
    const struct ctl_scope *sc =
        kube_key_split(key, kbuf, sizeof kbuf, &kns, &kname) ? scope_of(c, kns) : NULL;

    r.rj = sc ? kube_informer_get_key(sc->jobs, key) : NULL;
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
    } else if ((invalid = image_not_allowed(c, r.job))) {
        /* Treated as an invalid spec: no run, no cleanup pod of that image. */
        invalid_reason = "ImageNotAllowed";
        retl_job_free(r.job);
        r.job = NULL;
    } else if ((invalid = sa_not_allowed(c, r.job))) {
        invalid_reason = "ServiceAccountNotAllowed";
        retl_job_free(r.job);
        r.job = NULL;
    }
    r.pods = job_pods(sc, r.ns, r.name, r.uid);

    if (retl_json_path(r.rj, "metadata.deletionTimestamp"))
        e = ctl_finalize(&r, requeue_ms, eb);
    else if (!ctl_has_finalizer(r.rj))
        e = ctl_set_finalizer(c, r.rj, true, eb); /* its update event brings us back */
    else
        e = reconcile_live(&r, invalid, invalid_reason, requeue_ms, eb);

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
