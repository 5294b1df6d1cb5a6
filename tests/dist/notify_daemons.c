/* notify_daemons: the daemons speak systemd's notification protocol.  Each
 * one, started from this build's bin/ with NOTIFY_SOCKET naming a unix
 * datagram socket bound here (a path for two, an abstract '@' name for the
 * third), must send READY=1 from its main pid only once its port answers,
 * then STOPPING=1 on SIGTERM, and exit 0.  The agent joins a control plane
 * started first, as a real one would.  Usage: notify_daemons BIN_DIR. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct daemon_run {
    const char *name;
    pid_t pid;
    int sock; /* where it notifies */
    char log[512];
} daemon_run;

static char tmp[256];
static const char *bin_dir;

static int fail(const daemon_run *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(const daemon_run *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL cumulus-%s: ", d->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    FILE *f = fopen(d->log, "r");
    char line[1024];
    fprintf(stderr, "--- its log ---\n");
    while (f && fgets(line, sizeof(line), f))
        fputs(line, stderr);
    if (f)
        fclose(f);
    return -1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Binds a datagram socket at `name` (a path, or "@name": abstract) that
 * receives each sender's credentials. */
static int bind_notify_socket(const char *name)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(addr.sun_path, name, n);
    if (name[0] == '@')
        addr.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), on = 1;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, len) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0) {
        fprintf(stderr, "FAIL: cannot bind the notify socket '%s': %s\n", name, strerror(errno));
        exit(1);
    }
    return fd;
}

/* Starts BIN_DIR/cumulus-NAME argv... with NOTIFY_SOCKET=notify, stdout and
 * stderr to its log. */
static int start(daemon_run *d, const char *name, const char *notify, char *const args[])
{
    char path[512], *argv[32] = {path};
    d->name = name;
    d->sock = bind_notify_socket(notify);
    snprintf(path, sizeof(path), "%s/cumulus-%s", bin_dir, name);
    snprintf(d->log, sizeof(d->log), "%s/%s.log", tmp, name);
    for (int i = 0; args[i] && i < 30; i++)
        argv[i + 1] = args[i];
    d->pid = fork();
    if (d->pid == 0) {
        int log = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(log, 1);
        dup2(log, 2);
        setenv("NOTIFY_SOCKET", notify, 1);
        execv(path, argv);
        fprintf(stderr, "cannot run '%s': %s\n", path, strerror(errno));
        _exit(127);
    }
    return d->pid > 0 ? 0 : fail(d, "cannot fork: %s", strerror(errno));
}

/* Waits up to `timeout_ms` for a datagram holding the line `want`, which
 * must come from the daemon's own pid. */
static int expect(daemon_run *d, const char *want, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(deadline - now_ms());
        struct pollfd p = {.fd = d->sock, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return fail(d, "no '%s' within %d ms", want, timeout_ms);
        char buf[4096];
        union {
            struct cmsghdr h;
            char space[CMSG_SPACE(sizeof(struct ucred))];
        } ctl;
        struct iovec iov = {buf, sizeof(buf) - 1};
        struct msghdr msg = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof(ctl)};
        ssize_t n = recvmsg(d->sock, &msg, 0);
        if (n < 0)
            return fail(d, "recvmsg: %s", strerror(errno));
        buf[n] = '\0';
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (c == NULL || c->cmsg_type != SCM_CREDENTIALS)
            return fail(d, "'%s' came without the sender's credentials", buf);
        struct ucred cred;
        memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        if (cred.pid != d->pid)
            return fail(d, "'%s' came from pid %d, not the daemon's %d (NotifyAccess=main)", buf,
                        (int)cred.pid, (int)d->pid);
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
            if (strcmp(line, want) == 0)
                return 0;
    }
}

