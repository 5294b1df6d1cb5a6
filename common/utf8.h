/* utf8.h: text bound for JSON, which must be valid UTF-8 (jansson refuses
 * anything else, and a status document it cannot build is lost whole).
 *
 * Owns: telling a valid UTF-8 sequence, and copying text into a buffer of
 * fixed size cut on a whole character.  Must not: allocate or log. */
#ifndef CUMULUS_UTF8_H
#define CUMULUS_UTF8_H

#include <stddef.h>

/* The length (1 to 4) of the valid UTF-8 sequence at s, as jansson reads
 * it (no overlong forms, no surrogates, nothing past U+10FFFF), or 0. */
size_t cu_utf8_seq(const unsigned char *s);

/* Copies src into dst (size bytes, the NUL included; size >= 1), stopping
 * before the first character that does not fit whole: never half a
 * multi-byte character, as snprintf's "%.255s" cuts.  A byte of src that
 * is not valid UTF-8 becomes U+FFFD.  Returns the bytes written. */
size_t cu_utf8_copy(char *dst, size_t size, const char *src);

#endif
