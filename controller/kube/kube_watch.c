#include "kube_watch.h"

#include <string.h>

#include "common/utf8.h"

static const char *const type_names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK",
                                         "ERROR"};

const char *kube_watch_type_name(enum kube_watch_type t)
{
    if ((unsigned)t >= sizeof type_names / sizeof type_names[0])
        return "UNKNOWN";
    return type_names[t];
}

void kube_watch_parser_init(struct kube_watch_parser *p, size_t max_line,
                            kube_watch_event_fn fn, void *ud)
{
    retl_buf_init(&p->line, max_line ? max_line : KUBE_WATCH_MAX_LINE);
    p->fn = fn;
    p->ud = ud;
    p->events = 0;
}

void kube_watch_parser_free(struct kube_watch_parser *p)
{
    retl_buf_free(&p->line);
}

void kube_watch_parser_reset(struct kube_watch_parser *p)
{
    retl_buf_reset(&p->line);
}

retl_err kube_watch_parse_line(const char *line, size_t len, enum kube_watch_type *type,
                               json_t **obj, struct retl_errbuf *eb)
{
    json_error_t jerr;
    retl_err e = RETL_E_OK;
    json_t *ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!ev) {
        e = retl_errf(eb, RETL_E_PARSE, "watch event: %s at column %d", jerr.text,
                      jerr.column);
        goto out;
    }
    const char *t = json_string_value(json_object_get(ev, "type"));
    json_t *o = json_object_get(ev, "object");
    if (!t || !json_is_object(o)) {
        e = retl_errf(eb, RETL_E_PARSE, "watch event without a type or an object");
        goto out;
    }
    size_t i;
    for (i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (!strcmp(t, type_names[i]))
            break;
    if (i == sizeof type_names / sizeof type_names[0]) {
        char shown[41];
        e = retl_errf(eb, RETL_E_PARSE, "watch event of unknown type %s",
                      retl_utf8_trunc(shown, sizeof shown, t, "..."));
        goto out;
    }
    *type = (enum kube_watch_type)i;
    *obj = json_incref(o);
out:
    json_decref(ev);
    return e;
}

static retl_err deliver(struct kube_watch_parser *p, const char *line, size_t len,
                        struct retl_errbuf *eb)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (len == 0)
        return RETL_E_OK;
    enum kube_watch_type type;
    json_t *obj = NULL;
    retl_err e = kube_watch_parse_line(line, len, &type, &obj, eb);
    if (e)
        return e;
    p->events++;
    e = p->fn ? p->fn(p->ud, type, obj, eb) : RETL_E_OK;
    json_decref(obj);
    return e;
}

retl_err kube_watch_feed(struct kube_watch_parser *p, const char *data, size_t n,
                         struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    while (n) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (nl && p->line.len == 0) {
            /* Whole line in this piece: parse it in place, no copy. */
            if (take > p->line.max) {
                e = retl_errf(eb, RETL_E_TOO_BIG, "watch event over %zu bytes",
                              p->line.max);
                goto out;
            }
            e = deliver(p, data, take, eb);
        } else {
            e = retl_buf_add(&p->line, data, take);
            if (e) {
                e = retl_errf(eb, e, "watch event over %zu bytes", p->line.max);
                goto out;
            }
            if (nl) {
                e = deliver(p, p->line.data, p->line.len, eb);
                retl_buf_reset(&p->line);
            }
        }
        if (e)
            goto out;
        if (!nl)
            break;
        data = nl + 1;
        n -= take + 1;
    }
out:
    if (e)
        retl_buf_reset(&p->line);
    return e;
}

retl_err kube_watch_finish(struct kube_watch_parser *p, struct retl_errbuf *eb)
{
    size_t len = p->line.len;
    while (len && (p->line.data[len - 1] == '\r' || p->line.data[len - 1] == ' '))
        len--;
    if (len == 0) {
        retl_buf_reset(&p->line);
        return RETL_E_OK;
    }
    /* A last event without its newline is complete only if it parses. */
    retl_err e = deliver(p, p->line.data, len, eb);
    retl_buf_reset(&p->line);
    if (e == RETL_E_PARSE)
        return retl_err_wrap(eb, RETL_E_PARSE, "truncated watch stream");
    return e;
}
