/* api.h: the REST API's route table and the helpers its handlers share
 * (pagination, lookups by id or name, 202 answers with an operation). */
#ifndef CUMULUS_CP_API_H
#define CUMULUS_CP_API_H

#include <jansson.h>

#include "app.h"
#include "http_server.h"

#define APP(req) ((cp_app *)(req)->app)

extern const http_route cp_routes[];
extern const size_t cp_nroutes;

/* 404 "no <kind> '<ref>'". */
int api_not_found(cu_error **err, const char *kind, const char *ref);

typedef struct api_page {
    long long after; /* seq cursor; 0 = from the start */
    long long limit;
} api_page;

#define API_PAGE_DEFAULT 50
#define API_PAGE_MAX 1000

/* Reads ?limit= and ?after=; 400 on a bad value. */
int api_page_parse(http_request *req, api_page *page, cu_error **err);
/* `rows` holds up to limit+1 rows, each with an "_seq" member: answers
 * {"<key>": [first limit rows without _seq], "next": link or null}.
 * `filters` ("state=running&" or "") is repeated in the next link. */
void api_page_respond(http_request *req, http_response *resp, const char *key, json_t *rows,
                      const api_page *page, const char *filters);

/* The VM `ref` (id or name) with its host's name, state, api_url,
 * console_url and order_token, for what is fetched live from the host:
 * 1 when the VM runs on a host that is up; else -1 with 404, 409 ("VM 'x'
 * is stopped: <what> are there while it runs") or 503 with code
 * `unavailable` (the host is down or gone).  *vm may be set on failure too:
 * the caller frees it. */
int api_running_vm(cp_app *app, const char *ref, const char *what, const char *unavailable,
                   json_t **vm, cu_error **err);

/* Answers 202 with Location: /v1/operations/{id} and {"operation": op, ...extra}. */
void api_accepted(http_response *resp, json_t *op, json_t *extra);

/* Handlers, one file per resource. */
int api_health(http_request *, http_response *, cu_error **);
int api_openapi(http_request *, http_response *, cu_error **);
int api_sizes_list(http_request *, http_response *, cu_error **);
int api_sizes_get(http_request *, http_response *, cu_error **);
int api_sizes_create(http_request *, http_response *, cu_error **);
int api_sizes_delete(http_request *, http_response *, cu_error **);
int api_images_list(http_request *, http_response *, cu_error **);
int api_images_get(http_request *, http_response *, cu_error **);
int api_images_create(http_request *, http_response *, cu_error **);
int api_images_delete(http_request *, http_response *, cu_error **);
int api_hosts_action(http_request *, http_response *, cu_error **);
int api_images_import(http_request *, http_response *, cu_error **);
int api_images_bake(http_request *, http_response *, cu_error **);
int api_vms_console(http_request *, http_response *, cu_error **);
int api_vms_screenshot(http_request *, http_response *, cu_error **);
int api_vms_stats(http_request *, http_response *, cu_error **);
int api_images_file(http_request *, http_response *, cu_error **);
int api_keys_list(http_request *, http_response *, cu_error **);
int api_keys_get(http_request *, http_response *, cu_error **);
int api_keys_create(http_request *, http_response *, cu_error **);
int api_keys_delete(http_request *, http_response *, cu_error **);
int api_hosts_list(http_request *, http_response *, cu_error **);
int api_hosts_get(http_request *, http_response *, cu_error **);
int api_hosts_join(http_request *, http_response *, cu_error **);
int api_hosts_heartbeat(http_request *, http_response *, cu_error **);
int api_vms_list(http_request *, http_response *, cu_error **);
int api_vms_get(http_request *, http_response *, cu_error **);
int api_vms_create(http_request *, http_response *, cu_error **);
int api_vms_delete(http_request *, http_response *, cu_error **);
int api_vms_action(http_request *, http_response *, cu_error **);
int api_vms_cloud_init(http_request *, http_response *, cu_error **);
int api_snapshots_list(http_request *, http_response *, cu_error **);
int api_snapshots_create(http_request *, http_response *, cu_error **);
int api_snapshots_get(http_request *, http_response *, cu_error **);
int api_snapshots_delete(http_request *, http_response *, cu_error **);
int api_snapshots_restore(http_request *, http_response *, cu_error **);
int api_snapshots_image(http_request *, http_response *, cu_error **);
int api_ops_list(http_request *, http_response *, cu_error **);
int api_ops_get(http_request *, http_response *, cu_error **);
int api_ops_wait(http_request *, http_response *, cu_error **);
int api_runs_list(http_request *, http_response *, cu_error **);
int api_runs_create(http_request *, http_response *, cu_error **);
int api_runs_get(http_request *, http_response *, cu_error **);
int api_runs_delete(http_request *, http_response *, cu_error **);
int api_runs_output(http_request *, http_response *, cu_error **);

#endif

/* GET of one row by id or name: `sql` takes ?1 = the path's {id}. */
int api_get_by_ref(http_request *req, http_response *resp, const char *sql, const char *kind,
                   cu_error **err);
/* GET of a page: `sql` takes ?1 = after (seq), ?2 = limit + 1 and must
 * select "seq AS _seq". */
int api_list_simple(http_request *req, http_response *resp, const char *sql, const char *key,
                    cu_error **err);
/* Turns the store's generic 409 into "a <kind> named '<value>' already
 * exists" on `field`; other errors pass through.  Returns -1. */
int api_exists_error(cu_error **err, const char *field, const char *kind, const char *value);
/* DELETE by id or name, refused with 409 in_use while `count_sql` (?1 =
 * ref) counts VMs that use the row. */
int api_delete_unless_used(http_request *req, const char *count_sql, const char *delete_sql,
                           const char *kind, cu_error **err);
