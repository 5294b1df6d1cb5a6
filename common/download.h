/* download.h: a big file over HTTP(S) into place, checked on the way, and
 * the SHA-256 of a file on disk.  For what is too big for http_client.h
 * (images that move between daemons).
 *
 * The body goes to "<path>.part", is hashed while it streams, fsynced and
 * renamed to `path` only when the digest matches `sha256_hex` (NULL: any;
 * the digest is still returned).  On any failure nothing is left at
 * either name. */
#ifndef CUMULUS_DOWNLOAD_H
#define CUMULUS_DOWNLOAD_H

#include "error.h"

#define CU_E_CHECKSUM "checksum_mismatch" /* 422 */
#define CU_E_DOWNLOAD "download_failed"   /* 502 */

/* digest_out: 65 bytes, lowercase hex. */
int cu_download(const char *url, const char *bearer, const char *path, const char *sha256_hex,
                char *digest_out, long long *size_out, cu_error **err);

int cu_sha256_file(const char *path, char *digest_out, long long *size_out, cu_error **err);

#endif
