/* plan and errors: a short-lived pod of the engine image with the job's
 * Secrets (the run pod's shape: same security context, envFrom, RETL_JOB)
 * runs `retl-engine plan|errors --from-env`; its output is printed and the
 * pod deleted. The user needs rights to create pods and read their logs in
 * the namespace, never the Secrets themselves. The pod carries no
 * retl.io/job label, so the controller never takes it for a run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/spec.h"
#include "common/summary.h"
#include "controller/ctl_runpod.h"
#include "kubectl-retl/krc.h"

#define DEFAULT_IMAGE "ghcr.io/retl/retl:latest"
#define INSPECT_DEADLINE_S 600
#define LOG_MAX (4u << 20)
#define POLL_MS 300

/* The image the job's runs use: its newest run pod's, else RETL_ENGINE_IMAGE,
 * else the controller's default. Ownership: caller frees. */
static char *run_image(struct krc *k)
{
    char sel[128];
    snprintf(sel, sizeof sel, "%s=%s", CTL_LABEL_JOB, k->job);
    struct kube_list_opts lo = {.label_selector = sel};
    json_t *list = NULL;
    struct retl_errbuf eb = {{0}};
    char *img = NULL;
    long long best = -1;
    if (kube_list(k->kc, &kube_gvr_pods, k->ns, &lo, &list, &eb) == RETL_E_OK) {
        size_t i;
        json_t *p;
        json_array_foreach (json_object_get(list, "items"), i, p) {
            const char *im = json_string_value(json_object_get(
                json_array_get(retl_json_path(p, "spec.containers"), 0), "image"));
            long long run = ctl_pod_run(p);
            if (im && run > best) {
                free(img);
                img = strdup(im);
                best = run;
            }
        }
    }
    json_decref(list);
    if (!img) {
        const char *env = getenv("RETL_ENGINE_IMAGE");
        img = strdup(env && *env ? env : DEFAULT_IMAGE);
    }
    return img;
}

/* The run pod of the job, turned into an inspect pod. Ownership: new ref. */
static json_t *inspect_pod(struct krc *k, const struct retl_job *job, const char *verb,
                           const char *name, const char *image)
{
    struct ctl_pod_params pp = {.rj = k->rj,
                                .job = job,
                                .name = name,
                                .trigger = "Inspect",
                                .default_image = image};
    json_t *pod = ctl_pod_build(&pp);
    if (!pod)
        return NULL;
    json_t *md = json_object_get(pod, "metadata");
    json_object_set_new(md, "labels",
                        json_pack("{s:s, s:s}", "retl.io/inspect", k->job,
                                  "app.kubernetes.io/managed-by", "kubectl-retl"));
    json_object_set_new(md, "annotations", json_object());
    /* Owned by the job (the garbage collector removes it with the job) but
     * not as its controller: the controller never adopts it. */
    json_t *ref = json_array_get(json_object_get(md, "ownerReferences"), 0);
    json_object_del(ref, "controller");
    json_object_del(ref, "blockOwnerDeletion");
    json_t *spec = json_object_get(pod, "spec");
    json_object_set_new(spec, "activeDeadlineSeconds", json_integer(INSPECT_DEADLINE_S));
    json_t *c = json_array_get(json_object_get(spec, "containers"), 0);
    json_array_set_new(json_object_get(c, "command"), 1, json_string(verb));
    json_array_append_new(
        json_object_get(c, "env"),
        json_pack("{s:s, s:s}", "name", "RETL_LOG_LEVEL", "value", "warn"));
    return pod;
}

/* Prints the pod's output beyond the *printed bytes already shown: complete
 * lines while it runs (the log is read again each time: the client has no
 * streaming text GET; outputs are small), everything once it finished. */
static void print_logs(struct krc *k, const char *name, bool final, size_t *printed)
{
    char *path = kube_path(&kube_gvr_pods, k->ns, name, "log");
    char *full = NULL, *body = NULL;
    size_t len = 0;
    struct retl_errbuf eb = {{0}};
    if (path && asprintf(&full, "%s?container=engine", path) >= 0 &&
        kube_get_text(k->kc, full, LOG_MAX, &body, &len, &eb) == RETL_E_OK) {
        size_t end = len;
        if (!final)
            while (end > *printed && body[end - 1] != '\n')
                end--;
        if (end > *printed) {
            fwrite(body + *printed, 1, end - *printed, stdout);
            if (final && body[end - 1] != '\n')
                fputc('\n', stdout);
            fflush(stdout);
            *printed = end;
        }
    } else if (final && eb.msg[0]) {
        fprintf(stderr, "warning: cannot read the pod's output: %s\n", eb.msg);
    }
    free(body);
    free(full);
    free(path);
}

