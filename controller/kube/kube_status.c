#include "kube_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/http.h"
#include "common/utf8.h"

retl_err kube_status_err(long code, const char *reason)
{
    if (reason && *reason) {
        if (!strcmp(reason, "NotFound"))
            return RETL_E_NOT_FOUND;
        if (!strcmp(reason, "AlreadyExists"))
            return RETL_E_ALREADY_EXISTS;
        if (!strcmp(reason, "Conflict"))
            return RETL_E_CONFLICT;
        if (!strcmp(reason, "Gone") || !strcmp(reason, "Expired"))
            return RETL_E_GONE;
        if (!strcmp(reason, "Invalid"))
            return RETL_E_UNPROCESSABLE;
        if (!strcmp(reason, "Unauthorized"))
            return RETL_E_UNAUTHORIZED;
        if (!strcmp(reason, "Forbidden"))
            return RETL_E_FORBIDDEN;
        if (!strcmp(reason, "TooManyRequests"))
            return RETL_E_TOO_MANY_REQUESTS;
        if (!strcmp(reason, "ServiceUnavailable") || !strcmp(reason, "ServerTimeout") ||
            !strcmp(reason, "Timeout") || !strcmp(reason, "InternalError"))
            return RETL_E_UNAVAILABLE;
    }
    switch (code) {
    case 401: return RETL_E_UNAUTHORIZED;
    case 403: return RETL_E_FORBIDDEN;
    case 404: return RETL_E_NOT_FOUND;
    case 409: return RETL_E_CONFLICT;
    case 410: return RETL_E_GONE;
    case 422: return RETL_E_UNPROCESSABLE;
    case 429: return RETL_E_TOO_MANY_REQUESTS;
    case 500:
    case 502:
    case 503:
    case 504: return RETL_E_UNAVAILABLE;
    default: return code >= 200 && code < 300 ? RETL_E_OK : RETL_E_HTTP_STATUS;
    }
}

static void copy_str(char *dst, size_t n, const char *src)
{
    retl_utf8_trunc(dst, n, src, NULL);
}

/* Appends "; field: message" for each details.causes entry, bounded by n. */
static void append_causes(char *out, size_t n, const json_t *details)
{
    const json_t *causes = json_object_get(details, "causes");
    size_t i;
    const json_t *c;
    int k = 0;
    json_array_foreach (causes, i, c) {
        const char *field = json_string_value(json_object_get(c, "field"));
        const char *msg = json_string_value(json_object_get(c, "message"));
        const char *why = json_string_value(json_object_get(c, "reason"));
        size_t len = strlen(out);
        if (len + 1 >= n)
            return;
        retl_utf8_printf(out + len, n - len, "%s%s%s%s", k++ ? "; " : ": ",
                         field ? field : "", field ? ": " : "",
                         msg ? msg : (why ? why : "?"));
    }
}

retl_err kube_status_from_json(long http_code, const json_t *obj, const char *retry_after,
                               struct kube_status *st, struct retl_errbuf *eb)
{
    struct kube_status s = {.code = http_code, .retry_after_ms = -1};
    const json_t *details = NULL;
    if (json_is_object(obj)) {
        const char *kind = json_string_value(json_object_get(obj, "kind"));
        if (!kind || !strcmp(kind, "Status")) {
            copy_str(s.reason, sizeof s.reason,
                     json_string_value(json_object_get(obj, "reason")));
            copy_str(s.message, sizeof s.message,
                     json_string_value(json_object_get(obj, "message")));
            json_t *c = json_object_get(obj, "code");
            if (s.code == 0 && json_is_integer(c))
                s.code = (long)json_integer_value(c);
            details = json_object_get(obj, "details");
            json_t *ras = json_object_get(details, "retryAfterSeconds");
            if (json_is_integer(ras) && json_integer_value(ras) > 0)
                s.retry_after_ms = (long)json_integer_value(ras) * 1000;
        }
    }
    if (retry_after) {
        long ms = retl_http_parse_retry_after(retry_after, (long)time(NULL));
        if (ms >= 0)
            s.retry_after_ms = ms;
    }
    retl_err e = kube_status_err(s.code, s.reason);
    if (e == RETL_E_OK)
        e = RETL_E_HTTP_STATUS; /* a Status that is an error without a code */
    if (eb) {
        char msg[RETL_ERRBUF_SIZE];
        snprintf(msg, sizeof msg, "%s (reason %s, code %ld)",
                 s.message[0] ? s.message : retl_err_str(e),
                 s.reason[0] ? s.reason : "none", s.code);
        if (details)
            append_causes(msg, sizeof msg, details);
        if (s.retry_after_ms >= 0) {
            size_t len = strlen(msg);
            snprintf(msg + len, sizeof msg - len, " (retry after %ld ms)",
                     s.retry_after_ms);
        }
        retl_errf(eb, e, "%s", msg);
    }
    if (st)
        *st = s;
    return e;
}

retl_err kube_status_parse(long http_code, const char *body, size_t len,
                           const char *retry_after, struct kube_status *st,
                           struct retl_errbuf *eb)
{
    json_t *obj = NULL;
    if (body && len)
        obj = json_loadb(body, len, 0, NULL);
    retl_err e = kube_status_from_json(http_code, obj, retry_after, st, eb);
    if (!json_is_object(obj) && eb && body && len) {
        /* Not a Status (proxy page, truncated body): keep a short excerpt. */
        char ex[128];
        size_t n = len < sizeof ex - 1 ? len : sizeof ex - 1;
        for (size_t i = 0; i < n; i++)
            ex[i] = (body[i] >= 32 && body[i] < 127) ? body[i] : ' ';
        ex[n] = '\0';
        retl_errf(eb, e, "HTTP %ld: %s", http_code, ex);
    }
    json_decref(obj);
    return e;
}
