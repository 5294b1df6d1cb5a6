/* sshkey.h: checking one OpenSSH public key line as a user pastes it
 * ("TYPE BASE64 [COMMENT]") and computing its fingerprint exactly as
 * `ssh-keygen -lf` prints it.  Pure: no files, no processes, no store. */
#ifndef CUMULUS_SSHKEY_H
#define CUMULUS_SSHKEY_H

#include "error.h"

/* Longest text accepted, in bytes, whitespace and comment included (the
 * largest RSA key OpenSSH accepts, 16384 bits, is about 2.8 KB). */
#define SSHKEY_MAX_TEXT 16384

typedef struct sshkey_info {
    char *type;        /* "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", ... */
    char *comment;     /* "" when none */
    char *fingerprint; /* exactly as `ssh-keygen -lf` prints it:
                          "SHA256:<base64 without padding>" */
    int bits;          /* as ssh-keygen -lf prints: 256 for ed25519, modulus bits
                          for RSA, curve bits for ECDSA */
    char *normalized;  /* "type base64" or "type base64 comment" on one line,
                          single spaces, trimmed */
} sshkey_info;

/* Accepted types: ssh-ed25519, ssh-rsa (2048 to 16384 bits),
 * ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com and
 * sk-ecdsa-sha2-nistp256@openssh.com.
 *
 * Returns 0 and fills *out (which the caller then owns and releases with
 * sshkey_info_clear()), or -1 with *err set and *out untouched.  A key that
 * is refused gives status 400, code CU_E_INVALID_FIELD, field "public_key";
 * only an allocation or libcrypto failure gives status 500.  Error messages
 * never quote a private key, and quote other input only as a short,
 * printable excerpt. */
int sshkey_parse(const char *text, sshkey_info *out, cu_error **err);

/* Frees the strings and zeroes *k; safe on a zeroed or cleared value. */
void sshkey_info_clear(sshkey_info *k);
#define _cleanup_sshkey_info_ __attribute__((cleanup(sshkey_info_clear)))

#endif
