/* credentials.c: see credentials.h. */
#define _GNU_SOURCE
#include "credentials.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "http_client.h"
#include "ids.h"
#include "json_util.h"
#include "log.h"

static char *cred_path(const agent *a)
{
    char *p = NULL;
    if (asprintf(&p, "%s/credentials.json", a->data_dir) < 0)
        abort();
    return p;
}

int credentials_load(agent *a, cu_error **err)
{
    _cleanup_free_ char *path = cred_path(a);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (j == NULL) {
        if (access(path, F_OK) != 0)
            return 0;
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "cannot read '%s': %s", path,
                            jerr.text);
    }
    const char *h = cu_json_str(j, "host_id"), *t = cu_json_str(j, "agent_token"),
               *o = cu_json_str(j, "order_token");
    int ok = h && t && o;
    if (ok) {
        snprintf(a->host_id, sizeof(a->host_id), "%s", h);
        snprintf(a->agent_token, sizeof(a->agent_token), "%s", t);
        snprintf(a->order_token, sizeof(a->order_token), "%s", o);
    }
    json_decref(j);
    if (!ok)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "'%s' lacks host_id, agent_token or order_token; remove it to join "
                            "again",
                            path);
    return 1;
}

int credentials_save(agent *a, cu_error **err)
{
    _cleanup_free_ char *path = cred_path(a);
    json_t *j = json_pack("{s:s, s:s, s:s}", "host_id", a->host_id, "agent_token",
                          a->agent_token, "order_token", a->order_token);
    _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    return cu_write_file_atomic(path, text, strlen(text), 0600, err);
}

static json_t *join_body(agent *a)
{
    json_t *accel = json_array();
    if (a->facts.kvm)
        json_array_append_new(accel, json_string("kvm"));
    if (a->facts.hvf)
        json_array_append_new(accel, json_string("hvf"));
    json_array_append_new(accel, json_string("tcg"));
    json_t *emulated = json_array();
    for (int i = 0; i < a->facts.nemulated; i++)
        json_array_append_new(emulated, json_string(a->facts.emulated[i]));
    return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:o, s:o, s:i, s:I, s:I, s:s, s:s}", "name",
                     a->name, "address", a->address, "api_url", a->api_url, "console_url",
                     a->console_url, "architecture", a->facts.arch,
                     "accelerators", accel, "emulated_architectures", emulated, "vcpus",
                     a->facts.vcpus, "memory_mib", a->facts.memory_mib, "disk_gib",
                     a->facts.disk_gib, "qemu_version", a->facts.qemu_version, "order_token",
                     a->order_token);
}

int credentials_join(agent *a, cu_error **err)
{
    if (a->order_token[0] == '\0') {
        _cleanup_free_ char *t = cu_token_new("cuord");
        snprintf(a->order_token, sizeof(a->order_token), "%s", t);
    }
    _cleanup_free_ char *url = NULL;
    if (asprintf(&url, "%s/v1/hosts/join", a->cp_url) < 0)
        abort();
    json_t *body = join_body(a), *reply = NULL;
    long status = 0;
    int r = http_client_json("POST", url, a->join_token, body, 15000, &status, &reply, err);
    json_decref(body);
    if (r < 0)
        return cu_error_wrap(err, "joining the control plane");
    if (status != 200 && status != 201) {
        const json_t *e = json_object_get(reply, "error");
        cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                     "the control plane refused to let this host join (HTTP %ld): %s", status,
                     e ? cu_json_str(e, "message") : "no reason given");
        json_decref(reply);
        return -1;
    }
    snprintf(a->host_id, sizeof(a->host_id), "%s",
             cu_json_str(json_object_get(reply, "host"), "id"));
    snprintf(a->agent_token, sizeof(a->agent_token), "%s", cu_json_str(reply, "agent_token"));
    json_decref(reply);
    log_info("joined the control plane at %s as host '%s' (%s)", a->cp_url, a->name, a->host_id);
    return credentials_save(a, err);
}

/* The control plane's URL without a trailing '/'. */
static size_t base_len(const agent *a)
{
    size_t n = strlen(a->cp_url);
    while (n > 0 && a->cp_url[n - 1] == '/')
        n--;
    return n;
}

char *agent_resolve_url(const agent *a, const char *url)
{
    char *out = NULL;
    if (url[0] != '/')
        out = strdup(url);
    else if (asprintf(&out, "%.*s%s", (int)base_len(a), a->cp_url, url) < 0)
        out = NULL;
    if (out == NULL)
        abort();
    return out;
}

int credentials_image_auth(void *opaque, const char *url, char *buf, size_t size)
{
    agent *a = opaque;
    size_t n = base_len(a);
    /* Exactly our control plane: "http://cp:8080/…", not "http://cp:80800/…". */
    if (strncmp(url, a->cp_url, n) != 0 || url[n] != '/')
        return 0;
    pthread_mutex_lock(&a->cred_lock);
    int ok = a->agent_token[0] != '\0';
    if (ok)
        snprintf(buf, size, "Authorization: Bearer %s", a->agent_token);
    pthread_mutex_unlock(&a->cred_lock);
    return ok;
}
