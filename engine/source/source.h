/* Sources: the warehouse a job reads from, which also keeps the job's state
 * (snapshot, errors, staging). Each backend is one file
 * (engine/source/<type>.c) exporting one `const struct eng_source_ops`; the
 * engine finds it by spec.source.type through eng_source_find.
 *
 * A backend owns its warehouse dialect: identifier quoting, how the query is
 * materialised (staging), the delta SQL, the state tables and transactions.
 * The engine drives the calls in this order:
 *   open -> describe -> state_init -> stage -> diff
 *        -> delta_open -> (delta_fetch -> commit)* -> finish -> close
 * Values cross this interface as canonical text (see engine/base/row.h).
 * Every call that fails MUST leave committed state (snapshot, errors) as it
 * was: only `commit` and `finish` change it, each in one transaction. */
#ifndef ENG_SOURCE_H
#define ENG_SOURCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/spec.h"
#include "engine/base/row.h"
#include "engine/base/secrets.h"
#include "engine/base/state.h"

enum eng_diff {
    ENG_DIFF_JOIN,   /* key join + NULL-safe row comparison */
    ENG_DIFF_EXCEPT, /* SQL EXCEPT both ways, as the seed product did */
    ENG_DIFF_HASH,   /* key join + a row hash stored in the snapshot; a
                      * backend without one treats it as ENG_DIFF_JOIN */
};

/* What the delta holds. */
struct eng_delta_counts {
    long long extracted; /* rows the query returned */
    long long new_keys;  /* keys never synced */
    long long changed;   /* synced keys whose values changed */
    long long deleted;   /* synced keys gone from the query */
    /* rows not sent: their key failed permanently (an error of class
     * permanent) with the same values; not part of new_keys / changed */
    long long skipped_permanent;
    /* keys the destination holds from this job (spec.deletes.maxPercent's
     * base): exact when deletes are propagated and could trip the guard (and
     * for plan), else a lower bound */
    long long synced;
};

/* A chunk of delta rows. cells holds nrows * (1 + ncols) strings, row-major:
 * the operation ("I" new key, "U" changed key, "D" key gone from the query,
 * only when the source has `deletes` and the job's spec.deletes.mode is not
 * Ignore; its values are NULL) and then the state columns in
 * st->cols order (cells[1] is the key). NULL = SQL NULL. Owned by the backend,
 * valid until the next delta_fetch or delta_close. */
struct eng_chunk {
    size_t nrows;
    size_t ncols;
    const char *const *cells;
    /* nrows destination record ids (NULL when unknown), or NULL: the id the
     * destination returned when the key was last written, for D rows. */
    const char *const *ids;
};

#define ENG_SRC_DRY 1u /* plan: every change is rolled back at close */
/* --retry-failed: rows that failed permanently are sent again even when
 * unchanged (without it diff leaves them out: skipped_permanent). */
#define ENG_SRC_RETRY_FAILED 2u
/* The destination returns record ids (eng_dest_ops.record_ids). */
#define ENG_SRC_DEST_IDS 4u

/* state_init flags (requests) and results. */
#define ENG_STATE_RESYNC 1u    /* request: a new baseline (--resync) */
#define ENG_STATE_RESET 2u     /* request: record every row as synced (--reset) */
#define ENG_STATE_REBASED 4u   /* result: a new baseline was started */
#define ENG_STATE_RESETTING 8u /* result: a reset is pending */

struct eng_source_ops {
    const char *type; /* spec.source.type */
    /* Whether the backend propagates deletes (spec.deletes Delete / Clear):
     * delta_fetch yields D rows with their record ids, commit saves their
     * outcome (a deleted key leaves the snapshot, a cleared one becomes gone,
     * a failed one stays synced and goes to errors), diff counts synced. */
    bool deletes;

