/* cmd.c: see cmd.h. */
#define _GNU_SOURCE
#include "cmd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "loop.h"

#define CAPTURE_MAX (1u << 20)

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

typedef struct outbuf {
    char *data;
    size_t len;
} outbuf;

struct cu_cmd {
    strvec argv, env;
    unsigned timeout;
    outbuf out, err;
    int status; /* exit status, -1 if signalled */
};

static void strvec_push(strvec *s, char *owned)
{
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = realloc(s->v, s->cap * sizeof(char *));
        if (s->v == NULL)
            abort();
    }
    s->v[s->n++] = owned;
    s->v[s->n] = NULL;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

cu_cmd *cu_cmd_new(const char *program)
{
    cu_cmd *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    strvec_push(&c->argv, xstrdup(program));
    const char *path = getenv("PATH");
    char *p = NULL;
    if (asprintf(&p, "PATH=%s", path ? path : "/usr/local/bin:/usr/bin:/bin") < 0)
        abort();
    strvec_push(&c->env, p);
    strvec_push(&c->env, xstrdup("LANG=C"));
    /* Sanitizer settings follow the daemon into the tools it runs. */
    for (const char *const *k = (const char *const[]){"ASAN_OPTIONS", "UBSAN_OPTIONS", "HOME", NULL};
         *k; k++) {
        const char *v = getenv(*k);
        if (v)
            cu_cmd_env(c, *k, v);
    }
    c->status = -1;
    return c;
}

void cu_cmd_arg(cu_cmd *c, const char *arg)
{
    strvec_push(&c->argv, xstrdup(arg));
}

void cu_cmd_argf(cu_cmd *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    strvec_push(&c->argv, s);
}

void cu_cmd_env(cu_cmd *c, const char *name, const char *value)
{
    char *s = NULL;
    if (asprintf(&s, "%s=%s", name, value) < 0)
        abort();
    strvec_push(&c->env, s);
}

void cu_cmd_timeout(cu_cmd *c, unsigned seconds)
{
    c->timeout = seconds;
}

char *const *cu_cmd_argv(const cu_cmd *c)
{
    return c->argv.v;
}

static int needs_quotes(const char *s)
{
    if (*s == '\0')
        return 1;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr("-_./=:,@+%", *s)))
            return 1;
    return 0;
}

char *cu_cmd_to_string(const cu_cmd *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        abort();
    for (size_t i = 0; i < c->argv.n; i++) {
        const char *a = c->argv.v[i];
        if (i)
            fputc(' ', f);
        if (!needs_quotes(a)) {
            fputs(a, f);
            continue;
        }
        fputc('\'', f);
        for (; *a; a++)
            *a == '\'' ? fputs("'\\''", f) : fputc(*a, f);
        fputc('\'', f);
    }
    fclose(f);
    return buf;
}

/* In the child: stdio, fds, exec.  Only async-signal-safe calls.  `in_r`
 * < 0 reads /dev/null. */
static void child_exec(cu_cmd *c, int in_r, int out_w, int err_w)
{
    int in = in_r >= 0 ? in_r : open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
        _exit(127);
    closefrom(3);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    execvpe(c->argv.v[0], c->argv.v, c->env.v);
    const char msg[] = "exec failed: program not found or not executable\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(127);
}

/* An empty, NUL-terminated buffer (a command may print nothing). */
static void reset(outbuf *b)
{
    free(b->data);
    b->data = calloc(1, 1);
    if (b->data == NULL)
        abort();
    b->len = 0;
}

static void append(outbuf *b, const char *data, size_t n)
{
    if (b->len + n > CAPTURE_MAX)
        n = CAPTURE_MAX - b->len;
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL)
        abort();
    memcpy(grown + b->len, data, n);
    b->data = grown;
    b->len += n;
    b->data[b->len] = '\0';
}

