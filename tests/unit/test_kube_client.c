/* The kube REST client and watch streaming against a local HTTP server
 * (libmicrohttpd) that plays the API server: 429 with Retry-After, 401 and a
 * rotated token file, Status bodies, body caps, query escaping, and watch
 * streams that end cleanly, carry garbage, get truncated, or hang. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "controller/kube/kube_client.h"

static struct MHD_Daemon *daemon_;
static unsigned short port;
static atomic_int rl_calls;
static char token_path[64];
static const char *watch_scenario = "clean";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status,
                             const char *body, const char *hname, const char *hval)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    if (hname)
        MHD_add_response_header(r, hname, hval);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *const ev_a = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":"
                                "\"a\",\"resourceVersion\":\"5\"}}}\n";
static const char *const ev_b = "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{"
                                "\"name\":\"a\",\"resourceVersion\":\"6\"}}}\n";

/* Streams the scenario in small pieces, like chunked HTTP. */
static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    const char *text = cls;
    size_t len = strlen(text);
    if (pos >= len) {
        if (!strcmp(watch_scenario, "hang")) {
            usleep(50000);
            return 0; /* nothing yet: keep the connection open */
        }
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = len - (size_t)pos;
    if (n > 7)
        n = 7;
    if (n > max)
        n = max;
    memcpy(buf, text + pos, n);
    return (ssize_t)n;
}

static char stream_text[1024];

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version,
                               const char *upload, size_t *upload_size, void **ctx)
{
    if (*ctx == NULL) {
        *ctx = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!strcmp(url, "/api/v1/namespaces/t/configmaps/rl")) {
        if (atomic_fetch_add(&rl_calls, 1) == 0)
            return reply(
                c, 429,
                "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\",\"code\":429}",
                "Retry-After", "1");
        return reply(c, 200, "{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"rl\"}}",
                     NULL, NULL);
    }
    if (!strcmp(url, "/api/v1/namespaces/t/configmaps/auth")) {
        if (!auth || strcmp(auth, "Bearer new-token") != 0)
            return reply(c, 401,
                         "{\"kind\":\"Status\",\"reason\":\"Unauthorized\",\"code\":401}",
                         NULL, NULL);
        return reply(c, 200, "{\"metadata\":{\"name\":\"auth\"}}", NULL, NULL);
    }
    if (!strcmp(url, "/api/v1/namespaces/t/configmaps/big")) {
        static char big[2 * 1024 * 1024 + 16];
        memset(big, ' ', sizeof big - 1);
        big[0] = '{';
        big[sizeof big - 2] = '}';
        big[sizeof big - 1] = '\0';
        return reply(c, 200, big, NULL, NULL);
    }
    if (!strcmp(url, "/api/v1/namespaces/t/configmaps/taken")) {
        return reply(c, 409,
                     "{\"kind\":\"Status\",\"reason\":\"AlreadyExists\",\"message\":"
                     "\"configmaps \\\"taken\\\" already exists\",\"code\":409}",
                     NULL, NULL);
    }
    if (!strcmp(url, "/api/v1/namespaces/t/configmaps")) {
        const char *watch =
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch");
        const char *sel =
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "labelSelector");
        if (!watch) {
            char body[512];
            snprintf(
                body, sizeof body,
                "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"9\"},"
                "\"items\":[{\"metadata\":{\"name\":\"%s\"}}]}",
                sel ? sel : "none");
            return reply(c, 200, body, NULL, NULL);
        }
        if (!strcmp(watch_scenario, "clean") || !strcmp(watch_scenario, "hang"))
            snprintf(stream_text, sizeof stream_text, "%s%s", ev_a, ev_b);
        else if (!strcmp(watch_scenario, "garbage"))
            snprintf(stream_text, sizeof stream_text, "%s<html>oops</html>\n%s", ev_a,
                     ev_b);
        else if (!strcmp(watch_scenario, "truncated"))
            snprintf(stream_text, sizeof stream_text, "%s{\"type\":\"MODIFIED\",\"obj",
                     ev_a);
        else if (!strcmp(watch_scenario, "gone"))
            snprintf(
                stream_text, sizeof stream_text,
                "%s{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
                "\"reason\":\"Expired\",\"message\":\"too old resource version\"}}\n%s",
                ev_a, ev_b);
        struct MHD_Response *r = MHD_create_response_from_callback(
            MHD_SIZE_UNKNOWN, 64, stream_cb, stream_text, NULL);
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    return reply(c, 404, "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"code\":404}",
                 NULL, NULL);
}

