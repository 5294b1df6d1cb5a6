/* test_disk.c: agent/disk.c against the real qemu-img (and qemu-io for
 * contents): an overlay of a small base has the right size, format and
 * backing file and reads the base's bytes; a too-small disk, a missing base
 * and an existing disk are refused leaving nothing behind; a directory
 * whose name has a comma and a space works. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "cmd.h"
#include "disk.h"

typedef struct fixture {
    char dir[128];
    char base[256];    /* 64 MiB qcow2, 0xab in its first 64 KiB when qemu-io exists */
    char overlay[256]; /* where the test's overlay goes */
    bool patterned;
} fixture;

static int run_argv(const char *const *argv, cu_error **err)
{
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new(argv[0]);
    for (size_t i = 1; argv[i]; i++)
        cu_cmd_arg(c, argv[i]);
    return cu_cmd_run(c, err);
}

static void must_run(const char *const *argv)
{
    _cleanup_error_ cu_error *err = NULL;
    if (run_argv(argv, &err) < 0)
        fail_msg("%s", err->message);
}

static bool have_program(const char *name)
{
    _cleanup_error_ cu_error *err = NULL;
    return run_argv((const char *[]){name, "--version", NULL}, &err) == 0;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/%s", dir, e->d_name) > 0)
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* A fresh directory named `pattern` (mkdtemp) with a base image in it. */
static int make_fixture(void **state, const char *pattern)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s", pattern);
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->base, sizeof(f->base), "%s/base.qcow2", f->dir);
    snprintf(f->overlay, sizeof(f->overlay), "%s/disk.qcow2", f->dir);
    *state = f;
    must_run((const char *[]){"qemu-img", "create", "-q", "-f", "qcow2", f->base, "64M", NULL});
    if (have_program("qemu-io")) {
        must_run(
            (const char *[]){"qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 64k", f->base, NULL});
        f->patterned = true;
    }
    return 0;
}

static int setup(void **state)
{
    return make_fixture(state, "/tmp/cumulus-disk-XXXXXX");
}

static int setup_comma(void **state)
{
    return make_fixture(state, "/tmp/cumulus disk, with comma-XXXXXX");
}

static int teardown(void **state)
{
    fixture *f = *state;
    remove_tree(f->dir);
    free(f);
    return 0;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("expected '%s' in: %s", needle, hay);
}

