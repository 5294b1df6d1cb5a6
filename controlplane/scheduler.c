/* scheduler.c: see scheduler.h. */
#define _GNU_SOURCE
#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "json_util.h"
#include "store.h"

/* Up hosts with their capacity and what VMs already placed there use. */
#define HOSTS_WITH_USE                                                                             \
    "SELECT h.id, h.name, h.architecture, h.emulated_architectures AS emulated_json, h.vcpus,"     \
    " h.memory_mib, h.disk_gib,"                                                                   \
    " coalesce(sum(v.vcpus), 0) AS used_vcpus, coalesce(sum(v.memory_mib), 0) AS used_memory,"     \
    " coalesce(sum(v.disk_gib), 0) AS used_disk"                                                   \
    " FROM hosts h LEFT JOIN vms v ON v.host_id = h.id AND v.desired_state != 'deleted'"          \
    " WHERE h.state = 'up' GROUP BY h.id ORDER BY h.seq"

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
    if (!runs_arch(h, req->architecture)) {
        fprintf(f, " runs %s and cannot emulate %s", arch, req->architecture);
        return;
    }
    fprintf(f, " has %.0f vCPUs, %.0f MiB and %.0f GiB free", r->vcpus, r->memory, r->disk);
}

int scheduler_place(cp_app *app, const sched_request *req, char **host_id, cu_error **err)
{
    json_t *hosts = store_list(app->store, err, HOSTS_WITH_USE, "");
    if (hosts == NULL)
        return -1;
    if (json_array_size(hosts) == 0) {
        json_decref(hosts);
        return 0;
    }
    const json_t *best = NULL;
    double best_score = -1;
    _cleanup_free_ char *why = NULL;
    size_t whylen = 0;
    FILE *f = open_memstream(&why, &whylen);
    size_t i;
    json_t *h;
    json_array_foreach(hosts, i, h)
    {
        room r = room_left(app, h);
        int arch = runs_arch(h, req->architecture);
        if (!arch || !fits(&r, req)) {
            explain(f, h, &r, req);
            continue;
        }
        /* A host of the image's own architecture beats any emulating one. */
        double score = r.memory / (double)(req->memory_mib ? req->memory_mib : 1) +
                       (arch == 2 ? 1e12 : 0);
        if (score > best_score) {
            best = h;
            best_score = score;
        }
    }
    fclose(f);
    int r = 1;
    if (best) {
        *host_id = strdup(cu_json_str(best, "id"));
    } else {
        r = cu_error_set(err, 409, CU_E_NO_CAPACITY, "size",
                         "no host has room for size '%s' (%lld vCPUs, %lld MiB, %lld GiB, %s)%s",
                         req->size_name, req->vcpus, req->memory_mib, req->disk_gib,
                         req->architecture, why ? why : "");
    }
    json_decref(hosts);
    return r;
}
