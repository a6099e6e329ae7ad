/* Redaction: the registry of secret values and the helpers that mask
 * credentials in URLs, connection strings and free text (declared in log.h).
 *
 * Defence in depth, in this order, for free text:
 *   1. every registered secret, its escaped spellings (ODBC braces, libpq
 *      quotes, JSON, percent-encoding) and every token of >= 4 bytes of it that
 *      a tokeniser could split off (so "PWD={a b}" cut at the space still
 *      masks "b");
 *   2. PEM blocks (the body between BEGIN and END, even unterminated);
 *   3. URL userinfo passwords;
 *   4. "Bearer <token>";
 *   5. key=value / key: value / "key": "value" pairs whose key names a
 *      credential, values quoted, braced ({...} with }} escapes) or bare;
 *      an Authorization header's whole value. */
#include "log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/sink.h"
#include "utf8.h"

/* Far above what one engine run registers (a few dozen values and their
 * tokens); reaching it is an error the caller sees, never a silent drop. */
#define MAX_SECRETS 8192
#define MIN_SECRET 4

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static char **secrets; /* owned; longest first */
static size_t n_secrets, cap_secrets;

/* Adds one exact value (copied); caller holds reg_mu. */
static retl_err add_exact(const char *v, size_t len)
{
    if (len < MIN_SECRET)
        return RETL_E_OK;
    size_t at = n_secrets;
    for (size_t i = 0; i < n_secrets; i++) {
        size_t il = strlen(secrets[i]);
        if (il == len && memcmp(secrets[i], v, len) == 0)
            return RETL_E_OK;
        if (il < len && at == n_secrets)
            at = i;
    }
    if (n_secrets == MAX_SECRETS)
        return RETL_E_TOO_BIG;
    if (n_secrets == cap_secrets) {
        size_t nc = cap_secrets ? cap_secrets * 2 : 32;
        char **ns = realloc(secrets, nc * sizeof *ns);
        if (!ns)
            return RETL_E_NOMEM;
        secrets = ns;
        cap_secrets = nc;
    }
    char *c = strndup(v, len);
    if (!c)
        return RETL_E_NOMEM;
    memmove(secrets + at + 1, secrets + at, (n_secrets - at) * sizeof *secrets);
    secrets[at] = c;
    n_secrets++;
    return RETL_E_OK;
}

/* Where a tokeniser (a redactor, a log parser, a reader) may cut a value. */
static bool is_token_sep(unsigned char c)
{
    return c <= ' ' || c == 0x7f || strchr(";,&{}[]()'\"`<>|:=\\", c);
}

/* The value written with the escapes of one quoting convention. */
static retl_err add_escaped(const char *v, const char *specials, const char *esc_prefix,
                            bool json, bool percent)
{
    size_t len = strlen(v), extra = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (strchr(specials, c) || (json && c < 0x20) ||
            (percent && !isalnum(c) && !strchr("-._~", c)))
            extra += 5;
    }
    if (!extra)
        return RETL_E_OK;
    char *o = malloc(len + extra + 1), *w = o;
    if (!o)
        return RETL_E_NOMEM;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (percent && !isalnum(c) && !strchr("-._~", c)) {
            w += sprintf(w, "%%%02X", c);
        } else if (json && c == '\n') {
            w += sprintf(w, "\\n");
        } else if (json && c == '\t') {
            w += sprintf(w, "\\t");
        } else if (json && c == '\r') {
            w += sprintf(w, "\\r");
        } else if (json && c < 0x20) {
            w += sprintf(w, "\\u%04x", c);
        } else if (strchr(specials, c)) {
            w += sprintf(w, "%s%c", esc_prefix ? esc_prefix : "", c);
            if (!esc_prefix)
                *w++ = (char)c; /* doubling: ODBC's }} */
        } else {
            *w++ = (char)c;
        }
    }
    *w = '\0';
    retl_err rc = add_exact(o, strlen(o));
    free(o);
    return rc;
}

