/* Integration driver for controller/kube against a real kube-apiserver
 * (tests/suites/60-kube-client.sh, bench/kube-informer.sh). Each subcommand
 * prints "ok - <check>" / "not ok - <check>: <why>" lines and exits non-zero
 * when a check failed. The API server comes from $KUBECONFIG. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "controller/kube/kube.h"

static int n_ok, n_fail;

static void check(bool cond, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check(bool cond, const char *name, const char *fmt, ...)
{
    if (cond) {
        n_ok++;
        printf("ok - %s\n", name);
    } else {
        n_fail++;
        char why[1200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        printf("not ok - %s: %s\n", name, why);
    }
    fflush(stdout);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static struct kube_client *connect_env(const char *kubeconfig)
{
    struct retl_errbuf eb = {{0}};
    struct kube_config *cfg = NULL;
    struct kube_config_opts o = {.kubeconfig = kubeconfig, .no_in_cluster = true};
    retl_err e = kube_config_load(&o, &cfg, &eb);
    if (e) {
        fprintf(stderr, "config: %s\n", retl_errbuf_msg(&eb, e));
        exit(2);
    }
    struct kube_client *c = NULL;
    e = kube_client_new(cfg, NULL, &c, &eb);
    if (e) {
        fprintf(stderr, "client: %s\n", retl_errbuf_msg(&eb, e));
        exit(2);
    }
    return c;
}

static json_t *configmap(const char *ns, const char *name, const char *val)
{
    return json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s}}", "apiVersion", "v1", "kind",
                     "ConfigMap", "metadata", "name", name, "namespace", ns, "data", "v",
                     val);
}

/* ---- crud: verbs and error mapping ---------------------------------------- */

static int cmd_crud(const char *ns)
{
    struct kube_client *c = connect_env(NULL);
    struct retl_errbuf eb = {{0}};
    const struct kube_gvr *cm = &kube_gvr_configmaps;
    json_t *obj = configmap(ns, "crud-a", "1"), *created = NULL, *got = NULL;

    retl_err e = kube_create(c, cm, ns, obj, &created, &eb);
    check(e == RETL_E_OK && kube_obj_uid(created), "create", "%s",
          retl_errbuf_msg(&eb, e));
    e = kube_create(c, cm, ns, obj, NULL, &eb);
    check(e == RETL_E_ALREADY_EXISTS && strstr(eb.msg, "AlreadyExists") &&
              strstr(eb.msg, "409"),
          "create twice is ALREADY_EXISTS with reason and code", "%s: %s",
          retl_err_name(e), eb.msg);
    e = kube_get(c, cm, ns, "crud-missing", &got, &eb);
    check(e == RETL_E_NOT_FOUND && strstr(eb.msg, "NotFound"), "get missing is NOT_FOUND",
          "%s: %s", retl_err_name(e), eb.msg);
    e = kube_get(c, cm, ns, "crud-a", &got, &eb);
    check(e == RETL_E_OK && !strcmp(kube_obj_rv(got), kube_obj_rv(created)), "get", "%s",
          retl_errbuf_msg(&eb, e));

    /* Update, then a stale update: 409 Conflict. */
    json_t *upd = json_deep_copy(got);
    json_object_set_new(json_object_get(upd, "data"), "v", json_string("2"));
    json_t *updated = NULL;
    e = kube_update(c, cm, ns, upd, NULL, &updated, &eb);
    check(e == RETL_E_OK && strcmp(kube_obj_rv(updated), kube_obj_rv(got)) != 0, "update",
          "%s", retl_errbuf_msg(&eb, e));
    json_object_set_new(json_object_get(upd, "data"), "v", json_string("3"));
    e = kube_update(c, cm, ns, upd, NULL, NULL, &eb); /* upd has the old RV */
    check(e == RETL_E_CONFLICT && strstr(eb.msg, "Conflict"),
          "stale update is CONFLICT (409)", "%s: %s", retl_err_name(e), eb.msg);

    /* Merge patch. */
    json_t *patch = json_pack("{s:{s:{s:s}},s:{s:s}}", "metadata", "labels", "retl.io/t",
                              "x", "data", "w", "merged");
    json_t *patched = NULL;
    e = kube_patch(c, cm, ns, "crud-a", KUBE_PATCH_MERGE, patch, NULL, &patched, &eb);
    check(e == RETL_E_OK &&
              !strcmp(json_string_value(
                          json_object_get(json_object_get(patched, "data"), "w")),
                      "merged") &&
              json_object_get(json_object_get(patched, "data"), "v"),
          "merge patch", "%s", retl_errbuf_msg(&eb, e));
    json_decref(patch);

    /* Server-side apply: create by apply, conflict without force, force. */
    json_t *intent = configmap(ns, "crud-ssa", "mine");
    json_t *applied = NULL;
    e = kube_apply(c, cm, ns, intent, "retl-a", &applied, &eb);
    check(e == RETL_E_OK &&
              json_object_get(json_object_get(applied, "metadata"), "managedFields"),
          "server-side apply creates", "%s", retl_errbuf_msg(&eb, e));
    json_t *other = configmap(ns, "crud-ssa", "theirs");
    struct kube_patch_opts po = {.field_manager = "retl-b", .force = false};
    e = kube_patch(c, cm, ns, "crud-ssa", KUBE_PATCH_APPLY, other, &po, NULL, &eb);
    check(e == RETL_E_CONFLICT, "apply by another manager without force conflicts",
          "%s: %s", retl_err_name(e), eb.msg);
    po.force = true;
    json_t *forced = NULL;
    e = kube_patch(c, cm, ns, "crud-ssa", KUBE_PATCH_APPLY, other, &po, &forced, &eb);
    check(e == RETL_E_OK && !strcmp(json_string_value(json_object_get(
                                        json_object_get(forced, "data"), "v")),
                                    "theirs"),
          "apply with force takes the field", "%s", retl_errbuf_msg(&eb, e));

    /* Invalid: 422 with causes. */
    json_t *bad = configmap(ns, "Not_A_Valid_Name", "x");
    e = kube_create(c, cm, ns, bad, NULL, &eb);
    check(e == RETL_E_UNPROCESSABLE && strstr(eb.msg, "Invalid") &&
              strstr(eb.msg, "metadata.name"),
          "invalid object is UNPROCESSABLE with its causes", "%s: %s", retl_err_name(e),
          eb.msg);

    /* Delete preconditions. */
    struct kube_delete_opts dop = {.uid = "00000000-0000-0000-0000-000000000000",
                                   .grace_period_seconds = -1};
    e = kube_delete(c, cm, ns, "crud-a", &dop, &eb);
    check(e == RETL_E_CONFLICT && strstr(eb.msg, "precondition"),
          "delete with a wrong uid precondition is CONFLICT", "%s: %s", retl_err_name(e),
          eb.msg);
    dop.uid = kube_obj_uid(created);
    dop.resource_version = kube_obj_rv(created); /* stale by now */
    e = kube_delete(c, cm, ns, "crud-a", &dop, &eb);
    check(e == RETL_E_CONFLICT, "delete with a stale resourceVersion is CONFLICT",
          "%s: %s", retl_err_name(e), eb.msg);
    dop.resource_version = NULL;
    dop.propagation = "Foreground";
    e = kube_delete(c, cm, ns, "crud-a", &dop, &eb);
    check(e == RETL_E_OK, "delete with uid precondition and propagation", "%s",
          retl_errbuf_msg(&eb, e));
    e = kube_delete(c, cm, ns, "crud-a", NULL, &eb);
    check(e == RETL_E_NOT_FOUND || e == RETL_E_OK,
          "delete again is NOT_FOUND (or still finalizing)", "%s", retl_err_name(e));

    /* Pagination: 25 objects, pages of 10. */
    for (int i = 0; i < 25; i++) {
        char name[32];
        snprintf(name, sizeof name, "page-%02d", i);
        json_t *o = configmap(ns, name, "p");
        json_object_set_new(json_object_get(o, "metadata"), "labels",
                            json_pack("{s:s}", "set", "page"));
        kube_create(c, cm, ns, o, NULL, NULL);
        json_decref(o);
    }
    json_t *page = NULL;
    struct kube_list_opts lo = {.label_selector = "set=page", .limit = 10};
    e = kube_list_page(c, cm, ns, &lo, NULL, &page, &eb);
    const char *cont =
        json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
    check(e == RETL_E_OK && json_array_size(json_object_get(page, "items")) == 10 &&
              cont && *cont,
          "list page with limit has a continue token", "%s", retl_errbuf_msg(&eb, e));
    json_t *all = NULL;
    e = kube_list(c, cm, ns, &lo, &all, &eb);
    check(e == RETL_E_OK && json_array_size(json_object_get(all, "items")) == 25,
          "list follows continue tokens", "%s (%zu items)", retl_errbuf_msg(&eb, e),
          json_array_size(json_object_get(all, "items")));
    lo.label_selector = "set=none";
    json_t *none = NULL;
    e = kube_list(c, cm, ns, &lo, &none, &eb);
    check(e == RETL_E_OK && json_array_size(json_object_get(none, "items")) == 0,
          "label selector narrows the list", "%s", retl_errbuf_msg(&eb, e));

    /* Metrics by code. */
    struct kube_client_metrics m;
    kube_client_metrics(c, &m);
    check(m.by_code[200] > 0 && m.by_code[201] > 0 && m.by_code[404] > 0 &&
              m.by_code[409] >= 3 && m.by_code[422] >= 1,
          "request counts by code", "200:%llu 201:%llu 404:%llu 409:%llu 422:%llu",
          (unsigned long long)m.by_code[200], (unsigned long long)m.by_code[201],
          (unsigned long long)m.by_code[404], (unsigned long long)m.by_code[409],
          (unsigned long long)m.by_code[422]);

    json_decref(obj);
    json_decref(created);
    json_decref(got);
    json_decref(upd);
    json_decref(updated);
    json_decref(patched);
    json_decref(intent);
    json_decref(applied);
    json_decref(other);
    json_decref(forced);
    json_decref(bad);
    json_decref(page);
    json_decref(all);
    json_decref(none);
    kube_client_free(c);
    return n_fail ? 1 : 0;
}

