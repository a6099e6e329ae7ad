#include "log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

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

/* Bounded line writer; a cut never splits a UTF-8 character. */
struct sink {
    char *p;
    size_t n, len;
};

static struct sink sink_make(char *p, size_t n)
{
    if (n)
        p[0] = '\0';
    return (struct sink){p, n, 0};
}

static void sink_put(struct sink *s, const char *p, size_t n)
{
    if (!s->n)
        return;
    size_t room = s->n - 1 - s->len;
    if (n > room)
        n = retl_utf8_prefix(p, n, room);
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void sink_puts(struct sink *s, const char *p)
{
    sink_put(s, p, strlen(p));
}

static void json_escape(struct sink *s, const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char tmp[8];
        switch (*p) {
        case '"': sink_puts(s, "\\\""); break;
        case '\\': sink_puts(s, "\\\\"); break;
        case '\n': sink_puts(s, "\\n"); break;
        case '\r': sink_puts(s, "\\r"); break;
        case '\t': sink_puts(s, "\\t"); break;
        default:
            if (*p < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", *p);
                sink_puts(s, tmp);
            } else {
                sink_put(s, (const char *)p, 1);
            }
        }
    }
}

static void logfmt_value(struct sink *s, const char *v)
{
    bool quote = !*v || strpbrk(v, " =\"\t\n\\") != NULL;
    if (!quote) {
        sink_puts(s, v);
        return;
    }
    sink_puts(s, "\"");
    json_escape(s, v);
    sink_puts(s, "\"");
}

static void put_value(struct sink *s, const char *v, bool json)
{
    char red[4096];
    retl_redact_text(v ? v : "", red, sizeof red);
    if (json) {
        sink_puts(s, "\"");
        json_escape(s, red);
        sink_puts(s, "\"");
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
    struct sink s = sink_make(line, LINE_MAX_BYTES - 2);
    char ts[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    retl_time_fmt_ts(&now, 3, ts, sizeof ts);
    bool json = log_fmt == RETL_LOG_JSON;
    const char *lv = level_names[lvl];
    if (json) {
        sink_puts(&s, "{\"ts\":\"");
        sink_puts(&s, ts);
        sink_puts(&s, "\",\"level\":\"");
        sink_puts(&s, lv);
        sink_puts(&s, "\",\"component\":");
        put_value(&s, log_component, true);
        sink_puts(&s, ",\"msg\":");
        put_value(&s, msg, true);
    } else {
        sink_puts(&s, "ts=");
        sink_puts(&s, ts);
        sink_puts(&s, " level=");
        sink_puts(&s, lv);
        sink_puts(&s, " component=");
        put_value(&s, log_component, false);
        sink_puts(&s, " msg=");
        put_value(&s, msg, false);
    }
    for (size_t i = 0; i < n; i++) {
        const struct retl_field *f = &fields[i];
        char num[64];
        sink_puts(&s, json ? ",\"" : " ");
        sink_puts(&s, f->key);
        sink_puts(&s, json ? "\":" : "=");
        switch (f->type) {
        case RETL_F_STR: put_value(&s, f->s, json); break;
        case RETL_F_INT:
            snprintf(num, sizeof num, "%lld", f->i);
            sink_puts(&s, num);
            break;
        case RETL_F_DBL:
            snprintf(num, sizeof num, "%.6g", f->d);
            sink_puts(&s, num);
            break;
        case RETL_F_BOOL: sink_puts(&s, f->i ? "true" : "false"); break;
        }
    }
    if (json)
        sink_puts(&s, "}");
    s.n += 2;
    sink_puts(&s, "\n");
    pthread_mutex_lock(&log_mu);
    FILE *o = log_out ? log_out : stderr;
    fputs(line, o);
    fflush(o);
    pthread_mutex_unlock(&log_mu);
    free(line);
}
