/* fsutil.h: small file-system helpers: atomic writes (tmp + fsync +
 * rename + fsync of the directory, as crun's status.c does) and mkdir -p. */
#ifndef CUMULUS_FSUTIL_H
#define CUMULUS_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

int cu_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         cu_error **err);
/* write(2) until all of it is written (EINTR retried); 0 or -1 with errno. */
int cu_write_all(int fd, const void *data, size_t len);
/* fsync(2) of the directory holding `path`, so a rename in it is durable. */
void cu_fsync_dir_of(const char *path);

/* Creates `path` and its parents with `mode`; ok if it exists. */
int cu_mkdir_p(const char *path, mode_t mode, cu_error **err);

#endif
