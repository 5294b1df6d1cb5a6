/* test_sshkey.c: unit tests for controlplane/sshkey.c.
 *
 * Real keys are generated at run time with ssh-keygen in a temporary
 * directory and every result is compared with what `ssh-keygen -lf` prints.
 * Security-key (sk-) keys and malformed keys are built here from SSH wire
 * strings; their fingerprints are checked against a SHA-256 computed
 * independently with libcrypto.  ssh-keygen runs from an argv array through
 * posix_spawnp, never through a shell. */
#define _GNU_SOURCE
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

static char *tmp_path(const char *name)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", tmp_dir, name) > 0);
    return p;
}

static void drain(int fd, char *out, size_t size)
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
static int run(char *const argv[], char *out, size_t size)
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

static void keygen(const char *name, const char *type, const char *bits, const char *comment)
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
static void keygen_fingerprint(const char *file, struct keygen_fp *fp)
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

static char *read_text(const char *path)
{
    _cleanup_fclose_ FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    assert_true(n > 0 && n < 65535);
    return buf;
}

static char *read_tmp(const char *name)
{
    _cleanup_free_ char *path = tmp_path(name);
    return read_text(path);
}

/* The .pub line of a key made by group_setup. */
static char *read_pub(const char *name)
{
    _cleanup_free_ char *file = NULL;
    assert_true(asprintf(&file, "%s.pub", name) > 0);
    return read_tmp(file);
}

static void write_tmp(const char *name, const char *text)
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

static void put_raw(struct blob *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof(b->d));
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put_string(struct blob *b, const void *p, size_t n)
{
    unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    put_raw(b, len, 4);
    put_raw(b, p, n);
}

static void put_cstr(struct blob *b, const char *s)
{
    put_string(b, s, strlen(s));
}

/* An mpint of exactly `bits` bits (leading 0x00 when the top bit is set). */
static void put_modulus(struct blob *b, int bits, int odd)
{
    unsigned char v[2100] = {0};
    size_t nbytes = (size_t)(bits + 7) / 8, top = (size_t)bits - 8 * (nbytes - 1);
    size_t lead = top == 8 ? 1 : 0;
    memset(v + lead, 0xa5, nbytes);
    v[lead] = (unsigned char)((1u << (top - 1)) | ((1u << (top - 1)) - 1));
    v[lead + nbytes - 1] = odd ? 0x37 : 0x36;
    put_string(b, v, nbytes + lead);
}

static const unsigned char e65537[] = {0x01, 0x00, 0x01};

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

static char *b64(const unsigned char *d, size_t n)
{
    char *s = malloc(4 * ((n + 2) / 3) + 1);
    assert_non_null(s);
    EVP_EncodeBlock((unsigned char *)s, d, (int)n);
    return s;
}

static char *key_line(const char *type, const struct blob *b, const char *comment)
{
    _cleanup_free_ char *data = b64(b->d, b->n);
    char *line = NULL;
    assert_true(asprintf(&line, "%s %s%s%s", type, data, comment ? " " : "",
                         comment ? comment : "") > 0);
    return line;
}

/* Decodes the base64 field of a .pub line into b (OpenSSL, not the module). */
static void blob_of_line(const char *line, struct blob *b)
{
    const char *p = strchr(line, ' ') + 1;
    size_t n = strcspn(p, " \n");
    int len = EVP_DecodeBlock(b->d, (const unsigned char *)p, (int)n);
    assert_true(len > 0);
    b->n = (size_t)len - (p[n - 1] == '=') - (p[n - 2] == '=');
}

/* "SHA256:" + unpadded base64 of SHA-256(blob), computed independently. */
static void expected_fingerprint(const struct blob *b, char out[64])
{
    unsigned char md[32];
    unsigned int md_len = 0;
    assert_int_equal(EVP_Digest(b->d, b->n, md, &md_len, EVP_sha256(), NULL), 1);
    assert_int_equal(md_len, 32);
    strcpy(out, "SHA256:");
    EVP_EncodeBlock((unsigned char *)out + 7, md, 32);
    out[strcspn(out, "=")] = '\0';
}

static void sk_ed25519_blob(struct blob *b, const char *app)
{
    b->n = 0;
    put_cstr(b, "sk-ssh-ed25519@openssh.com");
    put_string(b, ed_key, sizeof(ed_key));
    put_cstr(b, app);
}

static void sk_ecdsa_blob(struct blob *b, const char *app)
{
    b->n = 0;
    put_cstr(b, "sk-ecdsa-sha2-nistp256@openssh.com");
    put_cstr(b, "nistp256");
    put_string(b, p256_g, sizeof(p256_g));
    put_cstr(b, app);
}

