/* sshkey.c: one OpenSSH public key line, checked and fingerprinted (see
 * sshkey.h).
 *
 * Owns the line syntax ("TYPE BASE64 [COMMENT]"), strict base64, the SSH wire
 * format of each accepted key type (RFC 4253 §6.6, RFC 5656, RFC 8709,
 * OpenSSH PROTOCOL.u2f) and the SHA-256 fingerprint.  It must not touch files
 * or run ssh-keygen, and must refuse what sshd would not use: a key we accept
 * ends up in a guest's authorized_keys, where a bad one fails silently at
 * boot.  It must never echo back any part of a private key. */
#define _GNU_SOURCE
#include "sshkey.h"

#include "cleanup.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#define FIELD "public_key"
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384   /* OpenSSH's SSHBUF_MAX_BIGNUM */
#define RSA_MAX_EXP_BITS 64  /* OpenSSL refuses larger exponents for big moduli */
#define EXCERPT_MAX 40
#define SUPPORTED "ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521 or their sk- variants"

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

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* ---- small helpers ------------------------------------------------------ */

static int is_sep(char c)
{
    return c == ' ' || c == '\t';
}

static int is_space(char c)
{
    return is_sep(c) || c == '\r' || c == '\n';
}

/* A bounded, printable copy of untrusted bytes, for quoting in a message:
 * anything outside printable ASCII becomes '?'. */
struct excerpt {
    char s[EXCERPT_MAX + 4];
};

static const char *excerpt(struct excerpt *x, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t n = len > EXCERPT_MAX ? EXCERPT_MAX : len;
    for (size_t i = 0; i < n; i++)
        x->s[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    strcpy(x->s + n, len > n ? "..." : "");
    return x->s;
}

static const struct key_type *lookup_type(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
        if (strlen(key_types[i].name) == n && memcmp(key_types[i].name, s, n) == 0)
            return &key_types[i];
    }
    return NULL;
}

/* ---- the text: size, private keys, whitespace, lines ---------------------- */

static int refuse_private(cu_error **err)
{
    return refuse(err, "this is a private key, which must never be shared: paste the public key "
                       "instead, the single line of the matching '.pub' file (for example "
                       "'~/.ssh/id_ed25519.pub')");
}

/* A pasted private key is the mistake that matters most, so it is looked for
 * before anything else, and its text is never quoted back. */
static int check_not_private(const char *text, size_t len, cu_error **err)
{
    if (len == 0)
        return 0;
    const char *begin = memmem(text, len, "-----BEGIN", 10);
    if (begin != NULL) {
        size_t rest = len - (size_t)(begin - text);
        const char *eol = memchr(begin, '\n', rest);
        size_t line_len = eol ? (size_t)(eol - begin) : rest;
        if (memmem(begin, line_len, "PUBLIC KEY", 10) == NULL)
            return refuse_private(err);
    }
    /* PuTTY .ppk files and the body of an OpenSSH private key without its
     * armour ("openssh-key-v1" in base64) */
    if (memmem(text, len, "PuTTY-User-Key-File-", 20) != NULL ||
        memmem(text, len, "b3BlbnNzaC1rZXktdjE", 19) != NULL)
        return refuse_private(err);
    if (begin != NULL || memmem(text, len, "---- BEGIN SSH2 PUBLIC KEY", 26) != NULL)
        return refuse(err, "public key is in PEM or RFC 4716 format, not the one-line OpenSSH "
                           "format; convert it with 'ssh-keygen -i -m PKCS8 -f FILE' (PEM) or "
                           "'ssh-keygen -i -f FILE' (RFC 4716)");
    return 0;
}

/* Finds the one line in text: surrounding whitespace (a trailing newline,
 * CRLF from a Windows clipboard) is dropped, a line break inside refused. */
static int check_text(const char *text, const char **start, size_t *n, cu_error **err)
{
    size_t len = text ? strnlen(text, SSHKEY_MAX_TEXT + 1) : 0;
    if (check_not_private(text, len, err) < 0)
        return -1;
    if (len > SSHKEY_MAX_TEXT)
        return refuse(err, "public key is longer than %d bytes, which no OpenSSH public key needs",
                      SSHKEY_MAX_TEXT);
    while (len > 0 && is_space(text[len - 1]))
        len--;
    size_t lead = 0;
    while (lead < len && is_space(text[lead]))
        lead++;
    if (lead == len)
        return refuse(err, "public key is empty; paste the single line of your '.pub' file "
                           "(for example '~/.ssh/id_ed25519.pub')");
    if (memchr(text + lead, '\n', len - lead) || memchr(text + lead, '\r', len - lead))
        return refuse(err, "public key must be a single line, but the text has several "
                           "(paste one key at a time)");
    *start = text + lead;
    *n = len - lead;
    return 0;
}

