/* sshkey_wire.c: the key data of a public key line (the blob its base64
 * decodes to), checked against the line's type (RFC 4253 §6.6, RFC 5656,
 * RFC 8709, OpenSSH PROTOCOL.u2f).
 *
 * Owns the table of accepted key types, the SSH wire format (RFC 4251 §5)
 * and the per-type checks that sshd would make: RSA sizes and exponents,
 * ECDSA curves and points on them, Ed25519 key lengths, security-key
 * applications.  Must not accept trailing or missing bytes, nor read past
 * the blob. */
#define _GNU_SOURCE
#include "sshkey_private.h"

#include <stdint.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384   /* OpenSSH's SSHBUF_MAX_BIGNUM */
#define RSA_MAX_EXP_BITS 64  /* OpenSSL refuses larger exponents for big moduli */

/* ---- the accepted key types ---------------------------------------------- */

static const struct key_type key_types[] = {
    {"ssh-ed25519", KIND_ED25519, NULL, 0, 32, 256},
    {"ssh-rsa", KIND_RSA, NULL, 0, 0, 0},
    {"ecdsa-sha2-nistp256", KIND_ECDSA, "nistp256", NID_X9_62_prime256v1, 65, 256},
    {"ecdsa-sha2-nistp384", KIND_ECDSA, "nistp384", NID_secp384r1, 97, 384},
    {"ecdsa-sha2-nistp521", KIND_ECDSA, "nistp521", NID_secp521r1, 133, 521},
    {"sk-ssh-ed25519@openssh.com", KIND_SK_ED25519, NULL, 0, 32, 256},
    {"sk-ecdsa-sha2-nistp256@openssh.com", KIND_SK_ECDSA, "nistp256", NID_X9_62_prime256v1, 65,
     256},
};

const struct key_type *sshkey_lookup_type(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
        if (strlen(key_types[i].name) == n && memcmp(key_types[i].name, s, n) == 0)
            return &key_types[i];
    }
    return NULL;
}

/* ---- the SSH wire format (RFC 4251 §5) ------------------------------------ */

struct wire {
    const unsigned char *p;
    size_t left;
};

static int wire_string(struct wire *w, const unsigned char **s, size_t *n)
{
    if (w->left < 4)
        return -1;
    size_t len = (size_t)w->p[0] << 24 | (size_t)w->p[1] << 16 | (size_t)w->p[2] << 8 | w->p[3];
    if (len > w->left - 4)
        return -1;
    *s = w->p + 4;
    *n = len;
    w->p += 4 + len;
    w->left -= 4 + len;
    return 0;
}

static int wire_equals(const unsigned char *s, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* A non-negative mpint; returns its magnitude without leading zero bytes. */
static int wire_mpint(struct wire *w, const unsigned char **v, size_t *n)
{
    if (wire_string(w, v, n) < 0 || (*n > 0 && ((*v)[0] & 0x80)))
        return -1;
    while (*n > 0 && (*v)[0] == 0) {
        (*v)++;
        (*n)--;
    }
    return 0;
}

static int magnitude_bits(const unsigned char *v, size_t n)
{
    if (n == 0)
        return 0;
    int bits = (int)(n - 1) * 8; /* n is bounded by SSHKEY_MAX_TEXT */
    for (unsigned c = v[0]; c != 0; c >>= 1)
        bits++;
    return bits;
}

/* ---- per key type ------------------------------------------------------- */

static int check_ed25519(const struct key_type *kt, struct wire *w, cu_error **err)
{
    const unsigned char *k;
    size_t n;
    if (wire_string(w, &k, &n) < 0)
        return refuse(err, "public key data for '%s' is malformed: the key is missing or "
                           "truncated", kt->name);
    if (n != kt->key_len)
        return refuse(err, "public key data for '%s' holds a %zu-byte key instead of %zu bytes",
                      kt->name, n, kt->key_len);
    return 0;
}

static int check_rsa(struct wire *w, int *bits, cu_error **err)
{
    const unsigned char *e, *n;
    size_t e_len, n_len;
    if (wire_mpint(w, &e, &e_len) < 0 || wire_mpint(w, &n, &n_len) < 0)
        return refuse(err, "public key data for 'ssh-rsa' is malformed: the exponent or modulus "
                           "is missing, truncated or negative");
    int e_bits = magnitude_bits(e, e_len);
    if (e_bits < 2 || e_bits > RSA_MAX_EXP_BITS || !(e[e_len - 1] & 1))
        return refuse(err, "public key data for 'ssh-rsa' has an invalid public exponent (it "
                           "must be odd, at least 3 and at most %d bits)", RSA_MAX_EXP_BITS);
    *bits = magnitude_bits(n, n_len);
    if (*bits < RSA_MIN_BITS)
        return refuse(err, "RSA key is %d bits, but keys under %d bits are refused as too weak; "
                           "generate a new one with 'ssh-keygen -t ed25519' or "
                           "'ssh-keygen -t rsa -b 3072'", *bits, RSA_MIN_BITS);
    if (*bits > RSA_MAX_BITS)
        return refuse(err, "RSA key is %d bits, more than the %d bits OpenSSH supports", *bits,
                      RSA_MAX_BITS);
    if (!(n[n_len - 1] & 1))
        return refuse(err, "public key data for 'ssh-rsa' has an even modulus, which no RSA key "
                           "can have");
    return 0;
}

static void ec_group_freep(EC_GROUP **g)
{
    EC_GROUP_free(*g);
}

static void ec_point_freep(EC_POINT **p)
{
    EC_POINT_free(*p);
}

/* As sshd does (sshkey_ec_validate_public): a point off the curve is not a
 * key.  The curves have cofactor 1, so on the curve and not at infinity
 * (excluded by the 0x04 form) is enough. */
static int check_on_curve(const struct key_type *kt, const unsigned char *q, size_t n,
                          cu_error **err)
{
    __attribute__((cleanup(ec_group_freep))) EC_GROUP *g = EC_GROUP_new_by_curve_name(kt->nid);
    __attribute__((cleanup(ec_point_freep))) EC_POINT *p = g ? EC_POINT_new(g) : NULL;
    if (p == NULL) {
        ERR_clear_error();
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "libcrypto could not set up curve '%s' to check a public key",
                            kt->curve);
    }
    if (EC_POINT_oct2point(g, p, q, n, NULL) != 1 || EC_POINT_is_on_curve(g, p, NULL) != 1) {
        ERR_clear_error(); /* leave no stale error for the next libcrypto user */
        return refuse(err, "public key data for '%s' holds a point that is not on curve '%s'",
                      kt->name, kt->curve);
    }
    return 0;
}

