/* Source type snowflake over the Snowflake SQL API v2 (libcurl through
 * common/http.h): key-pair JWT auth, statements submitted with a requestId,
 * 202 answers polled until done, results read partition by partition (gzip
 * decoded by libcurl), 422 failures reported with their sqlState, and cells
 * (all JSON strings) converted by rowType. Transactions are multi-statement
 * requests (BEGIN; ...; COMMIT), the only form in which the API keeps one
 * session across statements. Secret keys: account, user, privateKey (PEM),
 * warehouse, database, role, optional schema and endpoint (a base URL
 * replacing https://<account>.snowflakecomputing.com). */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/http.h"
#include "common/log.h"
#include "common/retry.h"
#include "common/utf8.h"
#include "engine/source/snowflake_int.h"
#include "engine/source/wh.h"

#define JWT_LIFETIME 3540
#define BODY_MAX (256u << 20)
#define ARENA_MAX (512u << 20)
#define POLL_MAX_MS 2000
#define STATEMENT_TIMEOUT 3600

struct snow {
    struct retl_http_client *http;
    char *base;
    char *account, *user, *pem, *warehouse, *database, *role, *schema;
    char *jwt;
    long jwt_until;
    unsigned flags;
    long long requests;
    /* the streamed result */
    char *handle;
    json_t *types; /* rowType type names */
    json_t *data;  /* the current partition's rows */
    size_t nparts, part, row, ncols;
    bool streaming;
    struct retl_buf arena;
    long *offs;
    const char **cells;
    size_t cap;
};

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static retl_err token(struct snow *s, struct retl_errbuf *eb)
{
    long now = (long)time(NULL);
    if (s->jwt && now < s->jwt_until - 60)
        return RETL_E_OK;
    free(s->jwt);
    s->jwt = NULL;
    retl_err rc =
        eng_snow_jwt(s->pem, s->account, s->user, now, JWT_LIFETIME, &s->jwt, eb);
    if (rc)
        return rc;
    rc = retl_secret_register(s->jwt);
    if (rc)
        return retl_errf(eb, rc, "snowflake: cannot register the JWT for redaction");
    s->jwt_until = now + JWT_LIFETIME;
    return RETL_E_OK;
}

/* A message from an error body: message (code, SQLSTATE). */
static retl_err api_error(const struct retl_http_resp *r, const char *what,
                          struct retl_errbuf *eb)
{
    json_t *j = json_loads(retl_buf_str(&r->body), 0, NULL);
    const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
    const char *code = j ? json_string_value(json_object_get(j, "code")) : NULL;
    const char *state = j ? json_string_value(json_object_get(j, "sqlState")) : NULL;
    char red[600];
    retl_redact_text(msg ? msg : retl_buf_str(&r->body), red, sizeof red);
    retl_err e = RETL_E_HTTP_STATUS;
    if (r->status == 422)
        e = RETL_E_SQL;
    else if (r->status == 401)
        e = RETL_E_AUTH;
    else if (r->status == 403)
        e = RETL_E_FORBIDDEN;
    else if (r->status == 408)
        e = RETL_E_TIMEOUT;
    else if (r->status == 429)
        e = RETL_E_TOO_MANY_REQUESTS;
    else if (r->status >= 500)
        e = RETL_E_UNAVAILABLE;
    char shown[501];
    retl_utf8_trunc(shown, sizeof shown, red, "...");
    e = retl_errf(eb, e, "%s: %s (HTTP %ld%s%s%s%s)", what, shown, r->status,
                  code ? ", code " : "", code ? code : "", state ? ", SQLSTATE " : "",
                  state ? state : "");
    json_decref(j);
    return e;
}

