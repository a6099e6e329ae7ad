/* Salesforce loading without a network: collections records and positional
 * result parsing, Bulk CSV building and result lines mapped back to rows by
 * the key column (in any order). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/salesforce_int.h"

static struct sf_field F_EXT = {
    .name = "Ext__c", .type = SF_F_STRING, .type_name = "string", .length = 20};
static struct sf_field F_NAME = {
    .name = "Name", .type = SF_F_STRING, .type_name = "string", .length = 8};
static struct sf_field F_SCORE = {.name = "Score__c",
                                  .type = SF_F_DOUBLE,
                                  .type_name = "double",
                                  .precision = 5,
                                  .scale = 2};
static struct sf_field F_ID = {
    .name = "Id", .type = SF_F_ID, .type_name = "id", .length = 18};

static const struct eng_col cols[] = {
    {.source = "id", .destination = "Ext__c", .type = ENG_T_TEXT, .is_key = true},
    {.source = "name", .destination = "Name", .type = ENG_T_TEXT, .is_key = false},
    {.source = "score",
     .destination = "Score__c",
     .type = ENG_T_NUMERIC,
     .is_key = false},
};
static const char *r0[] = {"W-1", "Ng", "1.5"};
static const char *r1[] = {"W-2", "far too long", "2"};
static const char *r2[] = {"W-3", "a,\"b\"", NULL};
static const char *r3[] = {"W-4", "", "x"};

static struct eng_row rows[] = {
    {.key = "W-1", .vals = r0, .op = ENG_OP_UPSERT},
    {.key = "W-2", .vals = r1, .op = ENG_OP_UPSERT},
    {.key = "W-3", .vals = r2, .op = ENG_OP_UPSERT},
    {.key = "W-4", .vals = r3, .op = ENG_OP_UPSERT},
};
static const struct eng_batch batch = {
    .cols = cols, .ncols = 3, .rows = rows, .nrows = 4};
static const struct sf_field *fields[] = {&F_EXT, &F_NAME, &F_SCORE};

static struct sf_load mkload(enum retl_mode mode)
{
    struct sf_load L = {.object = "Account",
                        .mode = mode,
                        .fields = fields,
                        .ext_id = mode == RETL_MODE_UPSERT ? "Ext__c" : NULL};
    return L;
}

static void test_rest_record(void **state)
{
    (void)state;
    struct sf_load L = mkload(RETL_MODE_UPSERT);
    struct retl_buf b;
    retl_buf_init(&b, 1 << 20);
    struct sf_verr err = {0};
    assert_true(sf_rest_record(&b, &L, &batch, 0, &err));
    assert_string_equal(retl_buf_str(&b),
                        "{\"attributes\":{\"type\":\"Account\"},\"Ext__c\":\"W-1\","
                        "\"Name\":\"Ng\",\"Score__c\":1.5}");
    retl_buf_reset(&b);
    assert_false(sf_rest_record(&b, &L, &batch, 1, &err));
    assert_string_equal(err.code, "STRING_TOO_LONG");
    assert_int_equal(b.len, 0); /* nothing half-written */
    assert_true(sf_rest_record(&b, &L, &batch, 2, &err));
    assert_non_null(
        strstr(retl_buf_str(&b), "\"Name\":\"a,\\\"b\\\"\",\"Score__c\":null}"));
    retl_buf_free(&b);
}

