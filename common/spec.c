#include "spec.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cron.h"
#include "tz.h"

void retl_problem_add(struct retl_problems *p, const char *fmt, ...)
{
    if (p->n >= RETL_MAX_PROBLEMS) {
        p->dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    va_end(ap);
    if (m)
        p->msgs[p->n++] = m;
}

char *retl_problems_join(const struct retl_problems *p)
{
    size_t len = 1;
    for (size_t i = 0; i < p->n; i++)
        len += strlen(p->msgs[i]) + 2;
    len += 48;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < p->n; i++) {
        if (i)
            strcat(s, "; ");
        strcat(s, p->msgs[i]);
    }
    if (p->dropped)
        snprintf(s + strlen(s), 48, "; and %zu more problems", p->dropped);
    return s;
}

void retl_problems_free(struct retl_problems *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->msgs[i]);
    p->n = 0;
    p->dropped = 0;
}

const char *retl_mode_name(enum retl_mode m)
{
    switch (m) {
    case RETL_MODE_INSERT: return "Insert";
    case RETL_MODE_UPSERT: return "Upsert";
    case RETL_MODE_UPDATE: return "Update";
    }
    return "?";
}

const char *retl_deletes_name(enum retl_deletes d)
{
    switch (d) {
    case RETL_DELETES_IGNORE: return "Ignore";
    case RETL_DELETES_DELETE: return "Delete";
    case RETL_DELETES_CLEAR: return "Clear";
    }
    return "?";
}

bool retl_tz_valid(const char *tz)
{
    /* The same reader the schedule uses, so what validates is what runs. */
    const struct retl_tz *z;
    return tz && *tz && retl_tz_get(tz, &z, NULL) == RETL_E_OK;
}

/* Validation context: the object being read and the problems found. */
struct vctx {
    struct retl_problems *probs;
};

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* Reports keys of obj not in allowed (NULL-terminated). */
static void check_known(struct vctx *c, const json_t *obj, const char *path,
                        const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)obj, k, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok = ok || strcmp(*a, k) == 0;
        if (!ok)
            retl_problem_add(c->probs, "%s.%s: unknown field", path, k);
    }
}

/* Returns the object at obj[key], reporting wrong types; NULL when absent. */
static const json_t *get_obj(struct vctx *c, const json_t *obj, const char *path,
                             const char *key, bool required)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v)) {
        if (required)
            retl_problem_add(c->probs, "%s.%s: required field is missing", path, key);
        return NULL;
    }
    if (!json_is_object(v)) {
        retl_problem_add(c->probs, "%s.%s: must be an object, not %s", path, key,
                         type_name(v));
        return NULL;
    }
    return v;
}

/* Returns a heap copy of the string at obj[key]; NULL when absent or wrong. */
static char *get_str(struct vctx *c, const json_t *obj, const char *path, const char *key,
                     bool required)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v)) {
        if (required)
            retl_problem_add(c->probs, "%s.%s: required field is missing", path, key);
        return NULL;
    }
    if (!json_is_string(v)) {
        retl_problem_add(c->probs, "%s.%s: must be a string, not %s", path, key,
                         type_name(v));
        return NULL;
    }
    if (json_string_length(v) != strlen(json_string_value(v))) {
        retl_problem_add(c->probs, "%s.%s: must not contain NUL bytes", path, key);
        return NULL;
    }
    if (required && json_string_length(v) == 0) {
        retl_problem_add(c->probs, "%s.%s: must not be empty", path, key);
        return NULL;
    }
    return strdup(json_string_value(v));
}

/* Reads an integer in [lo, hi]; returns false when absent or wrong. */
static bool get_int(struct vctx *c, const json_t *obj, const char *path, const char *key,
                    long long lo, long long hi, long long *out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v))
        return false;
    if (!json_is_integer(v)) {
        retl_problem_add(c->probs, "%s.%s: must be an integer, not %s", path, key,
                         type_name(v));
        return false;
    }
    long long x = json_integer_value(v);
    if (x < lo || x > hi) {
        retl_problem_add(c->probs, "%s.%s: must be between %lld and %lld, got %lld", path,
                         key, lo, hi, x);
        return false;
    }
    *out = x;
    return true;
}

