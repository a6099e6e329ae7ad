#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/summary.h"
#include "controller/ctl_reconcile_int.h"
#include "controller/ctl_status.h"
#include "common/timestamp.h"
#include "controller/kube/kube.h"
#include "controller/metrics.h"

void ctl_record_run(struct ctl_pass *r, const json_t *pod, const char *pod_name,
                    long long run, struct ctl_outcome *o, bool stuck)
{
    struct ctl_run_ref ref = {.run = run, .pod = pod_name, .trigger = "Manual"};
    const char *trig = pod ? ctl_annotation(pod, CTL_ANN_TRIGGER) : NULL;
    if (!pod) {
        trig = retl_json_str(r->status, "active.trigger");
        retl_time_parse(retl_json_str(r->status, "active.scheduledTime"), &ref.scheduled);
        retl_time_parse(retl_json_str(r->status, "active.startTime"), &o->started);
    } else {
        retl_time_parse(ctl_annotation(pod, CTL_ANN_SCHEDULED), &ref.scheduled);
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
        r->stall.reason[0] = '\0';
        ctl_pass_event(
            r, KUBE_EVENT_NORMAL, "RunSucceeded",
            "run %lld (%s) succeeded: %lld changed, %lld synced, %lld failed in %.1fs",
            run, pod_name, changed, synced, failed, dur);
    } else if (!strcmp(o->result, retl_result_name(RETL_RESULT_THRESHOLD))) {
        ctl_pass_event(r, KUBE_EVENT_WARNING, "ThresholdExceeded",
                       "run %lld (%s) exceeded the error threshold: %lld rows failed: %s",
                       run, pod_name, failed, o->message);
    } else {
        ctl_pass_event(r, KUBE_EVENT_WARNING, "RunFailed", "run %lld (%s) failed%s%s: %s",
                       run, pod_name, o->reason[0] ? " with " : "", o->reason,
                       o->message);
    }
    RETL_LOG_INFO("run recorded", RF_S("namespace", r->ns), RF_S("job", r->name),
                  RF_I("run", run), RF_S("pod", pod_name), RF_S("result", o->result));
    ctl_decide_stall(o, stuck, &r->stall);
}

/* A run that never finished: Failed with reason and message, ended now. */
static void unfinished_outcome(struct ctl_outcome *o, const char *reason, time_t now)
{
    memset(o, 0, sizeof *o);
    o->exit_code = -1;
    o->finished = now;
    snprintf(o->result, sizeof o->result, "%s", retl_result_name(RETL_RESULT_FAILED));
    snprintf(o->reason, sizeof o->reason, "%s", reason);
}

static void record_replaced(struct ctl_pass *r, const json_t *p, const char *message)
{
    struct ctl_outcome o;
    unfinished_outcome(&o, "Replaced", r->now);
    snprintf(o.message, sizeof o.message, "%s", message);
    retl_time_parse(retl_json_str(p, "status.startTime"), &o.started);
    ctl_record_run(r, p, kube_obj_name(p), ctl_pod_run(p), &o, false);
    ctl_pass_delete(r, kube_obj_name(p));
}

void ctl_record_pods(struct ctl_pass *r, const struct ctl_pod_plan *plan)
{
    size_t i;
    json_t *p;
    json_array_foreach (r->pods, i, p) {
        enum ctl_pod_verdict v = plan->v[i];
        if (v == CTL_PV_STOP) {
            ctl_pass_delete(r, kube_obj_name(p)); /* recorded already (replaced) */
        } else if (v == CTL_PV_RECORD || v == CTL_PV_RECORD_STUCK) {
            struct ctl_outcome o;
            ctl_pod_observe(p, r->now, &o);
            ctl_record_run(r, p, kube_obj_name(p), ctl_pod_run(p), &o,
                           v == CTL_PV_RECORD_STUCK);
            if (v == CTL_PV_RECORD_STUCK)
                ctl_pass_delete(r, kube_obj_name(p));
            ctl_outcome_free(&o);
        }
    }
    if (!plan->active)
        return;
    char msg[128];
    snprintf(msg, sizeof msg, "replaced by run %lld (concurrencyPolicy Replace)",
             ctl_pod_run(plan->active));
    json_array_foreach (r->pods, i, p) {
        if (plan->v[i] == CTL_PV_REPLACED)
            record_replaced(r, p, msg);
    }
}

retl_err ctl_record_vanished(struct ctl_pass *r, struct ctl_pod_plan *plan,
                             struct retl_errbuf *eb)
{
    const char *pod = retl_json_str(r->status, "active.pod");
    long long run = 0;
    if (!pod || !retl_json_int(r->status, "active.run", &run) ||
        run <= plan->recorded_max)
        return RETL_E_OK;
    if (plan->active && !strcmp(kube_obj_name(plan->active), pod))
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
    struct ctl_outcome o;
    unfinished_outcome(&o, "PodDeleted", r->now);
    snprintf(o.message, sizeof o.message, "run pod %s was deleted before it finished",
             pod);
    char name[CTL_POD_NAME_MAX];
    snprintf(name, sizeof name, "%s", pod);
    ctl_record_run(r, NULL, name, run, &o, false);
    plan->recorded_max = run;
    return RETL_E_OK;
}

void ctl_record_replaced(struct ctl_pass *r, struct ctl_pod_plan *plan)
{
    const json_t *p = plan->active;
    record_replaced(r, p, "replaced by a newer run (concurrencyPolicy Replace)");
    plan->recorded_max = ctl_pod_run(p);
    plan->active = NULL;
}
