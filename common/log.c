/* log.c: see log.h. */
#define _GNU_SOURCE
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_program = "cumulus";
static enum cu_log_level log_level = CU_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};
static char *log_path; /* the log file, or NULL for the inherited stderr */

void cu_log_init(const char *program)
{
    log_program = program;
}

void cu_log_set_level(enum cu_log_level level)
{
    log_level = level;
}

int cu_log_set_level_name(const char *name)
{
    for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            log_level = (enum cu_log_level)i;
            return 0;
        }
    }
    return -1;
}

int cu_log_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        return -1;
    /* dup2 swaps the descriptor at once: a concurrent write goes wholly to
     * the old file or wholly to the new one. */
    int r = dup2(fd, STDERR_FILENO);
    int e = errno;
    close(fd);
    if (r < 0) {
        errno = e;
        return -1;
    }
    if (log_path != path) {
        char *copy = strdup(path);
        if (copy == NULL)
            abort();
        free(log_path);
        log_path = copy;
    }
    return 0;
}

int cu_log_reopen(void)
{
    return log_path ? cu_log_open_file(log_path) : 0;
}

const char *cu_log_file(void)
{
    return log_path;
}

int cu_log_enabled(enum cu_log_level level)
{
    return level >= log_level;
}

void cu_log(enum cu_log_level level, const char *fmt, ...)
{
    if (!cu_log_enabled(level))
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    char line[4096];
    int n = snprintf(line, sizeof(line), "%s.%03ldZ %s %s: ", stamp, (long)(tv.tv_usec / 1000),
                     log_program, level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write(2) per line so concurrent threads never interleave. */
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
