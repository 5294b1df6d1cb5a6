/* test_qmp_qemu.c: agent/qmp.c against a real QEMU 7.2 (-machine none,
 * TCG): handshake, query-status, query-version, quit with its SHUTDOWN
 * event, and the hang-up when QEMU exits. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "qmp.h"

/* ---- real QEMU -------------------------------------------------------------- */

typedef struct qemu_fixture {
    char dir[64];
    pid_t pid;
    qmp *q;
} qemu_fixture;

static int qemu_setup(void **state)
{
    qemu_fixture *qf = calloc(1, sizeof(*qf));
    if (qf == NULL)
        return -1;
    snprintf(qf->dir, sizeof(qf->dir), "/tmp/cumulus-qemu-XXXXXX");
    *state = qf;
    return mkdtemp(qf->dir) ? 0 : -1;
}

/* Alive and not a zombie: a daemonized QEMU is reaped by init, not by us. */
static bool proc_alive(pid_t pid)
{
    char path[64], stat[512] = "";
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    _cleanup_fclose_ FILE *f = pid > 0 && kill(pid, 0) == 0 ? fopen(path, "r") : NULL;
    if (f == NULL)
        return false;
    stat[fread(stat, 1, sizeof(stat) - 1, f)] = '\0';
    const char *p = strrchr(stat, ')');
    return p == NULL || strncmp(p, ") Z", 3) != 0;
}

static bool wait_dead(pid_t pid, int timeout_ms)
{
    for (int waited = 0; proc_alive(pid); waited += 50) {
        if (waited >= timeout_ms)
            return false;
        usleep(50 * 1000);
    }
    return true;
}

static int qemu_teardown(void **state)
{
    qemu_fixture *qf = *state;
    qmp_close(qf->q);
    if (proc_alive(qf->pid))
        kill(qf->pid, SIGKILL);
    wait_dead(qf->pid, 5000);
    char path[128];
    snprintf(path, sizeof(path), "%s/qmp.sock", qf->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/qemu.pid", qf->dir);
    unlink(path);
    rmdir(qf->dir);
    free(qf);
    return 0;
}

static bool in_path(const char *name)
{
    _cleanup_free_ char *dirs = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", d, name);
        if (access(path, X_OK) == 0)
            return true;
    }
    return false;
}

/* Starts QEMU with -daemonize (it returns once the QMP socket listens); its pid. */
static pid_t start_qemu(const char *dir)
{
    char qmp_arg[128], pidfile[128];
    snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s/qmp.sock,server=on,wait=off", dir);
    snprintf(pidfile, sizeof(pidfile), "%s/qemu.pid", dir);
    const char *argv[] = {"qemu-system-x86_64", "-accel",   "tcg",   "-machine", "none",
                          "-nodefaults",        "-display", "none",  "-qmp",     qmp_arg,
                          "-daemonize",         "-pidfile", pidfile, NULL};
    pid_t child = fork();
    if (child == 0) {
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return -1;
    _cleanup_fclose_ FILE *f = fopen(pidfile, "r");
    int pid = -1;
    return f && fscanf(f, "%d", &pid) == 1 ? (pid_t)pid : -1;
}

static void test_real_qemu(void **state)
{
    qemu_fixture *qf = *state;
    if (!in_path("qemu-system-x86_64"))
        skip();
    qf->pid = start_qemu(qf->dir);
    assert_true(qf->pid > 0);
    char sock[128], status[32];
    snprintf(sock, sizeof(sock), "%s/qmp.sock", qf->dir);
    _cleanup_error_ cu_error *err = NULL;
    qmp *q = qf->q = qmp_connect(sock, 10000, &err);
    if (q == NULL)
        fail_msg("%s", err->message);
    /* QEMU 7.2 with -machine none reports "running" (no guest to prelaunch) */
    assert_int_equal(qmp_query_status(q, status, sizeof(status), 10000, &err), 0);
    assert_string_equal(status, "running");
    json_auto_t *v = qmp_execute(q, "query-version", NULL, 10000, &err);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "qemu"), "major")), 7);
    /* quit: QEMU sends SHUTDOWN, then the reply, then closes the socket */
    json_auto_t *r = qmp_execute(q, "quit", NULL, 10000, &err);
    if (r == NULL)
        fail_msg("%s", err->message);
    assert_int_equal(qmp_wait_event(q, "SHUTDOWN", 0, &err), 1);
    assert_int_equal(qmp_wait_event(q, "SHUTDOWN", 10000, &err), 1); /* the hang-up */
    qmp_close(steal_ptr(&qf->q));
    assert_true(wait_dead(qf->pid, 5000));
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_real_qemu, qemu_setup, qemu_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
