/* scheduler.c: see scheduler.h. */
#define _GNU_SOURCE
#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "json_util.h"
#include "store.h"

/* Up hosts with their capacity and what the VMs placed there use (kept
 * up to date by triggers: schema.c, migration 6). */
#define HOSTS_WITH_USE                                                                             \
    "SELECT id, name, architecture, emulated_architectures AS emulated_json, vcpus, memory_mib,"   \
    " disk_gib, drained, used_vcpus, used_memory_mib AS used_memory, used_disk_gib AS used_disk"   \
    " FROM hosts WHERE state = 'up' AND (?1 IS NULL OR id = ?1 OR name = ?1) ORDER BY seq"

typedef struct room {
    double vcpus, memory, disk;
} room;

static room room_left(const cp_app *app, const json_t *h)
{
#define I(k) ((double)json_integer_value(json_object_get(h, k)))
    room r = {I("vcpus") * app->cpu_ratio - I("used_vcpus"),
              I("memory_mib") * app->memory_ratio - I("used_memory"),
              I("disk_gib") * app->disk_ratio - I("used_disk")};
#undef I
    return r;
}

static int fits(const room *r, const sched_request *req)
{
    return r->vcpus >= (double)req->vcpus && r->memory >= (double)req->memory_mib &&
           r->disk >= (double)req->disk_gib;
}

/* 2: the host's own architecture; 1: under emulation; 0: not at all. */
static int runs_arch(const json_t *h, const char *arch)
{
    if (strcmp(cu_json_str(h, "architecture"), arch) == 0)
        return 2;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(h, "emulated"), i, a)
    {
        if (json_is_string(a) && strcmp(json_string_value(a), arch) == 0)
            return 1;
    }
    return 0;
}

/* One sentence per host saying why it was passed over. */
static void explain(FILE *f, const json_t *h, const room *r, const sched_request *req)
{
    const char *arch = cu_json_str(h, "architecture");
    fprintf(f, "; host '%s'", cu_json_str(h, "name"));
    if (json_integer_value(json_object_get(h, "drained"))) {
        fprintf(f, " is drained");
        return;
    }
    if (!runs_arch(h, req->architecture)) {
        fprintf(f, " runs %s and cannot emulate %s", arch, req->architecture);
        return;
    }
    fprintf(f, " has %.0f vCPUs, %.0f MiB and %.0f GiB free", r->vcpus, r->memory, r->disk);
}

/* No host to consider at all: none up, or the pinned one unknown or down. */
static int no_host(cp_app *app, const sched_request *req, cu_error **err)
{
    if (req->pin == NULL)
        return cu_error_set(err, 409, CU_E_NO_CAPACITY, NULL,
                            "no host is up to run the VM: start an agent (cumulus-agent) that "
                            "joins this control plane");
    json_t *h = NULL;
    int r = store_get(app->store, &h, err, "SELECT name, state FROM hosts WHERE id = ?1 OR name = ?1",
                      "s", req->pin);
    if (r == 1)
        cu_error_set(err, 409, CU_E_NO_CAPACITY, "host",
                     "host '%s' is %s: a VM pinned to it cannot be placed now",
                     cu_json_str(h, "name"), cu_json_str(h, "state"));
    else if (r == 0)
        cu_error_set(err, 400, CU_E_INVALID_FIELD, "host", "no host '%s' (see GET /v1/hosts)",
                     req->pin);
    json_decref(h);
    return -1;
}

/* The best host in one query, scored as the loop below scores (native
 * architecture first, then the memory left: most for spread, least for
 * pack, the older host on a tie), without turning every host into JSON:
 * that is most of a decision's cost with a thousand hosts (bench/).  NULL
 * when none fits; the loop then says why of each host. */
#define BEST_HOST                                                                                  \
    "SELECT id FROM (SELECT id, seq,"                                                              \
    "  vcpus * CAST(?2 AS REAL) - used_vcpus AS fv,"                                               \
    "  memory_mib * CAST(?3 AS REAL) - used_memory_mib AS fm,"                                     \
    "  disk_gib * CAST(?4 AS REAL) - used_disk_gib AS fd,"                                         \
    "  CASE WHEN architecture = ?5 THEN 2"                                                         \
    "   WHEN instr(emulated_architectures, '\"' || ?5 || '\"') > 0 THEN 1 ELSE 0 END AS arch"       \
    "  FROM hosts WHERE state = 'up' AND drained = 0 AND (?1 IS NULL OR id = ?1 OR name = ?1))"    \
    " WHERE arch > 0 AND fv >= ?6 AND fm >= ?7 AND fd >= ?8"                                       \
    " ORDER BY arch DESC, CASE WHEN ?9 THEN -fm ELSE fm END DESC, seq LIMIT 1"

static char *best_host(cp_app *app, const sched_request *req, cu_error **err)
{
    char cpu[32], mem[32], disk[32];
    snprintf(cpu, sizeof(cpu), "%.17g", app->cpu_ratio);
    snprintf(mem, sizeof(mem), "%.17g", app->memory_ratio);
    snprintf(disk, sizeof(disk), "%.17g", app->disk_ratio);
    json_t *row = NULL;
    if (store_get(app->store, &row, err, BEST_HOST, "sssssiiii", req->pin, cpu, mem, disk,
                  req->architecture, req->vcpus, req->memory_mib, req->disk_gib,
                  (long long)app->placement_pack) != 1)
        return NULL;
    char *id = strdup(cu_json_str(row, "id"));
    json_decref(row);
    return id;
}

int scheduler_place(cp_app *app, const sched_request *req, char **host_id, cu_error **err)
{
    if ((*host_id = best_host(app, req, err)) != NULL)
        return 0;
    if (*err)
        return -1;
    json_t *hosts = store_list(app->store, err, HOSTS_WITH_USE, "s", req->pin);
    if (hosts == NULL)
        return -1;
    if (json_array_size(hosts) == 0) {
        json_decref(hosts);
        return no_host(app, req, err);
    }
    const json_t *best = NULL;
    double best_score = 0;
    _cleanup_free_ char *why = NULL;
    size_t whylen = 0;
    FILE *f = open_memstream(&why, &whylen);
    size_t i;
    json_t *h;
    json_array_foreach(hosts, i, h)
    {
        room r = room_left(app, h);
        int arch = runs_arch(h, req->architecture);
        if (json_integer_value(json_object_get(h, "drained")) || !arch || !fits(&r, req)) {
            explain(f, h, &r, req);
            continue;
        }
        /* Memory is what runs out first on a VPS host; a host of the image's
         * own architecture beats any emulating one. */
        double left = r.memory / (double)(req->memory_mib ? req->memory_mib : 1);
        double score = (app->placement_pack ? 1e9 - left : left) + (arch == 2 ? 1e12 : 0);
        if (best == NULL || score > best_score) {
            best = h;
            best_score = score;
        }
    }
    fclose(f);
    int r = 0;
    if (best) {
        *host_id = strdup(cu_json_str(best, "id"));
    } else {
        r = cu_error_set(err, 409, CU_E_NO_CAPACITY, req->pin ? "host" : "size",
                         "no host has room for size '%s' (%lld vCPUs, %lld MiB, %lld GiB, %s)%s",
                         req->size_name, req->vcpus, req->memory_mib, req->disk_gib,
                         req->architecture, why ? why : "");
    }
    json_decref(hosts);
    return r;
}
