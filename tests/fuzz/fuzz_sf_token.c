/* libFuzzer target: a Salesforce OAuth token endpoint answer (the first byte
 * picks the HTTP status, the rest is the body). Any input: the access token
 * and instance URL (both non-empty) and no error, or an AUTH error with a
 * message and both out parameters left as they were. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/salesforce_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 400, 401, 403, 500};
    if (size < 1)
        return 0;
    long status = statuses[data[0] % 5];
    char *body = malloc(size);
    if (!body)
        return 0;
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    char sentinel[1];
    char *token = sentinel, *url = sentinel;
    struct retl_errbuf eb = {{0}};
    retl_err e = sf_token_parse(status, body, &token, &url, &eb);
    if (e == RETL_E_OK) {
        if (status != 200 || token == sentinel || url == sentinel || !*token || !*url)
            abort();
        free(token);
        free(url);
    } else if (e != RETL_E_NOMEM &&
               (e != RETL_E_AUTH || token != sentinel || url != sentinel || !eb.msg[0])) {
        abort();
    }
    free(body);
    return 0;
}
