/* Transport for the Salesforce destination: libcurl multi with a bounded
 * number of requests in flight. It is Salesforce-aware where common/http.c is
 * generic: every attempt counts against the per-run API call cap, the
 * Sforce-Limit-Info header is tracked on every answer, a 401 re-logs in once
 * per request (one login for all requests sent with the expired token), and
 * 403 REQUEST_LIMIT_EXCEEDED is backed off unless the daily allowance is
 * spent. */
#include "engine/dest/salesforce_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"

#define SF_DEFAULT_MAX_BODY (64u * 1024 * 1024)

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long backoff_ms(struct sf_conn *c, int attempt)
{
    return retl_retry_backoff_ms(&c->retry, attempt, retl_retry_rand(&c->seed));
}

void sf_call_clear(struct sf_call *c)
{
    free(c->url);
    c->url = NULL;
    retl_buf_free(&c->resp);
    if (c->easy)
        curl_easy_cleanup(c->easy);
    c->easy = NULL;
    curl_slist_free_all(c->hdrs);
    c->hdrs = NULL;
}

retl_err sf_conn_init(struct sf_conn *c, struct retl_errbuf *eb)
{
    memset(c, 0, sizeof *c);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return retl_errf(eb, RETL_E_INTERNAL, "libcurl initialisation failed");
    c->multi = curl_multi_init();
    if (!c->multi)
        return RETL_E_NOMEM;
    c->max_parallel = SF_DEFAULT_CONCURRENCY;
    /* Equal jitter: never less than half the step, so a busy server gets a
     * real pause. */
    c->retry = (struct retl_retry){
        .max_attempts = 5, .base_ms = 500, .max_ms = 20000, .jitter = RETL_JITTER_EQUAL};
    c->timeout_ms = 600000; /* Salesforce's own request timeout */
    c->seed = (unsigned)time(NULL) ^ (unsigned)(size_t)c;
    return RETL_E_OK;
}

void sf_conn_free(struct sf_conn *c)
{
    if (c->multi)
        curl_multi_cleanup(c->multi);
    sf_auth_free(&c->auth);
    free(c->token);
    free(c->instance_url);
    free(c->api_version);
    free(c->ca_pem);
    memset(c, 0, sizeof *c);
}

char *sf_data_url(const struct sf_conn *c, const char *path)
{
    char *u = NULL;
    if (asprintf(&u, "%s/services/data/v%s%s", c->instance_url,
                 c->api_version ? c->api_version : SF_DEFAULT_API_VERSION, path) < 0)
        return NULL;
    return u;
}

bool sf_parse_limit_info(const char *v, long long *used, long long *max)
{
    const char *p = v ? strstr(v, "api-usage=") : NULL;
    /* Skip "per-app-api-usage=" which also contains the name. */
    while (p && p > v && p[-1] == '-')
        p = strstr(p + 1, "api-usage=");
    if (!p)
        return false;
    char *end;
    long long u = strtoll(p + 10, &end, 10);
    if (end == p + 10 || *end != '/')
        return false;
    const char *m = end + 1;
    long long mx = strtoll(m, &end, 10);
    if (end == m)
        return false;
    *used = u;
    *max = mx;
    return true;
}

retl_err sf_reserve_calls(const struct sf_conn *c, long long n, struct retl_errbuf *eb)
{
    if (c->max_api_calls > 0 && c->api_calls + n > c->max_api_calls)
        return retl_errf(eb, RETL_E_LIMIT,
                         "Salesforce API call cap reached: %lld calls made, "
                         "%lld more needed, cap %lld per run (maxApiCalls / "
                         "RETL_SF_MAX_API_CALLS)",
                         c->api_calls, n, c->max_api_calls);
    return RETL_E_OK;
}

void sf_rest_error(const json_t *j, const char **code, const char **msg)
{
    *code = "";
    *msg = "";
    const json_t *e = json_is_array(j) ? json_array_get(j, 0) : j;
    if (!json_is_object(e))
        return;
    const char *s = json_string_value(json_object_get(e, "errorCode"));
    if (!s)
        s = json_string_value(json_object_get(e, "statusCode"));
    if (s)
        *code = s;
    s = json_string_value(json_object_get(e, "message"));
    if (s)
        *msg = s;
}

