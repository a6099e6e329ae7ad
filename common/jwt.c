#include "common/jwt.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/buf.h"

#define JWT_MAX (64 * 1024)

struct retl_rsa_key {
    EVP_PKEY *pkey;
};

/* A copy of pem with literal "\n" sequences as newlines when it has no
 * newline at all. Ownership: the caller frees the result. */
static char *pem_text(const char *pem)
{
    char *t = strdup(pem);
    if (!t || strchr(t, '\n'))
        return t;
    char *w = t;
    for (const char *r = t; *r; r++) {
        if (r[0] == '\\' && r[1] == 'n') {
            *w++ = '\n';
            r++;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return t;
}

retl_err retl_rsa_key_load(const char *pem, struct retl_rsa_key **out,
                           struct retl_errbuf *eb)
{
    char *text = pem_text(pem ? pem : "");
    if (!text)
        return RETL_E_NOMEM;
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new_mem_buf(text, -1);
    if (bio)
        pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    free(text);
    if (!pkey) {
        ERR_clear_error();
        return retl_errf(eb, RETL_E_CONFIG,
                         "privateKey: not an unencrypted PEM private key (PKCS#8 or "
                         "PKCS#1)");
    }
    if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
        EVP_PKEY_free(pkey);
        return retl_errf(eb, RETL_E_CONFIG, "privateKey: RS256 needs an RSA key");
    }
    struct retl_rsa_key *k = malloc(sizeof *k);
    if (!k) {
        EVP_PKEY_free(pkey);
        return RETL_E_NOMEM;
    }
    k->pkey = pkey;
    *out = k;
    return RETL_E_OK;
}

void retl_rsa_key_free(struct retl_rsa_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

retl_err retl_rsa_key_fingerprint(const struct retl_rsa_key *k, char *out, size_t n,
                                  struct retl_errbuf *eb)
{
    unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int len = i2d_PUBKEY(k->pkey, &der);
    if (len <= 0 || !EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL)) {
        OPENSSL_free(der);
        ERR_clear_error();
        return retl_errf(eb, RETL_E_CONFIG, "privateKey: cannot derive the public key");
    }
    OPENSSL_free(der);
    char *b64 = retl_base64_encode(md, mdlen);
    if (!b64)
        return RETL_E_NOMEM;
    snprintf(out, n, "SHA256:%s", b64);
    free(b64);
    return RETL_E_OK;
}

/* base64url without padding of n bytes, appended to b. */
static retl_err add_b64url(struct retl_buf *b, const void *p, size_t n)
{
    char *t = retl_base64url_encode(p, n);
    if (!t)
        return RETL_E_NOMEM;
    retl_err e = retl_buf_adds(b, t);
    free(t);
    return e;
}

retl_err retl_jwt_rs256(const struct retl_rsa_key *k, const char *header,
                        const char *claims, char **out, struct retl_errbuf *eb)
{
    retl_err e = RETL_E_OK;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    EVP_MD_CTX *md = NULL;
    struct retl_buf b;
    retl_buf_init(&b, JWT_MAX);
    if ((e = add_b64url(&b, header, strlen(header))) || (e = retl_buf_addc(&b, '.')) ||
        (e = add_b64url(&b, claims, strlen(claims))))
        goto out;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k->pkey) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)b.data, b.len) != 1 ||
        !(sig = malloc(siglen)) ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)b.data, b.len) != 1) {
        ERR_clear_error();
        e = retl_errf(eb, RETL_E_INTERNAL, "JWT signing failed");
        goto out;
    }
    if ((e = retl_buf_addc(&b, '.')) || (e = add_b64url(&b, sig, siglen)))
        goto out;
    char *jwt = retl_buf_take(&b);
    if (!jwt) {
        e = RETL_E_NOMEM;
        goto out;
    }
    *out = jwt;
out:
    free(sig);
    EVP_MD_CTX_free(md);
    retl_buf_free(&b);
    return e;
}
