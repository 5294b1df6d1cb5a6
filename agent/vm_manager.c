/* vm_manager.c: see vm_manager.h.  The steps themselves are in vm_steps.c. */
#define _GNU_SOURCE
#include "vm_manager.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "json_util.h"
#include "log.h"
#include "vm_record.h"
#include "vm_steps.h"

struct vm_table {
    pthread_mutex_t lock;
    vm_record **recs;
    size_t n, cap;
};

static vm_record *find(struct vm_table *t, const char *id)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->recs[i]->id, id) == 0)
            return t->recs[i];
    return NULL;
}

static vm_record *add(struct vm_table *t, const char *id)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->recs = realloc(t->recs, t->cap * sizeof(*t->recs));
        if (t->recs == NULL)
            abort();
    }
    vm_record *r = vm_record_new(id);
    t->recs[t->n++] = r;
    return r;
}

static void drop(struct vm_table *t, vm_record *r)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->recs[i] == r) {
            t->recs[i] = t->recs[--t->n];
            return;
        }
    }
}

/* Worker: converge until no newer order arrived meanwhile. */
static void *worker_main(void *arg)
{
    vm_record *r = arg;
    agent *a = r->agent;
    for (;;) {
        pthread_mutex_lock(&r->lock);
        if (!r->dirty) {
            r->worker = 0;
            int gone = r->destroyed;
            pthread_mutex_unlock(&r->lock);
            if (gone) {
                pthread_mutex_lock(&a->vms->lock);
                drop(a->vms, r);
                pthread_mutex_unlock(&a->vms->lock);
                vm_record_free(r);
            }
            agent_report_soon(a);
            return NULL;
        }
        r->dirty = 0;
        pthread_mutex_unlock(&r->lock);
        vm_steps_converge(a, r);
        agent_report_soon(a);
    }
}

/* Marks the record as needing work and starts its worker if idle. */
static void poke(vm_record *r)
{
    pthread_mutex_lock(&r->lock);
    r->dirty = 1;
    int start = !r->worker;
    r->worker = 1;
    pthread_mutex_unlock(&r->lock);
    if (!start)
        return;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, worker_main, r) != 0) {
        log_error("VM %s: cannot start a worker thread", r->id);
        pthread_mutex_lock(&r->lock);
        r->worker = 0;
        pthread_mutex_unlock(&r->lock);
    }
    pthread_attr_destroy(&attr);
}

static int load_one(agent *a, const char *id, cu_error **err)
{
    char path[PATH_MAX];
    vm_path(a, id, "spec.json", path, sizeof(path));
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (j == NULL) {
        log_warn("VM directory '%s' has no readable spec.json (%s); leaving it alone", id,
                 jerr.text);
        return 0;
    }
    vm_record *r = add(a->vms, id);
    r->agent = a;
    int rc = vm_spec_from_json(j, &r->spec, err);
    json_decref(j);
    if (rc < 0 || vm_runtime_load(a, id, &r->rt, err) < 0)
        return cu_error_wrap(err, "loading VM '%s'", id);
    vm_steps_adopt(a, r);
    return 0;
}

int vm_table_open(agent *a, cu_error **err)
{
    a->vms = calloc(1, sizeof(*a->vms));
    pthread_mutex_init(&a->vms->lock, NULL);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/vms", a->data_dir);
    if (cu_mkdir_p(dir, 0700, err) < 0)
        return -1;
    DIR *d = opendir(dir);
    if (d == NULL)
        return cu_error_errno(err, errno, "cannot list '%s'", dir);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "vm-", 3) == 0)
            rc = load_one(a, e->d_name, err);
    closedir(d);
    if (rc < 0)
        return -1;
    log_info("%zu VM(s) on this host", a->vms->n);
    for (size_t i = 0; i < a->vms->n; i++)
        poke(a->vms->recs[i]);
    return 0;
}

void vm_table_close(agent *a)
{
    if (a->vms == NULL)
        return;
    /* Workers may still run: the process is exiting; QEMU lives on. */
    a->vms = NULL;
}

/* Tombstones: DATA/deleted/<id>, written when a DELETE order arrives.  A
 * PUT for a VM deleted here is refused, so an order delayed in transit
 * (or a control plane restored from an old backup) never brings a
 * destroyed VM back.  VM ids are random, so they are never reused. */
