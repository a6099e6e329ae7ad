/* The generic HTTP destination (type "http", DESIGN §8.2): each batch is one
 * POST of JSON to the secret's url,
 *   {"job": "ns/name", "run": N, "operation": "upsert|insert|update|delete",
 *    "records": [{"key": "...", "fields": {...}}]}
 * (spec.deletes: Delete sends "delete" with {"key"} records, Clear "update"
 * with every mapped field null)
 * with an optional bearer token, an HMAC-SHA256 signature of the body
 * (X-Retl-Signature: sha256=<hex>) and extra headers. A 2xx accepts every
 * record unless the body is {"results": [{"key": "...", "error": "..."}]},
 * which fails those keys alone. 429 and 5xx are retried with backoff
 * (Retry-After honoured), then the batch's rows fail as transient; other 4xx
 * fail them as permanent. A transport failure or timeout fails the run
 * (nothing of the batch is recorded as synced).
 *
 * Secret keys: url, bearerToken, hmacSecret, headers (a JSON object), caCert.
 * spec.destination.rateLimit.requestsPerSecond caps the request rate.
 * Tunables from the environment: RETL_HTTP_TIMEOUT_S (default 30),
 * RETL_HTTP_ATTEMPTS (default 5). */
#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/http.h"
#include "common/json.h"
#include "common/env.h"
#include "common/log.h"
#include "common/retry.h"
#include "engine/dest/dest.h"
#include "engine/dest/http_int.h"
#include "engine/dest/ratelimit.h"
#include "engine/base/secrets.h"

#define HTTP_MAX_HEADERS 32
#define HTTP_RAW_MAX 200

struct http_ctx {
    const struct retl_job *job; /* borrowed */
    char *url;                  /* owned */
    char *secret;               /* owned hmac secret or NULL */
    char **hdrs;                /* owned, NULL-terminated "Name: value" list */
    size_t nhdrs;
    struct retl_http_client *client;
    struct eng_ratelimit rl;
    bool rl_ready;
    int attempts;
    long long requests, retried, rate_limited;
};

static void http_close(void *vctx)
{
    struct http_ctx *x = vctx;
    if (!x)
        return;
    retl_http_client_free(x->client);
    if (x->rl_ready)
        eng_ratelimit_free(&x->rl);
    for (size_t i = 0; i < x->nhdrs; i++)
        free(x->hdrs[i]);
    free(x->hdrs);
    free(x->url);
    free(x->secret);
    free(x);
}

static retl_err add_header(struct http_ctx *x, const char *name, const char *value)
{
    if (x->nhdrs + 1 >= HTTP_MAX_HEADERS)
        return RETL_E_TOO_BIG;
    char *h = NULL;
    if (asprintf(&h, "%s: %s", name, value) < 0)
        return RETL_E_NOMEM;
    x->hdrs[x->nhdrs++] = h;
    return RETL_E_OK;
}

static bool header_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    return true;
}

