/* The dialect layer: the one SQL generator of the sources. Pure string
 * building, unit-tested; its parts, one concept each:
 *   sql_dialect.c  the dialect table (identifier quoting, string literals,
 *                  how a query is materialised: CREATE TABLE AS vs SELECT ...
 *                  INTO, LIMIT vs TOP, EXCEPT vs MINUS, state column types),
 *                  the job's query, '?' inlining
 *   sql_types.c    the engine type of a column and the expression turning it
 *                  into (canonical) text, per dialect
 *   sql_canon.c    staged text values rewritten into canonical text
 *   sql_tmpl.c     statement templates (sql_tmpl.h), which every statement
 *                  below and in pg_sql.h is written with
 *   sql_wh.c       the generic warehouse source's statements (ODBC, SQL
 *                  Server and Snowflake: engine/source/wh.c)
 *   pg_sql.c       the native postgres source's statements (pg_sql.h)
 *
 * State layout (names from engine/state.h, in the job's stateSchema; a
 * dialect without schemas (SQLite) prefixes the table name with
 * "<schema>_"):
 *   stage (k, c1..cn)        this run's query result, as text
 *   delta (op, k, c1..cn)    op: I new key, U changed, D deleted
 *   snap  (k PK, st, c1..cn) st: L synced, G gone, K kept from a baseline
 *   errors (key PK, run, operation, code, message, fields, row, first_failed,
 *           last_failed, attempts)   timestamps as ISO 8601 text (UTC)
 *   meta  (k PK, v)          fingerprint
 *   batch (k, ok, code, message, fields, row_json, origin, first_failed,
 *          attempts)         one batch's outcome while it is committed
 *                            (origin n: this batch,
 *                            e: the earlier error row of a failing key)
 *   keys  (k)                scratch for a new baseline
 * Only INSERT ... VALUES, INSERT ... SELECT, DELETE with IN subqueries and
 * joins are used for commits, so no dialect needs MERGE or UPDATE ... FROM. */
#ifndef ENG_SQL_DIALECT_H
#define ENG_SQL_DIALECT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/spec.h"
#include "engine/source/source.h"
#include "engine/base/state.h"

/* Largest statement built (the user's query is embedded). */
#define ENG_DL_SQL_MAX (8u << 20)
/* Rows per INSERT ... VALUES (SQL Server accepts at most 1000). */
#define ENG_DL_VALUES_ROWS 500

enum eng_dl_id {
    ENG_DL_POSTGRES,  /* PostgreSQL through psqlODBC */
    ENG_DL_SQLITE,    /* SQLite 3.39+ (FULL JOIN) */
    ENG_DL_TSQL,      /* SQL Server 2016+ (DROP TABLE IF EXISTS) */
    ENG_DL_SNOWFLAKE, /* Snowflake */
    ENG_DL_ANSI,      /* any other ODBC warehouse: standard SQL only */
};

struct eng_dialect {
    enum eng_dl_id id;
    const char *name;
    char qopen, qclose;     /* identifier quotes: "" or [] */
    const char *lit_prefix; /* before a string literal: "N" in T-SQL */
    bool lit_backslash;     /* backslash escapes inside literals */
    bool schemas;           /* false: tables are "<schema>_<name>" */
    bool select_into;       /* SELECT ... INTO t instead of CREATE TABLE AS */
    bool top;               /* SELECT TOP (n) instead of LIMIT n */
    const char *ctas;       /* "CREATE UNLOGGED TABLE", "CREATE TRANSIENT TABLE" */
    const char *except_kw;  /* "EXCEPT" or "MINUS" */
    const char *text_type;  /* value columns */
    const char *key_type;   /* key columns (indexable) */
    const char *flag_type;  /* one-letter columns */
    const char *int_type;   /* 64-bit integers */
};

/* The dialect called name ("postgres", "sqlite", "tsql", "snowflake",
 * "ansi"), or NULL. */
const struct eng_dialect *eng_dialect_find(const char *name);
const struct eng_dialect *eng_dialect_get(enum eng_dl_id id);
/* Guesses the dialect of an ODBC connection from the driver name
 * (SQL_DRIVER_NAME) or DBMS name (SQL_DBMS_NAME). Never NULL (ANSI). */
const struct eng_dialect *eng_dialect_guess(const char *driver, const char *dbms);

/* Quoted identifier, quote characters doubled. */
retl_err eng_dl_ident(const struct eng_dialect *d, struct retl_buf *b, const char *id);
/* A state table: "schema"."t" (or "schema_t" without schemas). */
retl_err eng_dl_table(const struct eng_dialect *d, struct retl_buf *b, const char *schema,
                      const char *t);
