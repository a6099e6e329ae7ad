/* The destination registry. Backends are listed here; a backend that is not
 * linked in (weak reference resolved to NULL) is skipped. */
#include <stdlib.h>
#include <string.h>

#include "engine/dest/dest.h"

extern const struct eng_dest_ops eng_dest_postgres;
extern const struct eng_dest_ops eng_dest_salesforce __attribute__((weak));

const struct eng_dest_ops *eng_dest_find(const char *type)
{
    const struct eng_dest_ops *all[] = {&eng_dest_postgres, &eng_dest_salesforce};
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (all[i] && all[i]->type && strcmp(all[i]->type, type) == 0)
            return all[i];
    }
    return NULL;
}
