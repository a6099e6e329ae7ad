#include "kube_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/base64.h"
#include "common/yaml.h"

#define KUBECONFIG_MAX (4u * 1024 * 1024)
#define PEM_MAX (1u * 1024 * 1024)
#define TOKEN_MAX (64u * 1024)

retl_err kube_read_file(const char *path, size_t max, char **out, struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    char *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        e = retl_errf(eb, errno == ENOENT ? RETL_E_NOT_FOUND : RETL_E_IO, "%s: %s", path,
                      strerror(errno));
        goto out;
    }
    data = malloc(max + 1);
    if (!data) {
        e = RETL_E_NOMEM;
        goto out;
    }
    size_t n = fread(data, 1, max + 1, f);
    if (ferror(f)) {
        e = retl_errf(eb, RETL_E_IO, "%s: read error", path);
        goto out;
    }
    if (n > max) {
        e = retl_errf(eb, RETL_E_TOO_BIG, "%s: larger than %zu bytes", path, max);
        goto out;
    }
    data[n] = '\0';
    char *shrunk = realloc(data, n + 1);
    if (shrunk)
        data = shrunk;
    *out = data;
    data = NULL;
out:
    free(data);
    if (f)
        fclose(f);
    return e;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void kube_config_free(struct kube_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->server);
    free(cfg->ca_pem);
    free(cfg->cert_pem);
    free(cfg->key_pem);
    free(cfg->token);
    free(cfg->token_file);
    free(cfg->username);
    free(cfg->password);
    free(cfg->tls_server_name);
    free(cfg->namespace);
    free(cfg->context);
    free(cfg->source);
    free(cfg->cached_token);
    pthread_mutex_destroy(&cfg->mu);
    free(cfg);
}

static struct kube_config *config_alloc(void)
{
    struct kube_config *cfg = calloc(1, sizeof *cfg);
    if (cfg)
        pthread_mutex_init(&cfg->mu, NULL);
    return cfg;
}

