#include "engine/source/pg_plan.h"

#include <stdbool.h>
#include <string.h>

#include <jansson.h>

static const char *str(const json_t *node, const char *key)
{
    const char *s = json_string_value(json_object_get(node, key));
    return s ? s : "";
}

/* Whether node or a node below it scans relation snap. */
static bool scans(const json_t *node, const char *snap)
{
    if (!strcmp(str(node, "Relation Name"), snap))
        return true;
    size_t i;
    const json_t *c;
    json_array_foreach (json_object_get(node, "Plans"), i, c) {
        if (scans(c, snap))
            return true;
    }
    return false;
}

/* Hash, Sort and Materialize pass on their input's rows, but a merge join
 * may read a Sort or Materialize input twice (mark and restore): count
 * below them. */
static const json_t *source_node(const json_t *node)
{
    for (;;) {
        const char *t = str(node, "Node Type");
        const json_t *kids = json_object_get(node, "Plans");
        if (strcmp(t, "Hash") && strcmp(t, "Sort") && strcmp(t, "Incremental Sort") &&
            strcmp(t, "Materialize"))
            return node;
        if (json_array_size(kids) != 1)
            return NULL;
        node = json_array_get(kids, 0);
    }
}

retl_err eng_pg_plan_query_rows(const char *json, const char *snap, long long *rows)
{
    retl_err rc = RETL_E_PARSE;
    json_t *doc = json_loads(json, 0, NULL);
    const json_t *root = json_object_get(json_array_get(doc, 0), "Plan");
    const json_t *kids = json_object_get(root, "Plans");
    const json_t *q = NULL;
    if (!root || strcmp(str(root, "Join Type"), "Full") || json_array_size(kids) != 2)
        goto out;
    bool s0 = scans(json_array_get(kids, 0), snap);
    bool s1 = scans(json_array_get(kids, 1), snap);
    if (s0 == s1)
        goto out;
    q = source_node(json_array_get(kids, s0 ? 1 : 0));
    const json_t *n = json_object_get(q, "Actual Rows");
    /* One loop, or the figure is an average (newer servers print it with
     * decimals: a whole number is still exact). */
    double v = json_number_value(n);
    if (!q || !json_is_number(n) || v < 0 || v != (double)(long long)v ||
        json_number_value(json_object_get(q, "Actual Loops")) != 1)
        goto out;
    *rows = (long long)v;
    rc = RETL_E_OK;
out:
    json_decref(doc);
    return rc;
}
