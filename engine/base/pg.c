#include "engine/base/pg.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "engine/base/sql_text.h"

static const char session_sql[] =
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
    "SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; "
    "SET standard_conforming_strings = on; SET bytea_output = 'hex'; "
    "SET client_encoding = 'UTF8'; SET client_min_messages = warning";

static void redacted_msg(const char *in, char *out, size_t n)
{
    char tmp[RETL_ERRBUF_SIZE];
    snprintf(tmp, sizeof tmp, "%s", in ? in : "");
    size_t l = strlen(tmp);
    while (l > 0 && (tmp[l - 1] == '\n' || tmp[l - 1] == ' '))
        tmp[--l] = '\0';
    for (char *p = tmp; *p; p++) {
        if (*p == '\n')
            *p = ' ';
    }
    retl_redact_text(tmp, out, n);
}

retl_err eng_pg_connect(const struct eng_secrets *sec, const char *what, PGconn **out,
                        struct retl_errbuf *eb)
{
    const char *url = eng_secret_get(sec, "url");
    const char *pw = eng_secret_get(sec, "password");
    if (!url || !*url)
        return retl_errf(eb, RETL_E_CONFIG, "%s: secret %s has no key \"url\"", what,
                         sec && sec->name ? sec->name : "?");
    /* A password inside the url is a secret of its own, wherever it shows. */
    retl_err rc = RETL_E_OK;
    PQconninfoOption *opts = PQconninfoParse(url, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword && !rc; o++) {
        if (o->val && strcmp(o->keyword, "password") == 0)
            rc = retl_secret_register(o->val);
    }
    PQconninfoFree(opts);
    if (!rc && pw)
        rc = retl_secret_register(pw);
    if (rc)
        return retl_errf(eb, rc, "%s: cannot register the password for redaction", what);
    /* Defaults first: the url may override them, password comes last. */
    const char *keys[] = {"connect_timeout",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "application_name",
                          "dbname",
                          "password",
                          NULL};
    const char *vals[] = {"15", "1", "10", "5", "3", "retl-engine", url, pw, NULL};
    if (!pw)
        keys[7] = NULL;
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c)
        return RETL_E_NOMEM;
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[RETL_ERRBUF_SIZE], red[512];
        redacted_msg(PQerrorMessage(c), msg, sizeof msg);
        retl_conn_describe(url, red, sizeof red);
        PQfinish(c);
        return retl_errf(eb, RETL_E_UNAVAILABLE, "%s: cannot connect to %s: %s", what,
                         red, msg);
    }
    rc = eng_pg_exec(c, session_sql, NULL, what, eb);
    if (rc) {
        PQfinish(c);
        return rc;
    }
    *out = c;
    return RETL_E_OK;
}

bool eng_pg_lost(PGconn *c, const PGresult *r)
{
    /* Class 08 (connection exception) and 57P (server shutting down or the
     * session terminated) mean the server went away, even when libpq has not
     * noticed yet. */
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return PQstatus(c) != CONNECTION_OK ||
           (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0));
}

retl_err eng_pg_fail(PGconn *c, const PGresult *r, const char *what,
                     struct retl_errbuf *eb)
{
    char msg[RETL_ERRBUF_SIZE];
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
    if (primary) {
        char tmp[RETL_ERRBUF_SIZE];
        snprintf(tmp, sizeof tmp, "%s%s%s", primary, detail ? ": " : "",
                 detail ? detail : "");
        redacted_msg(tmp, msg, sizeof msg);
    } else {
        redacted_msg(PQerrorMessage(c), msg, sizeof msg);
    }
    bool gone =
        PQstatus(c) != CONNECTION_OK ||
        (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0));
    if (gone)
        return retl_errf(eb, RETL_E_UNAVAILABLE, "%s: connection lost: %s", what,
                         msg[0] ? msg : "server closed the connection");
    if (state)
        return retl_errf(eb, RETL_E_SQL, "%s: %s (SQLSTATE %s)", what, msg, state);
    return retl_errf(eb, RETL_E_SQL, "%s: %s", what, msg);
}

retl_err eng_pg_exec(PGconn *c, const char *sql, PGresult **res, const char *what,
                     struct retl_errbuf *eb)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        retl_err rc = eng_pg_fail(c, r, what, eb);
        PQclear(r);
        return rc;
    }
    if (res)
        *res = r;
    else
        PQclear(r);
    return RETL_E_OK;
}

retl_err eng_pg_copy_try(PGconn *c, const char *copy_sql, const char *data, size_t len,
                         PGresult **fail)
{
    *fail = NULL;
    PGresult *r = PQexec(c, copy_sql);
    if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
        *fail = r;
        return RETL_E_SQL;
    }
    PQclear(r);
    const size_t chunk = 1u << 20;
    int ok = 1;
    for (size_t off = 0; off < len && ok == 1; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        ok = PQputCopyData(c, data + off, (int)n);
    }
    if (ok == 1)
        ok = PQputCopyEnd(c, NULL);
    retl_err rc = ok == 1 ? RETL_E_OK : RETL_E_SQL;
    while ((r = PQgetResult(c)) != NULL) {
        if (!*fail && PQresultStatus(r) != PGRES_COMMAND_OK) {
            *fail = r;
            rc = RETL_E_SQL;
            continue;
        }
        PQclear(r);
    }
    return rc;
}

retl_err eng_pg_copy_in(PGconn *c, const char *copy_sql, const char *data, size_t len,
                        const char *what, struct retl_errbuf *eb)
{
    PGresult *fail;
    if (eng_pg_copy_try(c, copy_sql, data, len, &fail) == RETL_E_OK)
        return RETL_E_OK;
    retl_err rc = eng_pg_fail(c, fail, what, eb);
    PQclear(fail);
    return rc;
}

long long eng_pg_ll(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

retl_err eng_pg_ident(struct retl_buf *b, const char *id)
{
    return eng_sql_ident(b, '"', '"', id);
}

retl_err eng_pg_qname(struct retl_buf *b, const char *schema, const char *t)
{
    retl_err rc;
    RETL_TRY(eng_pg_ident(b, schema));
    RETL_TRY(retl_buf_addc(b, '.'));
    RETL_TRY(eng_pg_ident(b, t));
out:
    return rc;
}

retl_err eng_pg_dotted(struct retl_buf *b, const char *name)
{
    return eng_sql_dotted(b, '"', '"', name);
}

retl_err eng_pg_literal(struct retl_buf *b, const char *s)
{
    retl_err rc;
    RETL_TRY(retl_buf_addc(b, '\''));
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            RETL_TRY(retl_buf_addc(b, '\''));
        RETL_TRY(retl_buf_addc(b, *p));
    }
    RETL_TRY(retl_buf_addc(b, '\''));
out:
    return rc;
}

retl_err eng_pg_copy_field(struct retl_buf *b, const char *v)
{
    retl_err rc = RETL_E_OK;
    if (!v)
        return retl_buf_add(b, "\\N", 2);
    const char *run = v;
    for (const char *p = v;; p++) {
        const char *esc = NULL;
        switch (*p) {
        case '\\': esc = "\\\\"; break;
        case '\t': esc = "\\t"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        default: break;
        }
        if (!esc && *p)
            continue;
        RETL_TRY(retl_buf_add(b, run, (size_t)(p - run)));
        if (!*p)
            break;
        RETL_TRY(retl_buf_add(b, esc, 2));
        run = p + 1;
    }
out:
    return rc;
}
