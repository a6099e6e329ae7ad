#include "controller/ctl_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timestamp.h"

static const char *const int_fields[] = {"extracted", "delta", "loaded", "failed"};

/* The progress fields of one parsed log line, or NULL when it is not one. */
static json_t *from_line(const char *line, size_t n)
{
    if (n == 0 || n > CTL_PROGRESS_MAX_LINE || line[0] != '{')
        return NULL;
    json_t *obj = json_loadb(line, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(obj))
        goto none;
    const char *msg = json_string_value(json_object_get(obj, "msg"));
    if (!msg || strcmp(msg, "progress") != 0)
        goto none;
    json_t *p = json_object();
    if (!p)
        goto none;
    json_t *ph = json_object_get(obj, "phase");
    if (json_is_string(ph) && json_string_length(ph) <= 64)
        json_object_set(p, "phase", ph);
    for (size_t i = 0; i < sizeof int_fields / sizeof *int_fields; i++) {
        json_t *v = json_object_get(obj, int_fields[i]);
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            json_object_set(p, int_fields[i], v);
    }
    json_t *el = json_object_get(obj, "elapsedSeconds");
    if (json_is_number(el) && json_number_value(el) >= 0) {
        /* Tenths are enough and keep an unchanged run from looking new. */
        double s = (double)(long long)(json_number_value(el) * 10.0 + 0.5) / 10.0;
        json_object_set_new(p, "elapsedSeconds", json_real(s));
    }
    json_decref(obj);
    return p;
none:
    json_decref(obj);
    return NULL;
}

bool ctl_progress_parse(const char *text, size_t len, json_t **out)
{
    if (!text)
        return false;
    if (len > CTL_PROGRESS_MAX_INPUT) {
        text += len - CTL_PROGRESS_MAX_INPUT;
        len = CTL_PROGRESS_MAX_INPUT;
    }
    /* Walk complete lines from the end: the text after the last newline may
     * be a line cut by limitBytes or still being written. */
    size_t end = len;
    while (end > 0 && text[end - 1] != '\n')
        end--;
    while (end > 0) {
        size_t stop = end - 1; /* the newline ending this line */
        size_t start = stop;
        while (start > 0 && text[start - 1] != '\n')
            start--;
        size_t n = stop - start;
        if (n > 0 && text[start + n - 1] == '\r')
            n--;
        json_t *p = from_line(text + start, n);
        if (p) {
            *out = p;
            return true;
        }
        end = start;
    }
    return false;
}

bool ctl_progress_due(const json_t *progress, time_t now, long *wait_ms)
{
    time_t t;
    long wait = 0;
    if (progress &&
        retl_time_parse(json_string_value(json_object_get(progress, "updateTime")), &t) &&
        t <= now && now - t < CTL_PROGRESS_EVERY_S)
        wait = (long)(t + CTL_PROGRESS_EVERY_S - now) * 1000;
    if (wait_ms)
        *wait_ms = wait;
    return wait == 0;
}

bool ctl_progress_changed(const json_t *old, const json_t *p)
{
    if (!json_is_object(old))
        return true;
    json_t *o = json_deep_copy(old);
    if (!o)
        return true;
    json_object_del(o, "updateTime");
    bool same = json_equal(o, p);
    json_decref(o);
    return !same;
}

retl_err ctl_progress_fetch(struct kube_client *kc, const char *ns, const char *pod,
                            json_t **out, struct retl_errbuf *eb)
{
    char *ens = kube_escape(ns), *epod = kube_escape(pod);
    char path[1024];
    retl_err e = RETL_E_NOMEM;
    char *text = NULL;
    size_t len = 0;
    if (!ens || !epod)
        goto out;
    int n = snprintf(path, sizeof path,
                     "/api/v1/namespaces/%s/pods/%s/log?container=engine&tailLines=20"
                     "&limitBytes=%d",
                     ens, epod, CTL_PROGRESS_MAX_INPUT);
    if (n < 0 || (size_t)n >= sizeof path) {
        e = retl_errf(eb, RETL_E_INVALID, "pod name too long: %s", pod);
        goto out;
    }
    /* Room above limitBytes: the server cuts at line boundaries loosely. */
    e = kube_get_text(kc, path, 2 * CTL_PROGRESS_MAX_INPUT, &text, &len, eb);
    if (e)
        goto out;
    json_t *p;
    if (!ctl_progress_parse(text, len, &p)) {
        e = retl_errf(eb, RETL_E_NOT_FOUND, "no progress line in the log of %s yet", pod);
        goto out;
    }
    *out = p;
out:
    free(text);
    free(ens);
    free(epod);
    return e;
}