/* Matches the string at obj[key] against names; returns the index, or dflt
 * when absent, or -1 when invalid. */
static int get_enum(struct vctx *c, const json_t *obj, const char *path, const char *key,
                    const char *const *names, int dflt, bool required)
{
    char *s = get_str(c, obj, path, key, required);
    if (!s) {
        json_t *v = obj ? json_object_get(obj, key) : NULL;
        return (v && !json_is_null(v)) || required ? -1 : dflt;
    }
    int idx = -1;
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], s) == 0)
            idx = i;
    }
    if (idx < 0) {
        char list[256] = "";
        for (int i = 0; names[i]; i++) {
            strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, names[i], sizeof list - strlen(list) - 1);
        }
        retl_problem_add(c->probs, "%s.%s: unsupported value \"%s\": must be one of %s",
                         path, key, s, list);
    }
    free(s);
    return idx;
}

static bool dns_label(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  (ch == '-' && i > 0 && i < n - 1);
        if (!ok)
            return false;
    }
    return true;
}

static bool sql_ident(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || !(islower((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
              s[i] == '_'))
            return false;
    }
    return true;
}

static char *get_secret_ref(struct vctx *c, const json_t *side, const char *path)
{
    char p[64];
    snprintf(p, sizeof p, "%s.secretRef", path);
    const json_t *ref = get_obj(c, side, path, "secretRef", true);
    if (!ref)
        return NULL;
    static const char *const known[] = {"name", NULL};
    check_known(c, ref, p, known);
    char *name = get_str(c, ref, p, "name", true);
    if (name && !dns_label(name, 253)) {
        /* Secret names are DNS subdomains; dots are allowed there */
        bool ok = strlen(name) <= 253;
        for (const char *q = name; *q && ok; q++)
            ok = islower((unsigned char)*q) || isdigit((unsigned char)*q) || *q == '-' ||
                 *q == '.';
        if (!ok) {
            retl_problem_add(c->probs, "%s.name: \"%s\" is not a valid Secret name", p,
                             name);
            free(name);
            return NULL;
        }
    }
    return name;
}

static const char *const source_types[] = {"postgres", "sqlserver", "snowflake", "odbc",
                                           NULL};
static const char *const dest_types[] = {"salesforce", "postgres", "hubspot", "http",
                                         NULL};
static const char *const api_names[] = {"auto", "rest", "bulk", NULL};
static const char *const mode_names[] = {"Insert", "Upsert", "Update", NULL};
static const char *const conc_names[] = {"Forbid", "Replace", NULL};
static const char *const cleanup_names[] = {"Retain", "Delete", NULL};
static const char *const deletes_names[] = {"Ignore", "Delete", "Clear", NULL};
static const char *const nulls_names[] = {"Write", "Skip", NULL};

static void parse_source(struct vctx *c, const json_t *spec, struct retl_job *j)
{
    const char *P = "spec.source";
    const json_t *s = get_obj(c, spec, "spec", "source", true);
    if (!s)
        return;
    static const char *const known[] = {"type",  "secretRef",   "query",
                                        "table", "stateSchema", NULL};
    check_known(c, s, P, known);
    int t = get_enum(c, s, P, "type", source_types, -1, true);
    if (t >= 0)
        j->source.type = strdup(source_types[t]);
    j->source.secret_name = get_secret_ref(c, s, P);
    j->source.query = get_str(c, s, P, "query", false);
    j->source.table = get_str(c, s, P, "table", false);
    bool has_q = json_object_get(s, "query") != NULL;
    bool has_t = json_object_get(s, "table") != NULL;
    if (has_q && has_t)
        retl_problem_add(c->probs, "spec.source: exactly one of query or table must be "
                                   "set, not both");
    else if (!has_q && !has_t)
        retl_problem_add(c->probs, "spec.source: exactly one of query or table must be "
                                   "set");
    if (j->source.query && !*j->source.query)
        retl_problem_add(c->probs, "spec.source.query: must not be empty");
    if (j->source.table && !*j->source.table)
        retl_problem_add(c->probs, "spec.source.table: must not be empty");
    j->source.state_schema = get_str(c, s, P, "stateSchema", false);
    if (!j->source.state_schema && !json_object_get(s, "stateSchema"))
        j->source.state_schema = strdup("retl");
    else if (j->source.state_schema && !sql_ident(j->source.state_schema))
        retl_problem_add(c->probs,
                         "spec.source.stateSchema: \"%s\" must be a lower-case SQL "
                         "identifier ([a-z_][a-z0-9_]*, at most 63 bytes)",
                         j->source.state_schema);
}

