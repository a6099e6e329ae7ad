#include "common/summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

const char *const retl_summary_row_keys[] = {
#define RETL_SUM_KEY(f, k) k,
    RETL_SUMMARY_ROWS(RETL_SUM_KEY)
#undef RETL_SUM_KEY
        NULL};

void retl_summary_init(struct retl_summary *s, long long run)
{
    memset(s, 0, sizeof *s);
    s->run = run;
    s->result = RETL_RESULT_FAILED;
    s->failing_rows = -1;
    s->failing_permanent = -1;
}

const char *retl_result_name(enum retl_result r)
{
    switch (r) {
    case RETL_RESULT_SUCCEEDED: return "Succeeded";
    case RETL_RESULT_THRESHOLD: return "ThresholdExceeded";
    default: return "Failed";
    }
}

bool retl_result_parse(const char *name, enum retl_result *out)
{
    static const enum retl_result all[] = {RETL_RESULT_SUCCEEDED, RETL_RESULT_FAILED,
                                           RETL_RESULT_THRESHOLD};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++) {
        if (!strcmp(name, retl_result_name(all[i]))) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

enum retl_result retl_result_for_exit(int code)
{
    switch (code) {
    case RETL_EXIT_OK: return RETL_RESULT_SUCCEEDED;
    case RETL_EXIT_THRESHOLD: return RETL_RESULT_THRESHOLD;
    default: return RETL_RESULT_FAILED;
    }
}

int retl_summary_exit(const struct retl_summary *s)
{
    switch (s->result) {
    case RETL_RESULT_SUCCEEDED: return RETL_EXIT_OK;
    case RETL_RESULT_THRESHOLD: return RETL_EXIT_THRESHOLD;
    default: return RETL_EXIT_FAILED;
    }
}

bool retl_threshold_exceeded(long long failed, long long attempted, long long max_rows,
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

/* The message and the errors table pass through retl_utf8_trunc: jansson
 * refuses invalid UTF-8, and a refused summary would be no summary at all. */
static char *render(const struct retl_summary *s, const char *msg_in, bool info,
                    bool extra)
{
    char msg[sizeof s->message], table[sizeof s->errors_table];
    retl_utf8_trunc(msg, sizeof msg, msg_in, "...");
    retl_utf8_trunc(table, sizeof table, s->errors_table, NULL);
    json_t *rows = json_object();
    json_t *o = json_object();
    if (!rows || !o) {
        json_decref(rows);
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, RETL_SUM_RUN, json_integer((json_int_t)s->run));
    json_object_set_new(o, RETL_SUM_RESULT, json_string(retl_result_name(s->result)));
    if (s->reason[0])
        json_object_set_new(o, RETL_SUM_REASON, json_string(s->reason));
#define RETL_SUM_SET(f, k) json_object_set_new(rows, k, json_integer((json_int_t)s->f));
    RETL_SUMMARY_ROWS(RETL_SUM_SET)
#undef RETL_SUM_SET
    json_object_set_new(o, RETL_SUM_ROWS, rows);
    json_object_set_new(
        o, RETL_SUM_DURATION,
        json_real((double)(long long)(s->duration * 1000 + 0.5) / 1000.0));
    json_object_set_new(o, RETL_SUM_MESSAGE, json_string(msg));
    if (info && s->dest_info)
        json_object_set(o, RETL_SUM_DEST_INFO, s->dest_info);
    if (table[0])
        json_object_set_new(o, RETL_SUM_ERRORS_TABLE, json_string(table));
    if (s->failing_rows >= 0)
        json_object_set_new(o, RETL_SUM_FAILING_ROWS,
                            json_integer((json_int_t)s->failing_rows));
    if (s->failing_permanent >= 0)
        json_object_set_new(o, RETL_SUM_FAILING_PERMANENT,
                            json_integer((json_int_t)s->failing_permanent));
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

char *retl_summary_json(const struct retl_summary *s)
{
    char *txt = render(s, s->message, true, true);
    if (txt && strlen(txt) <= RETL_SUMMARY_MAX)
        return txt;
    free(txt);
    txt = render(s, s->message, true, false);
    if (txt && strlen(txt) <= RETL_SUMMARY_MAX)
        return txt;
    free(txt);
    char msg[sizeof s->message];
    retl_utf8_trunc(msg, sizeof msg, s->message, NULL);
    for (;;) {
        txt = render(s, msg, false, false);
        if (!txt || strlen(txt) <= RETL_SUMMARY_MAX || !msg[0])
            return txt;
        size_t over = strlen(txt) - RETL_SUMMARY_MAX;
        free(txt);
        size_t keep = strlen(msg) > over + 8 ? strlen(msg) - over - 8 : 0;
        keep = retl_utf8_prefix(msg, strlen(msg), keep);
        msg[keep] = '\0';
        if (keep)
            strcat(msg, "...");
    }
}
