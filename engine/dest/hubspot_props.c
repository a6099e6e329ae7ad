/* The Properties API: parsing, spec validation, value conversion. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/json.h"
#include "engine/dest/hubspot_int.h"

static void prop_free(struct hs_prop *p)
{
    free(p->name);
    for (size_t i = 0; i < p->noptions; i++)
        free(p->options[i]);
    free(p->options);
}

void hs_props_free(struct hs_props *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        prop_free(&p->v[i]);
    free(p->v);
    memset(p, 0, sizeof *p);
}

static enum hs_ptype ptype(const char *t)
{
    if (!t)
        return HS_P_STRING;
    if (!strcmp(t, "number"))
        return HS_P_NUMBER;
    if (!strcmp(t, "date"))
        return HS_P_DATE;
    if (!strcmp(t, "datetime"))
        return HS_P_DATETIME;
    if (!strcmp(t, "enumeration"))
        return HS_P_ENUM;
    if (!strcmp(t, "bool"))
        return HS_P_BOOL;
    return HS_P_STRING; /* string, phone_number, json, object_coordinates */
}

retl_err hs_props_parse(const json_t *body, struct hs_props *out, struct retl_errbuf *eb)
{
    const json_t *res = json_object_get(body, "results");
    if (!json_is_array(res))
        return retl_errf(eb, RETL_E_PARSE,
                         "HubSpot properties answer has no results array");
    size_t n = json_array_size(res);
    if (n > HS_MAX_PROPS)
        return retl_errf(eb, RETL_E_TOO_BIG, "HubSpot lists %zu properties (at most %d)",
                         n, HS_MAX_PROPS);
    struct hs_props p = {.v = calloc(n ? n : 1, sizeof *p.v)};
    if (!p.v)
        return RETL_E_NOMEM;
    retl_err rc = RETL_E_OK;
    for (size_t i = 0; i < n; i++) {
        const json_t *j = json_array_get(res, i);
        const char *name = retl_json_str(j, "name");
        if (!name)
            continue;
        struct hs_prop *q = &p.v[p.n++];
        q->name = strdup(name);
        q->type = ptype(retl_json_str(j, "type"));
        q->read_only =
            json_is_true(retl_json_path(j, "modificationMetadata.readOnlyValue")) ||
            json_is_true(json_object_get(j, "calculated"));
        q->unique = json_is_true(json_object_get(j, "hasUniqueValue"));
        const json_t *opts = json_object_get(j, "options");
        if (!q->name) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        if (json_is_array(opts) && json_array_size(opts)) {
            q->options = calloc(json_array_size(opts), sizeof *q->options);
            if (!q->options) {
                rc = RETL_E_NOMEM;
                goto out;
            }
            size_t k;
            const json_t *o;
            json_array_foreach (opts, k, o) {
                const char *v = retl_json_str(o, "value");
                if (v && !(q->options[q->noptions++] = strdup(v))) {
                    rc = RETL_E_NOMEM;
                    goto out;
                }
            }
        }
    }
out:
    if (rc) {
        hs_props_free(&p);
        return rc;
    }
    *out = p;
    return RETL_E_OK;
}

const struct hs_prop *hs_props_find(const struct hs_props *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].name, name) == 0)
            return &p->v[i];
    return NULL;
}

static bool is_contacts(const char *object)
{
    return !strcasecmp(object, "contacts") || !strcmp(object, "0-1");
}

void hs_validate(const struct hs_props *props, const struct retl_job *job,
                 const char *object, const struct eng_col *cols, size_t ncols,
                 const struct hs_prop **out, struct retl_problems *probs)
{
    for (size_t i = 0; i < ncols; i++) {
        const char *name = cols[i].destination;
        char field[64] = "spec.key.destination";
        if (!cols[i].is_key)
            for (size_t k = 0; k < job->n_mappings; k++)
                if (strcmp(job->mappings[k].destination, name) == 0) {
                    snprintf(field, sizeof field, "spec.mappings[%zu].destination", k);
                    break;
                }
        out[i] = NULL;
        bool id = strcmp(name, "hs_object_id") == 0;
        if (cols[i].is_key && id && job->mode == RETL_MODE_UPDATE)
            continue;
        if (cols[i].is_key && id) {
            retl_problem_add(probs,
                             "%s: hs_object_id is HubSpot's record id; match on it with "
                             "mode Update (Upsert needs email or a property with unique "
                             "values)",
                             field);
            continue;
        }
        const struct hs_prop *p = hs_props_find(props, name);
        if (!p) {
            retl_problem_add(probs,
                             "%s: property \"%s\" does not exist on HubSpot object %s",
                             field, name, object);
            continue;
        }
        out[i] = p;
        if (cols[i].is_key && job->mode != RETL_MODE_INSERT) {
            bool email = is_contacts(object) && strcmp(name, "email") == 0;
            if (job->mode == RETL_MODE_UPSERT && !p->unique && !email)
                retl_problem_add(probs,
                                 "%s: property \"%s\" of %s does not have unique values "
                                 "(hasUniqueValue is false); Upsert needs %sa property "
                                 "with unique values",
                                 field, name, object,
                                 is_contacts(object) ? "email or " : "");
            else if (job->mode == RETL_MODE_UPDATE && (!p->unique || email))
                retl_problem_add(
                    probs,
                    "%s: Update matches records by hs_object_id or a property "
                    "with unique values; \"%s\" of %s is not one%s",
                    field, name, object,
                    email ? " (HubSpot accepts email only for upserts)" : "");
            continue;
        }
        if (p->read_only)
            retl_problem_add(
                probs,
                "%s: property \"%s\" of %s is read-only (calculated or set by "
                "HubSpot)",
                field, name, object);
    }
}

