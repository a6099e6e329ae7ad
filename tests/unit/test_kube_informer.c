/* The informer against a local HTTP server that plays the API server: a
 * garbage line in the watch stream makes it relist; the relist reports what
 * changed meanwhile (a deletion with final_state_unknown, an addition) and
 * nothing twice; stop is prompt while a watch hangs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "controller/kube/kube_client.h"
#include "controller/kube/kube_informer.h"

static struct MHD_Daemon *daemon_;
static unsigned short port;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int lists, watches;
static char first_watch_rv[32];
static bool changed; /* state after the first watch: b deleted, c added */

static const char *obj(const char *name, const char *rv, char *buf, size_t n)
{
    snprintf(
        buf, n,
        "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"t\",\"resourceVersion\":\"%s\"}}",
        name, rv);
    return buf;
}

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    const char *text = cls;
    size_t len = text ? strlen(text) : 0;
    if (pos >= len) {
        if (!text) {
            usleep(20000);
            return 0; /* a quiet watch */
        }
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = len - (size_t)pos < max ? len - (size_t)pos : max;
    memcpy(buf, text + pos, n);
    return (ssize_t)n;
}

static char watch1[1024];

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version,
                               const char *upload, size_t *upload_size, void **ctx)
{
    if (*ctx == NULL) {
        *ctx = (void *)1;
        return MHD_YES;
    }
    if (strcmp(url, "/api/v1/namespaces/t/configmaps") != 0)
        return MHD_NO;
    const char *watch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch");
    const char *rv =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "resourceVersion");
    const char *bm =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "allowWatchBookmarks");
    const char *to =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "timeoutSeconds");
    struct MHD_Response *r;
    pthread_mutex_lock(&mu);
    if (!watch) {
        lists++;
        char body[1024], o1[200], o2[200];
        if (!changed)
            snprintf(body, sizeof body,
                     "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":"
                     "{\"resourceVersion\":\"10\"},\"items\":[%s,%s]}",
                     obj("a", "1", o1, sizeof o1), obj("b", "2", o2, sizeof o2));
        else
            snprintf(body, sizeof body,
                     "{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":"
                     "{\"resourceVersion\":\"20\"},\"items\":[%s,%s]}",
                     obj("a", "11", o1, sizeof o1), obj("c", "12", o2, sizeof o2));
        pthread_mutex_unlock(&mu);
        r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    } else {
        int n = ++watches;
        if (n == 1) {
            snprintf(first_watch_rv, sizeof first_watch_rv, "%s", rv ? rv : "");
            /* Only proper watches: bookmarks on, a timeout in [300, 600]. */
            if (!bm || strcmp(bm, "true") || !to || atoi(to) < 300 || atoi(to) > 600)
                first_watch_rv[0] = '?';
            changed = true;
            char o1[200];
            snprintf(
                watch1, sizeof watch1,
                "{\"type\":\"MODIFIED\",\"object\":%s}\n"
                "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":"
                "\"11\"}}}\n"
                "garbage that is not an event\n",
                obj("a", "11", o1, sizeof o1));
        }
        pthread_mutex_unlock(&mu);
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256, stream_cb,
                                              n == 1 ? watch1 : NULL, NULL);
    }
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

struct log {
    pthread_mutex_t mu;
    char text[1024];
};

static void note(struct log *l, const char *what, json_t *o)
{
    pthread_mutex_lock(&l->mu);
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s %s@%s;", what, kube_obj_name(o),
             kube_obj_rv(o));
    pthread_mutex_unlock(&l->mu);
}

static void on_add(void *ud, json_t *o)
{
    note(ud, "add", o);
}

static void on_update(void *ud, json_t *old_obj, json_t *new_obj)
{
    char what[64];
    snprintf(what, sizeof what, "update(from %s)", kube_obj_rv(old_obj));
    note(ud, what, new_obj);
}

static void on_delete(void *ud, json_t *o, bool unknown)
{
    note(ud, unknown ? "delete?" : "delete", o);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_relist_after_garbage(void **state)
{
    daemon_ =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                         0, NULL, NULL, handler, NULL, MHD_OPTION_END);
    assert_non_null(daemon_);
    port = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;

    struct kube_config *cfg = calloc(1, sizeof *cfg);
    pthread_mutex_init(&cfg->mu, NULL);
    char server[64];
    snprintf(server, sizeof server, "http://127.0.0.1:%u", port);
    cfg->server = strdup(server);
    struct kube_client *c = NULL;
    assert_int_equal(kube_client_new(cfg, NULL, &c, NULL), RETL_E_OK);

    struct log lg = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct kube_informer_handlers h = {on_add, on_update, on_delete, &lg};
    struct kube_informer_opts o = {.gvr = &kube_gvr_configmaps, .namespace = "t"};
    struct kube_informer *inf = NULL;
    assert_int_equal(kube_informer_new(c, &o, &h, &inf, NULL), RETL_E_OK);
    assert_false(kube_informer_has_synced(inf));
    assert_int_equal(kube_informer_start(inf, NULL), RETL_E_OK);
    assert_true(kube_informer_wait_synced(inf, 5000));

    /* Wait for the relist the garbage line causes (after a 0.8 s backoff). */
    double end = now_s() + 10;
    struct kube_informer_stats st;
    for (;;) {
        kube_informer_stats(inf, &st);
        if ((st.lists >= 2 && st.watches >= 2) || now_s() > end)
            break;
        usleep(20000);
    }
    assert_int_equal(st.lists, 2);
    assert_true(st.errors >= 1);
    assert_int_equal(st.bookmarks, 1);
    assert_string_equal(first_watch_rv, "10"); /* the list's RV, not an item's */
    pthread_mutex_lock(&lg.mu);
    assert_string_equal(lg.text,
                        "add a@1;add b@2;update(from 1) a@11;add c@12;delete? b@2;");
    pthread_mutex_unlock(&lg.mu);

    /* The cache: copies the caller owns, kind filled in from the list. */
    assert_int_equal(kube_informer_count(inf), 2);
    json_t *a = kube_informer_get(inf, "t", "a");
    assert_non_null(a);
    assert_string_equal(kube_obj_rv(a), "11");
    assert_string_equal(json_string_value(json_object_get(a, "kind")), "ConfigMap");
    json_object_set_new(a, "mutated", json_true());
    json_decref(a);
    a = kube_informer_get_key(inf, "t/a");
    assert_null(json_object_get(a, "mutated"));
    json_decref(a);
    assert_null(kube_informer_get(inf, "t", "b"));
    json_t *all = kube_informer_list(inf);
    assert_int_equal(json_array_size(all), 2);
    json_decref(all);
    char *rv = kube_informer_resource_version(inf);
    assert_string_equal(rv, "20");
    free(rv);

    /* Stop while the second watch hangs: prompt. */
    double t0 = now_s();
    kube_informer_stop(inf);
    assert_true(now_s() - t0 < 2.0);
    kube_informer_free(inf);
    kube_client_free(c);
    MHD_stop_daemon(daemon_);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relist_after_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
