/* ids.h: random resource ids ("vm-3f9a1c2b7d4e5f60"), bearer tokens and
 * their stored SHA-256 hashes.  Randomness from getrandom(2). */
#ifndef CUMULUS_IDS_H
#define CUMULUS_IDS_H

#include <stddef.h>

/* "<prefix>-<16 hex digits>", malloc'd. */
char *cu_id_new(const char *prefix);
/* A bearer token: "cu_" + 43 base64url characters (256 bits), malloc'd. */
char *cu_token_new(const char *prefix);
/* Lower-case hex SHA-256 of `len` bytes into out[65]. */
void cu_sha256_hex(const void *data, size_t len, char out[65]);
/* Fills buf with random bytes; aborts if the kernel cannot provide them. */
void cu_random_bytes(void *buf, size_t len);
/* Compares two NUL-terminated strings in time independent of content. */
int cu_const_time_eq(const char *a, const char *b);

#endif
