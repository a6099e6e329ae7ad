/* One HubSpot API call: the limiter, retries, error bodies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/json.h"
#include "common/log.h"
#include "common/retry.h"
#include "engine/dest/hubspot_int.h"

#define HS_WINDOW_MARGIN_MS 100
#define HS_RAW_MAX 300

static const char *const ep_names[HS_EP_N] = {"properties",    "batch/create",
                                              "batch/update",  "batch/upsert",
                                              "batch/archive", "batch/read"};

void hs_resp_clear(struct hs_resp *r)
{
    json_decref(r->body);
    free(r->raw);
    memset(r, 0, sizeof *r);
}

retl_err hs_conn_init(struct hs_conn *c, const char *base, const char *token,
                      const char *ca_pem, int nclients, double user_rps, long timeout_ms,
                      struct retl_errbuf *eb)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->daily = c->daily_remaining = -1;
    c->user_rps = user_rps;
    c->timeout_ms = timeout_ms;
    retl_secret_register(token);
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    c->base = strndup(base, bl);
    if (!c->base || asprintf(&c->auth, "Authorization: Bearer %s", token) < 0) {
        c->auth = NULL;
        return RETL_E_NOMEM;
    }
    if (ca_pem && !(c->ca_pem = strdup(ca_pem)))
        return RETL_E_NOMEM;
    /* A user cap (requests per second) is a window of N per second; HubSpot's
     * own limit comes with the first response. */
    long max = 0, interval = 10000;
    if (user_rps > 0) {
        max = user_rps < 1 ? 1 : (long)user_rps;
        interval = user_rps < 1 ? (long)(1000.0 / user_rps) : 1000;
    }
    retl_err e = eng_ratelimit_init(&c->rl, max, interval, HS_WINDOW_MARGIN_MS);
    if (e)
        return retl_errf(eb, e, "hubspot: cannot set up the rate limiter");
    c->rl_ready = true;
    c->clients = calloc((size_t)nclients, sizeof *c->clients);
    if (!c->clients)
        return RETL_E_NOMEM;
    c->nclients = nclients;
    struct retl_http_opts o = {.ca_pem = c->ca_pem,
                               .max_attempts = 1,
                               .timeout_ms = c->timeout_ms,
                               .max_body = 64u * 1024 * 1024};
    for (int i = 0; i < nclients; i++) {
        e = retl_http_client_new(&o, &c->clients[i], eb);
        if (e)
            return e;
    }
    return RETL_E_OK;
}

void hs_conn_free(struct hs_conn *c)
{
    if (!c)
        return;
    for (int i = 0; c->clients && i < c->nclients; i++)
        retl_http_client_free(c->clients[i]);
    free(c->clients);
    if (c->rl_ready)
        eng_ratelimit_free(&c->rl);
    free(c->base);
    free(c->auth);
    free(c->ca_pem);
    pthread_mutex_destroy(&c->mu);
    memset(c, 0, sizeof *c);
}

static long header_long(const struct retl_http_resp *r, const char *name)
{
    const char *v = retl_http_resp_header(r, name);
    if (!v || !*v)
        return -1;
    char *end;
    long n = strtol(v, &end, 10);
    return *end || n < 0 ? -1 : n;
}

/* Learns the limits a response reports. The window limit is only ever taken
 * from HubSpot when the user set no lower cap. */
static void learn_limits(struct hs_conn *c, const struct retl_http_resp *r)
{
    long max = header_long(r, "X-HubSpot-RateLimit-Max");
    long interval = header_long(r, "X-HubSpot-RateLimit-Interval-Milliseconds");
    long daily = header_long(r, "X-HubSpot-RateLimit-Daily");
    long left = header_long(r, "X-HubSpot-RateLimit-Daily-Remaining");
    long remaining = header_long(r, "X-HubSpot-RateLimit-Remaining");
    pthread_mutex_lock(&c->mu);
    if (daily >= 0)
        c->daily = daily;
    if (left >= 0)
        c->daily_remaining = left;
    bool change = max > 0 && max != c->window_max;
    if (change)
        c->window_max = max;
    pthread_mutex_unlock(&c->mu);
    if (interval <= 0)
        interval = 10000;
    double hs_rps = (double)max * 1000.0 / (double)interval;
    if (max <= 0 || (c->user_rps > 0 && c->user_rps < hs_rps))
        return;
    if (change && eng_ratelimit_set(&c->rl, max, interval) == RETL_E_OK)
        RETL_LOG_INFO("hubspot rate limit", RF_I("max", max),
                      RF_I("intervalMs", interval));
    if (remaining >= 0)
        eng_ratelimit_note_used(&c->rl, max - remaining);
}

