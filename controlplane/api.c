/* api.c: the route table (the one list of what the API serves; the
 * OpenAPI test compares it with openapi.json) and shared handler helpers. */
#define _GNU_SOURCE
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_metrics.h"
#include "events.h"
#include "json_util.h"
#include "store.h"

#define ADMIN ROLE_ADMIN

const http_route cp_routes[] = {
    {"GET", "/v1/health", api_health, 0},
    {"GET", "/v1/openapi.json", api_openapi, ADMIN},
    {"GET", "/metrics", api_metrics, ADMIN},
    {"GET", "/v1/sizes", api_sizes_list, ADMIN},
    {"POST", "/v1/sizes", api_sizes_create, ADMIN},
    {"GET", "/v1/sizes/{id}", api_sizes_get, ADMIN},
    {"DELETE", "/v1/sizes/{id}", api_sizes_delete, ADMIN},
    {"GET", "/v1/images", api_images_list, ADMIN},
    {"POST", "/v1/images", api_images_create, ADMIN},
    {"POST", "/v1/images/import", api_images_import, ADMIN},
    {"POST", "/v1/images/bake", api_images_bake, ADMIN},
    {"GET", "/v1/images/{id}/files/{file}", api_images_file, ADMIN | ROLE_AGENT},
    {"GET", "/v1/images/{id}", api_images_get, ADMIN},
    {"DELETE", "/v1/images/{id}", api_images_delete, ADMIN},
    {"GET", "/v1/ssh-keys", api_keys_list, ADMIN},
    {"POST", "/v1/ssh-keys", api_keys_create, ADMIN},
    {"GET", "/v1/ssh-keys/{id}", api_keys_get, ADMIN},
    {"DELETE", "/v1/ssh-keys/{id}", api_keys_delete, ADMIN},
    {"GET", "/v1/hosts", api_hosts_list, ADMIN},
    {"GET", "/v1/hosts/{id}", api_hosts_get, ADMIN},
    {"POST", "/v1/hosts/{id}/actions", api_hosts_action, ADMIN},
    {"POST", "/v1/hosts/join", api_hosts_join, ROLE_JOIN},
    {"POST", "/v1/hosts/{id}/heartbeat", api_hosts_heartbeat, ROLE_AGENT},
    {"GET", "/v1/vms", api_vms_list, ADMIN},
    {"POST", "/v1/vms", api_vms_create, ADMIN},
    {"GET", "/v1/vms/{id}", api_vms_get, ADMIN},
    {"DELETE", "/v1/vms/{id}", api_vms_delete, ADMIN},
    {"POST", "/v1/vms/{id}/actions", api_vms_action, ADMIN},
    {"GET", "/v1/vms/{id}/cloud-init", api_vms_cloud_init, ADMIN},
    {"POST", "/v1/vms/{id}/console", api_vms_console, ADMIN},
    {"GET", "/v1/vms/{id}/screenshot", api_vms_screenshot, ADMIN},
    {"GET", "/v1/vms/{id}/stats", api_vms_stats, ADMIN},
    {"GET", "/v1/vms/{id}/snapshots", api_snapshots_list, ADMIN},
    {"POST", "/v1/vms/{id}/snapshots", api_snapshots_create, ADMIN},
    {"GET", "/v1/vms/{id}/snapshots/{snapshot}", api_snapshots_get, ADMIN},
    {"DELETE", "/v1/vms/{id}/snapshots/{snapshot}", api_snapshots_delete, ADMIN},
    {"POST", "/v1/vms/{id}/snapshots/{snapshot}/restore", api_snapshots_restore, ADMIN},
    {"POST", "/v1/snapshots/{id}/image", api_snapshots_image, ADMIN},
    {"GET", "/v1/operations", api_ops_list, ADMIN},
    {"GET", "/v1/operations/{id}", api_ops_get, ADMIN},
    {"GET", "/v1/operations/{id}/wait", api_ops_wait, ADMIN},
    {"GET", "/v1/events", api_events_list, ADMIN},
    {"GET", "/v1/runs", api_runs_list, ADMIN},
    {"POST", "/v1/runs", api_runs_create, ADMIN},
    {"GET", "/v1/runs/{id}", api_runs_get, ADMIN},
    {"DELETE", "/v1/runs/{id}", api_runs_delete, ADMIN},
    {"GET", "/v1/runs/{id}/output", api_runs_output, ADMIN},
};
const size_t cp_nroutes = sizeof(cp_routes) / sizeof(cp_routes[0]);

int api_not_found(cu_error **err, const char *kind, const char *ref)
{
    return cu_error_set(err, 404, CU_E_NOT_FOUND, NULL, "no %s '%s'", kind, ref);
}