/* Reads both pipes until they close (or the timeout passes: kill). */
static int pump(cu_cmd *c, pid_t pid, int out_r, int err_r)
{
    struct pollfd fds[2] = {{.fd = out_r, .events = POLLIN}, {.fd = err_r, .events = POLLIN}};
    outbuf *bufs[2] = {&c->out, &c->err};
    int open_fds = 2, killed = 0;
    double deadline = c->timeout ? cu_monotonic_s() + c->timeout : 0;
    char chunk[8192];
    while (open_fds > 0) {
        int r = poll(fds, 2, 200);
        if (r < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(fds[i].fd, chunk, sizeof(chunk));
            if (n > 0) {
                append(bufs[i], chunk, (size_t)n);
            } else if (n == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
        if (deadline && !killed && cu_monotonic_s() > deadline) {
            kill(pid, SIGKILL);
            killed = 1;
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    return killed;
}

/* The last `max` bytes of captured output, without trailing newlines (in
 * place: the capture is not read again as a whole). */
static const char *tail(char *s, size_t max)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return n > max ? s + n - max : s;
}

int cu_cmd_run(cu_cmd *c, cu_error **err)
{
    _cleanup_free_ char *line = cu_cmd_to_string(c);
    log_debug("running: %s", line);
    reset(&c->out);
    reset(&c->err);
    int out_p[2], err_p[2];
    if (pipe2(out_p, O_CLOEXEC) < 0)
        return cu_error_errno(err, errno, "cannot run '%s': pipe", c->argv.v[0]);
    if (pipe2(err_p, O_CLOEXEC) < 0) {
        close(out_p[0]);
        close(out_p[1]);
        return cu_error_errno(err, errno, "cannot run '%s': pipe", c->argv.v[0]);
    }
    pid_t pid = fork();
    if (pid == 0)
        child_exec(c, -1, out_p[1], err_p[1]);
    close(out_p[1]);
    close(err_p[1]);
    if (pid < 0) {
        close(out_p[0]);
        close(err_p[0]);
        return cu_error_errno(err, errno, "cannot run '%s': fork", c->argv.v[0]);
    }
    int killed = pump(c, pid, out_p[0], err_p[0]);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    c->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    if (c->status == 0)
        return 0;
    const char *why = c->err.len ? tail(c->err.data, 2000) : tail(c->out.data, 2000);
    if (killed)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "'%s' did not finish within %u s: %s",
                            c->argv.v[0], c->timeout, why);
    if (WIFSIGNALED(ws))
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "'%s' was killed by signal %d: %s",
                            c->argv.v[0], WTERMSIG(ws), why);
    return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "'%s' failed (exit status %d): %s",
                        c->argv.v[0], c->status, why);
}

pid_t cu_cmd_start(cu_cmd *c, int in_fd, int out_fd, cu_error **err)
{
    _cleanup_free_ char *line = cu_cmd_to_string(c);
    log_debug("starting: %s", line);
    reset(&c->out);
    reset(&c->err);
    _cleanup_close_ int devnull = -1;
    if (out_fd < 0 && (out_fd = devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
        return cu_error_errno(err, errno, "cannot run '%s': /dev/null", c->argv.v[0]);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(c, in_fd, out_fd, out_fd);
    if (pid < 0)
        return cu_error_errno(err, errno, "cannot run '%s': fork", c->argv.v[0]);
    return pid;
}

const char *cu_cmd_stdout(const cu_cmd *c)
{
    return c->out.data ? c->out.data : "";
}

const char *cu_cmd_stderr(const cu_cmd *c)
{
    return c->err.data ? c->err.data : "";
}

int cu_cmd_exit_status(const cu_cmd *c)
{
    return c->status;
}

static void strvec_free(strvec *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

void cu_cmd_free(cu_cmd *c)
{
    if (c == NULL)
        return;
    strvec_free(&c->argv);
    strvec_free(&c->env);
    free(c->out.data);
    free(c->err.data);
    free(c);
}

void cu_cmd_freep(cu_cmd **c)
{
    cu_cmd_free(*c);
    *c = NULL;
}
