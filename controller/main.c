/* retl-controller: runs ReverseEtlJobs. Informers on ReverseEtlJobs and on
 * run pods feed one work queue; workers reconcile (controller/ctl_reconcile.h)
 * once this replica leads (--leader-elect) or at once. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "controller/ctl_after.h"
#include "controller/ctl_reconcile.h"
#include "controller/health.h"
#include "controller/kube/kube.h"
#include "controller/metrics.h"

#define WORKERS 2
#define QUEUE_NAME "reverseetljob"
#define LEASE_NAME "retl-controller-leader"
#define DEFAULT_IMAGE "ghcr.io/retl/retl:latest"

struct opts {
    const char *kubeconfig;
    bool leader_elect;
    const char *metrics_addr;
    const char *probe_addr;
    const char *namespace;
    const char *engine_image;
    const char *log_level;
    const char *log_format;
    const char *leader_namespace;
    const char *watch_namespaces;
    const char *allowed_run_images;
    const char *allowed_run_sas;
};

static struct ctl g_ctl;
static struct ctl_list g_watch_ns, g_allowed_images, g_allowed_sas;
static pthread_t g_workers[WORKERS];
static atomic_bool g_workers_started;
static char g_api_host[256];

static void usage(FILE *f)
{
    fprintf(
        f, "usage: retl-controller [--kubeconfig FILE] [--leader-elect]\n"
           "         [--metrics-bind-address :8080] [--health-probe-bind-address :8081]\n"
           "         [--namespace NS] [--engine-image IMAGE]\n"
           "         [--log-level debug|info|warn|error] [--log-format json|logfmt]\n"
           "         [--leader-election-namespace NS] [--watch-namespaces NS,NS...]\n"
           "         [--allowed-run-images IMAGE,PREFIX*...]\n"
           "         [--allowed-run-service-accounts NAME,PREFIX*...]\n"
           "--watch-namespaces: informers (and RBAC) in these namespaces only; default "
           "all.\n"
           "--allowed-run-images: runTemplate.image values a job may name besides\n"
           "  --engine-image (the default and only one allowed without this flag).\n"
           "--allowed-run-service-accounts: runTemplate.serviceAccountName values a job\n"
           "  may name (none named: the namespace's default); default any.\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        char name[64];
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(name, "--leader-elect")) {
            o->leader_elect = !v || !strcmp(v, "true");
            continue;
        }
        const char **dst =
            !strcmp(name, "--kubeconfig")                     ? &o->kubeconfig
            : !strcmp(name, "--metrics-bind-address")         ? &o->metrics_addr
            : !strcmp(name, "--health-probe-bind-address")    ? &o->probe_addr
            : !strcmp(name, "--namespace")                    ? &o->namespace
            : !strcmp(name, "--engine-image")                 ? &o->engine_image
            : !strcmp(name, "--log-level")                    ? &o->log_level
            : !strcmp(name, "--log-format")                   ? &o->log_format
            : !strcmp(name, "--leader-election-namespace")    ? &o->leader_namespace
            : !strcmp(name, "--watch-namespaces")             ? &o->watch_namespaces
            : !strcmp(name, "--allowed-run-images")           ? &o->allowed_run_images
            : !strcmp(name, "--allowed-run-service-accounts") ? &o->allowed_run_sas
                                                              : NULL;
        if (!dst) {
            fprintf(stderr, "retl-controller: unknown flag %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!v) {
            if (i + 1 >= argc) {
                fprintf(stderr, "retl-controller: %s needs a value\n", a);
                return 2;
            }
            v = argv[++i];
        }
        *dst = v;
    }
    return 0;
}

static void on_request(void *ud, const char *verb, long code, double seconds)
{
    (void)ud;
    (void)seconds;
    ctl_metrics_rest_request((int)code, verb, g_api_host);
}

static void *worker(void *arg)
{
    struct ctl *c = arg;
    char *key;
    while (kube_queue_get(c->queue, -1, &key) == RETL_E_OK) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        struct retl_errbuf eb = {{0}};
        long requeue = -1;
        retl_err e = ctl_reconcile(c, key, &requeue, &eb);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        const char *result = "success";
        if (e) {
            result = "error";
            if (e == RETL_E_CONFLICT)
                RETL_LOG_DEBUG("reconcile conflict, retrying", RF_S("key", key));
            else
                RETL_LOG_WARN("reconcile failed", RF_S("key", key),
                              RF_S("error", retl_errbuf_msg(&eb, e)));
            kube_queue_add_rate_limited(c->queue, key);
            ctl_metrics_workqueue_retry(QUEUE_NAME);
        } else {
            kube_queue_forget(c->queue, key);
            if (requeue >= 0) {
                kube_queue_add_after(c->queue, key, requeue);
                result = "requeue_after";
            }
        }
        ctl_metrics_reconcile_done(QUEUE_NAME, result, secs);
        ctl_metrics_workqueue_work_duration(QUEUE_NAME, secs);
        kube_queue_done(c->queue, key);
        ctl_metrics_workqueue_depth(QUEUE_NAME, kube_queue_len(c->queue));
        free(key);
    }
    return NULL;
}

static void start_workers(void *ud)
{
    struct ctl *c = ud;
    bool expected = false;
    if (!atomic_compare_exchange_strong(&g_workers_started, &expected, true))
        return;
    ctl_metrics_leader(LEASE_NAME, true);
    RETL_LOG_INFO("starting workers", RF_I("workers", WORKERS));
    /* Everything cached so far is looked at once. */
    for (size_t s = 0; s < c->n_scopes; s++) {
        json_t *all = kube_informer_list(c->scopes[s].jobs);
        size_t i;
        json_t *j;
        json_array_foreach (all, i, j) {
            char key[512];
            if (kube_obj_key(j, key, sizeof key))
                kube_queue_add(c->queue, key);
        }
        json_decref(all);
    }
    for (int w = 0; w < WORKERS; w++)
        pthread_create(&g_workers[w], NULL, worker, c);
}

