/* sshkey_private.h: internals shared by sshkey.c (the line), sshkey_base64.c
 * and sshkey_wire.c (the key data); nothing else includes it (the module's
 * interface is sshkey.h).
 *
 * Every refusal is a 400 on field "public_key", and quotes untrusted bytes
 * only through excerpt(). */
#ifndef CUMULUS_SSHKEY_PRIVATE_H
#define CUMULUS_SSHKEY_PRIVATE_H

#include <stddef.h>
#include <string.h>

#include "error.h"

#define FIELD "public_key"
#define EXCERPT_MAX 40

#define refuse(err, ...) cu_error_set((err), 400, CU_E_INVALID_FIELD, FIELD, __VA_ARGS__)

enum key_kind { KIND_ED25519, KIND_RSA, KIND_ECDSA, KIND_SK_ED25519, KIND_SK_ECDSA };

struct key_type {
    const char *name;
    enum key_kind kind;
    const char *curve; /* ECDSA: the curve name repeated inside the blob */
    int nid;           /* ECDSA: the OpenSSL curve */
    size_t key_len;    /* Ed25519 key or uncompressed ECDSA point, in bytes */
    int bits;          /* what ssh-keygen -lf prints; 0: from the RSA modulus */
};

/* A bounded, printable copy of untrusted bytes, for quoting in a message:
 * anything outside printable ASCII becomes '?'. */
struct excerpt {
    char s[EXCERPT_MAX + 4];
};

static inline const char *excerpt(struct excerpt *x, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t n = len > EXCERPT_MAX ? EXCERPT_MAX : len;
    for (size_t i = 0; i < n; i++)
        x->s[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    strcpy(x->s + n, len > n ? "..." : "");
    return x->s;
}

/* The accepted type named by the n bytes at s, or NULL (sshkey_wire.c). */
const struct key_type *sshkey_lookup_type(const char *s, size_t n);

/* Decodes the strict base64 of a key of type kt into a malloc'd blob
 * (sshkey_base64.c). */
int sshkey_b64_decode(const struct key_type *kt, const char *s, unsigned char **out,
                      size_t *out_len, cu_error **err);

/* Writes n bytes as base64 without '=' padding into out, which has room
 * for 4 * ((n + 2) / 3) + 1 bytes (sshkey_base64.c). */
void sshkey_b64_encode_nopad(const unsigned char *in, size_t n, char *out);

/* Checks a decoded blob against its type; sets *bits as ssh-keygen -lf
 * prints them (sshkey_wire.c). */
int sshkey_check_blob(const struct key_type *kt, const unsigned char *blob, size_t len,
                      int *bits, cu_error **err);

#endif
