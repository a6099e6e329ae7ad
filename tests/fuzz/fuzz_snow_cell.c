/* libFuzzer target: one Snowflake jsonv2 cell (the first byte picks the
 * column type, the rest is the value as the SQL API returned it) turned into
 * its canonical text. Any input: an error or a NUL-terminated text, and no
 * undefined arithmetic (UBSan) on numbers far outside any date. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "engine/source/snowflake_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = {"DATE",         "TIMESTAMP_NTZ", "TIMESTAMP_LTZ",
                                    "TIMESTAMP_TZ", "FIXED",         "TEXT"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *type = types[data[0] % (sizeof types / sizeof *types)];
    char *in = malloc(size);
    if (!in)
        return 0;
    memcpy(in, data + 1, size - 1);
    in[size - 1] = '\0';
    struct retl_buf b;
    retl_buf_init(&b, 1 << 16);
    if (eng_snow_cell(type, in, &b) == RETL_E_OK &&
        (!b.len || b.data[b.len - 1] != '\0' || strlen(b.data) != b.len - 1))
        abort();
    retl_buf_free(&b);
    free(in);
    return 0;
}
