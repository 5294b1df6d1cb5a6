/* vm_snapshots.c: see vm_snapshots.h. */
#define _GNU_SOURCE
#include "vm_snapshots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cmd.h"
#include "disk.h"
#include "json_util.h"
#include "log.h"
#include "qmp.h"

#define QMP_TIMEOUT_MS 30000
#define JOB_TIMEOUT_MS (30 * 60 * 1000) /* saving or loading the memory of a big VM */
#define QEMU_IMG_TIMEOUT_S 600
#define DISK_NODE "disk" /* the qcow2 node's name in qemu_argv.c */

static int is_ours(const char *name)
{
    return name && strncmp(name, "snap-", 5) == 0;
}

/* qemu-img snapshot <flag> <tag> <disk> on a disk no QEMU has open. */
static int qemu_img_snapshot(const char *disk, const char *flag, const char *tag, cu_error **err)
{
    _cleanup_free_ char *lit = disk_literal_path(disk);
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new("qemu-img");
    cu_cmd_arg(c, "snapshot");
    cu_cmd_arg(c, flag);
    cu_cmd_arg(c, tag);
    cu_cmd_arg(c, lit);
    cu_cmd_timeout(c, QEMU_IMG_TIMEOUT_S);
    if (cu_cmd_run(c, err) < 0)
        return cu_error_wrap(err, "qemu-img snapshot %s %s", flag, tag);
    return 0;
}

/* [{"name", "vm-state-size", "date-sec"}...] of the disk, or NULL. */
static json_t *read_table(const char *disk, cu_error **err)
{
    _cleanup_free_ char *lit = disk_literal_path(disk);
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new("qemu-img");
    const char *args[] = {"info", "-U", "--output=json", "-f", "qcow2", lit};
    for (size_t i = 0; i < sizeof(args) / sizeof(*args); i++)
        cu_cmd_arg(c, args[i]);
    cu_cmd_timeout(c, 60);
    if (cu_cmd_run(c, err) < 0)
        return NULL;
    json_error_t jerr;
    json_t *info = json_loads(cu_cmd_stdout(c), 0, &jerr);
    if (info == NULL) {
        cu_error_set(err, 500, CU_E_INTERNAL, NULL, "qemu-img info of '%s': %s", disk, jerr.text);
        return NULL;
    }
    json_t *t = json_incref(json_object_get(info, "snapshots"));
    json_decref(info);
    return t ? t : json_array();
}

static const json_t *table_find(const json_t *table, const char *id)
{
    size_t i;
    const json_t *e;
    json_array_foreach(table, i, e) if (strcmp(cu_json_str(e, "name") ?: "", id) == 0) return e;
    return NULL;
}

static json_t *report_of(const json_t *table)
{
    json_t *out = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(table, i, e)
    {
        if (!is_ours(cu_json_str(e, "name")))
            continue;
        time_t t = (time_t)json_integer_value(json_object_get(e, "date-sec"));
        struct tm tm;
        char when[32];
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_array_append_new(out, json_pack("{s:s, s:I, s:s}", "id", cu_json_str(e, "name"),
                                             "vm_state_bytes",
                                             json_integer_value(json_object_get(e, "vm-state-size")),
                                             "taken_at", when));
    }
    return out;
}

void vm_snapshots_refresh(agent *a, vm_record *r)
{
    char disk[PATH_MAX];
    vm_path(a, r->id, "disk.qcow2", disk, sizeof(disk));
    if (access(disk, F_OK) != 0)
        return;
    _cleanup_error_ cu_error *err = NULL;
    json_t *table = read_table(disk, &err);
    if (table == NULL) {
        log_warn("VM %s: cannot read its snapshots: %s", r->id, err->message);
        return;
    }
    json_t *rep = report_of(table);
    json_decref(table);
    pthread_mutex_lock(&r->lock);
    json_decref(r->snapshots);
    r->snapshots = rep;
    pthread_mutex_unlock(&r->lock);
}

