#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "controller/ctl_reconcile_int.h"
#include "controller/kube/kube.h"

retl_err ctl_set_finalizer(struct ctl *c, const json_t *rj, bool present,
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

bool ctl_namespace_terminating(retl_err e, const struct retl_errbuf *eb)
{
    /* NamespaceLifecycle admission: 403 "unable to create new content in
     * namespace X because it is being terminated" (cause NamespaceTerminating) */
    return e == RETL_E_FORBIDDEN && eb &&
           (strstr(eb->msg, "being terminated") ||
            strstr(eb->msg, "NamespaceTerminating"));
}

static retl_err start_cleanup(struct ctl_pass *r, struct retl_errbuf *eb)
{
    char name[CTL_POD_NAME_MAX];
    ctl_pod_name_cleanup(r->name, name, sizeof name);
    struct ctl_pod_params pp = {.rj = r->rj,
                                .job = r->job,
                                .name = name,
                                .default_image = r->c->engine_image,
                                .cleanup = true};
    json_t *pod = ctl_pod_build(&pp);
    retl_err e =
        pod ? kube_create(r->c->kc, &kube_gvr_pods, r->ns, pod, NULL, eb) : RETL_E_NOMEM;
    json_decref(pod);
    if (e && ctl_namespace_terminating(e, eb)) {
        /* Nothing can be created in a namespace being deleted: holding the
         * finalizer would keep the namespace Terminating forever. */
        RETL_LOG_WARN("namespace is being deleted: state tables kept, finalizer removed",
                      RF_S("namespace", r->ns), RF_S("job", r->name));
        ctl_pass_event(r, KUBE_EVENT_WARNING, "CleanupSkipped",
                       "namespace %s is being deleted, so no cleanup pod can start; the "
                       "state tables are kept (drop them with `retl-engine cleanup`)",
                       r->ns);
        ctl_pass_emit(r);
        return ctl_set_finalizer(r->c, r->rj, false, eb);
    }
    if (e && e != RETL_E_ALREADY_EXISTS)
        return e;
    ctl_pass_event(r, KUBE_EVENT_NORMAL, "CleanupStarted",
                   "dropping the state tables (cleanupPolicy Delete) in pod %s", name);
    ctl_pass_emit(r);
    return RETL_E_OK;
}

retl_err ctl_finalize(struct ctl_pass *r, long *requeue_ms, struct retl_errbuf *eb)
{
    size_t n = json_array_size(r->pods);
    struct ctl_fin_plan plan = {.stop = calloc(n ? n : 1, sizeof *plan.stop)};
    if (!plan.stop)
        return retl_errf(eb, RETL_E_NOMEM, "planning the deletion of %s", r->name);
    ctl_decide_finalize(r->rj, r->pods, r->job ? r->job->cleanup : RETL_CLEANUP_RETAIN,
                        r->now, &plan);
    for (size_t i = 0; i < n; i++)
        if (plan.stop[i])
            ctl_pass_delete(r, kube_obj_name(json_array_get(r->pods, i)));
    free(plan.stop);

    retl_err e = RETL_E_OK;
    switch (plan.step) {
    case CTL_FIN_NONE:
    case CTL_FIN_WAIT_CLEANUP: break;
    case CTL_FIN_RELEASE:
        ctl_pass_delete_pods(r);
        e = ctl_set_finalizer(r->c, r->rj, false, eb);
        break;
    case CTL_FIN_STOP_RUNS:
        ctl_pass_delete_pods(r); /* their deletion requeues us */
        break;
    case CTL_FIN_START_CLEANUP: e = start_cleanup(r, eb); break;
    case CTL_FIN_CLEANED:
        e = ctl_set_finalizer(r->c, r->rj, false, eb);
        if (e == RETL_E_OK)
            RETL_LOG_INFO("state tables dropped; finalizer removed",
                          RF_S("namespace", r->ns), RF_S("job", r->name));
        break;
    case CTL_FIN_CLEANUP_FAILED:
        ctl_pass_event(r, KUBE_EVENT_WARNING, "CleanupFailed",
                       "dropping the state tables failed (retrying in %ds; set "
                       "spec.cleanupPolicy to Retain to give up): %s",
                       CTL_CLEANUP_RETRY_MS / 1000, plan.message);
        ctl_pass_emit(r);
        ctl_pass_delete(r, kube_obj_name(plan.cleanup));
        ctl_pass_delete_pods(r);
        *requeue_ms = CTL_CLEANUP_RETRY_MS;
        break;
    }
    return e;
}
