/* The source registry: one line per backend (a strong reference, so the
 * backend is linked in from libengine.a). */
#include <string.h>

#include "engine/source/source.h"

extern const struct eng_source_ops eng_source_postgres;
extern const struct eng_source_ops eng_source_sqlserver;
extern const struct eng_source_ops eng_source_snowflake;
extern const struct eng_source_ops eng_source_odbc;

const struct eng_source_ops *eng_source_find(const char *type)
{
    const struct eng_source_ops *all[] = {&eng_source_postgres, &eng_source_sqlserver,
                                          &eng_source_snowflake, &eng_source_odbc};
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (all[i] && all[i]->type && strcmp(all[i]->type, type) == 0)
            return all[i];
    }
    return NULL;
}