/* ---- checking results ---------------------------------------------------------- */

static void check_refused(const char *text, const char *needle, const char *file, int line)
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

static void parse_ok(const char *text, sshkey_info *k)
{
    _cleanup_error_ cu_error *err = NULL;
    int rc = sshkey_parse(text, k, &err);
    if (rc != 0)
        print_error("refused: %s\n", err ? err->message : "(no error)");
    assert_int_equal(rc, 0);
    assert_null(err);
}

static char *trimmed(const char *s)
{
    s += strspn(s, " \t\r\n");
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        n--;
    return strndup(s, n);
}

/* Parses NAME.pub and compares everything with `ssh-keygen -lf NAME.pub`. */
static void check_against_keygen(const char *name, const char *type, int bits,
                                 const char *comment, const char *label)
{
    _cleanup_free_ char *pub_name = NULL;
    assert_true(asprintf(&pub_name, "%s.pub", name) > 0);
    _cleanup_free_ char *path = tmp_path(pub_name);
    _cleanup_free_ char *text = read_text(path);
    _cleanup_free_ char *line = trimmed(text);
    struct keygen_fp want;
    keygen_fingerprint(path, &want);
    _cleanup_sshkey_info_ sshkey_info k = {0};
    parse_ok(text, &k);
    assert_string_equal(k.type, type);
    assert_string_equal(k.fingerprint, want.fingerprint);
    assert_int_equal(k.bits, want.bits);
    assert_int_equal(k.bits, bits);
    assert_string_equal(want.label, label);
    assert_string_equal(k.comment, comment);
    assert_string_equal(*comment ? comment : "no comment", want.comment);
    assert_string_equal(k.normalized, line);
}

/* ---- fixtures ---------------------------------------------------------------- */

static int group_setup(void **state)
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

static int group_teardown(void **state)
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

/* ---- good keys ---------------------------------------------------------------- */

static void test_keygen_ed25519(void **state)
{
    (void)state;
    check_against_keygen("ed25519", "ssh-ed25519", 256, "alice@laptop", "ED25519");
}

static void test_keygen_rsa_2048(void **state)
{
    (void)state;
    check_against_keygen("rsa2048", "ssh-rsa", 2048, "bob@desk work key", "RSA");
}

static void test_keygen_rsa_3072_no_comment(void **state)
{
    (void)state; /* ssh-keygen -C "" writes "ssh-rsa AAAA... \n": the space goes */
    check_against_keygen("rsa3072", "ssh-rsa", 3072, "", "RSA");
}

static void test_keygen_ecdsa_256(void **state)
{
    (void)state;
    check_against_keygen("ecdsa256", "ecdsa-sha2-nistp256", 256, "carol@phone", "ECDSA");
}

static void test_keygen_ecdsa_384(void **state)
{
    (void)state;
    check_against_keygen("ecdsa384", "ecdsa-sha2-nistp384", 384, "dave@ci", "ECDSA");
}

static void test_keygen_ecdsa_521(void **state)
{
    (void)state;
    check_against_keygen("ecdsa521", "ecdsa-sha2-nistp521", 521, "erin@vault", "ECDSA");
}

/* A hand-built sk- key: fingerprint from our own SHA-256, and ssh-keygen
 * (which parses sk- public keys without any hardware) agrees. */
static void check_sk(const char *type, const struct blob *b, const char *label)
{
    _cleanup_free_ char *line = key_line(type, b, "me@yubikey");
    char want[64];
    expected_fingerprint(b, want);
    _cleanup_sshkey_info_ sshkey_info k = {0};
    parse_ok(line, &k);
    assert_string_equal(k.type, type);
    assert_string_equal(k.fingerprint, want);
    assert_int_equal(k.bits, 256);
    assert_string_equal(k.comment, "me@yubikey");
    assert_string_equal(k.normalized, line);

    struct keygen_fp kg;
    write_tmp("sk.pub", line);
    _cleanup_free_ char *path = tmp_path("sk.pub");
    keygen_fingerprint(path, &kg);
    assert_string_equal(kg.fingerprint, want);
    assert_int_equal(kg.bits, 256);
    assert_string_equal(kg.label, label);
}

static void test_sk_ed25519(void **state)
{
    (void)state;
    struct blob b;
    sk_ed25519_blob(&b, "ssh:");
    check_sk("sk-ssh-ed25519@openssh.com", &b, "ED25519-SK");
    sk_ed25519_blob(&b, "ssh:cumulus");
    check_sk("sk-ssh-ed25519@openssh.com", &b, "ED25519-SK");
}

