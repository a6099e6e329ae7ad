#include "engine/source/sql_tmpl.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* One state column of alias ("" for none): alias.name, name quoted unless
 * bare. */
static retl_err column(const struct eng_sql *x, struct retl_buf *b, const char *alias,
                       const char *name)
{
    retl_err rc = RETL_E_OK;
    if (*alias)
        RETL_TRY(retl_buf_printf(b, "%s.", alias));
    RETL_TRY(x->bare ? retl_buf_adds(b, name) : eng_dl_ident(x->d, b, name));
out:
    return rc;
}

/* The value columns c1..cn of alias, each after sep (first: after first). */
static retl_err values(const struct eng_sql *x, struct retl_buf *b, const char *alias,
                       const char *first, const char *sep)
{
    retl_err rc = RETL_E_OK;
    char c[32];
    for (size_t i = 1; i < x->st->ncols; i++) {
        snprintf(c, sizeof c, "c%zu", i);
        RETL_TRY(retl_buf_adds(b, i == 1 ? first : sep));
        RETL_TRY(column(x, b, alias, c));
    }
out:
    return rc;
}

/* Column i of alias as canonical text: typed columns through their
 * expression, text columns as they are. */
static retl_err canon(const struct eng_sql *x, struct retl_buf *b, size_t i,
                      const char *alias)
{
    char col[96];
    const struct eng_scol *c = &x->st->cols[i];
    if (i == 0)
        snprintf(col, sizeof col, "%s%sk", alias, *alias ? "." : "");
    else
        snprintf(col, sizeof col, "%s%sc%zu", alias, *alias ? "." : "", i);
    if (!eng_pg_typed(c->sql_type))
        return retl_buf_adds(b, col);
    return eng_pg_canon_expr(b, col, c->sql_type, c->type);
}

static retl_err hash(const struct eng_sql *x, struct retl_buf *b, const char *alias)
{
    retl_err rc;
    if (x->st->ncols < 2)
        return retl_buf_adds(b, "NULL::bigint");
    const struct eng_state *st = x->st;
    bool num = false;
    for (size_t i = 1; i < st->ncols; i++)
        num |= eng_pg_typed(st->cols[i].sql_type) &&
               !strcmp(st->cols[i].sql_type, "numeric");
    RETL_TRY(retl_buf_adds(b, num ? "(hash_record_extended(ROW("
                                  : "hash_record_extended(ROW("));
    RETL_TRY(values(x, b, alias, "", ", "));
    RETL_TRY(retl_buf_adds(b, "), 0)"));
    /* numeric's hash ignores the sign (1 and -1 hash alike): a negative
     * value flips a per-column constant into the hash. Rows without one keep
     * the hash they always had, so no snapshot is invalidated. */
    for (size_t i = 1; num && i < st->ncols; i++) {
        if (eng_pg_typed(st->cols[i].sql_type) &&
            !strcmp(st->cols[i].sql_type, "numeric"))
            RETL_TRY(retl_buf_printf(b, " # CASE WHEN %s%sc%zu < 0 THEN %lld ELSE 0 END",
                                     alias, *alias ? "." : "", i,
                                     (long long)(0x9E3779B97F4A7C15ull * (i + 1) >> 1)));
    }
    if (num)
        RETL_TRY(retl_buf_adds(b, ")"));
out:
    return rc;
}

static const char *state_table(const struct eng_state *st, const char *name, char *tmp)
{
    static const struct {
        const char *name;
        size_t off;
    } tables[] = {
        {"snap", offsetof(struct eng_state_names, snap)},
        {"delta", offsetof(struct eng_state_names, delta)},
        {"stage", offsetof(struct eng_state_names, stage)},
        {"errors", offsetof(struct eng_state_names, errors)},
        {"meta", offsetof(struct eng_state_names, meta)},
        {"rows", offsetof(struct eng_state_names, rows)},
    };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        if (strcmp(tables[i].name, name) == 0)
            return (const char *)&st->n + tables[i].off;
    }
    if (strcmp(name, "batch") == 0) {
        eng_dl_batch_name(st, tmp);
        return tmp;
    }
    if (strcmp(name, "keys") == 0) {
        eng_dl_keys_name(st, tmp);
        return tmp;
    }
    return NULL;
}