/* A dotted name as the user wrote it, each part quoted. */
retl_err eng_dl_dotted(const struct eng_dialect *d, struct retl_buf *b, const char *name);
/* A string literal. */
retl_err eng_dl_literal(const struct eng_dialect *d, struct retl_buf *b, const char *s);

/* --- sql_types.c --- */

/* The engine type of a PostgreSQL type (pg_type.typname, typcategory). */
enum eng_type eng_pg_type(const char *typname, char category);
/* Expression turning column expression col of the given type into the
 * canonical text of row.h (session TimeZone UTC, DateStyle ISO). */
retl_err eng_pg_canon_expr(struct retl_buf *b, const char *col, const char *typname,
                           enum eng_type t);
/* Whether values of this PostgreSQL type are staged and kept in the snapshot
 * as they are (comparable with equality; converted to canonical text only
 * when read); other types are staged as canonical text. */
bool eng_pg_typed(const char *typname);

/* The engine type of a column from its ODBC SQL type code (0 when unknown)
 * and native type name (may be NULL). */
enum eng_type eng_dl_type(const struct eng_dialect *d, int sqltype, const char *typname);
/* Expression turning column expression col into text (canonical where the
 * warehouse can produce it; eng_dl_canon_value finishes the job). */
retl_err eng_dl_canon_expr(const struct eng_dialect *d, struct retl_buf *b,
                           const char *col, const char *typname, enum eng_type t);
/* --- sql_canon.c --- */

/* Rewrites one staged text value into the canonical text of dest.h:
 * booleans true/false, timestamps with ' ' between date and time, no trailing
 * fractional zeros, offsets as +HH:MM, binary hex as base64, floats in
 * exponent notation as the shortest exact decimal. *off is -1 when in is
 * already canonical; otherwise the result (NUL-terminated) was appended to
 * scratch at offset *off (offsets survive the buffer growing). Not for the
 * postgres dialect, whose stage expressions are canonical already. */
retl_err eng_dl_canon_value(enum eng_type t, const char *in, struct retl_buf *scratch,
                            long *off);

/* --- sql_dialect.c --- */

/* The job's query: spec.source.query without trailing ';' or SELECT * FROM
 * the quoted spec.source.table. */
retl_err eng_dl_job_query(const struct eng_dialect *d, struct retl_buf *b,
                          const struct retl_job *job);
/* The query wrapped so that it returns its columns and no row. */
retl_err eng_dl_sql_describe(const struct eng_dialect *d, struct retl_buf *b,
                             const char *query);

/* Values of the '?' placeholders of a statement, in order. Strings are
 * borrowed (or point into buf). */
struct eng_dl_params {
    const char *v[4];
    size_t n;
    char buf[2 * ENG_IDENT_MAX + 4];
};
/* The statement with every '?' outside literals and quoted identifiers
 * replaced by the dialect literal of its value, for drivers without bindings.
 * INVALID when the counts differ. */
retl_err eng_dl_inline(const struct eng_dialect *d, struct retl_buf *b, const char *sql,
                       const struct eng_dl_params *p);

/* --- sql_wh.c: the generic warehouse source's statements --- */

/* One row, one column: whether schema exists (a count). Values bound. */
retl_err eng_dl_sql_schema_exists(const struct eng_dialect *d, struct retl_buf *b,
                                  const char *schema, struct eng_dl_params *p);
/* One row, one column: whether the state table t exists (a count). Values
 * bound. */
retl_err eng_dl_sql_table_exists(const struct eng_dialect *d, struct retl_buf *b,
                                 const char *schema, const char *t,
                                 struct eng_dl_params *p);
/* One row, one column: whether state table t has the column (a count).
 * Values bound. */
retl_err eng_dl_sql_column_exists(const struct eng_dialect *d, struct retl_buf *b,
                                  const char *schema, const char *t, const char *column,
                                  struct eng_dl_params *p);
retl_err eng_dl_sql_create_schema(const struct eng_dialect *d, struct retl_buf *b,
                                  const char *schema);
retl_err eng_dl_sql_create_meta(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st);
retl_err eng_dl_sql_create_errors(const struct eng_dialect *d, struct retl_buf *b,
                                  const struct eng_state *st);
/* Adds the record id column to a snapshot made before it had it. */
retl_err eng_dl_sql_snap_add_id(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st);
/* Adds a text column to an errors table made before it had it (class, h). */
retl_err eng_dl_sql_errors_add(const struct eng_dialect *d, struct retl_buf *b,
                               const struct eng_state *st, const char *column);
retl_err eng_dl_sql_create_snap(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st);
retl_err eng_dl_sql_create_batch(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st);
/* DROP TABLE IF EXISTS of one state table. */
retl_err eng_dl_sql_drop(const struct eng_dialect *d, struct retl_buf *b,
                         const struct eng_state *st, const char *t);
