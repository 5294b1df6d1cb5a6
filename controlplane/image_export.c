/* image_export.c: see image_export.h. */
#define _GNU_SOURCE
#include "image_export.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "download.h"
#include "fsutil.h"
#include "ids.h"
#include "json_util.h"
#include "log.h"
#include "ops.h"
#include "orders.h"
#include "schema.h"
#include "store.h"

json_t *image_insert_from_vm(cp_app *app, const char *id, const char *vm_id, const char *name,
                             const char *origin, const json_t *source, cu_error **err)
{
    _cleanup_free_ char *dir = NULL, *url = NULL, *src = json_dumps(source, JSON_COMPACT);
    if (asprintf(&dir, "%s/images/%s", app->data_dir, id) < 0 ||
        asprintf(&url, "/v1/images/%s/files/disk.qcow2", id) < 0 || src == NULL)
        abort();
    json_t *image = NULL;
    if (store_exec(app->store, err,
                   "INSERT INTO images (id, name, os, version, architecture, url, checksum, format,"
                   " login_user, boot, kernel_url, initrd_url, cmdline, kernel_checksum,"
                   " initrd_checksum, origin, local_dir, state, source)"
                   " SELECT ?, ?, i.os, i.version, i.architecture, ?, '', 'qcow2', i.login_user,"
                   " COALESCE(v.boot, i.boot), i.kernel_url, i.initrd_url, i.cmdline,"
                   " i.kernel_checksum, i.initrd_checksum, ?, ?, 'creating', ?"
                   " FROM vms v JOIN images i ON i.id = v.image_id WHERE v.id = ?",
                   "sssssss", id, name, url, origin, dir, src, vm_id) < 0 ||
        store_get(app->store, &image, err,
                  "SELECT id, name, os, version, architecture, origin, state, source AS source_json,"
                  " created_at FROM images WHERE id = ?",
                  "s", id) != 1)
        return NULL;
    return image;
}

int image_export_request(cp_app *app, const char *vm_id, const char *image_id,
                         const char *snapshot_id, cu_error **err)
{
    return store_exec(app->store, err,
                      "UPDATE vms SET export_image = ?, export_snapshot = ?,"
                      " generation = generation + 1, next_push_at = 0, push_attempts = 0"
                      " WHERE id = ?",
                      "sss", image_id, snapshot_id, vm_id);
}

json_t *image_export_begin(cp_app *app, const json_t *vm, const char *snapshot_id,
                           const char *name, const char *origin, json_t **image, cu_error **err)
{
    const char *vm_id = cu_json_str(vm, "id");
    if (store_int(app->store, 0, err, "SELECT export_image IS NOT NULL FROM vms WHERE id = ?", "s",
                  vm_id) == 1) {
        cu_error_set(err, 409, CU_E_BUSY, NULL,
                     "an image is already being made from VM '%s'; wait for it",
                     cu_json_str(vm, "name"));
        return NULL;
    }
    _cleanup_free_ char *id = cu_id_new("img");
    json_t *src = json_pack("{s:s, s:s?}", "vm_id", vm_id, "snapshot_id", snapshot_id);
    *image = image_insert_from_vm(app, id, vm_id, name, origin, src, err);
    json_decref(src);
    if (*image == NULL || image_export_request(app, vm_id, id, snapshot_id, err) < 0)
        return NULL;
    char msg[256];
    snprintf(msg, sizeof(msg), "making image '%s' from %s of VM '%s'", name,
             snapshot_id ? "a snapshot" : "the disk", cu_json_str(vm, "name"));
    return ops_create(app, "image.create", "image", id, "pending", msg, err);
}

int image_export_add_to_spec(cp_app *app, const char *vm_id, json_t *spec, cu_error **err)
{
    json_t *vm = NULL;
    if (store_get(app->store, &vm, err,
                  "SELECT export_image, export_snapshot FROM vms WHERE id = ?", "s", vm_id) < 0)
        return -1;
    const char *img = cu_json_str(vm, "export_image");
    json_object_set_new(spec, "export",
                        img ? json_pack("{s:s, s:s?}", "image_id", img, "snapshot",
                                        cu_json_str(vm, "export_snapshot"))
                            : json_null());
    json_decref(vm);
    return 0;
}

/* Images being fetched now, so a report arriving meanwhile starts none. */
static pthread_mutex_t fetching_lock = PTHREAD_MUTEX_INITIALIZER;
static char fetching[16][64];

static int claim(const char *image_id)
{
    pthread_mutex_lock(&fetching_lock);
    int free_slot = -1, busy = 0;
    for (int i = 0; i < 16; i++) {
        if (strcmp(fetching[i], image_id) == 0)
            busy = 1;
        else if (fetching[i][0] == '\0' && free_slot < 0)
            free_slot = i;
    }
    int ok = !busy && free_slot >= 0;
    if (ok)
        snprintf(fetching[free_slot], sizeof(fetching[free_slot]), "%s", image_id);
    pthread_mutex_unlock(&fetching_lock);
    return ok;
}

static void release(const char *image_id)
{
    pthread_mutex_lock(&fetching_lock);
    for (int i = 0; i < 16; i++)
        if (strcmp(fetching[i], image_id) == 0)
            fetching[i][0] = '\0';
    pthread_mutex_unlock(&fetching_lock);
}

typedef struct fetch_job {
    cp_app *app;
    char *vm_id, *image_id, *url, *token, *dir, *checksum;
} fetch_job;

