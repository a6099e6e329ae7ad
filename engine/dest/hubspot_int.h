/* Internals of the HubSpot destination (engine/dest/hubspot*.c), shared
 * between its files and its unit tests only.
 *
 *   hubspot_call.c    one API call: bearer token, the rolling ten-second
 *                     limit learnt from X-HubSpot-RateLimit-*, 429 / 423 /
 *                     477 / 5xx retried with backoff, HubSpot error bodies,
 *                     failure classes
 *   hubspot_props.c   the Properties API: spec validation, value conversion
 *   hubspot_batch.c   CRM v3 batch create / update / upsert, 100 inputs a
 *                     call, several calls in flight, 207 results matched back
 *   hubspot_delete.c  spec.deletes: batch/archive, or batch/update to "";
 *                     keys without a kept id found by batch/read first
 *   hubspot.c         the eng_dest_ops vtable */
#ifndef ENG_DEST_HUBSPOT_INT_H
#define ENG_DEST_HUBSPOT_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/http.h"
#include "common/spec.h"
#include "engine/dest/dest.h"
#include "engine/dest/ratelimit.h"

#define HS_DEFAULT_BASE_URL "https://api.hubapi.com"
#define HS_BATCH_MAX 100
#define HS_DEFAULT_CONCURRENCY 8
#define HS_MAX_CONCURRENCY 16
#define HS_MAX_ATTEMPTS 8 /* per call, for 429 / 423 / 5xx */
#define HS_MAX_PROPS 4096

extern const struct eng_dest_ops eng_dest_hubspot;

/* ---- calls (hubspot_call.c) ---- */

enum hs_endpoint {
    HS_EP_PROPERTIES,
    HS_EP_CREATE,
    HS_EP_UPDATE,
    HS_EP_UPSERT,
    HS_EP_ARCHIVE,
    HS_EP_READ,
    HS_EP_N
};

struct hs_conn {
    char *base;                        /* owned: base URL without a trailing '/' */
    char *auth;                        /* owned: "Authorization: Bearer <token>" */
    char *ca_pem;                      /* owned or NULL */
    long timeout_ms;                   /* per call */
    struct retl_http_client **clients; /* owned; one per worker */
    int nclients;
    struct eng_ratelimit rl;
    bool rl_ready;
    double user_rps;    /* destination.rateLimit.requestsPerSecond, 0 = none */
    pthread_mutex_t mu; /* guards the counters below */
    long long calls[HS_EP_N];
    long long rate_limited;           /* 429s answered (waited and retried) */
    long long retried;                /* other retries (423 / 477 / 5xx / transport) */
    long long daily, daily_remaining; /* -1 until a response says */
    long window_max;                  /* X-HubSpot-RateLimit-Max seen */
};

/* The result of one call. */
struct hs_resp {
    long status;
    json_t *body; /* owned; NULL when the body was empty */
    char *raw;    /* owned: the first bytes of a body that is not JSON */
};

void hs_resp_clear(struct hs_resp *r);

/* Sets up the connection: base URL, token (registered with the redactor),
 * CA, nclients HTTP clients, limiter (learnt from the first response unless
 * user_rps caps it). Ownership: release with hs_conn_free. */
retl_err hs_conn_init(struct hs_conn *c, const char *base, const char *token,
                      const char *ca_pem, int nclients, double user_rps, long timeout_ms,
                      struct retl_errbuf *eb);
void hs_conn_free(struct hs_conn *c);

/* One call with client number `client`: waits for the limiter, retries 429
 * (after the window), 423 and 477 with backoff up to HS_MAX_ATTEMPTS, and 5xx
 * and transport failures only when idempotent (a create may have happened). Returns OK
 * with resp filled for any final HTTP status; an error for transport failures, a daily
 * limit, or a 2xx body that is not JSON (the outcome is unknown). */
retl_err hs_call(struct hs_conn *c, int client, enum hs_endpoint ep, const char *method,
                 const char *path, const char *body, bool idempotent,
                 struct hs_resp *resp, struct retl_errbuf *eb);

/* "category: message" of a HubSpot error body (or the status and raw text),
 * into a heap string. Ownership: caller frees. */
char *hs_error_text(const struct hs_resp *r);

/* A 401 or 403 answer: AUTH with what HubSpot said and what to check. */
retl_err hs_auth_error(const struct hs_resp *r, struct retl_errbuf *eb);

/* True when a HubSpot error code or category is worth retrying next run
 * (limits, locks, server errors, timeouts); false for validation, not found,
 * conflicts. The failure class of DESIGN §8.1. */
bool hs_code_transient(const char *code);

/* ---- properties (hubspot_props.c) ---- */

