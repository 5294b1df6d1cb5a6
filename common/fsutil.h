/* fsutil.h: small file-system helpers: atomic writes (tmp + fsync +
 * rename + fsync of the directory, as crun's status.c does) and mkdir -p. */
#ifndef CUMULUS_FSUTIL_H
#define CUMULUS_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

int cu_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         cu_error **err);
/* Creates `path` and its parents with `mode`; ok if it exists. */
int cu_mkdir_p(const char *path, mode_t mode, cu_error **err);

#endif