/* ---- status subresource on a CRD (kubetest.retl.io Widget) ----------------- */

static const struct kube_gvr gvr_widgets = {"kubetest.retl.io", "v1", "widgets", true};

static int cmd_status(const char *ns)
{
    struct kube_client *c = connect_env(NULL);
    struct retl_errbuf eb = {{0}};
    json_t *w =
        json_pack("{s:s,s:s,s:{s:s},s:{s:i}}", "apiVersion", "kubetest.retl.io/v1",
                  "kind", "Widget", "metadata", "name", "w1", "spec", "size", 1);
    json_t *cr = NULL, *st = NULL, *after = NULL;
    retl_err e = kube_create(c, &gvr_widgets, ns, w, &cr, &eb);
    check(e == RETL_E_OK, "create custom resource", "%s", retl_errbuf_msg(&eb, e));
    if (e)
        goto out;
    json_t *s = json_deep_copy(cr);
    json_object_set_new(s, "status", json_pack("{s:s}", "phase", "Ready"));
    json_object_set_new(json_object_get(s, "spec"), "size", json_integer(99));
    e = kube_update_status(c, &gvr_widgets, ns, s, &st, &eb);
    check(e == RETL_E_OK &&
              !strcmp(json_string_value(
                          json_object_get(json_object_get(st, "status"), "phase")),
                      "Ready") &&
              json_integer_value(json_object_get(json_object_get(st, "spec"), "size")) ==
                  1,
          "status update writes status only", "%s", retl_errbuf_msg(&eb, e));
    json_t *patch = json_pack("{s:{s:s}}", "status", "phase", "Done");
    struct kube_patch_opts po = {.subresource = "status"};
    e = kube_patch(c, &gvr_widgets, ns, "w1", KUBE_PATCH_MERGE, patch, &po, &after, &eb);
    check(e == RETL_E_OK && !strcmp(json_string_value(json_object_get(
                                        json_object_get(after, "status"), "phase")),
                                    "Done"),
          "status merge patch", "%s", retl_errbuf_msg(&eb, e));
    json_decref(patch);
    json_decref(s);
out:
    json_decref(w);
    json_decref(cr);
    json_decref(st);
    json_decref(after);
    kube_client_free(c);
    return n_fail ? 1 : 0;
}

/* ---- auth: a bogus token is UNAUTHORIZED, a powerless token FORBIDDEN ------- */

