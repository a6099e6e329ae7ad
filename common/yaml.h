/* YAML to JSON on libyaml. Handles multi-document streams (manifests with
 * `---`), anchors and aliases (bounded, so alias bombs fail), and YAML 1.2
 * core-schema scalars as Kubernetes reads them (null, booleans, integers,
 * floats; quoted scalars stay strings). */
#ifndef RETL_YAML_H
#define RETL_YAML_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"

/* Largest input accepted, in bytes. */
#define RETL_YAML_MAX_INPUT (8u * 1024 * 1024)

/* Parses every document of data into a JSON array (empty documents are
 * skipped). Ownership: the caller decrefs *out. On error, eb names the line and
 * column. */
retl_err retl_yaml_load(const char *data, size_t len, json_t **out,
                        struct retl_errbuf *eb);
/* Same, reading path ("-" = stdin). */
retl_err retl_yaml_load_file(const char *path, json_t **out, struct retl_errbuf *eb);

#endif
