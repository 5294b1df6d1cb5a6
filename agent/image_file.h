/* image_file.h: images a host already has, named by file:/// URLs, and the
 * directories they may be read from (the agent's image-file-dirs).
 *
 * Whoever may order a VM (the control plane, so any admin) names its
 * image's URL.  Without a bound, a file:/// URL would have the agent read
 * any file it can into its image cache: /etc/shadow, a token, another VM's
 * disk.  A file is read only when the real path of the file actually
 * opened (symlinks and ".." resolved, checked again on the open
 * descriptor against a swap in between) lies inside one of the listed
 * directories; with none listed (the default) file:// URLs are refused.
 *
 * Owns: parsing the setting, opening such a file.  Must not: read the
 * file (image_cache.c streams and verifies it) nor follow a URL elsewhere. */
#ifndef CUMULUS_AGENT_IMAGE_FILE_H
#define CUMULUS_AGENT_IMAGE_FILE_H

#include <stddef.h>

#include "error.h"

typedef struct image_file_dirs {
    char **given; /* as the setting names them, without a trailing '/' */
    char **real;  /* the same, resolved (realpath) */
    size_t n;
} image_file_dirs;

/* "DIR:DIR:...": absolute paths of existing directories, ':' between them
 * (empty entries are skipped); NULL or "" lists none.  -1 with *err naming
 * the setting and the entry at fault. */
int image_file_dirs_parse(const char *setting, image_file_dirs *out, cu_error **err);
void image_file_dirs_clear(image_file_dirs *d);

/* 1 for a file: URL (any case), which image_file_open() reads; else 0. */
int image_file_is_url(const char *url);

/* Opens the file a file:/// (or file://localhost/) URL names, percent-
 * escapes decoded, for reading: a descriptor, with its size in *size, or
 * -1 with *err: 400 for a URL that names no local path, 403 for a file
 * outside the allowed directories (or none allowed), 502 (download_failed,
 * as a source that cannot be read) for one inside that cannot be opened or
 * is not a regular file.  `name` is the image's, for messages. */
int image_file_open(const image_file_dirs *d, const char *name, const char *url, long long *size,
                    cu_error **err);

#endif
