/* test_qemu_argv.c: agent/qemu_argv.c, as libvirt's qemuxml2argvtest does
 * it.  Fixed host facts and launches render one argument per line and are
 * compared byte for byte with tests/golden/<case>.args
 * (CUMULUS_REGENERATE_GOLDEN=1 rewrites them: review the diff).  Bad input
 * is refused before anything is appended.  The same shapes started with the
 * real QEMU are in test_qemu_live.c. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "cmd.h"
#include "firmware.h"
#include "host_facts.h"
#include "qemu_argv.h"

/* ---- fixed hosts and cases ----------------------------------------- */

/* Only os, arch and the accelerators and seccomp flags shape the argv. */
#define HOST(os, arch, kvm, hvf, seccomp)                                                          \
    {                                                                                              \
        os, arch, kvm, hvf, seccomp, 8, 16384, 100, "7.2.0", {""}, 0                               \
    }
static const host_facts mac_hvf = HOST("darwin", "aarch64", false, true, false);
static const host_facts arm_kvm = HOST("linux", "aarch64", true, false, true);
static const host_facts x86_kvm = HOST("linux", "x86_64", true, false, true);
static const host_facts x86_tcg = HOST("linux", "x86_64", false, false, true);

#define RUN "/var/lib/cumulus/vms/vm-0f3a9c"
#define MAC_RUN "/Users/ana/.cumulus/vms/vm-0f3a9c"
#define ODD_RUN "/var/lib/cumulus/vms/a,b c"
#define ODD_RUN_OPTS "/var/lib/cumulus/vms/a,,b c" /* as a QemuOpts value */
#define OVMF "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define AAVMF "/usr/share/AAVMF/AAVMF_CODE.fd"
#define BREW_EDK2 "/opt/homebrew/share/qemu/edk2-aarch64-code.fd"

typedef struct golden_case {
    const char *name;
    const host_facts *host;
    const char *arch, *vm_name, *run_dir;
    const char *fw_code; /* NULL: direct kernel boot */
    int vcpus, memory_mib, ssh_port;
    const char *ssh_bind;
    unsigned runas_uid; /* an agent running as root gives each VM a uid */
} golden_case;

static const golden_case cases[] = {
    {"aarch64-hvf-uefi", &mac_hvf, "aarch64", "web-1", MAC_RUN, BREW_EDK2, 4, 4096, 2201,
     "127.0.0.1", 0},
    {"aarch64-kvm-uefi", &arm_kvm, "aarch64", "web-1", RUN, AAVMF, 16, 16384, 2202, "0.0.0.0", 0},
    {"x86_64-kvm-uefi", &x86_kvm, "x86_64", "web-1", RUN, OVMF, 2, 2048, 2203, "0.0.0.0",
     1879048200u},
    {"x86_64-tcg-uefi", &x86_tcg, "x86_64", "web-1", RUN, OVMF, 2, 1024, 2204, "127.0.0.1", 0},
    {"x86_64-tcg-kernel", &x86_tcg, "x86_64", "web-1", RUN, NULL, 1, 1024, 2205, "127.0.0.1", 0},
    {"x86_64-tcg-comma-dir", &x86_tcg, "x86_64", "web,1", ODD_RUN, OVMF, 2, 1024, 2206,
     "127.0.0.1", 0},
    {"aarch64-tcg-on-x86_64", &x86_kvm, "aarch64", "arm-1", RUN, AAVMF, 12, 2048, 2207,
     "127.0.0.1", 0},
};
enum { HVF, ARM_KVM, X86_KVM, X86_TCG, X86_KERNEL, COMMA_DIR, CROSS };

/* The launch of a case, with its files in the run directory. */
typedef struct launch_files {
    char disk[PATH_MAX], seed[PATH_MAX], vars[PATH_MAX], kernel[PATH_MAX], initrd[PATH_MAX];
} launch_files;

static qemu_launch launch_of(const golden_case *c, launch_files *f)
{
    snprintf(f->disk, PATH_MAX, "%s/disk.qcow2", c->run_dir);
    snprintf(f->seed, PATH_MAX, "%s/seed.iso", c->run_dir);
    snprintf(f->vars, PATH_MAX, "%s/efivars.fd", c->run_dir);
    snprintf(f->kernel, PATH_MAX, "%s/vmlinuz", c->run_dir);
    snprintf(f->initrd, PATH_MAX, "%s/initrd.img", c->run_dir);
    qemu_launch l = {.vm_id = "vm-0f3a9c",
                     .name = c->vm_name,
                     .guest_arch = c->arch,
                     .vcpus = c->vcpus,
                     .memory_mib = c->memory_mib,
                     .run_dir = c->run_dir,
                     .disk_path = f->disk,
                     .seed_path = f->seed,
                     .ssh_port = c->ssh_port,
                     .ssh_bind = c->ssh_bind,
                     .runas_uid = c->runas_uid};
    if (c->fw_code) {
        l.fw_code = c->fw_code;
        l.fw_vars = f->vars;
    } else {
        l.kernel = f->kernel;
        l.initrd = f->initrd;
        l.cmdline = "root=/dev/vda1 ro console=ttyS0,115200 ds=nocloud";
    }
    return l;
}

