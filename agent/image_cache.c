/* image_cache.c: downloading, verifying and sharing base images; see
 * image_cache.h.
 *
 * Owns DIR/images and nothing else: it never touches a VM's overlay.  The
 * invariant is that a file under its final name holds verified bytes, so
 * the name is trusted afterwards and never re-hashed: bytes are written to a
 * mkostemps() "*.part" file, hashed as they arrive (EVP, incremental), and
 * fsync'd, made read-only and renamed only after the digest matched.
 *
 * Concurrency: a list of in-flight downloads keyed by final path, under one
 * mutex.  The first caller downloads (without the lock); later callers for
 * the same path wait on the condition variable and share its outcome. */
#define _GNU_SOURCE
#include "image_cache.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "http_client.h"
#include "image_file.h"
#include "log.h"
#include "loop.h"
#include "version.h"

#define PART_SUFFIX ".part"
#define PROGRESS_INTERVAL_MS 250
#define LOW_SPEED_BYTES 1024L  /* abort below 1 KiB/s ... */
#define LOW_SPEED_SECS 60L     /* ... sustained this long (images are big: no total timeout) */
#define RETRY_WINDOW_MS 120000 /* the default of image_cache_set_retry_window() */

typedef struct inflight {
    char *path;  /* final name being produced */
    int waiters; /* callers sleeping on it */
    int done;    /* the download is over (error says how) */
    cu_error *error;
    struct inflight *next;
} inflight;

struct image_cache {
    char *dir;                 /* DIR/images */
    long long retry_window_ms; /* a source down for a moment is tried again this long */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    inflight *inflight;
    image_auth_fn auth;
    void *auth_opaque;
    image_file_dirs files; /* where file:// URLs may point (image_file.h) */
};

typedef struct digest_spec {
    const EVP_MD *md;
    const char *algo; /* "sha256" | "sha512" */
    char hex[EVP_MAX_MD_SIZE * 2 + 1];
} digest_spec;

/* One download's state, shared with curl's callbacks. */
typedef struct fetch {
    int fd;
    EVP_MD_CTX *md;
    long long done;
    int write_errno;
    image_progress_fn fn;
    void *opaque;
    long long last_ms;
    const char *auth_header; /* "Authorization: Bearer …" or NULL */
    const image_file_dirs *files;
    int transient;           /* it failed in a way worth trying again */
} fetch;

static void easy_cleanupp(CURL **h)
{
    if (*h)
        curl_easy_cleanup(*h);
}

static void md_freep(EVP_MD_CTX **m)
{
    EVP_MD_CTX_free(*m);
}

static void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A "*.part" file can only be left by a download that never finished (the
 * agent was killed): it is garbage, and may be large. */
static int remove_stale(const char *dir, cu_error **err)
{
    __attribute__((cleanup(closedirp))) DIR *d = opendir(dir);
    if (d == NULL)
        return cu_error_errno(err, errno, "cannot open the image cache '%s'", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_suffix(e->d_name, PART_SUFFIX))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
            return cu_error_errno(err, errno, "cannot remove the partial download '%s/%s'", dir,
                                  e->d_name);
        log_info("image cache: removed the partial download '%s/%s'", dir, e->d_name);
    }
    return 0;
}

image_cache *image_cache_open(const char *dir, cu_error **err)
{
    _cleanup_free_ char *images = NULL;
    if (asprintf(&images, "%s/images", dir) < 0)
        abort();
    if (cu_mkdir_p(images, 0700, err) < 0 || remove_stale(images, err) < 0)
        return NULL;
    http_client_global_init();
    image_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->dir = steal_ptr(&images);
    c->retry_window_ms = RETRY_WINDOW_MS;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    return c;
}

void image_cache_set_retry_window(image_cache *c, long long ms)
{
    c->retry_window_ms = ms;
}

void image_cache_set_auth(image_cache *c, image_auth_fn fn, void *opaque)
{
    c->auth = fn;
    c->auth_opaque = opaque;
}

