/* Source type sqlserver: the ODBC source with the T-SQL dialect. FreeTDS
 * (Debian tdsodbc) is the default driver; a connectionString naming another
 * Driver (e.g. {ODBC Driver 18 for SQL Server}) uses that one. Secret keys:
 * connectionString ("Server=host;Port=1433;Database=db;UID=user"), password.
 * Without a Driver the defaults are FreeTDS, TDS 7.4 and UTF-8. */
#include <unistd.h>

#include "engine/source/odbc_drv.h"

#define FREETDS_PATH "/usr/lib/x86_64-linux-gnu/odbc/libtdsodbc.so"

static retl_err mssql_open(const struct retl_job *job, const struct eng_secrets *sec,
                           unsigned flags, void **ctx, struct retl_errbuf *eb)
{
    void *conn = NULL;
    const struct eng_dialect *dl = NULL;
    const char *cs = eng_secret_get(sec, "connectionString");
    const char *extra = "";
    (void)job;
    if (cs && !eng_odbc_has_key(cs, "Driver"))
        extra = access(FREETDS_PATH, R_OK) == 0
                    ? "Driver=" FREETDS_PATH ";TDS_Version=7.4;"
                      "ClientCharset=UTF-8"
                    : "Driver={FreeTDS};TDS_Version=7.4;ClientCharset=UTF-8";
    retl_err rc =
        eng_odbc_open(sec, extra, eng_dialect_get(ENG_DL_TSQL), flags, &conn, &dl, eb);
    if (rc)
        return rc;
    return eng_wh_new(&eng_odbc_driver, conn, dl, flags, ctx);
}

const struct eng_source_ops eng_source_sqlserver = {
    .type = "sqlserver",
    .open = mssql_open,
    ENG_WH_OPS,
};