/* ---- values ---- */

static bool plain_decimal(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    bool digits = false, dot = false;
    for (; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits = true;
        else if (*p == '.' && !dot)
            dot = true;
        else
            return false;
    }
    return digits;
}

static char *number(const char *v, const char **why)
{
    if (plain_decimal(v))
        return strdup(v[0] == '+' ? v + 1 : v);
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d)) {
        *why = "not a number";
        return NULL;
    }
    char buf[400];
    snprintf(buf, sizeof buf, "%.15f", d);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *e = buf + strlen(buf) - 1;
        while (e > dot && *e == '0')
            *e-- = '\0';
        if (e == dot)
            *e = '\0';
    }
    return strdup(buf);
}

static char *boolean(const char *v, const char **why)
{
    static const char *const yes[] = {"true", "t", "yes", "y", "1", "on", NULL};
    static const char *const no[] = {"false", "f", "no", "n", "0", "off", NULL};
    for (const char *const *y = yes; *y; y++)
        if (!strcasecmp(v, *y))
            return strdup("true");
    for (const char *const *n = no; *n; n++)
        if (!strcasecmp(v, *n))
            return strdup("false");
    *why = "not a boolean (true or false)";
    return NULL;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Parses "YYYY-MM-DD[( |T)HH:MM[:SS[.frac]]][Z|(+|-)HH[:MM]]" into UTC
 * seconds and milliseconds. */
static bool parse_ts(const char *s, long long *secs, int *ms, bool *has_time)
{
    if (strlen(s) < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
        s[7] != '-' || !digits(s + 8, 2))
        return false;
    struct tm tm = {0};
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31)
        return false;
    const char *p = s + 10;
    *ms = 0;
    *has_time = false;
    long off = 0;
    if (*p == ' ' || *p == 'T') {
        p++;
        if (!digits(p, 2) || p[2] != ':' || !digits(p + 3, 2))
            return false;
        tm.tm_hour = atoi(p);
        tm.tm_min = atoi(p + 3);
        p += 5;
        if (*p == ':') {
            if (!digits(p + 1, 2))
                return false;
            tm.tm_sec = atoi(p + 1);
            p += 3;
        }
        if (*p == '.') {
            p++;
            int scale = 100;
            while (isdigit((unsigned char)*p)) {
                *ms += (*p - '0') * scale;
                scale /= 10;
                p++;
            }
        }
        *has_time = true;
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1;
            p++;
            if (!digits(p, 2))
                return false;
            long h = atoi(p), m = 0;
            p += 2;
            if (*p == ':')
                p++;
            if (digits(p, 2)) {
                m = atoi(p);
                p += 2;
            }
            off = sign * (h * 3600 + m * 60);
        }
    }
    if (*p)
        return false;
    *secs = (long long)timegm(&tm) - off;
    return true;
}

static char *date_value(enum eng_type t, const char *v, bool datetime, const char **why)
{
    /* Epoch milliseconds pass through: HubSpot takes them for both types. */
    if (t == ENG_T_INT || (plain_decimal(v) && !strchr(v, '.') && strlen(v) > 8)) {
        if (!plain_decimal(v) || strchr(v, '.')) {
            *why = "not epoch milliseconds";
            return NULL;
        }
        return strdup(v);
    }
    long long secs;
    int ms;
    bool has_time;
    if (!parse_ts(v, &secs, &ms, &has_time)) {
        *why = datetime ? "not a datetime (ISO 8601 or epoch milliseconds)"
                        : "not a date (YYYY-MM-DD)";
        return NULL;
    }
    time_t tt = (time_t)secs;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char buf[40];
    if (datetime)
        snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, ms);
    else if (t == ENG_T_TIMESTAMP || !has_time)
        snprintf(buf, sizeof buf, "%.10s", v); /* the calendar day as written */
    else
        snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday);
    return strdup(buf);
}

static char *enumeration(const struct hs_prop *p, const char *v, const char **why)
{
    const char *s = v[0] == ';' ? v + 1 : v; /* a leading ';' appends */
    while (*s) {
        size_t n = strcspn(s, ";");
        bool ok = false;
        for (size_t i = 0; i < p->noptions && !ok; i++)
            ok = strlen(p->options[i]) == n && strncmp(p->options[i], s, n) == 0;
        if (!ok) {
            *why = "not one of the property's options";
            return NULL;
        }
        s += n + (s[n] == ';');
    }
    return strdup(v);
}

char *hs_value(const struct hs_prop *p, enum eng_type t, const char *v, const char **why)
{
    *why = NULL;
    switch (p->type) {
    case HS_P_NUMBER:
        if (t == ENG_T_BOOL) {
            *why = "a boolean is not a number";
            return NULL;
        }
        return number(v, why);
    case HS_P_BOOL: return boolean(v, why);
    case HS_P_DATE: return date_value(t, v, false, why);
    case HS_P_DATETIME: return date_value(t, v, true, why);
    case HS_P_ENUM: return enumeration(p, v, why);
    case HS_P_STRING: break;
    }
    return strdup(v);
}
