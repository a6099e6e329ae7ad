#include "json.h"

#include <stdlib.h>
#include <string.h>

json_t *retl_json_path(const json_t *obj, const char *path)
{
    const json_t *cur = obj;
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!json_is_object(cur))
            return NULL;
        cur = json_object_getn(cur, p, n);
        p += n;
        if (*p == '.')
            p++;
    }
    return (json_t *)cur;
}

const char *retl_json_str(const json_t *obj, const char *path)
{
    return json_string_value(retl_json_path(obj, path));
}

bool retl_json_int(const json_t *obj, const char *path, long long *out)
{
    json_t *v = retl_json_path(obj, path);
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

char *retl_json_dumps(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

retl_err retl_json_parse(const char *text, size_t len, json_t **out,
                         struct retl_errbuf *eb)
{
    json_error_t err;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &err);
    if (!v)
        return retl_errf(eb, RETL_E_PARSE, "invalid JSON at line %d column %d: %s",
                         err.line, err.column, err.text);
    *out = v;
    return RETL_E_OK;
}

char *retl_json_quote(const char *s)
{
    json_t *v = json_string(s ? s : "");
    if (!v)
        return NULL;
    char *r = json_dumps(v, JSON_ENCODE_ANY);
    json_decref(v);
    return r;
}
