/* libFuzzer target: a Salesforce Bulk API 2.0 result CSV (successful,
 * failed or unprocessed records) matched back to the rows of the job and
 * applied, as the job does after polling. The first byte picks the result
 * kind, whether the job has a key field (else rows match on all uploaded
 * columns) and how many rows were sent; the rest is the CSV. On success every
 * row the CSV matched gets exactly the outcome of its kind (ok with the
 * line's Id for 's', a failure with a code for 'f' and 'u'), every other row
 * is untouched; on error there is a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/salesforce_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NROWS 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char kinds[] = {'s', 'f', 'u'};
    static const char *const keys[NROWS] = {"k1", "K1", "k2", "a,b", "q\"x", "k1 "};
    static const char *const names[NROWS] = {"n1", NULL, "x\ny", "", "n1", "#N/A"};
    static const char *const amounts[NROWS] = {"1.5", NULL, "-2", "0", "1e3", "7"};
    if (size < 1)
        return 0;
    char kind = kinds[data[0] % 3];
    bool keyed = (data[0] / 3) % 2;
    size_t n = (size_t)((data[0] / 6) % NROWS) + 1;
    struct sf_field fk = {.name = "External_Id__c",
                          .type = SF_F_STRING,
                          .type_name = "string",
                          .length = 255,
                          .external_id = true};
    struct sf_field fn = {.name = "Name",
                          .type = SF_F_STRING,
                          .type_name = "string",
                          .length = 255,
                          .nillable = true};
    struct sf_field fa = {.name = "Amount__c",
                          .type = SF_F_DOUBLE,
                          .type_name = "double",
                          .precision = 18,
                          .scale = 2,
                          .nillable = true};
    const struct sf_field *fields[3] = {&fk, &fn, &fa};
    struct eng_col cols[3] = {
        {.source = "id", .destination = "External_Id__c", .is_key = keyed},
        {.source = "name", .destination = "Name"},
        {.source = "amount", .destination = "Amount__c", .type = ENG_T_NUMERIC},
    };
    const char *vals[NROWS][3];
    struct eng_row rows[NROWS];
    for (size_t i = 0; i < NROWS; i++) {
        vals[i][0] = keys[i];
        vals[i][1] = names[i];
        vals[i][2] = amounts[i];
        rows[i] = (struct eng_row){.key = keys[i], .vals = vals[i]};
    }
    struct eng_batch b = {.cols = cols, .ncols = 3, .rows = rows, .nrows = NROWS};
    struct sf_load L = {.object = "Account",
                        .mode = keyed ? RETL_MODE_UPSERT : RETL_MODE_INSERT,
                        .ext_id = keyed ? "External_Id__c" : NULL,
                        .fields = fields};
    size_t idx[NROWS];
    for (size_t k = 0; k < n; k++)
        idx[k] = NROWS - 1 - k; /* sent in another order than the batch's */
    struct eng_row_result res[NROWS];
    bool done[NROWS] = {false};
    memset(res, 0, sizeof res);
    struct retl_errbuf eb = {{0}};
    retl_err e = sf_bulk_apply(&L, &b, idx, n, kind, (const char *)data + 1, size - 1,
                               res, done, &eb);
    if (e && e != RETL_E_NOMEM && !eb.msg[0])
        abort();
    for (size_t i = 0; i < NROWS; i++) {
        const struct eng_row_result *r = &res[i];
        bool was_sent = false, answered = false;
        for (size_t k = 0; k < n; k++)
            if (idx[k] == i) {
                was_sent = true;
                answered = done[k];
            }
        if (!answered) {
            if (r->ok || r->code || r->message || r->dest_id || r->fields)
                abort();
        } else if (!was_sent || (kind == 's' ? !r->ok || r->code || r->message
                                             : r->ok || !r->code || !*r->code ||
                                                   !r->message || r->dest_id)) {
            abort();
        }
    }
    eng_results_clear(res, NROWS);
    return 0;
}
