#include "log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/sink.h"
#include "common/timestamp.h"
#include "utf8.h"

#define LINE_MAX_BYTES 16384

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_component[64] = "retl";
static enum retl_log_level log_min = RETL_LOG_INFO;
static enum retl_log_format log_fmt = RETL_LOG_JSON;
static FILE *log_out;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void retl_log_setup(const char *component, enum retl_log_level min,
                    enum retl_log_format fmt, FILE *out)
{
    pthread_mutex_lock(&log_mu);
    snprintf(log_component, sizeof log_component, "%s", component ? component : "retl");
    log_min = min;
    log_fmt = fmt;
    log_out = out;
    pthread_mutex_unlock(&log_mu);
}

retl_err retl_log_parse_level(const char *s, enum retl_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (s && strcasecmp(s, level_names[i]) == 0) {
            *out = (enum retl_log_level)i;
            return RETL_E_OK;
        }
    }
    if (s && strcasecmp(s, "warning") == 0) {
        *out = RETL_LOG_WARN;
        return RETL_E_OK;
    }
    return RETL_E_INVALID;
}

retl_err retl_log_parse_format(const char *s, enum retl_log_format *out)
{
    if (s && strcasecmp(s, "json") == 0) {
        *out = RETL_LOG_JSON;
        return RETL_E_OK;
    }
    if (s && (strcasecmp(s, "logfmt") == 0 || strcasecmp(s, "text") == 0)) {
        *out = RETL_LOG_LOGFMT;
        return RETL_E_OK;
    }
    return RETL_E_INVALID;
}

bool retl_log_enabled(enum retl_log_level lvl)
{
    return lvl >= log_min;
}

static void json_escape(struct retl_sink *s, const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char tmp[8];
        switch (*p) {
        case '"': retl_sink_puts(s, "\\\""); break;
        case '\\': retl_sink_puts(s, "\\\\"); break;
        case '\n': retl_sink_puts(s, "\\n"); break;
        case '\r': retl_sink_puts(s, "\\r"); break;
        case '\t': retl_sink_puts(s, "\\t"); break;
        default:
            if (*p < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", *p);
                retl_sink_puts(s, tmp);
            } else {
                retl_sink_put(s, (const char *)p, 1);
            }
        }
    }
}

static void logfmt_value(struct retl_sink *s, const char *v)
{
    bool quote = !*v || strpbrk(v, " =\"\t\n\\") != NULL;
    if (!quote) {
        retl_sink_puts(s, v);
        return;
    }
    retl_sink_puts(s, "\"");
    json_escape(s, v);
    retl_sink_puts(s, "\"");
}

static void put_value(struct retl_sink *s, const char *v, bool json)
{
    char red[4096];
    retl_redact_text(v ? v : "", red, sizeof red);
    if (json) {
        retl_sink_puts(s, "\"");
        json_escape(s, red);
        retl_sink_puts(s, "\"");
    } else {
        logfmt_value(s, red);
    }
}

void retl_log_fields(enum retl_log_level lvl, const char *msg,
                     const struct retl_field *fields, size_t n)
{
    if (!retl_log_enabled(lvl))
        return;
    char *line = malloc(LINE_MAX_BYTES);
    if (!line)
        return;
    struct retl_sink s = retl_sink_make(line, LINE_MAX_BYTES - 2);
    char ts[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    retl_time_fmt_ts(&now, 3, ts, sizeof ts);
    bool json = log_fmt == RETL_LOG_JSON;
    const char *lv = level_names[lvl];
    if (json) {
        retl_sink_puts(&s, "{\"ts\":\"");
        retl_sink_puts(&s, ts);
        retl_sink_puts(&s, "\",\"level\":\"");
        retl_sink_puts(&s, lv);
        retl_sink_puts(&s, "\",\"component\":");
        put_value(&s, log_component, true);
        retl_sink_puts(&s, ",\"msg\":");
        put_value(&s, msg, true);
    } else {
        retl_sink_puts(&s, "ts=");
        retl_sink_puts(&s, ts);
        retl_sink_puts(&s, " level=");
        retl_sink_puts(&s, lv);
        retl_sink_puts(&s, " component=");
        put_value(&s, log_component, false);
        retl_sink_puts(&s, " msg=");
        put_value(&s, msg, false);
    }
    for (size_t i = 0; i < n; i++) {
        const struct retl_field *f = &fields[i];
        char num[64];
        retl_sink_puts(&s, json ? ",\"" : " ");
        retl_sink_puts(&s, f->key);
        retl_sink_puts(&s, json ? "\":" : "=");
        switch (f->type) {
        case RETL_F_STR: put_value(&s, f->s, json); break;
        case RETL_F_INT:
            snprintf(num, sizeof num, "%lld", f->i);
            retl_sink_puts(&s, num);
            break;
        case RETL_F_DBL:
            snprintf(num, sizeof num, "%.6g", f->d);
            retl_sink_puts(&s, num);
            break;
        case RETL_F_BOOL: retl_sink_puts(&s, f->i ? "true" : "false"); break;
        }
    }
    if (json)
        retl_sink_puts(&s, "}");
    s.n += 2;
    retl_sink_puts(&s, "\n");
    pthread_mutex_lock(&log_mu);
    FILE *o = log_out ? log_out : stderr;
    fputs(line, o);
    fflush(o);
    pthread_mutex_unlock(&log_mu);
    free(line);
}
