/* image_import.c: see image_import.h. */
#define _GNU_SOURCE
#include "image_import.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "json_util.h"
#include "log.h"

#define MANIFEST_MAX (64 * 1024)
#define COPY_CHUNK (1 << 20)

static int bad_manifest(cu_error **err, const char *path, const char *why)
{
    return cu_error_set(err, 400, CU_E_INVALID_FIELD, "manifest", "manifest '%s': %s", path, why);
}

/* A plain file name in the manifest's directory: no '/', no "..". */
static int check_file_name(const char *path, const char *what, const char *name, cu_error **err)
{
    if (name == NULL || name[0] == '\0' || name[0] == '.' || strchr(name, '/') ||
        strlen(name) > 128) {
        char why[256];
        snprintf(why, sizeof(why), "%s must name a file beside the manifest", what);
        return bad_manifest(err, path, why);
    }
    return 0;
}

static int check_sha256(const char *path, const char *what, const char *hex, cu_error **err)
{
    int ok = hex && strlen(hex) == 64 && strspn(hex, "0123456789abcdef") == 64;
    if (!ok) {
        char why[256];
        snprintf(why, sizeof(why), "%s must be 64 lowercase hex digits", what);
        return bad_manifest(err, path, why);
    }
    return 0;
}

/* kernel / initrd: {"file", "sha256", "cmdline"?}, optional. */
static int check_part(const char *path, const json_t *m, const char *key, cu_error **err)
{
    const json_t *p = json_object_get(m, key);
    if (p == NULL || json_is_null(p))
        return 0;
    char what[64];
    snprintf(what, sizeof(what), "%s.file", key);
    if (!json_is_object(p) || check_file_name(path, what, cu_json_str(p, "file"), err) < 0)
        return -1;
    snprintf(what, sizeof(what), "%s.sha256", key);
    return check_sha256(path, what, cu_json_str(p, "sha256"), err);
}

json_t *image_manifest_load(const char *path, cu_error **err)
{
    static const cu_json_field fields[] = {
        {"name", CU_JSON_STRING, true},       {"os", CU_JSON_STRING, true},
        {"version", CU_JSON_STRING, true},    {"architecture", CU_JSON_STRING, true},
        {"format", CU_JSON_STRING, true},     {"file", CU_JSON_STRING, true},
        {"sha256", CU_JSON_STRING, true},     {"login_user", CU_JSON_STRING, true},
        {"boot", CU_JSON_STRING, true},       {"kernel", CU_JSON_OBJECT, false},
        {"initrd", CU_JSON_OBJECT, false},    {"size", CU_JSON_INTEGER, false},
        {"virtual_size", CU_JSON_INTEGER, false}, {"root_uuid", CU_JSON_STRING, false},
        {"inputs_hash", CU_JSON_STRING, false},   {"built_at", CU_JSON_STRING, false},
        {NULL}};
    if (path == NULL || path[0] != '/') {
        bad_manifest(err, path ? path : "",
                     "give the absolute path of a manifest.json on the control plane's host");
        return NULL;
    }
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        bad_manifest(err, path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > MANIFEST_MAX) {
        bad_manifest(err, path, "not a regular file of at most 64 KiB");
        return NULL;
    }
    json_error_t jerr;
    json_t *m = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(m)) {
        json_decref(m);
        char why[256];
        snprintf(why, sizeof(why), "not a JSON object (%s)", jerr.text);
        bad_manifest(err, path, why);
        return NULL;
    }
    cu_error *ferr = NULL;
    if (cu_json_check_fields(m, fields, &ferr) < 0) {
        bad_manifest(err, path, ferr->message);
        cu_error_free(ferr);
    } else if (check_file_name(path, "file", cu_json_str(m, "file"), err) == 0 &&
               check_sha256(path, "sha256", cu_json_str(m, "sha256"), err) == 0 &&
               check_part(path, m, "kernel", err) == 0 && check_part(path, m, "initrd", err) == 0) {
        return m;
    }
    json_decref(m);
    return NULL;
}

static void md_freep(EVP_MD_CTX **md)
{
    EVP_MD_CTX_free(*md);
}

/* Copies src to dst (a new file, mode 0444, fsync'd) hashing what it reads;
 * hard-links instead where both are on one file system (then only hashes). */
