/* api_agents.c: the agents' side of the API.
 *   POST /v1/hosts/join            (join token) register a host, get its credential
 *   POST /v1/hosts/{id}/heartbeat  (that host's token) capacity + VM states
 * A host that joins again under the same name (an agent reinstalled, its
 * data directory lost) keeps its record and its VMs and gets a new token. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cleanup.h"
#include "ids.h"
#include "json_util.h"
#include "log.h"
#include "orders.h"
#include "reports.h"
#include "schema.h"
#include "validate.h"

#define HOST_PUBLIC                                                                                \
    "SELECT id, name, address, architecture, accelerators AS accelerators_json,"                   \
    " emulated_architectures AS emulated_architectures_json, vcpus,"                               \
    " memory_mib, disk_gib, free_vcpus, free_memory_mib, free_disk_gib, qemu_version, state,"      \
    " last_heartbeat, created_at FROM hosts WHERE id = ?"

static const char *const architectures[] = {"x86_64", "aarch64", NULL};

/* Where viewers reach the host's console websockets (agent/console_proxy.h). */
static int check_console_url(const char *url, cu_error **err)
{
    if (url == NULL)
        return 0;
    if ((strncmp(url, "ws://", 5) != 0 && strncmp(url, "wss://", 6) != 0) ||
        validate_text("console_url", url, 255, err) < 0 || strpbrk(url, "?# ") != NULL) {
        cu_error_freep(err);
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "console_url",
                            "console_url '%.255s' must be a ws:// or wss:// URL without a query",
                            url);
    }
    return 0;
}

static int check_join(const json_t *b, cu_error **err)
{
    static const cu_json_field fields[] = {
        {"name", CU_JSON_STRING, true},         {"address", CU_JSON_STRING, true},
        {"api_url", CU_JSON_STRING, true},      {"architecture", CU_JSON_STRING, true},
        {"accelerators", CU_JSON_STRING_ARRAY, true}, {"vcpus", CU_JSON_INTEGER, true},
        {"memory_mib", CU_JSON_INTEGER, true},  {"disk_gib", CU_JSON_INTEGER, true},
        {"qemu_version", CU_JSON_STRING, true}, {"order_token", CU_JSON_STRING, true},
        {"emulated_architectures", CU_JSON_STRING_ARRAY, false},
        {"console_url", CU_JSON_STRING, false}, {NULL}};
    long long n;
    if (b == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL, "send the host's description");
    const char *url = cu_json_str(b, "api_url");
    if (cu_json_check_fields(b, fields, err) < 0 ||
        validate_dns_label("name", cu_json_str(b, "name"), err) < 0 ||
        validate_text("address", cu_json_str(b, "address"), 255, err) < 0 ||
        validate_enum("architecture", cu_json_str(b, "architecture"), architectures, err) < 0 ||
        validate_int(b, "vcpus", 1, 4096, &n, err) < 0 ||
        validate_int(b, "memory_mib", 64, 1LL << 32, &n, err) < 0 ||
        validate_int(b, "disk_gib", 0, 1LL << 32, &n, err) < 0 ||
        validate_text("qemu_version", cu_json_str(b, "qemu_version"), 64, err) < 0 ||
        validate_text("order_token", cu_json_str(b, "order_token"), 256, err) < 0)
        return -1;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "api_url",
                            "api_url '%s' must be an http:// or https:// URL", url);
    if (check_console_url(cu_json_str(b, "console_url"), err) < 0)
        return -1;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(b, "emulated_architectures"), i, a)
    {
        if (validate_enum("emulated_architectures", json_string_value(a), architectures, err) < 0)
            return -1;
    }
    return 0;
}

