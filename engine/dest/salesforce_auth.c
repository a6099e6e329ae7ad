/* OAuth 2.0 for the Salesforce destination: the flow is chosen from the keys
 * of the destination secret (JWT bearer, refresh token, username-password,
 * client credentials). The JWT assertion is signed by common/jwt (RS256). */
#include "engine/dest/salesforce_int.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jwt.h"
#include "common/log.h"

void sf_auth_free(struct sf_auth *a)
{
    free(a->token_url);
    free(a->audience);
    free(a->client_id);
    free(a->client_secret);
    free(a->private_key);
    free(a->username);
    free(a->password);
    free(a->refresh_token);
    memset(a, 0, sizeof *a);
}

static char *secret_dup(const struct eng_secrets *sec, const char *key, bool credential)
{
    (void)credential; /* registered for redaction by sf_auth_from_secret */
    const char *v = eng_secret_get(sec, key);
    if (!v || !*v)
        return NULL;
    return strdup(v);
}

/* The host of a URL, lower-cased, into out. */
static void url_host(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t i = 0;
    while (p[i] && p[i] != '/' && p[i] != ':' && p[i] != '?' && i + 1 < n) {
        out[i] = (char)tolower((unsigned char)p[i]);
        i++;
    }
    out[i] = '\0';
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

char *sf_jwt_audience(const char *login_url)
{
    char host[256];
    url_host(login_url, host, sizeof host);
    if (!strcmp(host, "test.salesforce.com") ||
        ends_with(host, ".sandbox.my.salesforce.com"))
        return strdup("https://test.salesforce.com");
    if (!strcmp(host, "login.salesforce.com") || ends_with(host, ".my.salesforce.com"))
        return strdup("https://login.salesforce.com");
    char *a = strdup(login_url);
    if (a) {
        size_t l = strlen(a);
        while (l && a[l - 1] == '/')
            a[--l] = '\0';
    }
    return a;
}

retl_err sf_auth_from_secret(const struct eng_secrets *sec, struct sf_auth *a,
                             struct retl_errbuf *eb)
{
    memset(a, 0, sizeof *a);
    const char *sname = sec && sec->name ? sec->name : "destination";
    const char *login = eng_secret_get(sec, "loginUrl");
    if (!login || !*login)
        login = eng_secret_get(sec, "instanceUrl");
    if (!login || !*login)
        return retl_errf(eb, RETL_E_CONFIG,
                         "secret %s: key loginUrl (or instanceUrl) is required", sname);
    if (strncmp(login, "https://", 8) && strncmp(login, "http://", 7))
        return retl_errf(eb, RETL_E_CONFIG, "secret %s: loginUrl must be an http(s) URL",
                         sname);
    static const char *const credentials[] = {"clientSecret", "privateKey", "password",
                                              "refreshToken"};
    for (size_t i = 0; i < sizeof credentials / sizeof credentials[0]; i++) {
        retl_err re = retl_secret_register(eng_secret_get(sec, credentials[i]));
        if (re)
            return retl_errf(eb, re, "secret %s: cannot register %s for redaction", sname,
                             credentials[i]);
    }
    a->client_id = secret_dup(sec, "clientId", false);
    a->client_secret = secret_dup(sec, "clientSecret", true);
    a->private_key = secret_dup(sec, "privateKey", true);
    a->username = secret_dup(sec, "username", false);
    a->password = secret_dup(sec, "password", true);
    a->refresh_token = secret_dup(sec, "refreshToken", true);
    retl_err e = RETL_E_OK;
    if (!a->client_id) {
        e = retl_errf(eb, RETL_E_CONFIG, "secret %s: key clientId is required", sname);
        goto out;
    }
    if (a->private_key) {
        if (!a->username) {
            e = retl_errf(eb, RETL_E_CONFIG,
                          "secret %s: privateKey (JWT bearer) needs username", sname);
            goto out;
        }
        a->flow = SF_FLOW_JWT;
    } else if (a->refresh_token) {
        a->flow = SF_FLOW_REFRESH;
    } else if (a->username && a->password) {
        a->flow = SF_FLOW_PASSWORD;
    } else if (a->client_secret) {
        a->flow = SF_FLOW_CLIENT;
    } else {
        e = retl_errf(eb, RETL_E_CONFIG,
                      "secret %s: no credentials: give privateKey + username, "
                      "clientSecret, refreshToken, or username + password",
                      sname);
        goto out;
    }
    size_t l = strlen(login);
    while (l && login[l - 1] == '/')
        l--;
    if (asprintf(&a->token_url, "%.*s/services/oauth2/token", (int)l, login) < 0) {
        a->token_url = NULL;
        e = RETL_E_NOMEM;
        goto out;
    }
    const char *aud = eng_secret_get(sec, "audience");
    a->audience = aud && *aud ? strdup(aud) : sf_jwt_audience(login);
    if (!a->audience)
        e = RETL_E_NOMEM;
out:
    if (e)
        sf_auth_free(a);
    return e;
}

retl_err sf_jwt_assertion(const char *pem_key, const char *iss, const char *sub,
                          const char *aud, long long now, char **out,
                          struct retl_errbuf *eb)
{
    struct retl_rsa_key *key = NULL;
    json_t *cj = json_pack("{s:s, s:s, s:s, s:I}", "iss", iss, "sub", sub, "aud", aud,
                           "exp", (json_int_t)(now + 180));
    char *claims = cj ? json_dumps(cj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(cj);
    retl_err e = claims ? retl_rsa_key_load(pem_key, &key, eb) : RETL_E_NOMEM;
    if (!e)
        e = retl_jwt_rs256(key, "{\"alg\":\"RS256\"}", claims, out, eb);
    retl_rsa_key_free(key);
    free(claims);
    return e;
}

/* Appends "&name=urlencoded(value)" (without '&' first). */
static retl_err form_add(struct retl_buf *b, const char *name, const char *v)
{
    char *enc = curl_easy_escape(NULL, v, 0);
    if (!enc)
        return RETL_E_NOMEM;
    retl_err e = retl_buf_printf(b, "%s%s=%s", b->len ? "&" : "", name, enc);
    curl_free(enc);
    return e;
}

retl_err sf_token_body(const struct sf_auth *a, long long now, char **out,
                       struct retl_errbuf *eb)
{
    struct retl_buf b;
    retl_buf_init(&b, 64 * 1024);
    retl_err e = RETL_E_OK;
    char *jwt = NULL;
    switch (a->flow) {
    case SF_FLOW_JWT:
        e = sf_jwt_assertion(a->private_key, a->client_id, a->username, a->audience, now,
                             &jwt, eb);
        if (!e)
            e = form_add(&b, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
        if (!e)
            e = form_add(&b, "assertion", jwt);
        break;
    case SF_FLOW_REFRESH:
        e = form_add(&b, "grant_type", "refresh_token");
        if (!e)
            e = form_add(&b, "refresh_token", a->refresh_token);
        if (!e)
            e = form_add(&b, "client_id", a->client_id);
        if (!e && a->client_secret)
            e = form_add(&b, "client_secret", a->client_secret);
        break;
    case SF_FLOW_PASSWORD:
        e = form_add(&b, "grant_type", "password");
        if (!e)
            e = form_add(&b, "client_id", a->client_id);
        if (!e && a->client_secret)
            e = form_add(&b, "client_secret", a->client_secret);
        if (!e)
            e = form_add(&b, "username", a->username);
        if (!e)
            e = form_add(&b, "password", a->password);
        break;
    case SF_FLOW_CLIENT:
        e = form_add(&b, "grant_type", "client_credentials");
        if (!e)
            e = form_add(&b, "client_id", a->client_id);
        if (!e)
            e = form_add(&b, "client_secret", a->client_secret);
        break;
    }
    free(jwt);
    if (!e) {
        *out = retl_buf_take(&b);
        if (!*out)
            e = RETL_E_NOMEM;
    }
    retl_buf_free(&b);
    return e;
}

retl_err sf_token_parse(long status, const char *body, char **token, char **instance_url,
                        struct retl_errbuf *eb)
{
    json_t *j = json_loads(body ? body : "", 0, NULL);
    retl_err e = RETL_E_OK;
    if (status == 200 && json_is_object(j)) {
        const char *t = json_string_value(json_object_get(j, "access_token"));
        const char *u = json_string_value(json_object_get(j, "instance_url"));
        if (!t || !*t || !u || !*u) {
            e = retl_errf(eb, RETL_E_AUTH,
                          "Salesforce token response lacks access_token or "
                          "instance_url");
            goto out;
        }
        /* Out parameters are set only on success: never a freed pointer. */
        char *tok = strdup(t), *inst = strdup(u);
        if (!tok || !inst) {
            free(tok);
            free(inst);
            e = RETL_E_NOMEM;
            goto out;
        }
        *token = tok;
        *instance_url = inst;
        goto out;
    }
    const char *err = json_string_value(json_object_get(j, "error"));
    const char *desc = json_string_value(json_object_get(j, "error_description"));
    if (err)
        e = retl_errf(eb, RETL_E_AUTH, "Salesforce OAuth: %s: %s (HTTP %ld)", err,
                      desc ? desc : "", status);
    else {
        char shown[201];
        retl_redact_excerpt(body ? body : "", shown, sizeof shown);
        e = retl_errf(eb, RETL_E_AUTH,
                      "Salesforce OAuth: HTTP %ld from the token endpoint: %s", status,
                      shown);
    }
out:
    json_decref(j);
    return e;
}
