#include "controller/ctl_decide.h"

#include <stdio.h>
#include <string.h>

#include "common/cron.h"
#include "common/json.h"
#include "common/summary.h"
#include "controller/ctl_status.h"
#include "common/timestamp.h"
#include "common/utf8.h"

static const char *label(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(retl_json_path(obj, "metadata.labels"), key));
}

bool ctl_is_cleanup_pod(const json_t *pod)
{
    const char *v = label(pod, CTL_LABEL_CLEANUP);
    return v && !strcmp(v, "true");
}

bool ctl_has_finalizer(const json_t *rj)
{
    size_t i;
    json_t *f;
    json_array_foreach (retl_json_path(rj, "metadata.finalizers"), i, f) {
        if (json_string_value(f) && !strcmp(json_string_value(f), CTL_FINALIZER))
            return true;
    }
    return false;
}

/* Whether the pod is pending or running; never keeps an outcome. */
static bool unfinished(const json_t *pod, time_t now, enum ctl_pod_phase *phase)
{
    struct ctl_outcome o;
    enum ctl_pod_phase ph = ctl_pod_observe(pod, now, &o);
    if (ph != CTL_POD_WAITING)
        ctl_outcome_free(&o);
    if (phase)
        *phase = ph;
    return ph == CTL_POD_WAITING;
}

/* ---- which run is due ---------------------------------------------------- */

bool ctl_manual_due(const char *requested, const char *handled)
{
    return requested && *requested && (!handled || strcmp(requested, handled) != 0);
}

bool ctl_decide_schedule(const struct retl_job *job, const json_t *rj,
                         const json_t *status, time_t now, struct ctl_sched_out *so)
{
    memset(so, 0, sizeof *so);
    if (!job->schedule)
        return false;
    struct retl_cron cron;
    struct retl_errbuf ceb = {{0}};
    if (retl_cron_parse(job->schedule, &cron, &ceb) != RETL_E_OK)
        return false;
    struct ctl_sched_in in = {.cron = &cron,
                              .tz = job->time_zone,
                              .now = now,
                              .starting_deadline = job->starting_deadline_seconds};
    retl_time_parse(json_string_value(json_object_get(status, "lastScheduleTime")),
                    &in.last_schedule);
    retl_time_parse(retl_json_str(rj, "metadata.creationTimestamp"), &in.created);
    ctl_schedule_decide(&in, so);
    return !job->suspend;
}

enum ctl_due ctl_decide_due(const struct ctl_due_in *in)
{
    if (!in->manual_due && !in->sched_due && !in->after_due)
        return CTL_DUE_NONE;
    if (in->active)
        return in->concurrency == RETL_CONC_FORBID ? CTL_DUE_WAIT_ACTIVE
                                                   : CTL_DUE_REPLACE;
    if (in->stopping)
        return CTL_DUE_WAIT_STOPPING;
    return in->manual_due  ? CTL_DUE_MANUAL
           : in->sched_due ? CTL_DUE_SCHEDULED
                           : CTL_DUE_AFTER;
}

/* ---- what the run pods mean ---------------------------------------------- */

void ctl_decide_pods(const json_t *pods, long long recorded_max, long long status_max_run,
                     time_t now, struct ctl_pod_plan *plan)
{
    plan->recorded_max = recorded_max;
    plan->max_run = status_max_run;
    plan->active = NULL;
    plan->stopping = false;
    size_t i;
    json_t *p;
    json_array_foreach (pods, i, p) {
        plan->v[i] = CTL_PV_IGNORE;
        if (ctl_is_cleanup_pod(p))
            continue;
        long long run = ctl_pod_run(p);
        if (run > plan->max_run)
            plan->max_run = run;
    }
    json_array_foreach (pods, i, p) {
        if (ctl_is_cleanup_pod(p))
            continue;
        long long run = ctl_pod_run(p);
        enum ctl_pod_phase ph;
        bool waiting = unfinished(p, now, &ph);
        if (run <= plan->recorded_max) {
            if (waiting) {
                plan->stopping = true;
                plan->v[i] = retl_json_path(p, "metadata.deletionTimestamp")
                                 ? CTL_PV_STOPPING
                                 : CTL_PV_STOP;
            } else {
                plan->v[i] = CTL_PV_DONE;
            }
            continue;
        }
        if (waiting) {
            plan->v[i] = CTL_PV_WAITING;
            plan->active = p; /* the newest unfinished one wins */
            continue;
        }
        plan->v[i] = ph == CTL_POD_STUCK ? CTL_PV_RECORD_STUCK : CTL_PV_RECORD;
        plan->recorded_max = run;
    }
    if (!plan->active)
        return;
    /* Unfinished pods older than the newest unfinished one were replaced. */
    long long active_run = ctl_pod_run(plan->active);
    json_array_foreach (pods, i, p) {
        if (p == plan->active) {
            plan->v[i] = CTL_PV_ACTIVE;
            continue;
        }
        if (plan->v[i] != CTL_PV_WAITING)
            continue;
        long long run = ctl_pod_run(p);
        if (run <= plan->recorded_max || run >= active_run)
            continue;
        plan->v[i] = CTL_PV_REPLACED;
        plan->recorded_max = run;
        plan->stopping = true;
    }
}

