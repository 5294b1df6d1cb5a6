/* test_image_cache.c: agent/image_cache with real downloads: file:// from a
 * temporary directory (the one allowed, as image-file-dirs would: see
 * test_image_file.c) and http:// from a tiny libmicrohttpd server started
 * here (serving an image, a 404, a connection cut halfway, and "gated"
 * answers the test releases, to catch concurrent ensure() calls in flight). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <microhttpd.h>
#include <time.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ids.h"
#include "image_cache.h"

#define IMAGE_SIZE (3 * 1024 * 1024 + 123)
#define OTHER_SIZE (1024 * 1024)

static char root[] = "/tmp/cu-image-cache-XXXXXX";
static char src_path[PATH_MAX], src_url[PATH_MAX + 16];
static unsigned char *image, *other;
static char sha256[65], sha512[129], other_sha256[65];
static char sum256[72], sum512[136], sum_other[72]; /* "sha256:<hex>", ... */

static struct MHD_Daemon *daemon_;
static unsigned port_;
static atomic_int hits_image, hits_gated, hits_flaky;
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open;

/* ---- the test server ---------------------------------------------------- */

static ssize_t read_half(void *cls, uint64_t pos, char *buf, size_t max)
{
    if (pos >= IMAGE_SIZE / 2)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* the connection drops */
    size_t n = IMAGE_SIZE / 2 - pos < max ? IMAGE_SIZE / 2 - pos : max;
    memcpy(buf, image + pos, n);
    return (ssize_t)n;
}