static void parse_destination(struct vctx *c, const json_t *spec, struct retl_job *j)
{
    const char *P = "spec.destination";
    const json_t *d = get_obj(c, spec, "spec", "destination", true);
    if (!d)
        return;
    static const char *const known[] = {"type", "secretRef", "object",
                                        "api",  "rateLimit", NULL};
    check_known(c, d, P, known);
    int t = get_enum(c, d, P, "type", dest_types, -1, true);
    if (t >= 0)
        j->destination.type = strdup(dest_types[t]);
    j->destination.secret_name = get_secret_ref(c, d, P);
    /* An http destination is named by its secret's url alone. */
    bool http = t >= 0 && strcmp(dest_types[t], "http") == 0;
    j->destination.object = get_str(c, d, P, "object", !http);
    const json_t *rl = get_obj(c, d, P, "rateLimit", false);
    if (rl) {
        static const char *const rl_known[] = {"requestsPerSecond", NULL};
        check_known(c, rl, "spec.destination.rateLimit", rl_known);
        const json_t *rps = json_object_get(rl, "requestsPerSecond");
        if (rps && !json_is_null(rps)) {
            if (!json_is_number(rps) || json_number_value(rps) <= 0 ||
                json_number_value(rps) > 100000)
                retl_problem_add(
                    c->probs, "spec.destination.rateLimit.requestsPerSecond: must be a "
                              "number above 0 and at most 100000");
            else
                j->destination.rate_limit_rps = json_number_value(rps);
        }
    }
    int api = get_enum(c, d, P, "api", api_names, RETL_API_AUTO, false);
    j->destination.api = api < 0 ? RETL_API_AUTO : (enum retl_sf_api)api;
    if (j->destination.object && j->destination.type &&
        strcmp(j->destination.type, "postgres") == 0 &&
        !strchr(j->destination.object, '.'))
        retl_problem_add(c->probs,
                         "spec.destination.object: \"%s\" must be \"schema.table\" for "
                         "a postgres destination",
                         j->destination.object);
}

/* spec.mappings[i].lookup: {object, field}. */
static void parse_lookup(struct vctx *c, const json_t *e, const char *p,
                         const struct retl_job *j, struct retl_mapping *mp)
{
    const json_t *lk = get_obj(c, e, p, "lookup", false);
    if (!lk)
        return;
    char lp[64];
    snprintf(lp, sizeof lp, "%s.lookup", p);
    static const char *const known[] = {"object", "field", NULL};
    check_known(c, lk, lp, known);
    mp->lookup_object = get_str(c, lk, lp, "object", true);
    mp->lookup_field = get_str(c, lk, lp, "field", true);
    if (mp->lookup_object && j->destination.type &&
        strcmp(j->destination.type, "postgres") == 0 && !strchr(mp->lookup_object, '.'))
        retl_problem_add(c->probs,
                         "%s.object: \"%s\" must be \"schema.table\" for a postgres "
                         "destination",
                         lp, mp->lookup_object);
}