static bool status_retryable(long s)
{
    return s == 423 || s == 477 || s == 500 || s == 502 || s == 503 || s == 504 ||
           s == 521 || s == 523 || s == 524;
}

/* Parses the body into resp (JSON, or the first bytes as raw text). */
static void take_body(struct hs_resp *out, const struct retl_http_resp *hr)
{
    const char *s = retl_buf_str(&hr->body);
    size_t n = hr->body.len;
    if (!n)
        return;
    json_error_t je;
    out->body = json_loadb(s, n, JSON_DECODE_ANY, &je);
    if (!out->body)
        out->raw = strndup(s, n < HS_RAW_MAX ? n : HS_RAW_MAX);
}

static void count_retry(struct hs_conn *c)
{
    pthread_mutex_lock(&c->mu);
    c->retried++;
    pthread_mutex_unlock(&c->mu);
}

/* A 429, whose answer is moved into resp. Returns LIMIT when the daily limit
 * is reached (the run stops), OK with *again set when the call is to be
 * retried after the window (every in-flight call waits: the window is
 * shared), OK with *again clear on the last attempt (resp is the answer). */
static retl_err rate_limited(struct hs_conn *c, enum hs_endpoint ep,
                             struct retl_http_resp *hr, long retry_after, int attempt,
                             bool last, struct hs_resp *resp, bool *again,
                             struct retl_errbuf *eb)
{
    *again = false;
    hs_resp_clear(resp);
    take_body(resp, hr);
    const char *policy = retl_json_str(resp->body, "policyName");
    if (policy && strcmp(policy, "DAILY") == 0) {
        char *t = hs_error_text(resp);
        retl_err rc = retl_errf(eb, RETL_E_LIMIT,
                                "HubSpot daily API limit reached (%s); the run stops and "
                                "the rest is sent next run",
                                t ? t : "429 DAILY");
        free(t);
        return rc;
    }
    pthread_mutex_lock(&c->mu);
    c->rate_limited++;
    long window = c->rl.interval_ms ? c->rl.interval_ms : 10000;
    pthread_mutex_unlock(&c->mu);
    if (last)
        return RETL_E_OK;
    long wait = retry_after >= 0 ? retry_after : window;
    RETL_LOG_WARN("hubspot rate limited (429), waiting", RF_S("endpoint", ep_names[ep]),
                  RF_S("policy", policy ? policy : ""), RF_I("waitMs", wait),
                  RF_I("attempt", attempt));
    eng_ratelimit_block(&c->rl, wait);
    *again = true;
    return RETL_E_OK;
}

/* The pause before retrying a 423 / 477 / 5xx answer: backoff, at least 2 s
 * for 423 (HubSpot's advice), at least what Retry-After says. */
static long status_delay(long status, long retry_after, int attempt)
{
    long d = retl_http_backoff_ms(status == 423 ? 2000 : 500, 15000, attempt,
                                  (double)rand() / RAND_MAX);
    if (status == 423 && d < 2000)
        d = 2000;
    return retry_after > d ? retry_after : d;
}

/* The final answer in resp; a 2xx whose body is not JSON leaves the batch's
 * outcome unknown, which fails it (resp cleared). */
static retl_err final_answer(enum hs_endpoint ep, const struct retl_http_resp *hr,
                             struct hs_resp *resp, struct retl_errbuf *eb)
{
    resp->status = hr->status;
    if (resp->status < 200 || resp->status >= 300 || !resp->raw)
        return RETL_E_OK;
    const char *ct = retl_http_resp_header(hr, "Content-Type");
    retl_err rc = retl_errf(
        eb, RETL_E_DEST,
        "HubSpot answered %ld to %s with a body that is not JSON (%s): %.200s; "
        "the batch's outcome is unknown, so nothing of it is recorded as synced",
        resp->status, ep_names[ep], ct ? ct : "no Content-Type", resp->raw);
    hs_resp_clear(resp);
    return rc;
}