enum hs_ptype {
    HS_P_STRING,
    HS_P_NUMBER,
    HS_P_DATE,
    HS_P_DATETIME,
    HS_P_ENUM,
    HS_P_BOOL
};

struct hs_prop {
    char *name; /* owned */
    enum hs_ptype type;
    bool read_only; /* readOnlyValue or calculated */
    bool unique;    /* hasUniqueValue */
    char **options; /* owned: enumeration values */
    size_t noptions;
};

struct hs_props {
    struct hs_prop *v; /* owned */
    size_t n;
};

/* Parses a GET /crm/v3/properties/{object} body. */
retl_err hs_props_parse(const json_t *body, struct hs_props *out, struct retl_errbuf *eb);
void hs_props_free(struct hs_props *p);
const struct hs_prop *hs_props_find(const struct hs_props *p, const char *name);

/* Validates the job's columns against the properties: every mapped
 * destination exists and is writable; the key suits the mode (Upsert: email
 * on contacts or a unique property; Update: hs_object_id or a unique
 * property). Problems name the spec field. Sets out[i] per column (NULL for
 * the hs_object_id key). */
void hs_validate(const struct hs_props *props, const struct retl_job *job,
                 const char *object, const struct eng_col *cols, size_t ncols,
                 const struct hs_prop **out, struct retl_problems *probs);

/* Converts one canonical value (engine text of type t) for property p into
 * what HubSpot accepts. Returns a heap string, or NULL with *why set (a
 * static reason) when the value does not fit the property. Ownership: the
 * caller frees the result. */
char *hs_value(const struct hs_prop *p, enum eng_type t, const char *v, const char **why);

/* ---- batches (hubspot_batch.c) ---- */

struct hs_load {
    struct hs_conn *conn;
    const char *object; /* path segment */
    enum retl_mode mode;
    const char *id_property; /* Upsert: the key property; Update: NULL for hs_object_id */
    const struct hs_prop *const *props; /* per column; NULL = not sent */
    bool email_key; /* the idProperty is email (compared case-insensitively) */
    const bool
        *skip_null; /* per column, or NULL: mappings[].nulls Skip (a NULL is not sent) */
};

/* Loads one engine batch in chunks of HS_BATCH_MAX on the connection's
 * clients in parallel. Fills results[i] for every row. */
retl_err hs_load_batch(const struct hs_load *L, const struct eng_batch *b,
                       struct eng_row_result *results, struct retl_errbuf *eb);

/* Builds the JSON body of one chunk (rows [from, to)); rows whose values do
 * not convert are failed in results and left out. Returns the body (heap) or
 * NULL on NOMEM; *nsent says how many inputs it holds. Exposed for tests. */
char *hs_chunk_body(const struct hs_load *L, const struct eng_batch *b, size_t from,
                    size_t to, struct eng_row_result *results, size_t *nsent);

/* Applies a batch answer to the rows [from, to) that were sent. Exposed for
 * tests. */
void hs_chunk_results(const struct hs_load *L, const struct eng_batch *b, size_t from,
                      size_t to, const struct hs_resp *resp,
                      struct eng_row_result *results);

/* spec.deletes (hubspot_delete.c): b->op ENG_OP_DELETE archives the records
 * (batch/archive), ENG_OP_CLEAR sets every mapped non-key property to ""
 * (batch/update). Fills results[i] for every row. */
retl_err hs_delete_batch(const struct hs_load *L, const struct eng_batch *b,
                         struct eng_row_result *results, struct retl_errbuf *eb);

/* A batch/read answer for the rows need[0..n) (looked up by idProperty):
 * found ids go to owned[row] (heap, freed by the caller) and ids[row]; keys
 * HubSpot names as not found are done (nothing to delete or clear); a failed
 * call, or a key the answer does not mention, fails its row (transient:
 * looked up again next run). NOMEM is the only error. Exposed for tests. */
retl_err hs_read_answer(const struct hs_load *L, const struct eng_batch *b,
                        const size_t *need, size_t n, const struct hs_resp *resp,
                        const char **ids, char **owned, struct eng_row_result *results);

/* Fails result r with code/message (copied) and the code's failure class;
 * fields may be NULL. */
void hs_fail(struct eng_row_result *r, const char *code, const char *message,
             const char *fields);

/* The code every row of a failed call gets: RATE_LIMIT (429), HTTP_5XX,
 * LOCKED (423), MIGRATION_IN_PROGRESS (477), else HubSpot's category (or the
 * finer code inside a "Property values were not valid" message), else
 * HTTP_<status>. *fields gets the properties named, or NULL. Ownership: the
 * caller frees the result and *fields. */
char *hs_call_code(const struct hs_resp *resp, char **fields);

#endif
