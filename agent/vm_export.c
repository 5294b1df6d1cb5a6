/* vm_export.c: see vm_export.h. */
#define _GNU_SOURCE
#include "vm_export.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "cmd.h"
#include "disk.h"
#include "download.h"
#include "fsutil.h"
#include "log.h"

#define CONVERT_TIMEOUT_S 3600

static void export_file(agent *a, const char *id, const char *image_id, const char *suffix,
                        char *buf, size_t len)
{
    char name[128];
    snprintf(name, sizeof(name), "export-%s%s", image_id, suffix);
    vm_path(a, id, name, buf, len);
}

/* qemu-img convert into the .part file, then its digest, then the rename. */
static int make(agent *a, vm_record *r, const vm_spec *s, const char *path, cu_error **err)
{
    char disk[PATH_MAX], part[PATH_MAX], sum[PATH_MAX];
    vm_path(a, r->id, "disk.qcow2", disk, sizeof(disk));
    export_file(a, r->id, s->export_image, ".qcow2.part", part, sizeof(part));
    export_file(a, r->id, s->export_image, ".sha256", sum, sizeof(sum));
    if (s->export_snapshot == NULL && vm_proc_alive(&r->rt))
        return cu_error_set(err, 409, CU_E_CONFLICT, NULL,
                            "the disk of a running VM changes while it is read: stop the VM or "
                            "export a snapshot");
    _cleanup_free_ char *lit_disk = disk_literal_path(disk), *lit_part = disk_literal_path(part);
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new("qemu-img");
    const char *args[] = {"convert", "-U", "-f", "qcow2", "-O", "qcow2"};
    for (size_t i = 0; i < sizeof(args) / sizeof(*args); i++)
        cu_cmd_arg(c, args[i]);
    if (s->export_snapshot) {
        cu_cmd_arg(c, "-l");
        cu_cmd_argf(c, "snapshot.name=%s", s->export_snapshot);
    }
    cu_cmd_arg(c, lit_disk);
    cu_cmd_arg(c, lit_part);
    cu_cmd_timeout(c, CONVERT_TIMEOUT_S);
    log_info("VM %s: making image %s from %s", r->id, s->export_image,
             s->export_snapshot ? s->export_snapshot : "its disk");
    char digest[65];
    long long size = 0;
    if (cu_cmd_run(c, err) < 0) {
        unlink(part);
        return cu_error_wrap(err, "flattening the disk into an image");
    }
    if (cu_sha256_file(part, digest, &size, err) < 0 ||
        cu_write_file_atomic(sum, digest, strlen(digest), 0600, err) < 0 || rename(part, path) < 0) {
        int e = errno;
        unlink(part);
        return err && *err ? -1 : cu_error_errno(err, e, "cannot rename '%s'", part);
    }
    log_info("VM %s: image %s made: %lld MiB, sha256:%s", r->id, s->export_image, size >> 20,
             digest);
    return 0;
}

/* Removes export files of images other than `keep` (NULL: all). */
static void remove_others(agent *a, vm_record *r, const char *keep)
{
    char dir[PATH_MAX];
    vm_path(a, r->id, NULL, dir, sizeof(dir));
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[PATH_MAX + 256];
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "export-", 7) != 0 ||
            (keep && strncmp(e->d_name + 7, keep, strlen(keep)) == 0 &&
             e->d_name[7 + strlen(keep)] == '.'))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

static json_t *read_done(agent *a, vm_record *r, const char *image_id)
{
    char path[PATH_MAX], sum[PATH_MAX];
    export_file(a, r->id, image_id, ".qcow2", path, sizeof(path));
    export_file(a, r->id, image_id, ".sha256", sum, sizeof(sum));
    FILE *f = fopen(sum, "r");
    char digest[80] = "";
    if (f == NULL)
        return NULL;
    int ok = fgets(digest, sizeof(digest), f) != NULL && strlen(digest) == 64;
    fclose(f);
    struct stat st;
    if (!ok || stat(path, &st) < 0)
        return NULL;
    return json_pack("{s:s, s:s+, s:I}", "image_id", image_id, "checksum", "sha256:", digest,
                     "size_bytes", (json_int_t)st.st_size);
}

int vm_export_converge(agent *a, vm_record *r, const vm_spec *s, cu_error **err)
{
    remove_others(a, r, s->export_image);
    json_t *done = NULL;
    int rc = 0;
    if (s->export_image) {
        char path[PATH_MAX];
        export_file(a, r->id, s->export_image, ".qcow2", path, sizeof(path));
        if ((done = read_done(a, r, s->export_image)) == NULL) {
            vm_record_set(r, r->state, r->progress, "making an image of the disk");
            rc = make(a, r, s, path, err);
            done = rc == 0 ? read_done(a, r, s->export_image) : NULL;
        }
    }
    pthread_mutex_lock(&r->lock);
    json_decref(r->export);
    r->export = done;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int vm_export_path(agent *a, const char *id, const char *image_id, char *buf, size_t len,
                   cu_error **err)
{
    size_t n = strlen(image_id);
    int ok = n > 4 && n < 64 && strncmp(image_id, "img-", 4) == 0 &&
             strspn(image_id + 4, "0123456789abcdef") == n - 4;
    if (ok && vm_id_check("id", id, NULL) == 0) {
        export_file(a, id, image_id, ".qcow2", buf, len);
        if (access(buf, R_OK) == 0)
            return 0;
    }
    return cu_error_set(err, 404, CU_E_NOT_FOUND, NULL, "VM %s has no image %s ready here", id,
                        image_id);
}