/* Waits for a QMP job to conclude, then dismisses it; its error if any. */
static int wait_job(qmp *q, const char *job_id, cu_error **err)
{
    for (long waited = 0; waited < JOB_TIMEOUT_MS; waited += 100) {
        json_t *jobs = qmp_execute(q, "query-jobs", NULL, QMP_TIMEOUT_MS, err);
        if (jobs == NULL)
            return -1;
        size_t i;
        json_t *j;
        const char *status = NULL;
        _cleanup_free_ char *error = NULL;
        json_array_foreach(jobs, i, j)
        {
            if (strcmp(cu_json_str(j, "id") ?: "", job_id) != 0)
                continue;
            status = cu_json_str(j, "status");
            if (cu_json_str(j, "error"))
                error = strdup(cu_json_str(j, "error"));
        }
        int done = status && strcmp(status, "concluded") == 0;
        json_decref(jobs);
        if (status == NULL)
            return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "QEMU lost job '%s'", job_id);
        if (done) {
            json_decref(qmp_execute(q, "job-dismiss", json_pack("{s:s}", "id", job_id),
                                    QMP_TIMEOUT_MS, NULL));
            if (error)
                return cu_error_set(err, 500, "snapshot_failed", NULL, "%s", error);
            return 0;
        }
        usleep(100 * 1000);
    }
    return cu_error_set(err, 504, "snapshot_timeout", NULL, "QEMU job '%s' did not finish",
                        job_id);
}

/* snapshot-save / snapshot-load: the VM's memory and devices with the disk. */
static int memory_job(qmp *q, const char *command, const char *tag, cu_error **err)
{
    char job_id[96];
    snprintf(job_id, sizeof(job_id), "%s-%s", strcmp(command, "snapshot-save") ? "load" : "save",
             tag);
    json_t *args = json_pack("{s:s, s:s, s:s, s:[s]}", "job-id", job_id, "tag", tag, "vmstate",
                             DISK_NODE, "devices", DISK_NODE);
    json_t *ret = qmp_execute(q, command, args, QMP_TIMEOUT_MS, err);
    if (ret == NULL)
        return -1;
    json_decref(ret);
    return wait_job(q, job_id, err);
}

/* Disk only, on a running VM: pause, snapshot, resume. */
static int live_disk_snapshot(qmp *q, const char *tag, cu_error **err)
{
    char status[32] = "";
    if (qmp_query_status(q, status, sizeof(status), QMP_TIMEOUT_MS, err) < 0)
        return -1;
    int was_running = strcmp(status, "running") == 0;
    json_t *ret = NULL;
    if (was_running && (ret = qmp_execute(q, "stop", NULL, QMP_TIMEOUT_MS, err)) == NULL)
        return -1;
    json_decref(ret);
    ret = qmp_execute(q, "blockdev-snapshot-internal-sync",
                      json_pack("{s:s, s:s}", "device", DISK_NODE, "name", tag), QMP_TIMEOUT_MS,
                      err);
    int ok = ret != NULL;
    json_decref(ret);
    if (was_running) {
        _cleanup_error_ cu_error *cerr = NULL;
        json_t *c = qmp_execute(q, "cont", NULL, QMP_TIMEOUT_MS, ok ? err : &cerr);
        if (c == NULL && ok)
            return -1;
        json_decref(c);
    }
    return ok ? 0 : -1;
}

static qmp *open_qmp(agent *a, vm_record *r, cu_error **err)
{
    return vm_proc_qmp(a, r->id, err);
}

static int take(agent *a, vm_record *r, const char *disk, const char *id, int memory,
                cu_error **err)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "taking snapshot %s%s", id, memory ? " with memory" : "");
    log_info("VM %s: %s", r->id, msg);
    if (!vm_proc_alive(&r->rt))
        return qemu_img_snapshot(disk, "-c", id, err);
    qmp *q = open_qmp(a, r, err);
    if (q == NULL)
        return -1;
    int rc = memory ? memory_job(q, "snapshot-save", id, err) : live_disk_snapshot(q, id, err);
    qmp_close(q);
    return rc;
}

