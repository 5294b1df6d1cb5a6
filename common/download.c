/* download.c: see download.h. */
#define _GNU_SOURCE
#include "download.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "http_client.h"

typedef struct sink {
    int fd;
    EVP_MD_CTX *md;
    long long size;
    int io_errno;
} sink;

static void hex_of(EVP_MD_CTX *md, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(md, d, &n);
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
    out[2 * n] = '\0';
}

static size_t on_data(char *p, size_t size, size_t n, void *opaque)
{
    sink *s = opaque;
    size_t len = size * n;
    if (cu_write_all(s->fd, p, len) < 0) {
        s->io_errno = errno;
        return 0;
    }
    EVP_DigestUpdate(s->md, p, len);
    s->size += (long long)len;
    return len;
}

static int transfer(const char *url, const char *bearer, sink *s, cu_error **err)
{
    http_client_global_init();
    CURL *h = curl_easy_init();
    if (h == NULL)
        abort();
    char errbuf[CURL_ERROR_SIZE] = "", auth[1024];
    struct curl_slist *headers = NULL;
    if (bearer) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L); /* stalled: give up */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    http_client_tls_setup(h); /* another daemon: verified with tls-ca */
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    if (s->io_errno)
        return cu_error_errno(err, s->io_errno, "writing what %s sent", url);
    if (rc != CURLE_OK)
        return cu_error_set(err, 502, CU_E_DOWNLOAD, NULL, "GET %s: %s", url,
                            errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return 0;
}

int cu_download(const char *url, const char *bearer, const char *path, const char *sha256_hex,
                char *digest_out, long long *size_out, cu_error **err)
{
    _cleanup_free_ char *part = NULL;
    if (asprintf(&part, "%s.part", path) < 0)
        abort();
    sink s = {.fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
              .md = EVP_MD_CTX_new()};
    if (s.fd < 0) {
        EVP_MD_CTX_free(s.md);
        return cu_error_errno(err, errno, "cannot create '%s'", part);
    }
    EVP_DigestInit_ex(s.md, EVP_sha256(), NULL);
    int rc = transfer(url, bearer, &s, err);
    char hex[65];
    hex_of(s.md, hex);
    EVP_MD_CTX_free(s.md);
    if (rc == 0 && sha256_hex && strcmp(hex, sha256_hex) != 0)
        rc = cu_error_set(err, 422, CU_E_CHECKSUM, NULL,
                          "%s: got sha256:%s, expected sha256:%s", url, hex, sha256_hex);
    if (rc == 0 && fsync(s.fd) < 0)
        rc = cu_error_errno(err, errno, "fsync '%s'", part);
    close(s.fd);
    if (rc == 0 && rename(part, path) < 0)
        rc = cu_error_errno(err, errno, "cannot rename '%s' to '%s'", part, path);
    if (rc < 0) {
        unlink(part);
        return -1;
    }
    memcpy(digest_out, hex, sizeof(hex));
    if (size_out)
        *size_out = s.size;
    return 0;
}

int cu_sha256_file(const char *path, char *digest_out, long long *size_out, cu_error **err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cu_error_errno(err, errno, "cannot open '%s'", path);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    static __thread char buf[1 << 16];
    long long size = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        EVP_DigestUpdate(md, buf, (size_t)n);
        size += n;
    }
    int saved = errno;
    close(fd);
    hex_of(md, digest_out);
    EVP_MD_CTX_free(md);
    if (n < 0)
        return cu_error_errno(err, saved, "reading '%s'", path);
    if (size_out)
        *size_out = size;
    return 0;
}
