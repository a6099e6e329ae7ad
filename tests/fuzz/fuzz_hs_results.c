/* libFuzzer target: a HubSpot CRM v3 batch answer (create / update / upsert,
 * 200 / 207 with results and errors, or a failed call) applied to the rows
 * of one chunk. The first byte picks the mode, the key property and the HTTP
 * status; the second the chunk's rows and which were already failed while
 * the body was built; the rest is the body. Every row of the chunk ends with
 * exactly one outcome (ok, or a failure with a code and a message), rows
 * failed before keep their failure, rows outside the chunk are untouched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/hubspot_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NROWS 12

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 207, 201, 400, 409, 429, 500, 423};
    static const char *const keys[NROWS] = {"0", "1", "a@b.co", "A@B.CO", "2", "",
                                            "k", "K", "10",     "x@y.z",  "3", "11"};
    if (size < 2)
        return 0;
    /* As hubspot.c sets them: Upsert always has its key property; Update
     * has none when the key is hs_object_id; email keys compare in any case. */
    enum retl_mode mode = (enum retl_mode)(data[0] % 3);
    const char *idp = (data[0] / 3) % 2 ? "email" : "ext_id";
    if (mode == RETL_MODE_INSERT || (mode == RETL_MODE_UPDATE && (data[0] / 6) % 2))
        idp = NULL;
    struct hs_load L = {.object = "contacts",
                        .mode = mode,
                        .id_property = idp,
                        .email_key = idp && !strcmp(idp, "email")};
    long status = statuses[(data[0] / 12) % 8];
    size_t from = (size_t)(data[1] % 4);
    size_t to = from + 1 + (size_t)((data[1] / 4) % 8);
    unsigned prefail = data[1];
    const char *vals[1] = {NULL};
    struct eng_row rows[NROWS];
    for (size_t i = 0; i < NROWS; i++)
        rows[i] = (struct eng_row){.key = keys[i], .vals = vals};
    struct eng_col col = {.source = "k", .destination = "email", .is_key = true};
    struct eng_batch b = {.cols = &col, .ncols = 1, .rows = rows, .nrows = NROWS};
    struct eng_row_result res[NROWS];
    char *before[NROWS];
    memset(res, 0, sizeof res);
    for (size_t i = from; i < to; i++)
        if ((prefail >> (i % 8)) & (i % 3 == 0))
            hs_fail(&res[i], "INVALID_VALUE", "before", NULL);
    for (size_t i = 0; i < NROWS; i++)
        before[i] = res[i].code;

    struct hs_resp resp = {.status = status};
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    resp.body = json_loadb(body, len, 0, NULL);
    if (!resp.body && len) {
        resp.raw = malloc(len + 1);
        if (!resp.raw)
            return 0;
        memcpy(resp.raw, body, len);
        resp.raw[len] = '\0';
    }
    hs_chunk_results(&L, &b, from, to, &resp, res);
    for (size_t i = 0; i < NROWS; i++) {
        const struct eng_row_result *r = &res[i];
        if (i < from || i >= to) {
            if (r->ok || r->code || r->message || r->dest_id || r->fields)
                abort();
        } else if (before[i]) {
            if (r->ok || r->code != before[i])
                abort();
        } else if (r->ok ? (r->code || r->message || r->fields)
                         : (!r->code || !*r->code || !r->message || r->dest_id)) {
            abort();
        }
    }
    eng_results_clear(res, NROWS);
    hs_resp_clear(&resp);
    return 0;
}
