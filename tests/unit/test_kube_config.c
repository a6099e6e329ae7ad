#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller/kube/kube_config.h"

static char dir[256];

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *path_of(const char *name)
{
    static char path[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(path[i], sizeof path[i], "%s/%s", dir, name);
    return path[i];
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/kube-config-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    return 0;
}

/* "CA PEM\n", "CERT PEM\n", "KEY PEM\n" in base64. */
#define CA_B64 "Q0EgUEVNCg=="
#define CERT_B64 "Q0VSVCBQRU0K"
#define KEY_B64 "S0VZIFBFTQo="

static const char *kc_data =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: dev\n"
    "clusters:\n"
    "- name: c-dev\n"
    "  cluster:\n"
    "    server: https://127.0.0.1:6443/\n"
    "    certificate-authority-data: " CA_B64 "\n"
    "- name: c-prod\n"
    "  cluster:\n"
    "    server: https://prod.example:443\n"
    "    certificate-authority: ca.pem\n"
    "    insecure-skip-tls-verify: false\n"
    "- name: c-lab\n"
    "  cluster:\n"
    "    server: https://lab:6443\n"
    "    insecure-skip-tls-verify: true\n"
    "contexts:\n"
    "- name: dev\n"
    "  context: {cluster: c-dev, user: u-cert, namespace: sales-ops}\n"
    "- name: prod\n"
    "  context: {cluster: c-prod, user: u-files}\n"
    "- name: lab\n"
    "  context: {cluster: c-lab, user: u-token}\n"
    "- name: tf\n"
    "  context: {cluster: c-dev, user: u-tokenfile}\n"
    "- name: plugin\n"
    "  context: {cluster: c-dev, user: u-exec}\n"
    "- name: broken\n"
    "  context: {cluster: nowhere, user: u-token}\n"
    "users:\n"
    "- name: u-cert\n"
    "  user:\n"
    "    client-certificate-data: " CERT_B64 "\n"
    "    client-key-data: " KEY_B64 "\n"
    "- name: u-files\n"
    "  user:\n"
    "    client-certificate: certs/client.crt\n"
    "    client-key: certs/client.key\n"
    "- name: u-token\n"
    "  user: {token: abc.def.ghi}\n"
    "- name: u-tokenfile\n"
    "  user: {tokenFile: token.txt}\n"
    "- name: u-exec\n"
    "  user:\n"
    "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}\n";

static void test_inline_data_and_namespace(void **state)
{
    write_file("config", kc_data);
    struct kube_config *cfg = NULL;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(kube_config_from_kubeconfig(path_of("config"), NULL, &cfg, &eb),
                     RETL_E_OK);
    assert_string_equal(cfg->server, "https://127.0.0.1:6443"); /* '/' trimmed */
    assert_string_equal(cfg->ca_pem, "CA PEM\n");
    assert_string_equal(cfg->cert_pem, "CERT PEM\n");
    assert_string_equal(cfg->key_pem, "KEY PEM\n");
    assert_null(cfg->token);
    assert_false(cfg->insecure_skip_tls_verify);
    assert_string_equal(cfg->namespace, "sales-ops");
    assert_string_equal(cfg->context, "dev");
    kube_config_free(cfg);
}

static void test_files_relative_to_kubeconfig(void **state)
{
    char sub[600];
    snprintf(sub, sizeof sub, "%s/certs", dir);
    mkdir(sub, 0700);
    write_file("config", kc_data);
    write_file("ca.pem", "FILE CA");
    write_file("certs/client.crt", "FILE CERT");
    write_file("certs/client.key", "FILE KEY");
    struct kube_config *cfg = NULL;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(kube_config_from_kubeconfig(path_of("config"), "prod", &cfg, &eb),
                     RETL_E_OK);
    assert_string_equal(cfg->server, "https://prod.example:443");
    assert_string_equal(cfg->ca_pem, "FILE CA");
    assert_string_equal(cfg->cert_pem, "FILE CERT");
    assert_string_equal(cfg->key_pem, "FILE KEY");
    assert_string_equal(cfg->namespace, "default");
    assert_false(cfg->insecure_skip_tls_verify);
    kube_config_free(cfg);
    /* A referenced file that is missing is a configuration error. */
    unlink(path_of("certs/client.key"));
    assert_int_equal(kube_config_from_kubeconfig(path_of("config"), "prod", &cfg, &eb),
                     RETL_E_CONFIG);
    assert_non_null(strstr(eb.msg, "client.key"));
}

static void test_token_and_insecure(void **state)
{
    write_file("config", kc_data);
    struct kube_config *cfg = NULL;
    assert_int_equal(kube_config_from_kubeconfig(path_of("config"), "lab", &cfg, NULL),
                     RETL_E_OK);
    assert_true(cfg->insecure_skip_tls_verify);
    assert_null(cfg->ca_pem);
    char *tok = NULL;
    assert_int_equal(kube_config_token(cfg, false, &tok, NULL), RETL_E_OK);
    assert_string_equal(tok, "abc.def.ghi");
    free(tok);
    kube_config_free(cfg);
}

static void test_token_file_reread(void **state)
{
    write_file("config", kc_data);
    write_file("token.txt", "first-token\n");
    struct kube_config *cfg = NULL;
    assert_int_equal(kube_config_from_kubeconfig(path_of("config"), "tf", &cfg, NULL),
                     RETL_E_OK);
    assert_string_equal(cfg->token_file, path_of("token.txt"));
    char *tok = NULL;
    assert_int_equal(kube_config_token(cfg, false, &tok, NULL), RETL_E_OK);
    assert_string_equal(tok, "first-token"); /* newline trimmed */
    free(tok);
    /* Rotated on disk: the cached value serves until a minute has passed. */
    write_file("token.txt", "second-token");
    assert_int_equal(kube_config_token(cfg, false, &tok, NULL), RETL_E_OK);
    assert_string_equal(tok, "first-token");
    free(tok);
    cfg->cached_at -= KUBE_TOKEN_REREAD_S;
    assert_int_equal(kube_config_token(cfg, false, &tok, NULL), RETL_E_OK);
    assert_string_equal(tok, "second-token");
    free(tok);
    /* force (after a 401) re-reads at once. */
    write_file("token.txt", "third-token");
    assert_int_equal(kube_config_token(cfg, true, &tok, NULL), RETL_E_OK);
    assert_string_equal(tok, "third-token");
    free(tok);
    /* The file vanishing keeps the last good token. */
    unlink(path_of("token.txt"));
    assert_int_equal(kube_config_token(cfg, true, &tok, NULL), RETL_E_OK);
    assert_string_equal(tok, "third-token");
    free(tok);
    kube_config_free(cfg);
}

static void test_errors(void **state)
{
    write_file("config", kc_data);
    struct kube_config *cfg = NULL;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(kube_config_from_kubeconfig(path_of("config"), "plugin", &cfg, &eb),
                     RETL_E_UNSUPPORTED);
    assert_non_null(strstr(eb.msg, "exec"));
    assert_int_equal(kube_config_from_kubeconfig(path_of("config"), "nope", &cfg, &eb),
                     RETL_E_CONFIG);
    assert_non_null(strstr(eb.msg, "context nope"));
    assert_int_equal(kube_config_from_kubeconfig(path_of("config"), "broken", &cfg, &eb),
                     RETL_E_CONFIG);
    assert_non_null(strstr(eb.msg, "cluster nowhere"));
    write_file("bad", "clusters: [unclosed\n");
    assert_int_equal(kube_config_from_kubeconfig(path_of("bad"), NULL, &cfg, &eb),
                     RETL_E_CONFIG);
    write_file("nocur", "clusters: []\n");
    assert_int_equal(kube_config_from_kubeconfig(path_of("nocur"), NULL, &cfg, &eb),
                     RETL_E_CONFIG);
    assert_int_equal(kube_config_from_kubeconfig(path_of("missing"), NULL, &cfg, &eb),
                     RETL_E_NOT_FOUND);
}

static void test_kubeconfig_list_first_wins(void **state)
{
    write_file("a", "current-context: second\n"
                    "clusters:\n- name: shared\n  cluster: {server: https://from-a}\n");
    write_file("b", "current-context: ignored\n"
                    "clusters:\n- name: shared\n  cluster: {server: https://from-b}\n"
                    "contexts:\n- name: second\n  context: {cluster: shared, user: u}\n"
                    "users:\n- name: u\n  user: {token: tok-b}\n");
    char list[1200];
    snprintf(list, sizeof list, "%s:%s:%s", path_of("a"), path_of("absent"),
             path_of("b"));
    setenv("KUBECONFIG", list, 1);
    struct kube_config *cfg = NULL;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(kube_config_load(NULL, &cfg, &eb), RETL_E_OK);
    assert_string_equal(cfg->server, "https://from-a");
    assert_string_equal(cfg->token, "tok-b");
    assert_string_equal(cfg->context, "second");
    kube_config_free(cfg);
}

static void setup_sa(const char *host)
{
    char sa[600];
    snprintf(sa, sizeof sa, "%s/sa", dir);
    mkdir(sa, 0700);
    write_file("sa/token", "sa-token\n");
    write_file("sa/ca.crt", "SA CA");
    write_file("sa/namespace", "retl-system\n");
    setenv("KUBERNETES_SERVICE_HOST", host, 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
}

static void test_in_cluster(void **state)
{
    setup_sa("10.96.0.1");
    struct kube_config *cfg = NULL;
    struct retl_errbuf eb = {{0}};
    struct kube_config_opts o = {.sa_dir = path_of("sa"), .home = dir};
    assert_int_equal(kube_config_load(&o, &cfg, &eb), RETL_E_OK);
    assert_string_equal(cfg->server, "https://10.96.0.1:443");
    assert_string_equal(cfg->ca_pem, "SA CA");
    assert_string_equal(cfg->namespace, "retl-system");
    assert_string_equal(cfg->source, "in-cluster");
    assert_false(cfg->insecure_skip_tls_verify);
    char *tok = NULL;
    assert_int_equal(kube_config_token(cfg, false, &tok, NULL), RETL_E_OK);
    assert_string_equal(tok, "sa-token");
    free(tok);
    /* Projected token rotation: re-read after a minute. */
    write_file("sa/token", "rotated");
    cfg->cached_at -= KUBE_TOKEN_REREAD_S + 1;
    assert_int_equal(kube_config_token(cfg, false, &tok, NULL), RETL_E_OK);
    assert_string_equal(tok, "rotated");
    free(tok);
    kube_config_free(cfg);

    setup_sa("fd00::1");
    assert_int_equal(kube_config_in_cluster(path_of("sa"), &cfg, &eb), RETL_E_OK);
    assert_string_equal(cfg->server, "https://[fd00::1]:443");
    kube_config_free(cfg);
}

static void test_precedence(void **state)
{
    char kdir[600];
    snprintf(kdir, sizeof kdir, "%s/.kube", dir);
    mkdir(kdir, 0700);
    const char *tmpl = "current-context: c\nclusters:\n- name: k\n  cluster: {server: "
                       "https://%s}\ncontexts:\n- name: c\n  context: {cluster: k}\n";
    char text[400];
    snprintf(text, sizeof text, tmpl, "home");
    write_file(".kube/config", text);
    snprintf(text, sizeof text, tmpl, "env");
    write_file("env-config", text);
    snprintf(text, sizeof text, tmpl, "flag");
    write_file("flag-config", text);
    setup_sa("incluster");
    struct kube_config *cfg = NULL;
    struct retl_errbuf eb = {{0}};
    struct kube_config_opts o = {.sa_dir = path_of("sa"), .home = dir};

    o.kubeconfig = path_of("flag-config");
    setenv("KUBECONFIG", path_of("env-config"), 1);
    assert_int_equal(kube_config_load(&o, &cfg, &eb), RETL_E_OK);
    assert_string_equal(cfg->server, "https://flag");
    kube_config_free(cfg);

    o.kubeconfig = NULL;
    assert_int_equal(kube_config_load(&o, &cfg, &eb), RETL_E_OK);
    assert_string_equal(cfg->server, "https://env");
    kube_config_free(cfg);

    unsetenv("KUBECONFIG");
    assert_int_equal(kube_config_load(&o, &cfg, &eb), RETL_E_OK);
    assert_string_equal(cfg->server, "https://incluster:443");
    kube_config_free(cfg);

    unsetenv("KUBERNETES_SERVICE_HOST");
    assert_int_equal(kube_config_load(&o, &cfg, &eb), RETL_E_OK);
    assert_string_equal(cfg->server, "https://home");
    kube_config_free(cfg);

    o.home = path_of("nothing-here");
    assert_int_equal(kube_config_load(&o, &cfg, &eb), RETL_E_CONFIG);
    assert_non_null(strstr(eb.msg, "no Kubernetes configuration"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inline_data_and_namespace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_relative_to_kubeconfig, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_token_and_insecure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_file_reread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_list_first_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
