/* ids.c: see ids.h. */
#define _GNU_SOURCE
#include "ids.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void cu_random_bytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            abort(); /* no randomness: ids and tokens would be guessable */
        }
        p += n;
        len -= (size_t)n;
    }
}

char *cu_id_new(const char *prefix)
{
    unsigned char raw[8];
    cu_random_bytes(raw, sizeof(raw));
    char *id = NULL;
    if (asprintf(&id, "%s-%02x%02x%02x%02x%02x%02x%02x%02x", prefix, raw[0], raw[1], raw[2],
                 raw[3], raw[4], raw[5], raw[6], raw[7]) < 0)
        abort();
    return id;
}

char *cu_token_new(const char *prefix)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[32];
    cu_random_bytes(raw, sizeof(raw));
    char body[44];
    /* 256 bits as 43 base64url digits (6 bits each; the last carries 4). */
    for (size_t i = 0; i < 43; i++) {
        size_t bit = i * 6, byte = bit / 8, shift = bit % 8;
        unsigned v = (unsigned)raw[byte] << 8 | (byte + 1 < sizeof(raw) ? raw[byte + 1] : 0);
        body[i] = alphabet[(v >> (10 - shift)) & 0x3f];
    }
    body[43] = '\0';
    char *tok = NULL;
    if (asprintf(&tok, "%s_%s", prefix, body) < 0)
        abort();
    return tok;
}

void cu_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        abort();
    for (size_t i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int cu_const_time_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}
