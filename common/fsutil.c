/* fsutil.c: see fsutil.h. */
#define _GNU_SOURCE
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

int cu_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void cu_fsync_dir_of(const char *path)
{
    _cleanup_free_ char *copy = strdup(path);
    if (copy == NULL)
        return;
    _cleanup_close_ int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
}

int cu_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         cu_error **err)
{
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
        abort();
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return cu_error_errno(err, errno, "cannot create '%s'", tmp);
    if (fchmod(fd, mode) < 0 || cu_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return cu_error_errno(err, e, "cannot write '%s'", tmp);
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return cu_error_errno(err, e, "cannot rename '%s' to '%s'", tmp, path);
    }
    cu_fsync_dir_of(path);
    return 0;
}

int cu_mkdir_p(const char *path, mode_t mode, cu_error **err)
{
    _cleanup_free_ char *copy = strdup(path);
    if (copy == NULL)
        abort();
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return cu_error_errno(err, errno, "cannot create directory '%s'", copy);
        *p = '/';
    }
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
        return cu_error_errno(err, errno, "cannot create directory '%s'", copy);
    return 0;
}
