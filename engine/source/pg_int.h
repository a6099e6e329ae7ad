/* The postgres source's session (engine/source/postgres.c) and what its
 * streamed first sync (engine/source/pg_first.c) shares with it. Internal to
 * those two files. */
#ifndef ENG_PG_INT_H
#define ENG_PG_INT_H

#include <stdbool.h>

#include "common/buf.h"
#include "engine/base/pg.h"
#include "engine/source/source.h"

#define COPY_MAX (256u << 20)

struct pgsrc {
    PGconn *w;                     /* writer */
    PGconn *r;                     /* reader: delta cursor */
    const struct eng_secrets *sec; /* borrowed: lives as long as the run */
    unsigned flags;
    PGresult *chunk;
    const char **cells;
    size_t cells_cap;
    const char **ids; /* per chunk row: the record id of a D row */
    size_t ids_cap;
    const char *del_op; /* "delete" | "clear": deletes propagated; else NULL */
    double max_pct;     /* spec.deletes.maxPercent */
    struct retl_buf sql;
    struct retl_buf copy;
    bool ahead;          /* the next FETCH is already on its way */
    long long extracted; /* rows staged this run */
    long long saved;     /* rows that entered the snapshot this run */
    bool delta_ready;    /* stage built the delta itself (empty snapshot) */
    bool gone;           /* the delta holds deleted keys (op D) */
    char *query;         /* staging left to diff (one statement); owned */
    bool values;         /* the snapshot keeps values (not the hash strategy) */
    bool written;        /* prewrite's statements are in flight on w */
    PGresult *kept_ids;  /* prewrite: (delta ctid, kept id) of changed keys */
    bool pending;        /* a batch's state transaction is in flight on w */
    long long pending_ok;
    char tid_first[32]; /* physical range of the last chunk */
    char tid_last[32];
    /* A first sync (empty snapshot, no error row): the query, which diff
     * streams (pg_first.c) or stages into the delta; owned. */
    char *first_query;
    bool stream;       /* the delta is the query itself, streamed */
    long long fetched; /* rows the stream returned */
    bool ids_back;     /* the destination returns record ids */
};

static inline bool pgs_dry(const struct pgsrc *s)
{
    return (s->flags & ENG_SRC_DRY) != 0;
}

/* Builds a statement into s->sql (reset first) with builder call. */
#define SQL(s, call) ENG_SQL_BUILD(&(s)->sql, call)

/* Rolls back what is open on the writer (not in a dry run). */
void pgs_rollback(struct pgsrc *s);
/* Collects the outcome of what is in flight on the writer; with keep, the
 * first result holding rows is kept there. Ownership: the caller PQclears
 * *keep. */
retl_err pgs_collect(struct pgsrc *s, PGresult **keep, struct retl_errbuf *eb);
/* Sends the batch's state transaction in s->sql (ending in COMMIT) and does
 * not wait: the server saves this batch while the next one is fetched and
 * loaded; pgs_collect takes the outcome. res[0..n) are the batch's results
 * (their successes are counted when the commit lands). */
retl_err pgs_send_state(struct pgsrc *s, const struct eng_row_result *res, size_t n,
                        struct retl_errbuf *eb);
/* Fails on NULL or duplicate keys, naming them, on connection c: over the
 * stage (or with delta the rows of the delta to send), or with query over
 * the query itself. *rows (when not NULL) gets the number of keys checked. */
retl_err pgs_key_check(struct pgsrc *s, PGconn *c, const struct eng_state *st, bool delta,
                       const char *query, long long *rows, struct retl_errbuf *eb);

/* The streamed first sync (pg_first.c), diff / delta_open / prewrite /
 * commit of the postgres source when s->stream: the query read once through
 * a cursor, (key, hash) copied into the snapshot per batch, no delta table. */
retl_err pgf_diff(struct pgsrc *s, const struct eng_state *st, struct eng_delta_counts *c,
                  struct retl_errbuf *eb);
retl_err pgf_delta_open(struct pgsrc *s, const struct eng_state *st,
                        struct retl_errbuf *eb);
retl_err pgf_prewrite(struct pgsrc *s, const struct eng_state *st,
                      const struct eng_chunk *ch, struct retl_errbuf *eb);
retl_err pgf_commit(struct pgsrc *s, const struct eng_state *st, long long run,
                    const char *op, const struct eng_chunk *ch,
                    const struct eng_row_result *res, struct retl_errbuf *eb);

#endif