static void stopped_leading(void *ud, bool lost)
{
    (void)ud;
    ctl_metrics_leader(LEASE_NAME, false);
    if (lost) {
        RETL_LOG_ERROR("leader election lost; exiting");
        _exit(1);
    }
}

static void new_leader(void *ud, const char *identity)
{
    (void)ud;
    RETL_LOG_INFO("leader", RF_S("identity", identity));
}

static bool informers_synced(void *ud, char *msg, size_t n)
{
    struct ctl *c = ud;
    for (size_t i = 0; i < c->n_scopes; i++)
        if (!kube_informer_has_synced(c->scopes[i].jobs) ||
            !kube_informer_has_synced(c->scopes[i].pods)) {
            snprintf(msg, n, "informers not synced");
            return false;
        }
    return true;
}

static void queue_key(void *ud, const char *key)
{
    kube_queue_add(ud, key);
}

/* A job event queues the job and, when it can change their decision, the
 * jobs that run after it (spec.after): watches, no polling. */
static void job_event(struct ctl *c, const json_t *old_obj, json_t *obj)
{
    char key[512];
    if (kube_obj_key(obj, key, sizeof key))
        kube_queue_add(c->queue, key);
    ctl_metrics_workqueue_add(QUEUE_NAME);
    if (ctl_after_moved(old_obj, old_obj == obj ? NULL : obj)) {
        json_t *all = ctl_jobs_list(c, kube_obj_namespace(obj));
        ctl_after_dependents(all, obj, queue_key, c->queue);
        json_decref(all);
    }
}

static void job_add(void *ud, json_t *obj)
{
    job_event(ud, NULL, obj);
}

static void job_update(void *ud, json_t *old_obj, json_t *new_obj)
{
    job_event(ud, old_obj, new_obj);
}

static void job_delete(void *ud, json_t *obj, bool unknown)
{
    (void)unknown;
    job_event(ud, obj, obj);
}

/* The Lease's namespace: --leader-election-namespace, else the pod's, else
 * the kubeconfig's, else retl-system. */
static void lease_namespace(const struct opts *o, const struct kube_config *cfg,
                            char *buf, size_t n)
{
    const char *ns = o->leader_namespace       ? o->leader_namespace
                     : getenv("POD_NAMESPACE") ? getenv("POD_NAMESPACE")
                                               : cfg->namespace;
    snprintf(buf, n, "%s", ns ? ns : "retl-system");
}

/* One pair of informers per watched namespace: with namespaced Roles only, a
 * cluster-wide list would be forbidden. */