int krc_inspect(struct krc *k, const char *verb)
{
    struct retl_problems probs = {0};
    struct retl_job *job = NULL;
    struct retl_errbuf eb = {{0}};
    int code = RETL_EXIT_FAILED;
    char *image = NULL;
    json_t *pod = NULL;
    bool created = false;
    if (retl_job_parse(k->rj, &job, &probs) != RETL_E_OK) {
        char *all = retl_problems_join(&probs);
        fprintf(stderr, "error: the job's spec is invalid: %s\n", all ? all : "?");
        free(all);
        code = RETL_EXIT_USAGE;
        goto out;
    }
    image = k->image ? strdup(k->image) : run_image(k);
    char name[CTL_POD_NAME_MAX];
    unsigned rnd = (unsigned)(time(NULL) ^ (getpid() << 8) ^ clock()) & 0xffffu;
    snprintf(name, sizeof name, "%s-%s-%04x", k->job,
             strcmp(verb, "plan") ? "err" : "plan", rnd);
    pod = image ? inspect_pod(k, job, verb, name, image) : NULL;
    if (!pod) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }
    retl_err e = kube_create(k->kc, &kube_gvr_pods, k->ns, pod, NULL, &eb);
    if (e) {
        fprintf(stderr, "error: creating pod %s/%s: %s\n", k->ns, name,
                retl_errbuf_msg(&eb, e));
        goto out;
    }
    created = true;
    fprintf(stderr, "pod %s (%s, image %s) runs retl-engine %s --from-env\n", name, k->ns,
            image, verb);
    double deadline =
        krc_now() + (double)(k->timeout_s > 0 ? k->timeout_s : INSPECT_DEADLINE_S);
    size_t printed = 0;
    for (;;) {
        json_t *live = NULL;
        e = kube_get(k->kc, &kube_gvr_pods, k->ns, name, &live, &eb);
        if (e == RETL_E_OK) {
            struct ctl_outcome o;
            enum ctl_pod_phase ph = ctl_pod_observe(live, time(NULL), &o);
            const char *phase = retl_json_str(live, "status.phase");
            bool running = phase && !strcmp(phase, "Running");
            json_decref(live);
            if (ph == CTL_POD_WAITING && running)
                print_logs(k, name, false, &printed);
            if (ph == CTL_POD_STUCK) {
                fprintf(stderr, "error: the pod cannot start: %s\n", o.message);
                ctl_outcome_free(&o);
                break;
            }
            if (ph == CTL_POD_FINISHED) {
                print_logs(k, name, true, &printed);
                code = o.exit_code >= 0 && o.exit_code <= RETL_EXIT_THRESHOLD
                           ? o.exit_code
                           : RETL_EXIT_FAILED;
                if (o.exit_code != 0)
                    fprintf(stderr, "error: %s%s%s\n", o.reason, o.reason[0] ? ": " : "",
                            o.message);
                ctl_outcome_free(&o);
                break;
            }
        } else if (e == RETL_E_NOT_FOUND) {
            fprintf(stderr, "error: pod %s was deleted before it finished\n", name);
            created = false;
            break;
        }
        if (krc_now() >= deadline) {
            fprintf(stderr, "error: pod %s did not finish in time\n", name);
            break;
        }
        if (!krc_sleep_ms(POLL_MS)) {
            fprintf(stderr, "interrupted\n");
            break;
        }
    }
out:
    if (created) {
        struct kube_delete_opts d = {.propagation = "Background",
                                     .grace_period_seconds = 0};
        struct retl_errbuf deb = {{0}};
        retl_err de = kube_delete(k->kc, &kube_gvr_pods, k->ns, name, &d, &deb);
        if (de && de != RETL_E_NOT_FOUND)
            fprintf(stderr, "warning: deleting pod %s: %s\n", name, deb.msg);
    }
    json_decref(pod);
    free(image);
    retl_job_free(job);
    retl_problems_free(&probs);
    return code;
}
