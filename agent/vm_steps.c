/* vm_steps.c: see vm_steps.h. */
#define _GNU_SOURCE
#include "vm_steps.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "credentials.h"
#include "disk.h"
#include "image_cache.h"
#include "log.h"
#include "seed_iso.h"
#include "vm_export.h"
#include "vm_snapshots.h"

/* Progress: image download 5-60 %, disk 65, seed 70, QEMU 80, running 100. */
static void on_download(void *opaque, long long done, long long total)
{
    vm_record *r = opaque;
    int pct = total > 0 ? (int)(done * 100 / total) : 0;
    char msg[256];
    snprintf(msg, sizeof(msg), "downloading image '%s': %d%% of %lld MiB", r->spec.image.name, pct,
             total >> 20);
    vm_record_set(r, "provisioning", 5 + pct * 55 / 100, msg);
    agent_report_soon(r->agent);
}

static void remove_unbooted_files(agent *a, const vm_record *r)
{
    static const char *const files[] = {"disk.qcow2", "seed.iso",   "efivars.fd",
                                        "vmlinuz",    "initrd.img", NULL};
    char path[PATH_MAX];
    for (const char *const *f = files; *f; f++) {
        vm_path(a, r->id, *f, path, sizeof(path));
        unlink(path);
    }
}

static int file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* An image file (the disk image, or with `what` its kernel or initrd) in
 * the cache; malloc'd path or NULL. */
static char *fetch(agent *a, vm_record *r, const vm_spec *s, const char *what, const char *url,
                   const char *checksum, const char *format, cu_error **err)
{
    _cleanup_free_ char *name = NULL, *abs = agent_resolve_url(a, url);
    if (asprintf(&name, "%s%s%s", s->image.name, what ? " " : "", what ? what : "") < 0)
        abort();
    return image_cache_ensure(a->images, name, abs, checksum, format, what ? NULL : on_download, r,
                              err);
}

/* DATA/vms/<id>/<link> -> the cached file (cache entries never change). */
static int link_into_vm(agent *a, const char *id, const char *link, const char *target,
                        cu_error **err)
{
    char path[PATH_MAX];
    vm_path(a, id, link, path, sizeof(path));
    unlink(path);
    if (symlink(target, path) < 0)
        return cu_error_errno(err, errno, "cannot link '%s' to '%s'", path, target);
    return 0;
}

/* Direct kernel boot: the image's kernel and initrd, each checksummed like
 * the disk image (never boot an unverified kernel). */
static int provision_kernel(agent *a, vm_record *r, const vm_spec *s, cu_error **err)
{
    const vm_image *im = &s->image;
    if (!im->kernel_url || !im->kernel_checksum)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "boot",
                            "image '%s' has no checksummed kernel for direct kernel boot",
                            im->name);
    vm_record_set(r, "provisioning", 62, "fetching the kernel and initrd");
    _cleanup_free_ char *kernel =
        fetch(a, r, s, "kernel", im->kernel_url, im->kernel_checksum, "vmlinuz", err);
    if (kernel == NULL || link_into_vm(a, s->id, "vmlinuz", kernel, err) < 0)
        return -1;
    if (!im->initrd_url)
        return 0;
    if (!im->initrd_checksum)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "boot",
                            "image '%s' has an initrd without a checksum", im->name);
    _cleanup_free_ char *initrd =
        fetch(a, r, s, "initrd", im->initrd_url, im->initrd_checksum, "initrd", err);
    if (initrd == NULL || link_into_vm(a, s->id, "initrd.img", initrd, err) < 0)
        return -1;
    return 0;
}

/* Image, disk, seed (and kernel): everything QEMU needs on disk. */
static int provision(agent *a, vm_record *r, const vm_spec *s, cu_error **err)
{
    char disk[PATH_MAX], seed[PATH_MAX];
    vm_path(a, s->id, "disk.qcow2", disk, sizeof(disk));
    vm_path(a, s->id, "seed.iso", seed, sizeof(seed));
    if (!file_exists(disk)) {
        vm_record_set(r, "provisioning", 5, "fetching the image");
        _cleanup_free_ char *base =
            fetch(a, r, s, NULL, s->image.url, s->image.checksum, s->image.format, err);
        if (base == NULL)
            return -1;
        vm_record_set(r, "provisioning", 65, "creating the disk");
        if (disk_create_overlay(base, s->image.format, disk, s->disk_gib, err) < 0)
            return -1;
    }
    if (strcmp(s->image.boot, "kernel") == 0 && provision_kernel(a, r, s, err) < 0)
        return -1;
    vm_record_set(r, "provisioning", 70, "writing the cloud-init seed");
    return seed_iso_write(seed, s->user_data, s->meta_data, s->network_config, err);
}

