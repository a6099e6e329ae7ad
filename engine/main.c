/* retl-engine: runs one ReverseEtlJob sync (DESIGN.md section 5).
 *
 *   retl-engine run      -f job.yaml [-f secrets.yaml ...] | --from-env
 *   retl-engine plan     (same inputs) dry run: what would be sent
 *   retl-engine errors   (same inputs) [--json] rows failing now
 *   retl-engine describe (same inputs) destination metadata
 *   retl-engine cleanup  (same inputs) drop the job's state tables
 *
 * Exit codes: 0 completed, 1 run failed, 2 bad usage or invalid spec,
 * 3 completed but the error threshold was exceeded. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/spec.h"
#include "common/yaml.h"
#include "engine/run.h"
#include "engine/base/secrets.h"
#include "common/summary.h"

extern char **environ;

#define MAX_FILES 16

struct opts {
    const char *cmd;
    const char *files[MAX_FILES];
    size_t nfiles;
    bool from_env;
    bool json;
    const char *diff;
    long long run;
    bool run_set;
    double progress;
    bool resync, reset, retry_failed;
};

static void usage(FILE *f)
{
    fputs("usage: retl-engine run|plan|errors|describe|cleanup\n"
          "         (-f FILE [-f FILE ...] | --from-env)\n"
          "         [--run N] [--diff-strategy hash|join|except] [--json]\n"
          "         [--progress-interval SECONDS] [--resync | --reset] "
          "[--retry-failed]\n"
          "  run            one sync: send what changed, save the state\n"
          "  plan           dry run: one JSON line of what a run would send and "
          "delete\n"
          "  errors         the rows failing now, with reason and class\n"
          "  describe       the destination's metadata (columns, required, "
          "external ids)\n"
          "  cleanup        drop the job's state tables\n"
          "  -f FILE        YAML manifests: one ReverseEtlJob and the Secrets "
          "its secretRefs name\n"
          "  --from-env     run pod form: RETL_JOB (JSON), RETL_RUN, "
          "RETL_SOURCE_*, RETL_DESTINATION_*\n"
          "  --run N        the run number (default env RETL_RUN, else 1)\n"
          "  --json         errors: print a JSON array instead of text\n"
          "  --diff-strategy how the delta is computed (default hash; env "
          "RETL_DIFF_STRATEGY)\n"
          "  --progress-interval seconds between progress log lines (default 5; "
          "env RETL_PROGRESS_INTERVAL; 0 = none)\n"
          "  --resync       a new baseline: every row is sent again (env "
          "RETL_RESYNC=1)\n"
          "  --reset        every current row is recorded as synced, nothing is "
          "sent (env RETL_RESET=1)\n"
          "  --retry-failed permanently failed rows are sent again too (env "
          "RETL_RETRY_FAILED=1)\n"
          "exit: 0 completed, 1 failed, 2 bad usage or invalid spec, 3 error "
          "threshold exceeded\n",
          f);
}

/* "1" or "true" (what the controller sets for a requested resync/reset/retry). */
static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->diff = getenv("RETL_DIFF_STRATEGY");
    o->progress = 5.0;
    const char *pi = getenv("RETL_PROGRESS_INTERVAL");
    if (pi && *pi) {
        char *end;
        double v = strtod(pi, &end);
        if (!*end)
            o->progress = v;
    }
    o->resync = env_true("RETL_RESYNC");
    o->reset = env_true("RETL_RESET");
    o->retry_failed = env_true("RETL_RETRY_FAILED");
    if (argc < 2)
        return -1;
    o->cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if ((strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) && v) {
            if (o->nfiles == MAX_FILES)
                return -1;
            o->files[o->nfiles++] = v;
            i++;
        } else if (strcmp(a, "--from-env") == 0) {
            o->from_env = true;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--resync") == 0) {
            o->resync = true;
        } else if (strcmp(a, "--reset") == 0) {
            o->reset = true;
        } else if (strcmp(a, "--retry-failed") == 0) {
            o->retry_failed = true;
        } else if (strcmp(a, "--diff-strategy") == 0 && v) {
            o->diff = v;
            i++;
        } else if (strcmp(a, "--run") == 0 && v) {
            char *end;
            o->run = strtoll(v, &end, 10);
            if (*end || o->run < 0)
                return -1;
            o->run_set = true;
            i++;
        } else if (strcmp(a, "--progress-interval") == 0 && v) {
            char *end;
            o->progress = strtod(v, &end);
            if (*end)
                return -1;
            i++;
        } else {
            return -1;
        }
    }
    if (o->from_env == (o->nfiles > 0))
        return -1;
    if (o->resync && o->reset) /* opposite wishes: say so rather than pick one */
        return -1;
    return 0;
}