static int cmd_auth(const char *ns, const char *token)
{
    struct retl_errbuf eb = {{0}};
    struct kube_config *cfg = NULL;
    retl_err e = kube_config_load(NULL, &cfg, &eb);
    if (e)
        return 2;
    free(cfg->cert_pem);
    free(cfg->key_pem);
    cfg->cert_pem = cfg->key_pem = NULL;
    cfg->token = strdup("not-a-valid-token");
    struct kube_client *c = NULL;
    kube_client_new(cfg, NULL, &c, &eb);
    json_t *out = NULL;
    e = kube_get(c, &kube_gvr_configmaps, ns, "x", &out, &eb);
    check(e == RETL_E_UNAUTHORIZED, "bogus bearer token is UNAUTHORIZED", "%s: %s",
          retl_err_name(e), eb.msg);
    kube_client_free(c);

    /* TLS: the server is verified against the configured CA only. */
    struct {
        const char *name;
        bool use_client_cert_as_ca, drop_ca, insecure;
        retl_err want;
    } tls[] = {
        {"a CA that did not sign the server is a TLS error", true, false, false,
         RETL_E_TLS},
        {"no CA (system store) is a TLS error", false, true, false, RETL_E_TLS},
        {"insecure-skip-tls-verify, when set, skips verification", false, true, true,
         RETL_E_OK},
    };
    for (size_t i = 0; i < sizeof tls / sizeof tls[0]; i++) {
        cfg = NULL;
        kube_config_load(NULL, &cfg, &eb);
        if (tls[i].use_client_cert_as_ca) {
            free(cfg->ca_pem);
            cfg->ca_pem = strdup(cfg->cert_pem);
        }
        if (tls[i].drop_ca) {
            free(cfg->ca_pem);
            cfg->ca_pem = NULL;
        }
        cfg->insecure_skip_tls_verify = tls[i].insecure;
        kube_client_new(cfg, NULL, &c, &eb);
        json_t *nsobj = NULL;
        memset(&eb, 0, sizeof eb);
        e = kube_get(c, &kube_gvr_namespaces, NULL, ns, &nsobj, &eb);
        check(e == tls[i].want, tls[i].name, "%s: %s", retl_err_name(e), eb.msg);
        json_decref(nsobj);
        kube_client_free(c);
    }
    if (token) {
        /* A token file, re-read by the client (tokenFile path). */
        char path[] = "/tmp/kube-itest-token-XXXXXX";
        int fd = mkstemp(path);
        if (fd >= 0) {
            if (write(fd, token, strlen(token)) < 0)
                perror("write");
            close(fd);
        }
        cfg = NULL;
        kube_config_load(NULL, &cfg, &eb);
        free(cfg->cert_pem);
        free(cfg->key_pem);
        cfg->cert_pem = cfg->key_pem = NULL;
        cfg->token_file = strdup(path);
        kube_client_new(cfg, NULL, &c, &eb);
        e = kube_list(c, &kube_gvr_secrets, "kube-system", NULL, &out, &eb);
        check(e == RETL_E_FORBIDDEN && strstr(eb.msg, "Forbidden"),
              "service account token without RBAC is FORBIDDEN", "%s: %s",
              retl_err_name(e), eb.msg);
        e = kube_get(c, &kube_gvr_configmaps, ns, "x", &out, &eb);
        check(e == RETL_E_FORBIDDEN, "token file is used for every request", "%s: %s",
              retl_err_name(e), eb.msg);
        kube_client_free(c);
        unlink(path);
    }
    return n_fail ? 1 : 0;
}

/* ---- shadow: replays handler calls and flags impossible sequences ----------- */

struct shadow {
    pthread_mutex_t mu;
    json_t *state; /* key -> rv */
    long adds, updates, deletes, unknown_deletes, violations;
    char first_violation[512];
    /* latency bench */
    double lat_sum, lat_max;
    double *lats;
    size_t n_lat, cap_lat;
};

static void violation(struct shadow *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void violation(struct shadow *s, const char *fmt, ...)
{
    if (s->violations++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->first_violation, sizeof s->first_violation, fmt, ap);
        va_end(ap);
    }
}

static void record_latency(struct shadow *s, json_t *obj)
{
    const char *ts = json_string_value(json_object_get(
        json_object_get(json_object_get(obj, "metadata"), "annotations"), "bench/ts"));
    if (!ts)
        return;
    double lat = (double)(wall_ns() - atoll(ts)) / 1e6;
    s->lat_sum += lat;
    if (lat > s->lat_max)
        s->lat_max = lat;
    if (s->n_lat == s->cap_lat) {
        s->cap_lat = s->cap_lat ? s->cap_lat * 2 : 1024;
        s->lats = realloc(s->lats, s->cap_lat * sizeof *s->lats);
    }
    s->lats[s->n_lat++] = lat;
}

static void sh_add(void *ud, json_t *obj)
{
    struct shadow *s = ud;
    char key[512];
    kube_obj_key(obj, key, sizeof key);
    pthread_mutex_lock(&s->mu);
    s->adds++;
    if (json_object_get(s->state, key))
        violation(s, "add of %s already present", key);
    json_object_set_new(s->state, key, json_string(kube_obj_rv(obj)));
    pthread_mutex_unlock(&s->mu);
}

static void sh_update(void *ud, json_t *old_obj, json_t *new_obj)
{
    struct shadow *s = ud;
    char key[512];
    kube_obj_key(new_obj, key, sizeof key);
    pthread_mutex_lock(&s->mu);
    s->updates++;
    const char *cur = json_string_value(json_object_get(s->state, key));
    if (!cur)
        violation(s, "update of absent %s", key);
    else if (strcmp(cur, kube_obj_rv(old_obj)) != 0)
        violation(s, "update of %s: old rv %s, handlers saw %s", key,
                  kube_obj_rv(old_obj), cur);
    if (!strcmp(kube_obj_rv(old_obj), kube_obj_rv(new_obj)))
        violation(s, "update of %s with an unchanged rv (duplicate)", key);
    json_object_set_new(s->state, key, json_string(kube_obj_rv(new_obj)));
    record_latency(s, new_obj);
    pthread_mutex_unlock(&s->mu);
}

static void sh_delete(void *ud, json_t *obj, bool unknown)
{
    struct shadow *s = ud;
    char key[512];
    kube_obj_key(obj, key, sizeof key);
    pthread_mutex_lock(&s->mu);
    s->deletes++;
    if (unknown)
        s->unknown_deletes++;
    if (!json_object_get(s->state, key))
        violation(s, "delete of absent %s", key);
    json_object_del(s->state, key);
    pthread_mutex_unlock(&s->mu);
}

static void shadow_init(struct shadow *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->state = json_object();
}

static void shadow_free(struct shadow *s)
{
    json_decref(s->state);
    free(s->lats);
    pthread_mutex_destroy(&s->mu);
}

/* Server truth: key -> rv for everything matching. */
static json_t *server_state(struct kube_client *c, const struct kube_gvr *gvr,
                            const char *ns, const char *sel)
{
    json_t *list = NULL;
    struct kube_list_opts lo = {.label_selector = sel};
    struct retl_errbuf eb = {{0}};
    if (kube_list(c, gvr, ns, &lo, &list, &eb))
        return NULL;
    json_t *st = json_object();
    size_t i;
    json_t *it;
    json_array_foreach (json_object_get(list, "items"), i, it) {
        char key[512];
        kube_obj_key(it, key, sizeof key);
        json_object_set_new(st, key, json_string(kube_obj_rv(it)));
    }
    json_decref(list);
    return st;
}

/* Waits (<= timeout) until the shadow and the informer cache equal the
 * server's state. */
static bool converge(struct kube_client *c, struct kube_informer *inf, struct shadow *s,
                     const char *ns, const char *sel, double timeout, char *why, size_t n)
{
    double end = now_s() + timeout;
    for (;;) {
        json_t *truth = server_state(c, &kube_gvr_configmaps, ns, sel);
        bool same = false;
        if (truth) {
            pthread_mutex_lock(&s->mu);
            same = json_equal(truth, s->state);
            size_t ns_ = json_object_size(s->state);
            pthread_mutex_unlock(&s->mu);
            bool cache_ok = kube_informer_count(inf) == json_object_size(truth);
            const char *k;
            json_t *v;
            json_object_foreach (truth, k, v) {
                json_t *o = kube_informer_get_key(inf, k);
                if (!o || strcmp(kube_obj_rv(o), json_string_value(v)) != 0)
                    cache_ok = false;
                json_decref(o);
            }
            snprintf(why, n, "server %zu objects, handlers %zu, cache %zu, cache_ok %d",
                     json_object_size(truth), ns_, kube_informer_count(inf), cache_ok);
            same = same && cache_ok;
            json_decref(truth);
        }
        if (same)
            return true;
        if (now_s() > end)
            return false;
        msleep(200);
    }
}