static int tombstone_path(agent *a, const char *id, char *buf, size_t size, cu_error **err)
{
    if (vm_id_check("id", id, err) < 0)
        return -1;
    snprintf(buf, size, "%s/deleted/%s", a->data_dir, id);
    return 0;
}

static int tombstoned(agent *a, const char *id)
{
    char path[PATH_MAX];
    return tombstone_path(a, id, path, sizeof(path), NULL) == 0 && access(path, F_OK) == 0;
}

static int tombstone_write(agent *a, const char *id, cu_error **err)
{
    char dir[PATH_MAX], path[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/deleted", a->data_dir);
    if (tombstone_path(a, id, path, sizeof(path), err) < 0 || cu_mkdir_p(dir, 0700, err) < 0)
        return -1;
    return cu_write_file_atomic(path, "", 0, 0600, err);
}

static int save_spec(agent *a, const vm_spec *s, cu_error **err)
{
    char dir[PATH_MAX], path[PATH_MAX];
    vm_path(a, s->id, NULL, dir, sizeof(dir));
    vm_path(a, s->id, "spec.json", path, sizeof(path));
    if (cu_mkdir_p(dir, 0700, err) < 0)
        return -1;
    json_t *j = vm_spec_to_json(s);
    _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    return cu_write_file_atomic(path, text, strlen(text), 0600, err);
}

int vm_accept(agent *a, vm_spec *spec, cu_error **err)
{
    if (tombstoned(a, spec->id)) {
        cu_error_set(err, 410, "vm_deleted", NULL,
                     "VM %s was deleted on this host; its orders are not carried out again",
                     spec->id);
        vm_spec_clear(spec);
        return -1;
    }
    pthread_mutex_lock(&a->vms->lock);
    vm_record *r = find(a->vms, spec->id);
    if (r && r->destroyed) {
        pthread_mutex_unlock(&a->vms->lock);
        vm_spec_clear(spec);
        return cu_error_set(err, 409, CU_E_CONFLICT, NULL, "VM %s is being destroyed", spec->id);
    }
    if (r && spec->generation <= r->spec.generation) {
        pthread_mutex_unlock(&a->vms->lock);
        vm_spec_clear(spec); /* the same order again, or an old one: nothing to do */
        return 0;
    }
    if (save_spec(a, spec, err) < 0) {
        pthread_mutex_unlock(&a->vms->lock);
        vm_spec_clear(spec);
        return -1;
    }
    if (r == NULL) {
        r = add(a->vms, spec->id);
        r->agent = a;
    }
    pthread_mutex_lock(&r->lock);
    vm_spec_clear(&r->spec);
    r->spec = *spec;
    memset(spec, 0, sizeof(*spec));
    r->error_code[0] = r->error_message[0] = '\0';
    r->error_generation = 0;
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_unlock(&a->vms->lock);
    log_info("VM %s: accepted generation %lld (%s)", r->id, r->spec.generation,
             r->spec.desired_state);
    poke(r);
    return 0;
}

int vm_destroy(agent *a, const char *id, int *found, cu_error **err)
{
    if (tombstone_write(a, id, err) < 0)
        return -1;
    pthread_mutex_lock(&a->vms->lock);
    vm_record *r = find(a->vms, id);
    *found = r != NULL;
    if (r) {
        pthread_mutex_lock(&r->lock);
        r->destroyed = 1;
        pthread_mutex_unlock(&r->lock);
    }
    pthread_mutex_unlock(&a->vms->lock);
    if (r) {
        log_info("VM %s: destroy ordered", id);
        poke(r);
    }
    return 0;
}

json_t *vm_status_all(agent *a)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&a->vms->lock);
    for (size_t i = 0; i < a->vms->n; i++)
        json_array_append_new(arr, vm_record_status(a->vms->recs[i]));
    pthread_mutex_unlock(&a->vms->lock);
    return arr;
}

json_t *vm_status_one(agent *a, const char *id)
{
    pthread_mutex_lock(&a->vms->lock);
    vm_record *r = find(a->vms, id);
    json_t *s = r ? vm_record_status(r) : NULL;
    pthread_mutex_unlock(&a->vms->lock);
    return s;
}

