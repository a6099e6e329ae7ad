/* Source type odbc: any ODBC warehouse through unixODBC, DSN-less. Secret
 * keys: connectionString (e.g. "Driver=/usr/lib/x86_64-linux-gnu/odbc/
 * psqlodbca.so;Server=...;Database=...;UID=..."), optional password (added as
 * PWD) and optional dialect (postgres, sqlite, tsql, snowflake, ansi; guessed
 * from the driver otherwise). The warehouse computes the delta (wh.c). */
#include "engine/source/odbc_drv.h"

static retl_err odbc_src_open(const struct retl_job *job, const struct eng_secrets *sec,
                              unsigned flags, void **ctx, struct retl_errbuf *eb)
{
    void *conn = NULL;
    const struct eng_dialect *dl = NULL;
    (void)job;
    retl_err rc = eng_odbc_open(sec, NULL, NULL, flags, &conn, &dl, eb);
    if (rc)
        return rc;
    return eng_wh_new(&eng_odbc_driver, conn, dl, flags, ctx);
}

const struct eng_source_ops eng_source_odbc = {
    .type = "odbc",
    .open = odbc_src_open,
    ENG_WH_OPS,
};
