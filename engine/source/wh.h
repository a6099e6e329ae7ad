/* The generic warehouse source: every step of the source contract
 * (engine/source/source.h) written once over a SQL dialect
 * (engine/source/sql_dialect.h) and a driver that runs statements and returns
 * text. The ODBC, SQL Server and Snowflake sources are each a driver plus an
 * `open` that picks the dialect; every other entry of their vtables is one of
 * the eng_wh_* functions below, so the warehouse does the diff the same way
 * everywhere. */
#ifndef ENG_WH_H
#define ENG_WH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "engine/source/source.h"
#include "engine/source/sql_dialect.h"

/* A whole (small) result as text. Everything owned; eng_wh_result_free. */
struct eng_wh_result {
    size_t ncols, nrows;
    char **names; /* ncols */
    char **types; /* ncols native type names ("" when unknown) */
    int *codes;   /* ncols ODBC SQL type codes (0 when unknown) */
    char **cells; /* nrows * ncols, row-major; NULL = SQL NULL */
};
void eng_wh_result_free(struct eng_wh_result *r);

struct eng_wh_driver {
    /* Runs the n statements in order. tx: all in one transaction, nothing
     * applied when one fails. Otherwise each commits by itself. */
    retl_err (*run)(void *conn, const char *const *sql, size_t n, bool tx,
                    struct retl_errbuf *eb);
    /* Runs a query and returns its columns and its first max_rows rows. */
    retl_err (*query)(void *conn, const char *sql, size_t max_rows,
                      struct eng_wh_result *out, struct retl_errbuf *eb);
    /* query with the values of its '?' placeholders bound (NULL: the
     * values are inlined as literals and query is used). */
    retl_err (*query_bind)(void *conn, const char *sql, const char *const *params,
                           size_t nparams, size_t max_rows, struct eng_wh_result *out,
                           struct retl_errbuf *eb);
    /* Streams a query with bounded memory, unaffected by run() calls made
     * while it is open. */
    retl_err (*stream_open)(void *conn, const char *sql, size_t *ncols,
                            struct retl_errbuf *eb);
    /* Up to max rows; *nrows 0 at the end. cells: nrows * ncols, borrowed
     * until the next call. */
    retl_err (*stream_fetch)(void *conn, size_t max, size_t *nrows,
                             const char *const **cells, struct retl_errbuf *eb);
    void (*stream_close)(void *conn);
    void (*free)(void *conn);
    /* Whether a dry run (ENG_SRC_DRY) can be rolled back whole, DDL included
     * (the driver keeps one uncommitted transaction). Otherwise wh.c changes
     * no state in a dry run and drops its scratch tables at close. */
    bool dry_rollback;
};

/* Creates the source context from a connected driver. Ownership: takes conn
 * (freed with drv->free by eng_wh_close, or here on failure). */
retl_err eng_wh_new(const struct eng_wh_driver *drv, void *conn,
                    const struct eng_dialect *dl, unsigned flags, void **ctx);

/* The source.h entries. */
retl_err eng_wh_lock(void *ctx, const struct eng_state *st, struct retl_errbuf *eb);
retl_err eng_wh_describe(void *ctx, const struct retl_job *job, struct eng_state *st,
                         struct retl_errbuf *eb);
retl_err eng_wh_state_init(void *ctx, const struct eng_state *st, unsigned flags,
                           unsigned *result, struct retl_errbuf *eb);
retl_err eng_wh_stage(void *ctx, const struct retl_job *job, const struct eng_state *st,
                      long long *extracted, struct retl_errbuf *eb);
retl_err eng_wh_diff(void *ctx, const struct eng_state *st, enum retl_mode mode,
                     enum eng_diff how, struct eng_delta_counts *c,
                     struct retl_errbuf *eb);
retl_err eng_wh_delta_open(void *ctx, const struct eng_state *st, struct retl_errbuf *eb);
retl_err eng_wh_delta_fetch(void *ctx, size_t max, struct eng_chunk *out,
                            struct retl_errbuf *eb);
retl_err eng_wh_commit(void *ctx, const struct eng_state *st, long long run,
                       const char *op, const struct eng_chunk *ch,
                       const struct eng_row_result *results, struct retl_errbuf *eb);
retl_err eng_wh_finish(void *ctx, const struct eng_state *st, struct retl_errbuf *eb);
retl_err eng_wh_errors(void *ctx, const struct eng_state *st, size_t limit, json_t **out,
                       long long *total, struct retl_errbuf *eb);
retl_err eng_wh_failing_permanent(void *ctx, const struct eng_state *st, long long *n,
                                  struct retl_errbuf *eb);
retl_err eng_wh_drop_state(void *ctx, const struct eng_state *st, struct retl_errbuf *eb);
void eng_wh_close(void *ctx);

/* Fills the vtable entries after open and type with the eng_wh_* ones. */
#define ENG_WH_OPS                                                                       \
    .deletes = true, .lock = eng_wh_lock, .describe = eng_wh_describe,                   \
    .state_init = eng_wh_state_init, .failing_permanent = eng_wh_failing_permanent,      \
    .stage = eng_wh_stage, .diff = eng_wh_diff, .delta_open = eng_wh_delta_open,         \
    .delta_fetch = eng_wh_delta_fetch, .commit = eng_wh_commit, .finish = eng_wh_finish, \
    .errors = eng_wh_errors, .drop_state = eng_wh_drop_state, .close = eng_wh_close

#endif
