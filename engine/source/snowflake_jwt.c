#include <ctype.h>
#include <stdbool.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/base64.h"
#include "engine/source/snowflake_int.h"

void eng_sf_jwt_account(const char *account, char *out, size_t n)
{
    size_t o = 0;
    bool global = account && strcasestr(account, ".global") != NULL;
    char cut = global ? '-' : '.';
    for (const char *p = account ? account : ""; *p && o + 1 < n; p++) {
        if (*p == cut)
            break;
        out[o++] = (char)toupper((unsigned char)*p);
    }
    out[o] = '\0';
}

static EVP_PKEY *load_key(const char *pem, struct retl_errbuf *eb)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!k)
        retl_errf(eb, RETL_E_CONFIG,
                  "source: privateKey is not an unencrypted PEM private key");
    return k;
}

static retl_err fingerprint(EVP_PKEY *k, char *out, size_t n, struct retl_errbuf *eb)
{
    unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned char b64[128];
    int len = i2d_PUBKEY(k, &der);
    if (len <= 0 || !EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL)) {
        OPENSSL_free(der);
        return retl_errf(eb, RETL_E_CONFIG, "source: cannot derive the public key");
    }
    OPENSSL_free(der);
    EVP_EncodeBlock(b64, md, (int)mdlen);
    snprintf(out, n, "SHA256:%s", (char *)b64);
    return RETL_E_OK;
}

retl_err eng_sf_fingerprint(const char *pem, char *out, size_t n, struct retl_errbuf *eb)
{
    EVP_PKEY *k = load_key(pem, eb);
    if (!k)
        return RETL_E_CONFIG;
    retl_err rc = fingerprint(k, out, n, eb);
    EVP_PKEY_free(k);
    return rc;
}

/* base64url without padding of n bytes, appended to b. */
static retl_err b64url(struct retl_buf *b, const unsigned char *p, size_t n)
{
    char *t = retl_base64url_encode(p, n);
    if (!t)
        return RETL_E_NOMEM;
    retl_err rc = retl_buf_adds(b, t);
    free(t);
    return rc;
}

retl_err eng_sf_jwt(const char *pem, const char *account, const char *user, long now,
                    long lifetime, char **out, struct retl_errbuf *eb)
{
    retl_err rc = RETL_E_OK;
    char acct[256], usr[256], fp[128], claims[1024];
    unsigned char *sig = NULL;
    size_t siglen = 0;
    EVP_MD_CTX *md = NULL;
    struct retl_buf b;
    retl_buf_init(&b, 8192);
    EVP_PKEY *k = load_key(pem, eb);
    if (!k)
        return RETL_E_CONFIG;
    eng_sf_jwt_account(account, acct, sizeof acct);
    size_t o = 0;
    for (const char *p = user ? user : ""; *p && o + 1 < sizeof usr; p++)
        usr[o++] = (char)toupper((unsigned char)*p);
    usr[o] = '\0';
    rc = fingerprint(k, fp, sizeof fp, eb);
    if (rc)
        goto out;
    static const char hdr[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s.%s.%s\",\"sub\":\"%s.%s\",\"iat\":%ld,\"exp\":%ld}", acct,
             usr, fp, acct, usr, now, now + lifetime);
    if ((rc = b64url(&b, (const unsigned char *)hdr, strlen(hdr))) ||
        (rc = retl_buf_addc(&b, '.')) ||
        (rc = b64url(&b, (const unsigned char *)claims, strlen(claims))))
        goto out;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)b.data, b.len) != 1 ||
        !(sig = malloc(siglen)) ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)b.data, b.len) != 1) {
        rc = retl_errf(eb, RETL_E_AUTH,
                       "source: cannot sign the JWT (an RSA key is needed)");
        goto out;
    }
    if ((rc = retl_buf_addc(&b, '.')) || (rc = b64url(&b, sig, siglen)))
        goto out;
    *out = retl_buf_take(&b);
    if (!*out)
        rc = RETL_E_NOMEM;
out:
    free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    retl_buf_free(&b);
    return rc;
}

/* days since 1970-01-01 -> civil date (Howard Hinnant's algorithm). */
static void civil(long long z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long yy = (long long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

/* seconds(.fraction) + offset minutes -> "YYYY-MM-DD HH:MM:SS[.f]". */
static retl_err ts_text(const char *in, long off_min, struct retl_buf *b)
{
    char *end = NULL;
    long long s = strtoll(in, &end, 10);
    const char *frac = "";
    size_t fl = 0;
    bool neg = in[0] == '-';
    if (end && *end == '.') {
        frac = end + 1;
        while (frac[fl] >= '0' && frac[fl] <= '9')
            fl++;
    }
    /* "-1.5" is 1.5 seconds before the epoch: floor the seconds. */
    char fbuf[16] = "";
    if (neg && fl > 0) {
        bool nz = false;
        for (size_t i = 0; i < fl; i++)
            nz = nz || frac[i] != '0';
        if (nz) {
            s -= 1;
            /* 10^fl - frac */
            size_t n = fl < 9 ? fl : 9;
            long long f = 0, p = 1;
            for (size_t i = 0; i < n; i++) {
                f = f * 10 + (frac[i] - '0');
                p *= 10;
            }
            snprintf(fbuf, sizeof fbuf, "%0*lld", (int)n, p - f);
            frac = fbuf;
            fl = n;
        }
    }
    s += (long long)off_min * 60;
    long long days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    long long rem = s - days * 86400;
    int y;
    unsigned m, d;
    civil(days, &y, &m, &d);
    retl_err rc = retl_buf_printf(b, "%04d-%02u-%02u %02lld:%02lld:%02lld", y, m, d,
                                  rem / 3600, rem / 60 % 60, rem % 60);
    while (!rc && fl > 0 && frac[fl - 1] == '0')
        fl--;
    if (!rc && fl > 0) {
        rc = retl_buf_addc(b, '.');
        if (!rc)
            rc = retl_buf_add(b, frac, fl);
    }
    return rc;
}

retl_err eng_sf_cell(const char *type, const char *in, struct retl_buf *b)
{
    retl_err rc;
    const char *t = type ? type : "";
    if (strcasecmp(t, "date") == 0) {
        char *end = NULL;
        long long days = strtoll(in, &end, 10);
        if (end && !*end) {
            int y;
            unsigned m, d;
            civil(days, &y, &m, &d);
            rc = retl_buf_printf(b, "%04d-%02u-%02u", y, m, d);
            return rc ? rc : retl_buf_addc(b, '\0');
        }
    } else if (strcasecmp(t, "timestamp_ntz") == 0 ||
               strcasecmp(t, "timestamp_ltz") == 0) {
        rc = ts_text(in, 0, b);
        if (!rc && strcasecmp(t, "timestamp_ltz") == 0)
            rc = retl_buf_adds(b, "+00:00");
        return rc ? rc : retl_buf_addc(b, '\0');
    } else if (strcasecmp(t, "timestamp_tz") == 0) {
        const char *sp = strchr(in, ' ');
        long off = sp ? strtol(sp + 1, NULL, 10) - 1440 : 0;
        rc = ts_text(in, off, b);
        if (!rc) {
            long a = off < 0 ? -off : off;
            rc = retl_buf_printf(b, "%c%02ld:%02ld", off < 0 ? '-' : '+', a / 60, a % 60);
        }
        return rc ? rc : retl_buf_addc(b, '\0');
    }
    rc = retl_buf_adds(b, in);
    return rc ? rc : retl_buf_addc(b, '\0');
}
