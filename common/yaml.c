#include "yaml.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "buf.h"

/* Bound on values produced, so that alias expansion ("billion laughs") fails
 * instead of exhausting memory. */
#define MAX_NODES 1000000
#define MAX_DEPTH 256

struct anchor {
    char *name;
    json_t *value;
};

struct loader {
    yaml_parser_t parser;
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
    size_t nodes;
    struct retl_errbuf *eb;
};

static retl_err parse_error(struct loader *l)
{
    const yaml_parser_t *p = &l->parser;
    return retl_errf(l->eb, RETL_E_PARSE, "YAML line %zu column %zu: %s%s%s",
                     p->problem_mark.line + 1, p->problem_mark.column + 1,
                     p->problem ? p->problem : "syntax error", p->context ? " " : "",
                     p->context ? p->context : "");
}

static retl_err at_error(struct loader *l, const yaml_event_t *ev, const char *what)
{
    return retl_errf(l->eb, RETL_E_PARSE, "YAML line %zu column %zu: %s",
                     ev->start_mark.line + 1, ev->start_mark.column + 1, what);
}

static void anchors_clear(struct loader *l)
{
    for (size_t i = 0; i < l->n_anchors; i++) {
        free(l->anchors[i].name);
        json_decref(l->anchors[i].value);
    }
    l->n_anchors = 0;
}

static retl_err anchor_add(struct loader *l, const char *name, json_t *v)
{
    if (l->n_anchors == l->cap_anchors) {
        size_t cap = l->cap_anchors ? l->cap_anchors * 2 : 8;
        struct anchor *a = realloc(l->anchors, cap * sizeof *a);
        if (!a)
            return RETL_E_NOMEM;
        l->anchors = a;
        l->cap_anchors = cap;
    }
    char *n = strdup(name);
    if (!n)
        return RETL_E_NOMEM;
    l->anchors[l->n_anchors].name = n;
    l->anchors[l->n_anchors].value = json_incref(v);
    l->n_anchors++;
    return RETL_E_OK;
}

static size_t count_nodes(const json_t *v)
{
    size_t n = 1;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach ((json_t *)v, k, x)
            n += count_nodes(x);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach (v, i, x)
            n += count_nodes(x);
    }
    return n;
}

static bool all_digits(const char *s, int base)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        if (base == 10 && !(*s >= '0' && *s <= '9'))
            return false;
        if (base == 16 && !strchr("0123456789abcdefABCDEF", *s))
            return false;
        if (base == 8 && !(*s >= '0' && *s <= '7'))
            return false;
    }
    return true;
}

/* YAML 1.2 core schema resolution of a plain scalar. */
static json_t *plain_scalar(const char *s, size_t len)
{
    if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
        strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)
        return json_null();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_false();
    const char *d = s;
    if (*d == '-' || *d == '+')
        d++;
    if (all_digits(d, 10)) {
        errno = 0;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (!errno && !*end)
            return json_integer(v);
        return json_real(strtod(s, NULL));
    }
    if (!strncmp(s, "0x", 2) && all_digits(s + 2, 16))
        return json_integer(strtoll(s + 2, NULL, 16));
    if (!strncmp(s, "0o", 2) && all_digits(s + 2, 8))
        return json_integer(strtoll(s + 2, NULL, 8));
    if (!strcmp(s, ".inf") || !strcmp(s, "-.inf") || !strcmp(s, ".nan"))
        return json_stringn(s, len); /* JSON has no infinities */
    /* float: [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
    const char *p = d;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (digits && (*p == 'e' || *p == 'E')) {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return json_stringn(s, len);
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (digits && !*p && (strchr(d, '.') || strpbrk(d, "eE")))
        return json_real(strtod(s, NULL));
    return json_stringn(s, len);
}

static retl_err parse_node(struct loader *l, yaml_event_t *ev, int depth, json_t **out);

static retl_err next_event(struct loader *l, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&l->parser, ev))
        return parse_error(l);
    return RETL_E_OK;
}

/* Entries of merge keys ("<<: *base") apply after the mapping's own keys,
 * which win wherever they appear. */
