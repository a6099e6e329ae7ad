#include "engine/base/state.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

/* Bump when the snapshot's columns or canonical text change meaning. */
#define ENG_STATE_FORMAT "retl-state-v1"

static void sha256_hex(const void *p, size_t n, char *out, size_t hexlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hx[] = "0123456789abcdef";
    if (!EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL))
        mdlen = 0;
    size_t o = 0;
    for (unsigned i = 0; i < mdlen && o + 2 <= hexlen; i++) {
        out[o++] = hx[md[i] >> 4];
        out[o++] = hx[md[i] & 15];
    }
    out[o] = '\0';
}

static void sanitize(const char *in, char *out, size_t n)
{
    size_t o = 0;
    for (; *in && o + 1 < n; in++) {
        char c = *in;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            c = '_';
        out[o++] = c;
    }
    out[o] = '\0';
}

retl_err eng_state_names(const char *schema, const char *ns, const char *name,
                         struct eng_state_names *out, struct retl_errbuf *eb)
{
    static const char *const longest = "__errors";
    struct eng_state_names n;
    char a[256], b[256], full[600];
    if (!schema || !*schema || strlen(schema) > ENG_IDENT_MAX)
        return retl_errf(eb, RETL_E_INVALID, "stateSchema must be 1 to %d bytes",
                         ENG_IDENT_MAX);
    if (!name || !*name)
        return retl_errf(eb, RETL_E_INVALID, "job name is empty");
    if (!ns || !*ns)
        ns = "default";
    memset(&n, 0, sizeof n);
    snprintf(n.schema, sizeof n.schema, "%s", schema);
    sanitize(ns, a, sizeof a);
    sanitize(name, b, sizeof b);
    snprintf(full, sizeof full, "%s__%s", a, b);
    size_t room = ENG_IDENT_MAX - strlen(longest);
    if (strlen(full) <= room) {
        snprintf(n.prefix, sizeof n.prefix, "%s", full);
    } else {
        char id[600], hex[65];
        snprintf(id, sizeof id, "%s/%s", ns, name);
        sha256_hex(id, strlen(id), hex, sizeof hex - 1);
        hex[8] = '\0';
        size_t keep = room - 9;
        snprintf(n.prefix, sizeof n.prefix, "%.*s_%s", (int)keep, full, hex);
    }
    snprintf(n.snap, sizeof n.snap, "%s__snap", n.prefix);
    snprintf(n.errors, sizeof n.errors, "%s__errors", n.prefix);
    snprintf(n.meta, sizeof n.meta, "%s__meta", n.prefix);
    snprintf(n.stage, sizeof n.stage, "%s__stage", n.prefix);
    snprintf(n.delta, sizeof n.delta, "%s__delta", n.prefix);
    snprintf(n.rows, sizeof n.rows, "%s__rows", n.prefix);
    *out = n;
    return RETL_E_OK;
}

/* Length-prefixed fields, so no choice of values can collide with another. */
static void fp_add(struct retl_buf *b, const char *tag, const char *v)
{
    if (!v)
        v = "";
    retl_buf_printf(b, "%s:%zu:%s\n", tag, strlen(v), v);
}

void eng_state_fingerprint(const struct retl_job *job, char out[65])
{
    struct retl_buf b;
    retl_buf_init(&b, 4u << 20);
    fp_add(&b, "format", ENG_STATE_FORMAT);
    fp_add(&b, "query", job->source.query);
    fp_add(&b, "table", job->source.table);
    fp_add(&b, "key.source", job->key.source);
    fp_add(&b, "key.destination", job->key.destination);
    for (size_t i = 0; i < job->n_mappings; i++) {
        fp_add(&b, "map.source", job->mappings[i].source);
        fp_add(&b, "map.destination", job->mappings[i].destination);
        /* Only when set, so jobs written before lookups keep their snapshot;
         * nulls is left out: Skip or Write changes no stored value. */
        if (job->mappings[i].lookup_object) {
            fp_add(&b, "map.lookup.object", job->mappings[i].lookup_object);
            fp_add(&b, "map.lookup.field", job->mappings[i].lookup_field);
        }
    }
    fp_add(&b, "destination.type", job->destination.type);
    fp_add(&b, "destination.object", job->destination.object);
    sha256_hex(retl_buf_str(&b), b.len, out, 64);
    retl_buf_free(&b);
}

int eng_state_col(const struct eng_state *st, const char *name)
{
    for (size_t i = 0; i < st->ncols; i++) {
        if (strcmp(st->cols[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

void eng_state_free(struct eng_state *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->ncols; i++) {
        free(st->cols[i].name);
        free(st->cols[i].sql_type);
    }
    free(st->cols);
    st->cols = NULL;
    st->ncols = 0;
}

retl_err eng_state_from_job(const struct retl_job *job, struct eng_state *st,
                            struct retl_errbuf *eb)
{
    struct eng_state s;
    memset(&s, 0, sizeof s);
    retl_err rc =
        eng_state_names(job->source.state_schema ? job->source.state_schema : "retl",
                        job->namespace, job->name, &s.n, eb);
    if (rc)
        return rc;
    if (!job->key.source)
        return retl_errf(eb, RETL_E_SPEC, "spec.key.source is required");
    s.cols = calloc(job->n_mappings + 1, sizeof *s.cols);
    if (!s.cols)
        return RETL_E_NOMEM;
    s.cols[s.ncols].name = strdup(job->key.source);
    if (!s.cols[s.ncols++].name) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < job->n_mappings; i++) {
        const char *src = job->mappings[i].source;
        if (!src || eng_state_col(&s, src) >= 0)
            continue;
        s.cols[s.ncols].name = strdup(src);
        if (!s.cols[s.ncols++].name) {
            rc = RETL_E_NOMEM;
            goto out;
        }
    }
    eng_state_fingerprint(job, s.fingerprint);
    *st = s;
    return RETL_E_OK;
out:
    eng_state_free(&s);
    return rc;
}