static void test_sk_ecdsa(void **state)
{
    (void)state;
    struct blob b;
    sk_ecdsa_blob(&b, "ssh:");
    check_sk("sk-ecdsa-sha2-nistp256@openssh.com", &b, "ECDSA-SK");
}

/* Also a known answer that does not depend on any tool at run time. */
static void test_sk_ed25519_known_answer(void **state)
{
    (void)state;
    struct blob b;
    sk_ed25519_blob(&b, "ssh:");
    _cleanup_free_ char *line = key_line("sk-ssh-ed25519@openssh.com", &b, "me@yubikey");
    _cleanup_sshkey_info_ sshkey_info k = {0};
    parse_ok(line, &k);
    assert_string_equal(k.fingerprint, "SHA256:/p0CbeE3dk2SyW1OXXsThGc12ezDVD8eGw2/vtztDfk");
}

static void test_whitespace_and_normalized(void **state)
{
    (void)state;
    _cleanup_free_ char *pub = read_pub("ed25519");
    _cleanup_free_ char *line = trimmed(pub);
    char *data = strchr(line, ' ') + 1;
    data[strcspn(data, " ")] = '\0';
    /* before the type, between the fields, after the comment */
    const char *spaces[][4] = {{"  ", " ", " ", "\n"},
                               {"", "\t", "\t", "\r\n"},
                               {"\n", "   ", " \t ", "  \t"},
                               {"", " ", " ", ""}};
    for (size_t i = 0; i < sizeof(spaces) / sizeof(spaces[0]); i++) {
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ char *want = NULL;
        assert_true(asprintf(&text, "%sssh-ed25519%s%s%salice@laptop%s", spaces[i][0],
                             spaces[i][1], data, spaces[i][2], spaces[i][3]) > 0);
        assert_true(asprintf(&want, "ssh-ed25519 %s alice@laptop", data) > 0);
        _cleanup_sshkey_info_ sshkey_info k = {0};
        parse_ok(text, &k);
        assert_string_equal(k.normalized, want);
        assert_string_equal(k.comment, "alice@laptop");
    }
    /* inside the comment, spaces and UTF-8 stay as they are */
    _cleanup_free_ char *text = NULL;
    assert_true(asprintf(&text, "ssh-ed25519 %s  José  ✓ clé \n", data) > 0);
    _cleanup_sshkey_info_ sshkey_info k = {0};
    parse_ok(text, &k);
    assert_string_equal(k.comment, "José  ✓ clé");
}

static void test_no_comment(void **state)
{
    (void)state;
    _cleanup_free_ char *pub = read_pub("ecdsa256");
    _cleanup_free_ char *line = trimmed(pub);
    char *data = strchr(line, ' ') + 1;
    data[strcspn(data, " ")] = '\0'; /* "TYPE BASE64" */
    _cleanup_free_ char *text = NULL;
    assert_true(asprintf(&text, "%s  \n", line) > 0);
    _cleanup_sshkey_info_ sshkey_info k = {0};
    parse_ok(text, &k);
    assert_string_equal(k.comment, "");
    assert_string_equal(k.normalized, line);
}

static void test_info_clear(void **state)
{
    (void)state;
    _cleanup_free_ char *pub = read_pub("ed25519");
    sshkey_info k = {0};
    parse_ok(pub, &k);
    sshkey_info_clear(&k);
    assert_null(k.type);
    assert_null(k.comment);
    assert_null(k.fingerprint);
    assert_null(k.normalized);
    assert_int_equal(k.bits, 0);
    sshkey_info_clear(&k);
    sshkey_info_clear(NULL);
}

/* ---- refusals: the text ------------------------------------------------------------ */

static void test_refuse_empty(void **state)
{
    (void)state;
    assert_refused(NULL, "empty");
    assert_refused("", "empty");
    assert_refused("   ", "empty");
    assert_refused("\n", "empty");
    assert_refused(" \t\r\n\n", "empty");
}

static void test_refuse_multiple_lines(void **state)
{
    (void)state;
    _cleanup_free_ char *a = read_pub("ed25519");
    _cleanup_free_ char *b = read_pub("ecdsa256");
    _cleanup_free_ char *two = NULL;
    assert_true(asprintf(&two, "%s%s", a, b) > 0);
    assert_refused(two, "single line");
    a[strcspn(a, "\n")] = '\0';
    _cleanup_free_ char *crlf = NULL;
    assert_true(asprintf(&crlf, "%s\r\n%s", a, b) > 0);
    assert_refused(crlf, "single line");
    _cleanup_free_ char *cr = NULL;
    assert_true(asprintf(&cr, "ssh-ed25519\rAAAA %s", a) > 0);
    assert_refused(cr, "single line");
}

