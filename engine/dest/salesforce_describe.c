/* Describe: the object's field metadata, and the validation of a job's columns
 * against it before anything is written. Messages name the spec field so a
 * user can fix the resource: "spec.mappings[2].destination: field Scor__c
 * does not exist on Account". */
#include "engine/dest/salesforce_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static enum sf_ftype ftype_of(const char *t)
{
    static const struct {
        const char *name;
        enum sf_ftype type;
    } map[] = {
        {"string", SF_F_STRING},
        {"textarea", SF_F_STRING},
        {"email", SF_F_STRING},
        {"phone", SF_F_STRING},
        {"url", SF_F_STRING},
        {"picklist", SF_F_STRING},
        {"multipicklist", SF_F_STRING},
        {"combobox", SF_F_STRING},
        {"encryptedstring", SF_F_STRING},
        {"id", SF_F_ID},
        {"reference", SF_F_ID},
        {"boolean", SF_F_BOOL},
        {"int", SF_F_INT},
        {"long", SF_F_INT},
        {"double", SF_F_DOUBLE},
        {"currency", SF_F_DOUBLE},
        {"percent", SF_F_DOUBLE},
        {"date", SF_F_DATE},
        {"datetime", SF_F_DATETIME},
        {"time", SF_F_TIME},
        {"base64", SF_F_BASE64},
    };
    for (size_t i = 0; t && i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(t, map[i].name))
            return map[i].type;
    return SF_F_OTHER;
}

void sf_describe_free(struct sf_describe *d)
{
    for (size_t i = 0; i < d->n_fields; i++) {
        free(d->fields[i].name);
        free(d->fields[i].type_name);
        free(d->fields[i].reference_to);
        free(d->fields[i].relationship_name);
    }
    free(d->fields);
    free(d->object);
    memset(d, 0, sizeof *d);
}

static bool jbool(const json_t *o, const char *k)
{
    return json_is_true(json_object_get(o, k));
}

static long jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

retl_err sf_describe_parse(const char *body, struct sf_describe *d,
                           struct retl_errbuf *eb)
{
    memset(d, 0, sizeof *d);
    json_error_t je;
    json_t *j = json_loads(body ? body : "", 0, &je);
    retl_err e = RETL_E_OK;
    const json_t *fields = json_object_get(j, "fields");
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!json_is_object(j) || !json_is_array(fields) || !name) {
        e = retl_errf(eb, RETL_E_PARSE,
                      "Salesforce describe: expected an object with name and "
                      "fields%s%s",
                      j ? "" : ": ", j ? "" : je.text);
        goto out;
    }
    d->object = strdup(name);
    size_t n = json_array_size(fields);
    d->fields = calloc(n ? n : 1, sizeof *d->fields);
    if (!d->object || !d->fields) {
        e = RETL_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *f = json_array_get(fields, i);
        const char *fn = json_string_value(json_object_get(f, "name"));
        const char *ft = json_string_value(json_object_get(f, "type"));
        if (!fn)
            continue;
        struct sf_field *o = &d->fields[d->n_fields];
        o->name = strdup(fn);
        o->type_name = strdup(ft ? ft : "");
        if (!o->name || !o->type_name) {
            free(o->name);
            free(o->type_name);
            e = RETL_E_NOMEM;
            goto out;
        }
        d->n_fields++;
        o->type = ftype_of(ft);
        o->length = jint(f, "length");
        o->precision = (int)jint(f, "precision");
        o->scale = (int)jint(f, "scale");
        o->digits = (int)jint(f, "digits");
        o->nillable = jbool(f, "nillable");
        o->createable = jbool(f, "createable");
        o->updateable = jbool(f, "updateable");
        o->defaulted = jbool(f, "defaultedOnCreate");
        o->external_id = jbool(f, "externalId");
        o->id_lookup = jbool(f, "idLookup");
        const char *rel = json_string_value(json_object_get(f, "relationshipName"));
        if (rel && !(o->relationship_name = strdup(rel))) {
            e = RETL_E_NOMEM;
            goto out;
        }
        size_t k;
        json_t *rt;
        json_array_foreach (json_object_get(f, "referenceTo"), k, rt) {
            const char *t = json_string_value(rt);
            char *joined = NULL;
            if (!t)
                continue;
            if (asprintf(&joined, "%s%s%s", o->reference_to ? o->reference_to : "",
                         o->reference_to ? "," : "", t) < 0) {
                e = RETL_E_NOMEM;
                goto out;
            }
            free(o->reference_to);
            o->reference_to = joined;
        }
    }
