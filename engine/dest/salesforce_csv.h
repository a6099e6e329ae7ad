/* RFC 4180 CSV as Bulk API 2.0 speaks it (engine/dest/salesforce_csv.c):
 * fields written into a job's upload, result documents read back. */
#ifndef ENG_DEST_SALESFORCE_CSV_H
#define ENG_DEST_SALESFORCE_CSV_H

#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

/* Appends s as one CSV field (RFC 4180: quoted when it holds a comma, quote,
 * CR or LF; inner quotes doubled). */
retl_err sf_csv_field(struct retl_buf *out, const char *s, size_t n);

/* A parsed CSV document. Cells point into mem. */
struct sf_csv {
    char *mem;     /* owned: the unescaped cell texts */
    char **cells;  /* owned array: nrows * ncols pointers into mem */
    char **header; /* owned array: ncols pointers into mem */
    size_t ncols;
    size_t nrows; /* data rows, without the header */
};

/* Parses RFC 4180 CSV (header row first). Rows with a different number of
 * cells are a PARSE error. Ownership: sf_csv_free. */
retl_err sf_csv_parse(const char *text, size_t len, struct sf_csv *out,
                      struct retl_errbuf *eb);
void sf_csv_free(struct sf_csv *c);
/* Column index of name (case-insensitive), or -1. */
long sf_csv_col(const struct sf_csv *c, const char *name);
static inline const char *sf_csv_cell(const struct sf_csv *c, size_t row, size_t col)
{
    return c->cells[row * c->ncols + col];
}

#endif