static retl_err http_open(const struct retl_job *job, const struct eng_secrets *sec,
                          void **ctx, struct retl_errbuf *eb)
{
    const char *sname = sec && sec->name ? sec->name : "(destination secret)";
    const char *url = eng_secret_get(sec, "url");
    const char *bearer = NULL;
    const char *hmac = eng_secret_get(sec, "hmacSecret");
    const char *headers = eng_secret_get(sec, "headers");
    const char *ca = eng_secret_get(sec, "caCert");
    json_t *hj = NULL;
    retl_err e = eng_secret_get_line(sec, "bearerToken", &bearer, eb);
    if (e)
        return e;
    if (!url || !*url)
        return retl_errf(eb, RETL_E_CONFIG, "secret %s: url is required", sname);
    bool plain = strncmp(url, "http://", 7) == 0;
    if (!plain && strncmp(url, "https://", 8) != 0)
        return retl_errf(eb, RETL_E_CONFIG,
                         "secret %s: url must start with https:// (or http:// for an "
                         "in-cluster receiver)",
                         sname);
    char red[512];
    if (plain)
        RETL_LOG_WARN("http destination url is plain http: records travel unencrypted",
                      RF_S("url", retl_redact_url(url, red, sizeof red)));
    struct http_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return RETL_E_NOMEM;
    x->job = job;
    x->hdrs = calloc(HTTP_MAX_HEADERS, sizeof *x->hdrs);
    x->url = strdup(url);
    if (!x->hdrs || !x->url) {
        e = RETL_E_NOMEM;
        goto out;
    }
    if (hmac && *hmac) {
        retl_secret_register(hmac);
        if (!(x->secret = strdup(hmac))) {
            e = RETL_E_NOMEM;
            goto out;
        }
    }
    if ((e = add_header(x, "Content-Type", "application/json")))
        goto out;
    if (bearer && *bearer) {
        retl_secret_register(bearer);
        char *v = NULL;
        if (asprintf(&v, "Bearer %s", bearer) < 0) {
            e = RETL_E_NOMEM;
            goto out;
        }
        e = add_header(x, "Authorization", v);
        free(v);
        if (e)
            goto out;
    }
    if (headers && *headers) {
        json_error_t je;
        hj = json_loads(headers, 0, &je);
        if (!json_is_object(hj)) {
            e = retl_errf(eb, RETL_E_CONFIG,
                          "secret %s: headers must be a JSON object of strings, like "
                          "{\"X-Api-Key\": \"...\"}%s%s",
                          sname, hj ? "" : ": ", hj ? "" : je.text);
            goto out;
        }
        const char *k;
        json_t *v;
        json_object_foreach (hj, k, v) {
            const char *s = json_string_value(v);
            if (!s || !header_token(k) || strpbrk(s, "\r\n")) {
                e = retl_errf(eb, RETL_E_CONFIG,
                              "secret %s: headers.%s: must be a header name with a "
                              "one-line string value",
                              sname, k);
                goto out;
            }
            retl_secret_register(s);
            if ((e = add_header(x, k, s))) {
                e = retl_errf(eb, e, "secret %s: headers: at most %d", sname,
                              HTTP_MAX_HEADERS - 3);
                goto out;
            }
        }
    }
    struct retl_http_opts o = {
        .ca_pem = ca && *ca ? ca : NULL,
        .max_attempts = 1,
        .timeout_ms = retl_env_num("RETL_HTTP_TIMEOUT_S", 30, 1, 3600) * 1000};
    if ((e = retl_http_client_new(&o, &x->client, eb)))
        goto out;
    double rps = job->destination.rate_limit_rps;
    long max = rps > 0 ? (rps < 1 ? 1 : (long)rps) : 0;
    long interval = rps > 0 && rps < 1 ? (long)(1000.0 / rps) : 1000;
    if ((e = eng_ratelimit_init(&x->rl, max, interval, 0)))
        goto out;
    x->rl_ready = true;
    x->attempts = (int)retl_env_num("RETL_HTTP_ATTEMPTS", 5, 1, 20);
out:
    json_decref(hj);
    if (e) {
        http_close(x);
        return e;
    }
    *ctx = x;
    return RETL_E_OK;
}

static retl_err http_prepare(void *vctx, const struct eng_col *cols, size_t ncols,
                             json_t *info, struct retl_errbuf *eb)
{
    struct http_ctx *x = vctx;
    if (info) {
        char red[512];
        json_object_set_new(info, "url",
                            json_string(retl_redact_url(x->url, red, sizeof red)));
        json_object_set_new(info, "signed", json_boolean(x->secret != NULL));
    }
    return RETL_E_OK;
}

/* A field's JSON value: numbers and booleans typed, JSON parsed, the rest
 * as text. NULL stays null. */
static json_t *field_value(enum eng_type t, const char *v)
{
    if (!v)
        return json_null();
    char *end;
    switch (t) {
    case ENG_T_INT: {
        long long n = strtoll(v, &end, 10);
        if (!*end)
            return json_integer(n);
        break;
    }
    case ENG_T_NUMERIC: {
        double d = strtod(v, &end);
        size_t digits = 0;
        for (const char *p = v; *p && *p != 'e' && *p != 'E'; p++)
            digits += isdigit((unsigned char)*p) != 0;
        if (!*end && isfinite(d) && digits <= 15)
            return json_real(d);
        break; /* beyond double precision: keep every digit as text */
    }
    case ENG_T_BOOL: return json_boolean(strcmp(v, "true") == 0);
    case ENG_T_JSON: {
        json_error_t je;
        json_t *j = json_loads(v, JSON_DECODE_ANY, &je);
        if (j)
            return j;
        break;
    }
    default: break;
    }
    return json_string(v);
}

/* True when the mapping to dest says nulls: Skip (a NULL is left out). */
static bool skips(const struct retl_job *job, const char *dest)
{
    for (size_t k = 0; k < job->n_mappings; k++)
        if (strcmp(job->mappings[k].destination, dest) == 0)
            return job->mappings[k].nulls == RETL_NULLS_SKIP;
    return false;
}