static int check_ecdsa(const struct key_type *kt, struct wire *w, cu_error **err)
{
    const unsigned char *curve, *q;
    size_t curve_len, q_len;
    struct excerpt x;
    if (wire_string(w, &curve, &curve_len) < 0 || wire_string(w, &q, &q_len) < 0)
        return refuse(err, "public key data for '%s' is malformed: the curve name or point is "
                           "missing or truncated", kt->name);
    if (!wire_equals(curve, curve_len, kt->curve))
        return refuse(err, "public key of type '%s' names curve '%s' instead of '%s'", kt->name,
                      excerpt(&x, curve, curve_len), kt->curve);
    if (q_len != kt->key_len || q[0] != 0x04)
        return refuse(err, "public key data for '%s' holds a %zu-byte point, but it must be "
                           "uncompressed: 0x04 followed by X and Y, %zu bytes in all",
                      kt->name, q_len, kt->key_len);
    return check_on_curve(kt, q, q_len, err);
}

/* Security keys add the FIDO application ("ssh:" by default); sshd reads it
 * as a C string, so an embedded NUL is refused. */
static int check_application(const struct key_type *kt, struct wire *w, cu_error **err)
{
    const unsigned char *app;
    size_t n;
    if (wire_string(w, &app, &n) < 0)
        return refuse(err, "public key data for '%s' is malformed: the security key "
                           "application (such as 'ssh:') is missing or truncated", kt->name);
    if (memchr(app, '\0', n) != NULL)
        return refuse(err, "public key data for '%s' has a security key application with a NUL "
                           "byte in it", kt->name);
    return 0;
}

static int check_key_fields(const struct key_type *kt, struct wire *w, int *bits, cu_error **err)
{
    switch (kt->kind) {
    case KIND_ED25519:
        return check_ed25519(kt, w, err);
    case KIND_RSA:
        return check_rsa(w, bits, err);
    case KIND_ECDSA:
        return check_ecdsa(kt, w, err);
    case KIND_SK_ED25519:
        return check_ed25519(kt, w, err) < 0 ? -1 : check_application(kt, w, err);
    case KIND_SK_ECDSA:
        return check_ecdsa(kt, w, err) < 0 ? -1 : check_application(kt, w, err);
    }
    return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "key type '%s' has no checker", kt->name);
}

/* The blob: string type name (must equal the line's TYPE), then the fields
 * of that type, then nothing. */
int sshkey_check_blob(const struct key_type *kt, const unsigned char *blob, size_t len,
                      int *bits, cu_error **err)
{
    struct wire w = {blob, len};
    const unsigned char *name;
    size_t name_len;
    struct excerpt x;
    if (wire_string(&w, &name, &name_len) < 0)
        return refuse(err, "public key data for '%s' is malformed: it does not start with the "
                           "key type name", kt->name);
    if (!wire_equals(name, name_len, kt->name))
        return refuse(err, "public key says type '%s' but its key data is of type '%s'",
                      kt->name, excerpt(&x, name, name_len));
    *bits = kt->bits;
    if (check_key_fields(kt, &w, bits, err) < 0)
        return -1;
    if (w.left != 0)
        return refuse(err, "public key data for '%s' has %zu unexpected trailing bytes after the "
                           "key", kt->name, w.left);
    return 0;
}
