/* kubectl-retl: `kubectl retl SUBCOMMAND JOB [flags]` (DESIGN.md section 8.5).
 *
 *   run JOB [--wait] [--timeout D]     request a run (retl.io/run-requested-at)
 *   resync JOB [--wait] [--timeout D]  the next run sends every row again
 *   reset JOB [--wait] [--timeout D]   the next run records every row as synced
 *   retry JOB [--wait] [--timeout D]   the next run resends permanently failed rows
 *   status JOB                         conditions and the last runs as a table
 *   plan JOB | errors JOB [--image I]  a short-lived engine pod with the job's
 *                                      Secrets: what a run would do, rows failing
 *
 * Like kubectl: KUBECONFIG (or ~/.kube/config, or in-cluster), --kubeconfig,
 * --context, -n/--namespace. Exit codes like the engine's. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/summary.h"
#include "kubectl-retl/krc.h"

atomic_bool krc_stop;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&krc_stop, true); /* lock-free: async-signal-safe */
}

double krc_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

bool krc_sleep_ms(long ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    if (!atomic_load(&krc_stop))
        nanosleep(&t, NULL);
    return !atomic_load(&krc_stop);
}

bool krc_duration(const char *s, long *seconds)
{
    if (!s || !*s)
        return false;
    long total = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1000000)
            return false;
        long unit = 1;
        if (*end == 'h')
            unit = 3600, end++;
        else if (*end == 'm')
            unit = 60, end++;
        else if (*end == 's')
            end++;
        else if (*end || p != s)
            return false; /* a bare number only on its own */
        total += v * unit;
        p = end;
    }
    *seconds = total;
    return true;
}

static void usage(FILE *f)
{
    fputs("usage: kubectl retl run|resync|reset|retry JOB [--wait] [--timeout D]\n"
          "       kubectl retl status JOB\n"
          "       kubectl retl plan|errors JOB [--image IMAGE]\n"
          "flags: -n/--namespace NS, --context NAME, --kubeconfig FILE\n"
          "  run      request a run (annotation retl.io/run-requested-at)\n"
          "  resync   the next run sends every row again (a new baseline)\n"
          "  reset    the next run records every current row as synced, sends nothing\n"
          "  retry    the next run resends permanently failed rows too\n"
          "  --wait   wait for that run, print its summary, exit like the engine\n"
          "  --timeout D  how long --wait waits (e.g. 90s, 10m, 1h; default none)\n"
          "  status   conditions and the last runs\n"
          "  plan     what a run would send now (a pod of the engine image with the\n"
          "           job's Secrets; no warehouse credentials needed here)\n"
          "  errors   the rows failing now, with reasons (same kind of pod)\n"
          "exit: 0 done, 1 failed (or --wait timed out), 2 bad usage or no such job,\n"
          "      3 the run exceeded its error threshold\n",
          f);
}

struct args {
    const char *verb, *job, *ns, *context, *kubeconfig, *image, *timeout;
    bool wait;
};

/* Flags may come before or after the subcommand and job, as with kubectl. */
static bool parse(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        const char **dst = NULL;
        const char *inl = NULL;
        static const struct {
            const char *longf, *shortf;
            size_t off;
        } flags[] = {
            {"--namespace", "-n", offsetof(struct args, ns)},
            {"--context", NULL, offsetof(struct args, context)},
            {"--kubeconfig", NULL, offsetof(struct args, kubeconfig)},
            {"--image", NULL, offsetof(struct args, image)},
            {"--timeout", NULL, offsetof(struct args, timeout)},
        };
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            size_t l = strlen(flags[f].longf);
            if (!strcmp(s, flags[f].longf) ||
                (flags[f].shortf && !strcmp(s, flags[f].shortf))) {
                dst = (const char **)((char *)a + flags[f].off);
            } else if (!strncmp(s, flags[f].longf, l) && s[l] == '=') {
                dst = (const char **)((char *)a + flags[f].off);
                inl = s + l + 1;
            }
            if (dst)
                break;
        }
        if (dst) {
            if (inl) {
                *dst = inl;
            } else {
                if (!v)
                    return false;
                *dst = v;
                i++;
            }
        } else if (!strcmp(s, "--wait") || !strcmp(s, "--wait=true")) {
            a->wait = true;
        } else if (s[0] == '-' && s[1]) {
            fprintf(stderr, "error: unknown flag %s\n", s);
            return false;
        } else if (!a->verb) {
            a->verb = s;
        } else if (!a->job) {
            a->job = s;
        } else {
            fprintf(stderr, "error: unexpected argument %s\n", s);
            return false;
        }
    }
    return a->verb != NULL;
}