/* One {placeholder} (without braces). */
static retl_err placeholder(const struct eng_sql *x, struct retl_buf *b, const char *ph)
{
    char tmp[ENG_IDENT_MAX + 1];
    const char *t = state_table(x->st, ph, tmp);
    if (t)
        return eng_dl_table(x->d, b, x->st->n.schema, t);
    if (strncmp(ph, "hash:", 5) == 0)
        return hash(x, b, ph + 5);
    char alias[32] = "";
    const char *name = ph + (ph[0] == '=');
    const char *dot = strchr(name, '.');
    if (dot) {
        size_t n = (size_t)(dot - name);
        if (n >= sizeof alias)
            return RETL_E_INVALID;
        memcpy(alias, name, n);
        alias[n] = '\0';
        name = dot + 1;
    }
    if (ph[0] == '=') {
        if (strcmp(name, "k") == 0)
            return canon(x, b, 0, alias);
        if (strcmp(name, "*") != 0)
            return RETL_E_INVALID;
        retl_err rc = RETL_E_OK;
        for (size_t i = 0; i < x->st->ncols && !rc; i++) {
            if (i)
                rc = retl_buf_adds(b, ", ");
            if (!rc)
                rc = canon(x, b, i, alias);
        }
        return rc;
    }
    if (strcmp(name, "c*") == 0)
        return values(x, b, alias, ", ", ", ");
    if (strcmp(name, "c+") == 0)
        return values(x, b, alias, "", ", ");
    return column(x, b, alias, name);
}

/* The {placeholder} at *p; *p moves past it. */
static retl_err brace(const struct eng_sql *x, struct retl_buf *b, const char **p)
{
    const char *end = strchr(*p, '}');
    char ph[64];
    size_t n = end ? (size_t)(end - *p - 1) : sizeof ph;
    if (n >= sizeof ph)
        return RETL_E_INVALID;
    memcpy(ph, *p + 1, n);
    ph[n] = '\0';
    *p = end + 1;
    return placeholder(x, b, ph);
}

/* The % directive at *p, its argument from ap; *p moves past it. */
static retl_err directive(const struct eng_sql *x, struct retl_buf *b, const char **p,
                          va_list *ap)
{
    const char *d = *p + 1;
    if (strncmp(d, "lld", 3) == 0) {
        *p += 4;
        return retl_buf_printf(b, "%lld", va_arg(*ap, long long));
    }
    if (strncmp(d, "zu", 2) == 0) {
        *p += 3;
        return retl_buf_printf(b, "%zu", va_arg(*ap, size_t));
    }
    if (!*d)
        return RETL_E_INVALID;
    *p += 2;
    switch (*d) {
    case 's': return retl_buf_adds(b, va_arg(*ap, const char *));
    case 'L': return eng_dl_literal(x->d, b, va_arg(*ap, const char *));
    case 'I': return eng_dl_ident(x->d, b, va_arg(*ap, const char *));
    case 'T': return eng_dl_table(x->d, b, x->st->n.schema, va_arg(*ap, const char *));
    case 'c': return retl_buf_addc(b, (char)va_arg(*ap, int));
    case 'd': return retl_buf_printf(b, "%d", va_arg(*ap, int));
    case '%': return retl_buf_addc(b, '%');
    default: return RETL_E_INVALID;
    }
}

retl_err eng_sql_fmt(const struct eng_sql *x, struct retl_buf *b, const char *tmpl, ...)
{
    retl_err rc = RETL_E_OK;
    va_list ap;
    va_start(ap, tmpl);
    const char *p = tmpl;
    while (*p && rc == RETL_E_OK) {
        size_t plain = strcspn(p, "{%");
        if (plain) {
            rc = retl_buf_add(b, p, plain);
            p += plain;
        } else if (*p == '{') {
            rc = brace(x, b, &p);
        } else {
            rc = directive(x, b, &p, &ap);
        }
    }
    va_end(ap);
    return rc;
}
