/* Statement templates: the one way the source's SQL is written. A statement
 * is a text with placeholders, expanded for one dialect and one job's state
 * tables, so a builder is a table of templates instead of hand-chained
 * appends. Placeholders in braces name the job's state:
 *   {snap} {delta} {stage} {errors} {meta} {rows} {batch} {keys}
 *                  a state table (quoted, in the state schema)
 *   {k} {o.st}     a state column, optionally after a table alias; quoted by
 *                  the dialect unless the template set is bare (the native
 *                  postgres statements write state columns unquoted)
 *   {s.c*}         the value columns, each after ", ": ", s.c1, s.c2"
 *   {s.c+}         the value columns joined by ", ": "s.c1, s.c2"
 *   {hash:s}       the 64-bit row hash of s's value columns (postgres)
 *   {=d.k} {=d.*}  canonical text of d's key, of every column (postgres)
 * and printf-like directives take arguments in order:
 *   %s raw text, %L a literal, %I an identifier, %T a state table by name,
 *   %c a character, %d int, %zu size_t, %lld long long, %% a percent sign.
 * The user's query is only ever inserted with %s, never parsed. */
#ifndef ENG_SQL_TMPL_H
#define ENG_SQL_TMPL_H

#include <stdbool.h>

#include "common/buf.h"
#include "engine/base/state.h"
#include "engine/source/sql_dialect.h"

struct eng_sql {
    const struct eng_dialect *d;
    const struct eng_state *st;
    bool bare; /* state columns unquoted */
};

/* Appends the expanded template to b (any name in braces that is not a
 * state table is a column). INVALID on a malformed template (an unclosed or
 * over-long brace, an unknown % directive, {=...} of a value column);
 * TOO_BIG/NOMEM from buf.h. */
retl_err eng_sql_fmt(const struct eng_sql *x, struct retl_buf *b, const char *tmpl, ...);

#endif
