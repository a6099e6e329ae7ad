/* The destination registry: every backend linked in registers itself with
 * ENG_DEST_REGISTER; the linker gathers the pointers into the retl_dests
 * section and names its bounds. Weak, so a binary without any backend links. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/dest.h"

extern const struct eng_dest_ops *const __start_retl_dests[] __attribute__((weak));
extern const struct eng_dest_ops *const __stop_retl_dests[] __attribute__((weak));

const struct eng_dest_ops *eng_dest_find(const char *type)
{
    if (!type || !__start_retl_dests)
        return NULL;
    /* The section's bounds are two symbols; count its entries by address. */
    size_t n = (size_t)((uintptr_t)__stop_retl_dests - (uintptr_t)__start_retl_dests) /
               sizeof __start_retl_dests[0];
    for (size_t i = 0; i < n; i++) {
        const struct eng_dest_ops *d = __start_retl_dests[i];
        if (d && d->type && strcmp(d->type, type) == 0)
            return d;
    }
    return NULL;
}