/* One HTTP exchange with the API; *out is the parsed body of a 200/202. */
static retl_err call(struct snow *s, const char *method, const char *url,
                     const char *body, long *status, json_t **out, struct retl_errbuf *eb)
{
    retl_err rc;
    struct retl_http_resp r = {0};
    char *auth = NULL;
    RETL_TRY(token(s, eb));
    if (asprintf(&auth, "Authorization: Bearer %s", s->jwt) < 0) {
        auth = NULL;
        rc = RETL_E_NOMEM;
        goto out;
    }
    const char *h[] = {auth, "X-Snowflake-Authorization-Token-Type: KEYPAIR_JWT",
                       "Content-Type: application/json", "Accept: application/json",
                       NULL};
    struct retl_http_req q = {.method = method,
                              .url = url,
                              .headers = h,
                              .body = body,
                              .body_len = body ? strlen(body) : 0};
    s->requests++;
    rc = retl_http_do(s->http, &q, &r, eb);
    if (rc) {
        rc = retl_err_wrap(eb, rc, "source: Snowflake");
        goto out;
    }
    *status = r.status;
    if (r.status != 200 && r.status != 202) {
        rc = api_error(&r, "source", eb);
        goto out;
    }
    json_error_t je;
    *out = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, &je);
    if (!*out)
        rc = retl_errf(eb, RETL_E_PARSE,
                       "source: Snowflake answered with "
                       "invalid JSON: %s",
                       je.text);
out:
    if (auth) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    retl_http_resp_free(&r);
    return rc;
}

/* Submits statement (n statements when n > 1) and waits until it is done.
 * Ownership: caller decrefs *out (the final 200 body). */
static retl_err submit(struct snow *s, const char *statement, size_t n,
                       const char *const *params, size_t nparams, json_t **out,
                       struct retl_errbuf *eb)
{
    retl_err rc;
    unsigned char id[16];
    char uuid[40], url[2048], cnt[24];
    char *body = NULL;
    json_t *req = NULL, *res = NULL;
    long status = 0;
    if (RAND_bytes(id, sizeof id) != 1)
        return retl_errf(eb, RETL_E_INTERNAL, "source: no randomness");
    id[6] = (unsigned char)((id[6] & 0x0f) | 0x40);
    id[8] = (unsigned char)((id[8] & 0x3f) | 0x80);
    snprintf(uuid, sizeof uuid,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
             "%02x",
             id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10],
             id[11], id[12], id[13], id[14], id[15]);
    snprintf(cnt, sizeof cnt, "%zu", n);
    req = json_pack("{s:s, s:i, s:{s:s, s:s}}", "statement", statement, "timeout",
                    STATEMENT_TIMEOUT, "parameters", "MULTI_STATEMENT_COUNT", cnt,
                    "TIMEZONE", "UTC");
    if (!req)
        return RETL_E_NOMEM;
    if (nparams > 0) {
        /* Positional bindings: "1": {"type": "TEXT", "value": "..."}. */
        json_t *bind = json_object();
        for (size_t i = 0; bind && i < nparams; i++) {
            char k[16];
            snprintf(k, sizeof k, "%zu", i + 1);
            json_object_set_new(
                bind, k, json_pack("{s:s, s:s?}", "type", "TEXT", "value", params[i]));
        }
        if (!bind || json_object_set_new(req, "bindings", bind) != 0) {
            json_decref(req);
            return RETL_E_NOMEM;
        }
    }
    const char *keys[] = {"warehouse", "database", "role", "schema"};
    const char *vals[] = {s->warehouse, s->database, s->role, s->schema};
    for (size_t i = 0; i < 4; i++) {
        if (vals[i])
            json_object_set_new(req, keys[i], json_string(vals[i]));
    }
    body = json_dumps(req, JSON_COMPACT);
    if (!body) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    snprintf(url, sizeof url, "%s/api/v2/statements?requestId=%s", s->base, uuid);
    RETL_TRY(call(s, "POST", url, body, &status, &res, eb));
    long wait = 50;
    while (status == 202) {
        const char *h = json_string_value(json_object_get(res, "statementHandle"));
        if (!h) {
            rc = retl_errf(eb, RETL_E_PARSE,
                           "source: Snowflake 202 without statementHandle");
            goto out;
        }
        snprintf(url, sizeof url, "%s/api/v2/statements/%s", s->base, h);
        json_decref(res);
        res = NULL;
        retl_sleep_ms(wait);
        wait = wait * 2 > POLL_MAX_MS ? POLL_MAX_MS : wait * 2;
        RETL_TRY(call(s, "GET", url, NULL, &status, &res, eb));
    }
    *out = res;
    res = NULL;
