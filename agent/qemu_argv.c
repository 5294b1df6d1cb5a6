/* qemu_argv.c: see qemu_argv.h.  Owns the shape of every QEMU command line
 * the agent runs; it must not touch the file system or probe anything (the
 * caller passes host_facts and prepared paths), so golden tests can pin
 * its output byte for byte.
 *
 * Choices, each tried with QEMU 7.2 (Debian 12), x86_64 and aarch64 guests:
 *  - -nodefaults -no-user-config: only the devices listed here;
 *  - same-arch guest + KVM/HVF: -accel kvm|hvf -cpu host; else TCG with
 *    -cpu max (aarch64 adds pauth-impdef=on: QEMU's own pointer-auth
 *    algorithm, far cheaper to emulate than QARMA);
 *  - x86_64: -machine q35; aarch64: -machine virt,gic-version=max (GICv3
 *    under TCG/HVF and the host's best under KVM: GICv2 caps a VM at 8
 *    vCPUs); UEFI code and vars as raw blockdevs on pflash0/pflash1;
 *  - disks as virtio-blk; the cidata seed read-only, without bootindex;
 *  - user networking with hostfwd (JSON: 7.2 wants hostfwd as a list of
 *    {"str": ...}); the NIC's option ROM is off, so OVMF never tries PXE;
 *  - VNC on a unix socket beside -display none (VNC is its own display
 *    backend); VGA (x86) or ramfb (arm) plus a USB tablet for an
 *    absolute pointer, and a USB keyboard on virt, which has no PS/2;
 *  - QMP, the serial console and the guest channel (a virtio-serial
 *    port) on chardevs in the run directory. */
#define _GNU_SOURCE
#include "qemu_argv.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "guest_channel.h"

#define MEMORY_MIN_MIB 64LL
#define MEMORY_MAX_MIB (4LL << 20) /* 4 TiB */
#define SUN_PATH_MAX 104           /* sockaddr_un.sun_path on macOS (108 on Linux) */

typedef enum { ACCEL_TCG, ACCEL_KVM, ACCEL_HVF } accel_kind;

static bool is_x86(const qemu_launch *vm)
{
    return strcmp(vm->guest_arch, "x86_64") == 0;
}

/* Hardware acceleration only for a guest of the host's own architecture. */
static accel_kind pick_accel(const host_facts *host, const qemu_launch *vm)
{
    if (strcmp(host->arch, vm->guest_arch) != 0)
        return ACCEL_TCG;
    if (host->kvm)
        return ACCEL_KVM;
    if (host->hvf)
        return ACCEL_HVF;
    return ACCEL_TCG;
}

/* ---- validation ---------------------------------------------------- */

static bool has_control_char(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Paths come from the agent itself: a bad one is our bug (500).  A value
 * with control characters is not echoed (it would forge log lines). */
static int check_path(const char *what, const char *p, bool required, cu_error **err)
{
    if (p == NULL)
        return required ? cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                                       "QEMU launch: no %s path given", what)
                        : 0;
    if (has_control_char(p))
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "QEMU launch: the %s path has control characters", what);
    if (p[0] != '/')
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "QEMU launch: the %s path '%s' is not absolute", what, p);
    return 0;
}

static int check_text(const char *field, const char *v, cu_error **err)
{
    if (v == NULL || v[0] == '\0' || has_control_char(v))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, field,
                            "%s must be non-empty text without control characters", field);
    return 0;
}

static int check_size(const qemu_launch *vm, cu_error **err)
{
    /* x86 APIC ids stop at 254 without an IOMMU doing interrupt remapping. */
    int max_vcpus = is_x86(vm) ? 255 : 256;
    if (vm->vcpus < 1 || vm->vcpus > max_vcpus)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "vcpus",
                            "vcpus %d is out of range for %s: 1 to %d", vm->vcpus, vm->guest_arch,
                            max_vcpus);
    if (vm->memory_mib < MEMORY_MIN_MIB || vm->memory_mib > MEMORY_MAX_MIB)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "memory_mib",
                            "memory_mib %lld is out of range: %lld to %lld", vm->memory_mib,
                            MEMORY_MIN_MIB, MEMORY_MAX_MIB);
    return 0;
}

