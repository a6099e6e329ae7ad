#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "engine/source/source.h"

retl_err eng_source_column(const struct eng_state *st, size_t i, const char *const *names,
                           size_t n, bool fold_case, size_t *found,
                           struct retl_errbuf *eb)
{
    const char *want = st->cols[i].name;
    size_t at = n;
    int dup = 0;
    for (int pass = 0; pass < (fold_case ? 2 : 1) && at == n; pass++) {
        for (size_t f = 0; f < n; f++) {
            bool same =
                pass ? strcasecmp(names[f], want) == 0 : strcmp(names[f], want) == 0;
            if (same) {
                dup += at < n;
                at = f;
            }
        }
    }
    if (at == n) {
        struct retl_buf have;
        retl_buf_init(&have, 4096);
        for (size_t f = 0; f < n; f++)
            retl_buf_printf(&have, "%s%s", f ? ", " : "", names[f]);
        retl_err rc =
            retl_errf(eb, RETL_E_CONFIG,
                      "source: the query has no column \"%s\" (%s); it returns: %s", want,
                      i == 0 ? "spec.key.source" : "spec.mappings", retl_buf_str(&have));
        retl_buf_free(&have);
        return rc;
    }
    if (dup)
        return retl_errf(eb, RETL_E_CONFIG,
                         "source: the query returns column \"%s\" more than once", want);
    *found = at;
    return RETL_E_OK;
}
