/* Salesforce OAuth: the JWT bearer assertion (signature checked with OpenSSL
 * against the public key), the audience rule, token request bodies per flow,
 * token responses and OAuth errors reported verbatim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/base64.h"
#include "engine/dest/salesforce_int.h"

static unsigned char *b64url_decode(const char *s, size_t n, size_t *outlen)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char *out = malloc(n * 3 / 4 + 3);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = strchr(al, s[i]);
        assert_non_null(p);
        acc = acc << 6 | (unsigned)(p - al);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *outlen = o;
    return out;
}

static char *key_pem(EVP_PKEY *k, bool priv)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (priv)
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PUBKEY(b, k);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *r = strndup(data, (size_t)n);
    BIO_free(b);
    return r;
}

static void test_jwt_signature_verifies(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    char *pem = key_pem(k, true);
    char *pub = key_pem(k, false);
    char *jwt = NULL;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(sf_jwt_assertion(pem, "3MVG9.client", "loader@acme.com",
                                      "https://login.salesforce.com", 1714557600, &jwt,
                                      &eb),
                     RETL_E_OK);
    char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    assert_non_null(d2);
    assert_null(strchr(jwt, '='));
    size_t hl, cl, sl;
    unsigned char *hdr = b64url_decode(jwt, (size_t)(d1 - jwt), &hl);
    unsigned char *cl_ = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &cl);
    unsigned char *sig = b64url_decode(d2 + 1, strlen(d2 + 1), &sl);
    assert_memory_equal(hdr, "{\"alg\":\"RS256\"}", hl);
    json_t *claims = json_loadb((char *)cl_, cl, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(claims, "iss")),
                        "3MVG9.client");
    assert_string_equal(json_string_value(json_object_get(claims, "sub")),
                        "loader@acme.com");
    assert_string_equal(json_string_value(json_object_get(claims, "aud")),
                        "https://login.salesforce.com");
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")),
                     1714557600 + 180);
    json_decref(claims);

    /* Verify with the public key only. */
    BIO *bio = BIO_new_mem_buf(pub, -1);
    EVP_PKEY *pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(pk);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
    assert_int_equal(
        EVP_DigestVerify(md, sig, sl, (unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
    /* A changed claim must not verify. */
    EVP_MD_CTX_reset(md);
    jwt[(d1 - jwt) + 3] ^= 1;
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk), 1);
    assert_int_not_equal(
        EVP_DigestVerify(md, sig, sl, (unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    EVP_PKEY_free(k);
    free(hdr);
    free(cl_);
    free(sig);
    free(jwt);
    free(pem);
    free(pub);
}

static void test_jwt_key_with_escaped_newlines(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_RSA_gen(2048);
    char *pem = key_pem(k, true);
    /* A secret pasted with literal \n sequences. */
    char *flat = malloc(strlen(pem) * 2 + 1), *w = flat;
    for (const char *r = pem; *r; r++) {
        if (*r == '\n') {
            *w++ = '\\';
            *w++ = 'n';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    char *jwt = NULL;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(sf_jwt_assertion(flat, "i", "s", "a", 1, &jwt, &eb), RETL_E_OK);
    free(jwt);
    assert_int_equal(sf_jwt_assertion("not a key", "i", "s", "a", 1, &jwt, &eb),
                     RETL_E_CONFIG);
    assert_non_null(strstr(eb.msg, "privateKey"));
    free(flat);
    free(pem);
    EVP_PKEY_free(k);
}

static void test_b64url(void **state)
{
    (void)state;
    char *s = retl_base64url_encode((const unsigned char *)"\xfb\xff", 2);
    assert_string_equal(s, "-_8");
    free(s);
    s = retl_base64url_encode((const unsigned char *)"abc", 3);
    assert_string_equal(s, "YWJj");
    free(s);
    s = retl_base64url_encode((const unsigned char *)"a", 1);
    assert_string_equal(s, "YQ");
    free(s);
}

static void test_audience(void **state)
{
    (void)state;
    struct {
        const char *url, *aud;
    } cases[] = {
        {"https://login.salesforce.com", "https://login.salesforce.com"},
        {"https://test.salesforce.com/", "https://test.salesforce.com"},
        {"https://acme.my.salesforce.com", "https://login.salesforce.com"},
        {"https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"},
        {"http://127.0.0.1:8443/", "http://127.0.0.1:8443"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *a = sf_jwt_audience(cases[i].url);
        assert_string_equal(a, cases[i].aud);
        free(a);
    }
}

static struct eng_secrets mksec(const char *json)
{
    struct eng_secrets s = {.name = (char *)"sf", .data = json_loads(json, 0, NULL)};
    assert_non_null(s.data);
    return s;
}

static void test_flows_from_secret(void **state)
{
    (void)state;
    struct {
        const char *json;
        retl_err want;
        enum sf_flow flow;
        const char *body_has;
    } cases[] = {
        {"{\"loginUrl\":\"http://"
         "h:1\",\"clientId\":\"cid\",\"refreshToken\":\"rt-secret\"}",
         RETL_E_OK, SF_FLOW_REFRESH,
         "grant_type=refresh_token&refresh_token=rt-secret&client_id=cid"},
        {"{\"instanceUrl\":\"http://h:1/\",\"clientId\":\"cid\",\"clientSecret\":\"cs "
         "x\"}",
         RETL_E_OK, SF_FLOW_CLIENT,
         "grant_type=client_credentials&client_id=cid&client_secret=cs%20x"},
        {"{\"loginUrl\":\"http://"
         "h:1\",\"clientId\":\"cid\",\"clientSecret\":\"cs\",\"username\":\"u@x\","
         "\"password\":\"p&w\"}",
         RETL_E_OK, SF_FLOW_PASSWORD, "username=u%40x&password=p%26w"},
        {"{\"loginUrl\":\"http://h:1\",\"clientId\":\"cid\"}", RETL_E_CONFIG, 0, NULL},
        {"{\"clientId\":\"cid\",\"clientSecret\":\"x\"}", RETL_E_CONFIG, 0, NULL},
        {"{\"loginUrl\":\"http://h:1\",\"clientId\":\"cid\",\"privateKey\":\"k\"}",
         RETL_E_CONFIG, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct eng_secrets s = mksec(cases[i].json);
        struct sf_auth a;
        struct retl_errbuf eb = {{0}};
        retl_err e = sf_auth_from_secret(&s, &a, &eb);
        assert_int_equal(e, cases[i].want);
        if (!e) {
            assert_int_equal(a.flow, cases[i].flow);
            assert_string_equal(a.token_url, "http://h:1/services/oauth2/token");
            char *body = NULL;
            assert_int_equal(sf_token_body(&a, 0, &body, &eb), RETL_E_OK);
            assert_non_null(strstr(body, cases[i].body_has));
            free(body);
            sf_auth_free(&a);
        } else {
            assert_true(strlen(eb.msg) > 0);
        }
        json_decref(s.data);
    }
}

static void test_token_parse(void **state)
{
    (void)state;
    char *tok = NULL, *inst = NULL;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(
        sf_token_parse(200,
                       "{\"access_token\":\"00D!AQ\",\"instance_url\":\"http://i:2\","
                       "\"id\":\"x\",\"token_type\":\"Bearer\",\"extra\":1}",
                       &tok, &inst, &eb),
        RETL_E_OK);
    assert_string_equal(tok, "00D!AQ");
    assert_string_equal(inst, "http://i:2");
    free(tok);
    free(inst);
    assert_int_equal(sf_token_parse(400,
                                    "{\"error\":\"invalid_grant\",\"error_description\":"
                                    "\"user hasn't approved this consumer\"}",
                                    &tok, &inst, &eb),
                     RETL_E_AUTH);
    assert_non_null(strstr(eb.msg, "invalid_grant: user hasn't approved this consumer"));
    assert_int_equal(sf_token_parse(502, "<html>bad gateway</html>", &tok, &inst, &eb),
                     RETL_E_AUTH);
    assert_non_null(strstr(eb.msg, "HTTP 502"));
    assert_int_equal(sf_token_parse(200, "{\"access_token\":\"x\"}", &tok, &inst, &eb),
                     RETL_E_AUTH);
}

static void test_limit_info(void **state)
{
    (void)state;
    long long u = 0, m = 0;
    assert_true(sf_parse_limit_info(" api-usage=25103/1000000", &u, &m));
    assert_int_equal(u, 25103);
    assert_int_equal(m, 1000000);
    assert_true(sf_parse_limit_info("per-app-api-usage=1/10(appName=x); api-usage=7/100",
                                    &u, &m));
    assert_int_equal(u, 7);
    assert_int_equal(m, 100);
    assert_false(sf_parse_limit_info("nothing", &u, &m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jwt_signature_verifies),
        cmocka_unit_test(test_jwt_key_with_escaped_newlines),
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_audience),
        cmocka_unit_test(test_flows_from_secret),
        cmocka_unit_test(test_token_parse),
        cmocka_unit_test(test_limit_info),
    };
    int r = cmocka_run_group_tests_name("salesforce_auth", tests, NULL, NULL);
    retl_secret_clear();
    return r;
}
