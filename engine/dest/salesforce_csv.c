/* RFC 4180 CSV for Bulk API 2.0: one field written (quoted as needed), and a
 * document read back (the job's result CSVs). */
#include "engine/dest/salesforce_csv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- writing ---- */

retl_err sf_csv_field(struct retl_buf *out, const char *s, size_t n)
{
    if (!memchr(s, ',', n) && !memchr(s, '"', n) && !memchr(s, '\n', n) &&
        !memchr(s, '\r', n))
        return retl_buf_add(out, s, n);
    retl_err e = retl_buf_addc(out, '"');
    size_t run = 0;
    for (size_t i = 0; i < n && !e; i++) {
        if (s[i] != '"')
            continue;
        /* Emit up to and including the quote, then the doubling quote. */
        e = retl_buf_add(out, s + run, i + 1 - run);
        if (!e)
            e = retl_buf_addc(out, '"');
        run = i + 1;
    }
    if (!e)
        e = retl_buf_add(out, s + run, n - run);
    if (!e)
        e = retl_buf_addc(out, '"');
    return e;
}

/* ---- reading ---- */

void sf_csv_free(struct sf_csv *c)
{
    free(c->mem);
    free(c->cells);
    free(c->header);
    memset(c, 0, sizeof *c);
}

/* The reader's position in the text and in the unescaped copy. */
struct reader {
    const char *text;
    size_t len, i; /* text[i] is next */
    char *mem;
    size_t o;    /* mem[o] is next */
    size_t line; /* for messages */
};

/* Copies one cell (quoted or not) into mem, NUL-terminated. */
static retl_err read_cell(struct reader *r, struct retl_errbuf *eb)
{
    const char *text = r->text;
    size_t len = r->len;
    if (r->i >= len || text[r->i] != '"') {
        while (r->i < len && text[r->i] != ',' && text[r->i] != '\n' &&
               !(text[r->i] == '\r' && r->i + 1 < len && text[r->i + 1] == '\n'))
            r->mem[r->o++] = text[r->i++];
        r->mem[r->o++] = '\0';
        return RETL_E_OK;
    }
    r->i++;
    for (;;) {
        /* Up to the next quote in one copy: Bulk results quote every value. */
        const char *q = memchr(text + r->i, '"', len - r->i);
        if (!q)
            return retl_errf(eb, RETL_E_PARSE, "CSV line %zu: unterminated quoted field",
                             r->line);
        size_t span = (size_t)(q - (text + r->i));
        for (const char *nl = memchr(text + r->i, '\n', span); nl;
             nl = memchr(nl + 1, '\n', (size_t)(q - nl - 1)))
            r->line++;
        memcpy(r->mem + r->o, text + r->i, span);
        r->o += span;
        r->i += span + 1;
        if (r->i < len && text[r->i] == '"') {
            r->mem[r->o++] = '"';
            r->i++;
            continue;
        }
        break;
    }
    r->mem[r->o++] = '\0';
    return RETL_E_OK;
}

/* Header and rows of c from the n cells read (header first). */
static retl_err assemble(struct sf_csv *c, char **cells, size_t n, struct retl_errbuf *eb)
{
    if (c->ncols == 0)
        return retl_errf(eb, RETL_E_PARSE, "CSV: no header row");
    c->header = malloc(c->ncols * sizeof *c->header);
    if (!c->header)
        return RETL_E_NOMEM;
    memcpy(c->header, cells, c->ncols * sizeof *cells);
    c->nrows = n / c->ncols - 1;
    c->cells = malloc((n - c->ncols + 1) * sizeof *c->cells);
    if (!c->cells)
        return RETL_E_NOMEM;
    memcpy(c->cells, cells + c->ncols, (n - c->ncols) * sizeof *cells);
    return RETL_E_OK;
}

retl_err sf_csv_parse(const char *text, size_t len, struct sf_csv *out,
                      struct retl_errbuf *eb)
{
    struct sf_csv c = {0};
    retl_err e = RETL_E_OK;
    size_t ncap = 0, n = 0; /* all cells, header included */
    char **cells = NULL;
    c.mem = malloc(len + 1);
    if (!c.mem)
        return RETL_E_NOMEM;
    struct reader r = {.text = text, .len = len, .mem = c.mem, .line = 1};
    size_t row_cells = 0;
    bool done = len == 0;
    while (!done) {
        char *start = c.mem + r.o;
        e = read_cell(&r, eb);
        if (e)
            goto out;
        if (n == ncap) {
            ncap = ncap ? ncap * 2 : 64;
            char **nc = realloc(cells, ncap * sizeof *nc);
            if (!nc) {
                e = RETL_E_NOMEM;
                goto out;
            }
            cells = nc;
        }
        cells[n++] = start;
        row_cells++;
        bool end_row = false;
        if (r.i >= len) {
            end_row = true;
            done = true;
        } else if (text[r.i] == ',') {
            r.i++;
        } else if (text[r.i] == '\r' || text[r.i] == '\n') {
            r.i += text[r.i] == '\r' ? 2 : 1;
            end_row = true;
            r.line++;
            if (r.i >= len)
                done = true;
        } else {
            e = retl_errf(eb, RETL_E_PARSE, "CSV line %zu: text after a closing quote",
                          r.line);
            goto out;
        }
        if (!end_row)
            continue;
        if (c.ncols == 0) {
            c.ncols = row_cells;
        } else if (row_cells != c.ncols) {
            /* A blank last line is not a row. */
            if (!(row_cells == 1 && !*start && done)) {
                e = retl_errf(eb, RETL_E_PARSE,
                              "CSV line %zu: %zu fields, header has %zu", r.line - 1,
                              row_cells, c.ncols);
                goto out;
            }
            n--;
        }
        row_cells = 0;
    }
    e = assemble(&c, cells, n, eb);
    if (e)
        goto out;
    *out = c;
    memset(&c, 0, sizeof c);
out:
    free(cells);
    sf_csv_free(&c);
    return e;
}

long sf_csv_col(const struct sf_csv *c, const char *name)
{
    for (size_t i = 0; i < c->ncols; i++)
        if (!strcasecmp(c->header[i], name))
            return (long)i;
    return -1;
}
