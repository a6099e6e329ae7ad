/* Reads the row count of the job's query out of the JSON plan of the diff
 * run under EXPLAIN ANALYZE: the instrumentation counts every node's rows,
 * which replaces a per-row counter in the statement (a function call per
 * row, and it kept the plan serial). */
#ifndef RETL_ENGINE_SOURCE_PG_PLAN_H
#define RETL_ENGINE_SOURCE_PG_PLAN_H

#include "common/error.h"

/* json: EXPLAIN (ANALYZE, FORMAT JSON) of "CREATE TABLE ... AS SELECT ...
 * FROM (query) AS s FULL JOIN <snap> AS o ...", run without parallel
 * workers. The plan's root is that full join; of its two inputs, the one
 * that never scans relation snap is the query, and its rows (read once,
 * below any Hash, Sort or Materialize on top of it, which may re-read) are
 * the query's rows, duplicates and NULL keys included. *rows set only on
 * success; RETL_E_PARSE when the plan does not have that shape (the caller
 * then counts another way). Borrows json and snap. */
retl_err eng_pg_plan_query_rows(const char *json, const char *snap, long long *rows);

#endif
