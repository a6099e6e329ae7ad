/* Where and how to reach the Kubernetes API: server URL, TLS trust, client
 * credentials. Loaded in controller-runtime's order:
 *
 *   1. an explicit kubeconfig path (the --kubeconfig flag),
 *   2. $KUBECONFIG (a ':'-separated list; for each map key the first file that
 *      sets it wins, as in client-go),
 *   3. in-cluster: $KUBERNETES_SERVICE_HOST/_PORT with the service account's
 *      token and ca.crt (and namespace) under
 *      /var/run/secrets/kubernetes.io/serviceaccount,
 *   4. ~/.kube/config.
 *
 * A kubeconfig is read through its current-context (or opts->context): the
 * cluster's server, certificate-authority(-data), insecure-skip-tls-verify
 * (honoured only when explicitly true), and the user's
 * client-certificate(-data) / client-key(-data), token or tokenFile. Relative
 * file paths resolve against the kubeconfig's directory; files are read at load
 * time except token files, which are re-read at most once a minute (projected
 * service account tokens rotate). exec/auth-provider plugins are not supported
 * (RETL_E_UNSUPPORTED). */
#ifndef RETL_KUBE_CONFIG_H
#define RETL_KUBE_CONFIG_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "common/error.h"

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
/* How long a token read from a file is used before it is read again. */
#define KUBE_TOKEN_REREAD_S 60

struct kube_config {
    char *server;          /* "https://host:port" (no trailing '/'); owned */
    char *ca_pem;          /* CA bundle (PEM), or NULL = system store; owned */
    char *cert_pem;        /* client certificate (PEM) or NULL; owned */
    char *key_pem;         /* client key (PEM) or NULL; owned */
    char *token;           /* static bearer token or NULL; owned */
    char *token_file;      /* bearer token file or NULL (re-read); owned */
    char *username;        /* basic auth (rare) or NULL; owned */
    char *password;        /* owned */
    char *tls_server_name; /* SNI/verification override or NULL; owned */
    bool insecure_skip_tls_verify;
    char *namespace; /* context namespace, in-cluster namespace, or "default" */
    char *context;   /* the context used, or NULL in-cluster; owned */
    char *source;    /* "in-cluster" or the kubeconfig path; owned */
    /* Token file cache (private). */
    pthread_mutex_t mu;
    char *cached_token;
    time_t cached_at;
};

struct kube_config_opts {
    const char *kubeconfig; /* explicit path (--kubeconfig) or NULL */
    const char *context;    /* context override or NULL = current-context */
    const char *sa_dir;     /* NULL = KUBE_SA_DIR (tests point elsewhere) */
    const char *home;       /* NULL = $HOME */
    bool no_in_cluster;     /* skip step 3 */
};

/* Loads the configuration as described above. opts may be NULL. Ownership: the
 * caller frees *out with kube_config_free. */
retl_err kube_config_load(const struct kube_config_opts *opts, struct kube_config **out,
                          struct retl_errbuf *eb);

/* Reads one kubeconfig file list (':'-separated paths, as $KUBECONFIG) with
 * context (NULL = current-context). Ownership as kube_config_load. */
retl_err kube_config_from_kubeconfig(const char *paths, const char *context,
                                     struct kube_config **out, struct retl_errbuf *eb);

/* The in-cluster configuration from sa_dir (NULL = KUBE_SA_DIR) and the
 * KUBERNETES_SERVICE_HOST/PORT environment. RETL_E_NOT_FOUND when not running
 * in a cluster. */
retl_err kube_config_in_cluster(const char *sa_dir, struct kube_config **out,
                                struct retl_errbuf *eb);

/* The bearer token to send now (token_file re-read when older than
 * KUBE_TOKEN_REREAD_S, or when force is set, e.g. after a 401), or NULL when
 * the config has none. Thread-safe. Ownership: the caller frees *out. */
retl_err kube_config_token(struct kube_config *cfg, bool force, char **out,
                           struct retl_errbuf *eb);

void kube_config_free(struct kube_config *cfg);

/* Reads a whole file of at most max bytes into a NUL-terminated heap string.
 * Ownership: caller frees. */
retl_err kube_read_file(const char *path, size_t max, char **out, struct retl_errbuf *eb);

#endif
