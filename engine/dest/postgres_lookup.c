#include "engine/dest/postgres_lookup.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/pg.h"

#define LK_SQL_MAX (64u << 10)

void pd_lookup_free(struct pd_lookup *lk)
{
    free(lk->path);
    free(lk->object);
    free(lk->field);
    free(lk->qname);
    free(lk->pk);
    free(lk->field_type);
    memset(lk, 0, sizeof *lk);
}

static void problem(struct retl_buf *probs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(struct retl_buf *probs, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    retl_buf_printf(probs, "%s%s", probs->len ? "; " : "", msg);
}

/* The first rows of a catalog query fmt whose (up to two) %s are arg1 and
 * arg2 as literals; *r is NULL when it found nothing. Ownership: the caller
 * PQclear()s *r. */
static retl_err one(PGconn *c, const char *fmt, const char *arg1, const char *arg2,
                    PGresult **r, struct retl_errbuf *eb)
{
    retl_err rc;
    struct retl_buf q, l1, l2;
    retl_buf_init(&q, LK_SQL_MAX);
    retl_buf_init(&l1, LK_SQL_MAX);
    retl_buf_init(&l2, LK_SQL_MAX);
    PGresult *res = NULL;
    RETL_TRY(eng_pg_literal(&l1, arg1));
    RETL_TRY(eng_pg_literal(&l2, arg2 ? arg2 : ""));
    RETL_TRY(retl_buf_printf(&q, fmt, retl_buf_str(&l1), retl_buf_str(&l2)));
    RETL_TRY(eng_pg_exec(c, retl_buf_str(&q), &res, "destination", eb));
    if (PQntuples(res) == 0) {
        PQclear(res);
        res = NULL;
    }
    *r = res;
out:
    retl_buf_free(&q);
    retl_buf_free(&l1);
    retl_buf_free(&l2);
    return rc;
}

/* Categories a primary key of category pk_cat can be written into. */
/* How wide an exact numeric type is (0: not one of them). */
static int exact_width(const char *t)
{
    static const char *const order[] = {"smallint", "integer", "bigint", "numeric"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(t, order[i]))
            return i + 1;
    return 0;
}

/* Whether a column of dest_type holds every primary key of pk_type: the same
 * type, text, or an exact numeric at least as wide (a bigint key in an
 * integer column would overflow on some rows only). */
static bool holds(char dest_cat, const char *dest_type, char pk_cat, const char *pk_type)
{
    if (!strcmp(dest_type, pk_type) || dest_cat == 'S')
        return true;
    int dw = exact_width(dest_type), pw = exact_width(pk_type);
    return dest_cat == 'N' && pk_cat == 'N' && dw && pw && dw >= pw;
}

retl_err pd_lookup_resolve(PGconn *c, const char *path, const struct eng_col *col,
                           size_t col_index, const char *dest_type, char dest_cat,
                           struct pd_lookup *out, struct retl_buf *probs,
                           struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    PGresult *t = NULL, *pk = NULL, *f = NULL;
    struct retl_buf qn;
    retl_buf_init(&qn, 4096);
    const char *obj = col->lookup_object, *field = col->lookup_field;
    if (!strchr(obj, '.')) {
        problem(probs, "%s.lookup.object: \"%s\" must be schema.table", path, obj);
        goto out;
    }
    RETL_TRY(eng_pg_dotted(&qn, obj));
    RETL_TRY(one(c, "SELECT c.oid FROM pg_class c WHERE c.oid = to_regclass(%s)",
                 retl_buf_str(&qn), NULL, &t, eb));
    if (!t) {
        problem(probs, "%s.lookup.object: table %s does not exist", path, obj);
        goto out;
    }
    const char *oid = PQgetvalue(t, 0, 0);
    RETL_TRY(
        one(c,
            "SELECT min(a.attname), min(format_type(a.atttypid, NULL)), "
            "min(ty.typcategory::text) FROM pg_index i JOIN pg_attribute a ON "
            "a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) JOIN pg_type ty ON "
            "ty.oid = a.atttypid WHERE i.indrelid = %s::oid AND i.indisprimary "
            "HAVING count(*) = 1",
            oid, NULL, &pk, eb));
    if (!pk) {
        problem(probs,
                "%s.lookup.object: %s has no single-column primary key (the value "
                "written is the parent's primary key)",
                path, obj);
        goto out;
    }
    RETL_TRY(one(c,
                 "SELECT format_type(a.atttypid, NULL), ty.typcategory, EXISTS (SELECT 1 "
                 "FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique AND "
                 "i.indnkeyatts = 1 AND i.indkey[0] = a.attnum AND i.indpred IS NULL) "
                 "FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid WHERE "
                 "a.attrelid = %s::oid AND a.attname = %s AND a.attnum > 0 AND NOT "
                 "a.attisdropped",
                 oid, field, &f, eb));
    if (!f) {
        problem(probs, "%s.lookup.field: column %s does not exist on %s", path, field,
                obj);
        goto out;
    }
    if (PQgetvalue(f, 0, 2)[0] != 't') {
        problem(probs,
                "%s.lookup.field: column %s on %s has no unique constraint or index of "
                "its own, so a value may name several parents",
                path, field, obj);
        goto out;
    }
    if (!holds(dest_cat, dest_type, PQgetvalue(pk, 0, 2)[0], PQgetvalue(pk, 0, 1))) {
        char msg[400];
        snprintf(
            msg, sizeof msg,
            "%s.destination: column %s is %s and cannot hold %s's primary key %s (%s)",
            path, col->destination, dest_type, obj, PQgetvalue(pk, 0, 0),
            PQgetvalue(pk, 0, 1));
        retl_buf_printf(probs, "%s%s", probs->len ? "; " : "", msg);
        goto out;
    }
    struct pd_lookup lk = {.col = col_index,
                           .path = strdup(path),
                           .object = strdup(obj),
                           .field = strdup(field),
                           .qname = strdup(retl_buf_str(&qn)),
                           .pk = strdup(PQgetvalue(pk, 0, 0)),
                           .field_type = strdup(PQgetvalue(f, 0, 0)),
                           .field_cat = PQgetvalue(f, 0, 1)[0]};
    if (!lk.path || !lk.object || !lk.field || !lk.qname || !lk.pk || !lk.field_type) {
        pd_lookup_free(&lk);
        rc = RETL_E_NOMEM;
        goto out;
    }
    *out = lk;
out:
    PQclear(t);
    PQclear(pk);
    PQclear(f);
    retl_buf_free(&qn);
    return rc;
}

/* l.c<col> compared with the parent's field: as the field's own type, so
 * the parent's unique index serves the join. */
static retl_err match(struct retl_buf *b, const struct pd_lookup *lk, const char *alias)
{
    retl_err rc;
    RETL_TRY(retl_buf_printf(b, "%s.", alias));
    RETL_TRY(eng_pg_ident(b, lk->field));
    if (lk->field_cat == 'S')
        RETL_TRY(retl_buf_printf(b, " = l.c%zu", lk->col));
    else
        RETL_TRY(retl_buf_printf(b, " = l.c%zu::%s", lk->col, lk->field_type));
out:
    return rc;
}

retl_err pd_lookup_join(struct retl_buf *b, const struct pd_lookup *lk, size_t i)
{
    retl_err rc;
    char alias[32];
    snprintf(alias, sizeof alias, "p%zu", i);
    RETL_TRY(retl_buf_printf(b, " LEFT JOIN %s AS %s ON ", lk->qname, alias));
    RETL_TRY(match(b, lk, alias));
out:
    return rc;
}

retl_err pd_lookup_value(struct retl_buf *b, const struct pd_lookup *lk, size_t i,
                         const char *dest_type)
{
    retl_err rc;
    RETL_TRY(retl_buf_printf(b, "p%zu.", i));
    RETL_TRY(eng_pg_ident(b, lk->pk));
    RETL_TRY(retl_buf_printf(b, "::%s", dest_type));
out:
    return rc;
}

/* "l.c<col> IS NOT NULL AND NOT EXISTS (parent with that field)", or with
 * not_cast the rows whose value is not even of the field's type. */
static retl_err missing(struct retl_buf *b, const struct pd_lookup *lk, bool not_cast)
{
    retl_err rc;
    if (not_cast && lk->field_cat == 'S')
        return retl_buf_adds(b, "false");
    if (not_cast) {
        RETL_TRY(
            retl_buf_printf(b, "(l.c%zu IS NOT NULL AND NOT pg_temp.retl_casts(l.c%zu, ",
                            lk->col, lk->col));
        RETL_TRY(eng_pg_literal(b, lk->field_type));
        RETL_TRY(retl_buf_adds(b, "))"));
        goto out;
    }
    RETL_TRY(retl_buf_printf(
        b, "(l.c%zu IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s AS p WHERE ", lk->col,
        lk->qname));
    RETL_TRY(match(b, lk, "p"));
    RETL_TRY(retl_buf_adds(b, "))"));
out:
    return rc;
}

/* DELETE ... RETURNING l.rn and, per lookup, whether it is the one missing. */
static retl_err unmatched_sql(struct retl_buf *b, const struct pd_lookup *lks, size_t n,
                              bool not_cast)
{
    retl_err rc;
    retl_buf_reset(b);
    RETL_TRY(retl_buf_adds(b, "DELETE FROM pg_temp.retl_load AS l WHERE "));
    for (size_t i = 0; i < n; i++) {
        if (i)
            RETL_TRY(retl_buf_adds(b, " OR "));
        RETL_TRY(missing(b, &lks[i], not_cast));
    }
    RETL_TRY(retl_buf_adds(b, " RETURNING l.rn"));
    for (size_t i = 0; i < n; i++) {
        RETL_TRY(retl_buf_adds(b, ", "));
        RETL_TRY(missing(b, &lks[i], not_cast));
    }
out:
    return rc;
}

static retl_err fail_row(struct eng_row_result *r, const struct pd_lookup *lk,
                         const char *value, const char *dest_col)
{
    r->ok = false;
    r->code = strdup("LOOKUP_NOT_FOUND");
    r->cls = ENG_FAIL_TRANSIENT;
    if (asprintf(
            &r->message,
            "no row in %s with %s = %s (%s.lookup); the row is sent again on the next "
            "run",
            lk->object, lk->field, value ? value : "NULL", lk->path) < 0)
        r->message = NULL;
    r->fields = strdup(dest_col);
    return r->code && r->message && r->fields ? RETL_E_OK : RETL_E_NOMEM;
}

/* Fails the rows an unmatched_sql answer names; adds them to *nf. */
static retl_err fail_taken(PGresult *r, const struct pd_lookup *lks, size_t n,
                           const struct eng_batch *b, struct eng_row_result *res,
                           size_t *nf)
{
    retl_err rc = RETL_E_OK;
    for (int i = 0; i < PQntuples(r); i++) {
        size_t rn = (size_t)strtoul(PQgetvalue(r, i, 0), NULL, 10);
        if (rn >= b->nrows || res[rn].code)
            continue;
        size_t which = 0;
        for (size_t k = 0; k < n; k++)
            if (PQgetvalue(r, i, 1 + (int)k)[0] == 't') {
                which = k;
                break;
            }
        const struct pd_lookup *lk = &lks[which];
        RETL_TRY(fail_row(&res[rn], lk, b->rows[rn].vals[lk->col],
                          b->cols[lk->col].destination));
        (*nf)++;
    }
out:
    return rc;
}

/* True when text v is a valid value of type t (a data exception otherwise):
 * PostgreSQL 15 has no pg_input_is_valid. Only run for a batch in which some
 * value failed the cast, so the per-row subtransaction is rare. */
static const char casts_fn[] =
    "CREATE OR REPLACE FUNCTION pg_temp.retl_casts(v text, t text) RETURNS boolean "
    "LANGUAGE plpgsql AS $retl$ BEGIN EXECUTE format('SELECT %L::%s', v, t); RETURN "
    "true; EXCEPTION WHEN data_exception THEN RETURN false; END $retl$";

retl_err pd_lookup_unmatched(PGconn *c, const struct pd_lookup *lks, size_t n,
                             const struct eng_batch *b, struct eng_row_result *res,
                             size_t *failed, struct retl_errbuf *eb)
{
    retl_err rc;
    PGresult *r = NULL;
    struct retl_buf q;
    retl_buf_init(&q, LK_SQL_MAX);
    size_t nf = 0;
    if (n == 0) {
        *failed = 0;
        return RETL_E_OK;
    }
    RETL_TRY(unmatched_sql(&q, lks, n, false));
    RETL_TRY(eng_pg_exec(c, "SAVEPOINT retl_lookup", NULL, "destination", eb));
    r = PQexec(c, retl_buf_str(&q));
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (eng_pg_lost(c, r) || !st || strncmp(st, "22", 2) != 0) {
            rc = eng_pg_fail(c, r, "destination", eb);
            goto out;
        }
        /* A value that is not even of the field's type (abc for an integer
         * column) names no parent: those rows are taken out first, then the
         * rest are matched as the field's type like any other batch (007 is
         * still parent 7). */
        PQclear(r);
        r = NULL;
        RETL_TRY(
            eng_pg_exec(c, "ROLLBACK TO SAVEPOINT retl_lookup", NULL, "destination", eb));
        RETL_TRY(eng_pg_exec(c, casts_fn, NULL, "destination", eb));
        RETL_TRY(unmatched_sql(&q, lks, n, true));
        RETL_TRY(eng_pg_exec(c, retl_buf_str(&q), &r, "destination", eb));
        RETL_TRY(fail_taken(r, lks, n, b, res, &nf));
        PQclear(r);
        r = NULL;
        RETL_TRY(unmatched_sql(&q, lks, n, false));
        RETL_TRY(eng_pg_exec(c, retl_buf_str(&q), &r, "destination", eb));
    }
    RETL_TRY(fail_taken(r, lks, n, b, res, &nf));
    RETL_TRY(eng_pg_exec(c, "RELEASE SAVEPOINT retl_lookup", NULL, "destination", eb));
    *failed = nf;
out:
    PQclear(r);
    retl_buf_free(&q);
    return rc;
}