retl_err sf_call_fail(const struct sf_call *c, const char *what, struct retl_errbuf *eb)
{
    json_t *j = json_loadb(c->resp.data ? c->resp.data : "", c->resp.len, 0, NULL);
    const char *code, *msg;
    sf_rest_error(j, &code, &msg);
    retl_err e = RETL_E_DEST;
    if (c->status == 401)
        e = RETL_E_UNAUTHORIZED;
    else if (c->status == 403)
        e = strcmp(code, "REQUEST_LIMIT_EXCEEDED") ? RETL_E_FORBIDDEN : RETL_E_LIMIT;
    else if (c->status == 404)
        e = RETL_E_NOT_FOUND;
    else if (c->status >= 500)
        e = RETL_E_UNAVAILABLE;
    if (*code || *msg)
        retl_errf(eb, e, "%s: HTTP %ld %s: %s", what, c->status, code, msg);
    else {
        char shown[301];
        retl_redact_excerpt(retl_buf_str(&c->resp), shown, sizeof shown);
        retl_errf(eb, e, "%s: HTTP %ld: %s", what, c->status, shown);
    }
    json_decref(j);
    return e;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct sf_call *call = ud;
    if (retl_buf_add(&call->resp, p, sz * n))
        return 0;
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct sf_call *call = ud;
    size_t len = sz * n;
    static const char name[] = "sforce-limit-info:";
    if (len > sizeof name && !strncasecmp(p, name, sizeof name - 1)) {
        char v[256];
        size_t vl = len - (sizeof name - 1);
        if (vl >= sizeof v)
            vl = sizeof v - 1;
        memcpy(v, p + sizeof name - 1, vl);
        v[vl] = '\0';
        long long u, m;
        if (sf_parse_limit_info(v, &u, &m)) {
            call->owner->usage_used = u;
            call->owner->usage_max = m;
            call->owner->have_usage = true;
        }
    }
    return len;
}

/* Prepares a fresh easy handle for one attempt of call. */
static retl_err setup(struct sf_conn *c, struct sf_call *call, struct retl_errbuf *eb)
{
    if (call->easy)
        curl_easy_cleanup(call->easy);
    curl_slist_free_all(call->hdrs);
    call->hdrs = NULL;
    retl_buf_free(&call->resp);
    retl_buf_init(&call->resp, call->max_body ? call->max_body : SF_DEFAULT_MAX_BODY);
    call->owner = c;
    call->status = 0;
    CURL *h = curl_easy_init();
    if (!h)
        return RETL_E_NOMEM;
    call->easy = h;
    struct curl_slist *hl = NULL;
    char line[4096];
    if (!call->no_auth) {
        if (!c->token)
            return retl_errf(eb, RETL_E_AUTH, "not logged in to Salesforce");
        snprintf(line, sizeof line, "Authorization: Bearer %s", c->token);
        hl = curl_slist_append(hl, line);
        call->token_gen = c->token_gen;
    }
    if (call->body) {
        snprintf(line, sizeof line, "Content-Type: %s",
                 call->content_type ? call->content_type : "application/json");
        hl = curl_slist_append(hl, line);
    }
    hl = curl_slist_append(hl, "Expect:");
    if (!hl)
        return RETL_E_NOMEM;
    call->hdrs = hl;
    const char *m = call->method ? call->method : "GET";
    curl_easy_setopt(h, CURLOPT_URL, call->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "retl-salesforce/1");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(h, CURLOPT_PRIVATE, call);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->ca_pem) {
        struct curl_blob blob = {c->ca_pem, strlen(c->ca_pem), CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (call->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, call->body);
        if (strcmp(m, "POST"))
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
    }
    call->attempts++;
    return RETL_E_OK;
}

static bool is_limit_exceeded(const struct sf_call *call)
{
    if (call->status != 403)
        return false;
    return strstr(retl_buf_str(&call->resp), "REQUEST_LIMIT_EXCEEDED") != NULL;
}

