/* Internals of the Salesforce destination (engine/dest/salesforce*.c), shared
 * between its files and its unit tests. Nothing here is used outside
 * engine/dest/salesforce*.c and tests/unit/test_salesforce_*.c.
 *
 *   salesforce_auth.c      OAuth 2.0 flows, JWT RS256 assertion
 *   salesforce_http.c      transport: libcurl multi, bounded concurrency,
 *                          re-login on 401, backoff, limit tracking, call cap
 *   salesforce_describe.c  describe parsing and spec validation
 *   salesforce_values.c    canonical text -> Salesforce JSON / CSV values, Ids
 *   salesforce_csv.c       CSV fields written, result CSVs read (salesforce_csv.h)
 *   salesforce_rest.c      sObject Collections
 *   salesforce_bulk.c      Bulk API 2.0 ingest
 *   salesforce_delete.c    spec.deletes: Collections DELETE / PATCH by Id,
 *                          or a Bulk delete / update-by-Id job
 *   salesforce.c           the eng_dest_ops vtable */
#ifndef ENG_DEST_SALESFORCE_INT_H
#define ENG_DEST_SALESFORCE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/retry.h"
#include "common/spec.h"
#include "engine/dest/dest.h"
#include "engine/dest/salesforce_csv.h"
#include "engine/base/secrets.h"

#define SF_DEFAULT_API_VERSION "62.0"
#define SF_COLLECTION_MAX 200
#define SF_DEFAULT_BULK_THRESHOLD 2000
#define SF_DEFAULT_BULK_BATCH 100000
#define SF_DEFAULT_CONCURRENCY 4
#define SF_MAX_CONCURRENCY 16
/* Salesforce recommends at most 100 MB of raw CSV per job. */
#define SF_BULK_MAX_CSV (100u * 1024 * 1024)
/* First poll of a Bulk job: after the base pause plus this many microseconds
 * per record, about the pace of the fastest server (salesforce-sim on a
 * small machine). */
#define SF_BULK_POLL_ROW_US 7

extern const struct eng_dest_ops eng_dest_salesforce;

/* ---- authentication (salesforce_auth.c) ---- */

enum sf_flow { SF_FLOW_JWT, SF_FLOW_REFRESH, SF_FLOW_PASSWORD, SF_FLOW_CLIENT };

struct sf_auth {
    enum sf_flow flow;
    char *token_url;     /* owned: {loginUrl}/services/oauth2/token */
    char *audience;      /* owned: JWT aud */
    char *client_id;     /* owned */
    char *client_secret; /* owned or NULL */
    char *private_key;   /* owned PEM or NULL */
    char *username;      /* owned or NULL */
    char *password;      /* owned or NULL */
    char *refresh_token; /* owned or NULL */
};

/* Reads the flow and its credentials from the destination secret, registering
 * every credential with the log redactor. CONFIG names the missing keys.
 * Ownership: the caller releases a with sf_auth_free. */
retl_err sf_auth_from_secret(const struct eng_secrets *sec, struct sf_auth *a,
                             struct retl_errbuf *eb);
void sf_auth_free(struct sf_auth *a);
/* The JWT audience for a login URL: https://login.salesforce.com or
 * https://test.salesforce.com for Salesforce hosts, else the URL itself.
 * Ownership: caller frees. */
char *sf_jwt_audience(const char *login_url);
/* A signed RS256 JWT bearer assertion for iss/sub/aud with exp = now + 180 s.
 * Ownership: caller frees *out. */
retl_err sf_jwt_assertion(const char *pem_key, const char *iss, const char *sub,
                          const char *aud, long long now, char **out,
                          struct retl_errbuf *eb);
/* The form body of the token request for the configured flow. Ownership:
 * caller frees *out. */
retl_err sf_token_body(const struct sf_auth *a, long long now, char **out,
                       struct retl_errbuf *eb);
/* Parses a token endpoint answer: on 200 the access token and instance URL
 * (both owned by the caller); otherwise AUTH with the OAuth error and
 * error_description verbatim. */