static void test_rest_results(void **state)
{
    (void)state;
    struct sf_load L = mkload(RETL_MODE_UPSERT);
    struct eng_row_result res[4] = {{0}};
    size_t idx[] = {0, 2, 3};
    struct retl_errbuf eb = {{0}};
    const char *body =
        "[{\"id\":\"0015e00000ByQrSAAV\",\"success\":true,\"errors\":[],\"created\":"
        "false},"
        "{\"success\":false,\"errors\":[{\"statusCode\":\"REQUIRED_FIELD_MISSING\","
        "\"message\":\"Required fields are missing: "
        "[Name]\",\"fields\":[\"Name\",\"Region__c\"]}]},"
        "{\"id\":\"0015e00000ByQrYAAV\",\"success\":true,\"errors\":[],\"created\":true}"
        "]";
    assert_int_equal(sf_rest_parse_results(&L, 200, body, idx, 3, res, &eb), RETL_E_OK);
    assert_true(res[0].ok);
    assert_false(res[0].created);
    assert_string_equal(res[0].dest_id, "0015e00000ByQrSAAV");
    assert_false(res[2].ok);
    assert_string_equal(res[2].code, "REQUIRED_FIELD_MISSING");
    assert_string_equal(res[2].message, "Required fields are missing: [Name]");
    assert_string_equal(res[2].fields, "Name,Region__c");
    assert_true(res[3].ok);
    assert_true(res[3].created);
    assert_null(res[1].code); /* not in this request */
    /* Wrong length: outcome unknown. */
    assert_int_equal(sf_rest_parse_results(&L, 200, "[]", idx, 3, res, &eb), RETL_E_DEST);
    /* Request-level 400: every record carries the error. */
    assert_int_equal(
        sf_rest_parse_results(&L, 400,
                              "[{\"message\":\"bad\",\"errorCode\":\"INVALID_FIELD\"}]",
                              idx, 3, res, &eb),
        RETL_E_OK);
    assert_string_equal(res[0].code, "INVALID_FIELD");
    assert_false(res[0].ok);
    /* 5xx after retries: an error. */
    assert_int_equal(sf_rest_parse_results(
                         &L, 503,
                         "[{\"message\":\"busy\",\"errorCode\":\"SERVER_UNAVAILABLE\"}]",
                         idx, 3, res, &eb),
                     RETL_E_UNAVAILABLE);
    assert_non_null(strstr(eb.msg, "SERVER_UNAVAILABLE"));
    /* Insert results: created without the key. */
    L = mkload(RETL_MODE_INSERT);
    assert_int_equal(
        sf_rest_parse_results(
            &L, 200, "[{\"id\":\"0015e00000ByQrSAAV\",\"success\":true,\"errors\":[]}]",
            idx, 1, res, &eb),
        RETL_E_OK);
    assert_true(res[0].created);
    eng_results_clear(res, 4);
}

static void test_bulk_csv_and_results(void **state)
{
    (void)state;
    struct sf_load L = mkload(RETL_MODE_UPSERT);
    struct eng_row_result res[4] = {{0}};
    size_t idx[] = {0, 1, 2, 3}, sent[4], nsent = 0;
    struct retl_buf csv;
    retl_buf_init(&csv, 1 << 20);
    struct retl_errbuf eb = {{0}};
    assert_int_equal(sf_bulk_csv(&L, &batch, idx, 4, &csv, res, sent, &nsent, &eb),
                     RETL_E_OK);
    /* W-2 fails without an API call; W-4's score is not a number. */
    assert_int_equal(nsent, 2);
    assert_string_equal(res[1].code, "STRING_TOO_LONG");
    assert_string_equal(res[3].code, "INVALID_TYPE_ON_FIELD_IN_RECORD");
    assert_string_equal(res[1].fields, "Name");
    assert_string_equal(res[3].fields, "Score__c");
    assert_string_equal(retl_buf_str(&csv), "Ext__c,Name,Score__c\n"
                                            "W-1,Ng,1.5\n"
                                            "W-3,\"a,\"\"b\"\"\",#N/A\n");
    /* Results come back in another order, quoted. */
    const char *ok = "\"sf__Id\",\"sf__Created\",Ext__c,Name,Score__c\n"
                     "\"0015e00000ByQrYAAV\",\"true\",\"W-3\",\"a,\"\"b\"\"\",\"#N/A\"\n";
    const char *failed = "\"sf__Id\",\"sf__Error\",Ext__c,Name,Score__c\n"
                         "\"\",\"FIELD_CUSTOM_VALIDATION_EXCEPTION:Score too "
                         "low:Score__c --\",\"W-1\",\"Ng\",\"1.5\"\n";
    bool done[2] = {false, false};
    assert_int_equal(
        sf_bulk_apply(&L, &batch, sent, nsent, 's', ok, strlen(ok), res, done, &eb),
        RETL_E_OK);
    assert_int_equal(sf_bulk_apply(&L, &batch, sent, nsent, 'f', failed, strlen(failed),
                                   res, done, &eb),
                     RETL_E_OK);
    assert_true(done[0] && done[1]);
    assert_true(res[2].ok);
    assert_true(res[2].created);
    assert_string_equal(res[2].dest_id, "0015e00000ByQrYAAV");
    assert_false(res[0].ok);
    assert_string_equal(res[0].code, "FIELD_CUSTOM_VALIDATION_EXCEPTION");
    assert_string_equal(res[0].message, "Score too low");
    assert_string_equal(res[0].fields, "Score__c");
    /* Results lacking the key column are an error. */
    const char *nokey = "\"sf__Id\",\"sf__Created\",Name\n\"x\",\"true\",\"Ng\"\n";
    assert_int_equal(
        sf_bulk_apply(&L, &batch, sent, nsent, 's', nokey, strlen(nokey), res, done, &eb),
        RETL_E_DEST);
    assert_non_null(strstr(eb.msg, "Ext__c"));
    retl_buf_free(&csv);
    eng_results_clear(res, 4);
}

