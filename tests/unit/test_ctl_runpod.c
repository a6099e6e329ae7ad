#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/spec.h"
#include "controller/ctl_runpod.h"
#include "controller/ctl_status.h"

static const char *const rj_text =
    "{\"apiVersion\": \"retl.io/v1alpha1\", \"kind\": \"ReverseEtlJob\","
    " \"metadata\": {\"name\": \"account-scores\", \"namespace\": \"sales-ops\","
    "   \"uid\": \"u-1\", \"generation\": 3, \"resourceVersion\": \"77\","
    "   \"annotations\": {\"retl.io/run-requested-at\": \"x\"}},"
    " \"spec\": {\"source\": {\"type\": \"postgres\", \"secretRef\": {\"name\": \"wh\"},"
    "   \"query\": \"SELECT 1\"},"
    "  \"destination\": {\"type\": \"salesforce\", \"secretRef\": {\"name\": \"sf\"},"
    "   \"object\": \"Account\"},"
    "  \"mode\": \"Upsert\", \"key\": {\"source\": \"id\", \"destination\": \"Ext__c\"},"
    "  \"mappings\": [{\"source\": \"a\", \"destination\": \"A__c\"}]%s},"
    " \"status\": {\"observedGeneration\": 2}}";

struct fx {
    json_t *rj;
    struct retl_job *job;
};

static void load(struct fx *f, const char *extra_spec)
{
    char text[4096];
    snprintf(text, sizeof text, rj_text, extra_spec);
    f->rj = json_loads(text, 0, NULL);
    assert_non_null(f->rj);
    struct retl_problems p = {0};
    if (retl_job_parse(f->rj, &f->job, &p) != RETL_E_OK) {
        char *m = retl_problems_join(&p);
        fail_msg("%s", m);
    }
    retl_problems_free(&p);
}

static void unload(struct fx *f)
{
    json_decref(f->rj);
    retl_job_free(f->job);
}

static const char *env_value(const json_t *pod, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach (
        retl_json_path(json_array_get(retl_json_path(pod, "spec.containers"), 0), "env"),
        i, e) {
        if (!strcmp(json_string_value(json_object_get(e, "name")), name))
            return json_string_value(json_object_get(e, "value"));
    }
    return NULL;
}

static void test_names(void **state)
{
    char buf[CTL_POD_NAME_MAX];
    ctl_pod_name_scheduled("job", (time_t)29012345 * 60 + 59, buf, sizeof buf);
    assert_string_equal(buf, "job-29012345");
    ctl_pod_name_manual("job", "2026-01-01T00:00:00+00:00", buf, sizeof buf);
    assert_string_equal(buf, "job-m2db0bb0b");
    ctl_pod_name_manual("job", "x", buf, sizeof buf);
    assert_string_equal(buf, "job-m2d711642");
    ctl_pod_name_cleanup("job", buf, sizeof buf);
    assert_string_equal(buf, "job-cleanup");
    /* The longest job name still gives valid (<= 63) pod names. */
    char longest[RETL_MAX_NAME_LEN + 1];
    memset(longest, 'a', RETL_MAX_NAME_LEN);
    longest[RETL_MAX_NAME_LEN] = '\0';
    ctl_pod_name_manual(longest, "x", buf, sizeof buf);
    assert_true(strlen(buf) <= 63);
    ctl_pod_name_scheduled(longest, (time_t)4102444800, buf, sizeof buf);
    assert_true(strlen(buf) <= 63);
}

