/* Values for Salesforce: canonical source text (engine/dest/dest.h) converted
 * per describe type into JSON (sObject Collections) or CSV (Bulk API 2.0)
 * text, record Ids (15 -> 18 with the case checksum), CSV writing and
 * reading, and Bulk error strings. Everything here is pure. */
#include "engine/dest/salesforce_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/utf8.h"

/* ---- Ids ---- */

static const char id_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

static void id_suffix(const char *id15, char suf[3])
{
    for (int chunk = 0; chunk < 3; chunk++) {
        int bits = 0;
        for (int i = 0; i < 5; i++) {
            char ch = id15[chunk * 5 + i];
            if (ch >= 'A' && ch <= 'Z')
                bits |= 1 << i;
        }
        suf[chunk] = id_alphabet[bits];
    }
}

static int id_suffix_value(char ch)
{
    ch = (char)toupper((unsigned char)ch);
    const char *p = strchr(id_alphabet, ch);
    return (p && ch) ? (int)(p - id_alphabet) : -1;
}

bool sf_id18(const char *in, char out[19])
{
    size_t n = in ? strlen(in) : 0;
    if (n != 15 && n != 18)
        return false;
    char id[19];
    memcpy(id, in, n);
    id[n] = '\0';
    for (size_t i = 0; i < 15; i++)
        if (!isalnum((unsigned char)id[i]))
            return false;
    char suf[3];
    bool flat = true; /* the case of the letters looks flattened */
    if (n == 18) {
        bool up = false, low = false;
        for (size_t i = 0; i < 15; i++) {
            up |= isupper((unsigned char)id[i]) != 0;
            low |= islower((unsigned char)id[i]) != 0;
        }
        flat = !(up && low);
    }
    if (n == 18 && flat) {
        /* The suffix records which of the first 15 characters are upper
         * case, so an Id whose case was flattened (all lower or all upper)
         * can be restored from it. A mixed-case Id must match as given. */
        for (int chunk = 0; chunk < 3; chunk++) {
            int bits = id_suffix_value(id[15 + chunk]);
            if (bits < 0)
                return false;
            for (int i = 0; i < 5; i++) {
                char *ch = &id[chunk * 5 + i];
                bool upper = bits & (1 << i);
                if (isalpha((unsigned char)*ch))
                    *ch = upper ? (char)toupper((unsigned char)*ch)
                                : (char)tolower((unsigned char)*ch);
                else if (upper)
                    return false;
            }
        }
    }
    id_suffix(id, suf);
    if (n == 18) {
        for (int i = 0; i < 3; i++)
            if (suf[i] != toupper((unsigned char)id[15 + i]))
                return false;
    }
    memcpy(out, id, 15);
    memcpy(out + 15, suf, 3);
    out[18] = '\0';
    return true;
}

/* ---- JSON text ---- */

retl_err sf_json_str(struct retl_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    retl_err e = retl_buf_addc(out, '"');
    size_t run = 0;
    for (size_t i = 0; i < n && !e; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        e = retl_buf_add(out, s + run, i - run);
        run = i + 1;
        if (e)
            break;
        char esc[7] = {'\\', 0};
        switch (ch) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
        }
        e = retl_buf_adds(out, esc);
    }
    if (!e)
        e = retl_buf_add(out, s + run, n - run);
    if (!e)
        e = retl_buf_addc(out, '"');
    return e;
}

/* ---- conversion ---- */

