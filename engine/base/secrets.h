/* The credentials of one side (source or destination) of a job: the keys of the
 * Secret named by its secretRef (DESIGN.md section 4). In a run pod they come
 * from the environment (RETL_SOURCE_<key>, RETL_DESTINATION_<key>); locally
 * from Secret documents given with -f (data base64-decoded, stringData as is).
 * Every value is registered with retl_secret_register so logs never show it. */
#ifndef ENG_SECRETS_H
#define ENG_SECRETS_H

#include <jansson.h>
#include <stddef.h>

#include "common/error.h"

struct eng_secrets {
    char *name;   /* owned: the Secret's name, for messages */
    json_t *data; /* owned: object key -> string value */
};

/* Value of key, or NULL. Borrowed; valid while s lives. */
const char *eng_secret_get(const struct eng_secrets *s, const char *key);

/* Like eng_secret_get for a value sent in an HTTP header (a token): CONFIG,
 * naming the secret and key, when it holds a line break (a Secret made from a
 * file saved with a trailing newline would otherwise split the header). *out
 * is borrowed, NULL when the key is absent. */
retl_err eng_secret_get_line(const struct eng_secrets *s, const char *key,
                             const char **out, struct retl_errbuf *eb);

/* Collects RETL_<PREFIX>_* variables (prefix "SOURCE" or "DESTINATION") from
 * envp. Ownership: caller releases with eng_secrets_free. */
retl_err eng_secrets_from_env(const char *prefix, char **envp, struct eng_secrets *out,
                              struct retl_errbuf *eb);
/* Finds the Secret named name in namespace ns among docs (a JSON array of
 * manifests). NOT_FOUND names the secret when absent. */
retl_err eng_secrets_from_docs(const json_t *docs, const char *ns, const char *name,
                               struct eng_secrets *out, struct retl_errbuf *eb);
void eng_secrets_free(struct eng_secrets *s);

#endif
