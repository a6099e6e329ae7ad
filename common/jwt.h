/* RS256 JSON Web Tokens (RFC 7515, 7519) and the RSA private keys that sign
 * them, with OpenSSL EVP: the one signer behind the Salesforce JWT bearer flow
 * and Snowflake key-pair authentication. */
#ifndef RETL_JWT_H
#define RETL_JWT_H

#include <stddef.h>

#include "common/error.h"

struct retl_rsa_key;

/* Loads an unencrypted PEM private key (PKCS#8 or PKCS#1). Secrets often
 * carry literal "\n" sequences instead of newlines: those are read as
 * newlines. RETL_E_CONFIG (a message naming privateKey) when it is no such
 * key or not RSA. Ownership: free *out with retl_rsa_key_free. */
retl_err retl_rsa_key_load(const char *pem, struct retl_rsa_key **out,
                           struct retl_errbuf *eb);
void retl_rsa_key_free(struct retl_rsa_key *k);

/* "SHA256:<standard base64 of SHA-256 over the DER SubjectPublicKeyInfo>",
 * the public key's fingerprint as Snowflake and OpenSSH print it. */
retl_err retl_rsa_key_fingerprint(const struct retl_rsa_key *k, char *out, size_t n,
                                  struct retl_errbuf *eb);

/* base64url(header) "." base64url(claims) "." base64url(RS256 signature),
 * header and claims being JSON texts. Ownership: the caller frees *out. */
retl_err retl_jwt_rs256(const struct retl_rsa_key *k, const char *header,
                        const char *claims, char **out, struct retl_errbuf *eb);

#endif
