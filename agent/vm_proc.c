/* vm_proc.c: see vm_proc.h. */
#define _GNU_SOURCE
#include "vm_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cmd.h"
#include "firmware.h"
#include "fsutil.h"
#include "json_util.h"
#include "log.h"
#include "qemu_argv.h"
#include "qmp.h"

#define QMP_TIMEOUT_MS 5000

void vm_path(const agent *a, const char *id, const char *file, char *buf, size_t len)
{
    snprintf(buf, len, "%s/vms/%s%s%s", a->data_dir, id, file ? "/" : "", file ? file : "");
}

int vm_runtime_load(const agent *a, const char *id, vm_runtime *rt, cu_error **err)
{
    char path[PATH_MAX];
    vm_path(a, id, "state.json", path, sizeof(path));
    memset(rt, 0, sizeof(*rt));
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (j == NULL)
        return access(path, F_OK) == 0 ? cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                                                      "cannot read '%s': %s", path, jerr.text)
                                       : 0;
    rt->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
    rt->start_time = (unsigned long long)json_integer_value(json_object_get(j, "start_time"));
    rt->ssh_port = (int)json_integer_value(json_object_get(j, "ssh_port"));
    rt->uid = (unsigned)json_integer_value(json_object_get(j, "uid"));
    rt->applied_generation = json_integer_value(json_object_get(j, "applied_generation"));
    rt->ever_started = json_is_true(json_object_get(j, "ever_started"));
    rt->boot_started = json_integer_value(json_object_get(j, "boot_started"));
    const char *last = cu_json_str(j, "last_state");
    snprintf(rt->last_state, sizeof(rt->last_state), "%s", last ? last : "");
    const char *rd = cu_json_str(j, "reboot_done");
    snprintf(rt->reboot_done, sizeof(rt->reboot_done), "%s", rd ? rd : "");
    const char *rs = cu_json_str(j, "restore_done");
    snprintf(rt->restore_done, sizeof(rt->restore_done), "%s", rs ? rs : "");
    json_decref(j);
    return 1;
}

int vm_runtime_save(const agent *a, const char *id, const vm_runtime *rt, cu_error **err)
{
    char path[PATH_MAX];
    vm_path(a, id, "state.json", path, sizeof(path));
    json_t *j =
        json_pack("{s:i, s:I, s:i, s:I, s:I, s:s, s:s, s:b, s:I, s:s}", "pid", (int)rt->pid,
                  "start_time", (json_int_t)rt->start_time, "ssh_port", rt->ssh_port, "uid",
                  (json_int_t)rt->uid, "applied_generation", rt->applied_generation, "reboot_done",
                  rt->reboot_done, "restore_done", rt->restore_done, "ever_started",
                  rt->ever_started, "boot_started", rt->boot_started, "last_state", rt->last_state);
    _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    return cu_write_file_atomic(path, text, strlen(text), 0600, err);
}

unsigned long long vm_proc_start_time(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    /* Fields after the command name, which may hold spaces: start at ") ". */
    char *p = strrchr(buf, ')');
    unsigned long long start = 0;
    for (int field = 2; p && *p; p++) {
        if (*p != ' ')
            continue;
        if (++field == 22) {
            start = strtoull(p + 1, NULL, 10);
            break;
        }
    }
    return start;
}

/* A zombie (state Z) has exited: QEMU daemonizes, so its reaper is init,
 * which may take a while. */
static bool is_zombie(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (f == NULL || fgets(buf, sizeof(buf), f) == NULL)
        return false;
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

bool vm_proc_alive(const vm_runtime *rt)
{
    if (rt->pid <= 0 || (kill(rt->pid, 0) < 0 && errno == ESRCH) || is_zombie(rt->pid))
        return false;
    unsigned long long now = vm_proc_start_time(rt->pid);
    /* Where /proc is missing (macOS) only the pid and QMP can tell. */
    return rt->start_time == 0 || now == 0 || now == rt->start_time;
}

pid_t vm_proc_pid(const agent *a, const char *id)
{
    vm_runtime rt;
    cu_error *err = NULL;
    int loaded = vm_runtime_load(a, id, &rt, &err); /* 1: read, 0: no state.json */
    cu_error_free(err);
    return loaded > 0 && rt.pid > 0 && vm_proc_alive(&rt) ? rt.pid : 0;
}

static int read_pidfile(const char *path, pid_t *pid, cu_error **err)
{
    for (int tries = 0; tries < 50; tries++) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        long v = 0;
        if (f && fscanf(f, "%ld", &v) == 1 && v > 0) {
            *pid = (pid_t)v;
            return 0;
        }
        usleep(100 * 1000);
    }
    return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "QEMU started but wrote no pid to '%s'",
                        path);
}

