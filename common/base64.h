/* Base64 (RFC 4648) for Secret data, kubeconfig fields, JWTs and key
 * fingerprints: the one encoder and decoder of the tree. Written here rather
 * than taken from OpenSSL because Kubernetes data is often wrapped or unpadded
 * and JWTs need the URL-safe alphabet without padding, which
 * EVP_DecodeBlock/EVP_EncodeBlock do not handle. */
#ifndef RETL_BASE64_H
#define RETL_BASE64_H

#include <stddef.h>

#include "common/error.h"

/* Decodes standard or URL-safe base64; whitespace is ignored and padding is
 * optional. *out is NUL-terminated (for text values) and its length goes to
 * *len_out when not NULL. RETL_E_PARSE on a character outside the alphabets.
 * Ownership: the caller frees *out. */
retl_err retl_base64_decode(const char *in, char **out, size_t *len_out);

/* URL-safe base64 without padding of n bytes (JWT segments). Ownership: the
 * caller frees the result; NULL when out of memory. */
char *retl_base64url_encode(const unsigned char *p, size_t n);

/* Standard base64 with padding of n bytes. Ownership: the caller frees the
 * result; NULL when out of memory. */
char *retl_base64_encode(const unsigned char *p, size_t n);

#endif