static void test_pod_spec(void **state)
{
    struct fx f;
    load(&f, "");
    struct ctl_pod_params p = {.rj = f.rj,
                               .job = f.job,
                               .name = "account-scores-m2d711642",
                               .run = 42,
                               .trigger = "Manual",
                               .default_image = "ghcr.io/retl/retl:1"};
    json_t *pod = ctl_pod_build(&p);
    assert_non_null(pod);
    assert_string_equal(retl_json_str(pod, "metadata.name"), "account-scores-m2d711642");
    assert_string_equal(retl_json_str(pod, "metadata.namespace"), "sales-ops");
    json_t *labels = retl_json_path(pod, "metadata.labels");
    assert_string_equal(json_string_value(json_object_get(labels, "retl.io/job")),
                        "account-scores");
    assert_string_equal(json_string_value(json_object_get(labels, "retl.io/run")), "42");
    assert_int_equal(ctl_pod_run(pod), 42);
    json_t *owner = json_array_get(retl_json_path(pod, "metadata.ownerReferences"), 0);
    assert_string_equal(json_string_value(json_object_get(owner, "kind")),
                        "ReverseEtlJob");
    assert_string_equal(json_string_value(json_object_get(owner, "uid")), "u-1");
    assert_true(json_is_true(json_object_get(owner, "controller")));
    assert_true(ctl_pod_owned_by(pod, "u-1"));
    assert_false(ctl_pod_owned_by(pod, "u-2"));

    assert_string_equal(retl_json_str(pod, "spec.restartPolicy"), "Never");
    long long v = 0;
    assert_true(retl_json_int(pod, "spec.activeDeadlineSeconds", &v));
    assert_int_equal(v, CTL_DEFAULT_DEADLINE);
    assert_true(json_is_false(retl_json_path(pod, "spec.automountServiceAccountToken")));
    assert_true(json_is_true(retl_json_path(pod, "spec.securityContext.runAsNonRoot")));
    assert_string_equal(retl_json_str(pod, "spec.securityContext.seccompProfile.type"),
                        "RuntimeDefault");

    json_t *c = json_array_get(retl_json_path(pod, "spec.containers"), 0);
    assert_string_equal(retl_json_str(c, "image"), "ghcr.io/retl/retl:1");
    char *cmd = json_dumps(json_object_get(c, "command"), JSON_COMPACT);
    assert_string_equal(cmd, "[\"retl-engine\",\"run\",\"--from-env\"]");
    free(cmd);
    json_t *sc = json_object_get(c, "securityContext");
    assert_true(json_is_false(json_object_get(sc, "allowPrivilegeEscalation")));
    assert_true(json_is_true(json_object_get(sc, "readOnlyRootFilesystem")));
    assert_true(json_is_true(json_object_get(sc, "runAsNonRoot")));
    assert_int_equal(json_integer_value(json_object_get(sc, "runAsUser")), 65532);
    assert_string_equal(
        json_string_value(json_array_get(retl_json_path(sc, "capabilities.drop"), 0)),
        "ALL");
    assert_string_equal(retl_json_str(sc, "seccompProfile.type"), "RuntimeDefault");

    json_t *ef = json_object_get(c, "envFrom");
    assert_int_equal(json_array_size(ef), 2);
    assert_string_equal(retl_json_str(json_array_get(ef, 0), "prefix"), "RETL_SOURCE_");
    assert_string_equal(retl_json_str(json_array_get(ef, 0), "secretRef.name"), "wh");
    assert_string_equal(retl_json_str(json_array_get(ef, 1), "prefix"),
                        "RETL_DESTINATION_");
    assert_string_equal(retl_json_str(json_array_get(ef, 1), "secretRef.name"), "sf");

    assert_string_equal(env_value(pod, "RETL_RUN"), "42");
    json_t *job = json_loads(env_value(pod, "RETL_JOB"), 0, NULL);
    assert_non_null(job);
    assert_string_equal(retl_json_str(job, "apiVersion"), "retl.io/v1alpha1");
    assert_string_equal(retl_json_str(job, "kind"), "ReverseEtlJob");
    assert_string_equal(retl_json_str(job, "metadata.name"), "account-scores");
    assert_string_equal(retl_json_str(job, "metadata.uid"), "u-1");
    assert_true(retl_json_int(job, "metadata.generation", &v));
    assert_int_equal(v, 3);
    assert_string_equal(retl_json_str(job, "spec.mode"), "Upsert");
    assert_null(json_object_get(job, "status"));
    assert_null(retl_json_path(job, "metadata.annotations"));
    /* The engine must accept what it gets. */
    struct retl_job *parsed = NULL;
    struct retl_problems probs = {0};
    assert_int_equal(retl_job_parse(job, &parsed, &probs), RETL_E_OK);
    retl_job_free(parsed);
    retl_problems_free(&probs);
    json_decref(job);
    json_decref(pod);
    unload(&f);
}

