/* api_ops.c: /v1/operations — follow long work by id, or long-poll until
 * it ends (GET .../wait?timeout=S, as Incus does) so a shell script needs
 * no loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "ops.h"
#include "ops_wait.h"
#include "validate.h"

static const char *const statuses[] = {"pending", "running", "succeeded", "failed", NULL};

int api_ops_list(http_request *req, http_response *resp, cu_error **err)
{
    api_page page;
    const char *status = http_query(req, "status");
    const char *target = http_query(req, "target");
    if (api_page_parse(req, &page, err) < 0 ||
        (status && validate_enum("status", status, statuses, err) < 0) ||
        (target && validate_dns_label("target", target, err) < 0))
        return -1;
    json_t *rows = store_list(APP(req)->store, err,
                              "SELECT " OPS_COLUMNS " FROM operations WHERE (?1 IS NULL OR status = ?1)"
                              " AND (?2 IS NULL OR target_id = ?2) AND seq > ?3 ORDER BY seq LIMIT ?4",
                              "ssii", status, target, page.after, page.limit + 1);
    if (rows == NULL)
        return -1;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) ops_row_to_api(row);
    char filters[256] = "";
    snprintf(filters, sizeof(filters), "%s%s%s%s%s%s", status ? "status=" : "",
             status ? status : "", status ? "&" : "", target ? "target=" : "",
             target ? target : "", target ? "&" : "");
    api_page_respond(req, resp, "operations", rows, &page, filters);
    return 0;
}

int api_ops_get(http_request *req, http_response *resp, cu_error **err)
{
    int r = ops_get(APP(req), req->params[0], &resp->body, err);
    if (r == 0)
        return api_not_found(err, "operation", req->params[0]);
    return r < 0 ? -1 : 0;
}

int api_ops_wait(http_request *req, http_response *resp, cu_error **err)
{
    long timeout = CU_OPS_WAIT_DEFAULT_S;
    const char *t = http_query(req, "timeout");
    if (t) {
        char *end = NULL;
        errno = 0;
        timeout = strtol(t, &end, 10);
        if (*t == '\0' || *end != '\0' || errno || timeout < 0 || timeout > CU_OPS_WAIT_MAX_S)
            return cu_error_set(err, 400, CU_E_INVALID_FIELD, "timeout",
                                "query parameter 'timeout' must be whole seconds from 0 to %d, "
                                "got '%s'",
                                CU_OPS_WAIT_MAX_S, t);
    }
    int r = ops_wait(APP(req), req->params[0], timeout * 1000, &resp->body, err);
    if (r == 0)
        return api_not_found(err, "operation", req->params[0]);
    return r < 0 ? -1 : 0;
}
