#include "controller/ctl_runpod.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/summary.h"
#include "common/timestamp.h"
#include "common/utf8.h"

void ctl_pod_name_scheduled(const char *job, time_t slot, char *buf, size_t n)
{
    snprintf(buf, n, "%s-%lld", job, (long long)(slot / 60));
}

void ctl_pod_name_manual(const char *job, const char *value, char *buf, size_t n)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)value, strlen(value), md);
    snprintf(buf, n, "%s-m%02x%02x%02x%02x", job, md[0], md[1], md[2], md[3]);
}

void ctl_pod_name_cleanup(const char *job, char *buf, size_t n)
{
    snprintf(buf, n, "%s-cleanup", job);
}

char *ctl_job_env(const json_t *rj)
{
    const json_t *md = json_object_get(rj, "metadata");
    json_t *m = json_object();
    const char *keys[] = {"name", "namespace", "uid", "generation"};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(md, keys[i]);
        if (v)
            json_object_set(m, keys[i], v);
    }
    json_t *doc =
        json_pack("{s:s, s:s, s:o, s:O}", "apiVersion", RETL_API_VERSION, "kind",
                  RETL_KIND, "metadata", m, "spec", json_object_get(rj, "spec"));
    if (!doc)
        return NULL;
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    return s;
}

static json_t *security_context(void)
{
    return json_pack("{s:b, s:I, s:I, s:b, s:b, s:{s:[s]}, s:{s:s}}", "runAsNonRoot", 1,
                     "runAsUser", (json_int_t)CTL_RUN_USER, "runAsGroup",
                     (json_int_t)CTL_RUN_USER, "allowPrivilegeEscalation", 0,
                     "readOnlyRootFilesystem", 1, "capabilities", "drop", "ALL",
                     "seccompProfile", "type", "RuntimeDefault");
}

json_t *ctl_pod_build(const struct ctl_pod_params *p)
{
    const json_t *md = json_object_get(p->rj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *uid = json_string_value(json_object_get(md, "uid"));
    const json_t *rt = p->job->run_template;
    const char *image = json_string_value(json_object_get(rt, "image"));
    if (!image || !*image)
        image = p->default_image;

    char *job_env = ctl_job_env(p->rj);
    if (!job_env)
        return NULL;
    char run_s[32];
    snprintf(run_s, sizeof run_s, "%lld", p->run);

    json_t *labels = json_pack("{s:s, s:s}", CTL_LABEL_JOB, name,
                               "app.kubernetes.io/managed-by", "retl-controller");
    json_t *ann = json_object();
    json_t *env = json_array();
    if (p->cleanup) {
        json_object_set_new(labels, CTL_LABEL_CLEANUP, json_string("true"));
    } else {
        json_object_set_new(labels, CTL_LABEL_RUN, json_string(run_s));
        json_object_set_new(ann, CTL_ANN_TRIGGER, json_string(p->trigger));
        if (p->scheduled) {
            char ts[RETL_TIME_LEN];
            json_object_set_new(ann, CTL_ANN_SCHEDULED,
                                json_string(retl_time_fmt(p->scheduled, ts, sizeof ts)));
        }
    }
    json_array_append_new(env,
                          json_pack("{s:s, s:s}", "name", "RETL_JOB", "value", job_env));
    json_array_append_new(env,
                          json_pack("{s:s, s:s}", "name", "RETL_RUN", "value", run_s));
    if (p->env_flag)
        json_array_append_new(env,
                              json_pack("{s:s, s:s}", "name", p->env_flag, "value", "1"));
    free(job_env);

    json_t *env_from = json_array();
    json_array_append_new(env_from,
                          json_pack("{s:s, s:{s:s}}", "prefix", "RETL_SOURCE_",
                                    "secretRef", "name", p->job->source.secret_name));
    json_array_append_new(env_from, json_pack("{s:s, s:{s:s}}", "prefix",
                                              "RETL_DESTINATION_", "secretRef", "name",
                                              p->job->destination.secret_name));

    json_t *container = json_pack(
        "{s:s, s:s, s:s, s:[s, s, s], s:o, s:o, s:o, s:s, s:s, s:[{s:s, s:s}]}", "name",
        "engine", "image", image, "imagePullPolicy", "IfNotPresent", "command",
        "retl-engine", p->cleanup ? "cleanup" : "run", "--from-env", "env", env,
        "envFrom", env_from, "securityContext", security_context(),
        "terminationMessagePath", "/dev/termination-log", "terminationMessagePolicy",
        "FallbackToLogsOnError", "volumeMounts", "name", "tmp", "mountPath", "/tmp");
    json_t *res = json_object_get(rt, "resources");
    json_object_set_new(container, "resources",
                        res ? json_deep_copy(res)
                            : json_pack("{s:{s:s, s:s}, s:{s:s}}", "requests", "cpu",
                                        "100m", "memory", "128Mi", "limits", "memory",
                                        "1Gi"));

    json_int_t deadline = CTL_DEFAULT_DEADLINE;
    json_t *ads = json_object_get(rt, "activeDeadlineSeconds");
    if (json_is_integer(ads))
        deadline = json_integer_value(ads);

    json_t *spec = json_pack(
        "{s:s, s:I, s:b, s:{s:b, s:I, s:I, s:I, s:{s:s}}, s:[o], s:[{s:s, s:{}}]}",
        "restartPolicy", "Never", "activeDeadlineSeconds", deadline,
        "automountServiceAccountToken", 0, "securityContext", "runAsNonRoot", 1,
        "runAsUser", (json_int_t)CTL_RUN_USER, "runAsGroup", (json_int_t)CTL_RUN_USER,
        "fsGroup", (json_int_t)CTL_RUN_USER, "seccompProfile", "type", "RuntimeDefault",
        "containers", container, "volumes", "name", "tmp", "emptyDir");
    const char *sa = json_string_value(json_object_get(rt, "serviceAccountName"));
    if (sa && *sa)
        json_object_set_new(spec, "serviceAccountName", json_string(sa));
    json_t *nsel = json_object_get(rt, "nodeSelector");
    if (json_is_object(nsel))
        json_object_set_new(spec, "nodeSelector", json_deep_copy(nsel));
    json_t *tol = json_object_get(rt, "tolerations");
    if (json_is_array(tol))
        json_object_set_new(spec, "tolerations", json_deep_copy(tol));

    return json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:o, s:o, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}, "
        "s:o}",
        "apiVersion", "v1", "kind", "Pod", "metadata", "name", p->name, "namespace", ns,
        "labels", labels, "annotations", ann, "ownerReferences", "apiVersion",
        RETL_API_VERSION, "kind", RETL_KIND, "name", name, "uid", uid ? uid : "",
        "controller", 1, "blockOwnerDeletion", 1, "spec", spec);
}

