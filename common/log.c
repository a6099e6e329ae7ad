#include "log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_SECRETS 64
#define LINE_MAX_BYTES 16384

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_component[64] = "retl";
static enum retl_log_level log_min = RETL_LOG_INFO;
static enum retl_log_format log_fmt = RETL_LOG_JSON;
static FILE *log_out;
static char *secrets[MAX_SECRETS];
static size_t n_secrets;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void retl_log_setup(const char *component, enum retl_log_level min,
                    enum retl_log_format fmt, FILE *out)
{
    pthread_mutex_lock(&log_mu);
    snprintf(log_component, sizeof log_component, "%s", component ? component : "retl");
    log_min = min;
    log_fmt = fmt;
    log_out = out;
    pthread_mutex_unlock(&log_mu);
}

retl_err retl_log_parse_level(const char *s, enum retl_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (s && strcasecmp(s, level_names[i]) == 0) {
            *out = (enum retl_log_level)i;
            return RETL_E_OK;
        }
    }
    if (s && strcasecmp(s, "warning") == 0) {
        *out = RETL_LOG_WARN;
        return RETL_E_OK;
    }
    return RETL_E_INVALID;
}

retl_err retl_log_parse_format(const char *s, enum retl_log_format *out)
{
    if (s && strcasecmp(s, "json") == 0) {
        *out = RETL_LOG_JSON;
        return RETL_E_OK;
    }
    if (s && (strcasecmp(s, "logfmt") == 0 || strcasecmp(s, "text") == 0)) {
        *out = RETL_LOG_LOGFMT;
        return RETL_E_OK;
    }
    return RETL_E_INVALID;
}

bool retl_log_enabled(enum retl_log_level lvl)
{
    return lvl >= log_min;
}

void retl_secret_register(const char *value)
{
    if (!value || strlen(value) < 4)
        return;
    pthread_mutex_lock(&log_mu);
    for (size_t i = 0; i < n_secrets; i++) {
        if (strcmp(secrets[i], value) == 0)
            goto out;
    }
    if (n_secrets < MAX_SECRETS) {
        char *c = strdup(value);
        if (c)
            secrets[n_secrets++] = c;
    }
out:
    pthread_mutex_unlock(&log_mu);
}

void retl_secret_clear(void)
{
    pthread_mutex_lock(&log_mu);
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    n_secrets = 0;
    pthread_mutex_unlock(&log_mu);
}

/* Small bounded writer used by the redaction helpers. Always made by
 * sink_make, so its text is terminated even when nothing is ever written. */
struct sink {
    char *p;
    size_t n, len;
};

static struct sink sink_make(char *p, size_t n)
{
    if (n)
        p[0] = '\0';
    return (struct sink){p, n, 0};
}

static void sink_put(struct sink *s, const char *p, size_t n)
{
    while (n-- && s->len + 1 < s->n)
        s->p[s->len++] = *p++;
    s->p[s->len] = '\0';
}

static void sink_puts(struct sink *s, const char *p)
{
    sink_put(s, p, strlen(p));
}

static const char *const secret_keys[] = {
    "password",     "passwd",       "pwd",           "secret", "client_secret",
    "token",        "access_token", "refresh_token", "apikey", "api_key",
    "privatekey",   "private_key",  "assertion",     "sig",    "signature",
    "clientsecret", "refreshtoken", "sslpassword",   NULL};

static bool is_secret_key(const char *k, size_t n)
{
    while (n && (k[n - 1] == ' ' || k[n - 1] == '"' || k[n - 1] == '\''))
        n--;
    while (n && (*k == ' ' || *k == '"' || *k == '\'' || *k == '{' || *k == ',')) {
        k++;
        n--;
    }
    for (size_t i = 0; secret_keys[i]; i++) {
        if (strlen(secret_keys[i]) == n && strncasecmp(k, secret_keys[i], n) == 0)
            return true;
    }
    return false;
}

/* Length of the value starting at v: up to the next separator, honouring
 * single or double quotes. */
static size_t value_len(const char *v, const char *seps)
{
    if (*v == '"' || *v == '\'') {
        char q = *v;
        size_t i = 1;
        while (v[i] && v[i] != q) {
            if (v[i] == '\\' && v[i + 1])
                i++;
            i++;
        }
        return v[i] ? i + 1 : i;
    }
    size_t i = 0;
    while (v[i] && !strchr(seps, v[i]))
        i++;
    return i;
}