/* One row: v of meta key k. Value bound. */
retl_err eng_dl_sql_meta_get(const struct eng_dialect *d, struct retl_buf *b,
                             const struct eng_state *st, const char *k,
                             struct eng_dl_params *p);
/* Two statements (delete, insert) setting meta key k to v; sep between. */
retl_err eng_dl_sql_meta_set(const struct eng_dialect *d, struct retl_buf *del,
                             struct retl_buf *ins, const struct eng_state *st,
                             const char *k, const char *v);
/* New baseline, in order: keys table from snap, drop snap, create snap,
 * snap keys back with st K, drop keys, empty errors. Each of the n (<= 6)
 * statements goes into b[i]. */
retl_err eng_dl_sql_rebase(const struct eng_dialect *d, struct retl_buf *b, size_t n,
                           const struct eng_state *st);

/* CREATE TABLE t AS select (or SELECT * INTO t FROM (select) AS x). */
retl_err eng_dl_sql_create_as(const struct eng_dialect *d, struct retl_buf *b,
                              const struct eng_state *st, const char *t,
                              const char *select);
/* The SELECT that stages the query: canonical text of every state column,
 * named k, c1..cn. real[i] is the query's own name of st->cols[i]. */
retl_err eng_dl_sql_stage_select(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st, const char *const *real,
                                 const char *query);
/* One row: rows staged, rows with a NULL key. */
retl_err eng_dl_sql_stage_count(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st);
/* Up to 5 rows: keys present more than once in the stage (delta false) or
 * among the rows of the delta to be sent (delta true). */
retl_err eng_dl_sql_dups(const struct eng_dialect *d, struct retl_buf *b,
                         const struct eng_state *st, bool delta);
/* The SELECT computing the delta (to be materialised with create_as). */
retl_err eng_dl_sql_diff_select(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st, enum retl_mode mode,
                                enum eng_diff how);
/* One row: I, U, D counts of the delta. */
retl_err eng_dl_sql_delta_counts(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st);
/* Deletes error rows whose key is not to be sent in this run (nor skipped
 * as failing permanently, nor, with dels, a propagated delete). */
retl_err eng_dl_sql_errors_prune(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st, bool dels);
/* The rows to send: op, k, c1..cn; with dels the deleted keys too (op D,
 * values NULL) and a column, the record id the snapshot kept for a D row;
 * lean dialects then a last column, the row hash as text (for the commit's
 * ENG_DL_COMMIT_BATCH_H). */
retl_err eng_dl_sql_delta_read(const struct eng_dialect *d, struct retl_buf *b,
                               const struct eng_state *st, bool dels);
/* One row: how many error rows are of class permanent. */
retl_err eng_dl_sql_permanent_count(const struct eng_dialect *d, struct retl_buf *b,
                                    const struct eng_state *st);
/* The delta rows to send whose key failed permanently: k, the error's row
 * hash, c1..cn. */
retl_err eng_dl_sql_permanent_rows(const struct eng_dialect *d, struct retl_buf *b,
                                   const struct eng_state *st);
/* Marks the delta rows of keys[0..n) P (not sent: failing permanently,
 * unchanged). n <= ENG_DL_VALUES_ROWS. */
retl_err eng_dl_sql_permanent_skip(const struct eng_dialect *d, struct retl_buf *b,
                                   const struct eng_state *st, const char *const *keys,
                                   size_t n);
/* One row: the keys the destination holds from this job (status L). */
retl_err eng_dl_sql_synced_count(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st);

/* One batch's outcome. rows[i] holds the key, ok, code, message, fields,
 * the row as JSON, the operation (NULL: the job's), the failure class, the
 * row hash and the destination's record id of a success (strings, NULL
 * allowed except the key). */
struct eng_dl_outcome {
    const char *key;
    bool ok;
    const char *code;
    const char *message;
    const char *fields;
    const char *row_json;
    const char *op;
    const char *cls;
    const char *h;
    const char *id;
};
/* "DELETE FROM batch". */
retl_err eng_dl_sql_batch_clear(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st);
/* INSERT INTO batch VALUES for rows [0, n) (n <= ENG_DL_VALUES_ROWS). */
retl_err eng_dl_sql_batch_insert(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st,
                                 const struct eng_dl_outcome *rows, size_t n);
