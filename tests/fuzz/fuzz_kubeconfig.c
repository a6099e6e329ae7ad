/* libFuzzer target: kubeconfig loading (YAML, contexts, clusters, users,
 * inline base64 data). The input is written to a memory file whose path the
 * loader reads; inputs naming device or proc files are skipped (a reference to
 * /dev/stdin would block, not fail). */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "controller/kube/kube_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memmem(data, size, "/dev", 4) || memmem(data, size, "/proc", 5) ||
        memmem(data, size, "/sys", 4))
        return 0;
    int fd = memfd_create("kubeconfig", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct kube_config *cfg = NULL;
    struct retl_errbuf eb = {{0}};
    if (kube_config_from_kubeconfig(path, NULL, &cfg, &eb) == RETL_E_OK)
        kube_config_free(cfg);
    close(fd);
    return 0;
}