/* Masks key=value / key: value pairs whose key names a credential. */
static void redact_pairs(const char *in, struct sink *s, const char *seps)
{
    const char *p = in;
    while (*p) {
        const char *eq = p;
        /* find the next '=' or ':' that ends a key */
        while (*eq && *eq != '=' && *eq != ':')
            eq++;
        if (!*eq) {
            sink_puts(s, p);
            return;
        }
        /* key is the run of [A-Za-z0-9_"] before eq */
        const char *k = eq;
        while (k > p && (isalnum((unsigned char)k[-1]) || k[-1] == '_' || k[-1] == '"' ||
                         k[-1] == '\'' || k[-1] == '-'))
            k--;
        const char *v = eq + 1;
        bool sep_colon = *eq == ':';
        if (sep_colon && v[0] == '/' && v[1] == '/') {
            /* a URL scheme, not a pair: copy through */
            sink_put(s, p, (size_t)(v - p));
            p = v;
            continue;
        }
        while (*v == ' ')
            v++;
        sink_put(s, p, (size_t)(v - p));
        size_t vl = value_len(v, seps);
        if (k < eq && is_secret_key(k, (size_t)(eq - k)) && vl > 0) {
            if (*v == '"' || *v == '\'') {
                char q[2] = {*v, 0};
                sink_puts(s, q);
                sink_puts(s, "***");
                sink_puts(s, q);
            } else {
                sink_puts(s, "***");
            }
        } else {
            sink_put(s, v, vl);
        }
        p = v + vl;
    }
}

char *retl_redact_url(const char *url, char *out, size_t n)
{
    struct sink s = sink_make(out, n);
    if (!n)
        return out;
    out[0] = '\0';
    const char *scheme = strstr(url, "://");
    const char *rest = url;
    if (scheme) {
        const char *auth = scheme + 3;
        const char *end = auth + strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *q = auth; q < end; q++)
            if (*q == '@')
                at = q;
        sink_put(&s, url, (size_t)(auth - url));
        if (at) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                sink_put(&s, auth, (size_t)(colon - auth));
                sink_puts(&s, ":***");
            } else {
                sink_put(&s, auth, (size_t)(at - auth));
            }
            auth = at;
        }
        rest = auth;
    }
    const char *q = strchr(rest, '?');
    if (!q) {
        sink_puts(&s, rest);
        return out;
    }
    sink_put(&s, rest, (size_t)(q - rest + 1));
    redact_pairs(q + 1, &s, "&#");
    return out;
}

char *retl_redact_conninfo(const char *conninfo, char *out, size_t n)
{
    if (!n)
        return out;
    if (strstr(conninfo, "://"))
        return retl_redact_url(conninfo, out, n);
    struct sink s = sink_make(out, n);
    out[0] = '\0';
    redact_pairs(conninfo, &s, " ;\t\n");
    return out;
}

char *retl_redact_token(const char *token, char *out, size_t n)
{
    (void)token;
    snprintf(out, n, "***");
    return out;
}

/* Replaces every registered secret in text; result in a heap string. */
static char *replace_secrets(const char *text)
{
    char *cur = strdup(text);
    if (!cur)
        return NULL;
    pthread_mutex_lock(&log_mu);
    for (size_t i = 0; i < n_secrets && cur; i++) {
        const char *sec = secrets[i];
        size_t sl = strlen(sec);
        char *hit = strstr(cur, sec);
        if (!hit)
            continue;
        size_t count = 0;
        for (char *h = hit; h; h = strstr(h + sl, sec))
            count++;
        size_t nl = strlen(cur) + count * sizeof "[REDACTED]" + 1;
        char *next = malloc(nl);
        if (!next) {
            free(cur);
            cur = NULL;
            break;
        }
        char *w = next;
        const char *r = cur;
        for (char *h = strstr(r, sec); h; h = strstr(r, sec)) {
            memcpy(w, r, (size_t)(h - r));
            w += h - r;
            memcpy(w, "[REDACTED]", 10);
            w += 10;
            r = h + sl;
        }
        strcpy(w, r);
        free(cur);
        cur = next;
    }
    pthread_mutex_unlock(&log_mu);
    return cur;
}