static void test_run_template_and_cleanup(void **state)
{
    struct fx f;
    load(&f, ", \"runTemplate\": {\"image\": \"my/image:2\", \"serviceAccountName\": "
             "\"runner\","
             " \"activeDeadlineSeconds\": 60, \"nodeSelector\": {\"disk\": \"ssd\"},"
             " \"resources\": {\"limits\": {\"memory\": \"2Gi\"}},"
             " \"tolerations\": [{\"key\": \"k\", \"operator\": \"Exists\"}]}");
    struct ctl_pod_params p = {.rj = f.rj,
                               .job = f.job,
                               .name = "account-scores-1",
                               .run = 1,
                               .trigger = "Schedule",
                               .scheduled = 60,
                               .default_image = "default:1"};
    json_t *pod = ctl_pod_build(&p);
    json_t *c = json_array_get(retl_json_path(pod, "spec.containers"), 0);
    assert_string_equal(retl_json_str(c, "image"), "my/image:2");
    assert_string_equal(retl_json_str(c, "resources.limits.memory"), "2Gi");
    assert_string_equal(retl_json_str(pod, "spec.serviceAccountName"), "runner");
    assert_string_equal(retl_json_str(pod, "spec.nodeSelector.disk"), "ssd");
    assert_int_equal(json_array_size(retl_json_path(pod, "spec.tolerations")), 1);
    long long v = 0;
    retl_json_int(pod, "spec.activeDeadlineSeconds", &v);
    assert_int_equal(v, 60);
    json_t *ann = retl_json_path(pod, "metadata.annotations");
    assert_string_equal(json_string_value(json_object_get(ann, "retl.io/trigger")),
                        "Schedule");
    assert_string_equal(json_string_value(json_object_get(ann, "retl.io/scheduled-time")),
                        "1970-01-01T00:01:00Z");
    json_decref(pod);

    p.cleanup = true;
    p.name = "account-scores-cleanup";
    pod = ctl_pod_build(&p);
    c = json_array_get(retl_json_path(pod, "spec.containers"), 0);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(c, "command"), 1)), "cleanup");
    json_t *labels = retl_json_path(pod, "metadata.labels");
    assert_string_equal(json_string_value(json_object_get(labels, "retl.io/cleanup")),
                        "true");
    assert_null(json_object_get(labels, "retl.io/run"));
    json_decref(pod);
    unload(&f);
}

static enum ctl_pod_phase observe(const char *text, struct ctl_outcome *o)
{
    json_t *pod = json_loads(text, 0, NULL);
    assert_non_null(pod);
    enum ctl_pod_phase ph = ctl_pod_observe(pod, 1000, o);
    json_decref(pod);
    return ph;
}

