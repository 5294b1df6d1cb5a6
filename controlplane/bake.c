/* bake.c: see bake.h. */
#define _GNU_SOURCE
#include "bake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "image_export.h"
#include "json_util.h"
#include "log.h"
#include "ops.h"
#include "store.h"
#include "vm_create.h"

/* The bake failed: the image says so, the operation says why, the VM goes. */
static void fail(cp_app *app, const json_t *bake, const char *code, const char *message,
                 cu_error **err)
{
    const char *image_id = cu_json_str(bake, "bake_image");
    log_warn("bake of image %s failed (%s): %s", image_id, code, message);
    store_exec(app->store, err, "UPDATE images SET state = 'error' WHERE id = ?", "s", image_id);
    ops_fail_in_flight(app, image_id, code, message, err);
    vm_request_delete_in_tx(app, cu_json_str(bake, "vm_id"), err);
}

static void progress(cp_app *app, const json_t *bake, long long pct, const char *message,
                     cu_error **err)
{
    json_t *op = NULL;
    if (ops_find_in_flight(app, cu_json_str(bake, "bake_image"), &op, err) == 1)
        ops_update(app, cu_json_str(op, "id"), "running", pct, message, err);
    json_decref(op);
}

static int past_deadline(const json_t *bake)
{
    return (long long)time(NULL) > json_integer_value(json_object_get(bake, "bake_deadline"));
}

/* The guest said its last word (rep.bake) and may have powered off. */
static void guest_spoke(cp_app *app, const json_t *bake, const json_t *rep, const json_t *word,
                        cu_error **err)
{
    if (strcmp(cu_json_str(word, "state") ?: "", "ready") != 0) {
        _cleanup_free_ char *msg = NULL;
        if (asprintf(&msg, "%s\n\n%s", cu_json_str(word, "message") ?: "cloud-init failed",
                     cu_json_str(word, "detail") ?: "") < 0)
            abort();
        fail(app, bake, "cloud_init_failed", msg, err);
    } else if (strcmp(cu_json_str(rep, "state") ?: "", "stopped") == 0) {
        const char *vm_id = cu_json_str(bake, "vm_id");
        store_exec(app->store, err, "UPDATE vms SET desired_state = 'stopped' WHERE id = ?", "s",
                   vm_id);
        image_export_request(app, vm_id, cu_json_str(bake, "bake_image"), NULL, err);
        progress(app, bake, 80,
                 "cloud-init finished and the guest powered off: making the image from its disk",
                 err);
    } else if (past_deadline(bake)) {
        fail(app, bake, "bake_timeout",
             "cloud-init finished but the guest had not powered off when the bake's timeout passed",
             err);
    } else {
        progress(app, bake, 70, "cloud-init finished: the guest is powering off", err);
    }
}

/* No last word from the guest yet. */
static void waiting(cp_app *app, const json_t *bake, const json_t *rep, cu_error **err)
{
    const char *state = cu_json_str(rep, "state") ?: "";
    const json_t *error = json_object_get(rep, "error");
    const char *guest = cu_json_str(json_object_get(rep, "guest"), "message");
    char msg[1024];
    if (json_is_object(error)) {
        snprintf(msg, sizeof(msg), "the host could not run the VM: %s",
                 cu_json_str(error, "message") ?: "no reason given");
        fail(app, bake, cu_json_str(error, "code") ?: "bake_failed", msg, err);
    } else if (strcmp(state, "stopped") == 0) {
        snprintf(msg, sizeof(msg),
                 "the VM stopped before cloud-init had finished, without a word from the guest "
                 "(does the user-data power it off or reboot it?); its host says: %s",
                 cu_json_str(rep, "message") ?: "stopped");
        fail(app, bake, "bake_failed", msg, err);
    } else if (past_deadline(bake)) {
        snprintf(msg, sizeof(msg),
                 "cloud-init had not finished when the bake's timeout passed; last word from the "
                 "VM: %s",
                 guest ? guest : cu_json_str(rep, "message") ?: "none");
        fail(app, bake, "bake_timeout", msg, err);
    } else if (strcmp(state, "running") == 0) {
        snprintf(msg, sizeof(msg), "cloud-init is running the user-data: %s", guest ?: "booting");
        progress(app, bake, 40, msg, err);
    } else {
        snprintf(msg, sizeof(msg), "preparing the VM: %s", cu_json_str(rep, "message") ?: state);
        progress(app, bake, 10 + json_integer_value(json_object_get(rep, "progress")) / 4, msg,
                 err);
    }
}

int bake_apply_report(cp_app *app, const char *vm_id, const json_t *rep, cu_error **err)
{
    json_t *bake = NULL;
    int r = store_get(app->store, &bake, err,
                      "SELECT v.id AS vm_id, v.bake_image, v.bake_deadline, v.export_image,"
                      " i.state AS image_state FROM vms v LEFT JOIN images i ON i.id = v.bake_image"
                      " WHERE v.id = ? AND v.bake_image IS NOT NULL",
                      "s", vm_id);
    if (r <= 0)
        return r;
    const char *image_state = cu_json_str(bake, "image_state");
    const json_t *word = json_object_get(rep, "bake");
    if (image_state == NULL) {
        /* The image was deleted while it was being baked: a cancel. */
        ops_fail_in_flight(app, cu_json_str(bake, "bake_image"), "cancelled",
                           "cancelled: the image was deleted while it was being baked", err);
        vm_request_delete_in_tx(app, vm_id, err);
    } else if (strcmp(image_state, "creating") != 0) {
        vm_request_delete_in_tx(app, vm_id, err); /* done, one way or the other */
    } else if (cu_json_str(bake, "export_image")) {
        /* The image is being made and fetched (image_export.c). */
        if (json_is_object(json_object_get(rep, "export")))
            progress(app, bake, 90, "the host has made the image: fetching and checking it", err);
    } else if (json_is_object(word)) {
        guest_spoke(app, bake, rep, word, err);
    } else {
        waiting(app, bake, rep, err);
    }
    json_decref(bake);
    return *err ? -1 : 0;
}
