/* disk.c: qcow2 overlays and image inspection through qemu-img.  See disk.h.
 *
 * Paths reach qemu-img as single argv elements.  qemu-img does not split a
 * positional filename or the -b value on commas (only -o strings are comma
 * lists), but it does treat "proto:rest" before the first '/' as a protocol
 * and a leading '-' as an option, so relative paths get a "./" prefix. */
#define _GNU_SOURCE
#include "disk.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "cmd.h"
#include "log.h"

#define QEMU_IMG "qemu-img"
#define INFO_TIMEOUT_S 60
#define CREATE_TIMEOUT_S 120

/* The path as qemu-img must see it to take it literally. */
char *disk_literal_path(const char *path)
{
    char *s = NULL;
    if (asprintf(&s, "%s%s", path[0] == '/' ? "" : "./", path) < 0)
        abort();
    return s;
}

static int copy_field(char *dst, size_t cap, const char *src, const char *what, const char *path,
                      cu_error **err)
{
    if (strlen(src) >= cap)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "disk image '%s': %s '%s' is too long",
                            path, what, src);
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

static long long json_size(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* Fills `out` from qemu-img's JSON. */
static int parse_info(const char *text, const char *path, disk_info *out, cu_error **err)
{
    json_error_t jerr;
    json_auto_t *j = json_loads(text, 0, &jerr);
    if (!json_is_object(j))
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "disk image '%s': cannot parse qemu-img info output: %s", path,
                            j ? "not an object" : jerr.text);
    memset(out, 0, sizeof(*out));
    out->virtual_size = json_size(j, "virtual-size");
    out->actual_size = json_size(j, "actual-size");
    if (out->virtual_size < 0)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "disk image '%s': qemu-img info gave no virtual-size", path);
    const char *format = json_string_value(json_object_get(j, "format"));
    const char *backing = json_string_value(json_object_get(j, "full-backing-filename"));
    if (backing == NULL)
        backing = json_string_value(json_object_get(j, "backing-filename"));
    if (copy_field(out->format, sizeof(out->format), format ? format : "", "format", path, err) < 0)
        return -1;
    return copy_field(out->backing, sizeof(out->backing), backing ? backing : "", "backing file",
                      path, err);
}

/* qemu-img info -U [-f format]: format NULL lets qemu-img probe. */
static int info_run(const char *path, const char *format, disk_info *out, cu_error **err)
{
    _cleanup_free_ char *lit = disk_literal_path(path);
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new(QEMU_IMG);
    cu_cmd_arg(c, "info");
    cu_cmd_arg(c, "-U");
    cu_cmd_arg(c, "--output=json");
    if (format) {
        cu_cmd_arg(c, "-f");
        cu_cmd_arg(c, format);
    }
    cu_cmd_arg(c, lit);
    cu_cmd_timeout(c, INFO_TIMEOUT_S);
    if (cu_cmd_run(c, err) < 0)
        return cu_error_wrap(err, "cannot inspect disk image '%s'", path);
    return parse_info(cu_cmd_stdout(c), path, out, err);
}

int disk_info_get(const char *path, disk_info *out, cu_error **err)
{
    if (path == NULL || *path == '\0')
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "disk image: no path");
    return info_run(path, NULL, out, err);
}

static int check_create_args(const char *base, const char *base_format, const char *path,
                             long long size_gib, cu_error **err)
{
    if (base == NULL || *base == '\0' || path == NULL || *path == '\0')
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "disk: base and path are required");
    if (base_format == NULL || (strcmp(base_format, "qcow2") != 0 && strcmp(base_format, "raw")))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "image.format",
                            "disk '%s': base image format '%s' is not qcow2 or raw", path,
                            base_format ? base_format : "(null)");
    if (size_gib < 1 || size_gib > LLONG_MAX / DISK_GIB)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "disk_gib",
                            "disk '%s': size %lld GiB is out of range", path, size_gib);
    return 0;
}

/* The base must fit: an overlay smaller than its base would cut the
 * guest's filesystem short, and we never shrink. */