static void test_bulk_update_and_no_key(void **state)
{
    (void)state;
    /* Update: the key column is Id, normalised to 18 characters; results
     * are matched on that text. */
    static const struct eng_col ucols[] = {
        {.source = "id", .destination = "Id", .type = ENG_T_TEXT, .is_key = true},
        {.source = "name", .destination = "Name", .type = ENG_T_TEXT, .is_key = false},
    };
    static const char *u0[] = {"001000000000001", "A"};
    static const char *u1[] = {"0012800000CXn0kAAD", ""};
    static struct eng_row urows[] = {{.key = "a", .vals = u0, .op = ENG_OP_UPDATE},
                                     {.key = "b", .vals = u1, .op = ENG_OP_UPDATE}};
    static const struct eng_batch ub = {
        .cols = ucols, .ncols = 2, .rows = urows, .nrows = 2};
    static const struct sf_field *uf[] = {&F_ID, &F_NAME};
    struct sf_load L = {.object = "Account", .mode = RETL_MODE_UPDATE, .fields = uf};
    struct eng_row_result res[2] = {{0}};
    size_t idx[] = {0, 1}, sent[2], nsent;
    struct retl_buf csv;
    retl_buf_init(&csv, 1 << 20);
    struct retl_errbuf eb = {{0}};
    assert_int_equal(sf_bulk_csv(&L, &ub, idx, 2, &csv, res, sent, &nsent, &eb),
                     RETL_E_OK);
    /* An empty text clears the field on update (#N/A), it is not skipped. */
    assert_string_equal(retl_buf_str(&csv),
                        "Id,Name\n001000000000001AAA,A\n0012800000CXn0kAAD,#N/A\n");
    const char *ok = "\"sf__Id\",\"sf__Created\",Id,Name\n"
                     "\"0012800000CXn0kAAD\",\"false\",\"0012800000CXn0kAAD\",\"#N/A\"\n";
    const char *un = "Id,Name\n001000000000001AAA,A\n";
    bool done[2] = {false, false};
    assert_int_equal(
        sf_bulk_apply(&L, &ub, sent, nsent, 's', ok, strlen(ok), res, done, &eb),
        RETL_E_OK);
    assert_int_equal(
        sf_bulk_apply(&L, &ub, sent, nsent, 'u', un, strlen(un), res, done, &eb),
        RETL_E_OK);
    assert_true(res[1].ok);
    assert_false(res[1].created);
    assert_false(res[0].ok);
    assert_string_equal(res[0].code, "UNPROCESSED");
    eng_results_clear(res, 2);

    /* Insert without a key field: rows are matched on all their columns. */
    static const struct eng_col icols[] = {
        {.source = "id", .destination = NULL, .type = ENG_T_TEXT, .is_key = true},
        {.source = "name", .destination = "Name", .type = ENG_T_TEXT, .is_key = false},
    };
    static const char *i0[] = {"k1", "A"};
    static const char *i1[] = {"k2", "B"};
    static struct eng_row irows[] = {{.key = "k1", .vals = i0, .op = ENG_OP_INSERT},
                                     {.key = "k2", .vals = i1, .op = ENG_OP_INSERT}};
    static const struct eng_batch ib = {
        .cols = icols, .ncols = 2, .rows = irows, .nrows = 2};
    static const struct sf_field *inf[] = {NULL, &F_NAME};
    struct sf_load I = {.object = "Account", .mode = RETL_MODE_INSERT, .fields = inf};
    retl_buf_reset(&csv);
    assert_int_equal(sf_bulk_csv(&I, &ib, idx, 2, &csv, res, sent, &nsent, &eb),
                     RETL_E_OK);
    assert_string_equal(retl_buf_str(&csv), "Name\nA\nB\n");
    const char *iok = "\"sf__Id\",\"sf__Created\",Name\n\"0015e00000ByQrYAAV\",\"true\","
                      "\"B\"\n\"0015e00000ByQrSAAV\",\"true\",\"A\"\n";
    bool idone[2] = {false, false};
    assert_int_equal(
        sf_bulk_apply(&I, &ib, sent, nsent, 's', iok, strlen(iok), res, idone, &eb),
        RETL_E_OK);
    assert_string_equal(res[0].dest_id, "0015e00000ByQrSAAV");
    assert_string_equal(res[1].dest_id, "0015e00000ByQrYAAV");
    eng_results_clear(res, 2);
    retl_buf_free(&csv);
}