static void parse_deletes(struct vctx *c, const json_t *spec, struct retl_job *j)
{
    j->deletes = RETL_DELETES_IGNORE;
    j->deletes_max_percent = 20;
    const json_t *d = get_obj(c, spec, "spec", "deletes", false);
    if (!d)
        return;
    const char *P = "spec.deletes";
    static const char *const known[] = {"mode", "maxPercent", NULL};
    check_known(c, d, P, known);
    int m = get_enum(c, d, P, "mode", deletes_names, RETL_DELETES_IGNORE, false);
    j->deletes = m < 0 ? RETL_DELETES_IGNORE : (enum retl_deletes)m;
    json_t *pct = json_object_get(d, "maxPercent");
    if (pct && !json_is_null(pct)) {
        if (!json_is_number(pct))
            retl_problem_add(c->probs, "%s.maxPercent: must be a number, not %s", P,
                             type_name(pct));
        else if (json_number_value(pct) < 0 || json_number_value(pct) > 100)
            retl_problem_add(c->probs, "%s.maxPercent: must be between 0 and 100, got %g",
                             P, json_number_value(pct));
        else
            j->deletes_max_percent = json_number_value(pct);
    }
}

static void parse_mappings(struct vctx *c, const json_t *spec, struct retl_job *j)
{
    json_t *m = json_object_get(spec, "mappings");
    if (!m || json_is_null(m)) {
        retl_problem_add(c->probs, "spec.mappings: required field is missing");
        return;
    }
    if (!json_is_array(m)) {
        retl_problem_add(c->probs, "spec.mappings: must be an array, not %s",
                         type_name(m));
        return;
    }
    size_t n = json_array_size(m);
    if (n == 0) {
        retl_problem_add(c->probs, "spec.mappings: must map at least one column");
        return;
    }
    if (n > 500) {
        retl_problem_add(c->probs, "spec.mappings: at most 500 mappings, got %zu", n);
        return;
    }
    j->mappings = calloc(n, sizeof *j->mappings);
    if (!j->mappings)
        return;
    static const char *const known[] = {"source", "destination", "nulls", "lookup", NULL};
    for (size_t i = 0; i < n; i++) {
        char p[48];
        snprintf(p, sizeof p, "spec.mappings[%zu]", i);
        json_t *e = json_array_get(m, i);
        if (!json_is_object(e)) {
            retl_problem_add(c->probs, "%s: must be an object, not %s", p, type_name(e));
            continue;
        }
        check_known(c, e, p, known);
        char *src = get_str(c, e, p, "source", true);
        char *dst = get_str(c, e, p, "destination", true);
        if (!src || !dst) {
            free(src);
            free(dst);
            continue;
        }
        for (size_t k = 0; k < j->n_mappings; k++) {
            if (strcmp(j->mappings[k].destination, dst) == 0)
                retl_problem_add(c->probs,
                                 "%s.destination: \"%s\" is already mapped by "
                                 "spec.mappings[%zu]",
                                 p, dst, k);
        }
        if (j->key.destination && strcmp(j->key.destination, dst) == 0)
            retl_problem_add(c->probs,
                             "%s.destination: \"%s\" is the key field; it is written "
                             "from spec.key.source",
                             p, dst);
        struct retl_mapping *mp = &j->mappings[j->n_mappings++];
        mp->source = src;
        mp->destination = dst;
        int nulls = get_enum(c, e, p, "nulls", nulls_names, RETL_NULLS_WRITE, false);
        mp->nulls = nulls < 0 ? RETL_NULLS_WRITE : (enum retl_nulls)nulls;
        parse_lookup(c, e, p, j, mp);
    }
}

static void parse_key(struct vctx *c, const json_t *spec, struct retl_job *j, int mode)
{
    const json_t *k = get_obj(c, spec, "spec", "key", true);
    if (!k)
        return;
    static const char *const known[] = {"source", "destination", NULL};
    check_known(c, k, "spec.key", known);
    j->key.source = get_str(c, k, "spec.key", "source", true);
    bool need_dest = mode == RETL_MODE_UPSERT || mode == RETL_MODE_UPDATE;
    j->key.destination = get_str(c, k, "spec.key", "destination", need_dest);
    bool sf = j->destination.type && strcmp(j->destination.type, "salesforce") == 0;
    if (mode == RETL_MODE_UPDATE && sf && j->key.destination &&
        strcmp(j->key.destination, "Id") != 0)
        retl_problem_add(c->probs,
                         "spec.key.destination: must be \"Id\" in Update mode, got "
                         "\"%s\"",
                         j->key.destination);
    if (mode == RETL_MODE_UPSERT && sf && j->key.destination &&
        strcmp(j->key.destination, "Id") == 0)
        retl_problem_add(c->probs,
                         "spec.key.destination: Upsert needs an external id field, "
                         "not \"Id\" (use Update mode to match on Id)");
}

