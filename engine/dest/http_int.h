/* Internals of the generic HTTP destination (engine/dest/http.c), exposed for
 * its unit test only. */
#ifndef ENG_DEST_HTTP_INT_H
#define ENG_DEST_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/spec.h"
#include "engine/dest/dest.h"

extern const struct eng_dest_ops eng_dest_http;

/* The JSON body of one batch (DESIGN §8.2). Ownership: caller frees. NULL on
 * NOMEM. */
char *http_batch_body(const struct retl_job *job, const struct eng_batch *b);
/* "sha256=<hex HMAC-SHA256(secret, body)>" into out. */
retl_err http_signature(const char *secret, const char *body, size_t len, char out[72]);
/* Fills results from a 2xx answer: every row ok unless the body's results
 * name its key with an error. */
void http_apply_answer(const struct eng_batch *b, long status, const char *body,
                       struct eng_row_result *results);
/* Whether an http destination code may pass on a retry: 429, 5xx, a bad
 * answer. */
bool http_code_transient(const char *code);
/* The failure class a failed record gets: HTTP_4xx (not 429) permanent;
 * anything else by the engine's table (REJECTED, BAD_RESPONSE, 429, 5xx:
 * transient). */
enum eng_fail_class http_code_class(const char *code);

#endif