retl_err hs_call(struct hs_conn *c, int client, enum hs_endpoint ep, const char *method,
                 const char *path, const char *body, bool idempotent,
                 struct hs_resp *resp, struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    char *url = NULL;
    memset(resp, 0, sizeof *resp);
    if (asprintf(&url, "%s%s", c->base, path) < 0)
        return RETL_E_NOMEM;
    const char *hdrs[] = {c->auth, "Content-Type: application/json",
                          "Accept: application/json", NULL};
    struct retl_http_req req = {.method = method,
                                .url = url,
                                .headers = hdrs,
                                .body = body,
                                .body_len = body ? strlen(body) : 0,
                                .no_retry = true};
    struct retl_http_resp hr = {0};
    for (int attempt = 1;; attempt++) {
        bool last = attempt >= HS_MAX_ATTEMPTS;
        eng_ratelimit_acquire(&c->rl);
        pthread_mutex_lock(&c->mu);
        c->calls[ep]++;
        pthread_mutex_unlock(&c->mu);
        rc = retl_http_do(c->clients[client], &req, &hr, eb);
        if (rc) {
            if (last || !idempotent)
                goto out;
            long d = retl_http_backoff_ms(500, 10000, attempt, (double)rand() / RAND_MAX);
            RETL_LOG_WARN("hubspot call failed, retrying", RF_S("endpoint", ep_names[ep]),
                          RF_S("error", eb ? eb->msg : ""), RF_I("attempt", attempt),
                          RF_I("delayMs", d));
            count_retry(c);
            retl_sleep_ms(d);
            continue;
        }
        learn_limits(c, &hr);
        long ra = retl_http_parse_retry_after(retl_http_resp_header(&hr, "Retry-After"),
                                              (long)time(NULL));
        if (hr.status == 429) {
            bool again;
            if ((rc = rate_limited(c, ep, &hr, ra, attempt, last, resp, &again, eb)))
                goto out;
            if (!again)
                break; /* the last attempt's answer is in resp */
            retl_http_resp_free(&hr);
            continue;
        }
        /* A 5xx may come after HubSpot created the records: a create is not
         * sent again (its rows fail as transient); 423 and 477 mean nothing
         * was done. */
        bool unprocessed = hr.status == 423 || hr.status == 477;
        if (status_retryable(hr.status) && !last && (idempotent || unprocessed)) {
            long d = status_delay(hr.status, ra, attempt);
            RETL_LOG_WARN("hubspot answered a retryable status, retrying",
                          RF_S("endpoint", ep_names[ep]), RF_I("status", hr.status),
                          RF_I("attempt", attempt), RF_I("delayMs", d));
            count_retry(c);
            retl_http_resp_free(&hr);
            retl_sleep_ms(d);
            continue;
        }
        hs_resp_clear(resp);
        take_body(resp, &hr);
        break;
    }
    rc = final_answer(ep, &hr, resp, eb);
out:
    retl_http_resp_free(&hr);
    free(url);
    return rc;
}

retl_err hs_auth_error(const struct hs_resp *r, struct retl_errbuf *eb)
{
    char *t = hs_error_text(r);
    retl_err e = retl_errf(eb, RETL_E_AUTH,
                           "HubSpot refused the access token (%s); check the secret's "
                           "accessToken and the private app's scopes",
                           t ? t : "");
    free(t);
    return e;
}

char *hs_error_text(const struct hs_resp *r)
{
    const char *cat = retl_json_str(r->body, "category");
    if (!cat)
        cat = retl_json_str(r->body, "policyName");
    const char *msg = retl_json_str(r->body, "message");
    char *out = NULL;
    int n;
    if (msg)
        n = asprintf(&out, "%ld %s: %s", r->status, cat ? cat : "error", msg);
    else if (r->raw)
        n = asprintf(&out, "%ld: %s", r->status, r->raw);
    else
        n = asprintf(&out, "HTTP %ld", r->status);
    return n < 0 ? NULL : out;
}

bool hs_code_transient(const char *code)
{
    static const char *const transient[] = {"RATE_LIMIT",
                                            "RATE_LIMITS",
                                            "TEN_SECONDLY_ROLLING",
                                            "LOCKED",
                                            "INTERNAL_ERROR",
                                            "TIMEOUT",
                                            "NO_RESULT",
                                            "SERVICE_UNAVAILABLE",
                                            "HTTP_423",
                                            "HTTP_429",
                                            "HTTP_477",
                                            "HTTP_5XX",
                                            "MIGRATION_IN_PROGRESS",
                                            NULL};
    if (!code)
        return false;
    for (const char *const *t = transient; *t; t++)
        if (strcmp(code, *t) == 0)
            return true;
    return strncmp(code, "HTTP_5", 6) == 0;
}