out:
    if (e)
        sf_describe_free(d);
    json_decref(j);
    return e;
}

const struct sf_field *sf_describe_field(const struct sf_describe *d, const char *name)
{
    for (size_t i = 0; name && i < d->n_fields; i++)
        if (!strcasecmp(d->fields[i].name, name))
            return &d->fields[i];
    return NULL;
}

static bool is_required(const struct sf_field *f)
{
    return f->createable && !f->nillable && !f->defaulted;
}

/* The spec path of column c: spec.key.destination or spec.mappings[i]... */
static void col_path(const struct retl_job *job, const struct eng_col *c, char *out,
                     size_t n)
{
    if (c->is_key) {
        snprintf(out, n, "spec.key.destination");
        return;
    }
    for (size_t i = 0; job && i < job->n_mappings; i++) {
        const struct retl_mapping *m = &job->mappings[i];
        if (m->destination && !strcmp(m->destination, c->destination) &&
            (!m->source || !c->source || !strcmp(m->source, c->source))) {
            snprintf(out, n, "spec.mappings[%zu].destination", i);
            return;
        }
    }
    snprintf(out, n, "spec.mappings");
}

static void list_ext_ids(const struct sf_describe *d, char *out, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < d->n_fields && o + 1 < n; i++) {
        if (!d->fields[i].external_id)
            continue;
        int w = snprintf(out + o, n - o, "%s%s", o ? ", " : "", d->fields[i].name);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    if (!o)
        snprintf(out, n, "none");
}

/* "WHERE: field F on O is not an external id field (external ids: ...)". */
static void not_external_id(struct retl_problems *probs, const char *where,
                            const struct sf_describe *d, const struct sf_field *f)
{
    char ids[512];
    list_ext_ids(d, ids, sizeof ids);
    retl_problem_add(probs,
                     "%s: field %s on %s is not an external id field (external ids: %s)",
                     where, f->name, d->object, ids);
}

