#include "engine/base/row.h"

#include <stdlib.h>
#include <string.h>

void eng_results_clear(struct eng_row_result *r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++) {
        free(r[i].dest_id);
        free(r[i].code);
        free(r[i].message);
        free(r[i].fields);
        memset(&r[i], 0, sizeof r[i]);
    }
}