retl_err retl_secret_register(const char *value)
{
    if (!value || strlen(value) < MIN_SECRET)
        return RETL_E_OK;
    retl_err rc;
    pthread_mutex_lock(&reg_mu);
    RETL_TRY(add_exact(value, strlen(value)));
    RETL_TRY(add_escaped(value, "}", NULL, false, false));   /* ODBC {..}} */
    RETL_TRY(add_escaped(value, "\\'", "\\", false, false)); /* libpq '..\'' */
    RETL_TRY(add_escaped(value, "\\\"", "\\", true, false)); /* JSON, logfmt */
    RETL_TRY(add_escaped(value, "", NULL, false, true));     /* URL userinfo */
    for (const char *p = value; *p;) {
        while (*p && is_token_sep((unsigned char)*p))
            p++;
        const char *t = p;
        while (*p && !is_token_sep((unsigned char)*p))
            p++;
        RETL_TRY(add_exact(t, (size_t)(p - t)));
    }
out:
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

void retl_secret_clear(void)
{
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    free(secrets);
    secrets = NULL;
    n_secrets = cap_secrets = 0;
    pthread_mutex_unlock(&reg_mu);
}

/* Whether a key names a credential. Compared without case, quotes, '_', '-'
 * or '.', so client_assertion, sessionId and "Private-Key" all count. */
static bool is_secret_key(const char *k, size_t n)
{
    static const char *const exact[] = {"pwd", "pw", "pass", "sig", "auth", NULL};
    static const char *const part[] = {
        "password",      "passwd",     "passphrase", "secret",    "token",
        "apikey",        "privatekey", "assertion",  "sessionid", "credential",
        "authorization", "signature",  "hmac",       "cookie",    NULL};
    char norm[64];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        if (strchr("\"'_-.{, ", c))
            continue;
        if (m + 1 >= sizeof norm)
            return false;
        norm[m++] = (char)tolower(c);
    }
    norm[m] = '\0';
    if (!m)
        return false;
    for (size_t i = 0; exact[i]; i++)
        if (strcmp(norm, exact[i]) == 0)
            return true;
    for (size_t i = 0; part[i]; i++)
        if (strstr(norm, part[i]))
            return true;
    return false;
}

/* Length of the value starting at v: quoted ('..' or ".." with backslash
 * escapes), braced ({..} with }} for a literal brace, as ODBC writes it), or
 * bare up to the next separator. */
static size_t value_len(const char *v, const char *seps)
{
    size_t i = 0;
    if (*v == '"' || *v == '\'') {
        char q = *v;
        i = 1;
        while (v[i] && v[i] != q) {
            if (v[i] == '\\' && v[i + 1])
                i++;
            i++;
        }
        return v[i] ? i + 1 : i;
    }
    if (*v == '{') {
        i = 1;
        while (v[i]) {
            if (v[i] == '}' && v[i + 1] == '}') {
                i += 2;
                continue;
            }
            if (v[i] == '}')
                return i + 1;
            i++;
        }
        return i;
    }
    while (v[i] && !strchr(seps, v[i]))
        i++;
    return i;
}

static bool is_key_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '"' || c == '\'' || c == '-' ||
           c == '.';
}

