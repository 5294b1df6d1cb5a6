/* run_ssh.c: a run's SSH sessions with its guest, each an `ssh` spawned
 * from an argv (common/cmd.h), never a shell on this side.  What runs in
 * the guest is a command line for the login user's shell there: the
 * run's own command verbatim, and for a copy a line made only of quoted
 * paths that run_request.c allowed (no quote can appear in them).
 *
 * Every ssh is watched by this thread (waitpid WNOHANG between short
 * sleeps) and killed on its deadline, on a cancel or at shutdown, so no
 * session outlives its reason.  Host keys are not checked: the guest is
 * brand new and ours, reached on the host's forwarded port. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "cmd.h"
#include "log.h"
#include "loop.h"
#include "run_private.h"
#include "runs.h"

#define PORT_WAIT_S 180      /* after the guest said it is ready */
#define HANDSHAKE_WAIT_S 180 /* after the port first answered */
#define HANDSHAKE_TRY_S 30   /* one attempt */
#define COPY_S 300           /* one file */

static cu_cmd *ssh_cmd(run_ctx *r)
{
    cu_cmd *c = cu_cmd_new("ssh");
    static const char *const opts[] = {"BatchMode=yes",
                                       "StrictHostKeyChecking=no",
                                       "UserKnownHostsFile=/dev/null",
                                       "GlobalKnownHostsFile=/dev/null",
                                       "IdentitiesOnly=yes",
                                       "ConnectTimeout=10",
                                       "ServerAliveInterval=15",
                                       "ServerAliveCountMax=4",
                                       "LogLevel=ERROR",
                                       NULL};
    cu_cmd_arg(c, "-F");
    cu_cmd_arg(c, "/dev/null");
    cu_cmd_arg(c, "-T");
    cu_cmd_arg(c, "-i");
    cu_cmd_argf(c, "%s/id_ed25519", r->dir);
    cu_cmd_arg(c, "-p");
    cu_cmd_argf(c, "%lld", r->port);
    for (const char *const *o = opts; *o; o++) {
        cu_cmd_arg(c, "-o");
        cu_cmd_arg(c, *o);
    }
    cu_cmd_arg(c, "--"); /* nothing after this is an option of ssh's */
    cu_cmd_argf(c, "%s@%s", r->user, r->host);
    return c;
}

enum ended { ENDED_EXIT, ENDED_DEADLINE, ENDED_CANCELLED, ENDED_SHUTDOWN };

/* Waits for the child, killing it at `deadline` or when interrupted. */
static enum ended watch(run_ctx *r, pid_t pid, double deadline, int *status)
{
    for (;;) {
        int ws = 0;
        pid_t w = waitpid(pid, &ws, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) {
            *status = w == pid && WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
            return ENDED_EXIT;
        }
        enum run_stop why = run_interrupted(r);
        if (why != RUN_GO || cu_monotonic_s() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
                ;
            *status = -1;
            return why == RUN_CANCELLED  ? ENDED_CANCELLED
                   : why == RUN_SHUTDOWN ? ENDED_SHUTDOWN
                                         : ENDED_DEADLINE;
        }
        run_sleep(r, 100);
    }
}

static int interrupted_error(enum run_stop why, cu_error **err)
{
    return why == RUN_CANCELLED
               ? cu_error_set(err, 409, RUN_E_CANCELLED, NULL, "cancelled by a DELETE of the run")
               : cu_error_set(err, 503, RUN_E_INTERRUPTED, NULL,
                              "interrupted: the control plane stopped");
}

/* The last line ssh wrote to ssh.log (its reason), or "" (static). */
static const char *ssh_said(run_ctx *r)
{
    static __thread char buf[512];
    _cleanup_free_ char *path = run_path(r->app, r->id, "ssh.log");
    _cleanup_fclose_ FILE *f = fopen(path, "r");
    buf[0] = '\0';
    char line[512];
    while (f && fgets(line, sizeof(line), f))
        if (line[0] != '\n')
            snprintf(buf, sizeof(buf), "%s", line);
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf;
}

/* Runs one short ssh whose words go to ssh.log: its exit status, or -1
 * when it was killed (*how says why) or could not start (*err set). */
static int run_short(run_ctx *r, cu_cmd *c, int in_fd, unsigned seconds, enum ended *how,
                     cu_error **err)
{
    _cleanup_free_ char *log = run_path(r->app, r->id, "ssh.log");
    _cleanup_close_ int out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0)
        return cu_error_errno(err, errno, "opening '%s'", log);
    pid_t pid = cu_cmd_start(c, in_fd, out, err);
    if (pid < 0)
        return -1;
    int status = -1;
    *how = watch(r, pid, cu_monotonic_s() + seconds, &status);
    return status;
}

/* 1 once a TCP connection to host:port succeeds, 0 not yet. */
static int port_open(const char *host, long long port)
{
    char service[16];
    snprintf(service, sizeof(service), "%lld", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, service, &hints, &ai) != 0)
        return 0;
    int ok = 0;
    for (struct addrinfo *a = ai; a && !ok; a = a->ai_next) {
        _cleanup_close_ int fd =
            socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            ok = 1;
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        ok = errno == EINPROGRESS && poll(&p, 1, 1000) == 1 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0;
    }
    freeaddrinfo(ai);
    return ok;
}