static void test_observe(void **state)
{
    struct ctl_outcome o;
    assert_int_equal(observe("{\"status\": {\"phase\": \"Pending\"}}", &o),
                     CTL_POD_WAITING);
    assert_int_equal(
        observe("{\"status\": {\"phase\": \"Running\", \"containerStatuses\": "
                "[{\"state\": {\"running\": {}}}]}}",
                &o),
        CTL_POD_WAITING);

    assert_int_equal(
        observe(
            "{\"status\": {\"phase\": \"Succeeded\", \"startTime\": "
            "\"1970-01-01T00:00:10Z\","
            " \"containerStatuses\": [{\"state\": {\"terminated\": {\"exitCode\": 0,"
            " \"finishedAt\": \"1970-01-01T00:00:20Z\", \"message\": \"{\\\"run\\\": 1,"
            " \\\"result\\\": \\\"Succeeded\\\", \\\"message\\\": \\\"fine\\\","
            " \\\"rows\\\": {\\\"changed\\\": 3}}\"}}}]}}",
            &o),
        CTL_POD_FINISHED);
    assert_string_equal(o.result, "Succeeded");
    assert_string_equal(o.message, "fine");
    assert_int_equal(o.exit_code, 0);
    assert_int_equal(o.started, 10);
    assert_int_equal(o.finished, 20);
    assert_non_null(o.summary);
    ctl_outcome_free(&o);

    assert_int_equal(
        observe(
            "{\"status\": {\"phase\": \"Failed\", \"containerStatuses\": [{\"state\": "
            "{\"terminated\": {\"exitCode\": 3, \"reason\": \"Error\"}}}]}}",
            &o),
        CTL_POD_FINISHED);
    assert_string_equal(o.result, "ThresholdExceeded");
    ctl_outcome_free(&o);

    assert_int_equal(
        observe(
            "{\"status\": {\"phase\": \"Failed\", \"containerStatuses\": [{\"state\": "
            "{\"terminated\": {\"exitCode\": 1, \"reason\": \"Error\", \"message\": "
            "\"panic: boom\"}}}]}}",
            &o),
        CTL_POD_FINISHED);
    assert_string_equal(o.result, "Failed");
    assert_non_null(strstr(o.message, "panic: boom"));
    ctl_outcome_free(&o);

    assert_int_equal(
        observe(
            "{\"status\": {\"phase\": \"Failed\", \"containerStatuses\": [{\"state\": "
            "{\"terminated\": {\"exitCode\": 137, \"reason\": \"OOMKilled\"}}}]}}",
            &o),
        CTL_POD_FINISHED);
    assert_string_equal(o.reason, "OOMKilled");
    assert_non_null(strstr(o.message, "memory"));
    ctl_outcome_free(&o);

    assert_int_equal(observe("{\"spec\": {\"activeDeadlineSeconds\": 5}, \"status\": "
                             "{\"phase\": \"Failed\", \"reason\": \"DeadlineExceeded\","
                             " \"message\": \"Pod was active too long\"}}",
                             &o),
                     CTL_POD_FINISHED);
    assert_string_equal(o.result, "Failed");
    assert_string_equal(o.reason, "DeadlineExceeded");
    assert_non_null(strstr(o.message, "activeDeadlineSeconds (5s)"));
    ctl_outcome_free(&o);

    /* A summary written while the deadline stopped the run: still the deadline. */
    assert_int_equal(
        observe("{\"spec\": {\"activeDeadlineSeconds\": 5}, \"status\": {\"phase\": "
                "\"Failed\", \"reason\": \"DeadlineExceeded\", \"containerStatuses\": "
                "[{\"state\": {\"terminated\": {\"exitCode\": 1, \"message\": "
                "\"{\\\"result\\\": \\\"Failed\\\", \\\"message\\\": "
                "\\\"cancelled\\\"}\"}}}]}}",
                &o),
        CTL_POD_FINISHED);
    assert_string_equal(o.reason, "DeadlineExceeded");
    assert_non_null(strstr(o.message, "cancelled"));
    ctl_outcome_free(&o);

    assert_int_equal(
        observe(
            "{\"status\": {\"phase\": \"Pending\", \"containerStatuses\": [{\"state\": "
            "{\"waiting\": {\"reason\": \"CreateContainerConfigError\", \"message\": "
            "\"secret \\\"sf\\\" not found\"}}}]}}",
            &o),
        CTL_POD_STUCK);
    assert_string_equal(o.result, "Failed");
    assert_string_equal(o.reason, "CreateContainerConfigError");
    assert_non_null(strstr(o.message, "secret \"sf\" not found"));
    ctl_outcome_free(&o);

    /* Creating or a first pull attempt is not stuck (it may succeed). */
    assert_int_equal(
        observe("{\"status\": {\"phase\": \"Pending\", \"containerStatuses\": "
                "[{\"state\": {\"waiting\": {\"reason\": \"ContainerCreating\"}}}]}}",
                &o),
        CTL_POD_WAITING);
    assert_int_equal(
        observe("{\"status\": {\"phase\": \"Pending\", \"containerStatuses\": "
                "[{\"state\": {\"waiting\": {\"reason\": \"ErrImagePull\"}}}]}}",
                &o),
        CTL_POD_WAITING);
    /* A pull that failed and backs off: the run fails with the kubelet's words. */
    assert_int_equal(
        observe("{\"status\": {\"phase\": \"Pending\", \"containerStatuses\": "
                "[{\"state\": {\"waiting\": {\"reason\": \"ImagePullBackOff\", "
                "\"message\": \"Back-off pulling image \\\"localhost/nope:1\\\"\"}}}]}}",
                &o),
        CTL_POD_STUCK);
    assert_string_equal(o.reason, "ImagePullBackOff");
    assert_non_null(strstr(o.message, "localhost/nope:1"));
    ctl_outcome_free(&o);

    /* A summary reason longer than the field, cut inside a UTF-8 sequence
     * (found by fuzz_pod_outcome): it is cut before the sequence, so the run
     * entry still has a valid string (a broken one was dropped silently). */
    assert_int_equal(
        observe("{\"status\": {\"phase\": \"Failed\", \"containerStatuses\": "
                "[{\"state\": {\"terminated\": {\"exitCode\": 1, \"message\": "
                "\"{\\\"result\\\": \\\"Failed\\\", \\\"reason\\\": \\\""
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xc3\xa9"
                "\\\"}\"}}}]}}",
                &o),
        CTL_POD_FINISHED);
    assert_int_equal(strlen(o.reason), 62);
    struct ctl_run_ref ref = {.run = 1, .pod = "p", .trigger = "Manual"};
    json_t *entry = ctl_run_entry(&ref, &o);
    assert_string_equal(json_string_value(json_object_get(entry, "reason")), o.reason);
    json_decref(entry);
    ctl_outcome_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_pod_spec),
        cmocka_unit_test(test_run_template_and_cleanup),
        cmocka_unit_test(test_observe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
