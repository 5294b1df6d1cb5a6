/* files_dir.c: see files_dir.h.  Reads where the running binary is; never
 * looks into the source or the build tree by a compiled-in path. */
#define _GNU_SOURCE
#include "files_dir.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __APPLE__
#include <mach-o/dyld.h>
#endif

#include "cleanup.h"

/* The directory of the running binary, or NULL. */
static char *binary_dir(void)
{
    char path[PATH_MAX] = "";
#ifdef __APPLE__
    uint32_t size = sizeof(path);
    if (_NSGetExecutablePath(path, &size) != 0)
        return NULL;
#else
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0)
        return NULL;
    path[n] = '\0';
#endif
    char *real = realpath(path, NULL);
    char *slash = real ? strrchr(real, '/') : NULL;
    if (slash == NULL) {
        free(real);
        return NULL;
    }
    *(slash == real ? slash + 1 : slash) = '\0';
    return real;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

char *webui_files_dir_default(void)
{
    _cleanup_free_ char *bin = binary_dir();
    const char *relative[] = {"../share/cumulus/webui", CUMULUS_WEBUI_BIN_TO_FILES};
    for (size_t i = 0; bin != NULL && i < sizeof(relative) / sizeof(relative[0]); i++) {
        char *dir = NULL;
        if (asprintf(&dir, "%s/%s", bin, relative[i]) < 0)
            abort();
        char *real = realpath(dir, NULL);
        free(dir);
        if (real != NULL && is_dir(real))
            return real;
        free(real);
    }
    return xstrdup(CUMULUS_WEBUI_INSTALLED_FILES_DIR);
}