static void apply_merged(json_t *obj, json_t *merged)
{
    const char *mk;
    json_t *mv;
    json_object_foreach (merged, mk, mv) {
        if (!json_object_get(obj, mk))
            json_object_set(obj, mk, mv);
    }
}

static retl_err parse_mapping(struct loader *l, int depth, json_t *obj)
{
    json_t *merged = json_object();
    if (!merged)
        return RETL_E_NOMEM;
    for (;;) {
        yaml_event_t kev;
        retl_err e = next_event(l, &kev);
        if (e) {
            json_decref(merged);
            return e;
        }
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            apply_merged(obj, merged);
            json_decref(merged);
            return RETL_E_OK;
        }
        json_t *key = NULL;
        e = parse_node(l, &kev, depth + 1, &key);
        if (e) {
            yaml_event_delete(&kev);
            json_decref(merged);
            return e;
        }
        char keybuf[64];
        const char *ks;
        if (json_is_string(key)) {
            ks = json_string_value(key);
        } else if (json_is_integer(key)) {
            snprintf(keybuf, sizeof keybuf, "%lld", json_integer_value(key));
            ks = keybuf;
        } else if (json_is_true(key) || json_is_false(key)) {
            ks = json_is_true(key) ? "true" : "false";
        } else if (json_is_null(key)) {
            ks = "null";
        } else {
            e = at_error(l, &kev, "mapping keys must be scalars");
            yaml_event_delete(&kev);
            json_decref(key);
            json_decref(merged);
            return e;
        }
        yaml_event_t vev;
        e = next_event(l, &vev);
        if (e) {
            yaml_event_delete(&kev);
            json_decref(key);
            json_decref(merged);
            return e;
        }
        json_t *val = NULL;
        e = parse_node(l, &vev, depth + 1, &val);
        if (!e && strcmp(ks, "<<") == 0 && json_is_object(val)) {
            apply_merged(merged, val);
        } else if (!e && json_object_get(obj, ks)) {
            e = at_error(l, &kev, "duplicate mapping key");
            if (l->eb) {
                char tmp[RETL_ERRBUF_SIZE];
                snprintf(tmp, sizeof tmp, "%s \"%s\"", l->eb->msg, ks);
                snprintf(l->eb->msg, sizeof l->eb->msg, "%s", tmp);
            }
        } else if (!e) {
            json_object_set(obj, ks, val);
        }
        json_decref(val);
        json_decref(key);
        yaml_event_delete(&kev);
        yaml_event_delete(&vev);
        if (e) {
            json_decref(merged);
            return e;
        }
    }
}

static retl_err parse_sequence(struct loader *l, int depth, json_t *arr)
{
    for (;;) {
        yaml_event_t ev;
        retl_err e = next_event(l, &ev);
        if (e)
            return e;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return RETL_E_OK;
        }
        json_t *v = NULL;
        e = parse_node(l, &ev, depth + 1, &v);
        yaml_event_delete(&ev);
        if (e)
            return e;
        json_array_append_new(arr, v);
    }
}

