#include "engine/base/sql_text.h"

#include <string.h>

retl_err eng_sql_ident(struct retl_buf *b, char qopen, char qclose, const char *id)
{
    retl_err rc;
    RETL_TRY(retl_buf_addc(b, qopen));
    for (const char *p = id; *p; p++) {
        if (*p == qclose)
            RETL_TRY(retl_buf_addc(b, *p));
        RETL_TRY(retl_buf_addc(b, *p));
    }
    RETL_TRY(retl_buf_addc(b, qclose));
out:
    return rc;
}

retl_err eng_sql_dotted(struct retl_buf *b, char qopen, char qclose, const char *name)
{
    retl_err rc = RETL_E_OK;
    const char *p = name;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char part[256];
        if (n >= sizeof part)
            return RETL_E_TOO_BIG;
        memcpy(part, p, n);
        part[n] = '\0';
        RETL_TRY(eng_sql_ident(b, qopen, qclose, part));
        if (!dot)
            break;
        RETL_TRY(retl_buf_addc(b, '.'));
        p = dot + 1;
    }
out:
    return rc;
}