static retl_err start_informers(struct ctl *c, struct retl_errbuf *eb)
{
    retl_err e;
    c->n_scopes = g_watch_ns.n ? g_watch_ns.n : 1;
    for (size_t i = 0; i < c->n_scopes; i++) {
        struct ctl_scope *sc = &c->scopes[i];
        sc->ns = g_watch_ns.n ? g_watch_ns.items[i] : NULL;
        struct kube_informer_handlers jh = {
            .on_add = job_add, .on_update = job_update, .on_delete = job_delete, .ud = c};
        struct kube_informer_opts jo = {.gvr = &kube_gvr_reverseetljobs,
                                        .namespace = sc->ns};
        if ((e = kube_informer_new(c->kc, &jo, &jh, &sc->jobs, eb)))
            return e;
        struct kube_informer_handlers ph = ctl_pod_handlers(c->queue);
        struct kube_informer_opts po = {
            .gvr = &kube_gvr_pods, .namespace = sc->ns, .label_selector = "retl.io/job"};
        if ((e = kube_informer_new(c->kc, &po, &ph, &sc->pods, eb)))
            return e;
        if ((e = kube_informer_start(sc->pods, eb)) ||
            (e = kube_informer_start(sc->jobs, eb)))
            return e;
    }
    return RETL_E_OK;
}

/* Waits up to 60 s for every informer's first list; counts what they hold. */
static retl_err wait_synced(struct ctl *c, long *n_jobs, long *n_pods,
                            struct retl_errbuf *eb)
{
    for (size_t i = 0; i < c->n_scopes; i++) {
        struct ctl_scope *sc = &c->scopes[i];
        if (!kube_informer_wait_synced(sc->pods, 60000) ||
            !kube_informer_wait_synced(sc->jobs, 60000))
            return retl_errf(
                eb, RETL_E_TIMEOUT,
                "informers of %s did not sync within 60 s (is the CRD installed "
                "and may the service account list reverseetljobs and pods%s%s?)",
                sc->ns ? sc->ns : "all namespaces", sc->ns ? " in " : "",
                sc->ns ? sc->ns : " cluster-wide");
        *n_jobs += (long)kube_informer_count(sc->jobs);
        *n_pods += (long)kube_informer_count(sc->pods);
    }
    return RETL_E_OK;
}

/* Gives up the lease, stops the watches, drains the queue into the workers
 * (a standby has none), then frees everything main made. */
static void stop_all(struct ctl *c, struct kube_leader *leader, struct ctl_health *health,
                     struct kube_client *kc)
{
    if (leader)
        kube_leader_stop(leader);
    for (size_t i = 0; i < c->n_scopes; i++) {
        kube_informer_stop(c->scopes[i].jobs);
        kube_informer_stop(c->scopes[i].pods);
    }
    if (atomic_load(&g_workers_started)) {
        kube_queue_shutdown_drain(c->queue, 8000);
        for (int w = 0; w < WORKERS; w++)
            pthread_join(g_workers[w], NULL);
    } else {
        kube_queue_shutdown(c->queue);
    }
    kube_leader_free(leader);
    kube_events_free(c->events);
    for (size_t i = 0; i < c->n_scopes; i++) {
        kube_informer_free(c->scopes[i].jobs);
        kube_informer_free(c->scopes[i].pods);
    }
    kube_queue_free(c->queue);
    ctl_health_stop(health);
    kube_client_free(kc);
    ctl_metrics_shutdown();
}

