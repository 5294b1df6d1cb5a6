/* sshkey_base64.c: the base64 of public key lines, strictly as OpenSSH
 * reads it, and the unpadded base64 OpenSSH prints fingerprints in.
 *
 * Owns the refusal of every spelling OpenSSH's b64_pton would refuse, so
 * that one key has one text.  Must not look inside the decoded bytes
 * (sshkey_wire.c does), and quotes no input beyond a byte value. */
#define _GNU_SOURCE
#include "sshkey_private.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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
int sshkey_b64_decode(const struct key_type *kt, const char *s, unsigned char **out,
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
void sshkey_b64_encode_nopad(const unsigned char *in, size_t n, char *out)
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