/* The forwarded port in QEMU's argv: "hostfwd":[{"str":"tcp:ADDR:PORT-:22"}]. */
static int hostfwd_port(const char *arg)
{
    const char *p = strstr(arg, "\"hostfwd\"");
    const char *end = p ? strstr(p, "-:22") : NULL;
    while (end && end > p && end[-1] >= '0' && end[-1] <= '9')
        end--;
    return end && end > p && end[-1] == ':' ? atoi(end) : 0;
}

bool vm_proc_recover(const agent *a, const char *id, vm_runtime *rt)
{
    char pidfile[PATH_MAX], disk[PATH_MAX], path[64];
    vm_path(a, id, "qemu.pid", pidfile, sizeof(pidfile));
    vm_path(a, id, "disk.qcow2", disk, sizeof(disk));
    _cleanup_fclose_ FILE *f = fopen(pidfile, "re");
    long pid = 0;
    if (f == NULL || fscanf(f, "%ld", &pid) != 1 || pid <= 0)
        return false;
    /* The pid may have been reused since: it must be a QEMU of this disk. */
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    enum { ARGV_MAX = 65536 };
    _cleanup_free_ char *argv = malloc(ARGV_MAX);
    ssize_t len = fd < 0 || argv == NULL ? -1 : read(fd, argv, ARGV_MAX - 1);
    if (len <= 0)
        return false;
    argv[len] = '\0';
    bool ours = false;
    int port = 0;
    for (const char *arg = argv; arg < argv + len; arg += strlen(arg) + 1) {
        ours |= strstr(arg, disk) != NULL;
        port = port ? port : hostfwd_port(arg);
    }
    vm_runtime found = {.pid = (pid_t)pid, .start_time = vm_proc_start_time((pid_t)pid)};
    if (!ours || !vm_proc_alive(&found))
        return false;
    rt->pid = found.pid;
    rt->start_time = found.start_time;
    rt->ever_started = true;
    if (port)
        rt->ssh_port = port;
    return true;
}

/* UEFI vars and firmware, or the kernel and initrd paths for direct boot. */
static int boot_files(agent *a, const vm_spec *s, qemu_launch *l, firmware_paths *fw, char *vars,
                      size_t varslen, cu_error **err)
{
    if (strcmp(s->image.boot, "kernel") == 0)
        return 0; /* kernel/initrd are set by the caller from the image cache */
    vm_path(a, s->id, "efivars.fd", vars, varslen);
    if (firmware_find(s->image.architecture, fw, err) < 0 ||
        firmware_prepare_vars(fw->vars_template, vars, err) < 0)
        return -1;
    l->fw_code = fw->code;
    l->fw_vars = vars;
    return 0;
}