/* Masks key=value / key: value pairs whose key names a credential. */
static void redact_pairs(const char *in, struct retl_sink *s, const char *seps)
{
    const char *p = in;
    while (*p) {
        const char *eq = p;
        while (*eq && *eq != '=' && *eq != ':')
            eq++;
        if (!*eq) {
            retl_sink_puts(s, p);
            return;
        }
        const char *k = eq;
        while (k > p && is_key_char(k[-1]))
            k--;
        const char *v = eq + 1;
        if (*eq == ':' && v[0] == '/' && v[1] == '/') {
            /* a URL scheme, not a pair: copy through */
            retl_sink_put(s, p, (size_t)(v - p));
            p = v;
            continue;
        }
        while (*v == ' ')
            v++;
        retl_sink_put(s, p, (size_t)(v - p));
        size_t kl = (size_t)(eq - k);
        bool secret = k < eq && is_secret_key(k, kl);
        if (secret && kl == 13 && strncasecmp(k, "authorization", 13) == 0 && *v != '"' &&
            *v != '\'') {
            /* "Bearer x", "OAuth x", "Basic x": keep the scheme, mask the rest */
            size_t wl = strcspn(v, " \t\r\n\"',;");
            if (v[wl] == ' ' && v[wl + 1] && !strchr(" \t\r\n\"',;", v[wl + 1])) {
                retl_sink_put(s, v, wl + 1);
                v += wl + 1;
            }
        }
        size_t vl = value_len(v, seps);
        if (secret && vl > 0) {
            if (*v == '"' || *v == '\'' || *v == '{') {
                char q[2] = {*v, 0};
                retl_sink_puts(s, q);
                retl_sink_puts(s, "***");
                retl_sink_puts(s, *v == '{' ? "}" : q);
            } else {
                retl_sink_puts(s, "***");
            }
        } else {
            retl_sink_put(s, v, vl);
        }
        p = v + vl;
    }
}

char *retl_redact_url(const char *url, char *out, size_t n)
{
    struct retl_sink s = retl_sink_make(out, n);
    if (!n)
        return out;
    const char *scheme = strstr(url, "://");
    const char *rest = url;
    if (scheme) {
        const char *auth = scheme + 3;
        const char *end = auth + strcspn(auth, "/?#");
        const char *at = NULL;
        for (const char *q = auth; q < end; q++)
            if (*q == '@')
                at = q;
        retl_sink_put(&s, url, (size_t)(auth - url));
        if (at) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                retl_sink_put(&s, auth, (size_t)(colon - auth));
                retl_sink_puts(&s, ":***");
            } else {
                retl_sink_put(&s, auth, (size_t)(at - auth));
            }
            auth = at;
        }
        rest = auth;
    }
    const char *q = strchr(rest, '?');
    if (!q) {
        retl_sink_puts(&s, rest);
        return out;
    }
    retl_sink_put(&s, rest, (size_t)(q - rest + 1));
    redact_pairs(q + 1, &s, "&#");
    return out;
}

char *retl_redact_conninfo(const char *conninfo, char *out, size_t n)
{
    if (!n)
        return out;
    if (strstr(conninfo, "://"))
        return retl_redact_url(conninfo, out, n);
    struct retl_sink s = retl_sink_make(out, n);
    redact_pairs(conninfo, &s, " ;\t\n");
    return out;
}

char *retl_redact_token(const char *token, char *out, size_t n)
{
    (void)token;
    snprintf(out, n, "***");
    return out;
}

/* Each pass below reads a heap string and returns a new one (or NULL when
 * out of memory); the caller frees both. */

/* Replaces every registered secret, longest first. */
static char *replace_secrets(const char *text)
{
    char *cur = strdup(text);
    if (!cur)
        return NULL;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < n_secrets && cur; i++) {
        const char *sec = secrets[i];
        size_t sl = strlen(sec);
        char *hit = strstr(cur, sec);
        if (!hit)
            continue;
        size_t count = 0;
        for (char *h = hit; h; h = strstr(h + sl, sec))
            count++;
        char *next = malloc(strlen(cur) + count * sizeof "[REDACTED]" + 1);
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
    pthread_mutex_unlock(&reg_mu);
    return cur;
}

/* PEM blocks keep their BEGIN/END lines; the body becomes "***". */
static char *mask_pem(const char *t)
{
    size_t tl = strlen(t);
    char *o = malloc(tl + 1);
    if (!o)
        return NULL;
    struct retl_sink s = retl_sink_make(o, tl + 1);
    const char *p = t;
    for (;;) {
        const char *b = strstr(p, "-----BEGIN ");
        const char *bend = b ? strstr(b + 11, "-----") : NULL;
        if (!bend) {
            retl_sink_puts(&s, p);
            break;
        }
        bend += 5;
        retl_sink_put(&s, p, (size_t)(bend - p));
        retl_sink_puts(&s, "***");
        const char *e = strstr(bend, "-----END ");
        if (!e)
            break;
        p = e;
        const char *eend = strstr(e + 9, "-----");
        size_t el = eend ? (size_t)(eend + 5 - e) : strlen(e);
        retl_sink_put(&s, e, el);
        p = e + el;
    }
    return o;
}