retl_err sf_token_parse(long status, const char *body, char **token, char **instance_url,
                        struct retl_errbuf *eb);

/* ---- transport (salesforce_http.c) ---- */

struct sf_conn;

struct sf_call {
    /* in */
    const char *method;       /* GET POST PATCH PUT DELETE */
    char *url;                /* owned by the call (freed by sf_call_clear) */
    const char *content_type; /* NULL = application/json when there is a body */
    const char *body;         /* borrowed */
    size_t body_len;
    bool idempotent; /* safe to resend after a transport error */
    bool no_auth;    /* token endpoint: no bearer, no re-login */
    size_t max_body; /* response cap; 0 = 64 MiB */
    /* out */
    long status;
    struct retl_buf resp; /* owned; NUL-terminated */
    int attempts;
    /* transport bookkeeping */
    struct sf_conn *owner;
    int state; /* 0 pending, 1 running, 2 done */
    int relogins;
    long long not_before_ms;
    unsigned token_gen;
    void *easy;
    struct curl_slist *hdrs;
};

/* Frees what a call owns (url, response). */
void sf_call_clear(struct sf_call *c);

struct sf_conn {
    void *multi; /* CURLM */
    struct sf_auth auth;
    char *token;        /* owned */
    char *instance_url; /* owned */
    char *api_version;  /* owned, "62.0" */
    char *ca_pem;       /* owned or NULL: extra trust anchor for tests */
    unsigned token_gen;
    int logins;
    int max_parallel;
    struct retl_retry retry; /* tries and backoff (equal jitter) */
    unsigned seed;           /* of the jitter */
    long timeout_ms;
    long long api_calls;     /* requests sent to /services/data */
    long long max_api_calls; /* cap per run; 0 = none */
    long long usage_used;    /* last Sforce-Limit-Info api-usage */
    long long usage_max;
    bool have_usage;
    int retries; /* backoff retries performed */
};

/* Sets up the transport (no network). Ownership: sf_conn_free. */
retl_err sf_conn_init(struct sf_conn *c, struct retl_errbuf *eb);
void sf_conn_free(struct sf_conn *c);
/* Authenticates with the configured flow; replaces the token. */
retl_err sf_login(struct sf_conn *c, struct retl_errbuf *eb);
/* "{instance}/services/data/v{ver}{path}". Ownership: caller frees. */
char *sf_data_url(const struct sf_conn *c, const char *path);
/* Runs calls with at most c->max_parallel in flight, re-logging in once per
 * call on 401 and backing off on 5xx and REQUEST_LIMIT_EXCEEDED. Every HTTP
 * status is a result (calls[i].status); transport failures, the call cap
 * (LIMIT) and an exhausted daily limit (LIMIT) are errors. */
retl_err sf_http_run(struct sf_conn *c, struct sf_call *calls, size_t n,
                     struct retl_errbuf *eb);
/* One call. Same contract as sf_http_run. */
retl_err sf_http_one(struct sf_conn *c, struct sf_call *call, struct retl_errbuf *eb);
/* Parses "api-usage=25103/1000000[; per-app...]". */
bool sf_parse_limit_info(const char *v, long long *used, long long *max);
/* Fails with LIMIT when n more API calls would pass the per-run cap. */
retl_err sf_reserve_calls(const struct sf_conn *c, long long n, struct retl_errbuf *eb);
/* The first errorCode/message of a REST error array body ("" when absent).
 * Pointers borrow from j. */
void sf_rest_error(const json_t *j, const char **code, const char **msg);
/* Formats a failed call for an error message: "HTTP 404 NOT_FOUND: ...". */
retl_err sf_call_fail(const struct sf_call *c, const char *what, struct retl_errbuf *eb);

/* ---- describe (salesforce_describe.c) ---- */

enum sf_ftype {
    SF_F_STRING, /* string-like: string, textarea, email, phone, url,
                    picklist, multipicklist, combobox, encryptedstring */
    SF_F_ID,     /* id, reference */
    SF_F_BOOL,
    SF_F_INT,
    SF_F_DOUBLE, /* double, currency, percent, long */
    SF_F_DATE,
    SF_F_DATETIME,
    SF_F_TIME,
    SF_F_BASE64,
    SF_F_OTHER,
};

