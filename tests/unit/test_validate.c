/* test_validate.c: field checks (controlplane/validate.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "validate.h"

/* The call runs first, then the error it left is checked. */
#define expect_refused(call, errvar, field)                                                        \
    do {                                                                                           \
        int r_ = (call);                                                                           \
        check_refused(r_, errvar, field);                                                          \
    } while (0)

static void check_refused(int r, cu_error *err, const char *field)
{
    assert_int_equal(r, -1);
    assert_non_null(err);
    assert_int_equal(err->status, 400);
    assert_string_equal(err->code, "invalid_field");
    assert_string_equal(err->field, field);
    cu_error_free(err);
}

static void dns_labels(void **state)
{
    const char *good[] = {"a", "web-1", "0abc", "x23456789012345678901234567890123456789012345678901234567890123"};
    const char *bad[] = {"", "-a", "a-", "A", "web_1", "web.1", "../x", "a b", "é",
                         "x234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        cu_error *err = NULL;
        assert_int_equal(validate_dns_label("name", good[i], &err), 0);
        assert_null(err);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        cu_error *err = NULL;
        expect_refused(validate_dns_label("name", bad[i], &err), err, "name");
    }
}

static void checksums(void **state)
{
    char sha256[7 + 64 + 1] = "sha256:", sha512[7 + 128 + 1] = "sha512:";
    memset(sha256 + 7, 'a', 64);
    memset(sha512 + 7, '0', 128);
    cu_error *err = NULL;
    assert_int_equal(validate_checksum("checksum", sha256, &err), 0);
    assert_int_equal(validate_checksum("checksum", sha512, &err), 0);
    sha256[10] = 'G';
    expect_refused(validate_checksum("checksum", sha256, &err), err, "checksum");
    err = NULL;
    expect_refused(validate_checksum("checksum", "sha256:abc", &err), err, "checksum");
    err = NULL;
    expect_refused(validate_checksum("checksum", "md5:d41d8cd98f00b204e9800998ecf8427e", &err), err,
                   "checksum");
}

static void urls(void **state)
{
    const char *good[] = {"https://cloud.debian.org/x.qcow2", "http://10.0.0.1:8080/a.img",
                          "file:///var/lib/cumulus/images/a.qcow2", "https://h/a..b/x%2eqcow2",
                          "https://h/v1.2/..x/a%2E.img"};
    const char *bad[] = {"ftp://x/y", "file://relative/path", "/etc/passwd", "https://x/a b",
                         "https://x/a\nb", "file:///var/../etc/shadow", "file:///a/..", "",
                         "file:///srv/%2e%2e/etc/shadow", "file:///srv/.%2E/x", "http://h/a/%2E%2e",
                         "https://h/%2e%2e/%2e%2e/etc/passwd"};
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        cu_error *err = NULL;
        assert_int_equal(validate_image_url("url", good[i], &err), 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        cu_error *err = NULL;
        expect_refused(validate_image_url("url", bad[i], &err), err, "url");
    }
}

static void usernames_and_enums(void **state)
{
    cu_error *err = NULL;
    assert_int_equal(validate_username("u", "debian", &err), 0);
    assert_int_equal(validate_username("u", "_svc-1", &err), 0);
    expect_refused(validate_username("u", "Root", &err), err, "u");
    err = NULL;
    expect_refused(validate_username("u", "1abc", &err), err, "u");
    err = NULL;
    static const char *const arch[] = {"x86_64", "aarch64", NULL};
    assert_int_equal(validate_enum("architecture", "aarch64", arch, &err), 0);
    assert_int_equal(validate_enum("architecture", "mips", arch, &err), -1);
    assert_non_null(strstr(err->message, "'x86_64', 'aarch64'"));
    cu_error_free(err);
}

static void integers(void **state)
{
    json_t *obj = json_pack("{s:i, s:s, s:i}", "n", 5, "s", "5", "big", 1000);
    long long v = 0;
    cu_error *err = NULL;
    assert_int_equal(validate_int(obj, "n", 1, 10, &v, &err), 0);
    assert_int_equal(v, 5);
    expect_refused(validate_int(obj, "s", 1, 10, &v, &err), err, "s");
    err = NULL;
    expect_refused(validate_int(obj, "big", 1, 10, &v, &err), err, "big");
    err = NULL;
    expect_refused(validate_int(obj, "absent", 1, 10, &v, &err), err, "absent");
    json_decref(obj);
}

static void text(void **state)
{
    cu_error *err = NULL;
    assert_int_equal(validate_text("version", "24.04", 32, &err), 0);
    expect_refused(validate_text("version", "a\tb", 32, &err), err, "version");
    err = NULL;
    expect_refused(validate_text("version", "", 32, &err), err, "version");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dns_labels), cmocka_unit_test(checksums),
        cmocka_unit_test(urls),       cmocka_unit_test(usernames_and_enums),
        cmocka_unit_test(integers),   cmocka_unit_test(text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