static void check_overlay(const fixture *f)
{
    disk_info info;
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(disk_info_get(f->overlay, &info, &err), 0);
    assert_int_equal(info.virtual_size, DISK_GIB);
    assert_string_equal(info.format, "qcow2");
    assert_string_equal(info.backing, f->base);
    assert_true(info.actual_size > 0 && info.actual_size < 2 * 1024 * 1024);
    struct stat st;
    assert_int_equal(stat(f->overlay, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(count_entries(f->dir), 2); /* base + disk, no .tmp */
    if (!f->patterned) {
        print_message("qemu-io not found: skipping the content check\n");
        return;
    }
    /* The overlay reads the base's bytes, and only those. */
    must_run((const char *[]){"qemu-io", "-r", "-f", "qcow2", "-c", "read -P 0xab 0 64k",
                              f->overlay, NULL});
    must_run((const char *[]){"qemu-io", "-r", "-f", "qcow2", "-c", "read -P 0x00 64k 64k",
                              f->overlay, NULL});
}

static void overlay_of_base(void **state)
{
    fixture *f = *state;
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(disk_create_overlay(f->base, "qcow2", f->overlay, 1, &err), 0);
    assert_null(err);
    check_overlay(f);
    disk_info bi;
    assert_int_equal(disk_info_get(f->base, &bi, &err), 0);
    assert_int_equal(bi.virtual_size, 64 * 1024 * 1024);
    assert_string_equal(bi.backing, "");
}

static void comma_and_space_in_path(void **state)
{
    fixture *f = *state;
    assert_non_null(strchr(f->dir, ','));
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(disk_create_overlay(f->base, "qcow2", f->overlay, 1, &err), 0);
    assert_null(err);
    check_overlay(f);
}

/* A relative base is recorded absolute: the overlay must not depend on
 * the agent's working directory. */
static void relative_base_made_absolute(void **state)
{
    fixture *f = *state;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(f->dir), 0);
    _cleanup_error_ cu_error *err = NULL;
    int r = disk_create_overlay("base.qcow2", "qcow2", "disk.qcow2", 1, &err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(r, 0);
    check_overlay(f);
}

static void too_small_refused(void **state)
{
    fixture *f = *state;
    /* A 3 GiB base, too big for a 2 GiB disk (no data: only the size counts). */
    char big[300];
    snprintf(big, sizeof(big), "%s/big.qcow2", f->dir);
    must_run((const char *[]){"qemu-img", "create", "-q", "-f", "qcow2", big, "3G", NULL});
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(disk_create_overlay(big, "qcow2", f->overlay, 2, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->status, 400);
    assert_string_equal(err->field, "disk_gib");
    assert_contains(err->message, "needs at least 3 GiB");
    assert_contains(err->message, "2 GiB");
    assert_contains(err->message, big);
    assert_int_equal(count_entries(f->dir), 2); /* base + big: no disk, no .tmp */
}

static void missing_base_refused(void **state)
{
    fixture *f = *state;
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/nope.qcow2", f->dir);
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(disk_create_overlay(missing, "qcow2", f->overlay, 1, &err), -1);
    assert_non_null(err);
    assert_contains(err->message, missing);
    assert_contains(err->message, "No such file or directory");
    assert_int_equal(count_entries(f->dir), 1);
}

/* A raw file declared qcow2 is refused by qemu-img itself. */
static void wrong_format_refused(void **state)
{
    fixture *f = *state;
    char raw[300];
    snprintf(raw, sizeof(raw), "%s/raw.img", f->dir);
    must_run((const char *[]){"qemu-img", "create", "-q", "-f", "raw", raw, "1M", NULL});
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(disk_create_overlay(raw, "qcow2", f->overlay, 1, &err), -1);
    assert_non_null(err);
    assert_contains(err->message, "qemu-img");
    assert_int_equal(count_entries(f->dir), 2);
    cu_error_free(err);
    err = NULL;
    assert_int_equal(disk_create_overlay(raw, "vmdk;x", f->overlay, 1, &err), -1);
    assert_int_equal(err->status, 400);
    assert_int_equal(count_entries(f->dir), 2);
}

static void existing_disk_kept(void **state)
{
    fixture *f = *state;
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(disk_create_overlay(f->base, "qcow2", f->overlay, 1, &err), 0);
    struct stat before, after;
    assert_int_equal(stat(f->overlay, &before), 0);
    assert_int_equal(disk_create_overlay(f->base, "qcow2", f->overlay, 5, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->status, 409);
    assert_contains(err->message, "already exists");
    assert_int_equal(stat(f->overlay, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_size, after.st_size);
    assert_int_equal(count_entries(f->dir), 2);
}

/* A .tmp left by a crash is not mistaken for a disk and is replaced. */
static void stale_tmp_replaced(void **state)
{
    fixture *f = *state;
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->overlay);
    FILE *fp = fopen(tmp, "w");
    assert_non_null(fp);
    fputs("half a disk", fp);
    fclose(fp);
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(disk_create_overlay(f->base, "qcow2", f->overlay, 1, &err), 0);
    check_overlay(f);
}

static void info_errors(void **state)
{
    fixture *f = *state;
    disk_info info;
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(disk_info_get(f->dir, &info, &err), -1);
    assert_non_null(err);
    assert_contains(err->message, f->dir);
    cu_error_free(err);
    err = NULL;
    assert_int_equal(disk_create_overlay(f->base, "qcow2", f->overlay, 0, &err), -1);
    assert_int_equal(err->status, 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(overlay_of_base, setup, teardown),
        cmocka_unit_test_setup_teardown(comma_and_space_in_path, setup_comma, teardown),
        cmocka_unit_test_setup_teardown(relative_base_made_absolute, setup_comma, teardown),
        cmocka_unit_test_setup_teardown(too_small_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_base_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_format_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(existing_disk_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_tmp_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(info_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
