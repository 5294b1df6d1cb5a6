/* image_file.c: see image_file.h. */
#define _GNU_SOURCE
#include "image_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "image_cache.h"

#define SETTING "image-file-dirs"

static char *xstrndup(const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (d == NULL)
        abort();
    return d;
}

static void push(char ***list, size_t n, char *item)
{
    char **grown = realloc(*list, (n + 1) * sizeof(**list));
    if (grown == NULL)
        abort();
    grown[n] = item;
    *list = grown;
}

/* One entry of the setting: absolute, resolvable, a directory. */
static int add_dir(image_file_dirs *d, const char *entry, size_t len, cu_error **err)
{
    _cleanup_free_ char *given = xstrndup(entry, len);
    while (len > 1 && given[len - 1] == '/')
        given[--len] = '\0';
    if (given[0] != '/')
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            SETTING " must list absolute paths of directories, got '%s'", given);
    char *real = realpath(given, NULL);
    struct stat st;
    if (real == NULL || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
        int e = real ? ENOTDIR : errno;
        free(real);
        return cu_error_set(err, 400, CU_E_CONFIG, NULL, SETTING ": '%s' is not a directory: %s",
                            given, strerror(e));
    }
    push(&d->given, d->n, steal_ptr(&given));
    push(&d->real, d->n, real);
    d->n++;
    return 0;
}

int image_file_dirs_parse(const char *setting, image_file_dirs *out, cu_error **err)
{
    *out = (image_file_dirs){0};
    for (const char *p = setting ? setting : ""; *p;) {
        size_t len = strcspn(p, ":");
        if (len > 0 && add_dir(out, p, len, err) < 0) {
            image_file_dirs_clear(out);
            return -1;
        }
        p += len + (p[len] == ':');
    }
    return 0;
}

void image_file_dirs_clear(image_file_dirs *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->given[i]);
        free(d->real[i]);
    }
    free(d->given);
    free(d->real);
    *d = (image_file_dirs){0};
}

int image_file_is_url(const char *url)
{
    return strncasecmp(url, "file:", 5) == 0;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* file:///PATH or file://localhost/PATH -> PATH with %XX decoded
 * (malloc'd), or NULL: another host, no path, a bad escape or a NUL. */
static char *url_path(const char *url)
{
    const char *p = url + strlen("file:");
    if (strncmp(p, "//", 2) != 0)
        return NULL;
    p += 2;
    if (strncasecmp(p, "localhost/", 10) == 0)
        p += 9;
    if (*p != '/')
        return NULL;
    char *out = xstrndup(p, strlen(p)), *o = out;
    for (; *p; p++) {
        int hi = 0, lo = 0;
        if (*p == '%' && ((hi = hex_value(p[1])) < 0 || (lo = hex_value(p[2])) < 0)) {
            free(out);
            return NULL;
        }
        *o++ = *p == '%' ? (char)(hi * 16 + lo) : *p;
        p += *p == '%' ? 2 : 0;
        if (o[-1] == '\0') {
            free(out);
            return NULL;
        }
    }
    *o = '\0';
    return out;
}

/* `path` is `dir` itself or lies below it. */
static int below(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    if (strcmp(dir, "/") == 0)
        return path[0] == '/';
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static int allowed(const image_file_dirs *d, char *const *dirs, const char *path)
{
    for (size_t i = 0; i < d->n; i++)
        if (below(dirs[i], path))
            return 1;
    return 0;
}

static int refuse(const image_file_dirs *d, const char *name, const char *url, const char *real,
                  cu_error **err)
{
    if (d->n == 0)
        return cu_error_set(err, 403, CU_E_FORBIDDEN, "url",
                            "image '%s': '%s': this host reads no image from a file:// URL (its "
                            "agent's setting " SETTING " lists no directory)",
                            name, url);
    return cu_error_set(err, 403, CU_E_FORBIDDEN, "url",
                        "image '%s': '%s'%s%s%s is outside the directories this host's agent "
                        "reads images from (its setting " SETTING ")",
                        name, url, real ? " (really '" : "", real ? real : "", real ? "')" : "");
}

/* The real path of what fd is open on, or NULL where it cannot be told. */
static char *fd_path(int fd)
{
    char buf[PATH_MAX] = "";
#if defined(F_GETPATH)
    if (fcntl(fd, F_GETPATH, buf) < 0)
        return NULL;
    return xstrndup(buf, strlen(buf));
#else
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, sizeof(buf) - 1);
    return n > 0 ? xstrndup(buf, (size_t)n) : NULL;
#endif
}

int image_file_open(const image_file_dirs *d, const char *name, const char *url, long long *size,
                    cu_error **err)
{
    _cleanup_free_ char *path = url_path(url);
    if (path == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "url",
                            "image '%s': '%s' is not a file:/// URL of a path on this host", name,
                            url);
    _cleanup_free_ char *real = realpath(path, NULL);
    if (real == NULL) { /* say why only of a path that would be allowed */
        int e = errno;
        if (!allowed(d, d->given, path) && !allowed(d, d->real, path))
            return refuse(d, name, url, NULL, err);
        return cu_error_set(err, 502, IMAGE_E_DOWNLOAD, NULL,
                            "image '%s': downloading '%s' failed: cannot open '%s': %s", name, url,
                            path, strerror(e));
    }
    if (!allowed(d, d->real, real))
        return refuse(d, name, url, strcmp(real, path) != 0 ? real : NULL, err);
    /* O_NONBLOCK: a FIFO put there must not hang the open. */
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = fd < 0 ? errno : EINVAL;
        if (fd >= 0)
            close(fd);
        return cu_error_set(err, 502, IMAGE_E_DOWNLOAD, NULL,
                            "image '%s': downloading '%s' failed: cannot open '%s': %s", name, url,
                            real, e == EINVAL ? "not a regular file" : strerror(e));
    }
    /* A directory on the way swapped for a symlink since realpath()? */
    _cleanup_free_ char *opened = fd_path(fd);
    if (opened && !allowed(d, d->real, opened)) {
        close(fd);
        return refuse(d, name, url, opened, err);
    }
    *size = (long long)st.st_size;
    return fd;
}