struct churn {
    struct kube_client *c;
    const char *ns;
    const char *prefix;
    int n; /* objects named prefix-0..n-1 may be touched */
    volatile bool stop;
    long ops;
    unsigned seed;
};

/* Creates, updates and deletes random objects until stopped. */
static void *churn_run(void *arg)
{
    struct churn *ch = arg;
    while (!ch->stop) {
        int i = (int)(rand_r(&ch->seed) % (unsigned)ch->n);
        int op = (int)(rand_r(&ch->seed) % 10);
        char name[64], val[32];
        snprintf(name, sizeof name, "%s-%d", ch->prefix, i);
        snprintf(val, sizeof val, "%ld", ch->ops);
        if (op < 6) {
            json_t *p = json_pack("{s:{s:s}}", "data", "v", val);
            if (kube_patch(ch->c, &kube_gvr_configmaps, ch->ns, name, KUBE_PATCH_MERGE, p,
                           NULL, NULL, NULL) == RETL_E_NOT_FOUND) {
                json_t *o = configmap(ch->ns, name, val);
                json_object_set_new(json_object_get(o, "metadata"), "labels",
                                    json_pack("{s:s}", "set", ch->prefix));
                kube_create(ch->c, &kube_gvr_configmaps, ch->ns, o, NULL, NULL);
                json_decref(o);
            }
            json_decref(p);
        } else if (op < 8) {
            kube_delete(ch->c, &kube_gvr_configmaps, ch->ns, name, NULL, NULL);
        } else {
            json_t *o = configmap(ch->ns, name, val);
            json_object_set_new(json_object_get(o, "metadata"), "labels",
                                json_pack("{s:s}", "set", ch->prefix));
            kube_create(ch->c, &kube_gvr_configmaps, ch->ns, o, NULL, NULL);
            json_decref(o);
        }
        ch->ops++;
    }
    return NULL;
}

static void create_many(struct kube_client *c, const char *ns, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s-%d", prefix, i);
        json_t *o = configmap(ns, name, "0");
        json_object_set_new(json_object_get(o, "metadata"), "labels",
                            json_pack("{s:s}", "set", prefix));
        kube_create(c, &kube_gvr_configmaps, ns, o, NULL, NULL);
        json_decref(o);
    }
}

/* ---- informer: many objects, churn during the list --------------------------- */

static int cmd_informer(const char *ns, int n)
{
    struct kube_client *c = connect_env(NULL);
    struct retl_errbuf eb = {{0}};
    double t0 = now_s();
    create_many(c, ns, "inf", n);
    printf("# created %d configmaps in %.1fs\n", n, now_s() - t0);
    struct shadow s;
    shadow_init(&s);
    struct kube_informer_handlers h = {sh_add, sh_update, sh_delete, &s};
    struct kube_informer_opts o = {.gvr = &kube_gvr_configmaps,
                                   .namespace = ns,
                                   .label_selector = "set=inf",
                                   .page_size = 10};
    struct kube_informer *inf = NULL;
    kube_informer_new(c, &o, &h, &inf, &eb);
    struct churn ch = {.c = c, .ns = ns, .prefix = "inf", .n = n + 50, .seed = 42};
    pthread_t th;
    pthread_create(&th, NULL, churn_run, &ch);
    msleep(100);
    kube_informer_start(inf, &eb);
    bool synced = kube_informer_wait_synced(inf, 60000);
    check(synced, "informer syncs", "not synced after 60 s");
    struct kube_informer_stats st;
    kube_informer_stats(inf, &st);
    printf("# synced with %zu objects after %.2fs\n", st.objects, now_s() - t0);
    msleep(3000); /* churn on the watch too */
    ch.stop = true;
    pthread_join(th, NULL);
    char why[256];
    bool conv = converge(c, inf, &s, ns, "set=inf", 30, why, sizeof why);
    check(conv,
          "cache and handler calls match the server after churn during list and watch",
          "%s", why);
    check(s.violations == 0, "no duplicated or out-of-order handler calls",
          "%ld violations, first: %s", s.violations, s.first_violation);
    kube_informer_stats(inf, &st);
    printf("# churn ops %ld; handlers add %ld update %ld delete %ld; lists %llu watches "
           "%llu events %llu\n",
           ch.ops, s.adds, s.updates, s.deletes, (unsigned long long)st.lists,
           (unsigned long long)st.watches, (unsigned long long)st.events);
    check(ch.ops > 20 && s.updates > 0 && s.deletes > 0,
          "churn exercised adds, updates and deletes", "ops %ld", ch.ops);
    /* A field selector narrows an informer to one object. */
    struct kube_informer_opts fo = {.gvr = &kube_gvr_configmaps,
                                    .namespace = ns,
                                    .field_selector = "metadata.name=inf-3"};
    struct kube_informer *one_inf = NULL;
    kube_informer_new(c, &fo, NULL, &one_inf, &eb);
    kube_informer_start(one_inf, &eb);
    kube_informer_wait_synced(one_inf, 10000);
    json_t *only = kube_informer_list(one_inf);
    json_t *first = json_array_get(only, 0);
    check(json_array_size(only) <= 1 &&
              (!first || !strcmp(kube_obj_name(first), "inf-3")),
          "field selector narrows the informer", "%zu objects", json_array_size(only));
    check(!first ||
              (json_string_value(json_object_get(first, "kind")) &&
               !strcmp(json_string_value(json_object_get(first, "kind")), "ConfigMap")),
          "listed objects carry kind and apiVersion", "no kind");
    json_decref(only);
    kube_informer_free(one_inf);
    json_t *one = kube_informer_get(inf, ns, "inf-1");
    check(!one || !json_object_get(json_object_get(one, "metadata"), "managedFields"),
          "managedFields are dropped from the cache", "present");
    json_decref(one);
    double ts = now_s();
    kube_informer_stop(inf);
    check(now_s() - ts < 2.0, "informer stops promptly", "%.2fs", now_s() - ts);
    kube_informer_free(inf);
    shadow_free(&s);
    kube_client_free(c);
    return n_fail ? 1 : 0;
}

/* ---- gone: forced 410 ------------------------------------------------------- */

static retl_err count_event(void *ud, enum kube_watch_type t, json_t *obj,
                            struct retl_errbuf *eb)
{
    if (t == KUBE_WATCH_ERROR)
        return kube_status_from_json(0, obj, NULL, NULL, eb);
    return RETL_E_OK;
}