static int check_base_fits(const char *base, const char *format, const char *path,
                           long long size_gib, cu_error **err)
{
    disk_info bi;
    if (info_run(base, format, &bi, err) < 0)
        return cu_error_wrap(err, "cannot create disk '%s'", path);
    if (bi.virtual_size <= size_gib * DISK_GIB)
        return 0;
    long long need = (bi.virtual_size + DISK_GIB - 1) / DISK_GIB;
    return cu_error_set(err, 400, CU_E_INVALID_FIELD, "disk_gib",
                        "image '%s' needs at least %lld GiB: its virtual size is %lld bytes, the "
                        "requested disk of %lld GiB is too small",
                        base, need, bi.virtual_size, size_gib);
}

static int run_create(const char *base, const char *format, const char *tmp, long long size_gib,
                      cu_error **err)
{
    _cleanup_free_ char *lit = disk_literal_path(tmp);
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new(QEMU_IMG);
    const char *fixed[] = {"create", "-q", "-f", "qcow2", "-F", format, "-b", base, lit, NULL};
    for (const char *const *a = fixed; *a; a++)
        cu_cmd_arg(c, *a);
    cu_cmd_argf(c, "%lldG", size_gib);
    cu_cmd_timeout(c, CREATE_TIMEOUT_S);
    return cu_cmd_run(c, err);
}

/* qemu-img does not fsync what it creates; the rename must not outrun it. */
static int fsync_path(const char *path, int flags, cu_error **err)
{
    _cleanup_close_ int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        return cu_error_errno(err, errno, "cannot sync '%s'", path);
    return 0;
}

/* Renames without replacing: a disk that appeared meanwhile is kept. */
static int publish(const char *tmp, const char *path, cu_error **err)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno == EEXIST)
        return cu_error_set(err, 409, CU_E_EXISTS, NULL, "disk '%s' already exists", path);
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return cu_error_errno(err, errno, "cannot rename '%s' to '%s'", tmp, path);
    /* The file system cannot refuse atomically: link does (EEXIST). */
    if (link(tmp, path) < 0)
        return errno == EEXIST
                   ? cu_error_set(err, 409, CU_E_EXISTS, NULL, "disk '%s' already exists", path)
                   : cu_error_errno(err, errno, "cannot link '%s' to '%s'", tmp, path);
    unlink(tmp);
    return 0;
}

static int create_at_tmp(const char *base, const char *format, const char *path, long long size_gib,
                         cu_error **err)
{
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp", path) < 0)
        abort();
    /* A leftover from a crash is half-made by definition. */
    if (unlink(tmp) < 0 && errno != ENOENT)
        return cu_error_errno(err, errno, "cannot remove stale '%s'", tmp);
    if (run_create(base, format, tmp, size_gib, err) < 0 || fsync_path(tmp, O_RDONLY, err) < 0 ||
        publish(tmp, path, err) < 0) {
        unlink(tmp);
        return cu_error_wrap(err, "cannot create disk '%s' on '%s'", path, base);
    }
    _cleanup_free_ char *copy = strdup(path);
    if (copy == NULL)
        abort();
    fsync_path(dirname(copy), O_RDONLY | O_DIRECTORY, NULL);
    return 0;
}

int disk_create_overlay(const char *base, const char *base_format, const char *path,
                        long long size_gib, cu_error **err)
{
    if (check_create_args(base, base_format, path, size_gib, err) < 0)
        return -1;
    _cleanup_free_ char *real_base = realpath(base, NULL);
    if (real_base == NULL)
        return cu_error_errno(err, errno, "cannot create disk '%s': base image '%s'", path, base);
    struct stat st;
    if (lstat(path, &st) == 0)
        return cu_error_set(err, 409, CU_E_EXISTS, NULL, "disk '%s' already exists", path);
    if (check_base_fits(real_base, base_format, path, size_gib, err) < 0)
        return -1;
    if (create_at_tmp(real_base, base_format, path, size_gib, err) < 0)
        return -1;
    log_info("created disk '%s' (%lld GiB) on '%s'", path, size_gib, real_base);
    return 0;
}