/* The port the daemon logged ("... (port N)"), or 0. */
static int logged_port(const daemon_run *d)
{
    FILE *f = fopen(d->log, "r");
    char line[2048];
    int port = 0;
    while (f && fgets(line, sizeof(line), f)) {
        char *p = strstr(line, "listening on http://");
        if (p && (p = strstr(p, "(port ")) != NULL)
            port = atoi(p + 6);
    }
    if (f)
        fclose(f);
    return port;
}

/* Once READY=1 came, the port takes connections. */
static int expect_ready(daemon_run *d, int *port)
{
    if (expect(d, "READY=1", 60000) < 0)
        return -1;
    *port = logged_port(d);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r = *port > 0 ? connect(fd, (struct sockaddr *)&a, sizeof(a)) : -1;
    close(fd);
    if (r < 0)
        return fail(d, "said READY=1 but port %d takes no connection", *port);
    printf("ok cumulus-%s: READY=1 from pid %d, port %d answers\n", d->name, (int)d->pid, *port);
    return 0;
}

/* SIGTERM: STOPPING=1, then exit status 0 within 60 s. */
static int expect_clean_stop(daemon_run *d)
{
    kill(d->pid, SIGTERM);
    int r = expect(d, "STOPPING=1", 30000);
    long long deadline = now_ms() + 60000;
    int status = 0;
    pid_t w;
    while ((w = waitpid(d->pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
        usleep(50000);
    if (w == 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &status, 0);
        d->pid = 0;
        return fail(d, "still running 60 s after SIGTERM");
    }
    d->pid = 0;
    close(d->sock);
    if (r < 0)
        return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail(d, "exited with %s %d after SIGTERM, not 0",
                    WIFEXITED(status) ? "status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    printf("ok cumulus-%s: STOPPING=1, exit 0\n", d->name);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static daemon_run cp, agent, webui;

static int run(void)
{
    char sock[512], data[512], url[64], token[512], listen_cp[] = "127.0.0.1:0";
    int cp_port = 0, port = 0;
    snprintf(sock, sizeof(sock), "%s/cp.notify", tmp);
    snprintf(data, sizeof(data), "%s/cp", tmp);
    if (start(&cp, "controlplane", sock,
              (char *[]){"--listen", listen_cp, "--data-dir", data, NULL}) < 0 ||
        expect_ready(&cp, &cp_port) < 0)
        return -1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", cp_port);
    snprintf(token, sizeof(token), "%s/cp/join-token", tmp);
    snprintf(sock, sizeof(sock), "%s/agent.notify", tmp);
    snprintf(data, sizeof(data), "%s/agent", tmp);
    if (start(&agent, "agent", sock,
              (char *[]){"--control-plane", url, "--join-token-file", token, "--listen", listen_cp,
                         "--data-dir", data, "--name", "notify-test", "--vm-ports", "39900-39999",
                         NULL}) < 0 ||
        expect_ready(&agent, &port) < 0 || expect_clean_stop(&agent) < 0)
        return -1;
    /* The abstract namespace: no file; the name is unique to this run. */
    snprintf(sock, sizeof(sock), "@cumulus-notify-test-%d", (int)getpid());
    if (start(&webui, "webui", sock,
              (char *[]){"--listen", listen_cp, "--control-plane", url, NULL}) < 0 ||
        expect_ready(&webui, &port) < 0 || expect_clean_stop(&webui) < 0)
        return -1;
    return expect_clean_stop(&cp);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s BIN_DIR\n", argv[0]);
        return 2;
    }
    bin_dir = argv[1];
    snprintf(tmp, sizeof(tmp), "%s/cumulus-notify-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmp) == NULL) {
        fprintf(stderr, "FAIL: cannot make a temporary directory: %s\n", strerror(errno));
        return 1;
    }
    int r = run();
    daemon_run *all[] = {&agent, &webui, &cp};
    for (size_t i = 0; i < 3; i++)
        if (all[i]->pid > 0) {
            kill(all[i]->pid, SIGKILL);
            waitpid(all[i]->pid, NULL, 0);
        }
    nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return r < 0 ? 1 : 0;
}