static int cmd_gone(const char *ns, const char *compact_cmd, const char *watch_kc)
{
    struct kube_client *c = connect_env(NULL);
    /* A freshly started apiserver's watch cache begins at its start: a watch
     * from an older resourceVersion is refused with 410. */
    struct kube_client *wc = connect_env(watch_kc);
    struct retl_errbuf eb = {{0}};
    create_many(c, ns, "gone", 20);
    /* A continue token from before a compaction has expired. */
    json_t *page = NULL;
    struct kube_list_opts lo = {.label_selector = "set=gone", .limit = 5};
    retl_err e = kube_list_page(c, &kube_gvr_configmaps, ns, &lo, NULL, &page, &eb);
    char *cont = e ? NULL
                   : strdup(json_string_value(
                         json_object_get(json_object_get(page, "metadata"), "continue")));
    json_decref(page);
    page = NULL;
    /* Writes after the list, then compact past them. */
    for (int i = 0; i < 3; i++) {
        json_t *p = json_pack("{s:{s:s}}", "data", "v", "bump");
        kube_patch(c, &kube_gvr_configmaps, ns, "gone-0", KUBE_PATCH_MERGE, p, NULL, NULL,
                   NULL);
        json_decref(p);
    }
    int rc = system(compact_cmd);
    check(rc == 0, "etcd compacted", "exit %d", rc);
    e = cont ? kube_list_page(c, &kube_gvr_configmaps, ns, &lo, cont, &page, &eb)
             : RETL_E_INTERNAL;
    check(e == RETL_E_GONE && strstr(eb.msg, "410"),
          "an expired continue token is GONE (410)", "%s: %s", retl_err_name(e), eb.msg);
    json_decref(page);
    free(cont);
    /* A watch from a resourceVersion older than the server keeps. */
    struct kube_watch_opts wo = {.resource_version = "1", .timeout_seconds = 5};
    atomic_bool stop;
    atomic_init(&stop, false);
    e = kube_watch(wc, &kube_gvr_configmaps, ns, &wo, count_event, NULL, &stop, &eb);
    check(e == RETL_E_GONE,
          "watch from a resourceVersion older than the watch cache is GONE (410)",
          "%s: %s", retl_err_name(e), eb.msg);

    struct shadow s;
    shadow_init(&s);
    struct kube_informer_handlers h = {sh_add, sh_update, sh_delete, &s};
    struct kube_informer_opts o = {.gvr = &kube_gvr_configmaps,
                                   .namespace = ns,
                                   .label_selector = "set=gone",
                                   .test_first_watch_rv = "1"};
    struct kube_informer *inf = NULL;
    kube_informer_new(wc, &o, &h, &inf, &eb);
    kube_informer_start(inf, &eb);
    kube_informer_wait_synced(inf, 30000);
    /* Changes after the forced 410 must still arrive. */
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "gone-%d", i);
        json_t *p = json_pack("{s:{s:s}}", "data", "v", "after");
        kube_patch(c, &kube_gvr_configmaps, ns, name, KUBE_PATCH_MERGE, p, NULL, NULL,
                   NULL);
        json_decref(p);
    }
    kube_delete(c, &kube_gvr_configmaps, ns, "gone-19", NULL, NULL);
    char why[256];
    bool conv = converge(c, inf, &s, ns, "set=gone", 30, why, sizeof why);
    struct kube_informer_stats st;
    kube_informer_stats(inf, &st);
    check(st.gone >= 1 && st.lists >= 2, "informer relists after 410 Gone",
          "gone %llu lists %llu", (unsigned long long)st.gone,
          (unsigned long long)st.lists);
    check(conv, "cache converges after the relist", "%s", why);
    check(s.violations == 0 && s.adds == 20,
          "relist after 410 duplicates no handler call", "adds %ld, %s", s.adds,
          s.first_violation);
    kube_informer_free(inf);
    shadow_free(&s);
    kube_client_free(wc);
    kube_client_free(c);
    return n_fail ? 1 : 0;
}

/* ---- restart: the watched apiserver restarts mid-watch ------------------------ */

static int cmd_restart(const char *ns, const char *watch_kc, const char *restart_cmd)
{
    struct kube_client *c = connect_env(NULL);      /* writes: stable server */
    struct kube_client *wc = connect_env(watch_kc); /* watch: restarted server */
    struct retl_errbuf eb = {{0}};
    create_many(c, ns, "rs", 100);
    struct shadow s;
    shadow_init(&s);
    struct kube_informer_handlers h = {sh_add, sh_update, sh_delete, &s};
    struct kube_informer_opts o = {
        .gvr = &kube_gvr_configmaps, .namespace = ns, .label_selector = "set=rs"};
    struct kube_informer *inf = NULL;
    kube_informer_new(wc, &o, &h, &inf, &eb);
    kube_informer_start(inf, &eb);
    check(kube_informer_wait_synced(inf, 30000), "informer syncs before the restart",
          "not synced");
    struct churn ch = {.c = c, .ns = ns, .prefix = "rs", .n = 120, .seed = 7};
    pthread_t th;
    pthread_create(&th, NULL, churn_run, &ch);
    msleep(1000);
    struct kube_informer_stats before;
    kube_informer_stats(inf, &before);
    printf("# restarting the watched apiserver: %s\n", restart_cmd);
    fflush(stdout);
    int rc = system(restart_cmd);
    check(rc == 0, "apiserver restarted", "restart command exited %d", rc);
    msleep(2000);
    ch.stop = true;
    pthread_join(th, NULL);
    char why[256];
    bool conv = converge(c, inf, &s, ns, "set=rs", 90, why, sizeof why);
    struct kube_informer_stats after;
    kube_informer_stats(inf, &after);
    printf("# churn ops %ld; handlers add %ld update %ld delete %ld (unknown %ld); "
           "watches %llu->%llu lists %llu gone %llu errors %llu\n",
           ch.ops, s.adds, s.updates, s.deletes, s.unknown_deletes,
           (unsigned long long)before.watches, (unsigned long long)after.watches,
           (unsigned long long)after.lists, (unsigned long long)after.gone,
           (unsigned long long)after.errors);
    check(after.watches > before.watches, "informer reconnected its watch",
          "watches %llu", (unsigned long long)after.watches);
    check(conv, "no lost handler call across the restart", "%s", why);
    check(s.violations == 0, "no duplicated handler call across the restart",
          "%ld violations, first: %s", s.violations, s.first_violation);
    kube_informer_free(inf);
    shadow_free(&s);
    kube_client_free(wc);
    kube_client_free(c);
    return n_fail ? 1 : 0;
}

/* ---- leader: one candidate process --------------------------------------------- */

static volatile sig_atomic_t got_term;
static void on_term(int sig)
{
    got_term = 1;
}

static void lead_started(void *ud)
{
    printf("LEADING %s %.3f\n", (const char *)ud, (double)wall_ns() / 1e9);
    fflush(stdout);
}

static void lead_stopped(void *ud, bool lost)
{
    printf("%s %s\n", lost ? "LOST" : "RELEASED", (const char *)ud);
    fflush(stdout);
    if (lost)
        _exit(3);
}

