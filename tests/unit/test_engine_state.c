/* engine/state.c: state table naming and the spec fingerprint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/base/state.h"

static void names_plain(void **st)
{
    (void)st;
    struct eng_state_names n;
    assert_int_equal(eng_state_names("retl", "sales-ops", "account-scores", &n, NULL),
                     RETL_E_OK);
    assert_string_equal(n.schema, "retl");
    assert_string_equal(n.prefix, "sales_ops__account_scores");
    assert_string_equal(n.snap, "sales_ops__account_scores__snap");
    assert_string_equal(n.errors, "sales_ops__account_scores__errors");
    assert_string_equal(n.meta, "sales_ops__account_scores__meta");
    assert_string_equal(n.stage, "sales_ops__account_scores__stage");
    assert_string_equal(n.delta, "sales_ops__account_scores__delta");
}

static void names_long_are_hashed_and_distinct(void **st)
{
    (void)st;
    struct eng_state_names a, b;
    const char *ns = "a-namespace-with-a-rather-long-name-indeed";
    assert_int_equal(eng_state_names("retl", ns, "job-one-with-a-long-name", &a, NULL),
                     RETL_E_OK);
    assert_int_equal(eng_state_names("retl", ns, "job-one-with-a-long-namf", &b, NULL),
                     RETL_E_OK);
    assert_true(strlen(a.errors) <= ENG_IDENT_MAX);
    assert_true(strlen(a.snap) <= ENG_IDENT_MAX);
    assert_int_equal(strlen(a.errors), ENG_IDENT_MAX);
    assert_string_not_equal(a.prefix, b.prefix);
    /* 8 hex digits after the cut */
    const char *us = strrchr(a.prefix, '_');
    assert_non_null(us);
    assert_int_equal(strlen(us + 1), 8);
    assert_true(strspn(us + 1, "0123456789abcdef") == 8);
}

static void names_boundary_not_hashed(void **st)
{
    (void)st;
    struct eng_state_names n;
    /* prefix of exactly 55 bytes: "__errors" makes 63 */
    char name[64];
    memset(name, 'x', 52);
    name[52] = '\0';
    assert_int_equal(eng_state_names("retl", "a", name, &n, NULL), RETL_E_OK);
    assert_int_equal(strlen(n.prefix), 55);
    assert_int_equal(strlen(n.errors), 63);
    assert_null(strchr(n.prefix + 3, '_'));
}

static void names_bad_schema(void **st)
{
    (void)st;
    struct eng_state_names n;
    struct retl_errbuf eb = {{0}};
    char big[80];
    memset(big, 's', 70);
    big[70] = '\0';
    assert_int_equal(eng_state_names("", "a", "b", &n, &eb), RETL_E_INVALID);
    assert_int_equal(eng_state_names(big, "a", "b", &n, &eb), RETL_E_INVALID);
    assert_non_null(strstr(eb.msg, "stateSchema"));
}

static struct retl_mapping maps[] = {{.source = "email", .destination = "Email__c"},
                                     {.source = "score", .destination = "Score__c"},
                                     {.source = "id", .destination = "Id__c"}};

static void fill(struct retl_job *j)
{
    memset(j, 0, sizeof *j);
    j->name = "scores";
    j->namespace = "sales";
    j->source.type = "postgres";
    j->source.query = "SELECT id, email, score FROM t";
    j->source.state_schema = "retl";
    j->destination.type = "salesforce";
    j->destination.object = "Account";
    j->mode = RETL_MODE_UPSERT;
    j->key.source = "id";
    j->key.destination = "External_Id__c";
    j->mappings = maps;
    j->n_mappings = 3;
}

static void columns_key_first_distinct(void **st)
{
    (void)st;
    struct retl_job j;
    struct eng_state s;
    fill(&j);
    assert_int_equal(eng_state_from_job(&j, &s, NULL), RETL_E_OK);
    assert_int_equal(s.ncols, 3);
    assert_string_equal(s.cols[0].name, "id");
    assert_string_equal(s.cols[1].name, "email");
    assert_string_equal(s.cols[2].name, "score");
    assert_int_equal(eng_state_col(&s, "score"), 2);
    assert_int_equal(eng_state_col(&s, "nope"), -1);
    assert_string_equal(s.n.errors, "sales__scores__errors");
    assert_int_equal(strlen(s.fingerprint), 64);
    eng_state_free(&s);
}

static void fingerprint_tracks_meaning(void **st)
{
    (void)st;
    struct retl_job j;
    char a[65], b[65];
    fill(&j);
    eng_state_fingerprint(&j, a);
    eng_state_fingerprint(&j, b);
    assert_string_equal(a, b);
    j.batch_size = 999; /* not part of the meaning */
    j.mode = RETL_MODE_INSERT;
    eng_state_fingerprint(&j, b);
    assert_string_equal(a, b);
    j.source.query = "SELECT id, email, score FROM t2";
    eng_state_fingerprint(&j, b);
    assert_string_not_equal(a, b);
    fill(&j);
    j.key.destination = "Other__c";
    eng_state_fingerprint(&j, b);
    assert_string_not_equal(a, b);
    fill(&j);
    j.destination.object = "Contact";
    eng_state_fingerprint(&j, b);
    assert_string_not_equal(a, b);
    fill(&j);
    j.n_mappings = 2;
    eng_state_fingerprint(&j, b);
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_plain),
        cmocka_unit_test(names_long_are_hashed_and_distinct),
        cmocka_unit_test(names_boundary_not_hashed),
        cmocka_unit_test(names_bad_schema),
        cmocka_unit_test(columns_key_first_distinct),
        cmocka_unit_test(fingerprint_tracks_meaning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