int main(int argc, char **argv)
{
    struct opts o = {.engine_image = DEFAULT_IMAGE,
                     .metrics_addr = CTL_HEALTH_DEFAULT_METRICS_ADDR,
                     .probe_addr = CTL_HEALTH_DEFAULT_PROBE_ADDR,
                     .log_level = "info",
                     .log_format = "json"};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    enum retl_log_level lvl;
    enum retl_log_format fmt;
    if (retl_log_parse_level(o.log_level, &lvl) ||
        retl_log_parse_format(o.log_format, &fmt)) {
        fprintf(stderr, "retl-controller: bad --log-level or --log-format\n");
        return 2;
    }
    retl_log_setup("retl-controller", lvl, fmt, NULL);
    struct retl_errbuf leb = {{0}};
    retl_err le;
    if ((le = ctl_list_parse(o.watch_namespaces ? o.watch_namespaces : o.namespace,
                             &g_watch_ns, &leb)) ||
        (le = ctl_list_parse(o.allowed_run_images, &g_allowed_images, &leb)) ||
        (le = ctl_list_parse(o.allowed_run_sas, &g_allowed_sas, &leb))) {
        fprintf(stderr, "retl-controller: %s\n", retl_errbuf_msg(&leb, le));
        return 2;
    }

    /* Signals are taken by sigwait below; threads inherit the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct retl_errbuf eb = {{0}};
    struct kube_config *cfg = NULL;
    struct kube_client *kc = NULL;
    struct ctl_health *health = NULL;
    struct kube_leader *leader = NULL;
    retl_err e;

    ctl_metrics_init();
    ctl_metrics_controller_register(QUEUE_NAME);
    /* A standby replica reports 0 until it leads. */
    ctl_metrics_leader(LEASE_NAME, false);
    struct ctl_health_opts ho = {.metrics_addr = o.metrics_addr,
                                 .probe_addr = o.probe_addr};
    if ((e = ctl_health_start(&ho, &health, &eb))) {
        RETL_LOG_ERROR("cannot serve metrics/health",
                       RF_S("error", retl_errbuf_msg(&eb, e)));
        return 1;
    }

    struct kube_config_opts co = {.kubeconfig = o.kubeconfig};
    if ((e = kube_config_load(&co, &cfg, &eb))) {
        RETL_LOG_ERROR("no Kubernetes configuration",
                       RF_S("error", retl_errbuf_msg(&eb, e)));
        return 1;
    }
    const char *srv = strstr(cfg->server, "://");
    snprintf(g_api_host, sizeof g_api_host, "%s", srv ? srv + 3 : cfg->server);
    char lease_ns[256];
    lease_namespace(&o, cfg, lease_ns, sizeof lease_ns);
    RETL_LOG_INFO(
        "starting", RF_S("server", cfg->server), RF_S("config", cfg->source),
        RF_S("namespaces", g_watch_ns.n
                               ? (o.watch_namespaces ? o.watch_namespaces : o.namespace)
                               : "(all)"),
        RF_S("allowedRunImages",
             o.allowed_run_images ? o.allowed_run_images : "(engine image only)"),
        RF_S("allowedRunServiceAccounts",
             o.allowed_run_sas ? o.allowed_run_sas : "(any)"),
        RF_B("leaderElect", o.leader_elect), RF_S("engineImage", o.engine_image));

    struct kube_client_opts kco = {.on_request = on_request};
    if ((e = kube_client_new(cfg, &kco, &kc, &eb))) {
        RETL_LOG_ERROR("cannot create the API client",
                       RF_S("error", retl_errbuf_msg(&eb, e)));
        kube_config_free(cfg);
        return 1;
    }

    struct ctl *c = &g_ctl;
    c->kc = kc;
    c->engine_image = o.engine_image;
    c->allowed_images = &g_allowed_images;
    c->allowed_sas = &g_allowed_sas;
    if ((e = kube_queue_new(&(struct kube_queue_opts){.name = QUEUE_NAME}, &c->queue,
                            &eb)))
        goto fail;
    char ident[256];
    kube_leader_default_identity(ident, sizeof ident);
    const char *podname = getenv("POD_NAME");
    if ((e = kube_events_new(
             kc,
             &(struct kube_events_opts){.reporting_controller = "retl.io/retl-controller",
                                        .reporting_instance = podname ? podname : ident},
             &c->events, &eb)))
        goto fail;

    if ((e = start_informers(c, &eb)))
        goto fail;
    ctl_health_add_readiness(health, "informers", informers_synced, c);
    long n_jobs = 0, n_pods = 0;
    if ((e = wait_synced(c, &n_jobs, &n_pods, &eb)))
        goto fail;
    ctl_health_set_ready(health, true, NULL);
    RETL_LOG_INFO("caches synced", RF_I("jobs", n_jobs), RF_I("pods", n_pods));

    if (o.leader_elect) {
        struct kube_leader_opts lo = {.namespace = lease_ns,
                                      .name = LEASE_NAME,
                                      .identity = podname ? NULL : ident,
                                      .on_started_leading = start_workers,
                                      .on_stopped_leading = stopped_leading,
                                      .on_new_leader = new_leader,
                                      .ud = c};
        if ((e = kube_leader_start(kc, &lo, &leader, &eb)))
            goto fail;
    } else {
        start_workers(c);
    }

    int sig = 0;
    sigwait(&sigs, &sig);
    RETL_LOG_INFO("shutting down", RF_I("signal", sig));
    stop_all(c, leader, health, kc);
    RETL_LOG_INFO("stopped");
    return 0;

fail:
    RETL_LOG_ERROR("startup failed", RF_S("error", retl_errbuf_msg(&eb, e)));
    ctl_health_stop(health);
    return 1;
}