out:
    free(body);
    json_decref(req);
    json_decref(res);
    return rc;
}

static size_t nparts_of(const json_t *meta)
{
    json_t *p = json_object_get(meta, "partitionInfo");
    size_t n = json_is_array(p) ? json_array_size(p) : 0;
    return n ? n : 1;
}

/* The type name wh.c maps ("fixed" vs "fixed.scaled"). */
static const char *type_name(json_t *col, char *buf, size_t n)
{
    const char *t = json_string_value(json_object_get(col, "type"));
    json_int_t scale = json_integer_value(json_object_get(col, "scale"));
    snprintf(buf, n, "%s", t ? t : "text");
    for (char *p = buf; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    if (strcmp(buf, "fixed") == 0 && scale > 0)
        snprintf(buf, n, "fixed.scaled");
    return buf;
}

static retl_err fetch_part(struct snow *s, size_t part, json_t **data,
                           struct retl_errbuf *eb)
{
    char url[2048];
    long status = 0;
    json_t *res = NULL;
    snprintf(url, sizeof url, "%s/api/v2/statements/%s?partition=%zu", s->base, s->handle,
             part);
    retl_err rc = call(s, "GET", url, NULL, &status, &res, eb);
    if (rc)
        return rc;
    *data = json_incref(json_object_get(res, "data"));
    json_decref(res);
    if (!json_is_array(*data)) {
        json_decref(*data);
        *data = NULL;
        return retl_errf(eb, RETL_E_PARSE, "source: Snowflake partition %zu has no data",
                         part);
    }
    return RETL_E_OK;
}

/* Opens a result for reading: metadata, handle and the first partition. */
static retl_err open_result(struct snow *s, json_t *res, struct retl_errbuf *eb)
{
    json_t *meta = json_object_get(res, "resultSetMetaData");
    json_t *rt = json_object_get(meta, "rowType");
    const char *h = json_string_value(json_object_get(res, "statementHandle"));
    if (!json_is_array(rt) || !h)
        return retl_errf(eb, RETL_E_PARSE, "source: Snowflake result without rowType");
    json_decref(s->types);
    s->types = json_array();
    if (!s->types)
        return RETL_E_NOMEM;
    for (size_t i = 0; i < json_array_size(rt); i++) {
        char tb[64];
        json_array_append_new(
            s->types, json_string(type_name(json_array_get(rt, i), tb, sizeof tb)));
    }
    free(s->handle);
    s->handle = strdup(h);
    json_decref(s->data);
    s->data = json_incref(json_object_get(res, "data"));
    if (!json_is_array(s->data)) {
        json_decref(s->data);
        s->data = json_array();
    }
    s->ncols = json_array_size(rt);
    s->nparts = nparts_of(meta);
    s->part = 0;
    s->row = 0;
    return s->handle ? RETL_E_OK : RETL_E_NOMEM;
}

/* Up to max rows of the open result into the arena (offsets, -1 = NULL). */
static retl_err read_rows(struct snow *s, size_t max, size_t *n, struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    size_t got = 0, nc = s->ncols;
    retl_buf_reset(&s->arena);
    if (max * nc > s->cap) {
        long *p = realloc(s->offs, max * nc * sizeof *p);
        const char **q = realloc(s->cells, max * nc * sizeof *q);
        if (p)
            s->offs = p;
        if (q)
            s->cells = q;
        if (!p || !q)
            return RETL_E_NOMEM;
        s->cap = max * nc;
    }
    while (got < max) {
        if (s->row >= json_array_size(s->data)) {
            if (s->part + 1 >= s->nparts)
                break;
            json_t *d = NULL;
            RETL_TRY(fetch_part(s, s->part + 1, &d, eb));
            json_decref(s->data);
            s->data = d;
            s->part++;
            s->row = 0;
            continue;
        }
        json_t *row = json_array_get(s->data, s->row++);
        RETL_TRY(eng_snow_row(s->types, row, got + 1, &s->arena,
                              nc ? &s->offs[got * nc] : NULL, eb));
        got++;
    }
    for (size_t i = 0; i < got * nc; i++)
        s->cells[i] = s->offs[i] < 0 ? NULL : s->arena.data + s->offs[i];
    *n = got;
out:
    if (rc == RETL_E_TOO_BIG)
        rc = retl_errf(eb, rc, "source: result chunk larger than %u bytes", ARENA_MAX);
    return rc;
}

static retl_err snow_run(void *conn, const char *const *sql, size_t n, bool tx,
                         struct retl_errbuf *eb)
{
    struct snow *s = conn;
    retl_err rc;
    struct retl_buf b;
    json_t *res = NULL;
    size_t cnt = 0;
    retl_buf_init(&b, 64u << 20);
    if (tx && n > 1) {
        RETL_TRY(retl_buf_adds(&b, "BEGIN"));
        cnt++;
    }
    for (size_t i = 0; i < n; i++) {
        if (!sql[i][0])
            continue;
        RETL_TRY(retl_buf_printf(&b, "%s%s", b.len ? ";\n" : "", sql[i]));
        cnt++;
    }
    if (tx && n > 1) {
        RETL_TRY(retl_buf_adds(&b, ";\nCOMMIT"));
        cnt++;
    }
    if (cnt == 0)
        goto out;
    RETL_TRY(submit(s, retl_buf_str(&b), cnt, NULL, 0, &res, eb));
out:
    if (rc == RETL_E_TOO_BIG)
        rc = retl_errf(eb, rc, "source: statements too large");
    json_decref(res);
    retl_buf_free(&b);
    return rc;
}

static retl_err snow_query_bind(void *conn, const char *sql, const char *const *params,
                                size_t nparams, size_t max_rows,
                                struct eng_wh_result *out, struct retl_errbuf *eb)
{
    struct snow *s = conn;
    retl_err rc;
    json_t *res = NULL;
    struct eng_wh_result r = {0};
    size_t n = 0;
    if (s->streaming)
        return retl_errf(eb, RETL_E_INTERNAL, "source: query while streaming");
    RETL_TRY(submit(s, sql, 1, params, nparams, &res, eb));
    RETL_TRY(open_result(s, res, eb));
    json_t *rt = json_object_get(json_object_get(res, "resultSetMetaData"), "rowType");
    r.ncols = s->ncols;
    r.names = calloc(r.ncols + 1, sizeof *r.names);
    r.types = calloc(r.ncols + 1, sizeof *r.types);
    r.codes = calloc(r.ncols + 1, sizeof *r.codes);
    if (!r.names || !r.types || !r.codes) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < r.ncols; i++) {
        const char *nm =
            json_string_value(json_object_get(json_array_get(rt, i), "name"));
        r.names[i] = strdup(nm ? nm : "");
        r.types[i] = strdup(json_string_value(json_array_get(s->types, i)));
        if (!r.names[i] || !r.types[i]) {
            rc = RETL_E_NOMEM;
            goto out;
        }
    }
    if (max_rows > 0) {
        RETL_TRY(read_rows(s, max_rows, &n, eb));
        r.cells = calloc(n * r.ncols + 1, sizeof *r.cells);
        if (!r.cells) {
            rc = RETL_E_NOMEM;
            goto out;
        }
        r.nrows = n;
        for (size_t i = 0; i < n * r.ncols; i++) {
            if (s->cells[i] && !(r.cells[i] = strdup(s->cells[i]))) {
                rc = RETL_E_NOMEM;
                goto out;
            }
        }
    }
    *out = r;
    memset(&r, 0, sizeof r);
out:
    eng_wh_result_free(&r);
    json_decref(res);
    return rc;
}

