/* test_sshkey_wire_refusals.c: unit tests for controlplane/sshkey_wire.c:
 * key data that decodes but is refused (type mismatch, truncation at every
 * length, wrong key sizes, weak or malformed RSA, wrong curves and points
 * off them, security keys without an application, trailing bytes), built
 * from SSH wire strings or cut from real keys.  The helpers are in
 * sshkey_fixtures.h. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sshkey_fixtures.h"

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
