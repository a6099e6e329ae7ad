#include "engine/source/sql_dialect.h"

#include <string.h>
#include <strings.h>

enum eng_type eng_pg_type(const char *typname, char category)
{
    static const struct {
        const char *name;
        enum eng_type t;
    } map[] = {
        {"bool", ENG_T_BOOL},
        {"int2", ENG_T_INT},
        {"int4", ENG_T_INT},
        {"int8", ENG_T_INT},
        {"oid", ENG_T_INT},
        {"numeric", ENG_T_NUMERIC},
        {"float4", ENG_T_NUMERIC},
        {"float8", ENG_T_NUMERIC},
        {"date", ENG_T_DATE},
        {"timestamp", ENG_T_TIMESTAMP},
        {"timestamptz", ENG_T_TIMESTAMPTZ},
        {"json", ENG_T_JSON},
        {"jsonb", ENG_T_JSON},
        {"bytea", ENG_T_BYTES},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(map[i].name, typname) == 0)
            return map[i].t;
    }
    if (category == 'A' || category == 'C')
        return ENG_T_JSON;
    return ENG_T_TEXT;
}

retl_err eng_pg_canon_expr(struct retl_buf *b, const char *col, const char *typname,
                           enum eng_type t)
{
    switch (t) {
    case ENG_T_TIMESTAMPTZ:
        /* TimeZone is UTC, so the text ends in "+00"; dest.h wants "+00:00". */
        return retl_buf_printf(b,
                               "CASE WHEN isfinite(%s) THEN (%s)::text || "
                               "':00' ELSE (%s)::text END",
                               col, col, col);
    case ENG_T_BYTES:
        return retl_buf_printf(b, "translate(encode(%s, 'base64'), E'\\n', '')", col);
    case ENG_T_JSON:
        if (strcmp(typname, "json") == 0 || strcmp(typname, "jsonb") == 0)
            return retl_buf_printf(b, "(%s)::text", col);
        return retl_buf_printf(b, "to_json(%s)::text", col);
    default:
        /* bool::text is true/false; numeric keeps its full precision; floats
         * are shortest-exact with extra_float_digits 1; dates are ISO. */
        return retl_buf_printf(b, "(%s)::text", col);
    }
}

bool eng_pg_typed(const char *typname)
{
    static const char *const ok[] = {"int2",      "int4",        "int8",  "numeric",
                                     "float4",    "float8",      "bool",  "date",
                                     "timestamp", "timestamptz", "text",  "varchar",
                                     "bpchar",    "uuid",        "jsonb", "bytea"};
    for (size_t i = 0; typname && i < sizeof ok / sizeof ok[0]; i++) {
        if (strcmp(ok[i], typname) == 0)
            return true;
    }
    return false;
}

/* ODBC SQL type codes (sql.h/sqlext.h), kept here so the dialect layer stays
 * free of the ODBC headers. */
enum {
    X_BIT = -7,
    X_TINYINT = -6,
    X_BIGINT = -5,
    X_LONGVARBINARY = -4,
    X_VARBINARY = -3,
    X_BINARY = -2,
    X_NUMERIC = 2,
    X_DECIMAL = 3,
    X_INTEGER = 4,
    X_SMALLINT = 5,
    X_FLOAT = 6,
    X_REAL = 7,
    X_DOUBLE = 8,
    X_DATE = 9,
    X_TIMESTAMP = 11,
    X_TYPE_DATE = 91,
    X_TYPE_TIMESTAMP = 93,
    X_SS_TIMESTAMPOFFSET = -155,
};

static enum eng_type by_code(int t)
{
    switch (t) {
    case X_BIT: return ENG_T_BOOL;
    case X_TINYINT:
    case X_SMALLINT:
    case X_INTEGER:
    case X_BIGINT: return ENG_T_INT;
    case X_NUMERIC:
    case X_DECIMAL:
    case X_FLOAT:
    case X_REAL:
    case X_DOUBLE: return ENG_T_NUMERIC;
    case X_DATE:
    case X_TYPE_DATE: return ENG_T_DATE;
    case X_TIMESTAMP:
    case X_TYPE_TIMESTAMP: return ENG_T_TIMESTAMP;
    case X_SS_TIMESTAMPOFFSET: return ENG_T_TIMESTAMPTZ;
    case X_BINARY:
    case X_VARBINARY:
    case X_LONGVARBINARY: return ENG_T_BYTES;
    default: return ENG_T_TEXT;
    }
}