static void wait_for_gate(void)
{
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static struct MHD_Response *respond(const char *url, unsigned *status)
{
    *status = 200;
    if (strcmp(url, "/image") == 0)
        hits_image++;
    if (strcmp(url, "/gated") == 0 || strcmp(url, "/gated-other") == 0) {
        hits_gated++;
        wait_for_gate();
    }
    if (strcmp(url, "/image") == 0 || strcmp(url, "/gated") == 0)
        return MHD_create_response_from_buffer(IMAGE_SIZE, image, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/gated-other") == 0)
        return MHD_create_response_from_buffer(OTHER_SIZE, other, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/flaky") == 0 && ++hits_flaky <= 2) { /* a 503, then a dropped connection */
        if (hits_flaky == 2)
            return MHD_create_response_from_callback(IMAGE_SIZE, 64 * 1024, read_half, NULL, NULL);
        *status = 503;
        return MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(url, "/flaky") == 0)
        return MHD_create_response_from_buffer(IMAGE_SIZE, image, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/half") == 0)
        return MHD_create_response_from_callback(IMAGE_SIZE, 64 * 1024, read_half, NULL, NULL);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    *status = strcmp(url, "/to-file") == 0 ? 302 : 404;
    if (*status == 302) /* a web server must not make the agent read local files */
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, src_url);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    static int first_call_marker;
    if (*con_cls == NULL) { /* headers only: never answer on the first call */
        *con_cls = &first_call_marker;
        return MHD_YES;
    }
    unsigned status;
    struct MHD_Response *r = respond(url, &status);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void start_server(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    daemon_ = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
        NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin, MHD_OPTION_END);
    assert_non_null(daemon_);
    port_ = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
}

/* ---- fixtures ------------------------------------------------------------ */

static void hex_digest(const EVP_MD *md, const void *data, size_t len, char *out)
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    assert_int_equal(EVP_Digest(data, len, raw, &n, md, NULL), 1);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", raw[i]);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state)
{
    assert_non_null(mkdtemp(root));
    image = malloc(IMAGE_SIZE);
    other = malloc(OTHER_SIZE);
    cu_random_bytes(image, IMAGE_SIZE);
    cu_random_bytes(other, OTHER_SIZE);
    hex_digest(EVP_sha256(), image, IMAGE_SIZE, sha256);
    hex_digest(EVP_sha512(), image, IMAGE_SIZE, sha512);
    hex_digest(EVP_sha256(), other, OTHER_SIZE, other_sha256);
    snprintf(sum256, sizeof(sum256), "sha256:%s", sha256);
    snprintf(sum512, sizeof(sum512), "sha512:%s", sha512);
    snprintf(sum_other, sizeof(sum_other), "sha256:%s", other_sha256);
    snprintf(src_path, sizeof(src_path), "%s/source.qcow2", root);
    snprintf(src_url, sizeof(src_url), "file://%s", src_path);
    start_server();
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int group_teardown(void **state)
{
    MHD_stop_daemon(daemon_);
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(image);
    free(other);
    return 0;
}

/* Each test: a fresh source file and a fresh, empty cache. */
static char cache_dir[PATH_MAX], images_dir[PATH_MAX + 8];
static image_cache *cache;

static int test_setup(void **state)
{
    static int n;
    write_file(src_path, image, IMAGE_SIZE);
    snprintf(cache_dir, sizeof(cache_dir), "%s/cache-%d", root, ++n);
    snprintf(images_dir, sizeof(images_dir), "%s/images", cache_dir);
    hits_image = hits_gated = hits_flaky = 0;
    gate_open = 0;
    cu_error *err = NULL;
    cache = image_cache_open(cache_dir, &err);
    if (cache) {
        image_cache_set_retry_window(cache, 0); /* failures fail at once, but in retry tests */
        if (image_cache_allow_files(cache, root, &err) < 0) /* the sources (image_file.h) */
            return -1;
    }
    return cache ? 0 : -1;
}

static int test_teardown(void **state)
{
    image_cache_close(cache);
    cache = NULL;
    return 0;
}

static int count_entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void assert_file_is_image(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, IMAGE_SIZE);
    assert_int_equal(st.st_mode & 0777, 0444); /* base images are never written */
    unsigned char *got = malloc(IMAGE_SIZE);
    FILE *f = fopen(path, "rb");
    assert_int_equal(fread(got, 1, IMAGE_SIZE, f), IMAGE_SIZE);
    fclose(f);
    assert_memory_equal(got, image, IMAGE_SIZE);
    free(got);
}

static char *expected_path(const char *algo, const char *hex, const char *format)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s-%s.%s", images_dir, algo, hex, format) > 0);
    return p;
}

static char *http_url(const char *path)
{
    char *u = NULL;
    assert_true(asprintf(&u, "http://127.0.0.1:%u%s", port_, path) > 0);
    return u;
}

static char *with_prefix(const char *prefix, const char *hex)
{
    char *s = NULL;
    assert_true(asprintf(&s, "%s%s", prefix, hex) > 0);
    return s;
}

typedef struct progress {
    int calls;
    long long done, total;
} progress;

static void on_progress(void *opaque, long long done, long long total)
{
    progress *p = opaque;
    p->calls++;
    assert_true(done >= p->done);
    p->done = done;
    p->total = total;
}

/* ---- tests --------------------------------------------------------------- */

static void file_download_lands_under_checksum(void **state)
{
    cu_error *err = NULL;
    char *want = expected_path("sha256", sha256, "qcow2");
    progress p = {0};
    char *path =
        image_cache_ensure(cache, "debian-12", src_url, sum256, "qcow2", on_progress, &p, &err);
    assert_null(err);
    assert_string_equal(path, want);
    assert_file_is_image(path);
    assert_int_equal(count_entries(images_dir), 1);
    assert_true(p.calls >= 1);
    assert_int_equal(p.done, IMAGE_SIZE);
    assert_int_equal(p.total, IMAGE_SIZE);
    free(path);
    free(want);
}

static void sha512_and_upper_case_hex(void **state)
{
    cu_error *err = NULL;
    char upper[sizeof(sum512)];
    for (size_t i = 0; i < sizeof(upper); i++)
        upper[i] = i < 7 ? sum512[i] : (char)toupper((unsigned char)sum512[i]);
    char *want = expected_path("sha512", sha512, "raw");
    char *path = image_cache_ensure(cache, "img", src_url, upper, "raw", NULL, NULL, &err);
    assert_null(err);
    assert_string_equal(path, want);
    assert_file_is_image(path);
    free(path);
    free(want);
}

static void cached_image_is_not_downloaded_again(void **state)
{
    cu_error *err = NULL;
    char *first = image_cache_ensure(cache, "img", src_url, sum256, "qcow2", NULL, NULL, &err);
    assert_non_null(first);
    assert_int_equal(unlink(src_path), 0); /* a download now would fail */
    progress p = {0};
    char *again = image_cache_ensure(cache, "img", src_url, sum256, "qcow2", on_progress, &p, &err);
    assert_null(err);
    assert_string_equal(again, first);
    assert_int_equal(p.calls, 0);
    image_cache_close(cache);
    cache = image_cache_open(cache_dir, &err); /* an agent restart keeps the cache */
    assert_non_null(cache);
    free(again);
    again = image_cache_ensure(cache, "img", src_url, sum256, "qcow2", NULL, NULL, &err);
    assert_string_equal(again, first);
    assert_file_is_image(again);
    free(again);
    free(first);
}

static void wrong_checksum_leaves_nothing(void **state)
{
    cu_error *err = NULL;
    const char *zeros = "0000000000000000000000000000000000000000000000000000000000000000";
    char *sum = with_prefix("sha256:", zeros), *want = NULL;
    assert_null(image_cache_ensure(cache, "debian-12", src_url, sum, "qcow2", NULL, NULL, &err));
    assert_true(asprintf(&want,
                         "image 'debian-12': checksum mismatch: expected sha256:%s, got "
                         "sha256:%s (downloaded from %s)",
                         zeros, sha256, src_url) > 0);
    assert_string_equal(err->message, want);
    assert_string_equal(err->code, IMAGE_E_CHECKSUM);
    assert_int_equal(count_entries(images_dir), 0);
    cu_error_freep(&err);
    free(want);
    free(sum);
}

static void missing_source_leaves_nothing(void **state)
{
    cu_error *err = NULL;
    char *url = with_prefix(src_url, ".missing");
    assert_null(image_cache_ensure(cache, "img", url, sum256, "qcow2", NULL, NULL, &err));
    assert_string_equal(err->code, IMAGE_E_DOWNLOAD);
    assert_non_null(strstr(err->message, "image 'img': downloading '"));
    assert_non_null(strstr(err->message, url));
    assert_int_equal(count_entries(images_dir), 0);
    cu_error_freep(&err);
    free(url);
}

static void bad_requests_are_refused(void **state)
{
    cu_error *err = NULL;
    struct {
        const char *url, *sum, *format, *what;
    } bad[] = {
        {"ftp://example.org/x.img", sum256, "qcow2", "unsupported URL 'ftp://"},
        {"/etc/passwd", sum256, "qcow2", "unsupported URL '/etc/passwd'"},
        {src_url, "md5:d41d8cd98f00b204e9800998ecf8427e", "qcow2", "invalid checksum 'md5:"},
        {src_url, "sha256:abc", "qcow2", "invalid checksum 'sha256:abc'"},
        {src_url, "sha512:zz", "qcow2", "invalid checksum"},
        {src_url, sum256, "../qcow2", "invalid format '../qcow2'"},
        {src_url, sum256, "", "invalid format ''"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_null(image_cache_ensure(cache, "img", bad[i].url, bad[i].sum, bad[i].format, NULL,
                                       NULL, &err));
        assert_int_equal(err->status, 400);
        assert_non_null(strstr(err->message, bad[i].what));
        cu_error_freep(&err);
    }
    assert_int_equal(count_entries(images_dir), 0);
}

static void full_disk_leaves_nothing(void **state)
{
    cu_error *err = NULL;
    struct rlimit old, small = {.rlim_cur = 1024 * 1024};
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN); /* write(2) fails with EFBIG, as with ENOSPC */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    char *path = image_cache_ensure(cache, "img", src_url, sum256, "qcow2", NULL, NULL, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    assert_null(path);
    assert_non_null(strstr(err->message, "cannot store the download of"));
    assert_int_equal(count_entries(images_dir), 0);
    cu_error_freep(&err);
}

static void http_download(void **state)
{
    cu_error *err = NULL;
    char *url = http_url("/image");
    progress p = {0};
    char *path = image_cache_ensure(cache, "img", url, sum256, "qcow2", on_progress, &p, &err);
    assert_null(err);
    assert_file_is_image(path);
    assert_int_equal(hits_image, 1);
    assert_int_equal(p.done, IMAGE_SIZE);
    assert_int_equal(p.total, IMAGE_SIZE);
    free(path);
    free(url);
}

static void http_failures_leave_nothing(void **state)
{
    const char *paths[] = {"/missing", "/half", "/to-file"};
    const char *why[] = {"404", "transfer closed", "\"file\" not supported"};
    for (int i = 0; i < 3; i++) {
        cu_error *err = NULL;
        char *url = http_url(paths[i]);
        assert_null(image_cache_ensure(cache, "img", url, sum256, "qcow2", NULL, NULL, &err));
        assert_string_equal(err->code, IMAGE_E_DOWNLOAD);
        assert_non_null(strstr(err->message, url));
        assert_non_null(strstr(err->message, why[i]));
        assert_int_equal(count_entries(images_dir), 0);
        cu_error_freep(&err);
        free(url);
    }
}

static void a_source_down_for_a_moment_is_tried_again(void **state)
{
    cu_error *err = NULL;
    char *url = http_url("/flaky");
    image_cache_set_retry_window(cache, 60000);
    char *path = image_cache_ensure(cache, "img", url, sum256, "qcow2", NULL, NULL, &err);
    assert_null(err);
    assert_file_is_image(path); /* whole and verified: the cut reply left nothing behind */
    assert_int_equal(hits_flaky, 3);
    free(path);
    free(url);
}

static void retries_end_with_the_window(void **state)
{
    cu_error *err = NULL;
    char *url = http_url("/half");
    image_cache_set_retry_window(cache, 2500); /* room for the 1 s retry, not the 2 s one */
    assert_null(image_cache_ensure(cache, "img", url, sum256, "qcow2", NULL, NULL, &err));
    assert_string_equal(err->code, IMAGE_E_DOWNLOAD);
    assert_non_null(strstr(err->message, "transfer closed"));
    assert_int_equal(count_entries(images_dir), 0);
    cu_error_freep(&err);
    free(url);
    url = http_url("/missing"); /* a 404 is not down for a moment: no retry */
    long long t0 = time(NULL);
    assert_null(image_cache_ensure(cache, "img", url, sum256, "qcow2", NULL, NULL, &err));
    assert_true(time(NULL) - t0 < 2);
    assert_non_null(strstr(err->message, "404"));
    cu_error_freep(&err);
    free(url);
}

typedef struct ensure_job {
    const char *path, *sum;
    char *result;
    cu_error *err;
    pthread_t thread;
} ensure_job;

static void *ensure_thread(void *arg)
{
    ensure_job *j = arg;
    char *url = http_url(j->path);
    j->result = image_cache_ensure(cache, "img", url, j->sum, "qcow2", NULL, NULL, &j->err);
    free(url);
    return NULL;
}

static void wait_hits(atomic_int *hits, int n)
{
    for (int i = 0; i < 500 && *hits < n; i++)
        usleep(10000);
    assert_int_equal(*hits, n);
}

/* Runs a and b against gated answers.  staggered: b starts once a's request
 * is at the server (so b finds a's download in flight); else both requests
 * must reach the server before either is answered. */
static void run_pair(ensure_job *a, ensure_job *b, int staggered)
{
    assert_int_equal(pthread_create(&a->thread, NULL, ensure_thread, a), 0);
    if (staggered)
        wait_hits(&hits_gated, 1);
    assert_int_equal(pthread_create(&b->thread, NULL, ensure_thread, b), 0);
    if (staggered)
        usleep(200000); /* b is now waiting for a */
    else
        wait_hits(&hits_gated, 2);
    pthread_mutex_lock(&gate_lock);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    pthread_join(a->thread, NULL);
    pthread_join(b->thread, NULL);
}

static void same_image_downloads_once(void **state)
{
    ensure_job a = {"/gated", sum256, NULL, NULL, 0}, b = a;
    run_pair(&a, &b, 1);
    assert_int_equal(hits_gated, 1);
    assert_non_null(a.result);
    assert_non_null(b.result);
    assert_string_equal(a.result, b.result);
    assert_file_is_image(a.result);
    assert_int_equal(count_entries(images_dir), 1);
    free(a.result);
    free(b.result);
}

static void waiters_share_a_failure(void **state)
{
    ensure_job a = {"/gated", sum_other, NULL, NULL, 0}, b = a; /* not what /gated serves */
    run_pair(&a, &b, 1);
    assert_int_equal(hits_gated, 1);
    assert_null(a.result);
    assert_null(b.result);
    assert_string_equal(a.err->code, IMAGE_E_CHECKSUM);
    assert_string_equal(b.err->message, a.err->message);
    assert_int_equal(count_entries(images_dir), 0);
    cu_error_free(a.err);
    cu_error_free(b.err);
}

static void different_images_download_in_parallel(void **state)
{
    ensure_job a = {"/gated", sum256, NULL, NULL, 0},
               b = {"/gated-other", sum_other, NULL, NULL, 0};
    run_pair(&a, &b, 0);
    assert_non_null(a.result);
    assert_non_null(b.result);
    assert_string_not_equal(a.result, b.result);
    assert_int_equal(count_entries(images_dir), 2);
    free(a.result);
    free(b.result);
}

static void stale_part_files_removed_at_open(void **state)
{
    image_cache_close(cache);
    cache = NULL;
    char *keep = expected_path("sha256", sha256, "qcow2"),
         *part = with_prefix(keep, ".Ab12Cd.part");
    write_file(part, image, 4096); /* left by an agent killed mid-download */
    write_file(keep, image, IMAGE_SIZE);
    cu_error *err = NULL;
    cache = image_cache_open(cache_dir, &err);
    assert_non_null(cache);
    assert_int_equal(access(part, F_OK), -1);
    assert_int_equal(access(keep, F_OK), 0);
    assert_int_equal(count_entries(images_dir), 1);
    free(part);
    free(keep);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)
    const struct CMUnitTest tests[] = {
        T(file_download_lands_under_checksum),
        T(sha512_and_upper_case_hex),
        T(cached_image_is_not_downloaded_again),
        T(wrong_checksum_leaves_nothing),
        T(missing_source_leaves_nothing),
        T(bad_requests_are_refused),
        T(full_disk_leaves_nothing),
        T(http_download),
        T(http_failures_leave_nothing),
        T(a_source_down_for_a_moment_is_tried_again),
        T(retries_end_with_the_window),
        T(same_image_downloads_once),
        T(waiters_share_a_failure),
        T(different_images_download_in_parallel),
        T(stale_part_files_removed_at_open),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