void ctl_decide_prune(const json_t *pods, long long recorded_max, int history_limit,
                      time_t now, bool *del)
{
    size_t n = json_array_size(pods);
    int kept = 0;
    for (size_t i = n; i-- > 0;) {
        const json_t *p = json_array_get(pods, i);
        del[i] = false;
        if (ctl_is_cleanup_pod(p) || ctl_pod_run(p) > recorded_max ||
            unfinished(p, now, NULL))
            continue;
        if (kept < history_limit)
            kept++;
        else
            del[i] = true;
    }
}

/* ---- stall and conditions ------------------------------------------------ */

void ctl_decide_stall(const struct ctl_outcome *o, bool stuck, struct ctl_stall *s)
{
    if (stuck) {
        snprintf(s->reason, sizeof s->reason, "RunPodConfigError");
        retl_utf8_printf(s->msg, sizeof s->msg, "%s", o->message);
    } else if (o->exit_code == RETL_EXIT_USAGE &&
               strcmp(o->result, retl_result_name(RETL_RESULT_SUCCEEDED))) {
        snprintf(s->reason, sizeof s->reason, "RunRejected");
        retl_utf8_printf(s->msg, sizeof s->msg, "the engine rejected the job: %s",
                         o->message);
    }
}

/* The stall that holds: this reconcile's, else a run-made one of the same
 * generation that no successful run has lifted. */
static void current_stall(const json_t *st, const struct ctl_cond_in *in,
                          struct ctl_stall *s)
{
    *s = *in->stall;
    if (s->reason[0] || in->ran_ok)
        return;
    json_t *sc = ctl_cond_get(st, CTL_COND_STALLED);
    const char *sr = ctl_cond_reason(st, CTL_COND_STALLED);
    long long sg = -1;
    retl_json_int(sc, "observedGeneration", &sg);
    if (sr && sg == in->generation &&
        !strcmp(ctl_cond_status(st, CTL_COND_STALLED), "True") &&
        (!strcmp(sr, "RunPodConfigError") || !strcmp(sr, "RunRejected"))) {
        snprintf(s->reason, sizeof s->reason, "%s", sr);
        const char *m = json_string_value(json_object_get(sc, "message"));
        retl_utf8_printf(s->msg, sizeof s->msg, "%s", m ? m : "");
    }
}

static void ready_and_stalled(json_t *st, const struct ctl_cond_in *in)
{
    long long g = in->generation;
    if (in->invalid) {
        const char *why = in->invalid_reason ? in->invalid_reason : "InvalidSpec";
        ctl_cond_set(st, CTL_COND_READY, "False", why, in->invalid, g, in->now);
        ctl_cond_set(st, CTL_COND_STALLED, "True", why, in->invalid, g, in->now);
        return;
    }
    struct ctl_stall s;
    current_stall(st, in, &s);
    if (s.reason[0]) {
        ctl_cond_set(st, CTL_COND_READY, "False", s.reason, s.msg, g, in->now);
        ctl_cond_set(st, CTL_COND_STALLED, "True", s.reason, s.msg, g, in->now);
        return;
    }
    char msg[1200], ts[RETL_TIME_LEN];
    const char *reason = "Scheduled";
    if (!in->job->schedule && in->after && in->after->state != CTL_AFTER_NONE) {
        reason = "AfterDependencies";
        snprintf(msg, sizeof msg, "%s", in->after->message);
    } else if (!in->job->schedule) {
        reason = "ManualOnly";
        snprintf(msg, sizeof msg, "no schedule; request a run with the annotation %s",
                 CTL_ANN_REQUEST);
    } else if (in->job->suspend) {
        reason = "Suspended";
        snprintf(msg, sizeof msg, "scheduled runs are suspended");
    } else if (in->next_slot) {
        snprintf(msg, sizeof msg, "next run at %s",
                 retl_time_fmt(in->next_slot, ts, sizeof ts));
    } else {
        snprintf(msg, sizeof msg, "the schedule has no next run");
    }
    ctl_cond_set(st, CTL_COND_READY, "True", reason, msg, g, in->now);
    ctl_cond_set(st, CTL_COND_STALLED, "False", "Ok", "", g, in->now);
}

