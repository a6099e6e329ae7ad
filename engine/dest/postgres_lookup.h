/* mappings[].lookup for the PostgreSQL destination: the value names a parent
 * row by a unique column (lookup.field) of another table (lookup.object,
 * "schema.table"); what is written is that row's single-column primary key.
 * Resolved set-based in the batch statement (a LEFT JOIN per lookup); rows
 * whose parent does not exist are taken out of the batch first and fail
 * alone with LOOKUP_NOT_FOUND (transient: retried next run). */
#ifndef ENG_DEST_POSTGRES_LOOKUP_H
#define ENG_DEST_POSTGRES_LOOKUP_H

#include <libpq-fe.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"
#include "engine/base/row.h"

struct pd_lookup {
    size_t col;       /* batch column index (l.c<col>) */
    char *path;       /* "spec.mappings[i]", for messages */
    char *object;     /* as the spec names it */
    char *field;      /* the parent's unique column */
    char *qname;      /* quoted parent table */
    char *pk;         /* the parent's primary key column */
    char *field_type; /* format_type of field, no typmod */
    char field_cat;   /* pg_type.typcategory of field */
};

/* Checks col's lookup against the catalog over c: the table exists, field
 * is a column with a unique index of its own, the table has a single-column
 * primary key whose type the destination column (dest_type, category
 * dest_cat) can hold. A problem is appended to probs ("; "-separated) and
 * *out left empty; RETL_E_OK either way unless the catalog cannot be read.
 * Ownership: *out's strings are the caller's (pd_lookup_free). */
retl_err pd_lookup_resolve(PGconn *c, const char *path, const struct eng_col *col,
                           size_t col_index, const char *dest_type, char dest_cat,
                           struct pd_lookup *out, struct retl_buf *probs,
                           struct retl_errbuf *eb);
void pd_lookup_free(struct pd_lookup *lk);

/* " LEFT JOIN <parent> AS p<i> ON p<i>.<field> = <l.c<col> as field's type>" */
retl_err pd_lookup_join(struct retl_buf *b, const struct pd_lookup *lk, size_t i);
/* The written value: p<i>.<pk> as the destination column's type. */
retl_err pd_lookup_value(struct retl_buf *b, const struct pd_lookup *lk, size_t i,
                         const char *dest_type);

/* Takes the rows of pg_temp.retl_load whose lookup value names no parent out
 * of the load table and fails them in res (LOOKUP_NOT_FOUND); *failed is how
 * many. Runs inside the batch's transaction. */
retl_err pd_lookup_unmatched(PGconn *c, const struct pd_lookup *lks, size_t n,
                             const struct eng_batch *b, struct eng_row_result *res,
                             size_t *failed, struct retl_errbuf *eb);

#endif