static void parse_threshold(struct vctx *c, const json_t *spec, struct retl_job *j)
{
    j->max_failed_rows = -1;
    j->max_failed_percent = -1;
    const json_t *t = get_obj(c, spec, "spec", "errorThreshold", false);
    if (!t)
        return;
    const char *P = "spec.errorThreshold";
    static const char *const known[] = {"maxFailedRows", "maxFailedPercent", NULL};
    check_known(c, t, P, known);
    long long rows;
    if (get_int(c, t, P, "maxFailedRows", 0, 1000000000000LL, &rows))
        j->max_failed_rows = rows;
    json_t *pct = json_object_get(t, "maxFailedPercent");
    if (pct && !json_is_null(pct)) {
        if (!json_is_number(pct))
            retl_problem_add(c->probs, "%s.maxFailedPercent: must be a number, not %s", P,
                             type_name(pct));
        else if (json_number_value(pct) < 0 || json_number_value(pct) > 100)
            retl_problem_add(c->probs,
                             "%s.maxFailedPercent: must be between 0 and 100, got %g", P,
                             json_number_value(pct));
        else
            j->max_failed_percent = json_number_value(pct);
    }
}

static void parse_run_template(struct vctx *c, const json_t *spec, struct retl_job *j)
{
    const json_t *rt = get_obj(c, spec, "spec", "runTemplate", false);
    if (!rt)
        return;
    const char *P = "spec.runTemplate";
    static const char *const known[] = {
        "image",        "serviceAccountName", "resources", "activeDeadlineSeconds",
        "nodeSelector", "tolerations",        NULL};
    check_known(c, rt, P, known);
    free(get_str(c, rt, P, "image", false));
    free(get_str(c, rt, P, "serviceAccountName", false));
    get_obj(c, rt, P, "resources", false);
    long long ads;
    get_int(c, rt, P, "activeDeadlineSeconds", 1, 31536000, &ads);
    const json_t *ns = get_obj(c, rt, P, "nodeSelector", false);
    if (ns) {
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *)ns, k, v) {
            if (!json_is_string(v))
                retl_problem_add(c->probs, "%s.nodeSelector.%s: must be a string", P, k);
        }
    }
    json_t *tol = json_object_get(rt, "tolerations");
    if (tol && !json_is_null(tol) && !json_is_array(tol))
        retl_problem_add(c->probs, "%s.tolerations: must be an array, not %s", P,
                         type_name(tol));
    j->run_template = json_deep_copy(rt);
}

static void parse_metadata(struct vctx *c, const json_t *obj, struct retl_job *j)
{
    const json_t *md = get_obj(c, obj, "", "metadata", true);
    if (!md)
        return;
    j->name = get_str(c, md, "metadata", "name", true);
    if (j->name && !dns_label(j->name, RETL_MAX_NAME_LEN))
        retl_problem_add(c->probs,
                         "metadata.name: \"%s\" must be a DNS label of at most %d "
                         "characters (lower-case letters, digits, '-'), so run pod "
                         "names fit",
                         j->name, RETL_MAX_NAME_LEN);
    j->namespace = get_str(c, md, "metadata", "namespace", false);
    if (!j->namespace)
        j->namespace = strdup("default");
    else if (!dns_label(j->namespace, 63))
        retl_problem_add(c->probs, "metadata.namespace: \"%s\" is not a valid namespace",
                         j->namespace);
    j->uid = get_str(c, md, "metadata", "uid", false);
    long long gen = 0;
    get_int(c, md, "metadata", "generation", 0, 1LL << 53, &gen);
    j->generation = gen;
}

