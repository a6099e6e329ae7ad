/* Allocation-failure torture (after curl's): the Nth allocation fails, for
 * N = 1, 2, ... until a call completes without reaching N. Every failure must
 * come back as an error (or a safe degraded result); nothing may crash or
 * leak (ASan/LSan). Covers the spec parser (YAML -> job), the redactor and
 * the run summary. malloc/calloc/realloc are interposed for the whole binary
 * and only count while a torture loop runs (ASan's strdup interceptor
 * allocates on its own and is not counted). */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/spec.h"
#include "common/summary.h"
#include "common/yaml.h"

static long fail_at = -1, seen;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int resolving;
static char boot[8192];
static size_t boot_used;

static bool fail_now(void)
{
    return fail_at >= 0 && ++seen == fail_at;
}

/* dlsym allocates and frees while we look the real functions up: those
 * requests are served from a static buffer and never freed. */
static void *boot_alloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (boot_used + n > sizeof boot)
        return NULL;
    void *p = boot + boot_used;
    boot_used += n;
    memset(p, 0, n);
    return p;
}

static bool is_boot(const void *p)
{
    return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static void resolve(void)
{
    if (real_free || resolving)
        return;
    resolving = 1;
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    resolving = 0;
}

void *malloc(size_t n)
{
    resolve();
    if (!real_malloc)
        return boot_alloc(n);
    return fail_now() ? NULL : real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    resolve();
    if (!real_calloc)
        return boot_alloc(a * b);
    return fail_now() ? NULL : real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    resolve();
    if (!real_realloc || is_boot(p)) {
        void *q = real_malloc ? real_malloc(n) : boot_alloc(n);
        if (q && p)
            memcpy(q, p, n); /* boot blocks are small and zeroed beyond */
        return q;
    }
    return fail_now() ? NULL : real_realloc(p, n);
}

void free(void *p)
{
    if (!p || is_boot(p))
        return;
    resolve();
    if (real_free)
        real_free(p);
}

/* Runs fn with allocation N failing, N = 1.. until fn no longer reaches N. */
static long torture(void (*fn)(void))
{
    long n;
    for (n = 1; n < 100000; n++) {
        seen = 0;
        fail_at = n;
        fn();
        fail_at = -1;
        if (seen < n)
            break;
    }
    return n;
}

static const char *const job_yaml =
    "apiVersion: retl.io/v1alpha1\nkind: ReverseEtlJob\n"
    "metadata: {name: account-scores, namespace: sales-ops}\n"
    "spec:\n"
    "  source: {type: postgres, secretRef: {name: wh}, query: SELECT id, a FROM t}\n"
    "  destination: {type: salesforce, secretRef: {name: sf}, object: Account}\n"
    "  mode: Upsert\n"
    "  key: {source: id, destination: External_Id__c}\n"
    "  mappings: [{source: a, destination: A__c, nulls: Skip}]\n"
    "  schedule: \"*/30 * * * *\"\n  timeZone: Europe/Berlin\n";

static void parse_once(void)
{
    json_t *docs = NULL;
    struct retl_errbuf eb = {{0}};
    if (retl_yaml_load(job_yaml, strlen(job_yaml), &docs, &eb) != RETL_E_OK)
        return;
    struct retl_job *j = NULL;
    struct retl_problems p = {0};
    if (retl_job_parse(json_array_get(docs, 0), &j, &p) == RETL_E_OK)
        retl_job_free(j);
    free(retl_problems_join(&p));
    retl_problems_free(&p);
    json_decref(docs);
}

static void redact_once(void)
{
    char out[256];
    retl_secret_register("correct horse battery staple");
    retl_secret_register_text("Driver={X};PWD={a}}b c};UID=u");
    retl_redact_text("PWD={correct horse battery staple} Authorization: OAuth tok", out,
                     sizeof out);
    retl_redact_excerpt("https://u:pw@h/x?access_token=t", out, sizeof out);
    retl_secret_clear();
}

static void summary_once(void)
{
    struct retl_summary s;
    retl_summary_init(&s, 4);
    snprintf(s.message, sizeof s.message, "done \xe3\x81\x82 %s", "x");
    s.extra = json_pack("{s:i}", "apiCalls", 3);
    free(retl_summary_json(&s));
    json_decref(s.extra);
}

static void test_spec_parser(void **state)
{
    long n = torture(parse_once);
    print_message("spec parser: %ld allocation points\n", n - 1);
    assert_true(n > 10);
}

static void test_redactor(void **state)
{
    long n = torture(redact_once);
    print_message("redactor: %ld allocation points\n", n - 1);
    assert_true(n > 5);
}

static void test_summary(void **state)
{
    long n = torture(summary_once);
    print_message("summary: %ld allocation points\n", n - 1);
    assert_true(n > 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_parser),
        cmocka_unit_test(test_redactor),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests_name("alloc_torture", tests, NULL, NULL);
}
