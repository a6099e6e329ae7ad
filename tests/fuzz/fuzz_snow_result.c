/* libFuzzer target: a Snowflake SQL API statement answer
 * ({"resultSetMetaData":{"rowType":[...]},"data":[[...]]}) read row by row
 * as the source does. Any input: each row is an error with a message, or
 * one cell per column, NULL exactly for a JSON null, every other cell a
 * NUL-terminated text inside the buffer; a row that is not an array of one
 * cell per column is always an error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "engine/source/snowflake_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXCOLS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *res = json_loadb((const char *)data, size, 0, NULL);
    json_t *rt = json_object_get(json_object_get(res, "resultSetMetaData"), "rowType");
    json_t *types = json_array();
    size_t i;
    json_t *col;
    json_array_foreach (rt, i, col) {
        const char *t = json_string_value(json_object_get(col, "type"));
        json_array_append_new(types, json_string(t ? t : "text"));
    }
    size_t nc = json_array_size(types);
    struct retl_buf b;
    retl_buf_init(&b, 1 << 20);
    json_t *row;
    json_array_foreach (json_object_get(res, "data"), i, row) {
        long offs[MAXCOLS];
        struct retl_errbuf eb = {{0}};
        if (nc > MAXCOLS)
            break;
        retl_buf_reset(&b);
        retl_err e = eng_snow_row(types, row, i + 1, &b, offs, &eb);
        int shaped = json_is_array(row) && json_array_size(row) == nc;
        if (e) {
            if (!eb.msg[0] && e != RETL_E_NOMEM && e != RETL_E_TOO_BIG)
                abort();
            continue;
        }
        if (!shaped)
            abort();
        for (size_t c = 0; c < nc; c++) {
            int null = json_is_null(json_array_get(row, c));
            if (null != (offs[c] == -1))
                abort();
            if (!null && (offs[c] < 0 || (size_t)offs[c] >= b.len ||
                          !memchr(b.data + offs[c], '\0', b.len - (size_t)offs[c])))
                abort();
        }
    }
    retl_buf_free(&b);
    json_decref(types);
    json_decref(res);
    return 0;
}