/* spec.after: [{name}] of jobs in the same namespace, each once, never the
 * job itself (cycles through other jobs only the controller can see). */
static void parse_after(struct vctx *c, const json_t *spec, struct retl_job *j)
{
    json_t *a = json_object_get(spec, "after");
    if (!a || json_is_null(a))
        return;
    if (!json_is_array(a)) {
        retl_problem_add(c->probs, "spec.after: must be an array, not %s", type_name(a));
        return;
    }
    size_t n = json_array_size(a);
    if (n > RETL_MAX_AFTER) {
        retl_problem_add(c->probs, "spec.after: at most %d jobs, got %zu", RETL_MAX_AFTER,
                         n);
        return;
    }
    j->after = calloc(n ? n : 1, sizeof *j->after);
    if (!j->after)
        return;
    static const char *const known[] = {"name", NULL};
    for (size_t i = 0; i < n; i++) {
        char p[32];
        snprintf(p, sizeof p, "spec.after[%zu]", i);
        json_t *e = json_array_get(a, i);
        if (!json_is_object(e)) {
            retl_problem_add(c->probs, "%s: must be an object, not %s", p, type_name(e));
            continue;
        }
        check_known(c, e, p, known);
        char *name = get_str(c, e, p, "name", true);
        if (!name)
            continue;
        bool bad = false;
        if (!dns_label(name, RETL_MAX_NAME_LEN)) {
            retl_problem_add(c->probs, "%s.name: \"%s\" is not a job name", p, name);
            bad = true;
        } else if (j->name && strcmp(name, j->name) == 0) {
            retl_problem_add(c->probs, "%s.name: a job cannot run after itself", p);
            bad = true;
        }
        for (size_t k = 0; !bad && k < j->n_after; k++) {
            if (strcmp(j->after[k], name) == 0) {
                retl_problem_add(c->probs, "%s.name: \"%s\" is listed twice", p, name);
                bad = true;
            }
        }
        if (bad)
            free(name);
        else
            j->after[j->n_after++] = name;
    }
}

static void parse_spec(struct vctx *c, const json_t *spec, struct retl_job *j)
{
    static const char *const known[] = {"source",
                                        "destination",
                                        "mode",
                                        "key",
                                        "mappings",
                                        "schedule",
                                        "timeZone",
                                        "suspend",
                                        "concurrencyPolicy",
                                        "startingDeadlineSeconds",
                                        "batchSize",
                                        "errorThreshold",
                                        "historyLimit",
                                        "cleanupPolicy",
                                        "runTemplate",
                                        "deletes",
                                        "after",
                                        NULL};
    check_known(c, spec, "spec", known);
    parse_source(c, spec, j);
    parse_destination(c, spec, j);
    int mode = get_enum(c, spec, "spec", "mode", mode_names, -1, true);
    if (mode >= 0)
        j->mode = (enum retl_mode)mode;
    parse_key(c, spec, j, mode);
    parse_mappings(c, spec, j);
    parse_deletes(c, spec, j);

    j->schedule = get_str(c, spec, "spec", "schedule", false);
    if (j->schedule) {
        struct retl_cron cr;
        struct retl_errbuf eb = {{0}};
        if (retl_cron_parse(j->schedule, &cr, &eb))
            retl_problem_add(c->probs, "spec.schedule: \"%s\": %s", j->schedule, eb.msg);
    }
    j->time_zone = get_str(c, spec, "spec", "timeZone", false);
    if (!j->time_zone && !json_object_get(spec, "timeZone"))
        j->time_zone = strdup("UTC");
    else if (j->time_zone && !retl_tz_valid(j->time_zone))
        retl_problem_add(c->probs, "spec.timeZone: unknown time zone \"%s\"",
                         j->time_zone);

    json_t *sus = json_object_get(spec, "suspend");
    if (sus && !json_is_null(sus) && !json_is_boolean(sus))
        retl_problem_add(c->probs, "spec.suspend: must be a boolean, not %s",
                         type_name(sus));
    j->suspend = json_is_true(sus);
    int conc = get_enum(c, spec, "spec", "concurrencyPolicy", conc_names,
                        RETL_CONC_FORBID, false);
    j->concurrency = conc < 0 ? RETL_CONC_FORBID : (enum retl_concurrency)conc;
    long long v;
    j->starting_deadline_seconds = -1;
    if (get_int(c, spec, "spec", "startingDeadlineSeconds", 0, 31536000, &v))
        j->starting_deadline_seconds = v;
    j->batch_size = 200;
    if (get_int(c, spec, "spec", "batchSize", 1, 100000, &v)) {
        j->batch_size = (int)v;
        j->batch_size_set = true;
    }
    parse_threshold(c, spec, j);
    j->history_limit = 10;
    if (get_int(c, spec, "spec", "historyLimit", 0, 100, &v))
        j->history_limit = (int)v;
    int cl = get_enum(c, spec, "spec", "cleanupPolicy", cleanup_names,
                      RETL_CLEANUP_RETAIN, false);
    j->cleanup = cl < 0 ? RETL_CLEANUP_RETAIN : (enum retl_cleanup)cl;
    parse_run_template(c, spec, j);
    parse_after(c, spec, j);
}