static void test_refuse_options(void **state)
{
    (void)state;
    _cleanup_free_ char *pub = read_pub("ed25519");
    const char *prefixes[] = {"no-pty ", "restrict,command=\"echo hi\" ",
                              "from=\"10.0.0.0/8\",no-agent-forwarding\t"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        _cleanup_free_ char *text = NULL;
        assert_true(asprintf(&text, "%s%s", prefixes[i], pub) > 0);
        assert_refused(text, "authorized_keys options");
    }
    _cleanup_free_ char *text = NULL;
    assert_true(asprintf(&text, "no-pty %s", pub) > 0);
    assert_refused(text, "('no-pty')");
}

static void test_refuse_unknown_type(void **state)
{
    (void)state;
    assert_refused("ssh-foo AAAAB3NzaC1mb28= me", "type 'ssh-foo' is not supported");
    assert_refused("ssh-foo AAAAB3NzaC1mb28= me", "ssh-ed25519, ssh-rsa");
    assert_refused("ssh-dss AAAAB3NzaC1kc3MAAACBAP me", "'ssh-dss'");
    assert_refused("ssh-ed25519-cert-v01@openssh.com AAAA me", "'ssh-ed25519-cert-v01@openssh");
    assert_refused("SSH-ED25519 AAAA", "'SSH-ED25519'");
    assert_refused("AAAAC3NzaC1lZDI1NTE5AAAAIARmz", "not supported");
    /* untrusted text is quoted short and printable */
    assert_refused("ssh-\x1b[31mred AAAA", "'ssh-?[31mred'");
    char long_type[200], needle[64];
    memset(long_type, 'x', sizeof(long_type) - 1);
    long_type[sizeof(long_type) - 1] = '\0';
    snprintf(needle, sizeof(needle), "'%.40s...' is not supported", long_type);
    assert_refused(long_type, needle);
}

static void test_refuse_missing_data(void **state)
{
    (void)state;
    assert_refused("ssh-ed25519", "no base64 key data");
    assert_refused("ssh-rsa   \n", "no base64 key data");
}