void ctl_outcome_free(struct ctl_outcome *o)
{
    json_decref(o->summary);
    o->summary = NULL;
}

long long ctl_pod_run(const json_t *pod)
{
    json_t *labels = retl_json_path(pod, "metadata.labels");
    const char *s = json_string_value(json_object_get(labels, CTL_LABEL_RUN));
    if (!s)
        return 0;
    char *end;
    long long n = strtoll(s, &end, 10);
    return *end || n < 0 ? 0 : n;
}

bool ctl_pod_owned_by(const json_t *pod, const char *uid)
{
    json_t *refs = retl_json_path(pod, "metadata.ownerReferences");
    size_t i;
    json_t *r;
    if (!uid)
        return false;
    json_array_foreach (refs, i, r) {
        const char *u = json_string_value(json_object_get(r, "uid"));
        if (u && strcmp(u, uid) == 0 && json_is_true(json_object_get(r, "controller")))
            return true;
    }
    return false;
}

/* Waiting reasons that no wait will cure. ImagePullBackOff: the kubelet has
 * failed to pull at least once; a run pod waiting for a registry would only
 * hold the job until its deadline, so the run fails now with the kubelet's
 * message and the next run pulls again. */
static const char *const stuck_reasons[] = {"CreateContainerConfigError",
                                            "CreateContainerError",
                                            "InvalidImageName",
                                            "ErrImageNeverPull",
                                            "RunContainerError",
                                            "ImagePullBackOff",
                                            NULL};

static bool is_stuck_reason(const char *r)
{
    for (size_t i = 0; r && stuck_reasons[i]; i++)
        if (strcmp(r, stuck_reasons[i]) == 0)
            return true;
    return false;
}

static void outcome_init(struct ctl_outcome *o, const json_t *pod, time_t now)
{
    memset(o, 0, sizeof *o);
    o->exit_code = -1;
    o->started = 0;
    retl_time_parse(retl_json_str(pod, "status.startTime"), &o->started);
    if (!o->started)
        retl_time_parse(retl_json_str(pod, "metadata.creationTimestamp"), &o->started);
    o->finished = now;
}

/* Fills the outcome from a summary JSON when msg is one. */
static bool read_summary(struct ctl_outcome *o, const char *msg)
{
    if (!msg || msg[0] != '{')
        return false;
    json_t *s = json_loads(msg, 0, NULL);
    const char *res = json_string_value(json_object_get(s, RETL_SUM_RESULT));
    enum retl_result r;
    if (!s || !retl_result_parse(res, &r)) {
        json_decref(s);
        return false;
    }
    snprintf(o->result, sizeof o->result, "%s", res);
    const char *m = json_string_value(json_object_get(s, RETL_SUM_MESSAGE));
    retl_utf8_printf(o->message, sizeof o->message, "%s", m ? m : "");
    const char *why = json_string_value(json_object_get(s, RETL_SUM_REASON));
    if (why)
        retl_utf8_printf(o->reason, sizeof o->reason, "%s", why);
    o->summary = s;
    return true;
}