retl_err sf_login(struct sf_conn *c, struct retl_errbuf *eb)
{
    char *body = NULL;
    retl_err e = sf_token_body(&c->auth, (long long)time(NULL), &body, eb);
    if (e)
        return e;
    struct sf_call call = {
        .method = "POST",
        .url = strdup(c->auth.token_url),
        .content_type = "application/x-www-form-urlencoded",
        .body = body,
        .body_len = strlen(body),
        .idempotent = true,
        .no_auth = true,
        .max_body = 1u << 20,
    };
    if (!call.url) {
        free(body);
        return RETL_E_NOMEM;
    }
    for (int attempt = 1;; attempt++) {
        e = setup(c, &call, eb);
        if (e)
            goto out;
        CURLcode cc = curl_easy_perform(call.easy);
        curl_easy_getinfo(call.easy, CURLINFO_RESPONSE_CODE, &call.status);
        bool retry = cc != CURLE_OK || call.status >= 500;
        if (!retry || attempt >= 3) {
            if (cc != CURLE_OK) {
                e = retl_errf(
                    eb, cc == CURLE_OPERATION_TIMEDOUT ? RETL_E_TIMEOUT : RETL_E_HTTP,
                    "Salesforce token request to %s: %s", c->auth.token_url,
                    curl_easy_strerror(cc));
                goto out;
            }
            break;
        }
        retl_sleep_ms(backoff_ms(c, attempt));
    }
    char *tok = NULL, *inst = NULL;
    e = sf_token_parse(call.status, retl_buf_str(&call.resp), &tok, &inst, eb);
    if (e)
        goto out;
    e = retl_secret_register(tok);
    if (e) {
        free(tok);
        free(inst);
        e = retl_errf(eb, e,
                      "salesforce: cannot register the access token for redaction");
        goto out;
    }
    free(c->token);
    free(c->instance_url);
    c->token = tok;
    size_t il = strlen(inst);
    while (il && inst[il - 1] == '/')
        inst[--il] = '\0';
    c->instance_url = inst;
    c->token_gen++;
    c->logins++;
    RETL_LOG_INFO("salesforce login", RF_S("instance", inst), RF_I("logins", c->logins));
out:
    sf_call_clear(&call);
    free(body);
    return e;
}

/* What to do with a finished attempt. */
enum verdict { V_DONE, V_RETRY, V_FATAL };

static enum verdict judge(struct sf_conn *c, struct sf_call *call, CURLcode cc,
                          retl_err *fe, struct retl_errbuf *eb)
{
    if (cc != CURLE_OK) {
        if (cc == CURLE_WRITE_ERROR) {
            *fe = retl_errf(eb, RETL_E_TOO_BIG, "%s %s: response larger than %zu bytes",
                            call->method, call->url, call->resp.max);
            return V_FATAL;
        }
        /* Resent when safe: an idempotent call, or a connection that never
         * carried the request. */
        bool unsent = cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
                      cc == CURLE_COULDNT_RESOLVE_PROXY;
        if ((call->idempotent || unsent) && retl_retry_more(&c->retry, call->attempts)) {
            RETL_LOG_WARN("salesforce request failed, retrying",
                          RF_S("error", curl_easy_strerror(cc)),
                          RF_I("attempt", call->attempts));
            return V_RETRY;
        }
        *fe = retl_errf(eb, cc == CURLE_OPERATION_TIMEDOUT ? RETL_E_TIMEOUT : RETL_E_HTTP,
                        "%s %s: %s", call->method ? call->method : "GET", call->url,
                        curl_easy_strerror(cc));
        return V_FATAL;
    }
    if (call->status == 401 && !call->no_auth) {
        if (call->relogins >= 1)
            return V_DONE;
        call->relogins++;
        if (call->token_gen == c->token_gen) {
            RETL_LOG_INFO("salesforce session expired, logging in again");
            retl_err e = sf_login(c, eb);
            if (e) {
                *fe = e;
                return V_FATAL;
            }
        }
        call->attempts--; /* the expired session is not the request's fault */
        return V_RETRY;
    }
    if (is_limit_exceeded(call)) {
        if (c->have_usage && c->usage_max > 0 && c->usage_used >= c->usage_max) {
            *fe = sf_call_fail(call, "Salesforce API request limit exhausted", eb);
            size_t l = strlen(eb->msg);
            snprintf(eb->msg + l, sizeof eb->msg - l, " (api-usage %lld/%lld)",
                     c->usage_used, c->usage_max);
            *fe = RETL_E_LIMIT;
            return V_FATAL;
        }
        if (retl_retry_more(&c->retry, call->attempts))
            return V_RETRY;
        *fe = sf_call_fail(call, "Salesforce request limit", eb);
        *fe = RETL_E_LIMIT;
        return V_FATAL;
    }
    /* A create (POST without an external id) that reached the server is
     * never sent twice: a 5xx does not prove nothing was written. */
    if (call->status >= 500 && retl_retry_more(&c->retry, call->attempts) &&
        call->idempotent) {
        RETL_LOG_WARN("salesforce server error, retrying", RF_I("status", call->status),
                      RF_S("url", call->url), RF_I("attempt", call->attempts));
        return V_RETRY;
    }
    return V_DONE;
}