static void save_runtime(agent *a, vm_record *r)
{
    _cleanup_error_ cu_error *err = NULL;
    pthread_mutex_lock(&r->lock);
    vm_runtime rt = r->rt;
    pthread_mutex_unlock(&r->lock);
    if (vm_runtime_save(a, r->id, &rt, &err) < 0)
        log_error("VM %s: %s", r->id, err->message);
}

/* Records the VM's new state ("running" | "stopped") with the runtime,
 * and with an order's generation once it is carried out (gen 0: none).
 * Saved on every change, not at shutdown only: after a crash of the host,
 * autostart "last" restarts what was running (canonical/lxd#2469) and
 * leaves stopped what a user or the guest stopped (lxc/incus#3261). */
static void record_state(agent *a, vm_record *r, long long gen, const char *state)
{
    pthread_mutex_lock(&r->lock);
    if (gen > 0)
        r->rt.applied_generation = gen;
    snprintf(r->rt.last_state, sizeof(r->rt.last_state), "%s", state);
    pthread_mutex_unlock(&r->lock);
    save_runtime(a, r);
}

/* Stops QEMU the way the order says (graceful: the ACPI power button,
 * then the plug after stop-timeout; hard: the plug). */
static int stop_qemu(agent *a, vm_record *r, const vm_spec *s, cu_error **err)
{
    vm_runtime rt = r->rt;
    if (vm_proc_stop(a, r->id, &rt, strcmp(s->stop_mode, "hard") != 0, a->stop_timeout_s, err) < 0)
        return -1;
    pthread_mutex_lock(&r->lock);
    r->rt = rt;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static int start_vm(agent *a, vm_record *r, const vm_spec *s, cu_error **err)
{
    if (provision(a, r, s, err) < 0)
        return -1;
    vm_runtime rt;
    pthread_mutex_lock(&r->lock);
    rt = r->rt;
    pthread_mutex_unlock(&r->lock);
    if (rt.ssh_port == 0 && (rt.ssh_port = vm_port_allocate(a, r->id, err)) < 0)
        return -1;
    if (a->vm_uid_min == 0)
        rt.uid = 0;
    else if ((rt.uid < a->vm_uid_min || rt.uid > a->vm_uid_max) &&
             vm_uid_allocate(a, r->id, &rt.uid, err) < 0)
        return -1;
    vm_record_set(r, "starting", 80, "starting QEMU");
    if (vm_proc_start(a, s, &rt, err) < 0)
        return -1;
    pthread_mutex_lock(&r->lock);
    r->rt = rt;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

/* The error code the control plane shows: the precise one where the user
 * can act on it (a wrong checksum, a download that failed, a bad order). */
static const char *failure_code(const cu_error *err, const char *fallback)
{
    static const char *const precise[] = {IMAGE_E_CHECKSUM, IMAGE_E_DOWNLOAD, CU_E_INVALID_FIELD,
                                          CU_E_FORBIDDEN, NULL};
    for (const char *const *c = precise; *c; c++)
        if (err->code && strcmp(err->code, *c) == 0)
            return *c;
    return fallback;
}

static void ensure_running(agent *a, vm_record *r, const vm_spec *s)
{
    _cleanup_error_ cu_error *err = NULL;
    pthread_mutex_lock(&r->lock);
    int held = r->held && s->generation <= r->rt.applied_generation;
    r->held = held;
    pthread_mutex_unlock(&r->lock);
    if (held && !vm_proc_alive(&r->rt)) {
        vm_record_set(r, "stopped", 100, "stopped since the host restarted (autostart)");
        return;
    }
    if (!vm_proc_alive(&r->rt)) {
        if (start_vm(a, r, s, &err) < 0) {
            if (!r->rt.ever_started)
                remove_unbooted_files(a, r);
            vm_record_fail(r, s->generation, failure_code(err, "start_failed"), err->message);
            return;
        }
        vm_record_boot_began(r);
    } else if (s->reboot_request && strcmp(s->reboot_request, r->rt.reboot_done) != 0) {
        /* A reboot is a stop (graceful unless stop_mode is hard) and a new
         * QEMU, not a reset of this one: OVMF under TCG (edk2 2022.11,
         * QEMU 7.2) was seen to hang in DXE after a QMP system_reset,
         * before it set up the display.  A new process also picks up a
         * changed spec (size, seed) and truncates guest.log. */
        int graceful = strcmp(s->stop_mode, "hard") != 0;
        vm_record_set(r, "running", 85, graceful ? "rebooting: powering off" : "rebooting");
        if (stop_qemu(a, r, s, &err) < 0) {
            vm_record_fail(r, s->generation, "reboot_failed", err->message);
            return;
        }
        if (start_vm(a, r, s, &err) < 0) {
            vm_record_fail(r, s->generation, failure_code(err, "reboot_failed"), err->message);
            return;
        }
        vm_record_boot_began(r);
    }
    pthread_mutex_lock(&r->lock);
    if (s->reboot_request)
        snprintf(r->rt.reboot_done, sizeof(r->rt.reboot_done), "%s", s->reboot_request);
    pthread_mutex_unlock(&r->lock);
    record_state(a, r, s->generation, "running");
    vm_record_set(r, "running", 100, "QEMU is running");
}

static void ensure_stopped(agent *a, vm_record *r, const vm_spec *s)
{
    _cleanup_error_ cu_error *err = NULL;
    if (vm_proc_alive(&r->rt)) {
        int graceful = strcmp(s->stop_mode, "hard") != 0;
        vm_record_set(r, "stopping", 50, graceful ? "powering off" : "pulling the plug");
        if (stop_qemu(a, r, s, &err) < 0) {
            vm_record_fail(r, s->generation, "stop_failed", err->message);
            return;
        }
    }
    record_state(a, r, s->generation, "stopped");
    vm_record_set(r, "stopped", 100, "stopped");
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void destroy(agent *a, vm_record *r)
{
    _cleanup_error_ cu_error *err = NULL;
    vm_runtime rt = r->rt;
    if (vm_proc_stop(a, r->id, &rt, false, 0, &err) < 0) {
        vm_record_fail(r, r->spec.generation, "destroy_failed", err->message);
        pthread_mutex_lock(&r->lock);
        r->destroyed = 0; /* keep it visible: the operator must see it */
        pthread_mutex_unlock(&r->lock);
        return;
    }
    char dir[PATH_MAX];
    vm_path(a, r->id, NULL, dir, sizeof(dir));
    /* Only this VM's directory: its disk, seed, sockets and logs. */
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        log_error("VM %s: could not remove '%s' entirely: %s", r->id, dir, strerror(errno));
    log_info("VM %s destroyed", r->id);
}

void vm_steps_converge(agent *a, vm_record *r)
{
    pthread_mutex_lock(&r->lock);
    int destroyed = r->destroyed;
    json_t *snapshot = vm_spec_to_json(&r->spec);
    pthread_mutex_unlock(&r->lock);
    vm_spec s;
    _cleanup_error_ cu_error *err = NULL;
    int ok = vm_spec_from_json(snapshot, &s, &err) == 0;
    json_decref(snapshot);
    if (destroyed) {
        destroy(a, r);
    } else if (ok && vm_snapshots_converge(a, r, &s, &err) < 0) {
        /* The VM is as it was; the order stays unapplied, the error says why. */
        vm_record_error(r, s.generation,
                        err->code && strcmp(err->code, CU_E_NOT_FOUND) == 0 ? CU_E_NOT_FOUND
                                                                            : "snapshot_failed",
                        err->message);
    } else if (ok && vm_export_converge(a, r, &s, &err) < 0) {
        vm_record_error(r, s.generation, "image_failed", err->message);
    } else if (ok && strcmp(s.desired_state, "running") == 0) {
        ensure_running(a, r, &s);
    } else if (ok) {
        ensure_stopped(a, r, &s);
    }
    if (ok)
        vm_spec_clear(&s);
}

/* QEMU is gone at agent start (the host restarted, or QEMU died while the
 * agent was away): start it again?  An order newer than the applied one
 * always wins; this decides only for the order already carried out. */
static int autostarts(const vm_record *r)
{
    const char *policy = r->spec.autostart ? r->spec.autostart : "last";
    if (strcmp(policy, "always") == 0)
        return 1;
    if (strcmp(policy, "never") == 0)
        return 0;
    /* "last"; a state.json from before last_state was kept says nothing:
     * do what the order says. */
    return strcmp(r->rt.last_state, "stopped") != 0;
}

static int read_guest(agent *a, vm_record *r);

void vm_steps_adopt(agent *a, vm_record *r)
{
    vm_snapshots_refresh(a, r);
    _cleanup_error_ cu_error *err = NULL;
    if (!vm_proc_alive(&r->rt) && vm_proc_recover(a, r->id, &r->rt)) {
        log_warn("VM %s: found QEMU pid %d through its pidfile (the agent stopped before "
                 "saving it)",
                 r->id, (int)r->rt.pid);
        save_runtime(a, r);
    }
    if (!vm_proc_alive(&r->rt)) {
        r->rt.pid = 0;
        r->held = !autostarts(r);
        if (r->held && strcmp(r->spec.desired_state, "running") == 0)
            log_info("VM %s: not started again after the host restart (autostart %s, last state "
                     "'%s')",
                     r->id, r->spec.autostart, r->rt.last_state);
        vm_record_set(r, "stopped", 0, "not running");
        /* What its last boot said (a bake's last word must outlive us). */
        pthread_mutex_lock(&r->lock);
        read_guest(a, r);
        pthread_mutex_unlock(&r->lock);
        return;
    }
    char status[32];
    if (vm_proc_query(a, r->id, status, sizeof(status), &err) < 0) {
        /* Alive but not answering: unsure it is ours and sane; stop it rather
         * than risk the same disk used by two QEMUs. */
        log_warn("VM %s: QEMU pid %d does not answer QMP (%s); stopping it", r->id, (int)r->rt.pid,
                 err->message);
        vm_runtime rt = r->rt;
        _cleanup_error_ cu_error *serr = NULL;
        vm_proc_stop(a, r->id, &rt, false, 0, &serr);
        r->rt = rt;
        vm_record_set(r, "stopped", 0, "stopped: QEMU did not answer after the agent restarted");
        return;
    }
    log_info("VM %s: re-adopted QEMU pid %d (%s)", r->id, (int)r->rt.pid, status);
    vm_record_set(r, "running", 100, "QEMU is running");
}

/* Caller holds r->lock; r is running, or its QEMU has just exited (a
 * bake's last word is written just before the guest powers off).  1 if
 * the guest's status changed. */
static int read_guest(agent *a, vm_record *r)
{
    char path[PATH_MAX];
    vm_path(a, r->id, GUEST_CHANNEL_FILE, path, sizeof(path));
    guest_report g;
    long long written = 0, now = (long long)time(NULL);
    guest_channel_read(path, 0, &g, &written);
    int timed_out = 0;
    if (g.status == GUEST_BOOTING) {
        long long waited = now - r->rt.boot_started;
        timed_out = r->rt.boot_started > 0 && waited > (long long)a->boot_timeout_s;
        if (timed_out)
            snprintf(g.message, sizeof(g.message),
                     "no word from cloud-init %lld s after boot (boot-timeout is %u s): the "
                     "guest may still be booting, or its image may lack cloud-init; see "
                     "serial.log",
                     waited, a->boot_timeout_s);
        else
            snprintf(g.message, sizeof(g.message), "booting: waiting for cloud-init (%lld s)",
                     waited > 0 ? waited : 0);
    }
    /* "waiting for cloud-init (N s)" ticks every second: not news. */
    int changed = g.status != r->guest || timed_out != r->boot_timed_out || g.bake != r->guest_bake;
    snprintf(r->guest_message, sizeof(r->guest_message), "%s", g.message);
    r->guest_bake = g.bake;
    snprintf(r->guest_detail, sizeof(r->guest_detail), "%s", g.detail);
    if (!changed)
        return 0;
    r->guest = g.status;
    r->boot_timed_out = timed_out;
    r->boot_seconds = g.status != GUEST_BOOTING && r->rt.boot_started > 0 && written > 0
                          ? written - r->rt.boot_started
                          : -1;
    return 1;
}

int vm_steps_check_alive(agent *a, vm_record *r)
{
    pthread_mutex_lock(&r->lock);
    int check = !r->worker && !r->destroyed && strcmp(r->state, "running") == 0;
    int dead = check && !vm_proc_alive(&r->rt);
    if (dead)
        r->rt.pid = 0;
    int changed = check ? read_guest(a, r) : 0;
    guest_status g = r->guest;
    char message[sizeof(r->guest_message)];
    snprintf(message, sizeof(message), "%s", r->guest_message);
    pthread_mutex_unlock(&r->lock);
    if (changed)
        log_info("VM %s: guest %s: %s", r->id, guest_status_name(g), message);
    if (!dead)
        return changed;
    vm_record_set(r, "stopped", 100,
                  "QEMU exited: the guest powered off or crashed (see serial.log)");
    record_state(a, r, 0, "stopped");
    return 1;
}