/* scheme://user:password@host -> scheme://user:***@host */
static char *mask_url_passwords(const char *t)
{
    size_t tl = strlen(t);
    char *u = malloc(tl + 1);
    if (!u)
        return NULL;
    struct retl_sink su = retl_sink_make(u, tl + 1);
    const char *p = t;
    while (*p) {
        const char *sch = strstr(p, "://");
        if (!sch) {
            retl_sink_puts(&su, p);
            break;
        }
        retl_sink_put(&su, p, (size_t)(sch + 3 - p));
        const char *auth = sch + 3;
        size_t al = strcspn(auth, "/?# \t\n\"'");
        const char *at = NULL;
        for (size_t i = 0; i < al; i++)
            if (auth[i] == '@')
                at = auth + i;
        if (at) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                retl_sink_put(&su, auth, (size_t)(colon - auth));
                retl_sink_puts(&su, ":***");
                p = at;
                continue;
            }
        }
        p = auth;
    }
    return u;
}

static char *mask_bearer(const char *t)
{
    size_t tl = strlen(t);
    char *o = malloc(tl + 1);
    if (!o)
        return NULL;
    struct retl_sink sb = retl_sink_make(o, tl + 1);
    const char *p = t;
    for (;;) {
        const char *b = strcasestr(p, "bearer ");
        if (!b) {
            retl_sink_puts(&sb, p);
            break;
        }
        retl_sink_put(&sb, p, (size_t)(b - p + 7));
        p = b + 7;
        size_t vl = strcspn(p, " \t\r\n\"',;");
        if (vl)
            retl_sink_puts(&sb, "***");
        p += vl;
    }
    return o;
}

char *retl_redact_text(const char *text, char *out, size_t n)
{
    struct retl_sink s = retl_sink_make(out, n);
    if (!n)
        return out;
    char *t = replace_secrets(text ? text : "");
    char *t2 = t ? mask_pem(t) : NULL;
    free(t);
    t = t2 ? mask_url_passwords(t2) : NULL;
    free(t2);
    t2 = t ? mask_bearer(t) : NULL;
    free(t);
    t = t2;
    if (t)
        redact_pairs(t, &s, " ;&,\t\r\n}");
    else
        retl_sink_puts(&s, "[redaction failed: out of memory]");
    free(t);
    return out;
}

bool retl_secret_key(const char *key)
{
    return key && is_secret_key(key, strlen(key));
}

/* A value as its writer meant it: quotes or braces removed, escapes undone. */
static char *unquote(const char *v, size_t vl)
{
    char *o = malloc(vl + 1), *w = o;
    if (!o)
        return NULL;
    char open = vl ? *v : 0;
    if (open == '"' || open == '\'' || open == '{') {
        char close = open == '{' ? '}' : open;
        v++;
        vl--;
        if (vl && v[vl - 1] == close)
            vl--;
        for (size_t i = 0; i < vl; i++) {
            if (open == '{' && v[i] == '}' && i + 1 < vl && v[i + 1] == '}')
                i++;
            else if (open != '{' && v[i] == '\\' && i + 1 < vl)
                i++;
            *w++ = v[i];
        }
    } else {
        memcpy(w, v, vl);
        w += vl;
    }
    *w = '\0';
    return o;
}

static retl_err register_span(const char *v, size_t vl)
{
    char *u = unquote(v, vl);
    if (!u)
        return RETL_E_NOMEM;
    retl_err rc = retl_secret_register(u);
    if (!rc) {
        char *raw = strndup(v, vl);
        rc = raw ? retl_secret_register(raw) : RETL_E_NOMEM;
        free(raw);
    }
    free(u);
    return rc;
}

