/* What the controller lets a ReverseEtlJob ask for (DESIGN.md §8.3, issue 16
 * item 5). Run pods get the job's Secrets through envFrom, so whoever may
 * create a ReverseEtlJob must not be able to pick the program that receives
 * them: runTemplate.image must be on the allow-list (--allowed-run-images,
 * default: only --engine-image). An entry ending in '*' allows every image
 * whose name starts with what precedes it ("registry.example.com/retl:*").
 *
 * Lists given on the command line (comma-separated) are split here too: the
 * allowed images and --watch-namespaces. */
#ifndef RETL_CTL_POLICY_H
#define RETL_CTL_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define CTL_POLICY_MAX_ITEMS 64
#define CTL_POLICY_MAX_ITEM 512

struct ctl_list {
    char items[CTL_POLICY_MAX_ITEMS][CTL_POLICY_MAX_ITEM];
    size_t n;
};

/* Splits "a, b,c" into l (blanks around items dropped, empty items skipped,
 * duplicates kept once). RETL_E_TOO_BIG beyond CTL_POLICY_MAX_ITEMS items or
 * an item longer than CTL_POLICY_MAX_ITEM - 1; l is set only on success. */
retl_err ctl_list_parse(const char *csv, struct ctl_list *l, struct retl_errbuf *eb);

/* Is image allowed? The engine image always is; then the entries of allowed. */
bool ctl_policy_image_allowed(const struct ctl_list *allowed, const char *engine_image,
                              const char *image);

/* May a run pod use service account sa (runTemplate.serviceAccountName)?
 * No name or "default" (the namespace's default account) always may; with an empty list
 * (--allowed-run-service-accounts not given) every name may; else the
 * entries of allowed ("prefix*" matches a prefix). */
bool ctl_policy_sa_allowed(const struct ctl_list *allowed, const char *sa);

#endif