/* The first whitespace-separated token after `s` that names a key type, as
 * when authorized_keys options ('restrict,command="..."') come first. */
static const char *find_type_token(const char *s, const struct key_type **kt)
{
    for (;;) {
        s += strspn(s, " \t");
        if (*s == '\0')
            return NULL;
        size_t n = strcspn(s, " \t");
        if ((*kt = lookup_type(s, n)) != NULL)
            return s;
        s += n;
    }
}

static int refuse_unknown_type(const char *line, size_t type_len, cu_error **err)
{
    struct excerpt x;
    const struct key_type *kt = NULL;
    const char *key = find_type_token(line + type_len, &kt);
    if (key != NULL) {
        size_t n = (size_t)(key - line);
        while (n > 0 && is_sep(line[n - 1]))
            n--;
        return refuse(err, "public key starts with authorized_keys options ('%s'); paste only "
                           "the key itself, starting at its type '%s'",
                      excerpt(&x, line, n), kt->name);
    }
    return refuse(err, "public key type '%s' is not supported (use " SUPPORTED ")",
                  excerpt(&x, line, type_len));
}

struct key_fields {
    char *type;
    char *b64;
    char *comment; /* the rest of the line, as is; "" when none */
};

/* Cuts the trimmed line in place; fields are separated by spaces or tabs. */
static void split_fields(char *line, struct key_fields *f)
{
    char *p = line + strcspn(line, " \t");
    f->type = line;
    if (*p != '\0')
        *p++ = '\0';
    p += strspn(p, " \t");
    f->b64 = p;
    p += strcspn(p, " \t");
    if (*p != '\0')
        *p++ = '\0';
    f->comment = p + strspn(p, " \t");
}

/* ---- the comment ------------------------------------------------------- */

/* Decodes one UTF-8 sequence (RFC 3629: no overlong forms, surrogates or
 * code points past U+10FFFF); returns its length, or 0 when invalid.  Stops
 * at a NUL, so it never reads past the string. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    size_t n;
    uint32_t v, min;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        n = 2, v = s[0] & 0x1f, min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3, v = s[0] & 0x0f, min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4, v = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* The comment is shown in the web UI and written into guests'
 * authorized_keys: it must be valid UTF-8 (jansson needs it) without C0/C1
 * control characters (terminal escapes, tabs, NULs). */
static int check_comment(const char *comment, cu_error **err)
{
    const unsigned char *s = (const unsigned char *)comment;
    for (size_t i = 0; s[i] != '\0';) {
        uint32_t cp = 0;
        size_t n = utf8_decode(s + i, &cp);
        if (n == 0)
            return refuse(err, "public key comment is not valid UTF-8 (at byte %zu of the "
                               "comment)", i);
        if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            return refuse(err, "public key comment contains control character U+%04X at byte "
                               "%zu; use printable text only", (unsigned)cp, i);
        i += n;
    }
    return 0;
}

/* ---- base64 ------------------------------------------------------------ */

static int b64_value(unsigned char c)
{
    const char *p = c ? strchr(b64_alphabet, c) : NULL;
    return p ? (int)(p - b64_alphabet) : -1;
}

static int check_b64_chars(const struct key_type *kt, const char *s, size_t n, cu_error **err)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            return refuse(err, "public key data for '%s' is not valid base64: '=' padding "
                               "appears at position %zu, before the end", kt->name, i);
        if (b64_value((unsigned char)s[i]) < 0)
            return refuse(err, "public key data for '%s' is not valid base64: byte 0x%02x at "
                               "position %zu is not a base64 character",
                          kt->name, (unsigned char)s[i], i);
    }
    return 0;
}

/* Strict RFC 4648 base64, as OpenSSH's b64_pton reads it: standard alphabet,
 * '=' padding to a multiple of 4, and zero bits in the unused low bits of
 * the last character (otherwise one blob would have several spellings). */
