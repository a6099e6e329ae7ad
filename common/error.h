/* The project's one error type. Every fallible function returns retl_err; a
 * human-readable message, when there is one, goes into a caller-provided
 * struct retl_errbuf. Names and default messages come from one X-macro table. */
#ifndef RETL_ERROR_H
#define RETL_ERROR_H

#include <stddef.h>

#define RETL_ERRORS(X)                                                                   \
    X(OK, "success")                                                                     \
    X(NOMEM, "out of memory")                                                            \
    X(INVALID, "invalid argument")                                                       \
    X(USAGE, "bad usage")                                                                \
    X(TOO_BIG, "size limit exceeded")                                                    \
    X(IO, "input/output error")                                                          \
    X(PARSE, "malformed input")                                                          \
    X(NOT_FOUND, "not found")                                                            \
    X(SPEC, "invalid job spec")                                                          \
    X(CONFIG, "invalid configuration")                                                   \
    X(HTTP, "HTTP transport error")                                                      \
    X(HTTP_STATUS, "unexpected HTTP status")                                             \
    X(TIMEOUT, "timed out")                                                              \
    X(TLS, "TLS error")                                                                  \
    X(AUTH, "authentication failed")                                                     \
    X(UNAUTHORIZED, "unauthorized")                                                      \
    X(FORBIDDEN, "forbidden")                                                            \
    X(CONFLICT, "conflict")                                                              \
    X(ALREADY_EXISTS, "already exists")                                                  \
    X(GONE, "resource version expired")                                                  \
    X(UNPROCESSABLE, "rejected as invalid")                                              \
    X(TOO_MANY_REQUESTS, "too many requests")                                            \
    X(UNAVAILABLE, "service unavailable")                                                \
    X(SQL, "SQL error")                                                                  \
    X(SOURCE, "source error")                                                            \
    X(DEST, "destination error")                                                         \
    X(LIMIT, "API limit reached")                                                        \
    X(THRESHOLD, "error threshold exceeded")                                             \
    X(CANCELLED, "cancelled")                                                            \
    X(UNSUPPORTED, "not supported")                                                      \
    X(INTERNAL, "internal error")

typedef enum {
#define RETL_ERR_ENUM(name, msg) RETL_E_##name,
    RETL_ERRORS(RETL_ERR_ENUM)
#undef RETL_ERR_ENUM
        RETL_E__COUNT
} retl_err;

/* Room for one message with its context prefixes. */
#define RETL_ERRBUF_SIZE 1024

struct retl_errbuf {
    char msg[RETL_ERRBUF_SIZE];
};

/* "NOT_FOUND" for RETL_E_NOT_FOUND; "UNKNOWN" outside the table. */
const char *retl_err_name(retl_err e);
/* The table's default message for e. */
const char *retl_err_str(retl_err e);

/* Formats a message into eb (when eb is not NULL) and returns code, so that
 * `return retl_errf(eb, RETL_E_PARSE, "line %d: ...", n);` reads naturally. */
retl_err retl_errf(struct retl_errbuf *eb, retl_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to the message already in eb (or to the default
 * message of code when eb is empty) and returns code. */
retl_err retl_err_wrap(struct retl_errbuf *eb, retl_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Stores expr (a retl_err) in the local `rc` and jumps to the function's one
 * `out:` cleanup label when it failed. */
#define RETL_TRY(expr)                                                                   \
    do {                                                                                 \
        rc = (expr);                                                                     \
        if (rc != RETL_E_OK)                                                             \
            goto out;                                                                    \
    } while (0)

/* The message in eb, or the default message of code when eb is empty/NULL. */
const char *retl_errbuf_msg(const struct retl_errbuf *eb, retl_err code);

#endif
