#include "controller/ctl_policy.h"

#include <string.h>

static bool has(const struct ctl_list *l, const char *s, size_t n)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->items[i]) == n && !strncmp(l->items[i], s, n))
            return true;
    return false;
}

retl_err ctl_list_parse(const char *csv, struct ctl_list *l, struct retl_errbuf *eb)
{
    struct ctl_list tmp = {.n = 0}; /* l stays untouched on failure */
    const char *p = csv ? csv : "";
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        size_t n = (size_t)(b - a);
        if (n >= CTL_POLICY_MAX_ITEM)
            return retl_errf(eb, RETL_E_TOO_BIG, "list item of %zu bytes (at most %d)", n,
                             CTL_POLICY_MAX_ITEM - 1);
        if (n && !has(&tmp, a, n)) {
            if (tmp.n == CTL_POLICY_MAX_ITEMS)
                return retl_errf(eb, RETL_E_TOO_BIG, "more than %d list items",
                                 CTL_POLICY_MAX_ITEMS);
            memcpy(tmp.items[tmp.n++], a, n);
        }
        p = *end ? end + 1 : end;
    }
    memcpy(l, &tmp, sizeof tmp);
    return RETL_E_OK;
}

/* Whether s is an entry of l, or starts with an entry's text before '*'. */
static bool matches(const struct ctl_list *l, const char *s)
{
    for (size_t i = 0; l && i < l->n; i++) {
        const char *a = l->items[i];
        size_t n = strlen(a);
        if (n && a[n - 1] == '*') {
            if (!strncmp(s, a, n - 1))
                return true;
        } else if (!strcmp(s, a)) {
            return true;
        }
    }
    return false;
}

bool ctl_policy_image_allowed(const struct ctl_list *allowed, const char *engine_image,
                              const char *image)
{
    if (!image || !*image)
        return false;
    if (engine_image && !strcmp(image, engine_image))
        return true;
    return matches(allowed, image);
}

bool ctl_policy_sa_allowed(const struct ctl_list *allowed, const char *sa)
{
    if (!sa || !*sa || !strcmp(sa, "default") || !allowed || allowed->n == 0)
        return true;
    return matches(allowed, sa);
}
