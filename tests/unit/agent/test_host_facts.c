/* test_host_facts.c: agent/host_facts.c and agent/firmware.c on this
 * machine.  The probe must agree with what the machine says itself
 * (uname, /dev/kvm, `qemu-system-ARCH --version`); a seccomp claim is
 * proven by starting QEMU with our -sandbox policy and -daemonize.
 * Firmware: the distribution's OVMF is found through its descriptor, our
 * own descriptor directory wins, Secure Boot and broken descriptors are
 * passed over, and a VM's variable store is made once and then kept. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cleanup.h"
#include "cmd.h"
#include "firmware.h"
#include "host_facts.h"
#include "qemu_argv.h"

typedef struct fixture {
    char dir[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/cumulus facts,XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    DIR *d = opendir(f->dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
        if (e->d_name[0] != '.')
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(f->dir);
    unsetenv("CUMULUS_FIRMWARE_DIR");
    free(f);
    return 0;
}

static void path_in(const fixture *f, const char *name, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s", f->dir, name);
}

static void write_text(const char *path, const char *text)
{
    _cleanup_fclose_ FILE *fp = fopen(path, "we");
    assert_non_null(fp);
    fputs(text, fp);
}

static char *read_text(const char *path)
{
    _cleanup_fclose_ FILE *fp = fopen(path, "re");
    assert_non_null(fp);
    char *buf = NULL;
    size_t cap = 0;
    if (getdelim(&buf, &cap, '\0', fp) < 0) {
        free(buf);
        return strdup("");
    }
    return buf;
}

/* ---- host facts ---------------------------------------------------- */

static void probe_matches_this_machine(void **state)
{
    fixture *f = *state;
    host_facts h;
    _cleanup_error_ cu_error *err = NULL;
    if (host_facts_probe(f->dir, &h, &err) < 0)
        fail_msg("%s", err->message);
    struct utsname u;
    assert_int_equal(uname(&u), 0);
    const char *arch = strcmp(u.machine, "arm64") == 0 ? "aarch64" : u.machine;
    assert_string_equal(h.arch, arch);
    assert_string_equal(h.os, "linux");
    /* Whatever this machine has: /dev/kvm usable (and on x86 backed by
     * VT-x/AMD-V, not by PVM) means kvm. */
    _cleanup_close_ int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    _cleanup_free_ char *cpuinfo = read_text("/proc/cpuinfo");
    bool virt = strstr(cpuinfo, " vmx") || strstr(cpuinfo, " svm");
    assert_int_equal(h.kvm, kvm >= 0 && (strcmp(arch, "x86_64") != 0 || virt));
    assert_false(h.hvf);
    print_message("arch %s, kvm %d, seccomp %d, %d vCPUs, %lld MiB, %lld GiB free, QEMU %s\n",
                  h.arch, h.kvm, h.seccomp, h.vcpus, h.memory_mib, h.disk_gib, h.qemu_version);
    assert_true(h.vcpus > 0);
    assert_true(h.memory_mib > 0);
    assert_true(h.disk_gib > 0);
}

static void qemu_version_is_the_binary_s(void **state)
{
    fixture *f = *state;
    host_facts h;
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(host_facts_probe(f->dir, &h, &err), 0);
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new(host_qemu_binary(h.arch));
    cu_cmd_arg(c, "--version");
    assert_int_equal(cu_cmd_run(c, &err), 0);
    char want[64];
    snprintf(want, sizeof(want), "QEMU emulator version %s ", h.qemu_version);
    if (strncmp(cu_cmd_stdout(c), want, strlen(want)) != 0)
        fail_msg("probed '%s', but the binary says: %s", h.qemu_version, cu_cmd_stdout(c));
    assert_non_null(strchr(h.qemu_version, '.'));
}

/* Seccomp claimed means our policy really starts together with
 * -daemonize (the combination 7.2 kills with SIGSYS for spawn=deny). */
static void seccomp_claim_holds(void **state)
{
    fixture *f = *state;
    host_facts h;
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(host_facts_probe(f->dir, &h, &err), 0);
    if (!h.seccomp) {
        print_message("QEMU or the kernel has no seccomp here: nothing to prove\n");
        return;
    }
    char pidfile[PATH_MAX];
    path_in(f, "qemu.pid", pidfile);
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new(host_qemu_binary(h.arch));
    const char *args[] = {"-sandbox",    QEMU_SANDBOX_OPTS, "-machine", "none",
                          "-nodefaults", "-display",        "none",     "-S",
                          "-daemonize",  "-pidfile",        pidfile};
    for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++)
        cu_cmd_arg(c, args[i]);
    cu_cmd_timeout(c, 30);
    if (cu_cmd_run(c, &err) < 0)
        fail_msg("%s", err->message);
    _cleanup_free_ char *pid_text = read_text(pidfile);
    pid_t pid = (pid_t)atoi(pid_text);
    assert_true(pid > 0);
    char status_path[64];
    snprintf(status_path, sizeof(status_path), "/proc/%d/status", (int)pid);
    _cleanup_free_ char *status = read_text(status_path);
    kill(pid, SIGKILL);
    assert_non_null(strstr(status, "Seccomp:\t2")); /* filter mode */
}

static void binary_per_architecture(void **state)
{
    assert_string_equal(host_qemu_binary("x86_64"), "qemu-system-x86_64");
    assert_string_equal(host_qemu_binary("aarch64"), "qemu-system-aarch64");
    assert_null(host_qemu_binary("arm64")); /* image architectures are normalised */
    assert_null(host_qemu_binary(NULL));
}