static const char *const verbs[] = {"run",    "resync", "reset", "retry",
                                    "status", "plan",   "errors"};

int main(int argc, char **argv)
{
    struct args a;
    struct retl_errbuf eb = {{0}};
    struct kube_config *cfg = NULL;
    struct krc k = {0};
    int code = RETL_EXIT_USAGE;

    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
                      !strcmp(argv[1], "help"))) {
        usage(stdout);
        return RETL_EXIT_OK;
    }
    if (!parse(argc, argv, &a)) {
        usage(stderr);
        return RETL_EXIT_USAGE;
    }
    bool known = false;
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        known |= !strcmp(a.verb, verbs[i]);
    if (!known) {
        fprintf(stderr, "error: unknown command \"%s\"\n", a.verb);
        usage(stderr);
        return RETL_EXIT_USAGE;
    }
    if (!a.job) {
        fprintf(stderr, "error: %s needs a job name: kubectl retl %s JOB\n", a.verb,
                a.verb);
        return RETL_EXIT_USAGE;
    }
    if (a.timeout && !krc_duration(a.timeout, &k.timeout_s)) {
        fprintf(stderr, "error: --timeout %s is not a duration (e.g. 90s, 10m, 1h)\n",
                a.timeout);
        return RETL_EXIT_USAGE;
    }
    /* Warnings of the client go to stderr in a terse form. */
    retl_log_setup("kubectl-retl", RETL_LOG_WARN, RETL_LOG_LOGFMT, stderr);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct kube_config_opts co = {.kubeconfig = a.kubeconfig, .context = a.context};
    retl_err e = kube_config_load(&co, &cfg, &eb);
    if (e) {
        fprintf(stderr, "error: no Kubernetes configuration: %s\n",
                retl_errbuf_msg(&eb, e));
        return RETL_EXIT_FAILED;
    }
    struct kube_client_opts ko = {.user_agent = "kubectl-retl"};
    if ((e = kube_client_new(cfg, &ko, &k.kc, &eb))) {
        fprintf(stderr, "error: %s\n", retl_errbuf_msg(&eb, e));
        kube_config_free(cfg);
        return RETL_EXIT_FAILED;
    }
    k.ns = a.ns ? a.ns : kube_client_config(k.kc)->namespace;
    k.job = a.job;
    k.wait = a.wait;
    k.image = a.image;
    e = kube_get(k.kc, &kube_gvr_reverseetljobs, k.ns, k.job, &k.rj, &eb);
    if (e == RETL_E_NOT_FOUND) {
        fprintf(stderr,
                "error: reverseetljob \"%s\" not found in namespace \"%s\" (kubectl get "
                "rj -n %s lists them)\n",
                k.job, k.ns, k.ns);
        code = RETL_EXIT_USAGE;
        goto out;
    }
    if (e) {
        fprintf(stderr, "error: reading reverseetljob %s/%s: %s\n", k.ns, k.job,
                retl_errbuf_msg(&eb, e));
        code = RETL_EXIT_FAILED;
        goto out;
    }
    if (!strcmp(a.verb, "status"))
        code = krc_status(&k);
    else if (!strcmp(a.verb, "plan") || !strcmp(a.verb, "errors"))
        code = krc_inspect(&k, a.verb);
    else
        code = krc_request(&k, a.verb);
out:
    json_decref(k.rj);
    kube_client_free(k.kc);
    return code;
}