/* UEFI (code + vars) or direct kernel boot, exactly one of them. */
static int check_boot(const qemu_launch *vm, cu_error **err)
{
    bool uefi = vm->fw_code || vm->fw_vars, kernel = vm->kernel || vm->initrd || vm->cmdline;
    if (uefi == kernel)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "QEMU launch of VM '%s': give UEFI firmware or a kernel, exactly "
                            "one of them",
                            vm->name);
    if (uefi) {
        if (check_path("UEFI code", vm->fw_code, true, err) < 0 ||
            check_path("UEFI variables", vm->fw_vars, true, err) < 0)
            return -1;
        return 0;
    }
    if (check_path("kernel", vm->kernel, true, err) < 0 ||
        check_path("initrd", vm->initrd, false, err) < 0)
        return -1;
    if (vm->cmdline && has_control_char(vm->cmdline))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "image.cmdline",
                            "image.cmdline must be one line without control characters");
    return 0;
}

static int check_network(const qemu_launch *vm, cu_error **err)
{
    struct in_addr a;
    if (vm->ssh_port < 0 || vm->ssh_port > 65535)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "SSH port %d is not a TCP port",
                            vm->ssh_port);
    /* slirp's hostfwd is IPv4 in 7.2, and ':' or '-' would split the rule. */
    if (vm->ssh_bind && inet_pton(AF_INET, vm->ssh_bind, &a) != 1)
        return cu_error_set(err, 500, CU_E_CONFIG, NULL,
                            "SSH bind address '%s' is not an IPv4 address", vm->ssh_bind);
    return 0;
}

static int check_launch(const qemu_launch *vm, cu_error **err)
{
    if (host_qemu_binary(vm->guest_arch) == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "image.architecture",
                            "architecture '%s' is not supported: expected 'x86_64' or 'aarch64'",
                            vm->guest_arch ? vm->guest_arch : "(none)");
    if (check_text("id", vm->vm_id, err) < 0 || check_text("name", vm->name, err) < 0 ||
        check_size(vm, err) < 0 || check_path("run directory", vm->run_dir, true, err) < 0 ||
        check_path("disk", vm->disk_path, true, err) < 0 ||
        check_path("seed", vm->seed_path, false, err) < 0 || check_boot(vm, err) < 0 ||
        check_network(vm, err) < 0)
        return -1;
    if (strlen(vm->run_dir) + sizeof("/qmp.sock") > SUN_PATH_MAX)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "run directory '%s' is too long for a unix socket path (%d bytes "
                            "at most)",
                            vm->run_dir, SUN_PATH_MAX - (int)sizeof("/qmp.sock"));
    return 0;
}

/* ---- argv helpers -------------------------------------------------- */

static void arg2(cu_cmd *c, const char *opt, const char *value)
{
    cu_cmd_arg(c, opt);
    cu_cmd_arg(c, value);
}

/* OPT followed by the object as compact JSON; takes the reference. */
static void arg_json(cu_cmd *c, const char *opt, json_t *obj)
{
    if (obj == NULL)
        abort(); /* json_pack fails only on a bad format or OOM */
    _cleanup_free_ char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text == NULL)
        abort();
    arg2(c, opt, text);
}

/* A value for QemuOpts ("k=v,k=v"): a comma is written as two. */
static char *opts_escape(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(2 * n + 1), *p = out;
    if (out == NULL)
        abort();
    for (; *s; s++) {
        *p++ = *s;
        if (*s == ',')
            *p++ = ',';
    }
    *p = '\0';
    return out;
}

/* A raw image as two nodes, NAME-file (protocol) and NAME (format). */
static void add_raw_blockdev(cu_cmd *c, const char *name, const char *path, bool read_only)
{
    char file_node[32];
    snprintf(file_node, sizeof(file_node), "%s-file", name);
    arg_json(c, "-blockdev",
             json_pack("{s:s, s:s, s:s, s:b}", "driver", "file", "filename", path, "node-name",
                       file_node, "read-only", read_only));
    arg_json(c, "-blockdev",
             json_pack("{s:s, s:s, s:s, s:b}", "driver", "raw", "file", file_node, "node-name",
                       name, "read-only", read_only));
}

/* ---- sections of the command line ---------------------------------- */

