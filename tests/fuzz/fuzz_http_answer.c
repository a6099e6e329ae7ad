/* libFuzzer target: the generic HTTP destination's 2xx answer
 * ({"results":[{"key":..,"error":..}]}) applied to a batch. The first byte
 * picks the batch's size and new_keys; the rest is the body. Every row ends
 * with exactly one outcome; a row fails REJECTED exactly when an item names
 * its key with an error string, and every row fails BAD_RESPONSE when
 * "results" is there but not an array. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/dest/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NROWS 8

/* Whether the answer names key with an error (the contract, said again). */
static int named(const json_t *res, const char *key)
{
    size_t k;
    json_t *it;
    json_array_foreach (res, k, it) {
        const json_t *jk = json_object_get(it, "key");
        if (json_is_string(json_object_get(it, "error")) && json_is_string(jk) &&
            json_string_length(jk) == strlen(key) && !strcmp(json_string_value(jk), key))
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[NROWS] = {"1", "2",   "a",        "A",
                                            "",  "k k", "\xc3\xa9", "1"};
    if (size < 1)
        return 0;
    size_t n = (size_t)(data[0] % NROWS) + 1;
    const char *vals[1] = {NULL};
    struct eng_row rows[NROWS];
    for (size_t i = 0; i < NROWS; i++)
        rows[i] = (struct eng_row){.key = keys[i], .vals = vals};
    struct eng_col col = {.source = "k", .destination = "k", .is_key = true};
    struct eng_batch b = {
        .cols = &col, .ncols = 1, .rows = rows, .nrows = n, .new_keys = data[0] & 0x80};
    char *body = malloc(size);
    if (!body)
        return 0;
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    struct eng_row_result res[NROWS];
    memset(res, 0, sizeof res);
    http_apply_answer(&b, 200, body, res);
    json_t *j = *body ? json_loads(body, 0, NULL) : NULL;
    json_t *jr = json_object_get(j, "results");
    for (size_t i = 0; i < n; i++) {
        const struct eng_row_result *r = &res[i];
        if (r->ok ? (r->code || r->message) : (!r->code || !r->message))
            abort();
        int want_ok = jr ? json_is_array(jr) && !named(jr, keys[i]) : 1;
        if (r->ok != want_ok)
            abort();
        if (!r->ok && strcmp(r->code, json_is_array(jr) ? "REJECTED" : "BAD_RESPONSE"))
            abort();
    }
    json_decref(j);
    eng_results_clear(res, n);
    free(body);
    return 0;
}
