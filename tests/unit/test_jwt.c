/* common/jwt.c: RSA keys from PEM (escaped newlines, refusals), the public
 * key fingerprint, RS256 tokens verified with the public half. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/base64.h"
#include "common/jwt.h"

static char *pem_of(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *pem = strndup(p, (size_t)n);
    BIO_free(b);
    return pem;
}

static EVP_PKEY *rsa;
static char *rsa_pem;

static int setup(void **s)
{
    rsa = EVP_RSA_gen(2048);
    assert_non_null(rsa);
    rsa_pem = pem_of(rsa);
    return 0;
}

static int teardown(void **s)
{
    free(rsa_pem);
    EVP_PKEY_free(rsa);
    return 0;
}

static void test_load(void **state)
{
    struct retl_errbuf eb = {{0}};
    struct retl_rsa_key *k = NULL;
    assert_int_equal(retl_rsa_key_load(rsa_pem, &k, &eb), RETL_E_OK);
    retl_rsa_key_free(k);

    /* A Secret value with literal \n instead of newlines. */
    char *flat = malloc(strlen(rsa_pem) * 2 + 1), *w = flat;
    for (const char *r = rsa_pem; *r; r++) {
        if (*r == '\n') {
            *w++ = '\\';
            *w++ = 'n';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    k = NULL;
    assert_int_equal(retl_rsa_key_load(flat, &k, &eb), RETL_E_OK);
    retl_rsa_key_free(k);
    free(flat);

    k = NULL;
    assert_int_equal(retl_rsa_key_load("-----BEGIN PRIVATE KEY-----\nnope\n", &k, &eb),
                     RETL_E_CONFIG);
    assert_null(k);
    assert_non_null(strstr(eb.msg, "privateKey"));
    assert_int_equal(retl_rsa_key_load(NULL, &k, &eb), RETL_E_CONFIG);

    /* RS256 needs RSA: an EC key is refused when loaded. */
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    assert_non_null(ec);
    char *ec_pem = pem_of(ec);
    assert_int_equal(retl_rsa_key_load(ec_pem, &k, &eb), RETL_E_CONFIG);
    assert_null(k);
    assert_non_null(strstr(eb.msg, "RSA"));
    free(ec_pem);
    EVP_PKEY_free(ec);
}

static void test_fingerprint(void **state)
{
    struct retl_rsa_key *k = NULL;
    assert_int_equal(retl_rsa_key_load(rsa_pem, &k, NULL), RETL_E_OK);
    char fp[128], want[128];
    assert_int_equal(retl_rsa_key_fingerprint(k, fp, sizeof fp, NULL), RETL_E_OK);
    unsigned char *der = NULL, md[32], b64[64];
    int len = i2d_PUBKEY(rsa, &der);
    unsigned mdlen = 0;
    assert_int_equal(EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL), 1);
    OPENSSL_free(der);
    EVP_EncodeBlock(b64, md, (int)mdlen);
    snprintf(want, sizeof want, "SHA256:%s", (char *)b64);
    assert_string_equal(fp, want);
    retl_rsa_key_free(k);
}

static void test_rs256(void **state)
{
    struct retl_rsa_key *k = NULL;
    assert_int_equal(retl_rsa_key_load(rsa_pem, &k, NULL), RETL_E_OK);
    char *jwt = NULL;
    assert_int_equal(
        retl_jwt_rs256(k, "{\"alg\":\"RS256\"}", "{\"iss\":\"x\",\"exp\":1}", &jwt, NULL),
        RETL_E_OK);
    retl_rsa_key_free(k);
    assert_null(strchr(jwt, '='));
    char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    char *h = strndup(jwt, (size_t)(d1 - jwt)),
         *c = strndup(d1 + 1, (size_t)(d2 - d1 - 1));
    char *hj = NULL, *cj = NULL, *sig = NULL;
    size_t sl = 0;
    assert_int_equal(retl_base64_decode(h, &hj, NULL), RETL_E_OK);
    assert_int_equal(retl_base64_decode(c, &cj, NULL), RETL_E_OK);
    assert_int_equal(retl_base64_decode(d2 + 1, &sig, &sl), RETL_E_OK);
    assert_string_equal(hj, "{\"alg\":\"RS256\"}");
    assert_string_equal(cj, "{\"iss\":\"x\",\"exp\":1}");
    assert_int_equal(sl, 256);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, rsa), 1);
    assert_int_equal(EVP_DigestVerify(m, (unsigned char *)sig, sl, (unsigned char *)jwt,
                                      (size_t)(d2 - jwt)),
                     1);
    jwt[1] ^= 1; /* a changed header no longer verifies */
    assert_int_not_equal(EVP_DigestVerify(m, (unsigned char *)sig, sl,
                                          (unsigned char *)jwt, (size_t)(d2 - jwt)),
                         1);
    EVP_MD_CTX_free(m);
    free(h);
    free(c);
    free(hj);
    free(cj);
    free(sig);
    free(jwt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_rs256),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