struct sf_field {
    char *name; /* owned: API name as describe spells it */
    enum sf_ftype type;
    char *type_name; /* owned: describe's type */
    long length;
    int precision, scale, digits;
    bool nillable, createable, updateable, defaulted, external_id, id_lookup;
    char *reference_to;      /* owned: reference fields' targets, "A,B"; or NULL */
    char *relationship_name; /* owned: reference fields' relationship, or NULL */
};

struct sf_describe {
    char *object;            /* owned: describe's name */
    struct sf_field *fields; /* owned */
    size_t n_fields;
};

/* Parses a describe body. Ownership: sf_describe_free. */
retl_err sf_describe_parse(const char *body, struct sf_describe *d,
                           struct retl_errbuf *eb);
void sf_describe_free(struct sf_describe *d);
/* Case-insensitive lookup; NULL when absent. */
const struct sf_field *sf_describe_field(const struct sf_describe *d, const char *name);
/* Validates the columns for mode against the describe: every problem goes into
 * probs with the spec path (spec.mappings[i].destination, spec.key.destination,
 * spec.mappings). Resolves each column to its field in fields_out (ncols
 * entries, NULL for a column without destination). */
void sf_validate(const struct sf_describe *d, const struct retl_job *job,
                 const struct eng_col *cols, size_t ncols,
                 const struct sf_field **fields_out, struct retl_problems *probs);
/* Adds externalIdFields and requiredFields to info. */
void sf_describe_info(const struct sf_describe *d, json_t *info);
/* Checks a lookup column (cols[i].lookup_object / lookup_field) against the
 * child's field f and the parent's describe: f is a reference to the parent
 * object and the field is an external id (or idLookup) there. */
void sf_validate_lookup(const struct retl_job *job, const struct eng_col *c,
                        const struct sf_field *f, const struct sf_describe *parent,
                        struct retl_problems *probs);

/* ---- values (salesforce_values.c) ---- */

/* 15-char Id -> 18 (or an 18-char Id checked and returned as given with a
 * recomputed suffix). out holds 19 bytes. false when malformed. */
bool sf_id18(const char *in, char out[19]);

/* A row-level problem found without an API call. */
struct sf_verr {
    const char *code;
    const char *field; /* the field's API name (borrowed from describe) */
    char message[512];
};

enum sf_vfmt { SF_VAL_JSON, SF_VAL_CSV, SF_VAL_RAW };

/* Converts one canonical value (v; NULL = SQL NULL) of source type st into the
 * Salesforce form for field f, appended to out: JSON (quoted string, number,
 * true/false, null), one CSV field (quoted as needed; NULL becomes "#N/A") or
 * the raw CSV text before quoting.
 * Returns false with err filled when the value cannot be sent (too long,
 * wrong type). */
bool sf_value_append(struct retl_buf *out, enum sf_vfmt fmt, const struct sf_field *f,
                     enum eng_type st, const char *v, struct sf_verr *err);
/* Appends s as a JSON string literal. */
retl_err sf_json_str(struct retl_buf *out, const char *s, size_t n);
/* Splits a Bulk sf__Error "CODE:message:fields --" into its parts (each owned
 * by the caller; fields NULL when empty). */
void sf_bulk_error_split(const char *s, char **code, char **message, char **fields);

/* ---- loading (salesforce_rest.c, salesforce_bulk.c) ---- */

/* What a load needs besides the batch. */
struct sf_load {
    struct sf_conn *conn;
    const char *object; /* describe's object name */
    enum retl_mode mode;
    const char *ext_id; /* Upsert: the external id field; else NULL */
    const char
        *bulk_op; /* Bulk job operation instead of the mode's ("delete"); or NULL */
    const struct sf_field *const *fields; /* per column of the batch */
    long long poll_base_ms;
    long long poll_max_ms;
    long long poll_timeout_ms;
    long long poll_row_us;  /* first poll of a job: base + this per record */
    double bulk_ms_per_row; /* in/out: the pace of the run's last job; 0 = none */
    int bulk_jobs;          /* out: jobs run */
};