int image_cache_allow_files(image_cache *c, const char *dirs, cu_error **err)
{
    image_file_dirs parsed;
    if (image_file_dirs_parse(dirs, &parsed, err) < 0)
        return -1;
    image_file_dirs_clear(&c->files);
    c->files = parsed;
    return 0;
}

void image_cache_close(image_cache *c)
{
    if (c == NULL)
        return;
    image_file_dirs_clear(&c->files);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c->dir);
    free(c);
}

static int parse_checksum(const char *name, const char *text, digest_spec *out, cu_error **err)
{
    size_t want = 0;
    if (strncmp(text, "sha256:", 7) == 0) {
        *out = (digest_spec){.md = EVP_sha256(), .algo = "sha256"};
        want = 64;
    } else if (strncmp(text, "sha512:", 7) == 0) {
        *out = (digest_spec){.md = EVP_sha512(), .algo = "sha512"};
        want = 128;
    }
    const char *hex = want ? text + 7 : text;
    int ok = want != 0 && strlen(hex) == want;
    for (size_t i = 0; ok && i < want; i++) {
        ok = isxdigit((unsigned char)hex[i]);
        out->hex[i] = (char)tolower((unsigned char)hex[i]);
    }
    if (!ok)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "checksum",
                            "image '%s': invalid checksum '%s' (expected 'sha256:' and 64 hex "
                            "digits or 'sha512:' and 128)",
                            name, text);
    out->hex[want] = '\0';
    return 0;
}

static int check_request(const char *name, const char *url, const char *sum_text,
                         const char *format, digest_spec *sum, cu_error **err)
{
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0 &&
        strncasecmp(url, "file://", 7) != 0)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "url",
                            "image '%s': unsupported URL '%s' (use http://, https:// or file://)",
                            name, url);
    size_t n = strlen(format);
    int ok = n > 0 && n <= 16;
    for (size_t i = 0; ok && i < n; i++)
        ok = islower((unsigned char)format[i]) || isdigit((unsigned char)format[i]);
    if (!ok)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "format",
                            "image '%s': invalid format '%s'", name, format);
    return parse_checksum(name, sum_text, sum, err);
}

static size_t on_write(char *p, size_t size, size_t n, void *opaque)
{
    fetch *f = opaque;
    size_t len = size * n;
    if (cu_write_all(f->fd, p, len) < 0) {
        f->write_errno = errno;
        return 0; /* aborts the transfer */
    }
    if (EVP_DigestUpdate(f->md, p, len) != 1)
        abort();
    f->done += (long long)len;
    return len;
}

static int on_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    fetch *f = opaque;
    long long now = cu_monotonic_ms();
    if (f->fn == NULL || now - f->last_ms < PROGRESS_INTERVAL_MS)
        return 0;
    f->last_ms = now;
    f->fn(f->opaque, f->done, (long long)dltotal);
    return 0;
}

static void configure(CURL *h, const char *url, fetch *f, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    /* file:// is read by copy_file(), never by curl. */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    /* A web server may redirect to another web server, never to a local file. */
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_BYTES);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_SECS);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cumulus-agent/" CUMULUS_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, f);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
}

static void slist_freep(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}

/* A source that is down for a moment (restarting, overloaded) rather
 * than wrong: no connection, an empty or cut reply, a timeout, 429 or a
 * 5xx. */
static int is_transient(CURL *h, CURLcode rc)
{
    long status = 0;
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
        return 1;
    case CURLE_HTTP_RETURNED_ERROR:
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        return status == 429 || status >= 500;
    default:
        return 0;
    }
}

/* A file:// source: opened within the allowed directories (image_file.h),
 * then streamed through the same writer and progress as a download. */
static int copy_file(const char *name, const char *url, fetch *f, cu_error **err)
{
    long long size = 0;
    _cleanup_close_ int fd = image_file_open(f->files, name, url, &size, err);
    if (fd < 0)
        return -1;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cu_error_set(err, 502, IMAGE_E_DOWNLOAD, NULL,
                                "image '%s': downloading '%s' failed: %s", name, url,
                                strerror(errno));
        if (n == 0)
            return 0;
        if (on_write(buf, 1, (size_t)n, f) != (size_t)n)
            return cu_error_errno(err, f->write_errno,
                                  "image '%s': cannot store the download of '%s'", name, url);
        on_progress(f, size, f->done, 0, 0);
    }
}