static int cmd_leader(const char *ns, const char *lease, const char *id)
{
    struct kube_client *c = connect_env(NULL);
    struct retl_errbuf eb = {{0}};
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    struct kube_leader_opts o = {.namespace = ns,
                                 .name = lease,
                                 .identity = id,
                                 .on_started_leading = lead_started,
                                 .on_stopped_leading = lead_stopped,
                                 .ud = (void *)id};
    struct kube_leader *l = NULL;
    retl_err e = kube_leader_start(c, &o, &l, &eb);
    if (e) {
        fprintf(stderr, "%s\n", retl_errbuf_msg(&eb, e));
        return 2;
    }
    printf("CANDIDATE %s\n", kube_leader_identity(l));
    fflush(stdout);
    while (!got_term)
        msleep(50);
    double t0 = now_s();
    kube_leader_free(l);
    printf("STOPPED in %.2fs\n", now_s() - t0);
    kube_client_free(c);
    return 0;
}

/* ---- events ---------------------------------------------------------------------- */

static int cmd_events(const char *ns)
{
    struct kube_client *c = connect_env(NULL);
    struct retl_errbuf eb = {{0}};
    json_t *a = NULL, *b = NULL;
    json_t *oa = configmap(ns, "ev-a", "1"), *ob = configmap(ns, "ev-b", "1");
    kube_create(c, &kube_gvr_configmaps, ns, oa, &a, &eb);
    kube_create(c, &kube_gvr_configmaps, ns, ob, &b, &eb);
    json_object_set_new(a, "kind", json_string("ConfigMap"));
    json_object_set_new(a, "apiVersion", json_string("v1"));
    json_object_set_new(b, "kind", json_string("ConfigMap"));
    json_object_set_new(b, "apiVersion", json_string("v1"));
    struct kube_events *r = NULL;
    struct kube_events_opts eo = {.reporting_instance = "itest-1"};
    kube_events_new(c, &eo, &r, &eb);
    for (int i = 0; i < 3; i++)
        kube_eventf(r, a, KUBE_EVENT_WARNING, "SyncFailed", "Sync",
                    "source unreachable: %s", "connection refused");
    kube_eventf(r, a, KUBE_EVENT_NORMAL, "RunStarted", NULL, "run %d", 1);
    for (int i = 0; i < 30; i++)
        kube_eventf(r, b, KUBE_EVENT_NORMAL, "Spam", NULL, "note %d", i);
    check(kube_events_flush(r, 20000) == RETL_E_OK, "events written", "timeout");
    struct kube_events_stats st;
    kube_events_stats(r, &st);
    check(st.throttled == 5 && st.created == 27 && st.patched == 2 && st.failed == 0,
          "spam filter: burst 25 per object; repeats patched",
          "created %llu patched %llu throttled %llu failed %llu",
          (unsigned long long)st.created, (unsigned long long)st.patched,
          (unsigned long long)st.throttled, (unsigned long long)st.failed);
    json_t *list = NULL;
    struct kube_list_opts lo = {.field_selector = "regarding.name=ev-a"};
    kube_list(c, &kube_gvr_events, ns, &lo, &list, &eb);
    size_t i;
    json_t *ev;
    int found = 0;
    json_array_foreach (json_object_get(list, "items"), i, ev) {
        const char *reason = json_string_value(json_object_get(ev, "reason"));
        if (reason && !strcmp(reason, "SyncFailed")) {
            found++;
            json_t *series = json_object_get(ev, "series");
            check(json_integer_value(json_object_get(series, "count")) == 3 &&
                      json_object_get(series, "lastObservedTime"),
                  "repeated event aggregated into a series with count 3",
                  "series.count %lld",
                  (long long)json_integer_value(json_object_get(series, "count")));
            check(
                !strcmp(json_string_value(json_object_get(ev, "reportingController")),
                        "retl.io/controller") &&
                    !strcmp(json_string_value(json_object_get(ev, "reportingInstance")),
                            "itest-1") &&
                    !strcmp(json_string_value(json_object_get(ev, "type")), "Warning") &&
                    !strcmp(json_string_value(
                                json_object_get(json_object_get(ev, "regarding"), "uid")),
                            kube_obj_uid(a)),
                "event fields: reporting controller/instance, type, regarding",
                "unexpected event");
        }
    }
    check(found == 1, "one Event object for the repeated event", "%d found", found);
    json_decref(list);
    kube_events_free(r);
    json_decref(a);
    json_decref(b);
    json_decref(oa);
    json_decref(ob);
    kube_client_free(c);
    return n_fail ? 1 : 0;
}

/* ---- shutdown: everything stops within 10 s ---------------------------------- */

struct worker {
    struct kube_queue *q;
    long handled;
};

static void *work_run(void *arg)
{
    struct worker *w = arg;
    char *key;
    while (kube_queue_get(w->q, -1, &key) == RETL_E_OK) {
        msleep(5);
        w->handled++;
        kube_queue_forget(w->q, key);
        kube_queue_done(w->q, key);
        free(key);
    }
    return NULL;
}

