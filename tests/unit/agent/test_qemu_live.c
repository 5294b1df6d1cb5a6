/* test_qemu_live.c: the argv of agent/qemu_argv.c started for real with
 * this machine's QEMU, paused (-S), in a directory whose name has a comma
 * and a space: QEMU must accept it, daemonize, write its pid, and answer on
 * QMP, VNC and the forwarded SSH port.  (The golden files are checked in
 * test_qemu_argv.c.) */
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

/* The files of a launch, in the run directory. */
typedef struct launch_files {
    char disk[PATH_MAX], seed[PATH_MAX], vars[PATH_MAX], kernel[PATH_MAX], initrd[PATH_MAX];
} launch_files;

/* ---- the real QEMU -------------------------------------------------- */

typedef struct live {
    char dir[256]; /* has a comma and a space */
    pid_t pid;
    host_facts host; /* this machine's, probed */
    firmware_paths fw;
    launch_files files;
} live;

static void path_in(const live *lv, const char *file, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s", lv->dir, file);
}

static void must_run(const char *const *argv)
{
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new(argv[0]);
    for (size_t i = 1; argv[i]; i++)
        cu_cmd_arg(c, argv[i]);
    _cleanup_error_ cu_error *err = NULL;
    if (cu_cmd_run(c, &err) < 0)
        fail_msg("%s", err->message);
}

static bool have_program(const char *name)
{
    _cleanup_cmd_ cu_cmd *c = cu_cmd_new(name);
    cu_cmd_arg(c, "--version");
    _cleanup_error_ cu_error *err = NULL;
    return cu_cmd_run(c, &err) == 0;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    _cleanup_fclose_ FILE *f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
}

/* Enough of a Linux boot-protocol header (2.15, loads high, initrd below
 * 0x37ffffff) for QEMU to load it; the guest never runs it (-S). */
static void write_fake_bzimage(const char *path)
{
    static unsigned char k[65536];
    memset(k, 0, sizeof(k));
    k[0x1f1] = 4;
    memcpy(k + 0x202, "HdrS", 4);
    k[0x206] = 0x0f, k[0x207] = 0x02, k[0x211] = 1;
    k[0x22c] = 0xff, k[0x22d] = 0xff, k[0x22e] = 0xff, k[0x22f] = 0x37;
    write_bytes(path, k, sizeof(k));
}

static int free_tcp_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static int connect_to(const struct sockaddr *a, socklen_t len)
{
    int fd = socket(a->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (fd < 0 || connect(fd, a, len) < 0)
        fail_msg("cannot connect: %s", strerror(errno));
    return fd;
}

static int connect_unix(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (snprintf(a.sun_path, sizeof(a.sun_path), "%s", path) >= (int)sizeof(a.sun_path))
        fail_msg("socket path too long: %s", path);
    return connect_to((struct sockaddr *)&a, sizeof(a));
}

static void read_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    while (n + 1 < len && read(fd, buf + n, 1) == 1 && buf[n] != '\n')
        n++;
    buf[n] = '\0';
}

/* Greeting, capabilities, then the paused VM's status. */
static void check_qmp(const char *sock)
{
    _cleanup_close_ int fd = connect_unix(sock);
    char line[4096];
    read_line(fd, line, sizeof(line));
    assert_non_null(strstr(line, "\"QMP\""));
    const char cap[] = "{\"execute\":\"qmp_capabilities\"}\n";
    const char status[] = "{\"execute\":\"query-status\"}\n";
    assert_int_equal(write(fd, cap, sizeof(cap) - 1), sizeof(cap) - 1);
    read_line(fd, line, sizeof(line));
    assert_non_null(strstr(line, "\"return\""));
    assert_int_equal(write(fd, status, sizeof(status) - 1), sizeof(status) - 1);
    read_line(fd, line, sizeof(line));
    if (strstr(line, "\"prelaunch\"") == NULL)
        fail_msg("query-status: %s", line);
}

static void check_vnc_and_ssh_forward(const char *sock, int port)
{
    _cleanup_close_ int fd = connect_unix(sock);
    char hello[13] = {0};
    assert_int_equal(read(fd, hello, 12), 12);
    assert_string_equal(hello, "RFB 003.008\n");
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    close(connect_to((struct sockaddr *)&a, sizeof(a))); /* slirp listens for the guest */
}

static bool process_gone(pid_t pid)
{
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    char path[64], state = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    return f && fscanf(f, "%*d (%*[^)]) %c", &state) == 1 && state == 'Z';
}

static bool wait_gone(pid_t pid)
{
    for (int i = 0; i < 100 && !process_gone(pid); i++)
        usleep(100 * 1000);
    return process_gone(pid);
}

static int live_setup(void **state)
{
    live *lv = calloc(1, sizeof(*lv));
    _cleanup_error_ cu_error *err = NULL;
    if (lv == NULL || host_facts_probe("/tmp", &lv->host, &err) < 0) {
        free(lv);
        return -1;
    }
    snprintf(lv->dir, sizeof(lv->dir), "/tmp/cumulus argv,XXXXXX");
    if (mkdtemp(lv->dir) == NULL) {
        free(lv);
        return -1;
    }
    *state = lv;
    return 0;
}