/* Ownership: caller decrefs *docs. */
static retl_err load_docs(const struct opts *o, json_t **docs, struct retl_errbuf *eb)
{
    json_t *all = json_array();
    if (!all)
        return RETL_E_NOMEM;
    for (size_t i = 0; i < o->nfiles; i++) {
        json_t *d = NULL;
        retl_err rc = retl_yaml_load_file(o->files[i], &d, eb);
        if (rc) {
            json_decref(all);
            return retl_err_wrap(eb, rc, "%s", o->files[i]);
        }
        json_array_extend(all, d);
        json_decref(d);
    }
    *docs = all;
    return RETL_E_OK;
}

static const json_t *find_job(const json_t *docs, struct retl_errbuf *eb)
{
    const json_t *job = NULL;
    size_t i, n = 0;
    json_t *d;
    json_array_foreach (docs, i, d) {
        const char *kind = json_string_value(json_object_get(d, "kind"));
        if (kind && strcmp(kind, RETL_KIND) == 0) {
            job = d;
            n++;
        }
    }
    if (n != 1) {
        retl_errf(eb, RETL_E_USAGE,
                  "expected exactly one ReverseEtlJob in the files, found %zu", n);
        return NULL;
    }
    return job;
}

static void write_summary(const struct retl_summary *s)
{
    char *txt = retl_summary_json(s);
    if (!txt)
        return;
    const char *path = getenv("RETL_TERMINATION_LOG");
    if (!path && access("/dev/termination-log", W_OK) == 0)
        path = "/dev/termination-log";
    if (path && *path) {
        FILE *f = fopen(path, "w");
        if (f) {
            fputs(txt, f);
            fclose(f);
        } else {
            RETL_LOG_WARN("cannot write the termination message", RF_S("path", path),
                          RF_S("error", strerror(errno)));
        }
    }
    fflush(stderr);
    printf("%s\n", txt);
    fflush(stdout);
    free(txt);
}

static int fail_early(const struct opts *o, long long run, const char *msg, int code)
{
    fprintf(stderr, "retl-engine: %s\n", msg);
    RETL_LOG_ERROR("cannot start", RF_S("message", msg));
    if (strcmp(o->cmd, "run") == 0) {
        struct retl_summary s;
        retl_summary_init(&s, run);
        retl_utf8_trunc(s.message, sizeof s.message, msg, "...");
        write_summary(&s);
    }
    return code;
}

static void on_signal(int sig)
{
    (void)sig;
    eng_stop_requested = 1;
}