/* ---- poll pacing ---- */

static struct sf_load pace_load(void)
{
    struct sf_load L = {.poll_base_ms = 250, .poll_max_ms = 5000, .poll_row_us = 7};
    return L;
}

/* Polls a simulated job (queued q ms after closing, then rate records per ms)
 * with the pacer until it is done; *lag is how long after its end the last
 * poll came. With known_start the polls tell when it went InProgress (as a
 * fine systemModstamp does). Returns the number of polls. */
static int simulate(const struct sf_load *L, long long n, long long q, double rate,
                    bool known_start, long long *lag)
{
    double end = (double)q + (double)n / rate;
    struct sf_pacer p = {.wait = sf_poll_first(L, n)};
    long long t = p.wait;
    for (int polls = 1; polls < 1000; polls++) {
        if ((double)t >= end) {
            *lag = t - (long long)end;
            return polls;
        }
        long long done = t <= q ? 0 : (long long)((double)(t - q) * rate);
        if (known_start && t > q && q > p.idle_t)
            p.idle_t = q;
        t += sf_poll_next(&p, L, t, done, n);
    }
    return 1000;
}

static void test_poll_first(void **state)
{
    (void)state;
    struct sf_load L = pace_load();
    /* The base pause plus the per-record pace, within base and max. */
    assert_int_equal(sf_poll_first(&L, 100000), 950);
    assert_int_equal(sf_poll_first(&L, 10), 250);
    assert_int_equal(sf_poll_first(&L, 10000000), 5000);
    /* A later job of the run starts from the previous job's pace. */
    L.bulk_ms_per_row = 0.02;
    assert_int_equal(sf_poll_first(&L, 100000), 1800);
}

