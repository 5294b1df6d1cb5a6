/* test_sshkey_refusals.c: unit tests for controlplane/sshkey.c and
 * sshkey_base64.c: the public key lines refused before their key data is
 * looked at (empty, several lines, authorized_keys options, unknown types,
 * private keys, PEM, too long, bad comments, bad base64), each with a 400
 * on field "public_key" and a printable message.  The helpers are in
 * sshkey_fixtures.h. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sshkey_fixtures.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
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
    };
    return cmocka_run_group_tests_name("sshkey", tests, group_setup, group_teardown);
}
