/* The ODBC driver of the generic warehouse source (engine/source/wh.h) on
 * unixODBC: DSN-less connections, statements with SQLExecDirect, diagnostics
 * (SQLSTATE and message) in every error, and a streaming reader on a
 * connection of its own with bound columns and bounded memory. Shared by the
 * odbc and sqlserver sources. */
#ifndef ENG_ODBC_DRV_H
#define ENG_ODBC_DRV_H

#include "engine/base/secrets.h"
#include "engine/source/wh.h"

extern const struct eng_wh_driver eng_odbc_driver;

/* Builds the connection string from the secret (connectionString, plus
 * password appended as PWD={...}) and extra (appended when the string lacks
 * those keys, e.g. a default Driver), connects, picks the dialect (forced,
 * else the secret's `dialect`, else guessed from the driver) and runs the
 * dialect's session settings. Ownership: the caller passes *conn to
 * eng_wh_new (or eng_odbc_driver.free). */
retl_err eng_odbc_open(const struct eng_secrets *sec, const char *extra,
                       const struct eng_dialect *forced, unsigned flags, void **conn,
                       const struct eng_dialect **dl, struct retl_errbuf *eb);

/* Appends "KEY={value}" with ODBC brace quoting to a connection string. */
retl_err eng_odbc_append(struct retl_buf *b, const char *key, const char *value);
/* Whether a connection string sets key (case-insensitive). */
bool eng_odbc_has_key(const char *conn, const char *key);

#endif
