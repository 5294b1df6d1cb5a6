/* test_image_file.c: file:/// image URLs read only inside the agent's
 * image-file-dirs (agent/image_file.c): the setting, files inside and
 * outside, ".." and symlinks that escape, escapes in the URL, other hosts,
 * files that are not regular, and the same refusals through the image
 * cache, which then holds nothing. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_cache.h"
#include "image_file.h"

static char root[] = "/tmp/cu-image-file-XXXXXX";
static char allowed_dir[256], outside_dir[256];
static image_file_dirs dirs;

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void link_to(const char *target, const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(symlink(target, path), 0);
}

/* root/allowed/{disk.img, a b.img, link-out.img -> ../outside/secret,
 *   sub -> ../outside, fifo, dir/}, root/outside/secret, root/alias ->
 *   allowed; image-file-dirs = root/alias (a symlink, as given). */
static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(root));
    snprintf(allowed_dir, sizeof(allowed_dir), "%s/allowed", root);
    snprintf(outside_dir, sizeof(outside_dir), "%s/outside", root);
    assert_int_equal(mkdir(allowed_dir, 0700), 0);
    assert_int_equal(mkdir(outside_dir, 0700), 0);
    write_text(allowed_dir, "disk.img", "an image\n");
    write_text(allowed_dir, "a b.img", "spaced\n");
    write_text(outside_dir, "secret", "root:x:0:0\n");
    link_to("../outside/secret", allowed_dir, "link-out.img");
    link_to("../outside", allowed_dir, "sub");
    link_to("allowed", root, "alias");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/fifo", allowed_dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(path, sizeof(path), "%s/dir", allowed_dir);
    assert_int_equal(mkdir(path, 0700), 0);
    char setting[PATH_MAX];
    snprintf(setting, sizeof(setting), "::%s/alias/:", root);
    cu_error *err = NULL;
    assert_int_equal(image_file_dirs_parse(setting, &dirs, &err), 0);
    assert_int_equal(dirs.n, 1);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    (void)state;
    image_file_dirs_clear(&dirs);
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* image_file_open on file://<root><rest>: the descriptor, or -1 with *err. */
static int open_rest(const image_file_dirs *d, const char *rest, cu_error **err)
{
    char url[PATH_MAX + 32];
    snprintf(url, sizeof(url), "file://%s%s", root, rest);
    long long size = -1;
    int fd = image_file_open(d, "img", url, &size, err);
    if (fd >= 0)
        assert_true(size > 0);
    return fd;
}

static void expect_refused(const char *rest, int status, const char *code, const char *what)
{
    cu_error *err = NULL;
    assert_int_equal(open_rest(&dirs, rest, &err), -1);
    if (err->status != status || strstr(err->message, what) == NULL)
        fail_msg("%s: %d %s", rest, err->status, err->message);
    assert_string_equal(err->code, code);
    cu_error_freep(&err);
}

static void the_setting(void **state)
{
    (void)state;
    image_file_dirs d;
    cu_error *err = NULL;
    assert_int_equal(image_file_dirs_parse(NULL, &d, &err), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(image_file_dirs_parse("", &d, &err), 0);
    assert_int_equal(d.n, 0);
    const char *bad[] = {"relative/dir", "/nonexistent-cumulus-dir", "/etc/passwd"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char setting[PATH_MAX];
        snprintf(setting, sizeof(setting), "%s:%s", allowed_dir, bad[i]);
        assert_int_equal(image_file_dirs_parse(setting, &d, &err), -1);
        assert_non_null(strstr(err->message, "image-file-dirs"));
        assert_non_null(strstr(err->message, bad[i]));
        assert_int_equal(d.n, 0);
        cu_error_freep(&err);
    }
}

static void files_inside_are_opened(void **state)
{
    (void)state;
    cu_error *err = NULL;
    const char *good[] = {"/alias/disk.img", "/allowed/disk.img", "/allowed/a%20b.img",
                          "/allowed/dir/../disk.img", "/allowed/%64isk.img"};
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        int fd = open_rest(&dirs, good[i], &err);
        if (fd < 0)
            fail_msg("%s: %s", good[i], err->message);
        close(fd);
    }
    char url[PATH_MAX + 32];
    long long size = 0;
    snprintf(url, sizeof(url), "FILE://localhost%s/disk.img", allowed_dir);
    int fd = image_file_open(&dirs, "img", url, &size, &err);
    assert_true(fd >= 0);
    assert_int_equal(size, strlen("an image\n"));
    close(fd);
}

