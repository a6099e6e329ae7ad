/* The source registry: one line per backend. */
#include <string.h>

#include "engine/source/source.h"

extern const struct eng_source_ops eng_source_postgres;

const struct eng_source_ops *eng_source_find(const char *type)
{
    const struct eng_source_ops *all[] = {&eng_source_postgres};
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(all[i]->type, type) == 0)
            return all[i];
    }
    return NULL;
}
