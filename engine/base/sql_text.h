/* SQL text primitives every dialect shares: quoted identifiers and dotted
 * names with a dialect's quote characters. Pure string building. */
#ifndef ENG_SQL_TEXT_H
#define ENG_SQL_TEXT_H

#include "common/buf.h"
#include "common/error.h"

/* id between qopen and qclose, every qclose inside doubled. */
retl_err eng_sql_ident(struct retl_buf *b, char qopen, char qclose, const char *id);
/* A dotted name as the user wrote it ("analytics.scores"), each part quoted;
 * TOO_BIG for a part of 256 bytes or more. */
retl_err eng_sql_dotted(struct retl_buf *b, char qopen, char qclose, const char *name);

#endif
