/* libFuzzer target: the redactor. The first line is registered as a secret
 * (plain, then as a text that may carry credentials); the rest goes through
 * every redaction helper. Never a crash, a leak or an unterminated result. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    char *nl = strchr(in, '\n');
    const char *text = in;
    if (nl) {
        *nl = '\0';
        retl_secret_register(in);
        retl_secret_register_text(in);
        text = nl + 1;
    }
    char out[512], tiny[5];
    retl_redact_text(text, out, sizeof out);
    retl_redact_text(text, tiny, sizeof tiny);
    retl_redact_conninfo(text, out, sizeof out);
    retl_redact_url(text, out, sizeof out);
    retl_conn_describe(text, out, sizeof out);
    retl_redact_excerpt(text, tiny, sizeof tiny);
    if (strlen(out) >= sizeof out || strlen(tiny) >= sizeof tiny)
        abort();
    retl_secret_clear();
    free(in);
    return 0;
}