char *http_batch_body(const struct retl_job *job, const struct eng_batch *b)
{
    json_t *root = json_object();
    json_t *recs = json_array();
    char *jobname = NULL;
    char *out = NULL;
    if (!root || !recs || asprintf(&jobname, "%s/%s", job->namespace, job->name) < 0) {
        json_decref(root);
        json_decref(recs);
        return NULL;
    }
    json_object_set_new(root, "job", json_string(jobname));
    json_object_set_new(root, "run", json_integer(b->run));
    /* spec.deletes: Delete sends the keys alone, Clear an update nulling
     * every mapped field. */
    bool del = b->op == ENG_OP_DELETE, clear = b->op == ENG_OP_CLEAR;
    const char *op = del                                      ? "delete"
                     : clear || job->mode == RETL_MODE_UPDATE ? "update"
                     : job->mode == RETL_MODE_INSERT          ? "insert"
                                                              : "upsert";
    json_object_set_new(root, "operation", json_string(op));
    json_object_set_new(root, "records", recs);
    for (size_t i = 0; i < b->nrows; i++) {
        json_t *r = json_object();
        json_t *f = json_object();
        json_t *k = json_string(b->rows[i].key);
        if (!r || !f || !k) {
            json_decref(r);
            json_decref(f);
            json_decref(k);
            goto out;
        }
        json_object_set_new(r, "key", k);
        if (del) {
            json_decref(f);
            json_array_append_new(recs, r);
            continue;
        }
        for (size_t j = 0; j < b->ncols; j++) {
            if (clear && !b->cols[j].is_key) {
                json_object_set_new(f, b->cols[j].destination, json_null());
                continue;
            }
            if (b->cols[j].is_key ||
                (!b->rows[i].vals[j] && skips(job, b->cols[j].destination)))
                continue;
            json_t *v = field_value(b->cols[j].type, b->rows[i].vals[j]);
            if (!v) /* text that is not UTF-8: base64 would change meaning; say so */
                v = json_string("<not UTF-8>");
            json_object_set_new(f, b->cols[j].destination, v);
        }
        json_object_set_new(r, "fields", f);
        json_array_append_new(recs, r);
    }
    out = json_dumps(root, JSON_COMPACT);
out:
    free(jobname);
    json_decref(root);
    return out;
}

retl_err http_signature(const char *secret, const char *body, size_t len, char out[72])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len,
              mac, &n))
        return RETL_E_INTERNAL;
    memcpy(out, "sha256=", 7);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
    return RETL_E_OK;
}

static void fail_row(struct eng_row_result *r, const char *code, const char *msg)
{
    free(r->code);
    free(r->message);
    r->ok = false;
    r->code = strdup(code);
    r->cls = http_code_class(code);
    r->message = strdup(msg ? msg : "");
}

void http_apply_answer(const struct eng_batch *b, long status, const char *body,
                       struct eng_row_result *results)
{
    /* The receiver does not say; a key never synced before counts as new. */
    for (size_t i = 0; i < b->nrows; i++)
        results[i] = (struct eng_row_result){.ok = true, .created = b->new_keys};
    json_error_t je;
    json_t *j = body && *body ? json_loads(body, 0, &je) : NULL;
    json_t *res = json_object_get(j, "results");
    if (json_is_array(res)) {
        size_t k;
        json_t *it;
        json_array_foreach (res, k, it) {
            const char *key = retl_json_str(it, "key");
            const char *err = retl_json_str(it, "error");
            if (!key || !err)
                continue;
            for (size_t i = 0; i < b->nrows; i++)
                if (results[i].ok && strcmp(b->rows[i].key, key) == 0)
                    fail_row(&results[i], "REJECTED", err);
        }
    } else if (res) {
        for (size_t i = 0; i < b->nrows; i++)
            fail_row(&results[i], "BAD_RESPONSE",
                     "the receiver's \"results\" is not an array of {key, error}");
    }
    (void)status;
    json_decref(j);
}

enum eng_fail_class http_code_class(const char *code)
{
    /* A 4xx other than 429 (401/403 fail the run) is the receiver refusing
     * the records: it repeats until they change (DESIGN.md 8.2). */
    if (code && !http_code_transient(code) && !strncmp(code, "HTTP_4", 6))
        return ENG_FAIL_PERMANENT;
    return ENG_FAIL_BY_CODE;
}