static int drop(agent *a, vm_record *r, const char *disk, const char *id, cu_error **err)
{
    log_info("VM %s: deleting snapshot %s", r->id, id);
    if (!vm_proc_alive(&r->rt))
        return qemu_img_snapshot(disk, "-d", id, err);
    qmp *q = open_qmp(a, r, err);
    if (q == NULL)
        return -1;
    json_t *ret = qmp_execute(q, "blockdev-snapshot-delete-internal-sync",
                              json_pack("{s:s, s:s}", "device", DISK_NODE, "name", id),
                              JOB_TIMEOUT_MS, err);
    qmp_close(q);
    json_decref(ret);
    return ret ? 0 : -1;
}

static int restore(agent *a, vm_record *r, const vm_spec *s, const char *disk,
                   const json_t *entry, cu_error **err)
{
    const char *id = s->restore_snapshot;
    int has_memory = json_integer_value(json_object_get(entry, "vm-state-size")) > 0;
    int live = vm_proc_alive(&r->rt) && has_memory && strcmp(s->desired_state, "running") == 0;
    log_info("VM %s: restoring snapshot %s (%s)", r->id, id,
             live ? "memory and disk, live" : "disk");
    if (live) {
        qmp *q = open_qmp(a, r, err);
        if (q == NULL)
            return -1;
        int rc = memory_job(q, "snapshot-load", id, err);
        qmp_close(q);
        return rc;
    }
    if (vm_proc_alive(&r->rt)) {
        vm_record_set(r, "stopping", 50, "stopping the VM to restore its disk");
        vm_runtime rt = r->rt;
        if (vm_proc_stop(a, r->id, &rt, false, 0, err) < 0)
            return -1;
        pthread_mutex_lock(&r->lock);
        r->rt = rt;
        pthread_mutex_unlock(&r->lock);
    }
    return qemu_img_snapshot(disk, "-a", id, err);
}

static int listed(const vm_spec *s, const char *id)
{
    size_t i;
    const json_t *e;
    json_array_foreach(s->snapshots, i, e) if (strcmp(cu_json_str(e, "id"), id) == 0) return 1;
    return 0;
}

static int converge_table(agent *a, vm_record *r, const vm_spec *s, const char *disk,
                          cu_error **err)
{
    json_t *table = read_table(disk, err);
    if (table == NULL)
        return -1;
    int rc = 0;
    size_t i;
    const json_t *e;
    json_array_foreach(s->snapshots, i, e)
    {
        const char *id = cu_json_str(e, "id");
        if (rc == 0 && !table_find(table, id)) {
            vm_record_set(r, r->state, r->progress, "taking a snapshot");
            rc = take(a, r, disk, id, json_is_true(json_object_get(e, "memory")), err);
        }
    }
    if (rc == 0 && s->restore_request && strcmp(s->restore_request, r->rt.restore_done) != 0) {
        json_decref(table);
        if ((table = read_table(disk, err)) == NULL)
            return -1;
        const json_t *entry = table_find(table, s->restore_snapshot);
        if (entry == NULL)
            rc = cu_error_set(err, 404, CU_E_NOT_FOUND, NULL,
                              "snapshot %s is not in the VM's disk", s->restore_snapshot);
        else
            rc = restore(a, r, s, disk, entry, err);
        if (rc == 0) {
            pthread_mutex_lock(&r->lock);
            snprintf(r->rt.restore_done, sizeof(r->rt.restore_done), "%s", s->restore_request);
            pthread_mutex_unlock(&r->lock);
            _cleanup_error_ cu_error *serr = NULL;
            vm_runtime rt = r->rt;
            if (vm_runtime_save(a, r->id, &rt, &serr) < 0)
                log_error("VM %s: %s", r->id, serr->message);
        }
    }
    json_array_foreach(table, i, e)
    {
        const char *name = cu_json_str(e, "name");
        if (rc == 0 && is_ours(name) && !listed(s, name))
            rc = drop(a, r, disk, name, err);
    }
    json_decref(table);
    return rc;
}

int vm_snapshots_converge(agent *a, vm_record *r, const vm_spec *s, cu_error **err)
{
    char disk[PATH_MAX];
    vm_path(a, r->id, "disk.qcow2", disk, sizeof(disk));
    if (access(disk, F_OK) != 0)
        return 0; /* nothing made yet: the first start makes the disk */
    int rc = converge_table(a, r, s, disk, err);
    vm_snapshots_refresh(a, r);
    return rc;
}
