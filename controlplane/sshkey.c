/* sshkey.c: one OpenSSH public key line, checked and fingerprinted (see
 * sshkey.h).
 *
 * Owns the line syntax ("TYPE BASE64 [COMMENT]"): the search for pasted
 * private keys, whitespace and line breaks, authorized_keys options, the
 * comment, and the result with its SHA-256 fingerprint.  The key data is
 * decoded by sshkey_base64.c and checked by sshkey_wire.c.  It must not
 * touch files or run ssh-keygen, and must refuse what sshd would not use: a
 * key we accept ends up in a guest's authorized_keys, where a bad one fails
 * silently at boot.  It must never echo back any part of a private key. */
#define _GNU_SOURCE
#include "sshkey.h"

#include "cleanup.h"
#include "sshkey_private.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#define SUPPORTED "ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521 or their sk- variants"

/* ---- small helpers ------------------------------------------------------ */

static int is_sep(char c)
{
    return c == ' ' || c == '\t';
}

static int is_space(char c)
{
    return is_sep(c) || c == '\r' || c == '\n';
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
        if ((*kt = sshkey_lookup_type(s, n)) != NULL)
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

/* ---- result -------------------------------------------------------------- */

static char *fingerprint(const unsigned char *blob, size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char b64[EVP_MAX_MD_SIZE * 4 / 3 + 4];
    char *fp = NULL;
    if (EVP_Digest(blob, n, md, &md_len, EVP_sha256(), NULL) != 1)
        return NULL;
    sshkey_b64_encode_nopad(md, md_len, b64);
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
    const struct key_type *kt = sshkey_lookup_type(line, type_len);
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
    if (sshkey_b64_decode(kt, f.b64, &blob, &blob_len, err) < 0 ||
        sshkey_check_blob(kt, blob, blob_len, &bits, err) < 0)
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
