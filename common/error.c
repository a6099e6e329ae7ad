#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

static const char *const err_names[] = {
#define RETL_ERR_NAME(name, msg) #name,
    RETL_ERRORS(RETL_ERR_NAME)
#undef RETL_ERR_NAME
};

static const char *const err_msgs[] = {
#define RETL_ERR_MSG(name, msg) msg,
    RETL_ERRORS(RETL_ERR_MSG)
#undef RETL_ERR_MSG
};

const char *retl_err_name(retl_err e)
{
    if ((int)e < 0 || e >= RETL_E__COUNT)
        return "UNKNOWN";
    return err_names[e];
}

const char *retl_err_str(retl_err e)
{
    if ((int)e < 0 || e >= RETL_E__COUNT)
        return "unknown error";
    return err_msgs[e];
}

retl_err retl_errf(struct retl_errbuf *eb, retl_err code, const char *fmt, ...)
{
    if (eb) {
        va_list ap;
        va_start(ap, fmt);
        retl_utf8_vprintf(eb->msg, sizeof eb->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

retl_err retl_err_wrap(struct retl_errbuf *eb, retl_err code, const char *fmt, ...)
{
    if (!eb)
        return code;
    char prefix[RETL_ERRBUF_SIZE];
    char old[RETL_ERRBUF_SIZE];
    va_list ap;
    va_start(ap, fmt);
    retl_utf8_vprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(old, sizeof old, "%s", retl_errbuf_msg(eb, code));
    retl_utf8_printf(eb->msg, sizeof eb->msg, "%s: %s", prefix, old);
    return code;
}

const char *retl_errbuf_msg(const struct retl_errbuf *eb, retl_err code)
{
    if (eb && eb->msg[0])
        return eb->msg;
    return retl_err_str(code);
}