retl_err retl_secret_register_text(const char *text)
{
    if (!text || strlen(text) < MIN_SECRET)
        return RETL_E_OK;
    pthread_mutex_lock(&reg_mu);
    retl_err rc = add_exact(text, strlen(text));
    pthread_mutex_unlock(&reg_mu);
    /* URL passwords */
    for (const char *p = text; !rc && (p = strstr(p, "://")) != NULL;) {
        const char *auth = p + 3;
        size_t al = strcspn(auth, "/?# \t\n\"'");
        const char *at = NULL;
        for (size_t i = 0; i < al; i++)
            if (auth[i] == '@')
                at = auth + i;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon)
            rc = register_span(colon + 1, (size_t)(at - colon - 1));
        p = auth;
    }
    /* key=value pairs, as redact_pairs reads them */
    for (const char *p = text; !rc && *p;) {
        const char *eq = p + strcspn(p, "=:");
        if (!*eq)
            break;
        const char *k = eq;
        while (k > p && is_key_char(k[-1]))
            k--;
        const char *v = eq + 1;
        while (*v == ' ')
            v++;
        size_t vl = value_len(v, " ;&,\t\r\n}");
        if (k < eq && is_secret_key(k, (size_t)(eq - k)) && vl)
            rc = register_span(v, vl);
        p = vl ? v + vl : eq + 1;
    }
    return rc;
}

/* Keys that locate a database and never carry a credential. */
static bool is_locator_key(const char *k, size_t n)
{
    static const char *const keys[] = {"host",   "hostaddr", "port",       "dbname",
                                       "driver", "server",   "servername", "database",
                                       "dsn",    NULL};
    for (size_t i = 0; keys[i]; i++)
        if (strlen(keys[i]) == n && strncasecmp(k, keys[i], n) == 0)
            return true;
    return false;
}

char *retl_conn_describe(const char *conninfo, char *out, size_t n)
{
    struct retl_sink s = retl_sink_make(out, n);
    if (!n || !conninfo)
        return out;
    const char *sch = strstr(conninfo, "://");
    if (sch) {
        /* scheme://[userinfo@]host[:port][/db] */
        const char *auth = sch + 3;
        size_t al = strcspn(auth, "/?#");
        const char *hp = auth;
        for (size_t i = 0; i < al; i++)
            if (auth[i] == '@')
                hp = auth + i + 1;
        retl_sink_puts(&s, "host=");
        retl_sink_put(&s, hp, (size_t)(auth + al - hp));
        if (auth[al] == '/') {
            const char *db = auth + al + 1;
            retl_sink_puts(&s, " dbname=");
            retl_sink_put(&s, db, strcspn(db, "?#"));
        }
        return out;
    }
    const char *p = conninfo;
    bool first = true;
    while (*p) {
        while (*p == ' ' || *p == ';' || *p == '\t' || *p == '\n')
            p++;
        const char *eq = p + strcspn(p, "=; \t\n");
        const char *k = p;
        size_t kl = (size_t)(eq - k);
        const char *v = eq;
        while (*v == ' ')
            v++;
        if (*v != '=') {
            p = *eq ? eq + 1 : eq;
            continue;
        }
        v++;
        while (*v == ' ')
            v++;
        size_t vl = value_len(v, " ;\t\n");
        if (is_locator_key(k, kl)) {
            if (!first)
                retl_sink_puts(&s, " ");
            retl_sink_put(&s, k, kl);
            retl_sink_puts(&s, "=");
            retl_sink_put(&s, v, vl);
            first = false;
        }
        p = v + vl;
    }
    return out;
}

char *retl_redact_excerpt(const char *text, char *out, size_t n)
{
    char tmp[4096];
    retl_redact_text(text, tmp, sizeof tmp);
    return retl_utf8_trunc(out, n, tmp, "...");
}