/* The statements applying the batch table (after clear and inserts), in
 * order, into b[0..*n), *n <= ENG_DL_COMMIT_STMTS (one more with
 * ENG_DL_COMMIT_CLEAR: cleared keys stay as gone). With ENG_DL_COMMIT_IDS the
 * snapshot keeps the batch's record ids. With ENG_DL_COMMIT_BATCH_H (lean
 * only) every success but a delete has its row hash, as read by
 * eng_dl_sql_delta_read, in the batch's h: the snapshot rows come from the
 * batch, not from a join with the delta. now is an ISO 8601 UTC text. */
#define ENG_DL_COMMIT_STMTS 6
enum {
    ENG_DL_COMMIT_CLEAR = 1,
    ENG_DL_COMMIT_IDS = 2,
    ENG_DL_COMMIT_BATCH_H = 4,
};
retl_err eng_dl_sql_commit(const struct eng_dialect *d, struct retl_buf *b,
                           const struct eng_state *st, long long run, const char *op,
                           const char *now, unsigned flags, size_t *n);
/* Marks the delta's deleted keys G in snap. */
retl_err eng_dl_sql_finish(const struct eng_dialect *d, struct retl_buf *b,
                           const struct eng_state *st);
/* Error rows: run, key, operation, code, message, fields, row,
 * first_failed, last_failed, attempts, class; ordered by key, at most
 * limit. Without cls the table predates the class column (transient). */
retl_err eng_dl_sql_errors_list(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st, size_t limit, bool cls);
/* One row: how many error rows. */
retl_err eng_dl_sql_errors_count(const struct eng_dialect *d, struct retl_buf *b,
                                 const struct eng_state *st);

/* One row, one column: 1 when the per-job run lock identified by id was
 * taken (held by the session until it ends), 0 when another session holds
 * it. UNSUPPORTED for dialects without session locks (SQLite, Snowflake). */
retl_err eng_dl_sql_lock(const struct eng_dialect *d, struct retl_buf *b, const char *id);

/* The run lock of dialects without session locks: a lease in the meta
 * table's row k = 'run_lock', whose value is "<expiry epoch, 10 digits>
 * <holder>" (or '' when free), so "expired" is a plain string comparison in
 * every dialect. ins adds the row when missing; take claims it when
 * v < now; get reads it back (the lease is held when every row reads
 * `value`); put moves it from old to value (renew, or release with ""). */
retl_err eng_dl_sql_lease(const struct eng_dialect *d, const struct eng_state *st,
                          struct retl_buf *ins, struct retl_buf *take,
                          struct retl_buf *get, const char *value, const char *now);
retl_err eng_dl_sql_lease_put(const struct eng_dialect *d, const struct eng_state *st,
                              struct retl_buf *b, const char *old, const char *value);

/* --- sql_wh_lean.c: the lean snapshot (k, st, h) --- */

/* Whether the dialect keeps the lean snapshot: a real hash function
 * (T-SQL HASHBYTES, Snowflake SHA2). The others keep the values. */
bool eng_dl_lean(const struct eng_dialect *d);
/* The type of the snapshot's hash column h. */
const char *eng_dl_hash_type(const struct eng_dialect *d);
/* The SHA-256 of alias.c1..cn ("" for bare names) as an expression. */
retl_err eng_dl_row_hash(const struct eng_dialect *d, struct retl_buf *b,
                         const struct eng_state *st, const char *alias);
/* The SELECT writing the delta straight from the query (to be materialised
 * with create_as): op (I, U, D; N: Insert mode's unchanged rows of keys not
 * loaded), k, h, c1..cn, st (the matched snapshot row's status). Unchanged
 * rows of loaded keys are not written. real[i] is the query's own name of
 * st->cols[i]. */
retl_err eng_dl_sql_lean_diff(const struct eng_dialect *d, struct retl_buf *b,
                              const struct eng_state *st, enum retl_mode mode,
                              const char *const *real, const char *query);
/* One row of the lean delta: I, U, D counts, the query's rows not matched
 * to a loaded key (the query's row count less the snapshot's L rows plus
 * D), its rows with a NULL key. */
retl_err eng_dl_sql_lean_counts(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st);
/* Upgrading a wide snapshot in place: add h, fill it from the stored
 * values of the loaded rows (the same canonical text the query's rows are
 * hashed from), drop a value column. */
retl_err eng_dl_sql_lean_add_h(const struct eng_dialect *d, struct retl_buf *b,
                               const struct eng_state *st);
retl_err eng_dl_sql_lean_fill_h(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st);
retl_err eng_dl_sql_drop_column(const struct eng_dialect *d, struct retl_buf *b,
                                const struct eng_state *st, const char *column);

/* Name of the scratch tables next to the state tables. */
void eng_dl_batch_name(const struct eng_state *st, char out[ENG_IDENT_MAX + 1]);
void eng_dl_keys_name(const struct eng_state *st, char out[ENG_IDENT_MAX + 1]);

#endif