static cu_cmd *build(const golden_case *c)
{
    launch_files f;
    qemu_launch l = launch_of(c, &f);
    _cleanup_error_ cu_error *err = NULL;
    cu_cmd *cmd = qemu_command_new(c->host, &l, &err);
    if (cmd == NULL)
        fail_msg("%s: %s", c->name, err->message);
    return cmd;
}

/* ---- golden files --------------------------------------------------- */

static char *render(const golden_case *c)
{
    _cleanup_cmd_ cu_cmd *cmd = build(c);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    for (char *const *a = cu_cmd_argv(cmd); *a; a++)
        fprintf(f, "%s\n", *a);
    fclose(f);
    return buf;
}

static void golden_path(const char *name, char *out, size_t len)
{
    const char *src = getenv("CUMULUS_SOURCE_DIR");
    char here[PATH_MAX];
    if (src == NULL) { /* <src>/tests/unit/agent/test_qemu_argv.c */
        snprintf(here, sizeof(here), "%s", __FILE__);
        for (int i = 0; i < 4; i++)
            *strrchr(here, '/') = '\0';
        src = here;
    }
    if (snprintf(out, len, "%s/tests/golden/%s.args", src, name) >= (int)len)
        fail_msg("golden file path too long for %s", name);
}

static char *slurp(const char *path)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&buf, &cap, '\0', f);
    if (n < 0) {
        free(buf);
        return strdup("");
    }
    return buf;
}

/* Names the first line that differs, both versions of it. */
static void report_difference(const char *path, const char *want, const char *got)
{
    int line = 1;
    const char *w = want, *g = got;
    for (; *w && *w == *g; w++, g++)
        if (*w == '\n') {
            line++;
            want = w + 1, got = g + 1; /* starts of the current line */
        }
    fail_msg("%s differs from the argv at line %d:\n  golden: %.*s\n  argv:   %.*s\n"
             "(CUMULUS_REGENERATE_GOLDEN=1 rewrites the golden files)",
             path, line, (int)strcspn(want, "\n"), want, (int)strcspn(got, "\n"), got);
}

static void golden(void **state)
{
    const golden_case *c = *state;
    char path[PATH_MAX];
    golden_path(c->name, path, sizeof(path));
    _cleanup_free_ char *got = render(c);
    const char *regen = getenv("CUMULUS_REGENERATE_GOLDEN");
    if (regen && strcmp(regen, "1") == 0) {
        _cleanup_fclose_ FILE *f = fopen(path, "we");
        if (f == NULL)
            fail_msg("cannot write '%s': %s", path, strerror(errno));
        fputs(got, f);
        print_message("rewrote %s\n", path);
        return;
    }
    _cleanup_free_ char *want = slurp(path);
    if (want == NULL)
        fail_msg("no golden file '%s' (CUMULUS_REGENERATE_GOLDEN=1 creates it)", path);
    if (strcmp(want, got) != 0)
        report_difference(path, want, got);
}

/* ---- properties of the argv ---------------------------------------- */

/* The argument after the first `opt` whose value starts with `prefix`. */
static const char *value_of(cu_cmd *cmd, const char *opt, const char *prefix)
{
    char *const *a = cu_cmd_argv(cmd);
    for (; a[0] && a[1]; a++)
        if (strcmp(a[0], opt) == 0 && strncmp(a[1], prefix, strlen(prefix)) == 0)
            return a[1];
    fail_msg("no '%s %s...' in the argv", opt, prefix);
    return NULL;
}

static size_t argc_of(cu_cmd *cmd)
{
    size_t n = 0;
    for (char *const *a = cu_cmd_argv(cmd); *a; a++)
        n++;
    return n;
}

/* Commas are doubled where QemuOpts parses, untouched in JSON and in
 * verbatim options, and nothing splits into extra arguments. */
static void comma_and_space_stay_values(void **state)
{
    _cleanup_cmd_ cu_cmd *odd = build(&cases[COMMA_DIR]);
    _cleanup_cmd_ cu_cmd *plain = build(&cases[X86_TCG]);
    assert_int_equal(argc_of(odd), argc_of(plain));
    assert_string_equal(value_of(odd, "-name", "guest="), "guest=web,,1,debug-threads=on");
    assert_string_equal(value_of(odd, "-vnc", "unix:"), "unix:" ODD_RUN_OPTS "/vnc.sock,share=force-shared,connections=64");
    assert_string_equal(value_of(odd, "-chardev", "socket,"),
                        "socket,id=qmp,path=" ODD_RUN_OPTS "/qmp.sock,server=on,wait=off");
    assert_string_equal(value_of(odd, "-chardev", "socket,id=serial0,"),
                        "socket,id=serial0,path=" ODD_RUN_OPTS "/serial.sock,server=on,wait=off,"
                        "logfile=" ODD_RUN_OPTS "/serial.log");
    assert_string_equal(value_of(odd, "-pidfile", ""), ODD_RUN "/qemu.pid");
    assert_non_null(strstr(value_of(odd, "-blockdev", "{\"driver\":\"file\",\"filename\":\"/var"),
                           "\"filename\":\"" ODD_RUN "/efivars.fd\""));
}