static retl_err parse_node(struct loader *l, yaml_event_t *ev, int depth, json_t **out)
{
    if (depth > MAX_DEPTH)
        return at_error(l, ev, "nesting too deep");
    if (++l->nodes > MAX_NODES)
        return at_error(l, ev, "document too large (too many values)");
    json_t *v = NULL;
    const yaml_char_t *anchor = NULL;
    retl_err e = RETL_E_OK;
    switch (ev->type) {
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        for (size_t i = l->n_anchors; i-- > 0;) {
            if (strcmp(l->anchors[i].name, name) == 0) {
                l->nodes += count_nodes(l->anchors[i].value);
                if (l->nodes > MAX_NODES)
                    return at_error(l, ev, "alias expansion too large");
                *out = json_incref(l->anchors[i].value);
                return RETL_E_OK;
            }
        }
        return at_error(l, ev, "unknown alias");
    }
    case YAML_SCALAR_EVENT: {
        const char *s = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        const char *tag = (const char *)ev->data.scalar.tag;
        anchor = ev->data.scalar.anchor;
        if (strlen(s) != len)
            return at_error(l, ev, "NUL byte in scalar");
        if (tag && strcmp(tag, YAML_STR_TAG) == 0)
            v = json_stringn(s, len);
        else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            v = plain_scalar(s, len);
        else
            v = json_stringn(s, len);
        if (!v)
            return at_error(l, ev, "invalid UTF-8 in scalar");
        break;
    }
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        v = json_object();
        if (!v)
            return RETL_E_NOMEM;
        e = parse_mapping(l, depth, v);
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        v = json_array();
        if (!v)
            return RETL_E_NOMEM;
        e = parse_sequence(l, depth, v);
        break;
    default: return at_error(l, ev, "unexpected YAML event");
    }
    if (!e && anchor)
        e = anchor_add(l, (const char *)anchor, v);
    if (e) {
        json_decref(v);
        return e;
    }
    *out = v;
    return RETL_E_OK;
}

retl_err retl_yaml_load(const char *data, size_t len, json_t **out,
                        struct retl_errbuf *eb)
{
    if (len > RETL_YAML_MAX_INPUT)
        return retl_errf(eb, RETL_E_TOO_BIG, "YAML input of %zu bytes exceeds %u", len,
                         RETL_YAML_MAX_INPUT);
    struct loader l = {.eb = eb};
    retl_err e = RETL_E_OK;
    json_t *docs = json_array();
    if (!docs)
        return RETL_E_NOMEM;
    if (!yaml_parser_initialize(&l.parser)) {
        json_decref(docs);
        return RETL_E_NOMEM;
    }
    yaml_parser_set_input_string(&l.parser, (const unsigned char *)data, len);
    for (;;) {
        yaml_event_t ev;
        e = next_event(&l, &ev);
        if (e)
            goto out;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            anchors_clear(&l);
            yaml_event_t root;
            e = next_event(&l, &root);
            if (e)
                goto out;
            if (root.type == YAML_DOCUMENT_END_EVENT) {
                yaml_event_delete(&root);
                continue;
            }
            json_t *v = NULL;
            e = parse_node(&l, &root, 0, &v);
            yaml_event_delete(&root);
            if (e)
                goto out;
            if (!json_is_null(v))
                json_array_append(docs, v);
            json_decref(v);
            continue;
        }
        yaml_event_delete(&ev);
    }
out:
    anchors_clear(&l);
    free(l.anchors);
    yaml_parser_delete(&l.parser);
    if (e) {
        json_decref(docs);
        return e;
    }
    *out = docs;
    return RETL_E_OK;
}

retl_err retl_yaml_load_file(const char *path, json_t **out, struct retl_errbuf *eb)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return retl_errf(eb, RETL_E_IO, "%s: %s", path, strerror(errno));
    struct retl_buf b;
    retl_buf_init(&b, RETL_YAML_MAX_INPUT);
    char chunk[65536];
    size_t n;
    retl_err e = RETL_E_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        e = retl_buf_add(&b, chunk, n);
        if (e) {
            e = retl_errf(eb, e, "%s: larger than %u bytes", path, RETL_YAML_MAX_INPUT);
            goto out;
        }
    }
    if (ferror(f)) {
        e = retl_errf(eb, RETL_E_IO, "%s: read error", path);
        goto out;
    }
    e = retl_yaml_load(retl_buf_str(&b), b.len, out, eb);
    if (e)
        retl_err_wrap(eb, e, "%s", path);
out:
    if (f != stdin)
        fclose(f);
    retl_buf_free(&b);
    return e;
}