int api_running_vm(cp_app *app, const char *ref, const char *what, const char *unavailable,
                   json_t **vm, cu_error **err)
{
    int r = store_get(app->store, vm, err,
                      "SELECT v.id, v.name, v.state, h.name AS host, h.state AS host_state,"
                      " h.api_url, h.console_url, h.order_token FROM vms v"
                      " LEFT JOIN hosts h ON h.id = v.host_id WHERE v.id = ?1 OR v.name = ?1",
                      "s", ref);
    if (r <= 0)
        return r < 0 ? -1 : api_not_found(err, "VM", ref);
    const char *name = cu_json_str(*vm, "name");
    if (strcmp(cu_json_str(*vm, "state"), "running") != 0)
        return cu_error_set(err, 409, CU_E_CONFLICT, NULL,
                            "VM '%s' is %s: %s are there while it runs", name,
                            cu_json_str(*vm, "state"), what);
    if (strcmp(cu_json_str(*vm, "host_state") ?: "", "up") != 0)
        return cu_error_set(err, 503, unavailable, NULL,
                            "VM '%s' is on host '%s', which is %s: %s cannot be reached", name,
                            cu_json_str(*vm, "host") ?: "?",
                            cu_json_str(*vm, "host_state") ?: "gone", what);
    return 1;
}

static int parse_count(const char *name, const char *text, long long min, long long max,
                       long long *out, cu_error **err)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, name,
                            "query parameter '%s' must be a whole number from %lld to %lld, got "
                            "'%s'",
                            name, min, max, text);
    *out = v;
    return 0;
}

int api_page_parse(http_request *req, api_page *page, cu_error **err)
{
    page->limit = API_PAGE_DEFAULT;
    page->after = 0;
    const char *limit = http_query(req, "limit");
    const char *after = http_query(req, "after");
    if (limit && parse_count("limit", limit, 1, API_PAGE_MAX, &page->limit, err) < 0)
        return -1;
    if (after && parse_count("after", after, 0, (long long)1 << 62, &page->after, err) < 0)
        return -1;
    return 0;
}

void api_page_respond(http_request *req, http_response *resp, const char *key, json_t *rows,
                      const api_page *page, const char *filters)
{
    json_t *next = json_null();
    size_t n = json_array_size(rows);
    if (n > (size_t)page->limit) {
        json_array_remove(rows, n - 1);
        long long last = json_integer_value(json_object_get(json_array_get(rows, n - 2), "_seq"));
        char *link = NULL;
        if (asprintf(&link, "%s?%slimit=%lld&after=%lld", req->path, filters, page->limit, last) <
            0)
            abort();
        next = json_string(link);
        free(link);
    }
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) json_object_del(row, "_seq");
    resp->body = json_pack("{s:o, s:o}", key, rows, "next", next);
}

void api_accepted(http_response *resp, json_t *op, json_t *extra)
{
    if (asprintf(&resp->location, "/v1/operations/%s", json_string_value(json_object_get(op, "id"))) < 0)
        abort();
    resp->status = 202;
    resp->body = extra ? extra : json_object();
    json_object_set_new(resp->body, "operation", op);
}

int api_get_by_ref(http_request *req, http_response *resp, const char *sql, const char *kind,
                   cu_error **err)
{
    json_t *row = NULL;
    int r = store_get(APP(req)->store, &row, err, sql, "s", req->params[0]);
    if (r < 0)
        return -1;
    if (r == 0)
        return api_not_found(err, kind, req->params[0]);
    json_object_del(row, "_seq");
    resp->body = row;
    return 0;
}

int api_list_simple(http_request *req, http_response *resp, const char *sql, const char *key,
                    cu_error **err)
{
    api_page page;
    if (api_page_parse(req, &page, err) < 0)
        return -1;
    json_t *rows = store_list(APP(req)->store, err, sql, "ii", page.after, page.limit + 1);
    if (rows == NULL)
        return -1;
    api_page_respond(req, resp, key, rows, &page, "");
    return 0;
}

int api_exists_error(cu_error **err, const char *field, const char *kind, const char *value)
{
    if (*err && (*err)->status == 409 && strcmp((*err)->code, CU_E_EXISTS) == 0) {
        cu_error_freep(err);
        cu_error_set(err, 409, CU_E_EXISTS, field, "a %s named '%s' already exists", kind, value);
    }
    return -1;
}

int api_delete_unless_used(http_request *req, const char *count_sql, const char *delete_sql,
                           const char *kind, cu_error **err)
{
    cp_store *st = APP(req)->store;
    const char *ref = req->params[0];
    if (store_tx_begin(st, err) < 0)
        return -1;
    long long users = count_sql ? store_int(st, 0, err, count_sql, "s", ref) : 0;
    int r = users > 0 ? cu_error_set(err, 409, CU_E_IN_USE, NULL,
                                     "%s '%s' is used by %lld VM(s); delete them first", kind, ref,
                                     users)
                      : store_exec(st, err, delete_sql, "s", ref);
    if (r <= 0) {
        store_tx_rollback(st);
        return r < 0 ? -1 : api_not_found(err, kind, ref);
    }
    return store_tx_commit(st, err);
}
