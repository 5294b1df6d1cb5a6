/* host_facts.c: see host_facts.h.  Probes once at start; everything that
 * needs another program (QEMU, macOS sysctl) goes through cu_cmd with a
 * timeout, never a shell.
 *
 * Seccomp probe: `qemu-system-ARCH -sandbox QEMU_SANDBOX_OPTS --version`.
 * QEMU handles options in order, so -sandbox is parsed (and refused with
 * exit 1 by a build without seccomp, or by one that lacks one of our
 * keys) before --version prints and exits 0.  It costs one exec, needs no
 * guest and no cleanup, and the same run yields the version.  The filter
 * itself is installed only when a VM starts, so on Linux we also check
 * that the kernel has seccomp (the Seccomp: line of /proc/self/status). */
#define _GNU_SOURCE
#include "host_facts.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/kvm.h>
#include <sys/ioctl.h>
#endif

#include "cleanup.h"
#include "cmd.h"
#include "firmware.h"
#include "log.h"
#include "qemu_argv.h"

#define PROBE_TIMEOUT_S 10

const char *host_qemu_binary(const char *guest_arch)
{
    if (guest_arch == NULL)
        return NULL;
    if (strcmp(guest_arch, "x86_64") == 0)
        return "qemu-system-x86_64";
    if (strcmp(guest_arch, "aarch64") == 0)
        return "qemu-system-aarch64";
    return NULL;
}

/* Copies at most len - 1 bytes: names longer than our fields are cut. */
static void copy_name(char *dst, size_t len, const char *src)
{
    size_t n = strnlen(src, len - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void probe_uname(host_facts *out)
{
    struct utsname u;
    if (uname(&u) < 0)
        memset(&u, 0, sizeof(u));
    copy_name(out->os, sizeof(out->os), u.sysname);
    for (char *p = out->os; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *m = u.machine;
    if (strcmp(m, "arm64") == 0) /* macOS says arm64 */
        m = "aarch64";
    else if (strcmp(m, "amd64") == 0)
        m = "x86_64";
    copy_name(out->arch, sizeof(out->arch), m);
}

/* On x86 a real KVM needs VT-x or AMD-V.  Without them /dev/kvm may still
 * exist: PVM (kvm_pvm, seen in nested sandboxes) answers the KVM API but
 * runs only PVM-aware guest kernels and dies in OVMF ("KVM internal
 * error ... emulation failure"), so it must not count as KVM. */
static bool x86_has_virt_extensions(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "flags", 5) != 0 || colon == NULL)
            continue;
        char *save = NULL;
        for (char *w = strtok_r(colon + 1, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save))
            if (strcmp(w, "vmx") == 0 || strcmp(w, "svm") == 0)
                return true;
        return false; /* the first CPU's flags speak for all */
    }
    return false;
}

/* /dev/kvm usable: openable read-write, speaking the stable API and, on
 * x86, backed by hardware virtualization.  When not, `why` says what is
 * wrong, for the warning. */
static bool probe_kvm(const char *arch, char *why, size_t len)
{
#ifdef __linux__
    _cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            snprintf(why, len, "/dev/kvm missing");
        else
            snprintf(why, len, "/dev/kvm: %s", strerror(errno));
        return false;
    }
    int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        snprintf(why, len, "/dev/kvm answers API version %d, not %d", version, KVM_API_VERSION);
        return false;
    }
    if (strcmp(arch, "x86_64") == 0 && !x86_has_virt_extensions()) {
        bool pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
        snprintf(why, len, "%s without VT-x/AMD-V: only PVM-aware guest kernels run on it",
                 pvm ? "/dev/kvm is kvm_pvm" : "/dev/kvm");
        return false;
    }
    return true;
#else
    snprintf(why, len, "/dev/kvm missing");
    return false;
#endif
}

/* `sysctl -n NAME` (macOS) as a number; -1 when it cannot be read. */
static long long sysctl_number(const char *name)
{
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new("/usr/sbin/sysctl"); /* not always on a service's PATH */
    cu_cmd_arg(c, "-n");
    cu_cmd_arg(c, name);
    cu_cmd_timeout(c, PROBE_TIMEOUT_S);
    _cleanup_error_ cu_error *err = NULL;
    if (cu_cmd_run(c, &err) < 0) {
        log_debug("sysctl %s: %s", name, err->message);
        return -1;
    }
    char *end = NULL;
    long long v = strtoll(cu_cmd_stdout(c), &end, 10);
    return end == cu_cmd_stdout(c) ? -1 : v;
}

static long long memory_mib(const host_facts *f)
{
    if (strcmp(f->os, "darwin") == 0) {
        long long bytes = sysctl_number("hw.memsize");
        if (bytes > 0)
            return bytes / (1024 * 1024);
    }
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (long long)pages * size / (1024 * 1024) : 0;
}

static int probe_disk(const char *data_dir, host_facts *out, cu_error **err)
{
    struct statvfs st;
    if (statvfs(data_dir, &st) < 0)
        return cu_error_errno(err, errno, "cannot measure free space in '%s'", data_dir);
    out->disk_gib = (long long)((unsigned long long)st.f_bavail * st.f_frsize >> 30);
    return 0;
}