static enum eng_type snowflake_type(const char *t)
{
    static const struct {
        const char *name;
        enum eng_type t;
    } map[] = {
        {"fixed", ENG_T_INT},
        {"fixed.scaled", ENG_T_NUMERIC},
        {"real", ENG_T_NUMERIC},
        {"boolean", ENG_T_BOOL},
        {"date", ENG_T_DATE},
        {"timestamp_ntz", ENG_T_TIMESTAMP},
        {"timestamp_ltz", ENG_T_TIMESTAMPTZ},
        {"timestamp_tz", ENG_T_TIMESTAMPTZ},
        {"variant", ENG_T_JSON},
        {"object", ENG_T_JSON},
        {"array", ENG_T_JSON},
        {"binary", ENG_T_BYTES},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcasecmp(map[i].name, t) == 0)
            return map[i].t;
    }
    return ENG_T_TEXT;
}

enum eng_type eng_dl_type(const struct eng_dialect *d, int sqltype, const char *typname)
{
    const char *tn = typname ? typname : "";
    switch (d->id) {
    case ENG_DL_SNOWFLAKE: return snowflake_type(tn);
    case ENG_DL_POSTGRES: {
        enum eng_type t = eng_pg_type(tn, 0);
        if (t != ENG_T_TEXT || strcasecmp(tn, "text") == 0 ||
            strcasecmp(tn, "varchar") == 0 || strcasecmp(tn, "bpchar") == 0)
            return t;
        return by_code(sqltype);
    }
    case ENG_DL_TSQL:
        if (strcasecmp(tn, "datetimeoffset") == 0)
            return ENG_T_TIMESTAMPTZ;
        return by_code(sqltype);
    case ENG_DL_SQLITE:
        if (strcasecmp(tn, "boolean") == 0 || strcasecmp(tn, "bool") == 0)
            return ENG_T_BOOL;
        return by_code(sqltype);
    default: return by_code(sqltype);
    }
}

static bool is_float(const char *tn)
{
    return tn && (strcasecmp(tn, "float") == 0 || strcasecmp(tn, "real") == 0);
}

retl_err eng_dl_canon_expr(const struct eng_dialect *d, struct retl_buf *b,
                           const char *col, const char *typname, enum eng_type t)
{
    switch (d->id) {
    case ENG_DL_POSTGRES: return eng_pg_canon_expr(b, col, typname ? typname : "", t);
    case ENG_DL_SQLITE:
        if (t == ENG_T_BOOL)
            return retl_buf_printf(b,
                                   "CASE WHEN %s IS NULL THEN NULL WHEN %s "
                                   "THEN 'true' ELSE 'false' END",
                                   col, col);
        if (t == ENG_T_BYTES)
            return retl_buf_printf(b, "hex(%s)", col);
        return retl_buf_printf(b, "CAST(%s AS TEXT)", col);
    case ENG_DL_TSQL:
        switch (t) {
        case ENG_T_BOOL:
            return retl_buf_printf(b,
                                   "CASE WHEN %s = 1 THEN 'true' WHEN %s = 0 "
                                   "THEN 'false' END",
                                   col, col);
        case ENG_T_NUMERIC:
            if (is_float(typname))
                return retl_buf_printf(b, "CONVERT(NVARCHAR(MAX), %s, 3)", col);
            break;
        case ENG_T_DATE:
        case ENG_T_TIMESTAMP:
            return retl_buf_printf(b, "CONVERT(NVARCHAR(MAX), %s, 121)", col);
        case ENG_T_TIMESTAMPTZ:
            return retl_buf_printf(b, "CONVERT(NVARCHAR(MAX), %s, 127)", col);
        case ENG_T_BYTES: return retl_buf_printf(b, "CONVERT(NVARCHAR(MAX), %s, 2)", col);
        default: break;
        }
        return retl_buf_printf(b, "CAST(%s AS NVARCHAR(MAX))", col);
    case ENG_DL_SNOWFLAKE:
        switch (t) {
        case ENG_T_DATE: return retl_buf_printf(b, "TO_VARCHAR(%s, 'YYYY-MM-DD')", col);
        case ENG_T_TIMESTAMP:
            return retl_buf_printf(b, "TO_VARCHAR(%s, 'YYYY-MM-DD HH24:MI:SS.FF6')", col);
        case ENG_T_TIMESTAMPTZ:
            return retl_buf_printf(
                b, "TO_VARCHAR(%s, 'YYYY-MM-DD HH24:MI:SS.FF6TZH:TZM')", col);
        case ENG_T_JSON: return retl_buf_printf(b, "TO_JSON(%s)", col);
        default: return retl_buf_printf(b, "CAST(%s AS VARCHAR)", col);
        }
    default: return retl_buf_printf(b, "CAST(%s AS %s)", col, d->text_type);
    }
}