static void escapes_are_refused(void **state)
{
    (void)state;
    const char *out = "outside the directories this host's agent reads images from (its "
                      "setting image-file-dirs)";
    expect_refused("/outside/secret", 403, "forbidden", out);
    expect_refused("/allowed/../outside/secret", 403, "forbidden", out);
    expect_refused("/allowed/%2e%2e/outside/secret", 403, "forbidden", out);
    expect_refused("/allowed/link-out.img", 403, "forbidden", "/outside/secret')");
    expect_refused("/allowed/sub/secret", 403, "forbidden", "(really '");
    expect_refused("/alias/sub/secret", 403, "forbidden", out);
    /* A missing file outside says no more than an existing one. */
    expect_refused("/outside/nonexistent", 403, "forbidden", out);
    expect_refused("/allowedx/disk.img", 403, "forbidden", out);
    /* Inside, but nothing to read there. */
    expect_refused("/allowed/nonexistent", 502, IMAGE_E_DOWNLOAD, "No such file or directory");
    expect_refused("/allowed/fifo", 502, IMAGE_E_DOWNLOAD, "not a regular file");
    expect_refused("/allowed/dir", 502, IMAGE_E_DOWNLOAD, "not a regular file");
    /* Not a path on this host. */
    expect_refused("/allowed/disk%00.img", 400, "invalid_field", "not a file:/// URL");
    expect_refused("/allowed/disk%zz.img", 400, "invalid_field", "not a file:/// URL");
    cu_error *err = NULL;
    long long size;
    const char *urls[] = {"file://evil.example/etc/passwd", "file:relative", "file:/etc/passwd"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
        assert_int_equal(image_file_open(&dirs, "img", urls[i], &size, &err), -1);
        assert_int_equal(err->status, 400);
        cu_error_freep(&err);
    }
}

static void none_allowed_refuses_every_file(void **state)
{
    (void)state;
    image_file_dirs none = {0};
    cu_error *err = NULL;
    assert_int_equal(open_rest(&none, "/allowed/disk.img", &err), -1);
    assert_int_equal(err->status, 403);
    assert_non_null(strstr(err->message, "setting image-file-dirs lists no directory"));
    cu_error_freep(&err);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

/* Through the cache: refused before a byte is read, nothing kept; an
 * allowed file is verified and kept as any download. */
static void the_cache_keeps_only_allowed_files(void **state)
{
    (void)state;
    char cache_dir[PATH_MAX], images[PATH_MAX + 8], url[PATH_MAX + 32];
    snprintf(cache_dir, sizeof(cache_dir), "%s/cache", root);
    snprintf(images, sizeof(images), "%s/images", cache_dir);
    cu_error *err = NULL;
    image_cache *c = image_cache_open(cache_dir, &err);
    assert_non_null(c);
    image_cache_set_retry_window(c, 0);
    /* sha256 of "root:x:0:0\n": the right checksum does not let it in */
    const char *secret_sum =
        "sha256:7cf1f940025c27c78e5e4a707519f0e06178702e6dc16722f3d48e13f5e60d9e";
    snprintf(url, sizeof(url), "file://%s/disk.img", allowed_dir);
    assert_null(image_cache_ensure(c, "img", url, secret_sum, "raw", NULL, NULL, &err));
    assert_int_equal(err->status, 403); /* none allowed yet */
    cu_error_freep(&err);
    assert_int_equal(image_cache_allow_files(c, allowed_dir, &err), 0);
    snprintf(url, sizeof(url), "file://%s/link-out.img", allowed_dir);
    assert_null(image_cache_ensure(c, "img", url, secret_sum, "raw", NULL, NULL, &err));
    assert_int_equal(err->status, 403);
    assert_non_null(strstr(err->message, "image-file-dirs"));
    cu_error_freep(&err);
    assert_int_equal(count_entries(images), 0);
    /* sha256 of "an image\n" */
    snprintf(url, sizeof(url), "file://%s/disk.img", allowed_dir);
    char *path = image_cache_ensure(
        c, "img", url, "sha256:1fa553188056d54b221eeddbddd7aa7fcd53b44fa8b8e419e452ebf3b4ef35d8",
        "raw", NULL, NULL, &err);
    if (path == NULL)
        fail_msg("%s", err->message);
    assert_int_equal(count_entries(images), 1);
    free(path);
    image_cache_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_setting),
        cmocka_unit_test(files_inside_are_opened),
        cmocka_unit_test(escapes_are_refused),
        cmocka_unit_test(none_allowed_refuses_every_file),
        cmocka_unit_test(the_cache_keeps_only_allowed_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
