/* Snowflake SQL API v2 pieces shared by engine/source/snowflake.c and its
 * unit tests: key-pair JWTs and the conversion of result cells (every cell is
 * a JSON string, typed by resultSetMetaData.rowType) into canonical text. */
#ifndef ENG_SNOWFLAKE_INT_H
#define ENG_SNOWFLAKE_INT_H

#include <jansson.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

/* The account as it appears in JWT claims: upper-cased, cut at the first '.'
 * (region/cloud), or at the first '-' for "<org>-<name>.global" names. */
void eng_snow_jwt_account(const char *account, char *out, size_t n);

/* "SHA256:<base64 of sha256(DER SubjectPublicKeyInfo)>" of the public half of
 * a PEM private key. */
retl_err eng_snow_fingerprint(const char *pem, char *out, size_t n,
                              struct retl_errbuf *eb);

/* A KEYPAIR_JWT valid from now for lifetime seconds: RS256 over
 * {"iss":"ACCOUNT.USER.SHA256:fp","sub":"ACCOUNT.USER","iat":now,"exp":...}.
 * Ownership: caller frees *out. */
retl_err eng_snow_jwt(const char *pem, const char *account, const char *user, long now,
                      long lifetime, char **out, struct retl_errbuf *eb);

/* Appends the canonical text of one jsonv2 cell of Snowflake type type
 * (rowType.type, any case) to b, NUL-terminated: DATE days since the epoch
 * -> YYYY-MM-DD; TIMESTAMP_NTZ/LTZ "seconds.fraction" -> "YYYY-MM-DD
 * HH:MM:SS[.fraction]" (LTZ with +00:00); TIMESTAMP_TZ "seconds.fraction
 * offset" (offset in minutes + 1440) -> local time with +HH:MM; everything
 * else unchanged. RETL_E_PARSE for a date or time number far outside any
 * year Snowflake holds (a garbled answer, never wrapped into a wrong date). */
retl_err eng_snow_cell(const char *type, const char *in, struct retl_buf *b);

/* Appends the cells of one jsonv2 result row (row number rownum, for
 * messages) to b, each converted by eng_snow_cell for its column's type
 * (types: an array of type names, one per column): offs[c] gets the cell's
 * offset in b, or -1 for SQL NULL. A cell that is not a string is kept as
 * its JSON text. RETL_E_PARSE when the row is not an array of exactly one
 * cell per column (a garbled answer never becomes NULLs that would overwrite
 * destination values) or holds a date out of range; b may then hold part of
 * the row. */
retl_err eng_snow_row(const json_t *types, const json_t *row, size_t rownum,
                      struct retl_buf *b, long *offs, struct retl_errbuf *eb);

#endif
