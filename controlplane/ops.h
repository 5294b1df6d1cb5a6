/* ops.h: operations, the record of long work (create, start, stop,
 * delete, ...): pending → running → succeeded | failed, with progress and
 * a reason.  Clients follow them by id or long-poll until they end. */
#ifndef CUMULUS_CP_OPS_H
#define CUMULUS_CP_OPS_H

#include <jansson.h>

#include "app.h"

/* Inserts an operation (call inside a store transaction); returns its API
 * JSON or NULL.  `status` is "pending" or, for work already done, "succeeded". */
json_t *ops_create(cp_app *app, const char *type, const char *target_type, const char *target_id,
                   const char *status, const char *message, cu_error **err);

/* A pending operation on a VM that ends when the VM's host reports having
 * applied `generation` of its spec (inside a transaction). */
json_t *ops_create_for_vm(cp_app *app, const char *type, const char *vm_id, long long generation,
                          const char *message, cu_error **err);

/* Sets status (running), progress and message of an in-flight operation. */
int ops_update(cp_app *app, const char *id, const char *status, long long progress,
               const char *message, cu_error **err);
/* Ends an operation: succeeded (error_code NULL) or failed with a reason. */
int ops_finish(cp_app *app, const char *id, const char *error_code, const char *message,
               cu_error **err);

/* The operation still pending or running on `target_id`: 1 (*op set), 0, -1. */
int ops_find_in_flight(cp_app *app, const char *target_id, json_t **op, cu_error **err);

/* Ends every in-flight operation on `target_id` as failed with `code`
 * and `message` (call inside a transaction). */
int ops_fail_in_flight(cp_app *app, const char *target_id, const char *code,
                       const char *message, cu_error **err);

/* 1 found (*op set), 0 unknown, -1 error. */
int ops_get(cp_app *app, const char *id, json_t **op, cu_error **err);

/* Waits until the operation ends or `timeout_ms` passes; 1/0/-1 as ops_get. */
int ops_wait(cp_app *app, const char *id, long timeout_ms, json_t **op, cu_error **err);

/* Wakes every waiter; call after committing a change to any operation. */
void ops_notify(cp_app *app);

/* Turns a row of the operations table into the API's shape. */
json_t *ops_row_to_api(json_t *row);

#define OPS_COLUMNS                                                                                \
    "seq AS _seq, id, type, target_type, target_id, status, progress, message, error_code, "       \
    "error_message, generation, created_at, updated_at, finished_at"

#endif
