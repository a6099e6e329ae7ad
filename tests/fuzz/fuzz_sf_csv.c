/* libFuzzer target: Salesforce Bulk API 2.0 result CSV and its sf__Error
 * cells. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/dest/salesforce_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sf_csv c = {0};
    struct retl_errbuf eb = {{0}};
    if (sf_csv_parse((const char *)data, size, &c, &eb) != RETL_E_OK)
        return 0;
    long err = sf_csv_col(&c, "sf__Error");
    (void)sf_csv_col(&c, "sf__Id");
    for (size_t r = 0; err >= 0 && r < c.nrows; r++) {
        char *code = NULL, *msg = NULL, *fields = NULL;
        sf_bulk_error_split(sf_csv_cell(&c, r, (size_t)err), &code, &msg, &fields);
        free(code);
        free(msg);
        free(fields);
    }
    sf_csv_free(&c);
    return 0;
}
