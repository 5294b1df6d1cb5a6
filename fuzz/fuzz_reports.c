/* fuzz_reports.c: an agent's heartbeat (controlplane/reports.c through
 * api_hosts_heartbeat, api_agents.c), as POST /v1/hosts/{id}/heartbeat
 * hands it over: the body is the input, parsed as http_server.c parses
 * it, then checked and applied to a real store (cp_fixture.h) holding a
 * host with VMs being created, stopped and deleted, and their operations.
 * Whatever a host reports, the store stays consistent: every VM the user
 * did not delete is still there. */
#define _GNU_SOURCE
#include "fuzz.h"

#include "api.h"
#include "cp_fixture.h"
#include "json_util.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cp_app *app = cp_fixture_app();
    cp_fixture_reset(app);
    cu_error *err = NULL;
    http_request req = {.method = "POST", .path = "/v1/hosts/" FIXTURE_HOST "/heartbeat",
                        .app = app};
    strcpy(req.principal.id, FIXTURE_HOST);
    req.principal.role = ROLE_AGENT;
    req.params[0] = strdup(FIXTURE_HOST);
    http_response resp = {.status = 200, .file_fd = -1};
    if (size == 0 || (req.body = cu_json_parse_object((const char *)data, size, &err)) != NULL) {
        if (api_hosts_heartbeat(&req, &resp, &err) < 0)
            FUZZ_CHECK(err != NULL && err->status >= 400);
        else
            FUZZ_CHECK(resp.body != NULL);
    }
    cu_error_freep(&err);
    /* A report never deletes a VM the user did not delete. */
    FUZZ_CHECK(store_int(app->store, -1, NULL,
                         "SELECT count(*) FROM vms WHERE id IN ('vm-a', 'vm-c', 'vm-d')", "") == 3);
    json_decref(resp.body);
    free(resp.location);
    json_decref(req.body);
    for (int i = 0; i < HTTP_MAX_PARAMS; i++)
        free(req.params[i]);
    return 0;
}