static int live_teardown(void **state)
{
    live *lv = *state;
    char pidfile[PATH_MAX];
    path_in(lv, "qemu.pid", pidfile);
    _cleanup_fclose_ FILE *pf = lv->pid ? NULL : fopen(pidfile, "re");
    if (pf && fscanf(pf, "%d", &lv->pid) != 1)
        lv->pid = 0; /* a test that failed before reading it */
    if (lv->pid > 0 && !process_gone(lv->pid)) {
        kill(lv->pid, SIGTERM);
        if (!wait_gone(lv->pid))
            kill(lv->pid, SIGKILL);
        wait_gone(lv->pid);
    }
    DIR *d = opendir(lv->dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[PATH_MAX + 256];
        snprintf(p, sizeof(p), "%s/%s", lv->dir, e->d_name);
        if (e->d_name[0] != '.')
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(lv->dir);
    free(lv);
    return 0;
}

/* UEFI firmware and this VM's variable store, or a kernel and initrd. */
static void boot_files(live *lv, qemu_launch *vm, bool kernel)
{
    launch_files *f = &lv->files;
    if (kernel) {
        path_in(lv, "vmlinuz,1", f->kernel);
        path_in(lv, "initrd.img", f->initrd);
        write_fake_bzimage(f->kernel);
        write_bytes(f->initrd, "initrd", 6);
        vm->kernel = f->kernel;
        vm->initrd = f->initrd;
        vm->cmdline = "console=ttyS0,115200 root=/dev/vda1 ds=nocloud;s=/x, y";
        return;
    }
    _cleanup_error_ cu_error *err = NULL;
    if (firmware_find(vm->guest_arch, &lv->fw, &err) < 0) {
        print_message("skipped: %s\n", err->message);
        skip();
    }
    path_in(lv, "efivars.fd", f->vars);
    assert_int_equal(firmware_prepare_vars(lv->fw.vars_template, f->vars, &err), 0);
    vm->fw_code = lv->fw.code;
    vm->fw_vars = f->vars;
}

static void read_pid(live *lv)
{
    char pidfile[PATH_MAX];
    path_in(lv, "qemu.pid", pidfile);
    _cleanup_fclose_ FILE *pf = fopen(pidfile, "re");
    if (pf == NULL || fscanf(pf, "%d", &lv->pid) != 1)
        fail_msg("QEMU wrote no pid to '%s'", pidfile);
}

/* Starts QEMU paused with the argv of `host` + the launch, then checks
 * the pid file, QMP, VNC and the SSH forward.  Teardown kills it. */
static void launch(live *lv, const host_facts *host, const char *arch, bool kernel)
{
    if (!have_program(host_qemu_binary(arch))) {
        print_message("skipped: %s is not installed\n", host_qemu_binary(arch));
        skip();
    }
    launch_files *f = &lv->files;
    path_in(lv, "disk.qcow2", f->disk);
    path_in(lv, "seed.iso", f->seed);
    must_run((const char *[]){"qemu-img", "create", "-q", "-f", "qcow2", f->disk, "64M", NULL});
    static const char zeros[4096];
    write_bytes(f->seed, zeros, sizeof(zeros));
    qemu_launch vm = {.vm_id = "vm-live",
                      .name = "live,1",
                      .guest_arch = arch,
                      .vcpus = 2,
                      .memory_mib = 256,
                      .run_dir = lv->dir,
                      .disk_path = f->disk,
                      .seed_path = f->seed,
                      .ssh_port = free_tcp_port(),
                      .ssh_bind = "127.0.0.1"};
    boot_files(lv, &vm, kernel);
    _cleanup_error_ cu_error *err = NULL;
    _cleanup_cmd_ cu_cmd *cmd = qemu_command_new(host, &vm, &err);
    assert_non_null(cmd);
    cu_cmd_arg(cmd, "-S");
    cu_cmd_timeout(cmd, 60);
    if (cu_cmd_run(cmd, &err) < 0)
        fail_msg("QEMU refused the argv: %s", err->message);
    read_pid(lv);
    assert_int_equal(kill(lv->pid, 0), 0);
    char qmp[PATH_MAX], vnc[PATH_MAX];
    path_in(lv, "qmp.sock", qmp);
    path_in(lv, "vnc.sock", vnc);
    check_qmp(qmp);
    check_vnc_and_ssh_forward(vnc, vm.ssh_port);
}

static void live_x86_64_tcg_uefi(void **state)
{
    live *lv = *state;
    host_facts h = lv->host;
    h.kvm = false; /* case x86_64-tcg-uefi's shape, whatever this host has */
    launch(lv, &h, "x86_64", false);
}

static void live_x86_64_tcg_kernel(void **state)
{
    live *lv = *state;
    host_facts h = lv->host;
    h.kvm = false;
    launch(lv, &h, "x86_64", true);
}

static void live_aarch64_tcg_uefi(void **state)
{
    live *lv = *state;
    if (strcmp(lv->host.arch, "aarch64") == 0)
        skip(); /* would not be TCG here */
    launch(lv, &lv->host, "aarch64", false);
}

static void live_native_accelerated(void **state)
{
    live *lv = *state;
    if (!lv->host.kvm && !lv->host.hvf) {
        print_message("skipped: no KVM or HVF on this host\n");
        skip();
    }
    launch(lv, &lv->host, lv->host.arch, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(live_x86_64_tcg_uefi, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_x86_64_tcg_kernel, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_aarch64_tcg_uefi, live_setup, live_teardown),
        cmocka_unit_test_setup_teardown(live_native_accelerated, live_setup, live_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
