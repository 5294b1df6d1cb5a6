/* api_bake.c: POST /v1/images/bake {name, image, size, user_data,
 * ssh_keys?, timeout?}: a new image baked from `image` by cloud-init
 * running `user_data` (bake.h).  Everything is checked before anything is
 * stored; the image, its VM and the operation are stored in one
 * transaction, so a refused bake (400, 404, 409 already_exists or
 * no_capacity) leaves nothing behind.  Answers 202 with the operation,
 * the image ('creating') and the VM. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "bake.h"
#include "cleanup.h"
#include "cloudinit.h"
#include "ids.h"
#include "image_export.h"
#include "json_util.h"
#include "ops.h"
#include "orders.h"
#include "validate.h"
#include "vm_create.h"
#include "vms.h"

typedef struct bake_request {
    const char *name, *user_data;
    json_t *image, *size, *keys;
    long long timeout;
} bake_request;

static void bake_request_clear(bake_request *b)
{
    json_decref(b->image);
    json_decref(b->size);
    json_decref(b->keys);
}

static int check(cp_app *app, const json_t *b, bake_request *r, cu_error **err)
{
    static const cu_json_field fields[] = {
        {"name", CU_JSON_STRING, true},      {"image", CU_JSON_STRING, true},
        {"size", CU_JSON_STRING, true},      {"user_data", CU_JSON_STRING, true},
        {"ssh_keys", CU_JSON_STRING_ARRAY, false}, {"timeout", CU_JSON_INTEGER, false},
        {NULL}};
    if (b == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL,
                            "send a JSON object: {\"name\", \"image\", \"size\", \"user_data\", "
                            "\"ssh_keys\", \"timeout\"}");
    if (cu_json_check_fields(b, fields, err) < 0 ||
        validate_dns_label("name", cu_json_str(b, "name"), err) < 0)
        return -1;
    r->name = cu_json_str(b, "name");
    r->user_data = cu_json_str(b, "user_data");
    r->timeout = BAKE_TIMEOUT_DEFAULT;
    json_t *timeout = json_object_get(b, "timeout");
    if (api_resolve_vm_parts(app, b, "images can be baked from it", &r->image, &r->size, &r->keys,
                             err) < 0)
        return -1;
    if (strspn(r->user_data, " \t\r\n") == strlen(r->user_data))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "user_data",
                            "user_data is what the bake runs: give a '#cloud-config' or a script");
    if (cloudinit_check_user_data(r->user_data, strlen(r->user_data), err) < 0 ||
        (timeout && validate_int(b, "timeout", 60, BAKE_TIMEOUT_MAX, &r->timeout, err) < 0))
        return -1;
    return 0;
}

/* The VM, the image made from it and the operation (inside a transaction). */
static json_t *insert(cp_app *app, const char *image_id, const char *vm_id, const bake_request *r,
                      json_t **image, cu_error **err)
{
    _cleanup_free_ char *vm_name = NULL;
    if (asprintf(&vm_name, "bake-%s", image_id) < 0)
        abort();
    vm_request v = {.name = vm_name,
                    .user_data = r->user_data,
                    .autostart = "never",
                    .size = r->size,
                    .image = r->image,
                    .keys = r->keys,
                    .bake_image = image_id,
                    .bake_deadline = (long long)time(NULL) + r->timeout};
    json_t *vm_op = vm_insert(app, vm_id, &v, err);
    if (vm_op == NULL)
        return NULL;
    json_decref(vm_op);
    json_t *src = json_pack("{s:s, s:s, s:s, s:s, s:I}", "vm_id", vm_id, "image_id",
                            cu_json_str(r->image, "id"), "image", cu_json_str(r->image, "name"),
                            "user_data", r->user_data, "timeout", (json_int_t)r->timeout);
    *image = image_insert_from_vm(app, image_id, vm_id, r->name, "bake", src, err);
    json_decref(src);
    if (*image == NULL)
        return api_exists_error(err, "name", "image", r->name), NULL;
    char msg[256];
    snprintf(msg, sizeof(msg), "baking image '%s' from '%s': booting the VM", r->name,
             cu_json_str(r->image, "name"));
    return ops_create(app, "image.bake", "image", image_id, "pending", msg, err);
}

int api_images_bake(http_request *req, http_response *resp, cu_error **err)
{
    cp_app *app = APP(req);
    bake_request r = {0};
    _cleanup_free_ char *image_id = cu_id_new("img"), *vm_id = cu_id_new("vm");
    json_t *op = NULL, *image = NULL, *vm = NULL;
    if (check(app, req->body, &r, err) == 0 && store_tx_begin(app->store, err) == 0) {
        op = insert(app, image_id, vm_id, &r, &image, err);
        if (op == NULL)
            store_tx_rollback(app->store);
        else if (store_tx_commit(app->store, err) < 0)
            op = (json_decref(op), NULL);
    }
    bake_request_clear(&r);
    if (op == NULL || vm_lookup(app, vm_id, &vm, err) != 1) {
        json_decref(op);
        json_decref(image);
        return -1;
    }
    ops_notify(app);
    orders_kick(app);
    api_accepted(resp, op, json_pack("{s:o, s:o}", "image", image, "vm", vm));
    return 0;
}