    /* Connects. Ownership: *ctx is freed by close. With ENG_SRC_DRY nothing
     * the backend does is ever committed. */
    retl_err (*open)(const struct retl_job *job, const struct eng_secrets *sec,
                     unsigned flags, void **ctx, struct retl_errbuf *eb);
    /* Takes the per-job run lock (CONFLICT when another run holds it). */
    retl_err (*lock)(void *ctx, const struct eng_state *st, struct retl_errbuf *eb);
    /* Finds the type of every column in st->cols from the query without
     * running it. A bad query or a column that the query lacks fails here,
     * before any state is touched. */
    retl_err (*describe)(void *ctx, const struct retl_job *job, struct eng_state *st,
                         struct retl_errbuf *eb);
    /* Creates the state tables when missing. When the stored fingerprint
     * differs, or flags has ENG_STATE_RESYNC, starts a new baseline: the
     * snapshot keeps only its keys (so Insert mode never inserts them again)
     * and every row is sent again; errors are cleared. ENG_STATE_RESET stores
     * a pending reset in the job's meta table (in the same transaction);
     * finish clears it, so a reset that stops half way goes on in the next
     * run. *out gets ENG_STATE_REBASED and/or ENG_STATE_RESETTING (a reset
     * is pending: the engine records the delta as synced and sends nothing). */
    retl_err (*state_init)(void *ctx, const struct eng_state *st, unsigned flags,
                           unsigned *out, struct retl_errbuf *eb);
    /* Materialises the query once into staging as canonical text; fails on
     * NULL or duplicate keys, naming them. A backend may leave this to diff
     * (the query joined with the snapshot in one statement): *extracted is
     * then 0 and diff sets c->extracted. */
    retl_err (*stage)(void *ctx, const struct retl_job *job, const struct eng_state *st,
                      long long *extracted, struct retl_errbuf *eb);
    /* Computes the delta against the snapshot inside the warehouse and drops
     * error rows whose key no longer needs sending. */
    retl_err (*diff)(void *ctx, const struct eng_state *st, enum retl_mode mode,
                     enum eng_diff how, struct eng_delta_counts *c,
                     struct retl_errbuf *eb);
    retl_err (*delta_open)(void *ctx, const struct eng_state *st, struct retl_errbuf *eb);
    /* Up to max rows; nrows 0 at the end. */
    retl_err (*delta_fetch)(void *ctx, size_t max, struct eng_chunk *out,
                            struct retl_errbuf *eb);
    /* May be NULL. Called with a chunk just before the destination loads it:
     * the backend may start writing the chunk into the snapshot as if every
     * row will succeed, in a transaction that stays open (invisible) until
     * commit corrects it for the rows that failed and commits it. A run that
     * stops in between leaves the state as it was. The engine calls it only
     * once the previous chunk's commit is complete (commit_wait). */
    retl_err (*prewrite)(void *ctx, const struct eng_state *st,
                         const struct eng_chunk *ch, struct retl_errbuf *eb);
    /* In one transaction: rows whose result is ok enter the snapshot and
     * leave errors; the others are upserted into errors (attempts + 1) with
     * their class (results[i].cls, resolved by the engine) and row hash.
     * results has ch->nrows entries; op is what was attempted. */
    retl_err (*commit)(void *ctx, const struct eng_state *st, long long run,
                       const char *op, const struct eng_chunk *ch,
                       const struct eng_row_result *results, struct retl_errbuf *eb);
    /* May be NULL. When set, commit may return with its transaction still in
     * flight and commit_wait waits for it: OK once it committed, an error when
     * it did not (the batch counts as not saved). The engine calls it before
     * the next batch is committed in the destination and before finish; in
     * between only delta_fetch is called. No-op when nothing is in flight. */
    retl_err (*commit_wait)(void *ctx, struct retl_errbuf *eb);
    /* After the whole delta was handled: marks deleted keys, drops staging. */
    retl_err (*finish)(void *ctx, const struct eng_state *st, struct retl_errbuf *eb);
    /* Rows failing now: a JSON array of objects (run, key, operation, code,
     * message, fields, row, firstFailure, lastFailure, attempts). Ownership:
     * caller decrefs *out. */
    retl_err (*errors)(void *ctx, const struct eng_state *st, size_t limit, json_t **out,
                       long long *total, struct retl_errbuf *eb);
    /* Optional: how many failing rows failed permanently (not resent until
     * the row changes or a retry is requested). */
    retl_err (*failing_permanent)(void *ctx, const struct eng_state *st, long long *n,
                                  struct retl_errbuf *eb);
    /* Drops every state table of the job (cleanupPolicy Delete). */
    retl_err (*drop_state)(void *ctx, const struct eng_state *st, struct retl_errbuf *eb);
    void (*close)(void *ctx);
};

/* Builds a statement into buf (reset first) with call, a builder returning
 * retl_err; on failure sets rc (with a message in eb) and jumps to out. */
#define ENG_SQL_BUILD(buf, call)                                                         \
    do {                                                                                 \
        retl_buf_reset(buf);                                                             \
        rc = (call);                                                                     \
        if (rc != RETL_E_OK) {                                                           \
            rc = retl_errf(eb, rc, "source: statement too large");                       \
            goto out;                                                                    \
        }                                                                                \
    } while (0)

/* The backend for type, or NULL. */
const struct eng_source_ops *eng_source_find(const char *type);

/* Which of the query's columns names[0..n) is the job's column number i
 * (st->cols[i]: 0 the key, else a mapping): the exact name, or with
 * fold_case a case-insensitive match when none is exact. CONFIG errors name
 * the spec field and list what the query returns, or say the column comes
 * more than once. */
retl_err eng_source_column(const struct eng_state *st, size_t i, const char *const *names,
                           size_t n, bool fold_case, size_t *found,
                           struct retl_errbuf *eb);

#endif
