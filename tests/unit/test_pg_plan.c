/* engine/source/pg_plan.c: the query's row count read from the diff's JSON
 * plan (EXPLAIN ANALYZE), in the plan shapes PostgreSQL chooses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/source/pg_plan.h"

#define SNAP "j__x__snap"
#define SCAN(rel, rows, loops)                                                           \
    "{\"Node Type\": \"Seq Scan\", \"Relation Name\": \"" rel                            \
    "\", \"Actual Rows\": " #rows ", \"Actual Loops\": " #loops "}"
#define ONE(type, kid)                                                                   \
    "{\"Node Type\": \"" type "\", \"Actual Rows\": 1, \"Plans\": [" kid "]}"
#define FULL(type, a, b)                                                                 \
    "[{\"Plan\": {\"Node Type\": \"" type "\", \"Join Type\": \"Full\", \"Actual "       \
    "Rows\": 3, \"Actual Loops\": 1, \"Plans\": [" a ", " b "]}}]"

static long long rows_of(const char *json)
{
    long long n = -1;
    assert_int_equal(eng_pg_plan_query_rows(json, SNAP, &n), RETL_E_OK);
    return n;
}

static void shapes(void **st)
{
    (void)st;
    /* Merge join on both keys' indexes, the query on either side. */
    assert_int_equal(
        rows_of(FULL("Merge Join", SCAN("items", 1000001, 1), SCAN(SNAP, 7, 1))),
        1000001);
    assert_int_equal(rows_of(FULL("Merge Join", SCAN(SNAP, 7, 1), SCAN("items", 42, 1))),
                     42);
    /* Hash join with the query hashed: counted below the Hash node. */
    assert_int_equal(
        rows_of(FULL("Hash Join", SCAN(SNAP, 7, 1), ONE("Hash", SCAN("items", 5, 1)))),
        5);
    /* A merge join may re-read a sorted or materialised input: counted below. */
    assert_int_equal(rows_of(FULL("Merge Join", SCAN(SNAP, 9, 1),
                                  ONE("Materialize", ONE("Sort", SCAN("items", 12, 1))))),
                     12);
    /* A query of its own joins: its top node's rows. */
    assert_int_equal(
        rows_of(FULL("Hash Join",
                     "{\"Node Type\": \"Hash Join\", \"Join Type\": \"Inner\", \"Actual "
                     "Rows\": 30, \"Actual Loops\": 1, \"Plans\": [" SCAN(
                         "a", 30, 1) ", " SCAN("b", 40, 1) "]}",
                     ONE("Hash", SCAN(SNAP, 2, 1)))),
        30);
    /* Newer servers print rows with decimals. */
    assert_int_equal(
        rows_of(
            "[{\"Plan\": {\"Node Type\": \"Merge Join\", \"Join Type\": \"Full\", "
            "\"Plans\": [{\"Node Type\": \"Seq Scan\", \"Relation Name\": \"q\", "
            "\"Actual Rows\": 8.00, \"Actual Loops\": 1.0}, " SCAN(SNAP, 1, 1) "]}}]"),
        8);
}

static void refused(void **st)
{
    (void)st;
    long long n = -1;
    const char *bad[] = {
        "not json",
        "[]",
        /* not a full join at the root */
        "[{\"Plan\": " SCAN("items", 5, 1) "}]",
        "[{\"Plan\": {\"Node Type\": \"Hash Join\", \"Join Type\": \"Left\", \"Plans\": "
        "[" SCAN("items", 5, 1) ", " SCAN(SNAP, 5, 1) "]}}]",
        /* the snapshot on neither side, or on both */
        FULL("Merge Join", SCAN("items", 5, 1), SCAN("other", 5, 1)),
        FULL("Merge Join", SCAN(SNAP, 5, 1), ONE("Hash", SCAN(SNAP, 5, 1))),
        /* several loops: the figure is an average */
        FULL("Merge Join", SCAN("items", 5, 2), SCAN(SNAP, 5, 1)),
        /* a fraction is not a count */
        "[{\"Plan\": {\"Node Type\": \"Merge Join\", \"Join Type\": \"Full\", \"Plans\": "
        "[{\"Node Type\": \"Seq Scan\", \"Relation Name\": \"q\", \"Actual Rows\": 2.5, "
        "\"Actual Loops\": 1}, " SCAN(SNAP, 1, 1) "]}}]",
        /* no count at all */
        "[{\"Plan\": {\"Node Type\": \"Merge Join\", \"Join Type\": \"Full\", \"Plans\": "
        "[{\"Node Type\": \"Seq Scan\"}, " SCAN(SNAP, 1, 1) "]}}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(eng_pg_plan_query_rows(bad[i], SNAP, &n), RETL_E_PARSE);
        assert_int_equal(n, -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shapes),
        cmocka_unit_test(refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