static int wait_port(run_ctx *r, cu_error **err)
{
    double deadline = cu_monotonic_s() + PORT_WAIT_S;
    while (!port_open(r->host, r->port)) {
        enum run_stop why = run_interrupted(r);
        if (why != RUN_GO)
            return interrupted_error(why, err);
        if (cu_monotonic_s() >= deadline)
            return cu_error_set(err, 504, "ssh_timeout", NULL,
                                "the guest's SSH port %s:%lld took no connection within %d s",
                                r->host, r->port, PORT_WAIT_S);
        run_sleep(r, 500);
    }
    return 0;
}

/* User-mode networking accepts a connection before the guest's sshd
 * answers, so a session may fail for a while after the port opened. */
static int wait_handshake(run_ctx *r, cu_error **err)
{
    double deadline = cu_monotonic_s() + HANDSHAKE_WAIT_S;
    for (int attempt = 1;; attempt++) {
        _cleanup_cmd_ cu_cmd *c = ssh_cmd(r);
        cu_cmd_arg(c, "true");
        enum ended how;
        int status = run_short(r, c, -1, HANDSHAKE_TRY_S, &how, err);
        if (status == 0) {
            log_info("run '%s': SSH works (attempt %d)", r->id, attempt);
            return 0;
        }
        if (*err)
            return -1;
        enum run_stop why = run_interrupted(r);
        if (why != RUN_GO)
            return interrupted_error(why, err);
        if (cu_monotonic_s() >= deadline)
            return cu_error_set(err, 504, "ssh_timeout", NULL,
                                "no SSH session with the guest at %s@%s:%lld within %d s (%d "
                                "attempts); ssh said: '%s'",
                                r->user, r->host, r->port, HANDSHAKE_WAIT_S, attempt, ssh_said(r));
        run_sleep(r, 2000);
    }
}

int run_ssh_wait_ready(run_ctx *r, cu_error **err)
{
    if (wait_port(r, err) < 0)
        return -1;
    return wait_handshake(r, err);
}

int run_ssh_copy(run_ctx *r, const char *local, const char *remote, const char *mode,
                 cu_error **err)
{
    _cleanup_close_ int in = open(local, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return cu_error_errno(err, errno, "opening '%s'", local);
    _cleanup_free_ char *copy = strdup(remote);
    _cleanup_free_ char *line = NULL;
    const char *dir = strchr(remote, '/') ? dirname(copy) : ".";
    /* Quoted with ' and no path holds one (run_request.c). */
    if (asprintf(&line, "mkdir -p -- '%s' && cat > '%s' && chmod %s -- '%s'", dir, remote, mode,
                 remote) < 0)
        abort();
    _cleanup_cmd_ cu_cmd *c = ssh_cmd(r);
    cu_cmd_arg(c, line);
    enum ended how;
    int status = run_short(r, c, in, COPY_S, &how, err);
    if (status == 0)
        return 0;
    if (*err)
        return -1;
    if (how == ENDED_CANCELLED || how == ENDED_SHUTDOWN)
        return interrupted_error(how == ENDED_CANCELLED ? RUN_CANCELLED : RUN_SHUTDOWN, err);
    if (how == ENDED_DEADLINE)
        return cu_error_set(err, 504, "copy_failed", "files",
                            "copying '%s' into the guest did not finish within %d s", remote,
                            COPY_S);
    return cu_error_set(err, 502, "copy_failed", "files",
                        "copying '%s' into the guest failed (exit status %d): %s", remote, status,
                        ssh_said(r));
}

int run_ssh_command(run_ctx *r, const char *command, cu_error **err)
{
    _cleanup_free_ char *log = run_path(r->app, r->id, "output.log");
    _cleanup_close_ int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out < 0)
        return cu_error_errno(err, errno, "opening '%s'", log);
    _cleanup_cmd_ cu_cmd *c = ssh_cmd(r);
    cu_cmd_arg(c, command);
    pid_t pid = cu_cmd_start(c, -1, out, err);
    if (pid < 0)
        return -1;
    int status = -1;
    enum ended how = watch(r, pid, cu_monotonic_s() + (double)r->timeout_s, &status);
    switch (how) {
    case ENDED_EXIT:
        if (status < 0)
            return cu_error_set(err, 502, "ssh_failed", NULL,
                                "the SSH session running the command was killed by a signal");
        return status;
    case ENDED_DEADLINE:
        return cu_error_set(err, 504, RUN_E_TIMEOUT, "timeout",
                            "the command did not finish within the run's timeout of %lld s; it "
                            "was killed",
                            r->timeout_s);
    case ENDED_CANCELLED:
        return interrupted_error(RUN_CANCELLED, err);
    default:
        return interrupted_error(RUN_SHUTDOWN, err);
    }
}
