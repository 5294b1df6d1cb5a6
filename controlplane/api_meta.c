/* api_meta.c: /v1/health (no token: for load balancers and service
 * managers) and /v1/openapi.json (the API described, embedded at build
 * time from controlplane/openapi.json). */
#include "api.h"
#include "schema.h"
#include "version.h"

extern const char cp_openapi_json[];
extern const unsigned long cp_openapi_json_len;

int api_health(http_request *req, http_response *resp, cu_error **err)
{
    /* A read proves the database is there and answering. */
    long long version = store_int(APP(req)->store, -1, err, "PRAGMA user_version", "");
    if (version < 0)
        return -1;
    resp->body = json_pack("{s:s, s:s, s:I}", "status", "ok", "version", CUMULUS_VERSION,
                           "schema_version", version);
    return 0;
}

int api_openapi(http_request *req, http_response *resp, cu_error **err)
{
    resp->raw = cp_openapi_json;
    resp->raw_len = cp_openapi_json_len;
    resp->content_type = "application/json";
    return 0;
}