static retl_err snow_query(void *conn, const char *sql, size_t max_rows,
                           struct eng_wh_result *out, struct retl_errbuf *eb)
{
    return snow_query_bind(conn, sql, NULL, 0, max_rows, out, eb);
}

static retl_err snow_stream_open(void *conn, const char *sql, size_t *ncols,
                                 struct retl_errbuf *eb)
{
    struct snow *s = conn;
    retl_err rc;
    json_t *res = NULL;
    RETL_TRY(submit(s, sql, 1, NULL, 0, &res, eb));
    RETL_TRY(open_result(s, res, eb));
    s->streaming = true;
    *ncols = s->ncols;
out:
    json_decref(res);
    return rc;
}

static retl_err snow_stream_fetch(void *conn, size_t max, size_t *nrows,
                                  const char *const **cells, struct retl_errbuf *eb)
{
    struct snow *s = conn;
    retl_err rc = read_rows(s, max, nrows, eb);
    if (rc == RETL_E_OK)
        *cells = s->cells;
    return rc;
}

static void snow_stream_close(void *conn)
{
    struct snow *s = conn;
    s->streaming = false;
    json_decref(s->data);
    s->data = NULL;
}

static void snow_free(void *conn)
{
    struct snow *s = conn;
    if (!s)
        return;
    RETL_LOG_DEBUG("source: Snowflake requests", RF_I("requests", s->requests));
    retl_http_client_free(s->http);
    if (s->pem) {
        explicit_bzero(s->pem, strlen(s->pem));
        free(s->pem);
    }
    free(s->jwt);
    free(s->base);
    free(s->account);
    free(s->user);
    free(s->warehouse);
    free(s->database);
    free(s->role);
    free(s->schema);
    free(s->handle);
    json_decref(s->types);
    json_decref(s->data);
    retl_buf_free(&s->arena);
    free(s->offs);
    free(s->cells);
    free(s);
}

