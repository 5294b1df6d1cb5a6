/* test_sshkey.c: unit tests for controlplane/sshkey.c: the keys it accepts.
 *
 * Real keys are generated at run time with ssh-keygen in a temporary
 * directory and every result is compared with what `ssh-keygen -lf` prints.
 * Security-key (sk-) keys are built here from SSH wire strings; their
 * fingerprints are checked against a SHA-256 computed independently with
 * libcrypto.  What is refused is tested in test_sshkey_refusals.c (the
 * line) and test_sshkey_wire_refusals.c (the key data); the helpers are in
 * sshkey_fixtures.h. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sshkey_fixtures.h"

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
    };
    return cmocka_run_group_tests_name("sshkey", tests, group_setup, group_teardown);
}