/* Trims trailing whitespace/newlines in place (token files end with one). */
static void rtrim(char *s)
{
    size_t n = strlen(s);
    while (n &&
           (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

retl_err kube_config_token(struct kube_config *cfg, bool force, char **out,
                           struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    char *tok = NULL;
    if (!cfg->token_file) {
        if (cfg->token) {
            tok = strdup(cfg->token);
            if (!tok)
                return RETL_E_NOMEM;
        }
        *out = tok;
        return RETL_E_OK;
    }
    pthread_mutex_lock(&cfg->mu);
    time_t now = time(NULL);
    if (force || !cfg->cached_token || now - cfg->cached_at >= KUBE_TOKEN_REREAD_S ||
        now < cfg->cached_at) {
        char *fresh = NULL;
        e = kube_read_file(cfg->token_file, TOKEN_MAX, &fresh, eb);
        if (e == RETL_E_OK) {
            rtrim(fresh);
            free(cfg->cached_token);
            cfg->cached_token = fresh;
            cfg->cached_at = now;
        } else if (cfg->cached_token) {
            e = RETL_E_OK; /* keep using the last token read */
        }
    }
    if (e == RETL_E_OK) {
        tok = strdup(cfg->cached_token);
        if (!tok)
            e = RETL_E_NOMEM;
    }
    pthread_mutex_unlock(&cfg->mu);
    if (e == RETL_E_OK)
        *out = tok;
    return e;
}

retl_err kube_config_in_cluster(const char *sa_dir, struct kube_config **out,
                                struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    struct kube_config *cfg = NULL;
    char path[4096];
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!sa_dir)
        sa_dir = KUBE_SA_DIR;
    if (!host || !*host || !port || !*port) {
        e = retl_errf(eb, RETL_E_NOT_FOUND,
                      "not in a cluster: KUBERNETES_SERVICE_HOST/PORT unset");
        goto out;
    }
    cfg = config_alloc();
    if (!cfg) {
        e = RETL_E_NOMEM;
        goto out;
    }
    char server[512];
    /* An IPv6 service host needs brackets in the URL. */
    if (strchr(host, ':'))
        snprintf(server, sizeof server, "https://[%s]:%s", host, port);
    else
        snprintf(server, sizeof server, "https://%s:%s", host, port);
    snprintf(path, sizeof path, "%s/token", sa_dir);
    cfg->server = strdup(server);
    cfg->token_file = strdup(path);
    cfg->source = strdup("in-cluster");
    if (!cfg->server || !cfg->token_file || !cfg->source) {
        e = RETL_E_NOMEM;
        goto out;
    }
    char *tok = NULL;
    e = kube_config_token(cfg, true, &tok, eb);
    if (e)
        goto out;
    free(tok);
    snprintf(path, sizeof path, "%s/ca.crt", sa_dir);
    e = kube_read_file(path, PEM_MAX, &cfg->ca_pem, eb);
    if (e)
        goto out;
    snprintf(path, sizeof path, "%s/namespace", sa_dir);
    if (kube_read_file(path, 4096, &cfg->namespace, NULL) == RETL_E_OK)
        rtrim(cfg->namespace);
    else
        cfg->namespace = strdup("default");
    if (!cfg->namespace) {
        e = RETL_E_NOMEM;
        goto out;
    }
    *out = cfg;
    cfg = NULL;
out:
    kube_config_free(cfg);
    return e;
}

/* One loaded kubeconfig file. */
struct kc_file {
    json_t *doc; /* owned */
    char *dir;   /* directory for relative paths; owned */
    char *path;  /* owned */
};

/* The named entry (list of {name, <field>: {...}}) in the first file that has
 * it; *dir gets that file's directory. Borrowed. */
static json_t *kc_find(struct kc_file *files, size_t n, const char *list,
                       const char *field, const char *name, const char **dir)
{
    for (size_t i = 0; i < n; i++) {
        json_t *arr = json_object_get(files[i].doc, list);
        size_t k;
        json_t *ent;
        json_array_foreach (arr, k, ent) {
            const char *nm = json_string_value(json_object_get(ent, "name"));
            if (nm && !strcmp(nm, name)) {
                *dir = files[i].dir;
                json_t *v = json_object_get(ent, field);
                return json_is_object(v) ? v : NULL;
            }
        }
    }
    return NULL;
}

/* Resolves path against dir when relative. Ownership: caller frees. */
static char *resolve(const char *dir, const char *path)
{
    if (path[0] == '/' || !dir)
        return strdup(path);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, path);
    return p;
}

/* Fills *dst from obj[data_key] (base64) or the file obj[file_key]. */
static retl_err kc_blob(const json_t *obj, const char *data_key, const char *file_key,
                        const char *dir, char **dst, struct retl_errbuf *eb)
{
    const char *data = json_string_value(json_object_get(obj, data_key));
    const char *file = json_string_value(json_object_get(obj, file_key));
    if (data && *data) {
        retl_err e = retl_base64_decode(data, dst, NULL);
        if (e == RETL_E_PARSE)
            return retl_errf(eb, RETL_E_CONFIG, "kubeconfig: %s is not base64", data_key);
        return e;
    }
    if (file && *file) {
        char *p = resolve(dir, file);
        if (!p)
            return RETL_E_NOMEM;
        retl_err e = kube_read_file(p, PEM_MAX, dst, eb);
        free(p);
        if (e)
            return retl_err_wrap(eb, RETL_E_CONFIG, "kubeconfig %s", file_key);
    }
    return RETL_E_OK;
}

static bool json_truthy(const json_t *v)
{
    if (json_is_true(v))
        return true;
    /* Some writers quote booleans. */
    const char *s = json_string_value(v);
    return s && !strcmp(s, "true");
}

static retl_err kc_build(struct kc_file *files, size_t n, const char *context,
                         struct kube_config *cfg, struct retl_errbuf *eb)
{
    const char *ctx_name = context;
    const char *dir = NULL;
    for (size_t i = 0; !ctx_name && i < n; i++) {
        const char *cc =
            json_string_value(json_object_get(files[i].doc, "current-context"));
        if (cc && *cc)
            ctx_name = cc;
    }
    if (!ctx_name)
        return retl_errf(eb, RETL_E_CONFIG, "kubeconfig %s: no current-context",
                         files[0].path);
    json_t *ctx = kc_find(files, n, "contexts", "context", ctx_name, &dir);
    if (!ctx)
        return retl_errf(eb, RETL_E_CONFIG, "kubeconfig: context %s not found", ctx_name);
    const char *cluster_name = json_string_value(json_object_get(ctx, "cluster"));
    const char *user_name = json_string_value(json_object_get(ctx, "user"));
    const char *ns = json_string_value(json_object_get(ctx, "namespace"));
    if (!cluster_name)
        return retl_errf(eb, RETL_E_CONFIG, "kubeconfig: context %s names no cluster",
                         ctx_name);
    json_t *cl = kc_find(files, n, "clusters", "cluster", cluster_name, &dir);
    if (!cl)
        return retl_errf(eb, RETL_E_CONFIG, "kubeconfig: cluster %s not found",
                         cluster_name);
    const char *server = json_string_value(json_object_get(cl, "server"));
    if (!server || !*server)
        return retl_errf(eb, RETL_E_CONFIG, "kubeconfig: cluster %s has no server",
                         cluster_name);
    cfg->server = strdup(server);
    if (!cfg->server)
        return RETL_E_NOMEM;
    size_t sl = strlen(cfg->server);
    while (sl && cfg->server[sl - 1] == '/')
        cfg->server[--sl] = '\0';
    cfg->insecure_skip_tls_verify =
        json_truthy(json_object_get(cl, "insecure-skip-tls-verify"));
    cfg->tls_server_name =
        xstrdup(json_string_value(json_object_get(cl, "tls-server-name")));
    retl_err e = kc_blob(cl, "certificate-authority-data", "certificate-authority", dir,
                         &cfg->ca_pem, eb);
    if (e)
        return e;
    if (user_name) {
        json_t *u = kc_find(files, n, "users", "user", user_name, &dir);
        if (u) {
            if (json_object_get(u, "exec") || json_object_get(u, "auth-provider"))
                return retl_errf(eb, RETL_E_UNSUPPORTED,
                                 "kubeconfig user %s: exec/auth-provider "
                                 "credential plugins are not supported",
                                 user_name);
            e = kc_blob(u, "client-certificate-data", "client-certificate", dir,
                        &cfg->cert_pem, eb);
            if (e)
                return e;
            e = kc_blob(u, "client-key-data", "client-key", dir, &cfg->key_pem, eb);
            if (e)
                return e;
            if (!cfg->cert_pem != !cfg->key_pem)
                return retl_errf(eb, RETL_E_CONFIG,
                                 "kubeconfig user %s: client certificate and "
                                 "key must be given together",
                                 user_name);
            const char *tok = json_string_value(json_object_get(u, "token"));
            const char *tf = json_string_value(json_object_get(u, "tokenFile"));
            if (tok && *tok)
                cfg->token = strdup(tok);
            else if (tf && *tf)
                cfg->token_file = resolve(dir, tf);
            cfg->username = xstrdup(json_string_value(json_object_get(u, "username")));
            cfg->password = xstrdup(json_string_value(json_object_get(u, "password")));
        }
    }
    cfg->namespace = strdup(ns && *ns ? ns : "default");
    cfg->context = strdup(ctx_name);
    if (!cfg->namespace || !cfg->context)
        return RETL_E_NOMEM;
    if (cfg->token_file) {
        char *tok = NULL;
        e = kube_config_token(cfg, true, &tok, eb);
        free(tok);
        if (e)
            return retl_err_wrap(eb, RETL_E_CONFIG, "kubeconfig tokenFile");
    }
    return RETL_E_OK;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

retl_err kube_config_from_kubeconfig(const char *paths, const char *context,
                                     struct kube_config **out, struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    struct kube_config *cfg = NULL;
    struct kc_file files[16];
    size_t n = 0;
    char *list = strdup(paths);
    if (!list)
        return RETL_E_NOMEM;
    char *save = NULL;
    for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
        if (!*p)
            continue;
        if (n == sizeof files / sizeof files[0]) {
            e = retl_errf(eb, RETL_E_CONFIG, "too many kubeconfig files");
            goto out;
        }
        char *text = NULL;
        e = kube_read_file(p, KUBECONFIG_MAX, &text, eb);
        if (e == RETL_E_NOT_FOUND && strchr(paths, ':')) {
            e = RETL_E_OK; /* client-go skips missing files in a list */
            continue;
        }
        if (e)
            goto out;
        json_t *docs = NULL;
        e = retl_yaml_load(text, strlen(text), &docs, eb);
        free(text);
        if (e) {
            e = retl_err_wrap(eb, RETL_E_CONFIG, "kubeconfig %s", p);
            goto out;
        }
        json_t *doc = json_incref(json_array_get(docs, 0));
        json_decref(docs);
        if (!json_is_object(doc)) {
            json_decref(doc);
            e = retl_errf(eb, RETL_E_CONFIG, "kubeconfig %s: not a mapping", p);
            goto out;
        }
        files[n].doc = doc;
        files[n].path = strdup(p);
        files[n].dir = dir_of(p);
        n++;
        if (!files[n - 1].path || !files[n - 1].dir) {
            e = RETL_E_NOMEM;
            goto out;
        }
    }
    if (n == 0) {
        e = retl_errf(eb, RETL_E_NOT_FOUND, "no kubeconfig file in %s", paths);
        goto out;
    }
    cfg = config_alloc();
    if (!cfg) {
        e = RETL_E_NOMEM;
        goto out;
    }
    cfg->source = strdup(files[0].path);
    e = kc_build(files, n, context, cfg, eb);
    if (e)
        goto out;
    *out = cfg;
    cfg = NULL;
out:
    for (size_t i = 0; i < n; i++) {
        json_decref(files[i].doc);
        free(files[i].dir);
        free(files[i].path);
    }
    free(list);
    kube_config_free(cfg);
    return e;
}

retl_err kube_config_load(const struct kube_config_opts *opts, struct kube_config **out,
                          struct retl_errbuf *eb)
{
    struct kube_config_opts o = {0};
    if (opts)
        o = *opts;
    if (o.kubeconfig && *o.kubeconfig)
        return kube_config_from_kubeconfig(o.kubeconfig, o.context, out, eb);
    const char *env = getenv("KUBECONFIG");
    if (env && *env)
        return kube_config_from_kubeconfig(env, o.context, out, eb);
    if (!o.no_in_cluster) {
        retl_err e = kube_config_in_cluster(o.sa_dir, out, eb);
        if (e != RETL_E_NOT_FOUND)
            return e;
    }
    const char *home = o.home ? o.home : getenv("HOME");
    if (!home || !*home)
        return retl_errf(eb, RETL_E_CONFIG,
                         "no Kubernetes configuration: no --kubeconfig, "
                         "KUBECONFIG, in-cluster environment or HOME");
    char path[4096];
    snprintf(path, sizeof path, "%s/.kube/config", home);
    struct stat st;
    if (stat(path, &st) != 0)
        return retl_errf(eb, RETL_E_CONFIG,
                         "no Kubernetes configuration: no --kubeconfig, "
                         "KUBECONFIG, in-cluster environment or %s",
                         path);
    return kube_config_from_kubeconfig(path, o.context, out, eb);
}