/* ---- firmware -------------------------------------------------------- */

static void assert_readable(const char *path)
{
    if (access(path, R_OK) != 0)
        fail_msg("'%s' is not readable: %s", path, strerror(errno));
}

static void finds_ovmf(void **state)
{
    firmware_paths fw;
    _cleanup_error_ cu_error *err = NULL;
    if (firmware_find("x86_64", &fw, &err) < 0)
        fail_msg("%s", err->message);
    print_message("x86_64: %s + %s\n", fw.code, fw.vars_template);
    assert_readable(fw.code);
    assert_readable(fw.vars_template);
    assert_null(strstr(fw.code, "secboot")); /* Debian's Secure Boot build is passed over */
    assert_null(strstr(fw.code, ".ms."));
    if (firmware_find("aarch64", &fw, &err) == 0) {
        print_message("aarch64: %s + %s\n", fw.code, fw.vars_template);
        assert_readable(fw.code);
        assert_readable(fw.vars_template);
    }
}

static void unknown_architecture_refused(void **state)
{
    firmware_paths fw;
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(firmware_find("riscv64", &fw, &err), -1);
    assert_int_equal(err->status, 400);
    assert_string_equal(err->field, "image.architecture");
}

static void write_descriptor(const fixture *f, const char *name, const char *arch, const char *code,
                             const char *vars, const char *features)
{
    char path[PATH_MAX], text[2048];
    path_in(f, name, path);
    snprintf(text, sizeof(text),
             "{\"interface-types\": [\"uefi\"], \"mapping\": {\"device\": \"flash\", "
             "\"executable\": {\"filename\": \"%s/%s\", \"format\": \"raw\"}, "
             "\"nvram-template\": {\"filename\": \"%s/%s\", \"format\": \"raw\"}}, "
             "\"targets\": [{\"architecture\": \"%s\", \"machines\": [\"pc-q35-*\", "
             "\"virt-*\"]}], \"features\": [%s]}",
             f->dir, code, f->dir, vars, arch, features);
    write_text(path, text);
}

/* Our directory is read first, in file-name order; descriptors that are
 * broken, for Secure Boot, for another architecture or for missing files
 * are passed over. */
static void own_descriptor_dir(void **state)
{
    fixture *f = *state;
    const char *files[] = {"sb-code.fd",  "sb-vars.fd", "arm-code.fd",
                           "arm-vars.fd", "code.fd",    "vars.fd"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char p[PATH_MAX];
        path_in(f, files[i], p);
        write_text(p, "firmware");
    }
    char broken[PATH_MAX];
    path_in(f, "10-broken.json", broken);
    write_text(broken, "{\"interface-types\": [");
    write_descriptor(f, "20-secure.json", "x86_64", "sb-code.fd", "sb-vars.fd",
                     "\"requires-smm\", \"secure-boot\"");
    write_descriptor(f, "30-arm.json", "aarch64", "arm-code.fd", "arm-vars.fd", "");
    write_descriptor(f, "40-missing.json", "x86_64", "gone.fd", "vars.fd", "");
    write_descriptor(f, "50-plain.json", "x86_64", "code.fd", "vars.fd", "\"acpi-s3\"");
    setenv("CUMULUS_FIRMWARE_DIR", f->dir, 1);
    firmware_paths fw;
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(firmware_find("x86_64", &fw, &err), 0);
    char want[PATH_MAX];
    path_in(f, "code.fd", want);
    assert_string_equal(fw.code, want);
    path_in(f, "vars.fd", want);
    assert_string_equal(fw.vars_template, want);
    assert_int_equal(firmware_find("aarch64", &fw, &err), 0);
    path_in(f, "arm-code.fd", want);
    assert_string_equal(fw.code, want);
}

static void vars_copied_once_then_kept(void **state)
{
    fixture *f = *state;
    char tmpl[PATH_MAX], dest[PATH_MAX];
    path_in(f, "template.fd", tmpl);
    path_in(f, "efivars.fd", dest);
    write_text(tmpl, "pristine variable store");
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(firmware_prepare_vars(tmpl, dest, &err), 0);
    _cleanup_free_ char *copy = read_text(dest);
    assert_string_equal(copy, "pristine variable store");
    struct stat st;
    assert_int_equal(stat(dest, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* The guest writes its boot entries; a restart must not undo them. */
    write_text(dest, "guest's own NVRAM");
    assert_int_equal(firmware_prepare_vars(tmpl, dest, &err), 0);
    _cleanup_free_ char *kept = read_text(dest);
    assert_string_equal(kept, "guest's own NVRAM");
}

static void vars_missing_template_leaves_nothing(void **state)
{
    fixture *f = *state;
    char tmpl[PATH_MAX], dest[PATH_MAX];
    path_in(f, "no-such-template.fd", tmpl);
    path_in(f, "efivars.fd", dest);
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(firmware_prepare_vars(tmpl, dest, &err), -1);
    assert_non_null(strstr(err->message, "no-such-template.fd"));
    DIR *d = opendir(f->dir);
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(probe_matches_this_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(qemu_version_is_the_binary_s, setup, teardown),
        cmocka_unit_test_setup_teardown(seccomp_claim_holds, setup, teardown),
        cmocka_unit_test(binary_per_architecture),
        cmocka_unit_test(finds_ovmf),
        cmocka_unit_test(unknown_architecture_refused),
        cmocka_unit_test_setup_teardown(own_descriptor_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(vars_copied_once_then_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(vars_missing_template_leaves_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