static int cmd_shutdown(const char *ns)
{
    struct kube_client *c = connect_env(NULL);
    struct retl_errbuf eb = {{0}};
    create_many(c, ns, "sd", 50);
    struct kube_queue *q = NULL;
    kube_queue_new(NULL, &q, &eb);
    struct kube_informer_handlers h = kube_informer_queue_handlers(q);
    struct kube_informer_opts o = {.gvr = &kube_gvr_configmaps, .namespace = ns};
    struct kube_informer *inf = NULL;
    kube_informer_new(c, &o, &h, &inf, &eb);
    kube_informer_start(inf, &eb);
    struct kube_leader *l = NULL;
    struct kube_leader_opts lo = {.namespace = ns,
                                  .name = "sd-lease",
                                  .on_started_leading = lead_started,
                                  .on_stopped_leading = lead_stopped,
                                  .ud = (void *)"sd"};
    kube_leader_start(c, &lo, &l, &eb);
    struct kube_events *ev = NULL;
    kube_events_new(c, NULL, &ev, &eb);
    struct worker w[2] = {{q, 0}, {q, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, work_run, &w[i]);
    check(kube_informer_wait_synced(inf, 20000), "informer feeds the queue", "no sync");
    double until = now_s() + 10;
    while (!kube_leader_is_leader(l) && now_s() < until)
        msleep(50);
    check(kube_leader_is_leader(l), "single candidate leads", "not leading");
    json_t *cm = configmap(ns, "sd-0", "x");
    kube_eventf(ev, cm, KUBE_EVENT_NORMAL, "Test", NULL, "shutdown test");
    json_decref(cm);
    msleep(500);
    double t0 = now_s();
    kube_leader_stop(l);
    kube_informer_stop(inf);
    retl_err e = kube_queue_shutdown_drain(q, 5000);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    kube_events_free(ev);
    double took = now_s() - t0;
    check(e == RETL_E_OK && took < 10.0,
          "leader release, informer stop, queue drain, events flush within 10 s",
          "%.2fs (%s)", took, retl_err_name(e));
    printf("# shutdown took %.2fs; workers handled %ld keys\n", took,
           w[0].handled + w[1].handled);
    check(w[0].handled + w[1].handled >= 50, "workers handled every key", "%ld",
          w[0].handled + w[1].handled);
    json_t *lease = NULL;
    kube_get(c, &kube_gvr_leases, ns, "sd-lease", &lease, &eb);
    const char *holder = json_string_value(
        json_object_get(json_object_get(lease, "spec"), "holderIdentity"));
    check(holder && !*holder, "lease released on shutdown (holderIdentity cleared)",
          "holder %s", holder ? holder : "(none)");
    json_decref(lease);
    kube_leader_free(l);
    kube_informer_free(inf);
    kube_queue_free(q);
    kube_client_free(c);
    return n_fail ? 1 : 0;
}

/* ---- shutdown-hung: stopping while the API server hangs ---------------------- */

static int cmd_shutdown_hung(const char *ns, const char *hang_cmd, const char *resume_cmd)
{
    struct kube_client *c = connect_env(NULL);
    struct retl_errbuf eb = {{0}};
    struct kube_informer_opts o = {.gvr = &kube_gvr_configmaps, .namespace = ns};
    struct kube_informer *inf = NULL;
    kube_informer_new(c, &o, NULL, &inf, &eb);
    kube_informer_start(inf, &eb);
    struct kube_leader *l = NULL;
    struct kube_leader_opts lo = {.namespace = ns,
                                  .name = "hung-lease",
                                  .on_started_leading = lead_started,
                                  .on_stopped_leading = lead_stopped,
                                  .ud = (void *)"hung"};
    kube_leader_start(c, &lo, &l, &eb);
    struct kube_events *ev = NULL;
    kube_events_new(c, NULL, &ev, &eb);
    kube_informer_wait_synced(inf, 20000);
    double until = now_s() + 10;
    while (!kube_leader_is_leader(l) && now_s() < until)
        msleep(50);
    check(kube_leader_is_leader(l), "leads before the API server hangs", "not leading");
    int rc = system(hang_cmd);
    check(rc == 0, "API server paused", "exit %d", rc);
    json_t *cm = configmap(ns, "hung", "x");
    for (int i = 0; i < 3; i++)
        kube_eventf(ev, cm, KUBE_EVENT_WARNING, "Hung", NULL, "note %d", i);
    json_decref(cm);
    msleep(2500); /* a renew and an event write are now stuck in flight */
    double t0 = now_s();
    kube_leader_stop(l);
    kube_informer_stop(inf);
    kube_events_free(ev);
    double took = now_s() - t0;
    check(took < 10.0,
          "leader, informer and events stop within 10 s while the API server hangs",
          "%.2fs", took);
    printf("# shutdown against a hung API server took %.2fs\n", took);
    rc = system(resume_cmd);
    kube_leader_free(l);
    kube_informer_free(inf);
    kube_client_free(c);
    return n_fail ? 1 : 0;
}

/* ---- threads: one client, many threads, connections reused ------------------ */

struct hammer {
    struct kube_client *c;
    const char *ns;
    int id, n, errors;
};

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < h->n; i++) {
        char name[64];
        snprintf(name, sizeof name, "t%d-%d", h->id, i);
        json_t *o = configmap(h->ns, name, "x"), *got = NULL;
        if (kube_create(h->c, &kube_gvr_configmaps, h->ns, o, NULL, NULL) ||
            kube_get(h->c, &kube_gvr_configmaps, h->ns, name, &got, NULL))
            h->errors++;
        json_decref(got);
        json_decref(o);
    }
    return NULL;
}

static int cmd_threads(const char *ns)
{
    struct kube_client *c = connect_env(NULL);
    enum { T = 8, N = 40 };
    struct hammer hs[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        hs[i] = (struct hammer){c, ns, i, N, 0};
        pthread_create(&th[i], NULL, hammer_run, &hs[i]);
    }
    int errors = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        errors += hs[i].errors;
    }
    struct kube_client_metrics m;
    kube_client_metrics(c, &m);
    check(errors == 0 && m.by_code[201] == T * N && m.by_code[200] == T * N,
          "8 threads share one client (640 requests)", "%d errors", errors);
    check(m.connects <= 2 * T, "connections are reused across threads",
          "%llu connections for %llu requests", (unsigned long long)m.connects,
          (unsigned long long)m.total);
    printf("# %llu requests over %llu connections\n", (unsigned long long)m.total,
           (unsigned long long)m.connects);
    kube_client_free(c);
    return n_fail ? 1 : 0;
}

/* ---- bench ------------------------------------------------------------------------ */

static const struct kube_gvr gvr_bench = {"kubetest.retl.io", "v1", "widgets", true};

struct creator {
    struct kube_client *c;
    const char *ns;
    int from, to;
};

static void *create_range(void *arg)
{
    struct creator *cr = arg;
    for (int i = cr->from; i < cr->to; i++) {
        char name[32];
        snprintf(name, sizeof name, "w-%05d", i);
        json_t *o = json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:i,s:s,s:s}}", "apiVersion",
                              "kubetest.retl.io/v1", "kind", "Widget", "metadata", "name",
                              name, "labels", "bench", "yes", "spec", "size", i, "color",
                              "blue", "owner", "team-a");
        struct retl_errbuf eb = {{0}};
        retl_err e = kube_create(cr->c, &gvr_bench, cr->ns, o, NULL, &eb);
        if (e && e != RETL_E_ALREADY_EXISTS)
            fprintf(stderr, "create %s: %s\n", name, retl_errbuf_msg(&eb, e));
        json_decref(o);
    }
    return NULL;
}

static int cmd_bench_create(const char *ns, int n)
{
    struct kube_client *c = connect_env(NULL);
    enum { T = 8 };
    pthread_t th[T];
    struct creator cr[T];
    double t0 = now_s();
    for (int t = 0; t < T; t++) {
        cr[t] = (struct creator){c, ns, n * t / T, n * (t + 1) / T};
        pthread_create(&th[t], NULL, create_range, &cr[t]);
    }
    for (int t = 0; t < T; t++)
        pthread_join(th[t], NULL);
    printf("# created %d widgets in %.1fs with 8 threads sharing one client\n", n,
           now_s() - t0);
    kube_client_free(c);
    return 0;
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            v = atol(line + 6);
    fclose(f);
    return v;
}

struct updater {
    struct kube_client *c;
    const char *ns;
    int n, updates;
    double took;
};