/* Sets results[i] to a row failure (strings copied). */
void sf_result_fail(struct eng_row_result *r, const char *code, const char *message,
                    const char *fields);
void sf_result_ok(struct eng_row_result *r, const char *id, bool created);

/* Converts row i of b into a JSON record for collections ({"attributes":...,
 * ...}); false with err set on a value problem. */
bool sf_rest_record(struct retl_buf *out, const struct sf_load *L,
                    const struct eng_batch *b, size_t i, struct sf_verr *err);
/* Parses one collections response (the array for rows idx[0..n)) into
 * results. A request-level error array marks every row failed with its code.
 * A malformed answer is DEST (outcome unknown). */
retl_err sf_rest_parse_results(const struct sf_load *L, long status, const char *body,
                               const size_t *idx, size_t n,
                               struct eng_row_result *results, struct retl_errbuf *eb);
/* Sends rows[0..n) of b over Collections; rows failing with
 * UNABLE_TO_LOCK_ROW are sent again, for rounds tries in all. rows is reused
 * as scratch. */
retl_err sf_rest_rows(struct sf_load *L, const struct eng_batch *b, size_t *rows,
                      size_t n, int rounds, struct eng_row_result *results,
                      struct retl_errbuf *eb);
retl_err sf_rest_load(struct sf_load *L, const struct eng_batch *b,
                      struct eng_row_result *results, struct retl_errbuf *eb);

/* Builds the CSV of rows idx[0..n) (header from the fields). Rows whose values
 * cannot be sent are failed in results and left out; the others are listed in
 * sent (room for n) and counted in *nsent. */
retl_err sf_bulk_csv(const struct sf_load *L, const struct eng_batch *b,
                     const size_t *idx, size_t n, struct retl_buf *csv,
                     struct eng_row_result *results, size_t *sent, size_t *nsent,
                     struct retl_errbuf *eb);
/* Applies a successfulResults / failedResults / unprocessedrecords CSV to the
 * rows idx[0..n), matching each result line to its row by the key column (or
 * by all columns when the job has no key field). kind: 's', 'f' or 'u'.
 * done[k] marks rows already answered. */
retl_err sf_bulk_apply(const struct sf_load *L, const struct eng_batch *b,
                       const size_t *idx, size_t n, char kind, const char *csv,
                       size_t csv_len, struct eng_row_result *results, bool *done,
                       struct retl_errbuf *eb);
/* The pacing of one Bulk job's polls. */
struct sf_pacer {
    long long idle_t;    /* latest moment the job had processed nothing */
    long long prev_t;    /* latest poll that showed progress; 0 = none */
    long long prev_done; /* records processed then */
    long long wait;      /* the pause before the coming poll */
};
/* The pause from closing a job of n records to its first poll: when a job
 * this size is likely done. The run's previous job gives the pace; else the
 * base pause plus poll_row_us per record (about the fastest a server
 * processes; real Salesforce is slower, and there the first poll tells the
 * progress). Between the base pause and the maximum. */
long long sf_poll_first(const struct sf_load *L, long long n);
/* The pause after a poll at t that saw done_n of total records processed
 * (job not finished): backs off while nothing is processed, else aims just
 * past the end the progress predicts. Updates p. */
long long sf_poll_next(struct sf_pacer *p, const struct sf_load *L, long long t,
                       long long done_n, long long total);
retl_err sf_bulk_load(struct sf_load *L, const struct eng_batch *b,
                      struct eng_row_result *results, struct retl_errbuf *eb);
/* A batch of ENG_OP_DELETE or ENG_OP_CLEAR rows by the rows' record Ids
 * (looked up by the key's external id when unknown): over sObject
 * Collections, or with bulk one Bulk API 2.0 job (delete; Clear an update by
 * Id with #N/A) per 100 MB of CSV. */
retl_err sf_delete_load(struct sf_load *L, const struct eng_batch *b, bool bulk,
                        struct eng_row_result *results, struct retl_errbuf *eb);

#endif