static void test_poll_next(void **state)
{
    (void)state;
    struct sf_load L = pace_load();
    /* Nothing processed yet: back off by half. */
    struct sf_pacer p = {.wait = 1000};
    assert_int_equal(sf_poll_next(&p, &L, 1000, 0, 100000), 1500);
    assert_int_equal(p.idle_t, 1000);
    /* One progress point: the pace since the job last had nothing done;
     * 60000 in 800 ms leaves 40000 for 533 ms, plus a tenth and 10 ms. */
    assert_int_equal(sf_poll_next(&p, &L, 1800, 60000, 100000), 596);
    /* Two points: the current rate (20000 in 200 ms) plus a small reserve. */
    assert_int_equal(sf_poll_next(&p, &L, 2000, 80000, 100000), 230);
    /* All processed: the job is about to complete; if it takes longer the
     * pause doubles. */
    assert_int_equal(sf_poll_next(&p, &L, 2300, 100000, 100000), 62);
    assert_int_equal(sf_poll_next(&p, &L, 2362, 100000, 100000), 124);
    /* Close to a predicted end the pause may be short, down to a tenth of
     * the base pause. */
    struct sf_pacer near = {.wait = 950};
    assert_int_equal(sf_poll_next(&near, &L, 950, 90000, 100000), 126);
    assert_int_equal(sf_poll_next(&near, &L, 1000, 99900, 100000), 25);
    /* A far predicted end is not aimed at further ahead than the job has been
     * watched processing (the pace may have been measured while the server
     * was busy)... */
    struct sf_pacer busy = {.wait = 950};
    assert_int_equal(sf_poll_next(&busy, &L, 1000, 20000, 100000), 1000);
    /* ...nor more than the maximum. */
    struct sf_pacer slow = {.idle_t = 0, .wait = 5000};
    assert_int_equal(sf_poll_next(&slow, &L, 60000, 10, 100000), 5000);
}

static void test_poll_schedule(void **state)
{
    (void)state;
    struct sf_load L = pace_load();
    long long lag;
    /* A fast server (salesforce-sim: 150 ms queued, about 100 records per
     * ms): a job of 100000 records costs one or two polls, seen soon after
     * its end. */
    for (int k = 0; k < 5; k++) {
        double rate = 70 + 15 * k;
        assert_in_range(simulate(&L, 100000, 150, rate, false, &lag), 1, 2);
        assert_in_range(lag, 0, 250);
        assert_in_range(simulate(&L, 100000, 150, rate, true, &lag), 1, 2);
        assert_in_range(lag, 0, 100);
    }
    /* A steady job the first poll finds at least half done: the second
     * poll comes after its end (never early), whatever its queue time. With
     * less done, a poll on the way measures the pace again. */
    for (long long q = 0; q <= 500; q += 100) {
        assert_in_range(simulate(&L, 100000, q, 120, false, &lag), 1, 2);
        assert_in_range(simulate(&L, 100000, q, 120, true, &lag), 1, 2);
    }
    assert_int_equal(simulate(&L, 100000, 700, 120, true, &lag), 3);
    assert_in_range(lag, 0, 100);
    /* A job slowed down at first (the server busy elsewhere), fast later:
     * the poll after a slow start does not wait for the slow pace's end. */
    struct sf_pacer sp = {.wait = sf_poll_first(&L, 100000)};
    long long t1 = sp.wait, t2 = t1 + sf_poll_next(&sp, &L, t1, 25000, 100000);
    assert_in_range(t2, t1 + 250, t1 + 1000);
    /* Salesforce: queued 20 s, 2000 records per second. Polls back off while
     * it waits, then come at most poll_max apart, and the end is seen within
     * the last pause. */
    int polls = simulate(&L, 100000, 20000, 2, false, &lag);
    assert_in_range(polls, 3, 25);
    assert_in_range(lag, 0, 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rest_record),
        cmocka_unit_test(test_rest_results),
        cmocka_unit_test(test_bulk_csv_and_results),
        cmocka_unit_test(test_bulk_update_and_no_key),
        cmocka_unit_test(test_poll_first),
        cmocka_unit_test(test_poll_next),
        cmocka_unit_test(test_poll_schedule),
    };
    return cmocka_run_group_tests_name("salesforce_load", tests, NULL, NULL);
}
