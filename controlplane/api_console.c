/* api_console.c: the VM's screen and serial console.
 *
 * GET /v1/vms/{id}/screenshot?size=W: a PNG of the screen, taken by its
 * host (agent/screenshot.h) and relayed.
 *
 * POST /v1/vms/{id}/console {"type": "vnc"|"serial"}: where to open one.
 * Answers the websocket URL on the VM's host (its agent's console
 * listener, agent/console_proxy.h) with a ticket in the
 * query: signed with the key derived from that host's order token, good
 * for this VM and console only, for CONSOLE_TICKET_TTL_MS, once
 * (common/console_ticket.h).  Nothing is stored: the host checks the
 * ticket itself. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "api.h"
#include "cleanup.h"
#include "console_ticket.h"
#include "download.h"
#include "fsutil.h"
#include "ids.h"
#include "json_util.h"
#include "validate.h"

static const char *const types[] = {"vnc", "serial", NULL};

static void iso_ms(long long ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03lldZ", ms % 1000);
}

/* The VM and its host, if it runs on one that is up (api.h). */
static int running_vm(cp_app *app, const char *ref, json_t **vm, cu_error **err)
{
    return api_running_vm(app, ref, "its screen and serial console", "console_unavailable", vm,
                          err);
}

int api_vms_console(http_request *req, http_response *resp, cu_error **err)
{
    static const cu_json_field fields[] = {{"type", CU_JSON_STRING, false}, {NULL}};
    const json_t *b = req->body;
    const char *type = b ? cu_json_str(b, "type") : NULL;
    if ((b && cu_json_check_fields(b, fields, err) < 0) ||
        (type && validate_enum("type", type, types, err) < 0))
        return -1;
    type = type ? type : "vnc";
    json_t *row = NULL;
    if (running_vm(APP(req), req->params[0], &row, err) < 0) {
        json_decref(row);
        return -1;
    }
    json_auto_t *vm = row;
    const char *url = cu_json_str(vm, "console_url");
    if (url == NULL)
        return cu_error_set(err, 503, "console_unavailable", NULL,
                            "the host '%s' of VM '%s' has no console listener (an older agent)",
                            cu_json_str(vm, "host"), cu_json_str(vm, "name"));
    unsigned char key[CONSOLE_TICKET_KEY_LEN];
    console_ticket_key(cu_json_str(vm, "order_token"), key);
    char ticket[CONSOLE_TICKET_MAX], expires[32];
    long long now = console_ticket_now_ms();
    if (console_ticket_issue(key, sizeof(key), cu_json_str(vm, "id"), type, now, ticket, err) < 0)
        return -1;
    iso_ms(now + CONSOLE_TICKET_TTL_MS, expires);
    _cleanup_free_ char *ws = NULL;
    if (asprintf(&ws, "%s/v1/vms/%s/%s?ticket=%s", url, cu_json_str(vm, "id"), type, ticket) < 0)
        abort();
    resp->body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "vm_id", cu_json_str(vm, "id"),
                           "type", type, "url", ws, "protocol", "binary", "ticket", ticket,
                           "expires_at", expires);
    return 0;
}

int api_vms_screenshot(http_request *req, http_response *resp, cu_error **err)
{
    cp_app *app = APP(req);
    const char *size = http_query(req, "size");
    if (size && (strlen(size) > 4 || strspn(size, "0123456789") != strlen(size) || atoi(size) < 16 ||
                 atoi(size) > 4096))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "size",
                            "size must be a width in pixels from 16 to 4096, got '%.32s'", size);
    json_t *row = NULL;
    if (running_vm(app, req->params[0], &row, err) < 0) {
        json_decref(row);
        return -1;
    }
    json_auto_t *vm = row;
    _cleanup_free_ char *url = NULL, *dir = NULL, *path = NULL, *name = cu_id_new("shot");
    if (asprintf(&url, "%s/v1/vms/%s/screenshot%s%s", cu_json_str(vm, "api_url"),
                 cu_json_str(vm, "id"), size ? "?size=" : "", size ? size : "") < 0 ||
        asprintf(&dir, "%s/tmp", app->data_dir) < 0 ||
        asprintf(&path, "%s/%s.png", dir, name) < 0)
        abort();
    char digest[65];
    long long bytes = 0;
    if (cu_mkdir_p(dir, 0700, err) < 0 ||
        cu_download(url, cu_json_str(vm, "order_token"), path, NULL, digest, &bytes, err) < 0)
        return cu_error_wrap(err, "the screenshot of VM '%s' from its host",
                             cu_json_str(vm, "name"));
    resp->file_fd = open(path, O_RDONLY | O_CLOEXEC);
    int e = errno;
    unlink(path); /* open or not, it is ours alone now */
    if (resp->file_fd < 0)
        return cu_error_errno(err, e, "cannot open '%s'", path);
    resp->file_size = bytes;
    resp->content_type = "image/png";
    return 0;
}
