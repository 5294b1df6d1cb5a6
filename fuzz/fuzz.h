/* fuzz.h: what every harness in fuzz/ defines (libFuzzer's entry points)
 * and the small helpers they share.  A harness calls the real parser with
 * the input, frees everything it got back (LeakSanitizer runs) and never
 * touches the network or spawns a process.
 *
 * The same harness links either libFuzzer (-fsanitize=fuzzer, the
 * fuzz_<name> targets of a CUMULUS_FUZZ build) or replay_main.c, which runs
 * it over every file of its corpus (the unit.fuzz_replay_<name> tests). */
#ifndef CUMULUS_FUZZ_H
#define CUMULUS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: once, before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input cut into fields: fuzz_next_line() takes the bytes up to the
 * next '\n' (or the end) as a malloc'd NUL-terminated string; fuzz_rest()
 * what is left.  Embedded NULs stay (the C string simply ends there), as
 * they would reach a C API from the network. */
typedef struct fuzz_input {
    const uint8_t *p;
    size_t left;
} fuzz_input;

static inline char *fuzz_take(fuzz_input *in, size_t n, size_t skip)
{
    char *s = malloc(n + 1);
    if (s == NULL)
        abort();
    memcpy(s, in->p, n);
    s[n] = '\0';
    in->p += n + skip;
    in->left -= n + skip;
    return s;
}

static inline char *fuzz_next_line(fuzz_input *in)
{
    const uint8_t *nl = memchr(in->p, '\n', in->left);
    return nl ? fuzz_take(in, (size_t)(nl - in->p), 1) : fuzz_take(in, in->left, 0);
}

static inline char *fuzz_rest(fuzz_input *in)
{
    return fuzz_take(in, in->left, 0);
}

/* A temporary file holding exactly `data`, for parsers that take a path
 * (some open it with O_NOFOLLOW, so no /proc/self/fd link).  Made once per
 * process under $TMPDIR or /tmp and removed at exit; rewritten on each
 * call.  Its path, or NULL on failure. */
static char fuzz_file_path[256];

static inline void fuzz_file_remove(void)
{
    unlink(fuzz_file_path);
}

static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_file_path, sizeof(fuzz_file_path), "%s/cumulus-fuzz-XXXXXX",
                 tmp && tmp[0] == '/' ? tmp : "/tmp");
        if ((fd = mkstemp(fuzz_file_path)) < 0)
            return NULL;
        atexit(fuzz_file_remove);
    }
    if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        return NULL;
    return fuzz_file_path;
}

/* A failed invariant: abort, which both libFuzzer and the replay driver
 * report as a crash with this message. */
#define FUZZ_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

#endif