static void accelerator_choice(void **state)
{
    _cleanup_cmd_ cu_cmd *kvm = build(&cases[X86_KVM]), *tcg = build(&cases[X86_TCG]);
    _cleanup_cmd_ cu_cmd *hvf = build(&cases[HVF]), *cross = build(&cases[CROSS]);
    assert_string_equal(value_of(kvm, "-accel", ""), "kvm");
    assert_string_equal(value_of(kvm, "-cpu", ""), "host");
    assert_string_equal(value_of(tcg, "-accel", ""), "tcg");
    assert_string_equal(value_of(tcg, "-cpu", ""), "max");
    assert_string_equal(value_of(hvf, "-accel", ""), "hvf");
    assert_string_equal(value_of(hvf, "-cpu", ""), "host");
    /* KVM on an x86_64 host does not run an aarch64 guest. */
    assert_string_equal(value_of(cross, "-accel", ""), "tcg");
    assert_string_equal(value_of(cross, "-cpu", ""), "max,pauth-impdef=on");
    assert_string_equal(cu_cmd_argv(cross)[0], "qemu-system-aarch64");
}

static void mac_is_stable_and_local(void **state)
{
    char a[18], b[18], c[18];
    qemu_mac_for_id("vm-0f3a9c", a);
    qemu_mac_for_id("vm-0f3a9c", b);
    qemu_mac_for_id("vm-0f3a9d", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 17);
    assert_int_equal(strncmp(a, "52:54:00:", 9), 0); /* 0x52: locally administered */
}

/* Each spoiled launch is refused with the right status and field, and
 * nothing is appended to the command. */
static void expect_refused(const qemu_launch *l, int status, const char *field)
{
    _cleanup_cmd_ cu_cmd *cmd = cu_cmd_new("qemu-system-x86_64");
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(qemu_build_argv(&x86_tcg, l, cmd, &err), -1);
    assert_non_null(err);
    print_message("refused: %s\n", err->message);
    assert_int_equal(err->status, status);
    if (field)
        assert_string_equal(err->field, field);
    else
        assert_null(err->field);
    assert_int_equal(argc_of(cmd), 1);
}

#define SPOILED(base, change, status, field)                                                       \
    do {                                                                                           \
        launch_files f_;                                                                           \
        qemu_launch l = launch_of(&cases[base], &f_);                                              \
        change;                                                                                    \
        expect_refused(&l, status, field);                                                         \
    } while (0)

static void bad_input_refused(void **state)
{
    SPOILED(X86_TCG, l.guest_arch = "riscv64", 400, "image.architecture");
    SPOILED(X86_TCG, l.guest_arch = NULL, 400, "image.architecture");
    SPOILED(X86_TCG, l.vcpus = 0, 400, "vcpus");
    SPOILED(X86_TCG, l.vcpus = 256, 400, "vcpus"); /* x86: APIC ids end at 254 */
    SPOILED(X86_TCG, l.memory_mib = 16, 400, "memory_mib");
    SPOILED(X86_TCG, l.name = "web\n1", 400, "name");
    SPOILED(X86_TCG, l.disk_path = "disk.qcow2", 500, NULL);
    SPOILED(X86_TCG, l.run_dir = "/var/lib/cumulus/vms/x\n-y", 500, NULL);
    SPOILED(X86_TCG, l.kernel = "/boot/vmlinuz", 500, NULL);
    SPOILED(X86_TCG, l.fw_code = l.fw_vars = NULL, 500, NULL);
    SPOILED(X86_TCG, l.fw_vars = NULL, 500, NULL);
    SPOILED(X86_KERNEL, l.cmdline = "console=ttyS0\nsingle", 400, "image.cmdline");
    SPOILED(X86_KERNEL, l.initrd = "initrd.img", 500, NULL);
    SPOILED(X86_TCG, l.ssh_bind = "127.0.0.1:22-:23,tcp:0.0.0.0", 500, NULL);
    SPOILED(X86_TCG, l.ssh_port = 70000, 500, NULL);
    SPOILED(X86_TCG,
            l.run_dir = "/var/lib/cumulus/vms/a-directory-name-so-long-that-its-qmp.sock-"
                        "would-not-fit-in-sockaddr_un.sun_path",
            500, NULL);
}

int main(void)
{
    struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0]) + 8];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate(golden, (void *)&cases[i]);
        tests[n++].name = cases[i].name;
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(comma_and_space_stay_values);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(accelerator_choice);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(mac_is_stable_and_local);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(bad_input_refused);
    return _cmocka_run_group_tests("qemu_argv", tests, n, NULL, NULL);
}
