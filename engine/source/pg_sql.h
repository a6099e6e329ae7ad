/* Every statement the native postgres source (engine/source/postgres.c) runs
 * against its state tables: the postgres dialect of the dialect layer
 * (sql_dialect.h), written with its statement templates (sql_tmpl.h), state
 * columns unquoted. Pure string building (unit-tested).
 *
 * State layout (names from engine/state.h, all in the job's stateSchema).
 * Columns of comparable types (eng_pg_typed) keep their type; the others are
 * canonical text; canonical text is produced when the delta is read.
 *   stage (k, c1..cn)          this run's query result
 *   delta (op, k, h, c1..cn)   op: I new key, U changed, D deleted,
 *                              P skipped (failed permanently, unchanged)
 *   snap  (k PK, st, h, c1..cn, id)  st: L/H synced, G gone from the source,
 *                              K key kept from an earlier baseline; id the
 *                              destination's record id (when it has one)
 *   errors (key PK, run, operation, code, message, fields, row, first_failed,
 *           last_failed, attempts, class, h)   key as canonical text; class
 *                              transient|permanent (NULL: transient); h the
 *                              row hash that failed
 *   meta  (k PK, v)            fingerprint (spec meaning + staged types)
 * Every builder appends to b and returns TOO_BIG/NOMEM from buf.h. */
#ifndef ENG_PG_SQL_H
#define ENG_PG_SQL_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/spec.h"
#include "engine/base/pg.h"
#include "engine/source/source.h"
#include "engine/source/sql_dialect.h"
#include "engine/base/state.h"

/* The query to materialise: spec.source.query without trailing ';' or
 * SELECT * FROM the quoted spec.source.table (the dialect layer's). */
static inline retl_err eng_pg_job_query(struct retl_buf *b, const struct retl_job *job)
{
    return eng_dl_job_query(eng_dialect_get(ENG_DL_POSTGRES), b, job);
}

/* "int4,text,..." : the staged type of every state column, part of what the
 * snapshot means (a changed type starts a new baseline). */
retl_err eng_pg_sql_types(struct retl_buf *b, const struct eng_state *st);

retl_err eng_pg_sql_state_ddl(struct retl_buf *b, const struct eng_state *st);
retl_err eng_pg_sql_snap_create(struct retl_buf *b, const struct eng_state *st);
/* Adds the destination record id column to a snapshot written before it
 * existed, in place (no rewrite, no re-send). */
retl_err eng_pg_sql_snap_upgrade(struct retl_buf *b, const struct eng_state *st);
/* New baseline: snapshot keeps only keys (st K), errors emptied. */
retl_err eng_pg_sql_rebase(struct retl_buf *b, const struct eng_state *st);
retl_err eng_pg_sql_meta_set(struct retl_buf *b, const struct eng_state *st,
                             const char *k, const char *v);
retl_err eng_pg_sql_stage(struct retl_buf *b, const struct eng_state *st,
                          const char *query);
/* With an empty snapshot every staged row is new: the delta (op 'I', layout
 * of eng_pg_sql_diff) straight from the query, without a stage or a join. */
retl_err eng_pg_sql_stage_delta(struct retl_buf *b, const struct eng_state *st,
                                const char *query);
/* One row: whether the snapshot has no row at all, whether errors has none. */
retl_err eng_pg_sql_snap_empty(struct retl_buf *b, const struct eng_state *st);
/* One row: NULL keys, non-NULL keys, distinct keys, over the same rows as
 * eng_pg_sql_key_check (the cheap test; the check names the duplicates). */
retl_err eng_pg_sql_key_count(struct retl_buf *b, const struct eng_state *st, bool delta);
/* One row: NULL keys, up to 5 duplicated keys joined by ", " (NULL when
 * none), over the whole stage or over the rows of the delta to be sent. */
retl_err eng_pg_sql_key_check(struct retl_buf *b, const struct eng_state *st, bool delta);
/* The same two over the query itself (a first sync that streams it: see
 * engine/source/pg_first.c), only its key column read. */
retl_err eng_pg_sql_key_count_query(struct retl_buf *b, const struct eng_state *st,
                                    const char *query);
retl_err eng_pg_sql_key_check_query(struct retl_buf *b, const struct eng_state *st,
                                    const char *query);
/* The delta table (op, k, h, c1..cn) from the stage table, or with query
 * (join and hash strategies only) straight from the query, each query row
 * counted on the job's row counter: one statement, no stage written. */
retl_err eng_pg_sql_diff(struct retl_buf *b, const struct eng_state *st,
                         enum retl_mode mode, enum eng_diff how, const char *query);
/* The same delta from query (join and hash strategies), under EXPLAIN
 * ANALYZE: one row, the JSON plan, whose instrumentation counts the query's
 * rows (eng_pg_plan_query_rows) instead of the row counter. The delta table
 * must not exist (eng_pg_sql_scratch_drop). */
retl_err eng_pg_sql_diff_explained(struct retl_buf *b, const struct eng_state *st,
                                   enum retl_mode mode, enum eng_diff how,
                                   const char *query);