static struct kube_client *client(size_t max_body, const char *token_file)
{
    struct kube_config *cfg = calloc(1, sizeof *cfg);
    pthread_mutex_init(&cfg->mu, NULL);
    char server[64];
    snprintf(server, sizeof server, "http://127.0.0.1:%u", port);
    cfg->server = strdup(server);
    cfg->namespace = strdup("t");
    if (token_file)
        cfg->token_file = strdup(token_file);
    struct kube_client_opts o = {.max_body = max_body, .timeout_ms = 10000};
    struct kube_client *c = NULL;
    assert_int_equal(kube_client_new(cfg, &o, &c, NULL), RETL_E_OK);
    return c;
}

static int setup(void **state)
{
    daemon_ =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                         0, NULL, NULL, handler, NULL, MHD_OPTION_END);
    assert_non_null(daemon_);
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    port = info->port;
    return 0;
}

static int teardown(void **state)
{
    MHD_stop_daemon(daemon_);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_retry_after_honoured(void **state)
{
    struct kube_client *c = client(0, NULL);
    json_t *obj = NULL;
    double t0 = now_s();
    assert_int_equal(kube_get(c, &kube_gvr_configmaps, "t", "rl", &obj, NULL), RETL_E_OK);
    assert_true(now_s() - t0 >= 0.95);
    assert_string_equal(kube_obj_name(obj), "rl");
    json_decref(obj);
    struct kube_client_metrics m;
    kube_client_metrics(c, &m);
    assert_int_equal(m.by_code[429], 1);
    assert_int_equal(m.by_code[200], 1);
    assert_int_equal(m.retries_429, 1);
    kube_client_free(c);
}

static void test_token_file_rotation_on_401(void **state)
{
    snprintf(token_path, sizeof token_path, "/tmp/kube-client-token-XXXXXX");
    int fd = mkstemp(token_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "old-token\n", 10), 10);
    close(fd);
    struct kube_client *c = client(0, token_path);
    json_t *obj = NULL;
    struct retl_errbuf eb = {{0}};
    /* The old token is refused even after the forced re-read. */
    assert_int_equal(kube_get(c, &kube_gvr_configmaps, "t", "auth", &obj, &eb),
                     RETL_E_UNAUTHORIZED);
    /* Rotated on disk: the 401 makes the client re-read it at once. */
    FILE *f = fopen(token_path, "w");
    fputs("new-token\n", f);
    fclose(f);
    assert_int_equal(kube_get(c, &kube_gvr_configmaps, "t", "auth", &obj, &eb),
                     RETL_E_OK);
    json_decref(obj);
    struct kube_client_metrics m;
    kube_client_metrics(c, &m);
    assert_true(m.token_reloads_401 >= 2);
    kube_client_free(c);
    unlink(token_path);
}

static void test_status_and_caps(void **state)
{
    struct kube_client *c = client(1024 * 1024, NULL);
    json_t *obj = NULL;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(kube_get(c, &kube_gvr_configmaps, "t", "taken", &obj, &eb),
                     RETL_E_ALREADY_EXISTS);
    assert_non_null(strstr(eb.msg, "already exists"));
    assert_int_equal(kube_get(c, &kube_gvr_configmaps, "t", "missing", &obj, &eb),
                     RETL_E_NOT_FOUND);
    assert_int_equal(kube_get(c, &kube_gvr_configmaps, "t", "big", &obj, &eb),
                     RETL_E_TOO_BIG);
    /* Query values are escaped and arrive intact. */
    struct kube_list_opts lo = {.label_selector = "app in (a,b),tier!=db"};
    json_t *list = NULL;
    assert_int_equal(kube_list(c, &kube_gvr_configmaps, "t", &lo, &list, &eb), RETL_E_OK);
    assert_string_equal(kube_obj_name(json_array_get(json_object_get(list, "items"), 0)),
                        "app in (a,b),tier!=db");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(list, "metadata"), "resourceVersion")),
                        "9");
    json_decref(list);
    kube_client_free(c);
}