static int upsert_host(cp_app *app, const json_t *b, const char *id, cu_error **err)
{
    _cleanup_free_ char *accel = json_dumps(json_object_get(b, "accelerators"), JSON_COMPACT);
    const json_t *emu = json_object_get(b, "emulated_architectures");
    _cleanup_free_ char *emulated = emu ? json_dumps(emu, JSON_COMPACT) : strdup("[]");
    long long vcpus = json_integer_value(json_object_get(b, "vcpus"));
    long long mem = json_integer_value(json_object_get(b, "memory_mib"));
    long long disk = json_integer_value(json_object_get(b, "disk_gib"));
    return store_exec(
        app->store, err,
        "INSERT INTO hosts (id, name, address, api_url, architecture, accelerators, vcpus,"
        " memory_mib, disk_gib, free_vcpus, free_memory_mib, free_disk_gib, qemu_version,"
        " order_token, emulated_architectures, console_url, state, last_heartbeat)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?7,?8,?9,?10,?11,?12,?13,'up'," SQL_NOW ")"
        " ON CONFLICT(name) DO UPDATE SET address = ?3, api_url = ?4,"
        " architecture = ?5, accelerators = ?6, vcpus = ?7, memory_mib = ?8, disk_gib = ?9,"
        " qemu_version = ?10, order_token = ?11, emulated_architectures = ?12,"
        " console_url = ?13, state = 'up', last_heartbeat = " SQL_NOW,
        "ssssssiiissss", id, cu_json_str(b, "name"), cu_json_str(b, "address"),
        cu_json_str(b, "api_url"), cu_json_str(b, "architecture"), accel, vcpus, mem, disk,
        cu_json_str(b, "qemu_version"), cu_json_str(b, "order_token"), emulated,
        cu_json_str(b, "console_url"));
}

/* Replaces the host's agent token; returns the new token (malloc'd). */
static char *issue_agent_token(cp_app *app, const char *host_id, cu_error **err)
{
    char *token = cu_token_new("cuagt");
    _cleanup_free_ char *tok_id = cu_id_new("tok");
    char hash[65];
    cu_sha256_hex(token, strlen(token), hash);
    if (store_exec(app->store, err, "DELETE FROM tokens WHERE kind = 'agent' AND subject = ?", "s",
                   host_id) < 0 ||
        store_exec(app->store, err,
                   "INSERT INTO tokens (id, kind, hash, subject) VALUES (?, 'agent', ?, ?)", "sss",
                   tok_id, hash, host_id) < 0) {
        free(token);
        return NULL;
    }
    return token;
}

int api_hosts_join(http_request *req, http_response *resp, cu_error **err)
{
    cp_app *app = APP(req);
    const json_t *b = req->body;
    if (check_join(b, err) < 0 || store_tx_begin(app->store, err) < 0)
        return -1;
    _cleanup_free_ char *new_id = cu_id_new("host");
    _cleanup_free_ char *token = NULL;
    json_t *host = NULL;
    if (upsert_host(app, b, new_id, err) < 0 ||
        store_get(app->store, &host, err, "SELECT id FROM hosts WHERE name = ?", "s",
                  cu_json_str(b, "name")) != 1 ||
        (token = issue_agent_token(app, cu_json_str(host, "id"), err)) == NULL) {
        json_decref(host);
        store_tx_rollback(app->store);
        return -1;
    }
    _cleanup_free_ char *id = strdup(cu_json_str(host, "id"));
    json_decref(host);
    host = NULL;
    if (store_tx_commit(app->store, err) < 0 ||
        store_get(app->store, &host, err, HOST_PUBLIC, "s", id) != 1)
        return -1;
    log_info("host '%s' (%s) joined from %s", cu_json_str(b, "name"), id,
             cu_json_str(b, "api_url"));
    resp->status = strcmp(id, new_id) == 0 ? 201 : 200;
    resp->body = json_pack("{s:o, s:s}", "host", host, "agent_token", token);
    orders_kick(app);
    return 0;
}

int api_hosts_heartbeat(http_request *req, http_response *resp, cu_error **err)
{
    static const cu_json_field fields[] = {{"free_vcpus", CU_JSON_INTEGER, true},
                                           {"free_memory_mib", CU_JSON_INTEGER, true},
                                           {"free_disk_gib", CU_JSON_INTEGER, true},
                                           {"vms", CU_JSON_ARRAY, true},
                                           {"api_url", CU_JSON_STRING, false},
                                           {"console_url", CU_JSON_STRING, false},
                                           {NULL}};
    cp_app *app = APP(req);
    if (strcmp(req->principal.id, req->params[0]) != 0)
        return cu_error_set(err, 403, CU_E_FORBIDDEN, NULL,
                            "this agent token belongs to another host");
    if (req->body == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL, "send the host's report");
    if (cu_json_check_fields(req->body, fields, err) < 0 ||
        check_console_url(cu_json_str(req->body, "console_url"), err) < 0 ||
        reports_apply(app, req->params[0], req->body, err) < 0)
        return -1;
    resp->body = json_pack("{s:i}", "heartbeat_timeout_s", app->host_timeout_s);
    orders_kick(app);
    return 0;
}