enum ctl_pod_phase ctl_pod_observe(const json_t *pod, time_t now, struct ctl_outcome *o)
{
    const char *phase = retl_json_str(pod, "status.phase");
    json_t *cs = json_array_get(retl_json_path(pod, "status.containerStatuses"), 0);
    json_t *term = retl_json_path(cs, "state.terminated");
    json_t *wait = retl_json_path(cs, "state.waiting");
    bool done = phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));

    if (!done && !term) {
        const char *wr = json_string_value(json_object_get(wait, "reason"));
        if (!is_stuck_reason(wr))
            return CTL_POD_WAITING;
        outcome_init(o, pod, now);
        snprintf(o->result, sizeof o->result, "%s", retl_result_name(RETL_RESULT_FAILED));
        retl_utf8_printf(o->reason, sizeof o->reason, "%s", wr);
        const char *wm = json_string_value(json_object_get(wait, "message"));
        retl_utf8_printf(o->message, sizeof o->message, "run pod cannot start: %s: %s",
                         wr, wm ? wm : "");
        return CTL_POD_STUCK;
    }
    if (!done && term && phase && !strcmp(phase, "Running"))
        return CTL_POD_WAITING;

    outcome_init(o, pod, now);
    json_t *ec = json_object_get(term, "exitCode");
    if (json_is_integer(ec))
        o->exit_code = (int)json_integer_value(ec);
    time_t fin;
    if (retl_time_parse(json_string_value(json_object_get(term, "finishedAt")), &fin))
        o->finished = fin;
    const char *msg = json_string_value(json_object_get(term, "message"));
    const char *tr = json_string_value(json_object_get(term, "reason"));
    const char *pr = retl_json_str(pod, "status.reason");
    const char *pm = retl_json_str(pod, "status.message");
    if (read_summary(o, msg)) {
        /* A summary written while being stopped still reads as the stop. */
        if (pr && !strcmp(pr, "DeadlineExceeded")) {
            char m[sizeof o->message];
            long long ads = 0;
            retl_json_int(pod, "spec.activeDeadlineSeconds", &ads);
            retl_utf8_printf(m, sizeof m,
                             "run stopped after activeDeadlineSeconds (%llds): %s", ads,
                             o->message);
            retl_utf8_printf(o->message, sizeof o->message, "%s", m);
            snprintf(o->result, sizeof o->result, "%s",
                     retl_result_name(RETL_RESULT_FAILED));
            snprintf(o->reason, sizeof o->reason, "DeadlineExceeded");
        }
        return CTL_POD_FINISHED;
    }
    snprintf(o->result, sizeof o->result, "%s",
             retl_result_name(retl_result_for_exit(o->exit_code)));
    if (pr && !strcmp(pr, "DeadlineExceeded")) {
        snprintf(o->result, sizeof o->result, "%s", retl_result_name(RETL_RESULT_FAILED));
        snprintf(o->reason, sizeof o->reason, "DeadlineExceeded");
        long long ads = 0;
        retl_json_int(pod, "spec.activeDeadlineSeconds", &ads);
        retl_utf8_printf(o->message, sizeof o->message,
                         "run stopped after activeDeadlineSeconds (%llds): %s", ads,
                         pm ? pm : "deadline exceeded");
    } else if (tr && !strcmp(tr, "OOMKilled")) {
        snprintf(o->result, sizeof o->result, "%s", retl_result_name(RETL_RESULT_FAILED));
        snprintf(o->reason, sizeof o->reason, "OOMKilled");
        retl_utf8_printf(o->message, sizeof o->message,
                         "run pod ran out of memory (OOMKilled); raise "
                         "spec.runTemplate.resources.limits.memory");
    } else if (pr) {
        snprintf(o->result, sizeof o->result, "%s", retl_result_name(RETL_RESULT_FAILED));
        retl_utf8_printf(o->reason, sizeof o->reason, "%s", pr);
        retl_utf8_printf(o->message, sizeof o->message, "run pod failed: %s: %s", pr,
                         pm ? pm : "");
    } else {
        retl_utf8_printf(o->reason, sizeof o->reason, "%s", tr ? tr : "NoSummary");
        if (msg && *msg)
            retl_utf8_printf(o->message, sizeof o->message, "exit code %d: %s",
                             o->exit_code, msg);
        else
            retl_utf8_printf(o->message, sizeof o->message,
                             "run pod ended (exit code %d) without a run summary",
                             o->exit_code);
    }
    return CTL_POD_FINISHED;
}
