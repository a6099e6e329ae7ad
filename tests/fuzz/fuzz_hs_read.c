/* libFuzzer target: a HubSpot batch/read answer (the lookup of record ids by
 * idProperty before spec.deletes archives or clears them). The first byte
 * picks the HTTP status, the email key and which rows need a lookup; the
 * rest is the body. Every row looked up ends with exactly one of: an id
 * (non-empty, result untouched), done (ok: no record holds the key), or a
 * failure with a code; rows not looked up are untouched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/hubspot_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NROWS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 207, 400, 429, 500, 404, 200, 207};
    static const char *const keys[NROWS] = {"a@b.co", "A@B.CO", "k1", "k2",
                                            "",       "x@y.z",  "1",  "k1 "};
    if (size < 1)
        return 0;
    long status = statuses[data[0] % 8];
    bool email = (data[0] / 8) % 2;
    unsigned pick = data[0] / 16; /* 0..15: rows need[] skips */
    struct hs_load L = {.object = "contacts",
                        .mode = RETL_MODE_UPSERT,
                        .id_property = email ? "email" : "ext_id",
                        .email_key = email};
    const char *vals[1] = {NULL};
    struct eng_row rows[NROWS];
    for (size_t i = 0; i < NROWS; i++)
        rows[i] = (struct eng_row){.key = keys[i], .vals = vals, .op = ENG_OP_DELETE};
    struct eng_col col = {.source = "k", .destination = L.id_property, .is_key = true};
    struct eng_batch b = {
        .cols = &col, .ncols = 1, .rows = rows, .nrows = NROWS, .op = ENG_OP_DELETE};
    size_t need[NROWS], n = 0;
    bool needed[NROWS] = {false};
    for (size_t i = 0; i < NROWS; i++)
        if ((i + pick) % 4 != 0) {
            need[n++] = i;
            needed[i] = true;
        }
    struct hs_resp resp = {.status = status};
    resp.body = json_loadb((const char *)data + 1, size - 1, 0, NULL);
    const char *ids[NROWS] = {NULL};
    char *owned[NROWS] = {NULL};
    struct eng_row_result res[NROWS];
    memset(res, 0, sizeof res);
    retl_err e = hs_read_answer(&L, &b, need, n, &resp, ids, owned, res);
    for (size_t i = 0; !e && i < NROWS; i++) {
        const struct eng_row_result *r = &res[i];
        bool untouched = !r->ok && !r->code && !r->message && !r->dest_id && !r->fields;
        if (!needed[i] || ids[i]) {
            if (!untouched || (ids[i] && (ids[i] != owned[i] || !*ids[i])))
                abort();
        } else if (r->ok ? (r->code || r->message)
                         : (!r->code || !*r->code || !r->message)) {
            abort();
        }
    }
    for (size_t i = 0; i < NROWS; i++)
        free(owned[i]);
    eng_results_clear(res, NROWS);
    hs_resp_clear(&resp);
    return 0;
}