/* Patches a wall-clock timestamp into `updates` objects, one at a time. */
static void *update_run(void *arg)
{
    struct updater *u = arg;
    double t0 = now_s();
    for (int i = 0; i < u->updates; i++) {
        char name[32], ts[32];
        snprintf(name, sizeof name, "w-%05d", (i * 7) % u->n);
        snprintf(ts, sizeof ts, "%lld", (long long)wall_ns());
        json_t *p = json_pack("{s:{s:{s:s}}}", "metadata", "annotations", "bench/ts", ts);
        kube_patch(u->c, &gvr_bench, u->ns, name, KUBE_PATCH_MERGE, p, NULL, NULL, NULL);
        json_decref(p);
        msleep(2);
    }
    u->took = now_s() - t0;
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_lat(const char *who, struct shadow *s)
{
    qsort(s->lats, s->n_lat, sizeof *s->lats, cmp_d);
    double p50 = s->n_lat ? s->lats[s->n_lat / 2] : -1;
    double p99 = s->n_lat ? s->lats[(s->n_lat * 99) / 100] : -1;
    printf("%s latency_events=%zu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f\n",
           who, s->n_lat, p50, p99, s->lat_max,
           s->n_lat ? s->lat_sum / (double)s->n_lat : -1);
}

static void lat_update(void *ud, json_t *old_obj, json_t *new_obj)
{
    struct shadow *s = ud;
    pthread_mutex_lock(&s->mu);
    record_latency(s, new_obj);
    pthread_mutex_unlock(&s->mu);
}

static int cmd_bench_informer(const char *ns, int n, int updates)
{
    struct kube_client *c = connect_env(NULL);
    struct retl_errbuf eb = {{0}};
    long base = rss_kib(getpid());
    struct shadow s;
    shadow_init(&s);
    /* Only latency bookkeeping: RSS is the informer's and its cache's. */
    struct kube_informer_handlers h = {NULL, lat_update, NULL, &s};
    struct kube_informer_opts o = {.gvr = &gvr_bench, .namespace = ns};
    struct kube_informer *inf = NULL;
    kube_informer_new(c, &o, &h, &inf, &eb);
    double t0 = now_s();
    kube_informer_start(inf, &eb);
    kube_informer_wait_synced(inf, 120000);
    double sync = now_s() - t0;
    size_t count = kube_informer_count(inf);
    long rss = rss_kib(getpid());
    /* The shadow map used by the checks is not the informer's: measure it
     * apart by the cache alone being what dominates; report both. */
    printf("retl objects=%zu sync_s=%.3f rss_kib=%ld base_rss_kib=%ld "
           "per_object_bytes=%.0f\n",
           count, sync, rss, base,
           count ? (double)(rss - base) * 1024.0 / (double)count : 0);
    struct updater u = {c, ns, n, updates, 0};
    pthread_t th;
    pthread_create(&th, NULL, update_run, &u);
    pthread_join(th, NULL);
    double end = now_s() + 30;
    while (now_s() < end) {
        pthread_mutex_lock(&s.mu);
        size_t got = s.n_lat;
        pthread_mutex_unlock(&s.mu);
        if ((int)got >= updates)
            break;
        msleep(50);
    }
    print_lat("retl", &s);
    printf("retl rss_after_updates_kib=%ld\n", rss_kib(getpid()));
    kube_informer_free(inf);
    shadow_free(&s);
    kube_client_free(c);
    return 0;
}

static int cmd_bench_peer(const char *ns, int n, int updates)
{
    struct kube_client *c = connect_env(NULL);
    int fds[2];
    if (pipe(fds))
        return 2;
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp("kubectl", "kubectl", "get", "widgets.kubetest.retl.io", "-n", ns,
               "--watch", "-o", "json", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    struct shadow s;
    shadow_init(&s);
    json_t *seen = json_object();
    double sync = -1;
    long rss = -1;
    pthread_t th;
    struct updater u = {c, ns, n, updates, 0};
    bool started = false;
    double end = now_s() + 300;
    while (now_s() < end) {
        json_error_t jerr;
        json_t *obj = json_loadf(in, JSON_DISABLE_EOF_CHECK, &jerr);
        if (!obj)
            break;
        json_t *items = json_object_get(obj, "items");
        /* kubectl prints the initial list in chunks (kind WidgetList). */
        if (json_is_array(items)) {
            size_t i;
            json_t *it;
            json_array_foreach (items, i, it) {
                json_object_set(seen, kube_obj_name(it), json_true());
            }
        } else if (kube_obj_name(obj)) {
            if (started) {
                pthread_mutex_lock(&s.mu);
                record_latency(&s, obj);
                pthread_mutex_unlock(&s.mu);
            }
            json_object_set(seen, kube_obj_name(obj), json_true());
        }
        json_decref(obj);
        if (!started && (int)json_object_size(seen) >= n) {
            sync = now_s() - t0;
            rss = rss_kib(pid);
            printf("kubectl objects=%zu sync_s=%.3f rss_kib=%ld\n",
                   json_object_size(seen), sync, rss);
            fflush(stdout);
            started = true;
            pthread_create(&th, NULL, update_run, &u);
        }
        if (started && (int)s.n_lat >= updates)
            break;
    }
    if (started)
        pthread_join(th, NULL);
    print_lat("kubectl", &s);
    printf("kubectl rss_after_updates_kib=%ld\n", rss_kib(pid));
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    fclose(in);
    json_decref(seen);
    shadow_free(&s);
    kube_client_free(c);
    return sync < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    retl_log_setup("kube-itest", RETL_LOG_WARN, RETL_LOG_LOGFMT, stderr);
    if (argc < 3) {
        fprintf(stderr, "usage: kube_itest crud|status|auth|informer|gone|restart|leader|"
                        "events|bench-create|bench-informer|bench-peer NS [args]\n");
        return 2;
    }
    const char *cmd = argv[1], *ns = argv[2];
    int rc = 2;
    if (!strcmp(cmd, "crud"))
        rc = cmd_crud(ns);
    else if (!strcmp(cmd, "status"))
        rc = cmd_status(ns);
    else if (!strcmp(cmd, "auth"))
        rc = cmd_auth(ns, argc > 3 ? argv[3] : NULL);
    else if (!strcmp(cmd, "informer"))
        rc = cmd_informer(ns, argc > 3 ? atoi(argv[3]) : 500);
    else if (!strcmp(cmd, "gone") && argc > 4)
        rc = cmd_gone(ns, argv[3], argv[4]);
    else if (!strcmp(cmd, "restart") && argc > 4)
        rc = cmd_restart(ns, argv[3], argv[4]);
    else if (!strcmp(cmd, "leader") && argc > 4)
        rc = cmd_leader(ns, argv[3], argv[4]);
    else if (!strcmp(cmd, "shutdown-hung") && argc > 4)
        rc = cmd_shutdown_hung(ns, argv[3], argv[4]);
    else if (!strcmp(cmd, "threads"))
        rc = cmd_threads(ns);
    else if (!strcmp(cmd, "shutdown"))
        rc = cmd_shutdown(ns);
    else if (!strcmp(cmd, "events"))
        rc = cmd_events(ns);
    else if (!strcmp(cmd, "bench-create"))
        rc = cmd_bench_create(ns, argc > 3 ? atoi(argv[3]) : 10000);
    else if (!strcmp(cmd, "bench-informer"))
        rc = cmd_bench_informer(ns, argc > 3 ? atoi(argv[3]) : 10000,
                                argc > 4 ? atoi(argv[4]) : 1000);
    else if (!strcmp(cmd, "bench-peer"))
        rc = cmd_bench_peer(ns, argc > 3 ? atoi(argv[3]) : 10000,
                            argc > 4 ? atoi(argv[4]) : 1000);
    if (!strcmp(cmd, "leader") || !strncmp(cmd, "bench", 5))
        return rc;
    printf("%d passed, %d failed\n", n_ok, n_fail);
    return rc;
}