/* "QEMU emulator version 7.2.22 (Debian ...)" -> "7.2.22"; -1 if absent. */
static int parse_qemu_version(const char *text, char *out, size_t len)
{
    static const char tag[] = "QEMU emulator version ";
    const char *p = strstr(text, tag);
    if (p == NULL)
        return -1;
    p += sizeof(tag) - 1;
    size_t n = strspn(p, "0123456789.");
    if (n == 0 || n >= len)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static bool kernel_has_seccomp(const host_facts *f)
{
    if (strcmp(f->os, "linux") != 0)
        return false;
    _cleanup_fclose_ FILE *s = fopen("/proc/self/status", "re");
    char line[256];
    while (s && fgets(line, sizeof(line), s))
        if (strncmp(line, "Seccomp:", 8) == 0)
            return true;
    return false;
}

/* Runs `qemu [-sandbox OPTS] --version`; 0 with the version parsed. */
static int run_qemu_version(const char *qemu, bool sandbox, host_facts *out, cu_error **err)
{
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new(qemu);
    if (sandbox) {
        cu_cmd_arg(c, "-sandbox");
        cu_cmd_arg(c, QEMU_SANDBOX_OPTS);
    }
    cu_cmd_arg(c, "--version");
    cu_cmd_timeout(c, PROBE_TIMEOUT_S);
    if (cu_cmd_run(c, err) < 0)
        return -1;
    if (parse_qemu_version(cu_cmd_stdout(c), out->qemu_version, sizeof(out->qemu_version)) < 0)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "cannot read the version in the output of '%s --version': '%.200s'",
                            qemu, cu_cmd_stdout(c));
    return 0;
}

static int probe_qemu(host_facts *out, cu_error **err)
{
    const char *qemu = host_qemu_binary(out->arch);
    if (qemu == NULL)
        qemu = "qemu-system-x86_64"; /* another host CPU: guests run under TCG */
    _cleanup_error_ cu_error *sandbox_err = NULL;
    if (run_qemu_version(qemu, true, out, &sandbox_err) == 0) {
        out->seccomp = kernel_has_seccomp(out);
        return 0;
    }
    log_debug("QEMU has no usable -sandbox: %s", sandbox_err->message);
    out->seccomp = false;
    if (run_qemu_version(qemu, false, out, err) < 0)
        return cu_error_wrap(err,
                             "QEMU is needed to run VMs ('%s' from the qemu-system "
                             "package, on PATH)",
                             qemu);
    return 0;
}

/* The other architecture, when its QEMU answers and its firmware is here. */
static void probe_emulation(host_facts *out)
{
    static const char *const archs[] = {"x86_64", "aarch64"};
    for (size_t i = 0; i < 2; i++) {
        const char *arch = archs[i];
        if (strcmp(arch, out->arch) == 0)
            continue;
        _cleanup_error_ cu_error *err = NULL;
        _cleanup_cmd_ cu_cmd *c = cu_cmd_new(host_qemu_binary(arch));
        cu_cmd_arg(c, "--version");
        cu_cmd_timeout(c, PROBE_TIMEOUT_S);
        firmware_paths fw;
        if (cu_cmd_run(c, &err) < 0 || firmware_find(arch, &fw, &err) < 0) {
            log_info("%s guests cannot run here: %s", arch, err->message);
            continue;
        }
        snprintf(out->emulated[out->nemulated++], sizeof(out->emulated[0]), "%s", arch);
        log_info("%s guests can run here under TCG emulation (slowly)", arch);
    }
}

bool host_runs_arch(const host_facts *f, const char *guest_arch)
{
    if (guest_arch == NULL)
        return false;
    if (strcmp(f->arch, guest_arch) == 0)
        return true;
    for (int i = 0; i < f->nemulated; i++)
        if (strcmp(f->emulated[i], guest_arch) == 0)
            return true;
    return false;
}

int host_facts_probe(const char *data_dir, host_facts *out, cu_error **err)
{
    memset(out, 0, sizeof(*out));
    probe_uname(out);
    char why[128] = "no accelerator known for this OS";
    if (strcmp(out->os, "linux") == 0) {
        out->kvm = probe_kvm(out->arch, why, sizeof(why));
    } else if (strcmp(out->os, "darwin") == 0) {
        out->hvf = sysctl_number("kern.hv_support") == 1;
        snprintf(why, sizeof(why), "kern.hv_support is not 1");
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    out->vcpus = n > 0 ? (int)n : 1;
    out->memory_mib = memory_mib(out);
    if (probe_disk(data_dir, out, err) < 0 || probe_qemu(out, err) < 0)
        return -1;
    probe_emulation(out);
    if (!out->kvm && !out->hvf)
        log_warn("no hardware acceleration (%s): VMs run under TCG emulation, much slower", why);
    log_debug("host: %s/%s, %d vCPUs, %lld MiB, %lld GiB free in '%s', QEMU %s%s%s", out->os,
              out->arch, out->vcpus, out->memory_mib, out->disk_gib, data_dir, out->qemu_version,
              out->kvm   ? ", KVM"
              : out->hvf ? ", HVF"
                         : ", TCG only",
              out->seccomp ? ", seccomp" : "");
    return 0;
}
