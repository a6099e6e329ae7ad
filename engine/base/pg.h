/* libpq helpers shared by the postgres source and destination: connecting
 * from a job secret (`url` plus optional `password`), running statements with
 * errors that carry SQLSTATE and never a credential, and COPY FROM STDIN. */
#ifndef ENG_PG_H
#define ENG_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"
#include "engine/base/secrets.h"

/* Connects with the secret's `url` (URI or key=value) and `password`, sets
 * the session so canonical text comes out (UTC, ISO dates, exact floats) and
 * names the application. what ("source"/"destination") prefixes messages.
 * Ownership: caller PQfinish()es *out. */
retl_err eng_pg_connect(const struct eng_secrets *sec, const char *what, PGconn **out,
                        struct retl_errbuf *eb);

/* Runs sql. OK for COMMAND_OK and TUPLES_OK; then *res (when res is not NULL)
 * is the result, which the caller PQclear()s. Otherwise SQL (or UNAVAILABLE
 * when the connection is gone) with "<what>: <message> (SQLSTATE x)". */
retl_err eng_pg_exec(PGconn *c, const char *sql, PGresult **res, const char *what,
                     struct retl_errbuf *eb);
/* Formats a failed result into eb and returns SQL or UNAVAILABLE. */
retl_err eng_pg_fail(PGconn *c, const PGresult *r, const char *what,
                     struct retl_errbuf *eb);

/* Whether the server or the session is gone (connection bad, or a result
 * with SQLSTATE class 08 or 57P). */
bool eng_pg_lost(PGconn *c, const PGresult *r);

/* COPY ... FROM STDIN with len bytes of COPY text data. On failure (SQL)
 * *fail is the failed result, which the caller PQclear()s: NULL when the
 * connection failed rather than the statement. */
retl_err eng_pg_copy_try(PGconn *c, const char *copy_sql, const char *data, size_t len,
                         PGresult **fail);
/* eng_pg_copy_try, the failure formatted into eb. */
retl_err eng_pg_copy_in(PGconn *c, const char *copy_sql, const char *data, size_t len,
                        const char *what, struct retl_errbuf *eb);

/* Integer value of a result cell (0 when NULL). */
long long eng_pg_ll(const PGresult *r, int row, int col);

/* Largest statement built (the user's query is embedded). */
#define ENG_PG_SQL_MAX (8u << 20)

/* "id" with embedded quotes doubled. */
retl_err eng_pg_ident(struct retl_buf *b, const char *id);
/* "schema"."table" */
retl_err eng_pg_qname(struct retl_buf *b, const char *schema, const char *t);
/* A dotted name as the user wrote it ("analytics.scores"), each part quoted. */
retl_err eng_pg_dotted(struct retl_buf *b, const char *name);
/* 'text' with quotes doubled (standard_conforming_strings is on). */
retl_err eng_pg_literal(struct retl_buf *b, const char *s);
/* One field of COPY text format: \N for NULL, backslash escapes otherwise. */
retl_err eng_pg_copy_field(struct retl_buf *b, const char *v);

#endif
