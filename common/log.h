/* Leveled, structured logging: one line per record, JSON lines or logfmt, each
 * with the component that wrote it. Every string value (and the message) passes
 * through redaction first: registered secret values are replaced and URL
 * passwords, password=/pwd= pairs and bearer tokens are masked, so no
 * credential reaches a log even by mistake.
 *
 *   RETL_LOG_INFO("run started", RF_S("job", name), RF_I("run", n));
 */
#ifndef RETL_LOG_H
#define RETL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

enum retl_log_level {
    RETL_LOG_DEBUG,
    RETL_LOG_INFO,
    RETL_LOG_WARN,
    RETL_LOG_ERROR,
};

enum retl_log_format {
    RETL_LOG_JSON,
    RETL_LOG_LOGFMT,
};

enum retl_field_type { RETL_F_STR, RETL_F_INT, RETL_F_DBL, RETL_F_BOOL };

struct retl_field {
    const char *key;
    enum retl_field_type type;
    const char *s;
    long long i;
    double d;
};

#define RF_S(k, v) ((struct retl_field){.key = (k), .type = RETL_F_STR, .s = (v)})
#define RF_I(k, v)                                                                       \
    ((struct retl_field){.key = (k), .type = RETL_F_INT, .i = (long long)(v)})
#define RF_D(k, v) ((struct retl_field){.key = (k), .type = RETL_F_DBL, .d = (double)(v)})
#define RF_B(k, v) ((struct retl_field){.key = (k), .type = RETL_F_BOOL, .i = !!(v)})

/* Sets the component name (copied), minimum level, format and stream (NULL =
 * stderr). Safe to call again; the defaults are "retl", INFO, JSON, stderr. */
void retl_log_setup(const char *component, enum retl_log_level min,
                    enum retl_log_format fmt, FILE *out);
/* Parses "debug|info|warn|error". */
retl_err retl_log_parse_level(const char *s, enum retl_log_level *out);
/* Parses "json|logfmt". */
retl_err retl_log_parse_format(const char *s, enum retl_log_format *out);
bool retl_log_enabled(enum retl_log_level lvl);

/* Writes one record. Thread-safe; a record is never interleaved with another. */
void retl_log_fields(enum retl_log_level lvl, const char *msg,
                     const struct retl_field *fields, size_t n);

#define RETL_LOG(lvl, msg, ...)                                                          \
    do {                                                                                 \
        if (retl_log_enabled(lvl)) {                                                     \
            const struct retl_field f__[] = {{0}, ##__VA_ARGS__};                        \
            retl_log_fields((lvl), (msg), f__ + 1, sizeof f__ / sizeof f__[0] - 1);      \
        }                                                                                \
    } while (0)
#define RETL_LOG_DEBUG(msg, ...) RETL_LOG(RETL_LOG_DEBUG, msg, ##__VA_ARGS__)
#define RETL_LOG_INFO(msg, ...) RETL_LOG(RETL_LOG_INFO, msg, ##__VA_ARGS__)
#define RETL_LOG_WARN(msg, ...) RETL_LOG(RETL_LOG_WARN, msg, ##__VA_ARGS__)
#define RETL_LOG_ERROR(msg, ...) RETL_LOG(RETL_LOG_ERROR, msg, ##__VA_ARGS__)

/* Registers a credential (copied): from now on it is replaced by
 * "[REDACTED]" wherever it appears in a log record or in retl_redact_text,
 * and so are its escaped spellings (ODBC {..}}, libpq '..\'', JSON, URL
 * percent-encoding) and every token of >= 4 bytes a tokeniser could split off
 * it (at spaces, quotes, braces, ';', ',', '=', ':', newlines, ...). Values
 * shorter than 4 bytes are ignored (they would mask ordinary text). There is
 * no silent cap: TOO_BIG past 8192 values, NOMEM, else OK. */
retl_err retl_secret_register(const char *value);
/* Registers a text that may carry credentials (a connection string, a URL,
 * headers): the whole text exactly, and each credential inside it (a URL
 * password, the value of every key=value / "key": "value" pair whose key names
 * a credential) as retl_secret_register does. */
retl_err retl_secret_register_text(const char *text);
/* Whether a key (a Secret's data key, a connection-string key, a JSON field)
 * names a credential: password, pwd, *secret*, *token*, apiKey, privateKey,
 * client_assertion, sessionId, Authorization, ... (case, '_', '-' ignored). */
bool retl_secret_key(const char *key);
/* Forgets every registered secret (tests). */
void retl_secret_clear(void);

/* Redaction helpers. Each writes a NUL-terminated result of at most n-1 bytes
 * into out (truncating) and returns out. */
/* https://user:pw@host/p?token=x -> https://user:***@host/p?token=*** */
char *retl_redact_url(const char *url, char *out, size_t n);
/* libpq key=value strings and ODBC connection strings: password/pwd/secret
 * values masked; URIs handled as retl_redact_url. */
char *retl_redact_conninfo(const char *conninfo, char *out, size_t n);
/* Where a connection string points, never what authenticates it: only its
 * host/hostaddr/port/dbname/Driver/Server/Database/DSN keys (or a URL's host
 * and database). The only form of a connection string a message may carry. */
char *retl_conn_describe(const char *conninfo, char *out, size_t n);
/* A token: "***" (its length is not revealed). */
char *retl_redact_token(const char *token, char *out, size_t n);
/* Free text: registered secrets (and their escapes and tokens), PEM bodies,
 * URL passwords, Bearer tokens, key=value / key: value / "key": "value" pairs
 * whose key names a credential (quoted, {braced} or bare values) and the
 * whole value of an Authorization header are masked. Use it for every text
 * that came from a server or a driver before it goes into a message. */
char *retl_redact_text(const char *text, char *out, size_t n);
/* A server's or driver's text quoted into a message: redacted as
 * retl_redact_text, then cut (between characters) to n - 1 bytes ending in
 * "..." when it was longer. */
char *retl_redact_excerpt(const char *text, char *out, size_t n);

#endif