static int b64_decode(const struct key_type *kt, const char *s, unsigned char **out,
                      size_t *out_len, cu_error **err)
{
    size_t len = strlen(s), pad = 0;
    if (len % 4 != 0)
        return refuse(err, "public key data for '%s' is not valid base64: its length %zu is "
                           "not a multiple of 4 (was it cut short?)", kt->name, len);
    while (pad < 2 && s[len - 1 - pad] == '=')
        pad++;
    if (check_b64_chars(kt, s, len - pad, err) < 0)
        return -1;
    _cleanup_free_ unsigned char *buf = malloc(len / 4 * 3);
    if (buf == NULL)
        return cu_error_errno(err, ENOMEM, "decoding a public key");
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len - pad; i++) {
        acc = (acc << 6 | (uint32_t)b64_value((unsigned char)s[i])) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1))
        return refuse(err, "public key data for '%s' is not valid base64: the character before "
                           "the '=' padding has non-zero unused bits", kt->name);
    *out_len = o;
    *out = steal_ptr(&buf);
    return 0;
}

/* Standard base64 without '=' padding, as OpenSSH prints fingerprints. */
static void b64_encode_nopad(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        size_t chars = n - i >= 3 ? 4 : n - i + 1;
        for (size_t k = 0; k < chars; k++)
            out[o++] = b64_alphabet[(v >> (18 - 6 * k)) & 63];
    }
    out[o] = '\0';
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
static int check_blob(const struct key_type *kt, const unsigned char *blob, size_t len, int *bits,
                      cu_error **err)
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

/* ---- result -------------------------------------------------------------- */

static char *fingerprint(const unsigned char *blob, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char b64[EVP_MAX_MD_SIZE * 4 / 3 + 4];
    char *fp = NULL;
    if (EVP_Digest(blob, n, md, &md_len, EVP_sha256(), NULL) != 1)
        return NULL;
    b64_encode_nopad(md, md_len, b64);
    if (asprintf(&fp, "SHA256:%s", b64) < 0)
        return NULL;
    return fp;
}

static int fill_info(const struct key_type *kt, const struct key_fields *f,
                     const unsigned char *blob, size_t blob_len, int bits, sshkey_info *out,
                     cu_error **err)
{
    sshkey_info k = {.bits = bits};
    k.type = strdup(kt->name);
    k.comment = strdup(f->comment);
    k.fingerprint = fingerprint(blob, blob_len);
    int r = *f->comment ? asprintf(&k.normalized, "%s %s %s", kt->name, f->b64, f->comment)
                        : asprintf(&k.normalized, "%s %s", kt->name, f->b64);
    if (r < 0)
        k.normalized = NULL;
    if (!k.type || !k.comment || !k.fingerprint || !k.normalized) {
        sshkey_info_clear(&k);
        ERR_clear_error();
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "computing the fingerprint of public key '%s' failed (out of memory "
                            "or libcrypto error)", kt->name);
    }
    *out = k;
    return 0;
}

int sshkey_parse(const char *text, sshkey_info *out, cu_error **err)
{
    const char *start = NULL;
    size_t n = 0;
    if (check_text(text, &start, &n, err) < 0)
        return -1;
    _cleanup_free_ char *line = strndup(start, n);
    if (line == NULL)
        return cu_error_errno(err, ENOMEM, "copying a public key");
    size_t type_len = strcspn(line, " \t");
    const struct key_type *kt = lookup_type(line, type_len);
    if (kt == NULL)
        return refuse_unknown_type(line, type_len, err);
    struct key_fields f;
    split_fields(line, &f);
    if (*f.b64 == '\0')
        return refuse(err, "public key of type '%s' has no base64 key data after the type",
                      kt->name);
    if (check_comment(f.comment, err) < 0)
        return -1;
    _cleanup_free_ unsigned char *blob = NULL;
    size_t blob_len = 0;
    int bits = 0;
    if (b64_decode(kt, f.b64, &blob, &blob_len, err) < 0 ||
        check_blob(kt, blob, blob_len, &bits, err) < 0)
        return -1;
    return fill_info(kt, &f, blob, blob_len, bits, out, err);
}

void sshkey_info_clear(sshkey_info *k)
{
    if (k == NULL)
        return;
    free(k->type);
    free(k->comment);
    free(k->fingerprint);
    free(k->normalized);
    memset(k, 0, sizeof(*k));
}