void ctl_decide_conditions(json_t *st, const struct ctl_cond_in *in)
{
    long long g = in->generation;
    char msg[1200];
    ready_and_stalled(st, in);
    const char *apod = retl_json_str(st, "active.pod");
    if (apod) {
        long long run = 0;
        retl_json_int(st, "active.run", &run);
        snprintf(msg, sizeof msg, "run %lld is in progress in pod %s", run, apod);
        ctl_cond_set(st, CTL_COND_RECONCILING, "True", "RunInProgress", msg, g, in->now);
    } else if (!in->invalid && in->after && in->after->state == CTL_AFTER_WAITING) {
        ctl_cond_set(st, CTL_COND_RECONCILING, "True", "WaitingForDependencies",
                     in->after->message, g, in->now);
    } else {
        ctl_cond_set(st, CTL_COND_RECONCILING, "False", "Idle", "no run in progress", g,
                     in->now);
    }
    const char *res = retl_json_str(st, "lastRun.result");
    if (!res) {
        ctl_cond_set(st, CTL_COND_LAST_RUN, "Unknown", "NoRunYet",
                     "no run has finished yet", g, in->now);
    } else {
        long long run = 0;
        retl_json_int(st, "lastRun.run", &run);
        const char *m = retl_json_str(st, "lastRun.message");
        snprintf(msg, sizeof msg, "run %lld: %s", run, m ? m : "");
        /* The delete guard is what to act on, more than "Failed". */
        const char *why = retl_json_str(st, "lastRun.reason");
        bool guard = why && !strcmp(why, RETL_REASON_DELETE_GUARD);
        ctl_cond_set(st, CTL_COND_LAST_RUN,
                     strcmp(res, retl_result_name(RETL_RESULT_SUCCEEDED)) ? "False"
                                                                          : "True",
                     guard ? why : res, msg, g, in->now);
    }
    json_object_set_new(st, "observedGeneration", json_integer(g));
    if (in->next_slot && !in->invalid) {
        char ts[RETL_TIME_LEN];
        json_object_set_new(st, "nextScheduleTime",
                            json_string(retl_time_fmt(in->next_slot, ts, sizeof ts)));
    } else {
        json_object_del(st, "nextScheduleTime");
    }
}

/* ---- deletion ------------------------------------------------------------ */

void ctl_decide_finalize(const json_t *rj, const json_t *pods, enum retl_cleanup policy,
                         time_t now, struct ctl_fin_plan *plan)
{
    plan->step = CTL_FIN_NONE;
    plan->cleanup = NULL;
    plan->message[0] = '\0';
    size_t n = json_array_size(pods);
    for (size_t i = 0; i < n; i++)
        plan->stop[i] = false;
    if (!ctl_has_finalizer(rj))
        return;
    bool running = false;
    size_t i;
    json_t *p;
    json_array_foreach (pods, i, p) {
        if (ctl_is_cleanup_pod(p)) {
            plan->cleanup = p;
            continue;
        }
        if (!unfinished(p, now, NULL))
            continue;
        running = true;
        plan->stop[i] = !retl_json_path(p, "metadata.deletionTimestamp");
    }
    if (policy != RETL_CLEANUP_DELETE) {
        plan->step = CTL_FIN_RELEASE;
        return;
    }
    if (running) {
        plan->step = CTL_FIN_STOP_RUNS;
        return;
    }
    if (!plan->cleanup) {
        plan->step = CTL_FIN_START_CLEANUP;
        return;
    }
    struct ctl_outcome o;
    enum ctl_pod_phase ph = ctl_pod_observe(plan->cleanup, now, &o);
    if (ph == CTL_POD_WAITING) {
        plan->step = CTL_FIN_WAIT_CLEANUP;
        return;
    }
    if (ph == CTL_POD_FINISHED && o.exit_code == 0) {
        plan->step = CTL_FIN_CLEANED;
    } else {
        plan->step = CTL_FIN_CLEANUP_FAILED;
        snprintf(plan->message, sizeof plan->message, "%s", o.message);
    }
    ctl_outcome_free(&o);
}