retl_err sf_http_run(struct sf_conn *c, struct sf_call *calls, size_t n,
                     struct retl_errbuf *eb)
{
    retl_err fatal = RETL_E_OK;
    size_t done = 0, running = 0;
    for (size_t i = 0; i < n; i++) {
        calls[i].state = 0;
        calls[i].attempts = 0;
        calls[i].relogins = 0;
        calls[i].not_before_ms = 0;
    }
    while (done < n) {
        long long now = now_ms();
        long long wake = -1;
        /* Start what may start. */
        for (size_t i = 0; i < n && !fatal && running < (size_t)c->max_parallel; i++) {
            struct sf_call *call = &calls[i];
            if (call->state != 0)
                continue;
            if (call->not_before_ms > now) {
                if (wake < 0 || call->not_before_ms < wake)
                    wake = call->not_before_ms;
                continue;
            }
            if (!call->no_auth) {
                fatal = sf_reserve_calls(c, 1, eb);
                if (fatal)
                    break;
            }
            fatal = setup(c, call, eb);
            if (fatal)
                break;
            if (!call->no_auth)
                c->api_calls++;
            if (curl_multi_add_handle(c->multi, call->easy) != CURLM_OK) {
                fatal = retl_errf(eb, RETL_E_INTERNAL, "curl_multi_add_handle");
                break;
            }
            call->state = 1;
            running++;
        }
        if (fatal && running == 0)
            break;
        if (running == 0) {
            if (wake < 0)
                break;
            retl_sleep_ms((long)(wake - now_ms()));
            continue;
        }
        int still = 0;
        curl_multi_perform(c->multi, &still);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(c->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *h = msg->easy_handle;
            CURLcode cc = msg->data.result;
            struct sf_call *call = NULL;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&call);
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &call->status);
            curl_multi_remove_handle(c->multi, h);
            running--;
            retl_err fe = RETL_E_OK;
            struct retl_errbuf jeb = {{0}};
            enum verdict v = fatal ? V_DONE : judge(c, call, cc, &fe, &jeb);
            if (v == V_RETRY) {
                long d = call->status == 401 ? 0 : backoff_ms(c, call->attempts);
                call->not_before_ms = now_ms() + d;
                call->state = 0;
                if (d)
                    c->retries++;
                continue;
            }
            if (v == V_FATAL && !fatal) {
                fatal = fe;
                if (eb)
                    *eb = jeb;
            }
            call->state = 2;
            done++;
        }
        if (fatal && running == 0)
            break;
        if (running > 0) {
            int timeout = 1000;
            if (wake >= 0) {
                long long d = wake - now_ms();
                if (d < timeout)
                    timeout = d < 0 ? 0 : (int)d;
            }
            curl_multi_poll(c->multi, NULL, 0, timeout, NULL);
        }
    }
    /* Release the handles; responses stay with the calls. */
    for (size_t i = 0; i < n; i++) {
        if (calls[i].easy) {
            if (calls[i].state == 1)
                curl_multi_remove_handle(c->multi, calls[i].easy);
            curl_easy_cleanup(calls[i].easy);
            calls[i].easy = NULL;
        }
        curl_slist_free_all(calls[i].hdrs);
        calls[i].hdrs = NULL;
    }
    return fatal;
}

retl_err sf_http_one(struct sf_conn *c, struct sf_call *call, struct retl_errbuf *eb)
{
    return sf_http_run(c, call, 1, eb);
}