static int transfer(const char *name, const char *url, fetch *f, cu_error **err)
{
    if (image_file_is_url(url))
        return copy_file(name, url, f, err);
    __attribute__((cleanup(easy_cleanupp))) CURL *h = curl_easy_init();
    if (h == NULL)
        abort();
    char errbuf[CURL_ERROR_SIZE] = "";
    configure(h, url, f, errbuf);
    __attribute__((cleanup(slist_freep))) struct curl_slist *headers = NULL;
    if (f->auth_header) {
        headers = curl_slist_append(NULL, f->auth_header);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        /* The credential is for that server only, never for a redirect. */
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        /* That server is our control plane: verified with tls-ca.  Other
         * sources (the public image mirrors) with the system's CAs. */
        http_client_tls_setup(h);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        return 0;
    if (f->write_errno != 0)
        return cu_error_errno(err, f->write_errno, "image '%s': cannot store the download of '%s'",
                              name, url);
    f->transient = is_transient(h, rc);
    return cu_error_set(err, 502, IMAGE_E_DOWNLOAD, NULL, "image '%s': downloading '%s' failed: %s",
                        name, url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

static void digest_hex(EVP_MD_CTX *md, char *out)
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_DigestFinal_ex(md, raw, &len) != 1)
        abort();
    for (unsigned i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", raw[i]);
    out[2 * len] = '\0';
}

/* Streams `url` into fd while hashing; *bytes gets the size on success;
 * on failure *transient says whether trying again may help. */
static int fetch_and_verify(const image_cache *c, const char *name, const char *url,
                            const char *auth_header, const digest_spec *sum, int fd,
                            image_progress_fn fn, void *opaque, long long *bytes, int *transient,
                            cu_error **err)
{
    __attribute__((cleanup(md_freep))) EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, sum->md, NULL) != 1)
        abort();
    fetch f = {.fd = fd,
               .md = md,
               .fn = fn,
               .opaque = opaque,
               .auth_header = auth_header,
               .files = &c->files};
    if (transfer(name, url, &f, err) < 0) {
        *transient = f.transient;
        return -1;
    }
    char got[EVP_MAX_MD_SIZE * 2 + 1];
    digest_hex(md, got);
    if (strcmp(got, sum->hex) != 0)
        return cu_error_set(err, 422, IMAGE_E_CHECKSUM, NULL,
                            "image '%s': checksum mismatch: expected %s:%s, got %s:%s "
                            "(downloaded from %s)",
                            name, sum->algo, sum->hex, sum->algo, got, url);
    *bytes = f.done;
    return 0;
}

/* Durable before visible: the data, then the name, then the directory. */
static int commit(const char *dir, const char *name, int fd, const char *tmp, const char *path,
                  cu_error **err)
{
    if (fchmod(fd, 0444) < 0 || fsync(fd) < 0)
        return cu_error_errno(err, errno, "image '%s': cannot sync '%s'", name, tmp);
    if (rename(tmp, path) < 0)
        return cu_error_errno(err, errno, "image '%s': cannot rename '%s' to '%s'", name, tmp,
                              path);
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
    return 0;
}

static void copy_error(cu_error **dst, const cu_error *src)
{
    cu_error_set(dst, src->status, src->code, src->field, "%s", src->message);
}

/* fetch_and_verify, tried again with backoff while the source is down
 * for a moment (a control plane restarting: the images it keeps are
 * fetched from it), for up to window_ms: 0, or -1 with the last failure. */
static int fetch_with_retries(const image_cache *c, const char *name, const char *url,
                              const char *auth_header, const digest_spec *sum, int fd,
                              image_progress_fn fn, void *opaque, long long *bytes, cu_error **err)
{
    long long give_up = cu_monotonic_ms() + c->retry_window_ms;
    for (unsigned delay = 1;; delay = delay < 8 ? delay * 2 : 10) {
        _cleanup_error_ cu_error *e = NULL;
        int transient = 0;
        if (fetch_and_verify(c, name, url, auth_header, sum, fd, fn, opaque, bytes, &transient,
                             &e) == 0)
            return 0;
        if (!transient || cu_monotonic_ms() + delay * 1000LL > give_up) {
            copy_error(err, e);
            return -1;
        }
        log_warn("%s; trying again in %u s", e->message, delay);
        sleep(delay);
        if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
            return cu_error_errno(err, errno, "image '%s': cannot start the download again", name);
    }
}