static int copy_hashing(const char *src, const char *dst, char hex[65], cu_error **err)
{
    int linked = link(src, dst) == 0;
    _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "manifest", "cannot read '%s': %s", src,
                            strerror(errno));
    _cleanup_close_ int out = linked ? -1 : open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (!linked && out < 0)
        return cu_error_errno(err, errno, "cannot create '%s'", dst);
    __attribute__((cleanup(md_freep))) EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        abort();
    _cleanup_free_ char *buf = malloc(COPY_CHUNK);
    if (buf == NULL)
        abort();
    for (;;) {
        ssize_t n = read(in, buf, COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cu_error_errno(err, errno, "cannot read '%s'", src);
        if (n == 0)
            break;
        if (EVP_DigestUpdate(md, buf, (size_t)n) != 1)
            abort();
        if (!linked && cu_write_all(out, buf, (size_t)n) < 0)
            return cu_error_errno(err, errno, "cannot write '%s'", dst);
    }
    if (!linked && fsync(out) < 0)
        return cu_error_errno(err, errno, "cannot sync '%s'", dst);
    unsigned char raw[32];
    unsigned len = 0;
    if (EVP_DigestFinal_ex(md, raw, &len) != 1 || len != 32)
        abort();
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static int import_one(const char *src_dir, const char *dest_dir, const char *file,
                      const char *sha256, cu_error **err)
{
    _cleanup_free_ char *src = NULL, *dst = NULL;
    if (asprintf(&src, "%s/%s", src_dir, file) < 0 || asprintf(&dst, "%s/%s", dest_dir, file) < 0)
        abort();
    char got[65];
    log_info("image import: checking and copying '%s'", src);
    if (copy_hashing(src, dst, got, err) < 0)
        return -1;
    if (strcmp(got, sha256) != 0)
        return cu_error_set(err, 422, "checksum_mismatch", "manifest",
                            "'%s' does not match its manifest: SHA-256 %s, manifest says %s", src,
                            got, sha256);
    return 0;
}

int image_files_import(const char *manifest_path, const json_t *m, const char *dest_dir,
                       cu_error **err)
{
    _cleanup_free_ char *copy = strdup(manifest_path);
    if (copy == NULL)
        abort();
    char *slash = strrchr(copy, '/');
    *slash = '\0';
    const char *src_dir = copy[0] ? copy : "/";
    if (cu_mkdir_p(dest_dir, 0755, err) < 0)
        return -1;
    const json_t *k = json_object_get(m, "kernel"), *i = json_object_get(m, "initrd");
    if (import_one(src_dir, dest_dir, cu_json_str(m, "file"), cu_json_str(m, "sha256"), err) < 0 ||
        (json_is_object(k) &&
         import_one(src_dir, dest_dir, cu_json_str(k, "file"), cu_json_str(k, "sha256"), err) < 0) ||
        (json_is_object(i) &&
         import_one(src_dir, dest_dir, cu_json_str(i, "file"), cu_json_str(i, "sha256"), err) < 0)) {
        image_files_remove(dest_dir);
        return -1;
    }
    cu_fsync_dir_of(dest_dir);
    return 0;
}

int image_file_open(const char *dir, const char *file, int *fd, long long *size, cu_error **err)
{
    if (file == NULL || file[0] == '\0' || file[0] == '.' || strchr(file, '/'))
        return cu_error_set(err, 404, CU_E_NOT_FOUND, NULL, "no such image file '%s'",
                            file ? file : "");
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, file) < 0)
        abort();
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (f < 0 || fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        if (f >= 0)
            close(f);
        if (f < 0 && e != ENOENT)
            return cu_error_errno(err, e, "cannot open the image file '%s'", path);
        return cu_error_set(err, 404, CU_E_NOT_FOUND, NULL, "no such image file '%s'", file);
    }
    *fd = f;
    *size = (long long)st.st_size;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0 && errno != ENOENT)
        log_warn("cannot remove '%s': %s", path, strerror(errno));
    return 0;
}

void image_files_remove(const char *dir)
{
    if (nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        log_warn("cannot remove '%s': %s", dir, strerror(errno));
}