char *retl_redact_text(const char *text, char *out, size_t n)
{
    if (!n)
        return out;
    out[0] = '\0';
    char *t = replace_secrets(text ? text : "");
    if (!t)
        return out;
    /* URL passwords */
    size_t tl = strlen(t);
    char *u = malloc(tl + 1);
    if (!u)
        goto out;
    struct sink su = sink_make(u, tl + 1);
    const char *p = t;
    while (*p) {
        const char *sch = strstr(p, "://");
        if (!sch) {
            sink_puts(&su, p);
            break;
        }
        const char *start = sch;
        while (start > p && (isalnum((unsigned char)start[-1]) || start[-1] == '+' ||
                             start[-1] == '.' || start[-1] == '-'))
            start--;
        sink_put(&su, p, (size_t)(sch + 3 - p));
        const char *auth = sch + 3;
        size_t al = strcspn(auth, "/?# \t\n\"'");
        const char *at = NULL;
        for (size_t i = 0; i < al; i++)
            if (auth[i] == '@')
                at = auth + i;
        if (at) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                sink_put(&su, auth, (size_t)(colon - auth));
                sink_puts(&su, ":***");
                p = at;
                continue;
            }
        }
        p = auth;
    }
    /* Bearer tokens */
    struct sink s = sink_make(out, n);
    char *pairs_in = malloc(strlen(u) + 1);
    if (!pairs_in) {
        free(u);
        goto out;
    }
    struct sink sb = sink_make(pairs_in, strlen(u) + 1);
    p = u;
    for (;;) {
        const char *b = strcasestr(p, "bearer ");
        if (!b) {
            sink_puts(&sb, p);
            break;
        }
        sink_put(&sb, p, (size_t)(b - p + 7));
        p = b + 7;
        size_t vl = strcspn(p, " \t\n\"',;");
        if (vl)
            sink_puts(&sb, "***");
        p += vl;
    }
    redact_pairs(pairs_in, &s, " ;&,\t\n}");
    free(pairs_in);
    free(u);
out:
    free(t);
    return out;
}

static void json_escape(struct sink *s, const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char tmp[8];
        switch (*p) {
        case '"': sink_puts(s, "\\\""); break;
        case '\\': sink_puts(s, "\\\\"); break;
        case '\n': sink_puts(s, "\\n"); break;
        case '\r': sink_puts(s, "\\r"); break;
        case '\t': sink_puts(s, "\\t"); break;
        default:
            if (*p < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", *p);
                sink_puts(s, tmp);
            } else {
                sink_put(s, (const char *)p, 1);
            }
        }
    }
}

static void logfmt_value(struct sink *s, const char *v)
{
    bool quote = !*v || strpbrk(v, " =\"\t\n\\") != NULL;
    if (!quote) {
        sink_puts(s, v);
        return;
    }
    sink_puts(s, "\"");
    json_escape(s, v);
    sink_puts(s, "\"");
}

static void put_value(struct sink *s, const char *v, bool json)
{
    char red[4096];
    retl_redact_text(v ? v : "", red, sizeof red);
    if (json) {
        sink_puts(s, "\"");
        json_escape(s, red);
        sink_puts(s, "\"");
    } else {
        logfmt_value(s, red);
    }
}

void retl_log_fields(enum retl_log_level lvl, const char *msg,
                     const struct retl_field *fields, size_t n)
{
    if (!retl_log_enabled(lvl))
        return;
    char *line = malloc(LINE_MAX_BYTES);
    if (!line)
        return;
    struct sink s = sink_make(line, LINE_MAX_BYTES - 2);
    char ts[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", now.tv_nsec / 1000000);
    bool json = log_fmt == RETL_LOG_JSON;
    const char *lv = level_names[lvl];
    if (json) {
        sink_puts(&s, "{\"ts\":\"");
        sink_puts(&s, ts);
        sink_puts(&s, "\",\"level\":\"");
        sink_puts(&s, lv);
        sink_puts(&s, "\",\"component\":");
        put_value(&s, log_component, true);
        sink_puts(&s, ",\"msg\":");
        put_value(&s, msg, true);
    } else {
        sink_puts(&s, "ts=");
        sink_puts(&s, ts);
        sink_puts(&s, " level=");
        sink_puts(&s, lv);
        sink_puts(&s, " component=");
        put_value(&s, log_component, false);
        sink_puts(&s, " msg=");
        put_value(&s, msg, false);
    }
    for (size_t i = 0; i < n; i++) {
        const struct retl_field *f = &fields[i];
        char num[64];
        sink_puts(&s, json ? ",\"" : " ");
        sink_puts(&s, f->key);
        sink_puts(&s, json ? "\":" : "=");
        switch (f->type) {
        case RETL_F_STR: put_value(&s, f->s, json); break;
        case RETL_F_INT:
            snprintf(num, sizeof num, "%lld", f->i);
            sink_puts(&s, num);
            break;
        case RETL_F_DBL:
            snprintf(num, sizeof num, "%.6g", f->d);
            sink_puts(&s, num);
            break;
        case RETL_F_BOOL: sink_puts(&s, f->i ? "true" : "false"); break;
        }
    }
    if (json)
        sink_puts(&s, "}");
    s.n += 2;
    sink_puts(&s, "\n");
    pthread_mutex_lock(&log_mu);
    FILE *o = log_out ? log_out : stderr;
    fputs(line, o);
    fflush(o);
    pthread_mutex_unlock(&log_mu);
    free(line);
}