static void test_paths(void **state)
{
    char *p = kube_path(&kube_gvr_leases, "ns 1", "my/lease", NULL);
    assert_string_equal(
        p, "/apis/coordination.k8s.io/v1/namespaces/ns%201/leases/my%2Flease");
    free(p);
    p = kube_path(&kube_gvr_namespaces, "ignored", "default", NULL);
    assert_string_equal(p, "/api/v1/namespaces/default");
    free(p);
    p = kube_path(&kube_gvr_reverseetljobs, "x", "j", "status");
    assert_string_equal(p, "/apis/retl.io/v1alpha1/namespaces/x/reverseetljobs/j/status");
    free(p);
    p = kube_path(&kube_gvr_pods, NULL, NULL, NULL);
    assert_string_equal(p, "/api/v1/pods");
    free(p);
    char buf[64];
    const char *ns, *name;
    assert_true(kube_key_split("a/b", buf, sizeof buf, &ns, &name));
    assert_string_equal(ns, "a");
    assert_string_equal(name, "b");
    assert_true(kube_key_split("node1", buf, sizeof buf, &ns, &name));
    assert_string_equal(ns, "");
    assert_string_equal(name, "node1");
}

struct collected {
    int n;
    char rv[8][16];
};

static retl_err collect(void *ud, enum kube_watch_type t, json_t *obj,
                        struct retl_errbuf *eb)
{
    struct collected *c = ud;
    if (t == KUBE_WATCH_ERROR)
        return kube_status_from_json(0, obj, NULL, NULL, eb);
    if (c->n < 8)
        snprintf(c->rv[c->n], sizeof c->rv[0], "%s", kube_obj_rv(obj));
    c->n++;
    return RETL_E_OK;
}

static retl_err watch_scenario_run(const char *scenario, struct collected *got,
                                   const atomic_bool *stop)
{
    watch_scenario = scenario;
    struct kube_client *c = client(0, NULL);
    struct kube_watch_opts wo = {
        .resource_version = "4", .bookmarks = true, .timeout_seconds = 300};
    struct retl_errbuf eb = {{0}};
    memset(got, 0, sizeof *got);
    retl_err e = kube_watch(c, &kube_gvr_configmaps, "t", &wo, collect, got, stop, &eb);
    kube_client_free(c);
    return e;
}

static void test_watch_streams(void **state)
{
    struct collected got;
    assert_int_equal(watch_scenario_run("clean", &got, NULL), RETL_E_OK);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.rv[1], "6");
    assert_int_equal(watch_scenario_run("garbage", &got, NULL), RETL_E_PARSE);
    assert_int_equal(got.n, 1);
    assert_int_equal(watch_scenario_run("truncated", &got, NULL), RETL_E_PARSE);
    assert_int_equal(got.n, 1);
    assert_int_equal(watch_scenario_run("gone", &got, NULL), RETL_E_GONE);
    assert_int_equal(got.n, 1);
}

static atomic_bool stop_flag;

static void *raise_stop(void *arg)
{
    usleep(300000);
    atomic_store(&stop_flag, true);
    return NULL;
}

static void test_watch_stop_is_prompt(void **state)
{
    struct collected got;
    atomic_store(&stop_flag, false);
    pthread_t th;
    pthread_create(&th, NULL, raise_stop, NULL);
    double t0 = now_s();
    assert_int_equal(watch_scenario_run("hang", &got, &stop_flag), RETL_E_CANCELLED);
    double took = now_s() - t0;
    pthread_join(th, NULL);
    assert_int_equal(got.n, 2);
    assert_true(took < 2.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after_honoured),
        cmocka_unit_test(test_token_file_rotation_on_401),
        cmocka_unit_test(test_status_and_caps),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_watch_streams),
        cmocka_unit_test(test_watch_stop_is_prompt),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