void sf_validate(const struct sf_describe *d, const struct retl_job *job,
                 const struct eng_col *cols, size_t ncols,
                 const struct sf_field **fields_out, struct retl_problems *probs)
{
    enum retl_mode mode = job ? job->mode : RETL_MODE_UPSERT;
    const char *mname = mode == RETL_MODE_INSERT   ? "Insert"
                        : mode == RETL_MODE_UPDATE ? "Update"
                                                   : "Upsert";
    bool creates = mode != RETL_MODE_UPDATE;
    bool updates = mode != RETL_MODE_INSERT;
    bool have_key = false;
    for (size_t i = 0; i < ncols; i++) {
        const struct eng_col *c = &cols[i];
        fields_out[i] = NULL;
        if (!c->destination || !*c->destination)
            continue;
        char path[64];
        col_path(job, c, path, sizeof path);
        const struct sf_field *f = sf_describe_field(d, c->destination);
        if (!f) {
            retl_problem_add(probs, "%s: field %s does not exist on %s", path,
                             c->destination, d->object);
            continue;
        }
        fields_out[i] = f;
        for (size_t k = 0; k < i; k++) {
            if (fields_out[k] == f) {
                retl_problem_add(probs, "%s: field %s is already mapped from column %s",
                                 path, f->name, cols[k].source);
                break;
            }
        }
        if (c->is_key && mode == RETL_MODE_UPDATE) {
            have_key = true;
            if (strcasecmp(f->name, "Id"))
                retl_problem_add(probs, "%s: must be Id in Update mode (got %s)", path,
                                 f->name);
            continue;
        }
        if (c->is_key && mode == RETL_MODE_UPSERT) {
            have_key = true;
            if (!strcasecmp(f->name, "Id")) {
                retl_problem_add(probs,
                                 "%s: Upsert matches on an external id field, "
                                 "not Id; use mode Update to match on Id",
                                 path);
            } else if (!f->external_id && !f->id_lookup) {
                not_external_id(probs, path, d, f);
            }
            continue;
        }
        if (creates && !f->createable)
            retl_problem_add(probs, "%s: field %s on %s is not createable (mode %s)",
                             path, f->name, d->object, mname);
        if (updates && !f->updateable)
            retl_problem_add(probs, "%s: field %s on %s is not updateable (mode %s)",
                             path, f->name, d->object, mname);
    }
    if (mode != RETL_MODE_INSERT && !have_key)
        retl_problem_add(probs, "spec.key.destination: required in %s mode", mname);
    if (!creates)
        return;
    for (size_t k = 0; k < d->n_fields; k++) {
        const struct sf_field *f = &d->fields[k];
        if (!is_required(f))
            continue;
        bool mapped = false;
        for (size_t i = 0; i < ncols && !mapped; i++)
            mapped = fields_out[i] == f;
        if (!mapped)
            retl_problem_add(probs,
                             "spec.mappings: required field %s of %s is not "
                             "mapped (mode %s creates records)",
                             f->name, d->object, mname);
    }
}

/* The spec path of mapping column c: "spec.mappings[i]". */
static void map_path(const struct retl_job *job, const struct eng_col *c, char *out,
                     size_t n)
{
    col_path(job, c, out, n);
    char *dot = strstr(out, ".destination");
    if (dot)
        *dot = '\0';
}

static bool in_list(const char *list, const char *name)
{
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == strlen(name) && !strncasecmp(p, name, n))
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

void sf_validate_lookup(const struct retl_job *job, const struct eng_col *c,
                        const struct sf_field *f, const struct sf_describe *parent,
                        struct retl_problems *probs)
{
    char path[64];
    map_path(job, c, path, sizeof path);
    if (strcasecmp(f->type_name, "reference") || !f->relationship_name) {
        retl_problem_add(probs,
                         "%s.lookup: field %s is not a reference field (type %s), so it "
                         "cannot point to %s records",
                         path, f->name, f->type_name, c->lookup_object);
        return;
    }
    if (!in_list(f->reference_to, c->lookup_object)) {
        retl_problem_add(probs, "%s.lookup.object: field %s references %s, not %s", path,
                         f->name, f->reference_to ? f->reference_to : "nothing",
                         c->lookup_object);
        return;
    }
    if (!parent)
        return;
    const struct sf_field *pf = sf_describe_field(parent, c->lookup_field);
    if (!pf) {
        retl_problem_add(probs, "%s.lookup.field: field %s does not exist on %s", path,
                         c->lookup_field, parent->object);
    } else if (!pf->external_id && !pf->id_lookup) {
        char where[256];
        snprintf(where, sizeof where, "%s.lookup.field", path);
        not_external_id(probs, where, parent, pf);
    }
}

void sf_describe_info(const struct sf_describe *d, json_t *info)
{
    json_t *ext = json_array(), *req = json_array();
    for (size_t i = 0; i < d->n_fields; i++) {
        const struct sf_field *f = &d->fields[i];
        if (f->external_id)
            json_array_append_new(ext, json_string(f->name));
        if (is_required(f))
            json_array_append_new(req, json_string(f->name));
    }
    json_object_set_new(info, "externalIdFields", ext);
    json_object_set_new(info, "requiredFields", req);
}