static void add_identity(cu_cmd *c, const host_facts *host, const qemu_launch *vm)
{
    _cleanup_free_ char *name = opts_escape(vm->name);
    /* Thread names (visible in top -H) need Linux's pthread_setname_np. */
    bool linux_host = strcmp(host->os, "linux") == 0;
    cu_cmd_arg(c, "-name");
    cu_cmd_argf(c, "guest=%s%s", name, linux_host ? ",debug-threads=on" : "");
    cu_cmd_arg(c, "-nodefaults");
    cu_cmd_arg(c, "-no-user-config");
    if (host->seccomp)
        arg2(c, "-sandbox", QEMU_SANDBOX_OPTS);
    if (vm->runas_uid) {
        cu_cmd_arg(c, "-runas");
        cu_cmd_argf(c, "%u:%u", vm->runas_uid, vm->runas_uid);
    }
}

static void add_machine(cu_cmd *c, const host_facts *host, const qemu_launch *vm)
{
    accel_kind accel = pick_accel(host, vm);
    const char *pflash = vm->fw_code ? ",pflash0=fw-code,pflash1=fw-vars" : "";
    arg2(c, "-accel", accel == ACCEL_KVM ? "kvm" : accel == ACCEL_HVF ? "hvf" : "tcg");
    cu_cmd_arg(c, "-machine");
    cu_cmd_argf(c, "%s%s", is_x86(vm) ? "q35" : "virt,gic-version=max", pflash);
    arg2(c, "-cpu", accel != ACCEL_TCG ? "host" : is_x86(vm) ? "max" : "max,pauth-impdef=on");
    cu_cmd_arg(c, "-smp");
    cu_cmd_argf(c, "%d", vm->vcpus);
    cu_cmd_arg(c, "-m");
    cu_cmd_argf(c, "%lldM", vm->memory_mib);
}

static void add_boot(cu_cmd *c, const qemu_launch *vm)
{
    if (vm->fw_code) {
        add_raw_blockdev(c, "fw-code", vm->fw_code, true);
        add_raw_blockdev(c, "fw-vars", vm->fw_vars, false);
        return;
    }
    arg2(c, "-kernel", vm->kernel);
    if (vm->initrd)
        arg2(c, "-initrd", vm->initrd);
    if (vm->cmdline)
        arg2(c, "-append", vm->cmdline);
}

static void add_disks(cu_cmd *c, const qemu_launch *vm)
{
    /* discard=unmap: a guest's fstrim gives space back to the host. */
    arg_json(c, "-blockdev",
             json_pack("{s:s, s:s, s:s, s:s}", "driver", "file", "filename", vm->disk_path,
                       "node-name", "disk-file", "discard", "unmap"));
    arg_json(c, "-blockdev",
             json_pack("{s:s, s:s, s:s, s:s}", "driver", "qcow2", "file", "disk-file", "node-name",
                       "disk", "discard", "unmap"));
    arg_json(c, "-device",
             json_pack("{s:s, s:s, s:s, s:i}", "driver", "virtio-blk-pci", "drive", "disk", "id",
                       "disk0", "bootindex", 1));
    if (vm->seed_path == NULL)
        return;
    add_raw_blockdev(c, "seed", vm->seed_path, true);
    arg_json(
        c, "-device",
        json_pack("{s:s, s:s, s:s}", "driver", "virtio-blk-pci", "drive", "seed", "id", "seed0"));
}

static void add_network(cu_cmd *c, const qemu_launch *vm)
{
    json_t *netdev = json_pack("{s:s, s:s}", "type", "user", "id", "net0");
    if (vm->ssh_port > 0) {
        char rule[64];
        snprintf(rule, sizeof(rule), "tcp:%s:%d-:22", vm->ssh_bind ? vm->ssh_bind : "127.0.0.1",
                 vm->ssh_port);
        json_object_set_new(netdev, "hostfwd", json_pack("[{s:s}]", "str", rule));
    }
    arg_json(c, "-netdev", netdev);
    char mac[18];
    qemu_mac_for_id(vm->vm_id, mac);
    arg_json(c, "-device",
             json_pack("{s:s, s:s, s:s, s:s, s:s}", "driver", "virtio-net-pci", "netdev", "net0",
                       "id", "nic0", "mac", mac, "romfile", ""));
}

