/* fuzz_api.c: the REST API's handlers on a real store (cp_fixture.h), as
 * http_server.c dispatches them: the route found in the real table
 * (cp_routes) with the real matcher, the body parsed by
 * cu_json_parse_object(), the handler run, the answer freed.  Input:
 *   "METHOD /path" on the first line,
 *   the caller's principal id on the second (a host id for agent routes),
 *   the body (the rest; empty: none).
 * Routes that stream, wait, read query strings (libmicrohttpd's, not
 * reachable without a connection), read files, spawn or reach another
 * daemon are left out: see `skipped`.  Each input starts from the same
 * rows. */
#define _GNU_SOURCE
#include "fuzz.h"

#include "api.h"
#include "api_metrics.h"
#include "cp_fixture.h"
#include "events.h"
#include "json_util.h"

static const http_handler_fn skipped[] = {
    api_openapi,        /* static text */
    api_metrics,        /* static registry */
    api_images_import,  /* reads a manifest and files from disk (fuzz_manifest.c) */
    api_images_file,    /* opens a file */
    api_vms_screenshot, /* asks the VM's agent */
    api_images_list, api_sizes_list, api_keys_list, api_hosts_list, api_vms_list,
    api_snapshots_list, api_ops_list, api_events_list, api_runs_list, /* ?limit= &c. */
    api_ops_wait,       /* long-polls, reads ?timeout= */
    api_runs_create,    /* spawns ssh-keygen and a worker */
    api_runs_delete,    /* the run's worker */
    api_runs_output,    /* streams */
};

static const http_route *route_of(const char *method, const char *path,
                                  char *params[HTTP_MAX_PARAMS])
{
    for (size_t i = 0; i < cp_nroutes; i++) {
        const http_route *r = &cp_routes[i];
        if (strcmp(r->method, method) != 0 || !http_route_match(r->pattern, path, params))
            continue;
        for (size_t k = 0; k < sizeof(skipped) / sizeof(skipped[0]); k++)
            if (r->handler == skipped[k])
                return NULL;
        return r;
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cp_app *app = cp_fixture_app();
    fuzz_input in = {data, size};
    char *line = fuzz_next_line(&in), *who = fuzz_next_line(&in);
    char *space = strchr(line, ' ');
    http_request req = {.app = app};
    http_response resp = {.status = 200, .file_fd = -1};
    const http_route *route = NULL;
    if (space) {
        *space = '\0';
        req.method = line;
        req.path = space + 1;
        route = route_of(req.method, req.path, req.params);
    }
    if (route) {
        cp_fixture_reset(app);
        snprintf(req.principal.id, sizeof(req.principal.id), "%s", who);
        req.principal.role = route->roles & ROLE_ADMIN ? ROLE_ADMIN : route->roles;
        cu_error *err = NULL;
        if (in.left == 0 ||
            (req.body = cu_json_parse_object((const char *)in.p, in.left, &err)) != NULL) {
            if (route->handler(&req, &resp, &err) < 0) {
                FUZZ_CHECK(err != NULL && err->status >= 400 && err->message != NULL);
                json_t *doc = cu_json_error_doc(err);
                json_decref(doc);
            }
        }
        /* Every answer can be sent. */
        if (resp.body) {
            char *text = cu_json_dump(resp.body);
            free(text);
        }
        FUZZ_CHECK(resp.stream == NULL && resp.file_fd < 0);
        cu_error_freep(&err);
    }
    json_decref(resp.body);
    free(resp.location);
    json_decref(req.body);
    for (int i = 0; i < HTTP_MAX_PARAMS; i++)
        free(req.params[i]);
    free(line);
    free(who);
    return 0;
}