static int download(image_cache *c, const char *name, const char *url, const digest_spec *sum,
                    const char *path, image_progress_fn fn, void *opaque, cu_error **err)
{
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.XXXXXX" PART_SUFFIX, path) < 0)
        abort();
    _cleanup_close_ int fd = mkostemps(tmp, (int)strlen(PART_SUFFIX), O_CLOEXEC);
    if (fd < 0)
        return cu_error_errno(err, errno, "image '%s': cannot create a file in '%s'", name, c->dir);
    log_info("image '%s': downloading %s", name, url);
    long long bytes = 0;
    char auth[512];
    int has_auth = c->auth && c->auth(c->auth_opaque, url, auth, sizeof(auth));
    int r = fetch_with_retries(c, name, url, has_auth ? auth : NULL, sum, fd, fn, opaque, &bytes,
                               err);
    if (r == 0)
        r = commit(c->dir, name, fd, tmp, path, err);
    if (r < 0) {
        unlink(tmp);
        return -1;
    }
    log_info("image '%s': %lld bytes verified as %s", name, bytes, path);
    if (fn != NULL)
        fn(opaque, bytes, bytes);
    return 0;
}

static inflight *find_inflight(image_cache *c, const char *path)
{
    for (inflight *f = c->inflight; f != NULL; f = f->next)
        if (strcmp(f->path, path) == 0)
            return f;
    return NULL;
}

static void inflight_free(inflight *f)
{
    free(f->path);
    cu_error_free(f->error);
    free(f);
}

/* Called with the lock held: sleeps until another caller's download of the
 * same image ends and takes its outcome. */
static int wait_for(image_cache *c, inflight *f, cu_error **err)
{
    f->waiters++;
    while (!f->done)
        pthread_cond_wait(&c->cond, &c->lock);
    int r = 0;
    if (f->error != NULL) {
        copy_error(err, f->error);
        r = -1;
    }
    if (--f->waiters == 0)
        inflight_free(f);
    return r;
}

/* Called with the lock held: publishes the outcome and wakes the waiters. */
static void finish(image_cache *c, inflight *f, const cu_error *error)
{
    for (inflight **p = &c->inflight; *p != NULL; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            break;
        }
    }
    f->done = 1;
    if (error != NULL)
        copy_error(&f->error, error);
    if (f->waiters == 0)
        inflight_free(f);
    else
        pthread_cond_broadcast(&c->cond);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *image_cache_ensure(image_cache *c, const char *name, const char *url, const char *checksum,
                         const char *format, image_progress_fn fn, void *opaque, cu_error **err)
{
    digest_spec sum;
    if (check_request(name, url, checksum, format, &sum, err) < 0)
        return NULL;
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s-%s.%s", c->dir, sum.algo, sum.hex, format) < 0)
        abort();
    pthread_mutex_lock(&c->lock);
    inflight *f = find_inflight(c, path);
    if (f != NULL || is_file(path)) {
        int r = f ? wait_for(c, f, err) : 0;
        pthread_mutex_unlock(&c->lock);
        return r < 0 ? NULL : steal_ptr(&path);
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL || (f->path = strdup(path)) == NULL)
        abort();
    f->next = c->inflight;
    c->inflight = f;
    pthread_mutex_unlock(&c->lock);

    cu_error *failure = NULL;
    download(c, name, url, &sum, path, fn, opaque, &failure);
    pthread_mutex_lock(&c->lock);
    finish(c, f, failure);
    pthread_mutex_unlock(&c->lock);
    if (failure == NULL)
        return steal_ptr(&path);
    if (err != NULL && *err == NULL)
        *err = failure;
    else
        cu_error_free(failure);
    return NULL;
}
