/* Small helpers over jansson. */
#ifndef RETL_JSON_H
#define RETL_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "error.h"

/* Looks up a dotted path ("spec.source.query") in obj; NULL when any step is
 * missing or not an object. Borrowed reference. */
json_t *retl_json_path(const json_t *obj, const char *path);
/* String at path, or NULL when missing or not a string. Borrowed. */
const char *retl_json_str(const json_t *obj, const char *path);
/* Integer at path into *out; false when missing or not an integer. */
bool retl_json_int(const json_t *obj, const char *path, long long *out);
/* Serialises compactly with sorted keys. Ownership: caller frees. NULL on
 * failure. */
char *retl_json_dumps(const json_t *v);
/* Parses text (at most max bytes) into a JSON value with a message naming the
 * line and column on failure. Ownership: caller decrefs *out. */
retl_err retl_json_parse(const char *text, size_t len, json_t **out,
                         struct retl_errbuf *eb);
/* A JSON string literal of s, quotes included, into a heap string. Ownership:
 * caller frees. */
char *retl_json_quote(const char *s);

#endif