/* Sets the job's row counter to 0 (this session then draws from 1). */
retl_err eng_pg_sql_counter_reset(struct retl_buf *b, const struct eng_state *st);
/* One row: the rows this session counted since the reset. */
retl_err eng_pg_sql_counter_read(struct retl_buf *b, const struct eng_state *st);
/* One row: I, U, D counts of the delta. */
retl_err eng_pg_sql_delta_counts(struct retl_buf *b, const struct eng_state *st);
/* One row: whether any error row is permanent. */
retl_err eng_pg_sql_permanent_any(struct retl_buf *b, const struct eng_state *st);
/* Marks delta rows op 'P' (not sent) whose key failed permanently with the
 * same row hash: a permanent failure is sent again only when the row changes
 * (or a retry is requested: the caller then skips this). */
retl_err eng_pg_sql_skip_permanent(struct retl_buf *b, const struct eng_state *st);
/* Deletes error rows whose key is not to be sent in this run (with dels,
 * a failed delete of a key still gone is kept). */
retl_err eng_pg_sql_errors_prune(struct retl_buf *b, const struct eng_state *st,
                                 bool dels);
/* The cursor over the rows to send: op, the state columns as canonical text,
 * the destination record id (D rows only), ctid. With dels the keys gone
 * from the query (D) are sent too (spec.deletes Delete or Clear). */
retl_err eng_pg_sql_delta_cursor(struct retl_buf *b, const struct eng_state *st,
                                 bool dels);
/* The session temp table the record ids a destination returned for a batch
 * are copied into (k, id). */
retl_err eng_pg_sql_ids_table(struct retl_buf *b, const struct eng_state *st);
/* Stores the batch's returned record ids (retl_ids) into the snapshot. */
retl_err eng_pg_sql_ids_save(struct retl_buf *b, const struct eng_state *st,
                             const char *first, const char *last);
/* One row: the keys the destination holds from this job (st L or H): what
 * spec.deletes.maxPercent is a percentage of. */
retl_err eng_pg_sql_synced_count(struct retl_buf *b, const struct eng_state *st);
/* The session temp table the failed rows of a batch are copied into
 * (k, code, message, fields). */
retl_err eng_pg_sql_batch_table(struct retl_buf *b, const struct eng_state *st);
/* A batch's rows into the snapshot, for the delta rows between ctids first
 * and last (the cursor reads the delta in physical order), written before
 * the destination answers (every row assumed to succeed) in the transaction
 * that eng_pg_sql_commit_written completes: ins / upd say which passes (new,
 * changed keys) the batch needs. With values (join and except strategies)
 * the snapshot keeps each row's values (status L); without, only its hash
 * (status H: far less to write). */
retl_err eng_pg_sql_snap_write(struct retl_buf *b, const struct eng_state *st,
                               const char *first, const char *last, bool ins, bool upd,
                               bool values);
/* Completes a batch written by eng_pg_sql_snap_write: without failures, its
 * keys leave errors; with failures (keys in the batch table), those are taken
 * back out of the snapshot and upserted into errors. del_op ("delete" or
 * "clear", NULL when deletes are not propagated): the batch's D rows that
 * succeeded leave the snapshot (delete) or become G (clear); failed ones stay
 * synced and go to errors with that operation. */
retl_err eng_pg_sql_commit_written(struct retl_buf *b, const struct eng_state *st,
                                   long long run, const char *op, const char *del_op,
                                   const char *first, const char *last, bool failed);
/* A streamed first sync (engine/source/pg_first.c), with no delta table:
 * the cursor over the query in eng_pg_sql_delta_cursor's layout (op 'I', the
 * state columns as canonical text, a NULL record id) followed by the key as
 * its type's own text (nk) and the row hash (h). */
retl_err eng_pg_sql_stream_cursor(struct retl_buf *b, const struct eng_state *st,
                                  const char *query);
/* COPY of a streamed batch's (nk, 'H', h) into the snapshot; with ids,
 * (nk, 'H', h, id). */
retl_err eng_pg_sql_stream_copy(struct retl_buf *b, const struct eng_state *st, bool ids);
/* The session temp tables a streamed batch's outcome is copied into:
 * retl_fail (k canonical, nk, h, code, message, fields, cls, row as JSON
 * text) for its failed rows, retl_sids (nk, id) for its record ids. */
retl_err eng_pg_sql_stream_tables(struct retl_buf *b, const struct eng_state *st);
/* Completes a streamed batch (its rows are in the snapshot, status H): with
 * failed, the keys in retl_fail leave the snapshot and are upserted into
 * errors; with ids, the record ids in retl_sids are stored. Each statement
 * ends in ";\n" (nothing when neither). */
retl_err eng_pg_sql_stream_commit(struct retl_buf *b, const struct eng_state *st,
                                  long long run, const char *op, bool failed, bool ids);
/* Marks the delta's deleted keys G in the snapshot, then
 * eng_pg_sql_scratch_drop. */
retl_err eng_pg_sql_finish(struct retl_buf *b, const struct eng_state *st);
/* Drops this run's delta and stage. */
retl_err eng_pg_sql_scratch_drop(struct retl_buf *b, const struct eng_state *st);
/* How many of the failing rows failed permanently (one number). */
retl_err eng_pg_sql_errors_permanent(struct retl_buf *b, const struct eng_state *st);
retl_err eng_pg_sql_errors_list(struct retl_buf *b, const struct eng_state *st,
                                size_t limit);
retl_err eng_pg_sql_drop(struct retl_buf *b, const struct eng_state *st);

#endif
