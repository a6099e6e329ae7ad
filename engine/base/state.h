/* The per-job state layout the run state machine and the source backends
 * share: state table names (derived from namespace and name, shortened with a
 * hash beyond the 63-byte identifier limit), the columns carried through the
 * snapshot (the key first, then every distinct mapped source column), and the
 * fingerprint of what the snapshot means (query, key, mappings, destination),
 * which starts a new baseline when it changes. Pure: no I/O. */
#ifndef ENG_STATE_H
#define ENG_STATE_H

#include <stddef.h>

#include "common/error.h"
#include "common/spec.h"
#include "engine/base/row.h"

/* Longest identifier PostgreSQL (and most warehouses) keep without truncating. */
#define ENG_IDENT_MAX 63

struct eng_state_names {
    char schema[ENG_IDENT_MAX + 1];
    char prefix[ENG_IDENT_MAX + 1]; /* "<ns>__<name>", maybe shortened */
    char snap[ENG_IDENT_MAX + 1];   /* what the destination is known to hold */
    char errors[ENG_IDENT_MAX + 1]; /* rows failing now */
    char meta[ENG_IDENT_MAX + 1];   /* fingerprint and format of the state */
    char stage[ENG_IDENT_MAX + 1];  /* this run's materialised query */
    char delta[ENG_IDENT_MAX + 1];  /* this run's changes */
    char rows[ENG_IDENT_MAX + 1];   /* counter of this run's query rows */
};

/* One column carried from the query through staging and the snapshot. */
struct eng_scol {
    char *name;     /* owned: source column name */
    char *sql_type; /* owned: source type name, NULL until described */
    enum eng_type type;
};

struct eng_state {
    struct eng_state_names n;
    struct eng_scol *cols; /* owned; cols[0] is the key */
    size_t ncols;
    char fingerprint[65]; /* sha256 hex */
};

/* Derives every table name from schema, namespace and job name. Names are
 * lowercased, characters outside [a-z0-9_] become '_'; a prefix that would
 * make a name longer than 63 bytes is cut and suffixed with 8 hex digits of
 * sha256("<ns>/<name>") so distinct jobs keep distinct tables. INVALID when
 * schema is empty or longer than 63 bytes. */
retl_err eng_state_names(const char *schema, const char *ns, const char *name,
                         struct eng_state_names *out, struct retl_errbuf *eb);

/* Fills st from job: names, columns (key, then distinct mapping sources) and
 * fingerprint. Ownership: release with eng_state_free. */
retl_err eng_state_from_job(const struct retl_job *job, struct eng_state *st,
                            struct retl_errbuf *eb);
void eng_state_free(struct eng_state *st);

/* The fingerprint of everything that gives the snapshot its meaning: query or
 * table, key, mappings, destination type and object, state format version.
 * out receives 64 hex digits. */
void eng_state_fingerprint(const struct retl_job *job, char out[65]);

/* Index in st->cols of source column name, or -1. */
int eng_state_col(const struct eng_state *st, const char *name);

#endif