static void setup(void)
{
    enum retl_log_level lvl = RETL_LOG_INFO;
    enum retl_log_format fmt = RETL_LOG_JSON;
    const char *l = getenv("RETL_LOG_LEVEL"), *f = getenv("RETL_LOG_FORMAT");
    if (l)
        retl_log_parse_level(l, &lvl);
    if (f)
        retl_log_parse_format(f, &fmt);
    retl_log_setup("engine", lvl, fmt, stderr);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int dispatch(const struct opts *o, struct eng_ctx *c)
{
    if (strcmp(o->cmd, "run") == 0) {
        struct retl_summary s;
        int code = eng_cmd_run(c, &s);
        write_summary(&s);
        json_decref(s.dest_info);
        json_decref(s.extra);
        return code;
    }
    if (strcmp(o->cmd, "plan") == 0)
        return eng_cmd_plan(c, stdout);
    if (strcmp(o->cmd, "errors") == 0)
        return eng_cmd_errors(c, o->json, stdout);
    if (strcmp(o->cmd, "describe") == 0)
        return eng_cmd_describe(c, stdout);
    return eng_cmd_cleanup(c, stdout);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct retl_errbuf eb = {{0}};
    struct retl_problems probs = {0};
    struct retl_job *job = NULL;
    struct eng_secrets ssec = {0}, dsec = {0};
    json_t *docs = NULL, *envjob = NULL;
    const json_t *jobdoc = NULL;
    int code = RETL_EXIT_USAGE;
    char msg[RETL_ERRBUF_SIZE];
    static const char *const cmds[] = {"run", "plan", "errors", "describe", "cleanup"};

    setup();
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
                      strcmp(argv[1], "help") == 0)) {
        usage(stdout);
        return 0;
    }
    bool known = false;
    if (parse_args(argc, argv, &o) == 0)
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
            known |= strcmp(o.cmd, cmds[i]) == 0;
    if (!known) {
        usage(stderr);
        return RETL_EXIT_USAGE;
    }
    enum eng_diff diff;
    if (!eng_diff_parse(o.diff, &diff)) {
        fprintf(stderr,
                "retl-engine: unknown diff strategy \"%s\" (hash, join, except)\n",
                o.diff);
        return RETL_EXIT_USAGE;
    }
    long long run = o.run_set ? o.run : 0;
    const char *rs = getenv("RETL_RUN");
    if (!o.run_set && rs && *rs)
        run = strtoll(rs, NULL, 10);
    if (!o.run_set && !rs)
        run = 1;

    if (o.from_env) {
        const char *txt = getenv("RETL_JOB");
        if (!txt || !*txt) {
            code = fail_early(&o, run, "RETL_JOB is not set", RETL_EXIT_USAGE);
            goto out;
        }
        retl_err rc = retl_json_parse(txt, strlen(txt), &envjob, &eb);
        if (rc) {
            retl_utf8_printf(msg, sizeof msg, "RETL_JOB: %s", retl_errbuf_msg(&eb, rc));
            code = fail_early(&o, run, msg, RETL_EXIT_USAGE);
            goto out;
        }
        jobdoc = envjob;
    } else {
        retl_err rc = load_docs(&o, &docs, &eb);
        if (!rc && !(jobdoc = find_job(docs, &eb)))
            rc = RETL_E_USAGE;
        if (rc) {
            code = fail_early(&o, run, retl_errbuf_msg(&eb, rc), RETL_EXIT_USAGE);
            goto out;
        }
    }
    if (retl_job_parse(jobdoc, &job, &probs) != RETL_E_OK) {
        for (size_t i = 0; i < probs.n; i++)
            fprintf(stderr, "invalid spec: %s\n", probs.msgs[i]);
        if (probs.dropped)
            fprintf(stderr, "invalid spec: ... and %zu more\n", probs.dropped);
        char *all = retl_problems_join(&probs);
        retl_utf8_printf(msg, sizeof msg, "invalid spec: %s", all ? all : "?");
        free(all);
        code = fail_early(&o, run, msg, RETL_EXIT_USAGE);
        goto out;
    }
    retl_err rc;
    bool want_dest = strcmp(o.cmd, "run") == 0 || strcmp(o.cmd, "plan") == 0 ||
                     strcmp(o.cmd, "describe") == 0;
    if (o.from_env) {
        rc = eng_secrets_from_env("SOURCE", environ, &ssec, &eb);
        if (!rc)
            rc = eng_secrets_from_env("DESTINATION", environ, &dsec, &eb);
    } else {
        rc = eng_secrets_from_docs(docs, job->namespace, job->source.secret_name, &ssec,
                                   &eb);
        if (!rc && want_dest)
            rc = eng_secrets_from_docs(docs, job->namespace, job->destination.secret_name,
                                       &dsec, &eb);
    }
    if (rc) {
        code = fail_early(&o, run, retl_errbuf_msg(&eb, rc), RETL_EXIT_USAGE);
        goto out;
    }
    struct eng_ctx c = {.job = job,
                        .src_sec = &ssec,
                        .dst_sec = dsec.data ? &dsec : NULL,
                        .run = run,
                        .diff = diff,
                        .progress_interval = o.progress,
                        .resync = o.resync,
                        .reset = o.reset,
                        .retry_failed = o.retry_failed};
    code = dispatch(&o, &c);
out:
    retl_job_free(job);
    retl_problems_free(&probs);
    eng_secrets_free(&ssec);
    eng_secrets_free(&dsec);
    json_decref(docs);
    json_decref(envjob);
    return code;
}