enum vkind { V_NULL, V_STR, V_RAW };

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static void verr(struct sf_verr *err, const char *code, const char *fmt,
                 const char *field, const char *v)
{
    char shown[81];
    retl_utf8_trunc(shown, sizeof shown, v, "...");
    err->code = code;
    err->field = field;
    retl_utf8_printf(err->message, sizeof err->message, fmt, field, shown);
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *yes[] = {"true", "t", "1", "yes", "y", "on"};
    static const char *no[] = {"false", "f", "0", "no", "n", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!strcasecmp(v, yes[i])) {
            *out = true;
            return true;
        }
        if (!strcasecmp(v, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Normalises a decimal number into JSON number syntax in buf (no '+', no
 * leading zeros, digits around the point). Counts the integer digits. */
static bool parse_number(const char *v, char *buf, size_t cap, int *int_digits,
                         bool *has_frac_nonzero, bool *has_exp)
{
    const char *p = v;
    size_t o = 0;
    *int_digits = 0;
    *has_frac_nonzero = false;
    *has_exp = false;
    if (strlen(v) + 3 >= cap)
        return false;
    if (*p == '+' || *p == '-') {
        if (*p == '-')
            buf[o++] = '-';
        p++;
    }
    const char *ds = p;
    while (*p == '0' && isdigit((unsigned char)p[1]))
        p++;
    const char *is = p;
    while (isdigit((unsigned char)*p))
        buf[o++] = *p++;
    size_t nint = (size_t)(p - is);
    *int_digits = (nint == 1 && *is == '0') ? 0 : (int)nint;
    bool any = p > ds;
    if (!any)
        buf[o++] = '0';
    if (*p == '.') {
        p++;
        size_t fs = o;
        buf[o++] = '.';
        while (isdigit((unsigned char)*p)) {
            if (*p != '0')
                *has_frac_nonzero = true;
            buf[o++] = *p++;
            any = true;
        }
        if (o == fs + 1)
            o = fs; /* "1." -> "1" */
    }
    if (!any)
        return false;
    if (*p == 'e' || *p == 'E') {
        *has_exp = true;
        buf[o++] = 'e';
        p++;
        if (*p == '+' || *p == '-')
            buf[o++] = *p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            buf[o++] = *p++;
    }
    buf[o] = '\0';
    return *p == '\0';
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long long days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long long z, long long *y, int *m, int *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

struct tstamp {
    long long y;
    int mo, d, h, mi, s, ms;
    bool has_time, has_offset;
    int offset_min; /* east of UTC */
};

static bool digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

static int month_days(long long y, int m)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : md[m - 1];
}

/* "HH:MM[:SS[.fff...]]" at p; returns the end or NULL. */
static const char *parse_clock(const char *p, struct tstamp *t)
{
    if (!digits(p, 2, &t->h) || p[2] != ':' || !digits(p + 3, 2, &t->mi))
        return NULL;
    p += 5;
    t->s = 0;
    t->ms = 0;
    if (*p == ':') {
        if (!digits(p + 1, 2, &t->s))
            return NULL;
        p += 3;
        if (*p == '.') {
            p++;
            int scale = 100;
            if (!isdigit((unsigned char)*p))
                return NULL;
            while (isdigit((unsigned char)*p)) {
                t->ms += (*p - '0') * scale;
                scale /= 10;
                p++;
            }
        }
    }
    if (t->h > 23 || t->mi > 59 || t->s > 60)
        return NULL;
    if (t->s == 60)
        t->s = 59;
    return p;
}

static bool parse_offset(const char *p, struct tstamp *t)
{
    if (*p == '\0')
        return true;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        t->has_offset = true;
        t->offset_min = 0;
        return true;
    }
    if (*p != '+' && *p != '-')
        return false;
    int sign = *p == '-' ? -1 : 1, oh, om = 0;
    p++;
    if (!digits(p, 2, &oh))
        return false;
    p += 2;
    if (*p == ':')
        p++;
    if (*p) {
        if (!digits(p, 2, &om))
            return false;
        p += 2;
        if (*p == ':') { /* seconds in old zone offsets: ignored */
            int os;
            if (!digits(p + 1, 2, &os))
                return false;
            p += 3;
        }
    }
    if (*p || oh > 15 || om > 59)
        return false;
    t->has_offset = true;
    t->offset_min = sign * (oh * 60 + om);
    return true;
}

static bool parse_tstamp(const char *v, struct tstamp *t)
{
    memset(t, 0, sizeof *t);
    int y;
    if (!digits(v, 4, &y) || v[4] != '-' || !digits(v + 5, 2, &t->mo) || v[7] != '-' ||
        !digits(v + 8, 2, &t->d))
        return false;
    t->y = y;
    if (t->mo < 1 || t->mo > 12 || t->d < 1 || t->d > month_days(t->y, t->mo))
        return false;
    const char *p = v + 10;
    if (*p == ' ' || *p == 'T' || *p == 't') {
        p = parse_clock(p + 1, t);
        if (!p)
            return false;
        t->has_time = true;
    }
    return parse_offset(p, t);
}

static void tstamp_to_utc(struct tstamp *t)
{
    if (!t->has_offset || t->offset_min == 0)
        return;
    long long mins =
        days_from_civil(t->y, t->mo, t->d) * 1440LL + t->h * 60 + t->mi - t->offset_min;
    long long days = mins >= 0 ? mins / 1440 : -((-mins + 1439) / 1440);
    long long rem = mins - days * 1440;
    civil_from_days(days, &t->y, &t->mo, &t->d);
    t->h = (int)(rem / 60);
    t->mi = (int)(rem % 60);
    t->offset_min = 0;
}

/* Writes v as n zero-padded digits at p; returns the end. (snprintf cost half
 * of a Bulk CSV's conversion time.) */
static char *put_digits(char *p, long long v, int n)
{
    for (int k = n - 1; k >= 0; k--, v /= 10)
        p[k] = (char)('0' + v % 10);
    return p + n;
}

/* "YYYY-MM-DD", or "YYYY-MM-DDTHH:MM:SS.sssZ" with_time, into s (25 bytes);
 * t->y is within 1..9999. */
static void format_tstamp(char *s, const struct tstamp *t, bool with_time)
{
    s = put_digits(s, t->y, 4);
    *s++ = '-';
    s = put_digits(s, t->mo, 2);
    *s++ = '-';
    s = put_digits(s, t->d, 2);
    if (with_time) {
        *s++ = 'T';
        s = put_digits(s, t->h, 2);
        *s++ = ':';
        s = put_digits(s, t->mi, 2);
        *s++ = ':';
        s = put_digits(s, t->s, 2);
        *s++ = '.';
        s = put_digits(s, t->ms, 3);
        *s++ = 'Z';
    }
    *s = '\0';
}

/* "value not of required type", Salesforce's words for a value it cannot
 * read as the field's type. Returns false for the caller to pass on. */
static bool not_type(struct sf_verr *err, const struct sf_field *f, const char *v)
{
    verr(err, "INVALID_TYPE_ON_FIELD_IN_RECORD", "%s: value not of required type: %s",
         f->name, v);
    return false;
}

/* A JSON array of strings becomes "A;B" in scratch; anything else stays. */
static const char *multipicklist(const char *v, char *scratch, size_t cap)
{
    const char *out = v;
    json_t *a = json_loads(v, 0, NULL);
    if (json_is_array(a)) {
        size_t o = 0, i;
        json_t *it;
        bool okay = true;
        json_array_foreach (a, i, it) {
            const char *s = json_string_value(it);
            size_t sl = s ? strlen(s) : 0;
            if (!s || o + sl + 2 >= cap) {
                okay = false;
                break;
            }
            if (o)
                scratch[o++] = ';';
            memcpy(scratch + o, s, sl);
            o += sl;
        }
        scratch[o] = '\0';
        if (okay)
            out = scratch;
    }
    json_decref(a);
    return out;
}

/* string, base64 and other types: sent as text, within the field's length. */
static bool conv_text(const struct sf_field *f, enum eng_type st, const char *v,
                      char *scratch, size_t cap, const char **outp, struct sf_verr *err)
{
    if (st == ENG_T_JSON && f->type_name && !strcmp(f->type_name, "multipicklist") &&
        v[0] == '[')
        *outp = multipicklist(v, scratch, cap);
    if (f->type == SF_F_STRING && f->length > 0 && utf8_len(*outp) > (size_t)f->length) {
        verr(err, "STRING_TOO_LONG", "%s: data value too large: %s", f->name, *outp);
        size_t ml = strlen(err->message);
        retl_utf8_printf(err->message + ml, sizeof err->message - ml, " (max length=%ld)",
                         f->length);
        return false;
    }
    return true;
}

/* A record Id: 15 or 18 characters, sent as 18; empty is null. */
static bool conv_id(const struct sf_field *f, const char *v, char *scratch,
                    const char **outp, enum vkind *kind, struct sf_verr *err)
{
    if (!*v) {
        *kind = V_NULL;
        return true;
    }
    if (!sf_id18(v, scratch)) {
        verr(err, "MALFORMED_ID", "%s: id value of incorrect type: %s", f->name, v);
        return false;
    }
    *outp = scratch;
    return true;
}

static bool conv_bool(const struct sf_field *f, const char *v, const char **outp,
                      enum vkind *kind, struct sf_verr *err)
{
    bool b;
    if (!parse_bool(v, &b))
        return not_type(err, f, v);
    *outp = b ? "true" : "false";
    *kind = V_RAW;
    return true;
}

/* int and double: a plain decimal in scratch, an int without fraction or
 * exponent, within the field's digits (or precision - scale). */
static bool conv_number(const struct sf_field *f, enum eng_type st, const char *v,
                        char *scratch, size_t cap, const char **outp, enum vkind *kind,
                        struct sf_verr *err)
{
    int idig;
    bool frac, exp;
    if (!*v && st == ENG_T_TEXT) {
        *kind = V_NULL;
        return true;
    }
    if (st == ENG_T_BOOL || !parse_number(v, scratch, cap, &idig, &frac, &exp))
        return not_type(err, f, v);
    if (f->type == SF_F_INT) {
        if (frac || exp)
            return not_type(err, f, v);
        char *dot = strchr(scratch, '.');
        if (dot)
            *dot = '\0';
        if (!strcmp(scratch, "-0"))
            strcpy(scratch, "0");
    }
    int max_int =
        f->type == SF_F_INT
            ? (f->digits > 0 ? f->digits : (f->precision > 0 ? f->precision : 0))
            : (f->precision > 0 ? f->precision - f->scale : 0);
    if (max_int > 0 && !exp && idig > max_int) {
        verr(err, "NUMBER_OUTSIDE_VALID_RANGE", "%s: number outside valid range: %s",
             f->name, v);
        return false;
    }
    *outp = scratch;
    *kind = V_RAW;
    return true;
}

/* date and datetime: any accepted timestamp, in UTC, years 1700-4000. */
static bool conv_tstamp(const struct sf_field *f, enum eng_type st, const char *v,
                        char *scratch, const char **outp, enum vkind *kind,
                        struct sf_verr *err)
{
    struct tstamp t;
    if (!*v && st == ENG_T_TEXT) {
        *kind = V_NULL;
        return true;
    }
    if (!parse_tstamp(v, &t) || t.y < 1700 || t.y > 4000)
        return not_type(err, f, v);
    tstamp_to_utc(&t);
    if (t.y < 1 || t.y > 9999)
        return not_type(err, f, v);
    format_tstamp(scratch, &t, f->type == SF_F_DATETIME);
    *outp = scratch;
    return true;
}

/* time: a clock with an optional offset, sent as HH:MM:SS.mmmZ. */
static bool conv_time(const struct sf_field *f, enum eng_type st, const char *v,
                      char *scratch, size_t cap, const char **outp, enum vkind *kind,
                      struct sf_verr *err)
{
    struct tstamp t = {0};
    const char *p = parse_clock(v, &t);
    if (!*v && st == ENG_T_TEXT) {
        *kind = V_NULL;
        return true;
    }
    if (!p || !parse_offset(p, &t))
        return not_type(err, f, v);
    int mins = t.h * 60 + t.mi - (t.has_offset ? t.offset_min : 0);
    mins = ((mins % 1440) + 1440) % 1440;
    snprintf(scratch, cap, "%02d:%02d:%02d.%03dZ", mins / 60, mins % 60, t.s, t.ms);
    *outp = scratch;
    return true;
}

/* Converts v for field f into scratch; sets kind. */
static bool convert(const struct sf_field *f, enum eng_type st, const char *v,
                    char *scratch, size_t cap, const char **outp, enum vkind *kind,
                    struct sf_verr *err)
{
    *outp = v;
    *kind = V_STR;
    switch (f->type) {
    case SF_F_STRING:
    case SF_F_BASE64:
    case SF_F_OTHER: return conv_text(f, st, v, scratch, cap, outp, err);
    case SF_F_ID: return conv_id(f, v, scratch, outp, kind, err);
    case SF_F_BOOL: return conv_bool(f, v, outp, kind, err);
    case SF_F_INT:
    case SF_F_DOUBLE: return conv_number(f, st, v, scratch, cap, outp, kind, err);
    case SF_F_DATE:
    case SF_F_DATETIME: return conv_tstamp(f, st, v, scratch, outp, kind, err);
    case SF_F_TIME: return conv_time(f, st, v, scratch, cap, outp, kind, err);
    }
    return true;
}

bool sf_value_append(struct retl_buf *out, enum sf_vfmt fmt, const struct sf_field *f,
                     enum eng_type st, const char *v, struct sf_verr *err)
{
    char scratch[128];
    const char *s = NULL;
    enum vkind kind = V_NULL;
    if (v && !convert(f, st, v, scratch, sizeof scratch, &s, &kind, err))
        return false;
    retl_err e;
    if (!v || kind == V_NULL)
        e = retl_buf_adds(out, fmt == SF_VAL_JSON ? "null" : "#N/A");
    else if (fmt == SF_VAL_CSV)
        e = sf_csv_field(out, s, strlen(s));
    else if (fmt == SF_VAL_RAW)
        e = retl_buf_adds(out, s);
    else if (kind == V_RAW)
        e = retl_buf_adds(out, s);
    else
        e = sf_json_str(out, s, strlen(s));
    if (e) {
        err->code = "TOO_BIG";
        err->field = f->name;
        snprintf(err->message, sizeof err->message,
                 "%s: the request would exceed its size limit", f->name);
        return false;
    }
    return true;
}

/* ---- Bulk errors ---- */

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

static bool looks_like_fields(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != ',' && s[i] != '.')
            return false;
    return true;
}

void sf_bulk_error_split(const char *s, char **code, char **message, char **fields)
{
    *code = *message = *fields = NULL;
    if (!s)
        s = "";
    const char *colon = strchr(s, ':');
    if (!colon) {
        *code = strdup(*s ? s : "UNKNOWN_EXCEPTION");
        *message = strdup(s);
        return;
    }
    *code = dupn(s, (size_t)(colon - s));
    const char *rest = colon + 1;
    size_t n = strlen(rest);
    bool tail = false;
    if (n >= 2 && !strcmp(rest + n - 2, "--")) {
        tail = true;
        n -= 2;
        while (n && rest[n - 1] == ' ')
            n--;
    }
    if (tail) {
        const char *last = NULL;
        for (size_t i = 0; i < n; i++)
            if (rest[i] == ':')
                last = rest + i;
        if (last) {
            size_t fl = n - (size_t)(last + 1 - rest);
            if (looks_like_fields(last + 1, fl))
                *fields = dupn(last + 1, fl);
            if (fl == 0 || *fields)
                n = (size_t)(last - rest);
        }
    }
    *message = dupn(rest, n);
}