bool http_code_transient(const char *code)
{
    return code && (strcmp(code, "HTTP_429") == 0 || strncmp(code, "HTTP_5", 6) == 0 ||
                    strcmp(code, "BAD_RESPONSE") == 0);
}

static retl_err http_load(void *vctx, const struct eng_batch *b,
                          struct eng_row_result *results, struct retl_errbuf *eb)
{
    struct http_ctx *x = vctx;
    memset(results, 0, b->nrows * sizeof *results);
    if (!b->nrows)
        return RETL_E_OK;
    retl_err e = RETL_E_OK;
    char *body = http_batch_body(x->job, b);
    char sig[80];
    char *sighdr = NULL;
    struct retl_http_resp resp = {0};
    char red[512];
    retl_redact_url(x->url, red, sizeof red);
    if (!body)
        return RETL_E_NOMEM;
    size_t len = strlen(body);
    if (x->secret) {
        if ((e = http_signature(x->secret, body, len, sig)) ||
            asprintf(&sighdr, "X-Retl-Signature: %s", sig) < 0) {
            e = e ? e : RETL_E_NOMEM;
            goto out;
        }
        x->hdrs[x->nhdrs] = sighdr;
    }
    struct retl_http_req req = {.method = "POST",
                                .url = x->url,
                                .headers = (const char *const *)x->hdrs,
                                .body = body,
                                .body_len = len,
                                .no_retry = true};
    for (int attempt = 1;; attempt++) {
        eng_ratelimit_acquire(&x->rl);
        x->requests++;
        e = retl_http_do(x->client, &req, &resp, eb);
        if (e) {
            e = retl_err_wrap(
                eb, e,
                "http destination: the batch's outcome is unknown, nothing of "
                "it is recorded as synced");
            goto out;
        }
        bool retry = resp.status == 429 || resp.status >= 500;
        if (!retry || attempt >= x->attempts)
            break;
        long d = retl_http_backoff_ms(500, 30000, attempt, (double)rand() / RAND_MAX);
        long ra = retl_http_parse_retry_after(retl_http_resp_header(&resp, "Retry-After"),
                                              (long)time(NULL));
        if (ra > d)
            d = ra;
        if (resp.status == 429)
            x->rate_limited++;
        x->retried++;
        RETL_LOG_WARN("http destination answered a retryable status, retrying",
                      RF_S("url", red), RF_I("status", resp.status),
                      RF_I("attempt", attempt), RF_I("delayMs", d));
        retl_http_resp_free(&resp);
        retl_sleep_ms(d);
    }
    long s = resp.status;
    const char *txt = retl_buf_str(&resp.body);
    if (s >= 200 && s < 300) {
        http_apply_answer(b, s, txt, results);
    } else if (s == 401 || s == 403) {
        e = retl_errf(eb, RETL_E_AUTH,
                      "http destination %s answered %ld (%.*s): check the secret's "
                      "bearerToken, hmacSecret and headers",
                      red, s, HTTP_RAW_MAX, txt);
    } else {
        char code[32];
        char msg[400];
        snprintf(code, sizeof code, "HTTP_%ld", s);
        snprintf(msg, sizeof msg, "%s answered %ld%s: %.*s", red, s,
                 s == 429 || s >= 500 ? " after retries" : "", HTTP_RAW_MAX, txt);
        for (size_t i = 0; i < b->nrows; i++)
            fail_row(&results[i], code, msg);
    }
    if (!e) {
        size_t bad = 0;
        for (size_t i = 0; i < b->nrows; i++)
            bad += !results[i].ok;
        RETL_LOG_INFO("http batch sent", RF_I("rows", b->nrows), RF_I("failed", bad),
                      RF_I("status", s), RF_I("attempts", resp.attempts));
    }
out:
    if (sighdr)
        x->hdrs[x->nhdrs] = NULL;
    free(sighdr);
    free(body);
    retl_http_resp_free(&resp);
    return e;
}

static void http_summary(void *vctx, json_t *summary)
{
    struct http_ctx *x = vctx;
    json_object_set_new(summary, "requests", json_integer(x->requests));
    if (x->retried)
        json_object_set_new(summary, "retried", json_integer(x->retried));
    if (x->rate_limited)
        json_object_set_new(summary, "rateLimited", json_integer(x->rate_limited));
}

const struct eng_dest_ops eng_dest_http = {
    .type = "http",
    .open = http_open,
    .prepare = http_prepare,
    .load = http_load,
    .summary = http_summary,
    .close = http_close,
    .can_delete = true,
    .can_clear = true,
};

ENG_DEST_REGISTER(eng_dest_http);