static const struct eng_wh_driver snow_driver = {
    .run = snow_run,
    .query = snow_query,
    .query_bind = snow_query_bind,
    .stream_open = snow_stream_open,
    .stream_fetch = snow_stream_fetch,
    .stream_close = snow_stream_close,
    .free = snow_free,
    .dry_rollback = false,
};

static retl_err snow_open(const struct retl_job *job, const struct eng_secrets *sec,
                          unsigned flags, void **ctx, struct retl_errbuf *eb)
{
    retl_err rc;
    (void)job;
    struct snow *s = calloc(1, sizeof *s);
    if (!s)
        return RETL_E_NOMEM;
    retl_buf_init(&s->arena, ARENA_MAX);
    s->flags = flags;
    static const char *const need[] = {"account", "user", "privateKey"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = eng_secret_get(sec, need[i]);
        if (!v || !*v) {
            rc = retl_errf(eb, RETL_E_CONFIG, "source: secret %s has no %s",
                           sec && sec->name ? sec->name : "(none)", need[i]);
            goto out;
        }
    }
    s->account = dup_or_null(eng_secret_get(sec, "account"));
    s->user = dup_or_null(eng_secret_get(sec, "user"));
    s->pem = dup_or_null(eng_secret_get(sec, "privateKey"));
    s->warehouse = dup_or_null(eng_secret_get(sec, "warehouse"));
    s->database = dup_or_null(eng_secret_get(sec, "database"));
    s->role = dup_or_null(eng_secret_get(sec, "role"));
    s->schema = dup_or_null(eng_secret_get(sec, "schema"));
    const char *ep = eng_secret_get(sec, "endpoint");
    if (ep && *ep) {
        s->base = strdup(ep);
    } else if (asprintf(&s->base, "https://%s.snowflakecomputing.com", s->account) < 0) {
        s->base = NULL;
    }
    if (!s->account || !s->user || !s->pem || !s->base) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    size_t bl = strlen(s->base);
    while (bl > 0 && s->base[bl - 1] == '/')
        s->base[--bl] = '\0';
    struct retl_http_opts o = {
        .timeout_ms = 120000, .max_body = BODY_MAX, .max_attempts = 4};
    RETL_TRY(retl_http_client_new(&o, &s->http, eb));
    RETL_TRY(token(s, eb));
    RETL_LOG_INFO("source: Snowflake SQL API", RF_S("endpoint", s->base),
                  RF_S("account", s->account), RF_S("user", s->user));
    /* A first statement proves the credentials before any state is touched. */
    json_t *res = NULL;
    RETL_TRY(submit(s, "SELECT 1", 1, NULL, 0, &res, eb));
    json_decref(res);
    return eng_wh_new(&snow_driver, s, eng_dialect_get(ENG_DL_SNOWFLAKE), flags, ctx);
out:
    snow_free(s);
    return rc;
}

const struct eng_source_ops eng_source_snowflake = {
    .type = "snowflake",
    .open = snow_open,
    ENG_WH_OPS,
};