retl_err retl_job_parse(const json_t *obj, struct retl_job **out,
                        struct retl_problems *probs)
{
    struct vctx c = {probs};
    size_t before = probs->n + probs->dropped;
    if (!json_is_object(obj)) {
        retl_problem_add(probs, "the job must be an object, not %s",
                         obj ? type_name(obj) : "nothing");
        return RETL_E_SPEC;
    }
    struct retl_job *j = calloc(1, sizeof *j);
    if (!j)
        return RETL_E_NOMEM;
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!av || strcmp(av, RETL_API_VERSION) != 0)
        retl_problem_add(probs, "apiVersion: must be \"%s\"", RETL_API_VERSION);
    if (!kind || strcmp(kind, RETL_KIND) != 0)
        retl_problem_add(probs, "kind: must be \"%s\"", RETL_KIND);
    static const char *const known[] = {"apiVersion", "kind",   "metadata",
                                        "spec",       "status", NULL};
    check_known(&c, obj, "", known);
    /* check_known prefixes with the path and a dot; fix the top-level form */
    for (size_t i = before; i < probs->n; i++) {
        if (probs->msgs[i][0] == '.')
            memmove(probs->msgs[i], probs->msgs[i] + 1, strlen(probs->msgs[i]));
    }
    parse_metadata(&c, obj, j);
    const json_t *spec = get_obj(&c, obj, "", "spec", true);
    for (size_t i = before; i < probs->n; i++) {
        if (probs->msgs[i][0] == '.')
            memmove(probs->msgs[i], probs->msgs[i] + 1, strlen(probs->msgs[i]));
    }
    if (spec)
        parse_spec(&c, spec, j);
    if (probs->n + probs->dropped > before) {
        retl_job_free(j);
        return RETL_E_SPEC;
    }
    *out = j;
    return RETL_E_OK;
}

void retl_job_free(struct retl_job *j)
{
    if (!j)
        return;
    free(j->name);
    free(j->namespace);
    free(j->uid);
    free(j->source.type);
    free(j->source.secret_name);
    free(j->source.query);
    free(j->source.table);
    free(j->source.state_schema);
    free(j->destination.type);
    free(j->destination.secret_name);
    free(j->destination.object);
    free(j->key.source);
    free(j->key.destination);
    for (size_t i = 0; i < j->n_mappings; i++) {
        free(j->mappings[i].source);
        free(j->mappings[i].destination);
        free(j->mappings[i].lookup_object);
        free(j->mappings[i].lookup_field);
    }
    free(j->mappings);
    free(j->schedule);
    free(j->time_zone);
    json_decref(j->run_template);
    for (size_t i = 0; i < j->n_after; i++)
        free(j->after[i]);
    free(j->after);
    free(j);
}
