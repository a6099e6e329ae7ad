#include "engine/summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eng_summary_init(struct eng_summary *s, long long run)
{
    memset(s, 0, sizeof *s);
    s->run = run;
    s->result = ENG_FAILED;
    s->failing_rows = -1;
}

const char *eng_result_name(enum eng_result r)
{
    switch (r) {
    case ENG_SUCCEEDED: return "Succeeded";
    case ENG_THRESHOLD: return "ThresholdExceeded";
    default: return "Failed";
    }
}

int eng_summary_exit(const struct eng_summary *s)
{
    switch (s->result) {
    case ENG_SUCCEEDED: return ENG_EXIT_OK;
    case ENG_THRESHOLD: return ENG_EXIT_THRESHOLD;
    default: return ENG_EXIT_FAILED;
    }
}

bool eng_threshold_exceeded(long long failed, long long attempted, long long max_rows,
                            double max_pct)
{
    if (failed <= 0)
        return false;
    if (max_rows >= 0 && failed > max_rows)
        return true;
    if (max_pct >= 0 && attempted > 0 &&
        (double)failed * 100.0 / (double)attempted > max_pct)
        return true;
    return false;
}

static char *render(const struct eng_summary *s, const char *msg, bool info, bool extra)
{
    json_t *o = json_pack(
        "{s:I, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:f, s:s}", "run",
        (json_int_t)s->run, "result", eng_result_name(s->result), "rows", "extracted",
        (json_int_t)s->extracted, "changed", (json_int_t)s->changed, "inserted",
        (json_int_t)s->inserted, "updated", (json_int_t)s->updated, "deleted",
        (json_int_t)s->deleted, "failed", (json_int_t)s->failed, "durationSeconds",
        (double)(long long)(s->duration * 1000 + 0.5) / 1000.0, "message", msg);
    if (!o)
        return NULL;
    if (info && s->dest_info)
        json_object_set(o, "destinationInfo", s->dest_info);
    if (s->errors_table[0])
        json_object_set_new(o, "errorsTable", json_string(s->errors_table));
    if (s->failing_rows >= 0)
        json_object_set_new(o, "failingRows", json_integer((json_int_t)s->failing_rows));
    if (extra && json_is_object(s->extra)) {
        const char *k;
        json_t *v;
        json_object_foreach (s->extra, k, v) {
            if (!json_object_get(o, k))
                json_object_set(o, k, v);
        }
    }
    char *txt =
        json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    return txt;
}

/* Longest prefix of s no longer than n bytes that does not split a UTF-8
 * sequence. */
static size_t utf8_cut(const char *s, size_t n)
{
    size_t l = strlen(s);
    if (l <= n)
        return l;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

char *eng_summary_json(const struct eng_summary *s)
{
    char *txt = render(s, s->message, true, true);
    if (txt && strlen(txt) <= ENG_SUMMARY_MAX)
        return txt;
    free(txt);
    txt = render(s, s->message, true, false);
    if (txt && strlen(txt) <= ENG_SUMMARY_MAX)
        return txt;
    free(txt);
    char msg[sizeof s->message];
    snprintf(msg, sizeof msg, "%s", s->message);
    for (;;) {
        txt = render(s, msg, false, false);
        if (!txt || strlen(txt) <= ENG_SUMMARY_MAX || !msg[0])
            return txt;
        size_t over = strlen(txt) - ENG_SUMMARY_MAX;
        free(txt);
        size_t keep = strlen(msg) > over + 8 ? strlen(msg) - over - 8 : 0;
        keep = utf8_cut(msg, keep);
        msg[keep] = '\0';
        if (keep)
            strcat(msg, "...");
    }
}