static void add_devices(cu_cmd *c, const qemu_launch *vm)
{
    arg_json(c, "-device", json_pack("{s:s, s:s}", "driver", "virtio-rng-pci", "id", "rng0"));
    /* ramfb on virt: a plain framebuffer that AAVMF and the kernel's efifb
     * both draw on (Debian's cloud arm64 kernel has no virtio-gpu driver). */
    arg_json(c, "-device",
             json_pack("{s:s, s:s}", "driver", is_x86(vm) ? "VGA" : "ramfb", "id", "video0"));
    arg_json(c, "-device", json_pack("{s:s, s:s}", "driver", "qemu-xhci", "id", "usb"));
    arg_json(c, "-device",
             json_pack("{s:s, s:s, s:s}", "driver", "usb-tablet", "id", "tablet0", "bus", "usb.0"));
    if (!is_x86(vm)) /* q35 has a PS/2 keyboard; virt has none */
        arg_json(c, "-device",
                 json_pack("{s:s, s:s, s:s}", "driver", "usb-kbd", "id", "kbd0", "bus", "usb.0"));
}

/* VNC, QMP, serial port and log, pid file: all in the run directory. */
static void add_control(cu_cmd *c, const qemu_launch *vm)
{
    _cleanup_free_ char *run = opts_escape(vm->run_dir);
    arg2(c, "-display", "none");
    cu_cmd_arg(c, "-vnc");
    /* Every viewer shares the screen, even one that asks for it alone
     * (several browsers on one VM), and up to 64 of them (QEMU's default
     * is 32; screenshots take one too); no -k keymap: it breaks the
     * extended key events noVNC sends (novnc/noVNC#666). */
    cu_cmd_argf(c, "unix:%s/vnc.sock,share=force-shared,connections=64", run);
    cu_cmd_arg(c, "-chardev");
    cu_cmd_argf(c, "socket,id=qmp,path=%s/qmp.sock,server=on,wait=off", run);
    arg2(c, "-mon", "chardev=qmp,mode=control");
    /* The serial port: a socket for its console (agent/console_serial.c)
     * that also logs all the guest prints, viewer or not, to serial.log
     * (truncated at start). */
    cu_cmd_arg(c, "-chardev");
    cu_cmd_argf(c, "socket,id=serial0,path=%s/serial.sock,server=on,wait=off,logfile=%s/serial.log",
                run, run);
    arg2(c, "-serial", "chardev:serial0");
    /* The guest's channel to us (guest_channel.h): a virtio-serial port
     * whose host end is a file QEMU truncates at start. */
    arg_json(c, "-device", json_pack("{s:s, s:s}", "driver", "virtio-serial-pci", "id", "vser0"));
    cu_cmd_arg(c, "-chardev");
    cu_cmd_argf(c, "file,id=guest0,path=%s/" GUEST_CHANNEL_FILE, run);
    arg_json(c, "-device",
             json_pack("{s:s, s:s, s:s, s:s, s:s}", "driver", "virtserialport", "bus", "vser0.0",
                       "chardev", "guest0", "name", GUEST_CHANNEL_PORT, "id", "guest-port0"));
    cu_cmd_arg(c, "-pidfile");
    cu_cmd_argf(c, "%s/qemu.pid", vm->run_dir); /* verbatim: not QemuOpts */
    cu_cmd_arg(c, "-daemonize");
}

int qemu_build_argv(const host_facts *host, const qemu_launch *vm, cu_cmd *cmd, cu_error **err)
{
    if (check_launch(vm, err) < 0)
        return -1;
    add_identity(cmd, host, vm);
    add_machine(cmd, host, vm);
    add_boot(cmd, vm);
    add_disks(cmd, vm);
    add_network(cmd, vm);
    add_devices(cmd, vm);
    add_control(cmd, vm);
    return 0;
}

cu_cmd *qemu_command_new(const host_facts *host, const qemu_launch *vm, cu_error **err)
{
    const char *binary = host_qemu_binary(vm->guest_arch);
    if (binary == NULL) {
        check_launch(vm, err); /* says why */
        return NULL;
    }
    _cleanup_cmd_ cu_cmd *cmd = cu_cmd_new(binary);
    if (qemu_build_argv(host, vm, cmd, err) < 0)
        return NULL;
    return steal_ptr(&cmd);
}

void qemu_mac_for_id(const char *vm_id, char out[18])
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 */
    for (const unsigned char *p = (const unsigned char *)vm_id; p && *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    snprintf(out, 18, "52:54:00:%02x:%02x:%02x", (unsigned)(h >> 16) & 0xff,
             (unsigned)(h >> 8) & 0xff, (unsigned)h & 0xff);
}
