/* test_seed_iso.c: agent/seed_iso.c, checked from the outside with the
 * tools a person would use on the result (isoinfo, blkid), run from argv
 * arrays: volume id, Rock Ridge + Joliet, names, exact contents, modes and
 * owners, determinism (also across threads and timezones), and the failure
 * paths leaving nothing behind. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cmd.h"
#include "seed_iso.h"

#define META "instance-id: vm-0123\nlocal-hostname: web-1\n"

typedef struct fixture {
    char dir[64];
    char iso[128];
} fixture;

/* Runs a tool; returns its stdout (caller frees), failing the test if the
 * tool fails. */
static char *run_tool(const char *const *argv)
{
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new(argv[0]);
    for (size_t i = 1; argv[i]; i++)
        cu_cmd_arg(c, argv[i]);
    _cleanup_error_ cu_error *err = NULL;
    if (cu_cmd_run(c, &err) < 0)
        fail_msg("%s", err->message);
    char *out = strdup(cu_cmd_stdout(c));
    assert_non_null(out);
    return out;
}

/* How many entries a directory holds (for "nothing else left" checks). */
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
        assert_true(asprintf(&p, "%s/%s", dir, e->d_name) > 0);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            chmod(p, 0700);
            remove_tree(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/cumulus-seed-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->iso, sizeof(f->iso), "%s/seed.iso", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    remove_tree(f->dir);
    free(f);
    return 0;
}

static char *read_file(const char *path, size_t *len)
{
    _cleanup_fclose_ FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *buf = NULL;
    size_t cap = 0;
    FILE *mem = open_memstream(&buf, &cap);
    char chunk[8192];
    for (size_t n; (n = fread(chunk, 1, sizeof(chunk), fp)) > 0;)
        fwrite(chunk, 1, n, mem);
    fclose(mem);
    *len = cap;
    return buf;
}

/* Multi-KB cloud-config with UTF-8 in it. */
static char *utf8_user_data(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    fputs("#cloud-config\nusers:\n  - name: zoë\n    gecos: \"Zoë Ørsted — ☁ 雲\"\n", m);
    fputs("write_files:\n  - path: /etc/motd\n    content: |\n", m);
    for (int i = 0; i < 200; i++)
        fprintf(m, "      line %03d: ünïcödé ✓ λ→∞ 日本語\n", i);
    fclose(m);
    assert_true(len > 4096);
    return buf;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("expected '%s' in:\n%s", needle, hay);
}

static void assert_extracts(const char *iso, const char *name, const char *want)
{
    _cleanup_free_ char *got =
        run_tool((const char *[]){"isoinfo", "-R", "-x", name, "-i", iso, NULL});
    assert_int_equal(strlen(got), strlen(want));
    assert_string_equal(got, want);
}

static void volume_and_extensions(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *ud = utf8_user_data();
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(seed_iso_write(f->iso, ud, META, NULL, &err), 0);
    assert_null(err);
    _cleanup_free_ char *d = run_tool((const char *[]){"isoinfo", "-d", "-i", f->iso, NULL});
    assert_contains(d, "Volume id: cidata\n");
    assert_contains(d, "Rock Ridge signatures version 1 found");
    assert_contains(d, "Joliet with UCS level 3 found");
    _cleanup_free_ char *label =
        run_tool((const char *[]){"blkid", "-o", "value", "-s", "LABEL", f->iso, NULL});
    assert_string_equal(label, "cidata\n");
    _cleanup_free_ char *type =
        run_tool((const char *[]){"blkid", "-o", "value", "-s", "TYPE", f->iso, NULL});
    assert_string_equal(type, "iso9660\n");
    /* The volume "UUID" is the creation time: pinned, not the clock. */
    _cleanup_free_ char *uuid =
        run_tool((const char *[]){"blkid", "-p", "-o", "value", "-s", "UUID", f->iso, NULL});
    assert_string_equal(uuid, "2000-01-01-00-00-00-00\n");
}

static void files_modes_and_contents(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *ud = utf8_user_data();
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(seed_iso_write(f->iso, ud, META, NULL, &err), 0);
    _cleanup_free_ char *rr = run_tool((const char *[]){"isoinfo", "-R", "-f", "-i", f->iso, NULL});
    assert_string_equal(rr, "/meta-data\n/user-data\n");
    _cleanup_free_ char *jo = run_tool((const char *[]){"isoinfo", "-J", "-f", "-i", f->iso, NULL});
    assert_string_equal(jo, "/meta-data\n/user-data\n");
    assert_extracts(f->iso, "/user-data", ud);
    assert_extracts(f->iso, "/meta-data", META);
    _cleanup_free_ char *ls = run_tool((const char *[]){"isoinfo", "-R", "-l", "-i", f->iso, NULL});
    assert_contains(ls, "-rw-r--r--   1    0    0           ");
    assert_contains(ls, "drwxr-xr-x   1    0    0");
    assert_contains(ls, "Jan  1 2000");
    /* Nothing but the seed in the directory: the temporary file is gone. */
    assert_int_equal(count_entries(f->dir), 1);
}

static char *big_content(size_t len)
{
    char *s = malloc(len + 1);
    assert_non_null(s);
    for (size_t i = 0; i < len; i++)
        s[i] = (i % 64 == 63) ? '\n' : (char)('a' + (i * 7) % 26);
    s[len] = '\0';
    return s;
}

