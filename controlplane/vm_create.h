/* vm_create.h: making and deleting VMs from inside the control plane, the
 * same way POST and DELETE /v1/vms do (api_vms.c), for code that owns VMs
 * of its own (a run's throwaway VM, runs.h). */
#ifndef CUMULUS_CP_VM_CREATE_H
#define CUMULUS_CP_VM_CREATE_H

#include <jansson.h>

#include "app.h"

/* A VM to create, its references resolved to rows. */
typedef struct vm_request {
    const char *name, *user_data, *boot, *host, *autostart;
    json_t *size, *image, *keys; /* rows of sizes and images; the key copies the VM keeps */
    const char *run_id;          /* the run that owns the VM, or NULL */
    const char *bake_image;      /* the image the VM bakes (bake.h), or NULL */
    long long bake_deadline;     /* unix seconds, with bake_image */
} vm_request;

/* The rows a request's "image" (which must be ready), "size" and
 * "ssh_keys" fields name, for a VM the control plane makes itself;
 * `purpose` ends the refusal of an image not ready ("runs can use it").
 * The caller frees what was set, also on error. */
int api_resolve_vm_parts(cp_app *app, const json_t *body, const char *purpose, json_t **image,
                         json_t **size, json_t **keys, cu_error **err);

/* Places the VM and inserts it with its create operation, which it
 * returns (call inside a store transaction; then ops_notify, orders_kick).
 * 409 no_capacity when no host can take it. */
json_t *vm_insert(cp_app *app, const char *id, const vm_request *v, cu_error **err);

/* Asks for the VM's deletion as DELETE /v1/vms does (in its own
 * transaction, then wakes the reconciler).  1 asked, 0 already gone or
 * being deleted, -1 error. */
int vm_request_delete(cp_app *app, const char *vm_id, cu_error **err);
/* The same inside the caller's transaction (no notify, no kick). */
int vm_request_delete_in_tx(cp_app *app, const char *vm_id, cu_error **err);

#endif