static void test_refuse_private_key(void **state)
{
    (void)state;
    _cleanup_free_ char *priv = read_tmp("ed25519");
    assert_non_null(strstr(priv, "-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_refused(priv, "private key");
    assert_refused(priv, "must never be shared");
    _cleanup_error_ cu_error *err = NULL;
    sshkey_info k = {0};
    assert_int_equal(sshkey_parse(priv, &k, &err), -1);
    assert_null(strstr(err->message, "b3BlbnNzaC1rZXktdjE")); /* no key material echoed */

    assert_refused("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE "
                   "KEY-----\n", "private key");
    assert_refused("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n", "private key");
    assert_refused("-----BEGIN ENCRYPTED PRIVATE KEY-----", "private key");
    assert_refused("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n", "private key");
    /* the body alone, armour lost in the copy */
    const char *body = strchr(priv, '\n') + 1;
    _cleanup_free_ char *first = strndup(body, strcspn(body, "\n"));
    assert_refused(first, "private key");
    assert_refused(body, "private key");
}

static void test_refuse_pem_public(void **state)
{
    (void)state;
    _cleanup_free_ char *path = tmp_path("rsa2048.pub");
    char out[4096];
    char *pkcs8[] = {"ssh-keygen", "-e", "-m", "PKCS8", "-f", path, NULL};
    assert_int_equal(run(pkcs8, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "-----BEGIN PUBLIC KEY-----"));
    assert_refused(out, "PEM or RFC 4716");
    char *rfc4716[] = {"ssh-keygen", "-e", "-f", path, NULL};
    assert_int_equal(run(rfc4716, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "---- BEGIN SSH2 PUBLIC KEY ----"));
    assert_refused(out, "ssh-keygen -i");
}

static void test_refuse_too_long(void **state)
{
    (void)state;
    _cleanup_free_ char *pub = read_pub("ed25519");
    _cleanup_free_ char *line = trimmed(pub);
    size_t n = strlen(line);
    _cleanup_free_ char *text = malloc(SSHKEY_MAX_TEXT + 2);
    assert_non_null(text);
    memcpy(text, line, n);
    memset(text + n, 'a', SSHKEY_MAX_TEXT + 1 - n);
    text[SSHKEY_MAX_TEXT + 1] = '\0';
    assert_refused(text, "longer than 16384 bytes");
    /* exactly 16 KiB is still accepted */
    text[SSHKEY_MAX_TEXT] = '\0';
    _cleanup_sshkey_info_ sshkey_info k = {0};
    parse_ok(text, &k);
    assert_int_equal(strlen(k.comment), strlen("alice@laptop") + SSHKEY_MAX_TEXT - n);
}

static void test_refuse_comment_control(void **state)
{
    (void)state;
    _cleanup_free_ char *pub = read_pub("ed25519");
    _cleanup_free_ char *line = trimmed(pub);
    line[strlen(line) - strlen("alice@laptop")] = '\0'; /* "ssh-ed25519 AAAA... " */
    const char *bad[][2] = {
        {"alice\x01", "U+0001"},        {"\x1b[2Jalice", "U+001B"},
        {"alice\tbob", "U+0009"},       {"alice\x7f", "U+007F"},
        {"alice\xc2\x85", "U+0085"},    {"alice\xff", "not valid UTF-8"},
        {"alice\xc0\xaf", "UTF-8"},     {"alice\xed\xa0\x80", "UTF-8"},
        {"alice\xe2\x82", "UTF-8"},     {"alice\v", "control character"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        _cleanup_free_ char *text = NULL;
        assert_true(asprintf(&text, "%s%s", line, bad[i][0]) > 0);
        assert_refused(text, bad[i][1]);
        assert_refused(text, "comment");
    }
}

/* ---- refusals: base64 --------------------------------------------------------------- */

static char *mutate_data(const char *name, size_t at_from_end, char c)
{
    char *pub = read_pub(name);
    char *data = strchr(pub, ' ') + 1;
    size_t n = strcspn(data, " \n");
    data[n - 1 - at_from_end] = c;
    return pub;
}

static void test_refuse_base64_character(void **state)
{
    (void)state;
    _cleanup_free_ char *a = mutate_data("ed25519", 10, '!');
    assert_refused(a, "not valid base64: byte 0x21");
    _cleanup_free_ char *b = mutate_data("rsa2048", 100, '-'); /* base64url is not base64 */
    assert_refused(b, "not a base64 character");
    _cleanup_free_ char *c = mutate_data("ecdsa256", 3, '\x01');
    assert_refused(c, "byte 0x01");
}

static void test_refuse_base64_length(void **state)
{
    (void)state;
    _cleanup_free_ char *pub = read_pub("ed25519");
    char *data = strchr(pub, ' ') + 1;
    memmove(data + 5, data + 6, strlen(data + 6) + 1); /* one character lost */
    assert_refused(pub, "not a multiple of 4");
    /* unpadded base64 (as some tools print it) is refused too, like OpenSSH */
    struct blob b;
    sk_ed25519_blob(&b, "ssh:"); /* 74 bytes: needs one '=' */
    _cleanup_free_ char *line = key_line("sk-ssh-ed25519@openssh.com", &b, NULL);
    assert_int_equal(line[strlen(line) - 1], '=');
    line[strlen(line) - 1] = '\0';
    assert_refused(line, "not a multiple of 4");
}

static void test_refuse_base64_padding(void **state)
{
    (void)state;
    _cleanup_free_ char *a = mutate_data("ed25519", 20, '=');
    assert_refused(a, "'=' padding appears at position");
    assert_refused("ssh-ed25519 A===", "'=' padding");
    assert_refused("ssh-ed25519 ====", "'=' padding");
    assert_refused("ssh-ed25519 AA=A", "'=' padding");
}

static void test_refuse_base64_nonzero_bits(void **state)
{
    (void)state;
    struct blob b;
    sk_ed25519_blob(&b, "ssh:"); /* ends "X=": X has two unused low bits */
    _cleanup_free_ char *line = key_line("sk-ssh-ed25519@openssh.com", &b, NULL);
    char *last = line + strlen(line) - 2;
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t v = (size_t)(strchr(alphabet, *last) - alphabet);
    assert_int_equal(v & 3, 0);
    *last = alphabet[v | 1];
    assert_refused(line, "non-zero unused bits");
    assert_refused("ssh-ed25519 AB==", "non-zero unused bits"); /* 'B' leaves 4 bits */
}

/* ---- refusals: the blob ------------------------------------------------------------- */

static void test_refuse_type_mismatch(void **state)
{
    (void)state;
    _cleanup_free_ char *pub = read_pub("ed25519");
    _cleanup_free_ char *as_rsa = NULL;
    assert_true(asprintf(&as_rsa, "ssh-rsa %s", strchr(pub, ' ') + 1) > 0);
    assert_refused(as_rsa, "says type 'ssh-rsa' but its key data is of type 'ssh-ed25519'");
    _cleanup_free_ char *ec = read_pub("ecdsa256");
    _cleanup_free_ char *as_384 = NULL;
    assert_true(asprintf(&as_384, "ecdsa-sha2-nistp384 %s", strchr(ec, ' ') + 1) > 0);
    assert_refused(as_384, "of type 'ecdsa-sha2-nistp256'");
    /* sk- is not plain: the type inside decides */
    struct blob b = {.n = 0};
    put_cstr(&b, "ssh-ed25519");
    put_string(&b, ed_key, 32);
    put_cstr(&b, "ssh:");
    _cleanup_free_ char *sk = key_line("sk-ssh-ed25519@openssh.com", &b, NULL);
    assert_refused(sk, "of type 'ssh-ed25519'");
}

static void test_refuse_blob_truncated(void **state)
{
    (void)state;
    assert_refused("ssh-ed25519 AAAA", "does not start with the key type name");
    struct blob b = {.n = 0};
    put_cstr(&b, "ssh-ed25519");
    _cleanup_free_ char *no_key = key_line("ssh-ed25519", &b, NULL);
    assert_refused(no_key, "missing or truncated");
    b.n = 0;
    put_raw(&b, "\xff\xff\xff\xffssh-ed25519", 15); /* length past the end */
    _cleanup_free_ char *huge = key_line("ssh-ed25519", &b, NULL);
    assert_refused(huge, "does not start with the key type name");
}

/* Every prefix of every real blob is refused, never read past (ASan). */
static void test_refuse_every_truncation(void **state)
{
    (void)state;
    const char *names[] = {"ed25519", "rsa2048", "ecdsa256", "ecdsa384", "ecdsa521"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        _cleanup_free_ char *pub = read_pub(names[i]);
        _cleanup_free_ char *type = strndup(pub, strcspn(pub, " "));
        struct blob full, cut;
        blob_of_line(pub, &full);
        for (cut.n = 1; cut.n < full.n; cut.n++) {
            memcpy(cut.d, full.d, cut.n);
            _cleanup_free_ char *line = key_line(type, &cut, "x");
            assert_refused(line, type);
        }
    }
}

static void test_refuse_ed25519_length(void **state)
{
    (void)state;
    struct blob b = {.n = 0};
    put_cstr(&b, "ssh-ed25519");
    put_string(&b, ed_key, 31);
    _cleanup_free_ char *short_key = key_line("ssh-ed25519", &b, NULL);
    assert_refused(short_key, "holds a 31-byte key instead of 32 bytes");
    b.n = 0;
    put_cstr(&b, "sk-ssh-ed25519@openssh.com");
    put_string(&b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 33);
    put_cstr(&b, "ssh:");
    _cleanup_free_ char *long_key = key_line("sk-ssh-ed25519@openssh.com", &b, NULL);
    assert_refused(long_key, "33-byte key");
}

static void rsa_blob(struct blob *b, const void *e, size_t e_len, int bits, int odd)
{
    b->n = 0;
    put_cstr(b, "ssh-rsa");
    put_string(b, e, e_len);
    put_modulus(b, bits, odd);
}

static void test_refuse_rsa_small(void **state)
{
    (void)state;
    _cleanup_free_ char *pub = read_pub("rsa1024");
    assert_refused(pub, "RSA key is 1024 bits, but keys under 2048 bits are refused");
    assert_refused(pub, "ssh-keygen -t ed25519");
    struct blob b;
    rsa_blob(&b, e65537, 3, 2047, 1);
    _cleanup_free_ char *l2047 = key_line("ssh-rsa", &b, NULL);
    assert_refused(l2047, "RSA key is 2047 bits");
    rsa_blob(&b, e65537, 3, 2048, 1); /* the same builder at 2048 bits passes */
    _cleanup_free_ char *l2048 = key_line("ssh-rsa", &b, NULL);
    _cleanup_sshkey_info_ sshkey_info k = {0};
    parse_ok(l2048, &k);
    assert_int_equal(k.bits, 2048);
}

static void test_refuse_rsa_malformed(void **state)
{
    (void)state;
    struct blob b;
    rsa_blob(&b, e65537, 3, 16385, 1);
    _cleanup_free_ char *huge = key_line("ssh-rsa", &b, NULL);
    assert_refused(huge, "more than the 16384 bits");
    rsa_blob(&b, e65537, 3, 2048, 0);
    _cleanup_free_ char *even = key_line("ssh-rsa", &b, NULL);
    assert_refused(even, "even modulus");
    rsa_blob(&b, "\x01\x00\x00", 3, 2048, 1);
    _cleanup_free_ char *even_e = key_line("ssh-rsa", &b, NULL);
    assert_refused(even_e, "invalid public exponent");
    rsa_blob(&b, "\x01", 1, 2048, 1);
    _cleanup_free_ char *e1 = key_line("ssh-rsa", &b, NULL);
    assert_refused(e1, "invalid public exponent");
    rsa_blob(&b, "", 0, 2048, 1);
    _cleanup_free_ char *e0 = key_line("ssh-rsa", &b, NULL);
    assert_refused(e0, "invalid public exponent");
    b.n = 0; /* modulus with its top bit set and no 0x00 prefix: negative */
    put_cstr(&b, "ssh-rsa");
    put_string(&b, e65537, 3);
    unsigned char neg[256];
    memset(neg, 0xc5, sizeof(neg));
    put_string(&b, neg, sizeof(neg));
    _cleanup_free_ char *negative = key_line("ssh-rsa", &b, NULL);
    assert_refused(negative, "negative");
    b.n = 0;
    put_cstr(&b, "ssh-rsa");
    put_string(&b, e65537, 3);
    _cleanup_free_ char *no_n = key_line("ssh-rsa", &b, NULL);
    assert_refused(no_n, "modulus is missing");
}

static void ecdsa_blob(struct blob *b, const char *type, const char *curve, const void *q,
                       size_t q_len)
{
    b->n = 0;
    put_cstr(b, type);
    put_cstr(b, curve);
    put_string(b, q, q_len);
}

static void test_refuse_ecdsa_curve(void **state)
{
    (void)state;
    struct blob b;
    ecdsa_blob(&b, "ecdsa-sha2-nistp256", "nistp384", p256_g, sizeof(p256_g));
    _cleanup_free_ char *line = key_line("ecdsa-sha2-nistp256", &b, NULL);
    assert_refused(line, "names curve 'nistp384' instead of 'nistp256'");
    ecdsa_blob(&b, "sk-ecdsa-sha2-nistp256@openssh.com", "secp256k1", p256_g, sizeof(p256_g));
    put_cstr(&b, "ssh:");
    _cleanup_free_ char *sk = key_line("sk-ecdsa-sha2-nistp256@openssh.com", &b, NULL);
    assert_refused(sk, "names curve 'secp256k1'");
}

static void test_refuse_ecdsa_point(void **state)
{
    (void)state;
    struct blob b;
    ecdsa_blob(&b, "ecdsa-sha2-nistp384", "nistp384", p256_g, sizeof(p256_g));
    _cleanup_free_ char *wrong_len = key_line("ecdsa-sha2-nistp384", &b, NULL);
    assert_refused(wrong_len, "65-byte point, but it must be uncompressed");
    assert_refused(wrong_len, "97 bytes");
    unsigned char q[65];
    memcpy(q, p256_g, sizeof(q));
    q[0] = 0x03; /* wrong form marker */
    ecdsa_blob(&b, "ecdsa-sha2-nistp256", "nistp256", q, sizeof(q));
    _cleanup_free_ char *form = key_line("ecdsa-sha2-nistp256", &b, NULL);
    assert_refused(form, "uncompressed");
    ecdsa_blob(&b, "ecdsa-sha2-nistp256", "nistp256", p256_g, 33); /* compressed length */
    _cleanup_free_ char *compressed = key_line("ecdsa-sha2-nistp256", &b, NULL);
    assert_refused(compressed, "33-byte point");
    ecdsa_blob(&b, "ecdsa-sha2-nistp256", "nistp256", "", 0);
    _cleanup_free_ char *empty = key_line("ecdsa-sha2-nistp256", &b, NULL);
    assert_refused(empty, "0-byte point");
}

static void test_refuse_ecdsa_off_curve(void **state)
{
    (void)state;
    unsigned char q[65];
    memcpy(q, p256_g, sizeof(q));
    q[64] ^= 1; /* G with its y changed */
    struct blob b;
    ecdsa_blob(&b, "ecdsa-sha2-nistp256", "nistp256", q, sizeof(q));
    _cleanup_free_ char *line = key_line("ecdsa-sha2-nistp256", &b, NULL);
    assert_refused(line, "not on curve 'nistp256'");
    _cleanup_free_ char *pub = read_pub("ecdsa521");
    blob_of_line(pub, &b);
    b.d[b.n - 1] ^= 0x10;
    _cleanup_free_ char *p521 = key_line("ecdsa-sha2-nistp521", &b, NULL);
    assert_refused(p521, "not on curve 'nistp521'");
    memset(q + 1, 0xff, 64); /* coordinates past the field prime */
    ecdsa_blob(&b, "ecdsa-sha2-nistp256", "nistp256", q, sizeof(q));
    _cleanup_free_ char *big = key_line("ecdsa-sha2-nistp256", &b, NULL);
    assert_refused(big, "not on curve");
}

static void test_refuse_sk_application(void **state)
{
    (void)state;
    struct blob b = {.n = 0};
    put_cstr(&b, "sk-ssh-ed25519@openssh.com");
    put_string(&b, ed_key, 32);
    _cleanup_free_ char *ed = key_line("sk-ssh-ed25519@openssh.com", &b, NULL);
    assert_refused(ed, "application (such as 'ssh:') is missing");
    ecdsa_blob(&b, "sk-ecdsa-sha2-nistp256@openssh.com", "nistp256", p256_g, sizeof(p256_g));
    _cleanup_free_ char *ec = key_line("sk-ecdsa-sha2-nistp256@openssh.com", &b, NULL);
    assert_refused(ec, "application (such as 'ssh:') is missing");
    put_string(&b, "ssh:\0x", 6);
    _cleanup_free_ char *nul = key_line("sk-ecdsa-sha2-nistp256@openssh.com", &b, NULL);
    assert_refused(nul, "NUL byte");
}

static void test_refuse_trailing_bytes(void **state)
{
    (void)state;
    const char *names[] = {"ed25519", "rsa2048", "rsa3072", "ecdsa256", "ecdsa384", "ecdsa521"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        _cleanup_free_ char *pub = read_pub(names[i]);
        _cleanup_free_ char *type = strndup(pub, strcspn(pub, " "));
        struct blob b;
        blob_of_line(pub, &b);
        put_raw(&b, "\0", 1);
        _cleanup_free_ char *line = key_line(type, &b, NULL);
        assert_refused(line, "1 unexpected trailing bytes");
    }
    struct blob b;
    sk_ed25519_blob(&b, "ssh:");
    put_cstr(&b, "extra");
    _cleanup_free_ char *ed = key_line("sk-ssh-ed25519@openssh.com", &b, NULL);
    assert_refused(ed, "9 unexpected trailing bytes");
    sk_ecdsa_blob(&b, "ssh:");
    put_raw(&b, "xy", 2);
    _cleanup_free_ char *ec = key_line("sk-ecdsa-sha2-nistp256@openssh.com", &b, NULL);
    assert_refused(ec, "2 unexpected trailing bytes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keygen_ed25519),
        cmocka_unit_test(test_keygen_rsa_2048),
        cmocka_unit_test(test_keygen_rsa_3072_no_comment),
        cmocka_unit_test(test_keygen_ecdsa_256),
        cmocka_unit_test(test_keygen_ecdsa_384),
        cmocka_unit_test(test_keygen_ecdsa_521),
        cmocka_unit_test(test_sk_ed25519),
        cmocka_unit_test(test_sk_ecdsa),
        cmocka_unit_test(test_sk_ed25519_known_answer),
        cmocka_unit_test(test_whitespace_and_normalized),
        cmocka_unit_test(test_no_comment),
        cmocka_unit_test(test_info_clear),
        cmocka_unit_test(test_refuse_empty),
        cmocka_unit_test(test_refuse_multiple_lines),
        cmocka_unit_test(test_refuse_options),
        cmocka_unit_test(test_refuse_unknown_type),
        cmocka_unit_test(test_refuse_missing_data),
        cmocka_unit_test(test_refuse_private_key),
        cmocka_unit_test(test_refuse_pem_public),
        cmocka_unit_test(test_refuse_too_long),
        cmocka_unit_test(test_refuse_comment_control),
        cmocka_unit_test(test_refuse_base64_character),
        cmocka_unit_test(test_refuse_base64_length),
        cmocka_unit_test(test_refuse_base64_padding),
        cmocka_unit_test(test_refuse_base64_nonzero_bits),
        cmocka_unit_test(test_refuse_type_mismatch),
        cmocka_unit_test(test_refuse_blob_truncated),
        cmocka_unit_test(test_refuse_every_truncation),
        cmocka_unit_test(test_refuse_ed25519_length),
        cmocka_unit_test(test_refuse_rsa_small),
        cmocka_unit_test(test_refuse_rsa_malformed),
        cmocka_unit_test(test_refuse_ecdsa_curve),
        cmocka_unit_test(test_refuse_ecdsa_point),
        cmocka_unit_test(test_refuse_ecdsa_off_curve),
        cmocka_unit_test(test_refuse_sk_application),
        cmocka_unit_test(test_refuse_trailing_bytes),
    };
    return cmocka_run_group_tests_name("sshkey", tests, group_setup, group_teardown);
}