int vm_proc_start(agent *a, const vm_spec *s, vm_runtime *rt, cu_error **err)
{
    char run[PATH_MAX], disk[PATH_MAX], seed[PATH_MAX], pidfile[PATH_MAX], vars[PATH_MAX];
    char kernel[PATH_MAX], initrd[PATH_MAX];
    vm_path(a, s->id, NULL, run, sizeof(run));
    vm_path(a, s->id, "disk.qcow2", disk, sizeof(disk));
    vm_path(a, s->id, "seed.iso", seed, sizeof(seed));
    vm_path(a, s->id, "qemu.pid", pidfile, sizeof(pidfile));
    vm_path(a, s->id, "vmlinuz", kernel, sizeof(kernel));
    vm_path(a, s->id, "initrd.img", initrd, sizeof(initrd));
    qemu_launch l = {.vm_id = s->id,
                     .name = s->name,
                     .guest_arch = s->image.architecture,
                     .vcpus = s->vcpus,
                     .memory_mib = s->memory_mib,
                     .run_dir = run,
                     .disk_path = disk,
                     .seed_path = seed,
                     .ssh_port = rt->ssh_port,
                     .ssh_bind = a->ssh_bind,
                     .runas_uid = rt->uid};
    if (strcmp(s->image.boot, "kernel") == 0) {
        l.kernel = kernel;
        l.initrd = access(initrd, F_OK) == 0 ? initrd : NULL; /* an image may have none */
        l.cmdline = s->image.cmdline;
    }
    firmware_paths fw;
    if (boot_files(a, s, &l, &fw, vars, sizeof(vars), err) < 0)
        return -1;
    unlink(pidfile);
    _cleanup_cmd_ cu_cmd *cmd = qemu_command_new(&a->facts, &l, err);
    if (cmd == NULL)
        return -1;
    _cleanup_free_ char *line = cu_cmd_to_string(cmd);
    log_info("starting VM '%s': %s", s->name, line);
    cu_cmd_timeout(cmd, 120);
    if (cu_cmd_run(cmd, err) < 0)
        return cu_error_wrap(err, "QEMU did not start VM '%s'", s->name);
    if (read_pidfile(pidfile, &rt->pid, err) < 0)
        return -1;
    rt->start_time = vm_proc_start_time(rt->pid);
    rt->ever_started = true;
    rt->boot_started = (long long)time(NULL); /* and QEMU truncated guest.log */
    return 0;
}

/* QEMU's monitor takes one client at a time and closes on any other: a
 * short query of the watcher's may hold it, so try again for a while. */
qmp *vm_proc_qmp(const agent *a, const char *id, cu_error **err)
{
    char sock[PATH_MAX];
    vm_path(a, id, "qmp.sock", sock, sizeof(sock));
    for (int attempt = 0;; attempt++) {
        _cleanup_error_ cu_error *e = NULL;
        qmp *q = qmp_connect(sock, QMP_TIMEOUT_MS, &e);
        if (q || attempt >= 50) {
            if (q == NULL && err) {
                *err = e;
                e = NULL;
            }
            return q;
        }
        usleep(100 * 1000);
    }
}

/* Waits for the process to go away; true when it did. */
static bool wait_gone(const vm_runtime *rt, unsigned timeout_ms)
{
    for (unsigned waited = 0; waited <= timeout_ms; waited += 100) {
        if (!vm_proc_alive(rt))
            return true;
        usleep(100 * 1000);
    }
    return !vm_proc_alive(rt);
}

int vm_proc_stop(agent *a, const char *id, vm_runtime *rt, bool graceful, unsigned timeout_s,
                 cu_error **err)
{
    if (!vm_proc_alive(rt)) {
        rt->pid = 0;
        return 0;
    }
    _cleanup_error_ cu_error *qerr = NULL;
    qmp *q = vm_proc_qmp(a, id, &qerr);
    if (q && graceful) {
        json_decref(qmp_execute(q, "system_powerdown", NULL, QMP_TIMEOUT_MS, &qerr));
        if (qmp_wait_event(q, "SHUTDOWN", (int)timeout_s * 1000, &qerr) <= 0)
            log_warn("VM %s did not power off within %u s; pulling the plug", id, timeout_s);
    }
    if (q) {
        json_decref(qmp_execute(q, "quit", NULL, QMP_TIMEOUT_MS, &qerr));
        qmp_close(q);
    }
    if (!wait_gone(rt, 5000)) {
        log_warn("VM %s: QEMU (pid %d) did not quit; killing it", id, (int)rt->pid);
        kill(rt->pid, SIGKILL);
        if (!wait_gone(rt, 5000))
            return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                                "QEMU of VM %s (pid %d) does not die", id, (int)rt->pid);
    }
    rt->pid = 0;
    rt->start_time = 0;
    return 0;
}

int vm_proc_query(agent *a, const char *id, char *buf, size_t len, cu_error **err)
{
    qmp *q = vm_proc_qmp(a, id, err);
    if (q == NULL)
        return -1;
    int r = qmp_query_status(q, buf, len, QMP_TIMEOUT_MS, err);
    qmp_close(q);
    return r;
}
