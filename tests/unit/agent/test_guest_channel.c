/* test_guest_channel.c: reading what a guest wrote on its channel
 * (agent/guest_channel.c): ready, failed with cloud-init's errors, lines
 * of other boots before the offset, partial lines, garbage and floods. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest_channel.h"

static char dir[] = "/tmp/cumulus-guest-channel-XXXXXX";
static char path[sizeof(dir) + 16];

#define READY_OK                                                                                   \
    "{\"event\":\"ready\",\"boot_id\":\"b1\",\"uptime\":\"41.37\",\"result\":{\"v1\":"             \
    "{\"datasource\":\"DataSourceNoCloud\",\"errors\":[]}}}\n"
#define READY_FAILED                                                                               \
    "{\"event\":\"ready\",\"boot_id\":\"b2\",\"uptime\":\"50.1\",\"result\":{\"v1\":"              \
    "{\"errors\":[\"('scripts-user', RuntimeError('Runparts: 1 failures (runcmd) in 1 "            \
    "attempted commands'))\"]}}}\n"

/* A bake's last word: result, status and log (with a control character). */
#define BAKE_FAILED                                                                                \
    "{\"event\":\"bake\",\"boot_id\":\"b3\",\"uptime\":\"60.5\",\"result\":{\"v1\":"             \
    "{\"errors\":[\"('scripts-user', RuntimeError('Runparts: 1 failures'))\"]}},"                  \
    "\"status\":\"status: error\\nerrors:\\n\\t- scripts-user\\n\","                               \
    "\"log\":\"bake step one\\n\\u001b[31mstep two failed\\n\"}\n"

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/guest.log", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static void test_missing_file_is_booting(void **state)
{
    (void)state;
    unlink(path);
    guest_report g;
    long long mtime = 1;
    guest_channel_read(path, 0, &g, &mtime);
    assert_int_equal(g.status, GUEST_BOOTING);
    assert_int_equal(mtime, 0);
    assert_int_equal(guest_channel_size(path), 0);
}

static void test_ready(void **state)
{
    (void)state;
    write_file(READY_OK);
    guest_report g;
    long long mtime = 0;
    guest_channel_read(path, 0, &g, &mtime);
    assert_int_equal(g.status, GUEST_READY);
    assert_string_equal(g.message, "cloud-init finished (guest uptime 41.37 s)");
    assert_true(mtime > 0);
}

static void test_failed_names_the_module(void **state)
{
    (void)state;
    write_file(READY_FAILED);
    guest_report g;
    guest_channel_read(path, 0, &g, NULL);
    assert_int_equal(g.status, GUEST_FAILED);
    assert_non_null(strstr(g.message, "cloud-init finished with errors: "));
    assert_non_null(strstr(g.message, "scripts-user"));
    assert_non_null(strstr(g.message, "runcmd"));
}

/* A reboot starts reading after the previous boot's lines. */
static void test_offset_skips_the_previous_boot(void **state)
{
    (void)state;
    write_file(READY_OK);
    long long offset = guest_channel_size(path);
    assert_int_equal(offset, (long long)strlen(READY_OK));
    guest_report g;
    guest_channel_read(path, offset, &g, NULL);
    assert_int_equal(g.status, GUEST_BOOTING);
    write_file(READY_OK READY_FAILED);
    guest_channel_read(path, offset, &g, NULL);
    assert_int_equal(g.status, GUEST_FAILED);
}

static void test_partial_and_foreign_lines(void **state)
{
    (void)state;
    /* A line still being written counts only once complete. */
    write_file("{\"event\":\"ready\",\"result\":null");
    guest_report g;
    guest_channel_read(path, 0, &g, NULL);
    assert_int_equal(g.status, GUEST_BOOTING);
    /* Not JSON, another event, a non-object: ignored; the last ready wins. */
    write_file("hello\n{\"event\":\"boot\"}\n[1,2]\n" READY_FAILED "{\"event\":\"ready\","
               "\"result\":null}\n");
    guest_channel_read(path, 0, &g, NULL);
    assert_int_equal(g.status, GUEST_READY);
    assert_string_equal(g.message, "cloud-init finished");
}

/* Control characters never reach the message; a huge flood is read only
 * at its end. */
static void test_untrusted_input(void **state)
{
    (void)state;
    guest_report g;
    assert_int_equal(guest_channel_parse_line(
                         "{\"event\":\"ready\",\"uptime\":\"1\\n2\",\"result\":{\"v1\":{\"errors\":"
                         "[\"bad\\u001b[31m\\nline\", 7]}}}",
                         strlen("{\"event\":\"ready\",\"uptime\":\"1\\n2\",\"result\":{\"v1\":{"
                                "\"errors\":[\"bad\\u001b[31m\\nline\", 7]}}}"),
                         &g),
                     1);
    assert_int_equal(g.status, GUEST_FAILED);
    for (const char *p = g.message; *p; p++)
        assert_true((unsigned char)*p >= 0x20);
    assert_non_null(strstr(g.message, "(not text)"));
    assert_null(strstr(g.message, "uptime"));

    size_t n = 1 << 20;
    char *flood = malloc(n + sizeof(READY_OK));
    assert_non_null(flood);
    memset(flood, 'x', n);
    flood[n - 1] = '\n';
    memcpy(flood + n, READY_OK, sizeof(READY_OK));
    write_file(flood);
    free(flood);
    guest_channel_read(path, 0, &g, NULL);
    assert_int_equal(g.status, GUEST_READY);
}

/* A bake's line counts as the boot's report and keeps the status and log,
 * lines kept, other control characters blanked. */
static void test_bake_last_word(void **state)
{
    (void)state;
    write_file(READY_OK BAKE_FAILED);
    guest_report g;
    guest_channel_read(path, 0, &g, NULL);
    assert_int_equal(g.status, GUEST_FAILED);
    assert_true(g.bake);
    assert_non_null(strstr(g.message, "scripts-user"));
    assert_non_null(strstr(g.detail, "cloud-init status --long:\nstatus: error\nerrors:\n\t- "
                                     "scripts-user\n"));
    assert_non_null(strstr(g.detail, "cloud-init-output.log:\nbake step one\n [31mstep two "
                                     "failed\n"));
    /* a plain ready line is no bake */
    write_file(READY_OK);
    guest_channel_read(path, 0, &g, NULL);
    assert_int_equal(g.status, GUEST_READY);
    assert_false(g.bake);
    assert_string_equal(g.detail, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_file_is_booting),
        cmocka_unit_test(test_ready),
        cmocka_unit_test(test_failed_names_the_module),
        cmocka_unit_test(test_offset_skips_the_previous_boot),
        cmocka_unit_test(test_partial_and_foreign_lines),
        cmocka_unit_test(test_untrusted_input),
        cmocka_unit_test(test_bake_last_word),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
