/* libFuzzer target: the Kubernetes watch-event stream parser, fed in chunks
 * whose sizes come from the first byte. */
#include <stddef.h>
#include <stdint.h>

#include "controller/kube/kube_watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static retl_err on_event(void *ud, enum kube_watch_type type, json_t *obj,
                         struct retl_errbuf *eb)
{
    (void)eb;
    (void)obj;
    (*(size_t *)ud) += (size_t)type + 1;
    return RETL_E_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)(data[0] % 64) + 1, seen = 0;
    struct kube_watch_parser p;
    kube_watch_parser_init(&p, 4096, on_event, &seen);
    struct retl_errbuf eb = {{0}};
    for (size_t off = 1; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        kube_watch_feed(&p, (const char *)data + off, n, &eb);
    }
    kube_watch_finish(&p, &eb);
    kube_watch_parser_free(&p);
    return 0;
}