void vm_usage(agent *a, long long *vcpus, long long *memory_mib)
{
    *vcpus = *memory_mib = 0;
    pthread_mutex_lock(&a->vms->lock);
    for (size_t i = 0; i < a->vms->n; i++) {
        vm_record *r = a->vms->recs[i];
        pthread_mutex_lock(&r->lock);
        *vcpus += r->spec.vcpus;
        *memory_mib += r->spec.memory_mib;
        pthread_mutex_unlock(&r->lock);
    }
    pthread_mutex_unlock(&a->vms->lock);
}

/* The number of VMs whose reported status changed. */
static int vm_table_monitor(agent *a)
{
    int changed = 0;
    pthread_mutex_lock(&a->vms->lock);
    for (size_t i = 0; i < a->vms->n; i++)
        changed += vm_steps_check_alive(a, a->vms->recs[i]);
    pthread_mutex_unlock(&a->vms->lock);
    return changed;
}

static void watch(void *arg)
{
    agent *a = arg;
    if (vm_table_monitor(a) > 0)
        agent_report_soon(a);
}

int vm_table_watch_start(agent *a, cu_error **err)
{
    if (cu_loop_start(&a->watcher, watch, a, 1000, err) < 0)
        return cu_error_wrap(err, "starting the VM watcher");
    return 0;
}

void vm_table_watch_stop(agent *a)
{
    cu_loop_stop(&a->watcher);
}

/* Can we listen on addr:port right now? (QEMU will bind it next.) */
static int port_free(const char *addr, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

int vm_uid_allocate(agent *a, const char *vm_id, unsigned *uid, cu_error **err)
{
    static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;
    unsigned span = a->vm_uid_max - a->vm_uid_min + 1, start = 2166136261u; /* FNV-1a */
    for (const char *p = vm_id; *p; p++)
        start = (start ^ (unsigned char)*p) * 16777619u;
    unsigned found = 0;
    pthread_mutex_lock(&alloc_lock);
    pthread_mutex_lock(&a->vms->lock);
    for (unsigned k = 0; k < span && found == 0; k++) {
        unsigned candidate = a->vm_uid_min + (start + k) % span;
        bool taken = false;
        for (size_t i = 0; i < a->vms->n && !taken; i++)
            taken = a->vms->recs[i]->rt.uid == candidate && strcmp(a->vms->recs[i]->id, vm_id) != 0;
        if (!taken)
            found = candidate;
    }
    vm_record *r = found ? find(a->vms, vm_id) : NULL;
    if (r) /* reserve it at once so a concurrent allocation skips it */
        r->rt.uid = found;
    pthread_mutex_unlock(&a->vms->lock);
    pthread_mutex_unlock(&alloc_lock);
    if (found == 0)
        return cu_error_set(err, 503, "no_uid", NULL,
                            "no free uid in %u-%u for the VM's QEMU (vm-uid-range)", a->vm_uid_min,
                            a->vm_uid_max);
    *uid = found;
    return 0;
}

int vm_port_allocate(agent *a, const char *vm_id, cu_error **err)
{
    static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&alloc_lock);
    int found = -1;
    for (int p = a->port_min; p <= a->port_max && found < 0; p++) {
        int taken = 0;
        pthread_mutex_lock(&a->vms->lock);
        for (size_t i = 0; i < a->vms->n && !taken; i++)
            taken = a->vms->recs[i]->rt.ssh_port == p;
        pthread_mutex_unlock(&a->vms->lock);
        if (!taken && port_free(a->ssh_bind, p))
            found = p;
    }
    if (found > 0) {
        /* Reserve it at once so a concurrent allocation skips it. */
        pthread_mutex_lock(&a->vms->lock);
        vm_record *r = find(a->vms, vm_id);
        if (r)
            r->rt.ssh_port = found;
        pthread_mutex_unlock(&a->vms->lock);
    }
    pthread_mutex_unlock(&alloc_lock);
    if (found < 0)
        return cu_error_set(err, 503, "no_port", NULL,
                            "no free host port in %d-%d for the VM's SSH forward", a->port_min,
                            a->port_max);
    return found;
}
