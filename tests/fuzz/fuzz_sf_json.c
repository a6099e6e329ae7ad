/* libFuzzer target: an sObject Collections response (the first byte picks
 * the HTTP status and the mode, the second the number of records asked). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/salesforce_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 400, 401, 403, 500, 503};
    if (size < 2)
        return 0;
    struct sf_load L = {.object = "Account",
                        .mode = (enum retl_mode)(data[0] / 6 % 3),
                        .ext_id = "External_Id__c"};
    long status = statuses[data[0] % 6];
    size_t n = (size_t)(data[1] % 8) + 1;
    char *body = malloc(size - 1);
    if (!body)
        return 0;
    memcpy(body, data + 2, size - 2);
    body[size - 2] = '\0';
    size_t idx[8];
    struct eng_row_result res[8];
    memset(res, 0, sizeof res);
    for (size_t i = 0; i < n; i++)
        idx[i] = n - 1 - i;
    struct retl_errbuf eb = {{0}};
    (void)sf_rest_parse_results(&L, status, body, idx, n, res, &eb);
    eng_results_clear(res, n);
    free(body);
    return 0;
}
