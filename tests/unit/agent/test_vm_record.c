/* test_vm_record.c: what the agent reports of a VM (agent/vm_record.c)
 * stays valid UTF-8 when a message is cut to fit: a VM whose error message
 * was cut inside a character used to vanish from the heartbeat (jansson
 * refuses invalid UTF-8, so its status document was NULL); and
 * common/utf8.c's copy, which does the cutting. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_util.h"
#include "utf8.h"
#include "vm_record.h"

/* Every byte of s is part of a valid UTF-8 character. */
static int valid_utf8(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = cu_utf8_seq(p);
        if (n == 0)
            return 0;
        p += n;
    }
    return 1;
}

/* `count` copies of `ch`: with a 2-byte `ch`, a cut at an odd length
 * (snprintf's 255 or 1023 bytes) falls inside a character. */
static char *repeated(const char *ch, int count)
{
    size_t n = strlen(ch);
    char *s = malloc(n * (size_t)count + 1);
    assert_non_null(s);
    for (int i = 0; i < count; i++)
        memcpy(s + n * (size_t)i, ch, n);
    s[n * (size_t)count] = '\0';
    return s;
}

static void test_copy_cuts_on_whole_characters(void **state)
{
    (void)state;
    char buf[8];
    assert_int_equal(cu_utf8_copy(buf, sizeof(buf), "ab\xc3\xa9\xc3\xa9\xc3\xa9"), 6);
    assert_string_equal(buf, "ab\xc3\xa9\xc3\xa9"); /* 7 would split the third é */
    assert_int_equal(cu_utf8_copy(buf, 7, "\xe2\x82\xac\xf0\x9f\x98\x80"), 3);
    assert_string_equal(buf, "\xe2\x82\xac"); /* € fits, the 4-byte emoji does not */
    assert_int_equal(cu_utf8_copy(buf, 1, "abc"), 0);
    assert_string_equal(buf, "");
    /* Bytes that are not UTF-8 become U+FFFD, also when cut already. */
    char wide[32];
    cu_utf8_copy(wide, sizeof(wide), "a\xff" "b\xc0\xaf" "c\xc3");
    assert_string_equal(wide, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd" "c\xef\xbf\xbd");
    assert_true(valid_utf8(wide));
    cu_utf8_copy(wide, sizeof(wide), NULL);
    assert_string_equal(wide, "");
}

static void test_failed_vm_with_a_long_message_is_reported(void **state)
{
    (void)state;
    vm_record *r = vm_record_new("vm-0123456789abcdef");
    /* 2 * 600 bytes: message[256] and error_message[1024] are both cut
     * inside an "é" by a byte count. */
    char *long_message = repeated("\xc3\xa9", 600);
    vm_record_fail(r, 3, "download_failed", long_message);
    json_t *status = vm_record_status(r);
    assert_non_null(status); /* was NULL: the heartbeat left the VM out */
    const char *message = cu_json_str(status, "message");
    const char *error = cu_json_str(json_object_get(status, "error"), "message");
    assert_non_null(message);
    assert_non_null(error);
    assert_true(valid_utf8(message) && valid_utf8(error));
    assert_int_equal(strlen(message), 254); /* 127 whole characters */
    assert_int_equal(strlen(error), 1022);
    assert_memory_equal(error, long_message, 1022);
    json_decref(status);

    /* The other setters cut the same way. */
    vm_record_set(r, "provisioning", 5, long_message);
    vm_record_error(r, 4, "snapshot_failed", long_message);
    status = vm_record_status(r);
    assert_non_null(status);
    assert_true(valid_utf8(cu_json_str(status, "message")));
    json_decref(status);
    free(long_message);
    vm_record_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_cuts_on_whole_characters),
        cmocka_unit_test(test_failed_vm_with_a_long_message_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