/* Ends the export: the image ready (error NULL) or failed; the order no
 * longer asks for the file either way. */
static void finish(cp_app *app, const char *vm_id, const char *image_id, const char *checksum,
                   long long size, const cu_error *error)
{
    _cleanup_error_ cu_error *err = NULL;
    if (store_tx_begin(app->store, &err) < 0) {
        log_error("image %s: %s", image_id, err->message);
        return;
    }
    if (error == NULL)
        store_exec(app->store, &err,
                   "UPDATE images SET state = 'ready', checksum = ?, size_bytes = ? WHERE id = ?",
                   "sis", checksum, size, image_id);
    else
        store_exec(app->store, &err, "UPDATE images SET state = 'error' WHERE id = ?", "s",
                   image_id);
    store_exec(app->store, &err,
               "UPDATE vms SET export_image = NULL, export_snapshot = NULL,"
               " generation = generation + 1, next_push_at = 0, push_attempts = 0"
               " WHERE id = ? AND export_image = ?",
               "ss", vm_id, image_id);
    json_t *op = NULL;
    if (ops_find_in_flight(app, image_id, &op, &err) == 1) {
        char msg[256];
        snprintf(msg, sizeof(msg), "image ready: %lld MiB, %s", size >> 20, checksum);
        ops_finish(app, cu_json_str(op, "id"), error ? error->code : NULL,
                   error ? error->message : msg, &err);
        json_decref(op);
    }
    if (err) {
        store_tx_rollback(app->store);
        log_error("image %s: %s", image_id, err->message);
        return;
    }
    store_tx_commit(app->store, &err);
    ops_notify(app);
    orders_kick(app);
    if (error)
        log_error("image %s: %s", image_id, error->message);
    else
        log_info("image %s ready (%lld MiB, %s)", image_id, size >> 20, checksum);
}

static void *fetch_main(void *arg)
{
    fetch_job *j = arg;
    _cleanup_error_ cu_error *err = NULL;
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/disk.qcow2", j->dir) < 0)
        abort();
    char digest[65] = "", checksum[80] = "";
    long long size = 0;
    log_info("image %s: fetching it from %s", j->image_id, j->url);
    if (cu_mkdir_p(j->dir, 0700, &err) == 0 &&
        cu_download(j->url, j->token, path, j->checksum + strlen("sha256:"), digest, &size,
                    &err) == 0)
        snprintf(checksum, sizeof(checksum), "sha256:%s", digest);
    finish(j->app, j->vm_id, j->image_id, checksum, size, err);
    release(j->image_id);
    free(j->vm_id);
    free(j->image_id);
    free(j->url);
    free(j->token);
    free(j->dir);
    free(j->checksum);
    free(j);
    return NULL;
}

static void start_fetch(cp_app *app, const char *vm_id, const json_t *row, const char *checksum)
{
    const char *image_id = cu_json_str(row, "export_image");
    if (!claim(image_id))
        return;
    fetch_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        abort();
    j->app = app;
    j->vm_id = strdup(vm_id);
    j->image_id = strdup(image_id);
    j->token = strdup(cu_json_str(row, "order_token"));
    j->dir = strdup(cu_json_str(row, "local_dir"));
    j->checksum = strdup(checksum);
    if (asprintf(&j->url, "%s/v1/vms/%s/exports/%s", cu_json_str(row, "api_url"), vm_id,
                 image_id) < 0)
        abort();
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, fetch_main, j) != 0) {
        log_error("image %s: cannot start a thread to fetch it", image_id);
        release(image_id);
        free(j->vm_id), free(j->image_id), free(j->url), free(j->token), free(j->dir);
        free(j->checksum), free(j);
    }
    pthread_attr_destroy(&attr);
}

int image_export_apply_report(cp_app *app, const char *vm_id, const json_t *rep, cu_error **err)
{
    json_t *row = NULL;
    int r = store_get(app->store, &row, err,
                      "SELECT v.export_image, v.generation, i.local_dir, h.api_url, h.order_token"
                      " FROM vms v JOIN images i ON i.id = v.export_image AND i.state = 'creating'"
                      " JOIN hosts h ON h.id = v.host_id WHERE v.id = ?",
                      "s", vm_id);
    if (r <= 0)
        return r;
    const json_t *done = json_object_get(rep, "export");
    const json_t *error = json_object_get(rep, "error");
    const char *image_id = cu_json_str(row, "export_image");
    const char *sum = cu_json_str(done, "checksum");
    if (sum && strcmp(cu_json_str(done, "image_id") ?: "", image_id) == 0 &&
        strncmp(sum, "sha256:", 7) == 0 && cu_json_str(row, "api_url")) {
        start_fetch(app, vm_id, row, sum);
    } else if (json_is_object(error) &&
               json_integer_value(json_object_get(error, "generation")) >=
                   json_integer_value(json_object_get(row, "generation"))) {
        /* The host could not make the file: nothing will come. */
        store_exec(app->store, err, "UPDATE images SET state = 'error' WHERE id = ?", "s",
                   image_id);
        store_exec(app->store, err,
                   "UPDATE vms SET export_image = NULL, export_snapshot = NULL,"
                   " generation = generation + 1, next_push_at = 0 WHERE id = ?",
                   "s", vm_id);
        ops_fail_in_flight(app, image_id, cu_json_str(error, "code") ?: "image_failed",
                           cu_json_str(error, "message"), err);
    }
    json_decref(row);
    return 0;
}
