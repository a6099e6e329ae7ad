/* engine/source/snowflake_jwt.c: key-pair JWTs (claims, fingerprint, RS256
 * signature verified with the public half) and jsonv2 cell conversion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "engine/source/snowflake_int.h"

static char *pem;
static EVP_PKEY *key;

static int setup(void **s)
{
    (void)s;
    key = EVP_RSA_gen(2048);
    assert_non_null(key);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL), 1);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    pem = strndup(p, (size_t)n);
    BIO_free(b);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    free(pem);
    EVP_PKEY_free(key);
    return 0;
}

static unsigned char *b64url_dec(const char *in, size_t n, size_t *outlen)
{
    char *t = calloc(n + 4, 1);
    memcpy(t, in, n);
    for (size_t i = 0; i < n; i++)
        t[i] = t[i] == '-' ? '+' : t[i] == '_' ? '/' : t[i];
    while (n % 4)
        t[n++] = '=';
    unsigned char *o = calloc(n, 1);
    int len = EVP_DecodeBlock(o, (unsigned char *)t, (int)n);
    size_t pad = 0;
    for (size_t i = n; i > 0 && t[i - 1] == '='; i--)
        pad++;
    free(t);
    *outlen = (size_t)len - pad;
    return o;
}

static void account_forms(void **s)
{
    (void)s;
    char out[64];
    eng_snow_jwt_account("xy12345.us-east-1", out, sizeof out);
    assert_string_equal(out, "XY12345");
    eng_snow_jwt_account("myorg-acct.global", out, sizeof out);
    assert_string_equal(out, "MYORG");
    eng_snow_jwt_account("myorg-myacct", out, sizeof out);
    assert_string_equal(out, "MYORG-MYACCT");
}

static void jwt_claims_and_signature(void **s)
{
    (void)s;
    char *jwt = NULL, fp[128], want_fp[128];
    long now = (long)time(NULL);
    assert_int_equal(
        eng_snow_jwt(pem, "acme.eu-central-1", "retl_svc", now, 3540, &jwt, NULL),
        RETL_E_OK);
    assert_int_equal(eng_snow_fingerprint(pem, fp, sizeof fp, NULL), RETL_E_OK);
    /* the fingerprint, computed independently */
    unsigned char *der = NULL, md[32], b64[64];
    int dl = i2d_PUBKEY(key, &der);
    unsigned int ml = 0;
    EVP_Digest(der, (size_t)dl, md, &ml, EVP_sha256(), NULL);
    OPENSSL_free(der);
    EVP_EncodeBlock(b64, md, 32);
    snprintf(want_fp, sizeof want_fp, "SHA256:%s", (char *)b64);
    assert_string_equal(fp, want_fp);

    char *dot1 = strchr(jwt, '.'), *dot2 = strrchr(jwt, '.');
    assert_non_null(dot1);
    assert_true(dot2 > dot1);
    size_t hl, pl, sl;
    unsigned char *h = b64url_dec(jwt, (size_t)(dot1 - jwt), &hl);
    unsigned char *p = b64url_dec(dot1 + 1, (size_t)(dot2 - dot1 - 1), &pl);
    unsigned char *sig = b64url_dec(dot2 + 1, strlen(dot2 + 1), &sl);
    json_t *hj = json_loadb((char *)h, hl, 0, NULL);
    json_t *pj = json_loadb((char *)p, pl, 0, NULL);
    assert_non_null(hj);
    assert_non_null(pj);
    assert_string_equal(json_string_value(json_object_get(hj, "alg")), "RS256");
    char iss[256];
    snprintf(iss, sizeof iss, "ACME.RETL_SVC.%s", want_fp);
    assert_string_equal(json_string_value(json_object_get(pj, "iss")), iss);
    assert_string_equal(json_string_value(json_object_get(pj, "sub")), "ACME.RETL_SVC");
    assert_int_equal(json_integer_value(json_object_get(pj, "iat")), now);
    assert_int_equal(json_integer_value(json_object_get(pj, "exp")), now + 3540);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(
        EVP_DigestVerify(m, sig, sl, (unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
    /* a changed payload no longer verifies */
    jwt[(dot1 - jwt) + 2] ^= 1;
    assert_int_not_equal(
        EVP_DigestVerify(m, sig, sl, (unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
    EVP_MD_CTX_free(m);
    json_decref(hj);
    json_decref(pj);
    free(h);
    free(p);
    free(sig);
    free(jwt);
}

static void bad_key(void **s)
{
    (void)s;
    char *jwt = NULL;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(
        eng_snow_jwt("-----BEGIN PRIVATE KEY-----\nnope\n", "a", "u", 0, 60, &jwt, &eb),
        RETL_E_CONFIG);
    assert_null(jwt);
    assert_non_null(strstr(eb.msg, "privateKey"));
}

static void cell(const char *type, const char *in, const char *want)
{
    struct retl_buf b;
    retl_buf_init(&b, 4096);
    assert_int_equal(eng_snow_cell(type, in, &b), RETL_E_OK);
    assert_string_equal(b.data, want);
    retl_buf_free(&b);
}

static void cells(void **s)
{
    (void)s;
    cell("DATE", "19782", "2024-02-29");
    cell("date", "-1", "1969-12-31");
    cell("date", "0", "1970-01-01");
    cell("TIMESTAMP_NTZ", "1704103200.123456000", "2024-01-01 10:00:00.123456");
    cell("timestamp_ntz", "1704103200.000000000", "2024-01-01 10:00:00");
    cell("timestamp_ntz", "-1.500000000", "1969-12-31 23:59:58.5");
    cell("timestamp_ltz", "0.000000000", "1970-01-01 00:00:00+00:00");
    cell("timestamp_tz", "1704103200.000000000 1560", "2024-01-01 12:00:00+02:00");
    cell("timestamp_tz", "1704103200.250000000 1140", "2024-01-01 05:00:00.25-05:00");
    cell("fixed", "12345678901234567890.12", "12345678901234567890.12");
    cell("text", "a\\b \"q\"", "a\\b \"q\"");
    cell("boolean", "true", "true");
    cell("date", "", "");
    cell("date", "2932896", "9999-12-31");
    cell("timestamp_ntz", "253402300799.999999999", "9999-12-31 23:59:59.999999999");
}

static void bad_cell(const char *type, const char *in)
{
    struct retl_buf b;
    retl_buf_init(&b, 4096);
    assert_int_equal(eng_snow_cell(type, in, &b), RETL_E_PARSE);
    retl_buf_free(&b);
}

/* A garbled answer is an error, never a wrapped-around date (the arithmetic
 * used to overflow on these; fuzz_snow_cell feeds the rest). */
static void cells_out_of_range(void **s)
{
    (void)s;
    bad_cell("date", "9223372036854775807");
    bad_cell("date", "-9223372036854775808");
    bad_cell("date", "99999999999");
    bad_cell("timestamp_ntz", "-9223372036854775808.5");
    bad_cell("timestamp_ltz", "99999999999999999999");
    bad_cell("timestamp_ntz", "not a number");
    bad_cell("timestamp_tz", "0.0 99999999999");
    bad_cell("timestamp_tz", "0.0 -1");
}

/* One result row: cells converted by their column's type, null as -1, a
 * number kept as its JSON text; a row that is not one cell per column is a
 * parse error (it used to read as NULLs for the missing cells, which an
 * update would then write over the destination's values). */
static void rows(void **s)
{
    (void)s;
    json_t *types = json_pack("[s,s,s]", "date", "text", "fixed");
    struct retl_buf b;
    struct retl_errbuf eb = {{0}};
    long offs[3] = {7, 7, 7};
    retl_buf_init(&b, 4096);
    json_t *row = json_loads("[\"19782\", null, 12]", 0, NULL);
    assert_int_equal(eng_snow_row(types, row, 1, &b, offs, &eb), RETL_E_OK);
    assert_string_equal(b.data + offs[0], "2024-02-29");
    assert_int_equal(offs[1], -1);
    assert_string_equal(b.data + offs[2], "12");
    json_decref(row);
    const char *bad[] = {"[\"1\", null]", "[\"1\", null, \"2\", \"3\"]", "{\"a\": 1}",
                         "\"19782\"", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        retl_buf_reset(&b);
        row = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(row);
        assert_int_equal(eng_snow_row(types, row, 5, &b, offs, &eb), RETL_E_PARSE);
        assert_non_null(strstr(eb.msg, "row 5 is not an array of 3 cells"));
        json_decref(row);
    }
    row = json_loads("[\"99999999999\", \"x\", \"1\"]", 0, NULL);
    assert_int_equal(eng_snow_row(types, row, 2, &b, offs, &eb), RETL_E_PARSE);
    assert_non_null(strstr(eb.msg, "outside any year it holds (result row 2)"));
    json_decref(row);
    assert_int_equal(eng_snow_row(types, NULL, 3, &b, offs, &eb), RETL_E_PARSE);
    retl_buf_free(&b);
    json_decref(types);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(account_forms),
        cmocka_unit_test(jwt_claims_and_signature),
        cmocka_unit_test(bad_key),
        cmocka_unit_test(cells),
        cmocka_unit_test(cells_out_of_range),
        cmocka_unit_test(rows),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
