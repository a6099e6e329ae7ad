/* Job credentials from the run pod environment or from local Secret
 * manifests. Every value is registered for redaction as soon as it is read. */
#include "engine/base/secrets.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/log.h"

const char *eng_secret_get(const struct eng_secrets *s, const char *key)
{
    if (!s || !s->data)
        return NULL;
    return json_string_value(json_object_get(s->data, key));
}

retl_err eng_secret_get_line(const struct eng_secrets *s, const char *key,
                             const char **out, struct retl_errbuf *eb)
{
    const char *v = eng_secret_get(s, key);
    if (v && strpbrk(v, "\r\n"))
        return retl_errf(eb, RETL_E_CONFIG,
                         "secret %s: %s contains a line break (often a trailing newline "
                         "from the file it was made from); recreate it with "
                         "kubectl create secret generic --from-literal=%s=...",
                         s && s->name ? s->name : "(secret)", key, key);
    *out = v;
    return RETL_E_OK;
}

void eng_secrets_free(struct eng_secrets *s)
{
    if (!s)
        return;
    free(s->name);
    json_decref(s->data);
    s->name = NULL;
    s->data = NULL;
}

/* A credential key's value is masked with all its spellings and tokens; any
 * other value (a url, a connection string, headers) as a whole and through
 * each credential it carries. */
static retl_err eng_secret_protect(const char *key, const char *value)
{
    return retl_secret_key(key) ? retl_secret_register(value)
                                : retl_secret_register_text(value);
}

retl_err eng_secrets_from_env(const char *prefix, char **envp, struct eng_secrets *out,
                              struct retl_errbuf *eb)
{
    char pfx[64];
    int n = snprintf(pfx, sizeof pfx, "RETL_%s_", prefix);
    if (n < 0 || (size_t)n >= sizeof pfx)
        return retl_errf(eb, RETL_E_INVALID, "secret prefix too long");
    json_t *data = json_object();
    char *name = NULL;
    if (!data)
        return RETL_E_NOMEM;
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, pfx, (size_t)n) != 0)
            continue;
        const char *kv = *e + n;
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv)
            continue;
        char key[256];
        size_t kl = (size_t)(eq - kv);
        if (kl >= sizeof key)
            continue;
        memcpy(key, kv, kl);
        key[kl] = '\0';
        retl_err rc = eng_secret_protect(key, eq + 1);
        if (rc != RETL_E_OK) {
            json_decref(data);
            return retl_errf(eb, rc,
                             "secret %s: cannot register its values for redaction", pfx);
        }
        if (json_object_set_new(data, key, json_string(eq + 1)) != 0) {
            json_decref(data);
            return RETL_E_NOMEM;
        }
    }
    if (asprintf(&name, "env RETL_%s_*", prefix) < 0) {
        json_decref(data);
        return RETL_E_NOMEM;
    }
    out->name = name;
    out->data = data;
    return RETL_E_OK;
}

static bool doc_is_secret(const json_t *doc, const char *ns, const char *name)
{
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    json_t *md = json_object_get(doc, "metadata");
    const char *n = json_string_value(json_object_get(md, "name"));
    const char *dns = json_string_value(json_object_get(md, "namespace"));
    if (!kind || strcmp(kind, "Secret") != 0 || !n || strcmp(n, name) != 0)
        return false;
    /* A manifest without a namespace is applied into the job's namespace. */
    return !dns || !ns || strcmp(dns, ns) == 0;
}

retl_err eng_secrets_from_docs(const json_t *docs, const char *ns, const char *name,
                               struct eng_secrets *out, struct retl_errbuf *eb)
{
    const json_t *doc = NULL;
    size_t i;
    json_t *d;
    json_array_foreach (docs, i, d) {
        if (doc_is_secret(d, ns, name))
            doc = d;
    }
    if (!doc)
        return retl_errf(eb, RETL_E_NOT_FOUND,
                         "secret %s/%s not found in the given manifests",
                         ns ? ns : "default", name);
    json_t *data = json_object();
    if (!data)
        return RETL_E_NOMEM;
    retl_err rc = RETL_E_OK;
    const char *k;
    json_t *v;
    json_object_foreach (json_object_get(doc, "data"), k, v) {
        char *dec = NULL;
        if (!json_is_string(v) ||
            retl_base64_decode(json_string_value(v), &dec, NULL) != RETL_E_OK) {
            rc = retl_errf(eb, RETL_E_PARSE, "secret %s: data.%s is not valid base64",
                           name, k);
            goto out;
        }
        rc = eng_secret_protect(k, dec);
        if (rc) {
            free(dec);
            rc = retl_errf(eb, rc, "secret %s: cannot register data.%s for redaction",
                           name, k);
            goto out;
        }
        json_object_set_new(data, k, json_string(dec));
        free(dec);
    }
    json_object_foreach (json_object_get(doc, "stringData"), k, v) {
        if (!json_is_string(v)) {
            rc = retl_errf(eb, RETL_E_PARSE, "secret %s: stringData.%s is not a string",
                           name, k);
            goto out;
        }
        rc = eng_secret_protect(k, json_string_value(v));
        if (rc) {
            rc = retl_errf(eb, rc,
                           "secret %s: cannot register stringData.%s for redaction", name,
                           k);
            goto out;
        }
        json_object_set(data, k, v);
    }
    out->name = strdup(name);
    if (!out->name) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    out->data = data;
    data = NULL;
out:
    json_decref(data);
    return rc;
}
