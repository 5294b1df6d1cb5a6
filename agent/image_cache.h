/* image_cache.h: the agent's cache of base images, one verified copy per
 * image under DIR/images, named by its checksum
 * (DIR/images/sha256-<hex>.<format>), shared read-only by every VM's overlay.
 *
 * A file under its final name has always been verified: downloads go to a
 * "*.part" file, are hashed while they stream, and are renamed into place
 * only when the checksum matches (fsync before the rename).  Partial files
 * left by a killed agent are removed by image_cache_open().
 *
 * Thread-safe: concurrent ensure() calls for the same image share one
 * download; different images download in parallel. */
#ifndef CUMULUS_AGENT_IMAGE_CACHE_H
#define CUMULUS_AGENT_IMAGE_CACHE_H

#include <stddef.h>

#include "error.h"

/* Error codes (beside the common ones) set by image_cache_ensure(). */
#define IMAGE_E_CHECKSUM "checksum_mismatch" /* 422: the bytes are not the image */
#define IMAGE_E_DOWNLOAD "download_failed"   /* 502: curl error, HTTP >= 400, missing file */

typedef struct image_cache image_cache;

/* Opens (creating it if needed) DIR/images and removes stale "*.part" files. */
image_cache *image_cache_open(const char *dir, cu_error **err);

/* Progress of a download: bytes done / total (total 0 when unknown).  Called
 * at most about 4 times a second from the downloading thread, and once more
 * with done == total when the image is verified and in place.  Not called
 * when the image was already cached, nor in callers that waited for another
 * thread's download. */
typedef void (*image_progress_fn)(void *opaque, long long done, long long total);

/* Makes sure the image is in the cache and returns the path of the verified
 * file (malloc'd), or NULL with *err.
 *   name:     for messages only ("debian-12")
 *   url:      http://, https:// (through libcurl) or file:/// (read here,
 *             only inside the directories image_cache_allow_files() lists)
 *   checksum: "sha256:<64 hex>" or "sha512:<128 hex>"
 *   format:   "qcow2", "raw", ...: the file name's extension
 * An image already under its checksum name is trusted without re-hashing.
 * A source down for a moment (no connection, an empty or cut reply, 429,
 * 5xx: a control plane restarting) is tried again with backoff (1, 2, 4,
 * 8, then 10 s) for up to two minutes (image_cache_set_retry_window),
 * each retry logged.  A checksum mismatch, a failed transfer
 * or a full disk leaves nothing in the cache.  fn may be NULL. */
char *image_cache_ensure(image_cache *c, const char *name, const char *url, const char *checksum,
                         const char *format, image_progress_fn fn, void *opaque, cu_error **err);

/* Credentials for some URLs (the control plane's own image files): fn
 * writes a whole header line ("Authorization: Bearer …") into buf and
 * returns 1, or returns 0 for a URL that needs none.  Such a transfer
 * follows no redirect.  Set once, before any ensure(). */
typedef int (*image_auth_fn)(void *opaque, const char *url, char *buf, size_t size);
void image_cache_set_auth(image_cache *c, image_auth_fn fn, void *opaque);

/* The directories file:/// URLs may name files in, as the agent's setting
 * image-file-dirs gives them ("DIR:DIR", image_file.h); none until set, so
 * file:// URLs are refused.  Set before any ensure(): -1 on a bad list. */
int image_cache_allow_files(image_cache *c, const char *dirs, cu_error **err);

/* How long a source down for a moment is tried again (default two
 * minutes; 0: never).  Set before any ensure(). */
void image_cache_set_retry_window(image_cache *c, long long ms);

/* Frees the cache; no ensure() may be running. */
void image_cache_close(image_cache *c);

#endif