static void network_config_and_64k(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *ud = big_content(64 * 1024);
    const char *net = "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n";
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(seed_iso_write(f->iso, ud, META, net, &err), 0);
    _cleanup_free_ char *rr = run_tool((const char *[]){"isoinfo", "-R", "-f", "-i", f->iso, NULL});
    assert_string_equal(rr, "/meta-data\n/network-config\n/user-data\n");
    assert_extracts(f->iso, "/user-data", ud);
    assert_extracts(f->iso, "/network-config", net);
    assert_extracts(f->iso, "/meta-data", META);
    /* An empty file is still a file. */
    assert_int_equal(seed_iso_write(f->iso, "", META, NULL, &err), 0);
    assert_extracts(f->iso, "/user-data", "");
}

static void assert_same_file(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    _cleanup_free_ char *da = read_file(a, &la);
    _cleanup_free_ char *db = read_file(b, &lb);
    assert_int_equal(la, lb);
    assert_true(la > 0 && la % 2048 == 0);
    assert_memory_equal(da, db, la);
}

static void deterministic(void **state)
{
    fixture *f = *state;
    _cleanup_free_ char *ud = utf8_user_data();
    char second[160];
    snprintf(second, sizeof(second), "%s/again.iso", f->dir);
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(seed_iso_write(f->iso, ud, META, "version: 2\n", &err), 0);
    sleep(1); /* a different second on the clock */
    const char *tz = getenv("TZ");
    _cleanup_free_ char *old_tz = tz ? strdup(tz) : NULL;
    setenv("TZ", "America/St_Johns", 1); /* -03:30, not a whole hour */
    tzset();
    assert_int_equal(seed_iso_write(second, ud, META, "version: 2\n", &err), 0);
    old_tz ? setenv("TZ", old_tz, 1) : unsetenv("TZ");
    tzset();
    assert_null(err);
    assert_same_file(f->iso, second);
    /* Different input, different bytes. */
    assert_int_equal(seed_iso_write(second, ud, META, NULL, &err), 0);
    size_t la = 0, lb = 0;
    _cleanup_free_ char *da = read_file(f->iso, &la);
    _cleanup_free_ char *db = read_file(second, &lb);
    assert_true(la != lb || memcmp(da, db, la) != 0);
}

typedef struct job {
    char path[160];
    int rc;
} job;

static void *build_job(void *arg)
{
    job *j = arg;
    _cleanup_free_ char *ud = big_content(20000);
    _cleanup_error_ cu_error *err = NULL;
    j->rc = seed_iso_write(j->path, ud, META, NULL, &err);
    return NULL;
}

/* Several VMs' seeds at once: every one whole and identical. */
static void concurrent_builds(void **state)
{
    fixture *f = *state;
    enum { N = 6 };
    job jobs[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        snprintf(jobs[i].path, sizeof(jobs[i].path), "%s/seed-%d.iso", f->dir, i);
        assert_int_equal(pthread_create(&th[i], NULL, build_job, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].rc, 0);
    }
    for (int i = 1; i < N; i++)
        assert_same_file(jobs[0].path, jobs[i].path);
    assert_int_equal(count_entries(f->dir), N);
}

static void assert_refused(const char *path, const char *mention)
{
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(seed_iso_write(path, "#cloud-config\n", META, NULL, &err), -1);
    assert_non_null(err);
    assert_contains(err->message, mention);
    assert_contains(err->message, path);
}

static void unwritable_directory(void **state)
{
    fixture *f = *state;
    char path[200];
    snprintf(path, sizeof(path), "%s/missing/seed.iso", f->dir);
    assert_refused(path, "No such file or directory");
    char file[160];
    snprintf(file, sizeof(file), "%s/plain", f->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/plain/seed.iso", f->dir);
    assert_refused(path, "Not a directory");
    assert_int_equal(count_entries(f->dir), 1); /* just "plain" */
    /* Mode bits do not stop root, so this case only runs unprivileged. */
    if (geteuid() != 0) {
        char ro[160];
        snprintf(ro, sizeof(ro), "%s/ro", f->dir);
        assert_int_equal(mkdir(ro, 0555), 0);
        snprintf(path, sizeof(path), "%s/seed.iso", ro);
        assert_refused(path, "Permission denied");
        assert_int_equal(count_entries(ro), 0);
    }
}

/* A write that fails half-way (file size limit) removes its temporary
 * file and leaves an older seed untouched. */
static void failure_midway_leaves_nothing(void **state)
{
    fixture *f = *state;
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(seed_iso_write(f->iso, "old\n", META, NULL, &err), 0);
    _cleanup_free_ char *ud = big_content(256 * 1024);
    struct rlimit old, small = {.rlim_cur = 128 * 1024};
    getrlimit(RLIMIT_FSIZE, &old);
    small.rlim_max = old.rlim_max;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int r = seed_iso_write(f->iso, ud, META, NULL, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(r, -1);
    assert_non_null(err);
    assert_contains(err->message, "File too large");
    assert_int_equal(count_entries(f->dir), 1);
    assert_extracts(f->iso, "/user-data", "old\n");
}

static void missing_arguments(void **state)
{
    fixture *f = *state;
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(seed_iso_write(f->iso, NULL, META, NULL, &err), -1);
    assert_non_null(err);
    assert_contains(err->message, "required");
    assert_int_equal(count_entries(f->dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(volume_and_extensions, setup, teardown),
        cmocka_unit_test_setup_teardown(files_modes_and_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(network_config_and_64k, setup, teardown),
        cmocka_unit_test_setup_teardown(deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_builds, setup, teardown),
        cmocka_unit_test_setup_teardown(unwritable_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(failure_midway_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
