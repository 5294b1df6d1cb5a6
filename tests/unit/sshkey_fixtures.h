/* sshkey_fixtures.h: what the sshkey tests share (test_sshkey.c,
 * test_sshkey_refusals.c, test_sshkey_wire_refusals.c): real keys made by
 * ssh-keygen in a temporary directory (group_setup/group_teardown) and read
 * back, ssh-keygen's own fingerprints, SSH wire strings built by hand, and
 * the assertions on sshkey_parse()'s result.  ssh-keygen runs from an argv
 * array through posix_spawnp, never through a shell.  Static inline helpers
 * only (each test file is its own executable); include it after defining
 * _GNU_SOURCE. */
#ifndef CUMULUS_TEST_SSHKEY_FIXTURES_H
#define CUMULUS_TEST_SSHKEY_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "error.h"
#include "sshkey.h"

extern char **environ;

/* ---- running ssh-keygen ----------------------------------------------------- */

static char *tmp_dir; /* made by group_setup, removed by group_teardown */

static inline char *tmp_path(const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", tmp_dir, name) > 0);
    return p;
}

static inline void drain(int fd, char *out, size_t size)
{
    char scratch[512];
    size_t n = 0;
    for (;;) {
        char *dst = n + 1 < size ? out + n : scratch;
        size_t room = n + 1 < size ? size - 1 - n : sizeof(scratch);
        ssize_t r = read(fd, dst, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (dst == out + n)
            n += (size_t)r;
    }
    out[n] = '\0';
}

/* Runs argv with stdin from /dev/null and stdout into `out` (or /dev/null
 * when out is NULL); returns the exit status, or -1. */
static inline int run(char *const argv[], char *out, size_t size)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out != NULL)
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    else
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc == 0 && out != NULL)
        drain(fds[0], out, size);
    close(fds[0]);
    if (rc != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static inline void keygen(const char *name, const char *type, const char *bits, const char *comment)
{
    _cleanup_free_ char *path = tmp_path(name);
    char *argv[16] = {"ssh-keygen", "-q", "-t", (char *)type, "-N", "", "-C", (char *)comment,
                      "-f", path};
    if (bits != NULL) {
        argv[10] = "-b";
        argv[11] = (char *)bits;
    }
    assert_int_equal(run(argv, NULL, 0), 0);
}

struct keygen_fp {
    int bits;
    char fingerprint[128];
    char comment[256];
    char label[32]; /* "ED25519", "RSA", "ECDSA-SK", ... */
};

/* Parses `ssh-keygen -lf FILE`: "BITS SHA256:FP COMMENT (LABEL)". */
static inline void keygen_fingerprint(const char *file, struct keygen_fp *fp)
{
    char out[1024];
    char *argv[] = {"ssh-keygen", "-lf", (char *)file, NULL};
    assert_int_equal(run(argv, out, sizeof(out)), 0);
    char *end = NULL;
    fp->bits = (int)strtol(out, &end, 10);
    assert_true(end != out && *end == ' ');
    char *fpr = end + 1, *sp = strchr(fpr, ' '), *paren = strrchr(out, '(');
    assert_non_null(sp);
    assert_non_null(paren);
    assert_true(paren > sp && paren[-1] == ' ');
    snprintf(fp->fingerprint, sizeof(fp->fingerprint), "%.*s", (int)(sp - fpr), fpr);
    snprintf(fp->comment, sizeof(fp->comment), "%.*s", (int)(paren - 1 - (sp + 1)), sp + 1);
    snprintf(fp->label, sizeof(fp->label), "%.*s", (int)strcspn(paren + 1, ")"), paren + 1);
}

static inline char *read_text(const char *path)
{
    _cleanup_fclose_ FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    assert_true(n > 0 && n < 65535);
    return buf;
}

static inline char *read_tmp(const char *name)
{
    _cleanup_free_ char *path = tmp_path(name);
    return read_text(path);
}

/* The .pub line of a key made by group_setup. */
static inline char *read_pub(const char *name)
{
    _cleanup_free_ char *file = NULL;
    assert_true(asprintf(&file, "%s.pub", name) > 0);
    return read_tmp(file);
}

static inline void write_tmp(const char *name, const char *text)
{
    _cleanup_free_ char *path = tmp_path(name);
    _cleanup_fclose_ FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
}

/* ---- building keys by hand ---------------------------------------------------- */

struct blob {
    unsigned char d[8192];
    size_t n;
};

static inline void put_raw(struct blob *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof(b->d));
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static inline void put_string(struct blob *b, const void *p, size_t n)
{
    unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    put_raw(b, len, 4);
    put_raw(b, p, n);
}

static inline void put_cstr(struct blob *b, const char *s)
{
    put_string(b, s, strlen(s));
}

/* The P-256 base point G, uncompressed: a valid public point. */
static const unsigned char p256_g[65] = {
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4,
    0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8,
    0x98, 0xc2, 0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a,
    0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40,
    0x68, 0x37, 0xbf, 0x51, 0xf5};

static const unsigned char ed_key[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                         11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                         22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static inline char *b64(const unsigned char *d, size_t n)
{
    char *s = malloc(4 * ((n + 2) / 3) + 1);
    assert_non_null(s);
    EVP_EncodeBlock((unsigned char *)s, d, (int)n);
    return s;
}

static inline char *key_line(const char *type, const struct blob *b, const char *comment)
{
    _cleanup_free_ char *data = b64(b->d, b->n);
    char *line = NULL;
    assert_true(asprintf(&line, "%s %s%s%s", type, data, comment ? " " : "",
                         comment ? comment : "") > 0);
    return line;
}

/* Decodes the base64 field of a .pub line into b (OpenSSL, not the module). */
static inline void blob_of_line(const char *line, struct blob *b)
{
    const char *p = strchr(line, ' ') + 1;
    size_t n = strcspn(p, " \n");
    int len = EVP_DecodeBlock(b->d, (const unsigned char *)p, (int)n);
    assert_true(len > 0);
    b->n = (size_t)len - (p[n - 1] == '=') - (p[n - 2] == '=');
}

static inline void sk_ed25519_blob(struct blob *b, const char *app)
{
    b->n = 0;
    put_cstr(b, "sk-ssh-ed25519@openssh.com");
    put_string(b, ed_key, sizeof(ed_key));
    put_cstr(b, app);
}

static inline void sk_ecdsa_blob(struct blob *b, const char *app)
{
    b->n = 0;
    put_cstr(b, "sk-ecdsa-sha2-nistp256@openssh.com");
    put_cstr(b, "nistp256");
    put_string(b, p256_g, sizeof(p256_g));
    put_cstr(b, app);
}

/* ---- checking results ---------------------------------------------------------- */

static inline void check_refused(const char *text, const char *needle, const char *file, int line)
{
    sshkey_info k = {0};
    _cleanup_error_ cu_error *err = NULL;
    int rc = sshkey_parse(text, &k, &err);
    const char *msg = err && err->message ? err->message : "(none)";
    int ok = rc == -1 && err != NULL && err->status == 400 &&
             strcmp(err->code, CU_E_INVALID_FIELD) == 0 && err->field != NULL &&
             strcmp(err->field, "public_key") == 0 && strcasestr(msg, needle) != NULL &&
             k.type == NULL && k.fingerprint == NULL && k.normalized == NULL;
    for (const char *p = msg; ok && *p; p++)
        ok = (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f;
    if (!ok) {
        print_error("expected a 400 invalid_field 'public_key' error mentioning '%s', got rc %d, "
                    "message '%s'\n", needle, rc, msg);
        _fail(file, line);
    }
}
#define assert_refused(text, needle) check_refused((text), (needle), __FILE__, __LINE__)

static inline void parse_ok(const char *text, sshkey_info *k)
{
    _cleanup_error_ cu_error *err = NULL;
    int rc = sshkey_parse(text, k, &err);
    if (rc != 0)
        print_error("refused: %s\n", err ? err->message : "(no error)");
    assert_int_equal(rc, 0);
    assert_null(err);
}

static inline char *trimmed(const char *s)
{
    s += strspn(s, " \t\r\n");
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        n--;
    return strndup(s, n);
}

/* ---- fixtures ---------------------------------------------------------------- */

static inline int group_setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    if (asprintf(&tmp_dir, "%s/cumulus-test-sshkey.XXXXXX", base) < 0 || !mkdtemp(tmp_dir))
        return -1;
    keygen("ed25519", "ed25519", NULL, "alice@laptop");
    keygen("rsa2048", "rsa", "2048", "bob@desk work key");
    keygen("rsa3072", "rsa", "3072", "");
    keygen("rsa1024", "rsa", "1024", "old@box");
    keygen("ecdsa256", "ecdsa", "256", "carol@phone");
    keygen("ecdsa384", "ecdsa", "384", "dave@ci");
    keygen("ecdsa521", "ecdsa", "521", "erin@vault");
    return 0;
}

static inline int group_teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmp_dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    int rc = rmdir(tmp_dir);
    free(tmp_dir);
    return rc;
}

#endif
