/* console_serial.c: viewers of a VM's serial console.
 *
 * QEMU's serial port is a socket chardev (RUN_DIR/serial.sock) that also
 * writes everything the guest prints to RUN_DIR/serial.log.  A socket
 * chardev takes one client at a time, so the VM's viewers share one
 * connection, its "line", opened with the first viewer and closed with
 * the last:
 *
 *  - What the guest prints, each viewer reads from serial.log at its own
 *    offset, starting with the last SCROLLBACK bytes (from a line start).
 *    A slow viewer only falls behind in the file: no buffer grows, and
 *    the others do not wait for it.  What arrives on the line is read and
 *    dropped (the log has it), and tells the viewers to look; QEMU writes
 *    the log just after the socket, so a viewer that finds nothing new
 *    right then looks again RECHECK_US later.
 *  - What a viewer types goes to the line from the viewer's own buffer,
 *    one buffer in flight per viewer, as for VNC.
 *  - When the line closes (QEMU went), every viewer gets what is left in
 *    the log, then a close. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_metrics.h"
#include "console_session.h"
#include "log.h"
#include "vm_proc.h"

#define SCROLLBACK (64 * 1024)
#define RECHECK_US (50 * 1000)

struct serial_line {
    char vm_id[64];
    struct lws *wsi;          /* the VM's serial socket, adopted raw */
    console_session *viewers; /* linked by next_on_line */
    serial_line *next;        /* in the proxy's list */
};

static serial_line *find_line(console_proxy *p, const char *id)
{
    for (serial_line *l = p->lines; l; l = l->next)
        if (strcmp(l->vm_id, id) == 0)
            return l;
    return NULL;
}

static void forget_line(console_proxy *p, serial_line *line)
{
    for (serial_line **l = &p->lines; *l; l = &(*l)->next)
        if (*l == line) {
            *l = line->next;
            break;
        }
    free(line);
}

int console_serial_admit(console_proxy *p, console_session *s)
{
    char path[PATH_MAX];
    vm_path(p->a, s->vm_id, "serial.log", path, sizeof(path));
    if ((s->log_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    s->has_log = 1;
    if (find_line(p, s->vm_id))
        return 0;
    if ((s->vm_fd = console_connect_vm_socket(p->a, s->vm_id, "serial.sock")) < 0)
        return -1;
    s->has_fd = 1;
    return 0;
}

/* The offset a new viewer starts reading the log at: the start of the
 * first whole line of its last SCROLLBACK bytes. */
static off_t scrollback_start(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size <= SCROLLBACK)
        return 0;
    off_t off = st.st_size - SCROLLBACK;
    char buf[1024];
    ssize_t n = pread(fd, buf, sizeof(buf), off);
    const char *nl = n > 0 ? memchr(buf, '\n', (size_t)n) : NULL;
    return nl ? off + (nl - buf) + 1 : off;
}

/* Joins the VM's line, opening it with the socket connected at admission
 * when this is its first viewer: 0, or -1. */
static int join_line(struct lws *wsi, console_session *s)
{
    console_proxy *p = console_proxy_of(wsi);
    serial_line *line = find_line(p, s->vm_id);
    if (line && s->has_fd) { /* another viewer opened it meanwhile */
        close(s->vm_fd);
        s->has_fd = 0;
    }
    if (line == NULL) {
        if (!s->has_fd) {
            log_warn("console: VM %s: its serial line closed as a viewer came", s->vm_id);
            return -1;
        }
        line = calloc(1, sizeof(*line));
        if (line == NULL)
            abort();
        snprintf(line->vm_id, sizeof(line->vm_id), "%s", s->vm_id);
        lws_sock_file_fd_type fd = {.sockfd = s->vm_fd};
        s->has_fd = 0; /* lws's now, adopted or closed */
        line->wsi = lws_adopt_descriptor_vhost(lws_get_vhost(wsi), LWS_ADOPT_SOCKET, fd,
                                               "cumulus-serial-socket", NULL);
        if (line->wsi == NULL) {
            log_error("console: VM %s: cannot add its serial socket to the event loop",
                      s->vm_id);
            free(line);
            return -1;
        }
        lws_set_opaque_user_data(line->wsi, line);
        line->next = p->lines;
        p->lines = line;
    }
    s->line = line;
    s->next_on_line = line->viewers;
    line->viewers = s;
    s->log_off = scrollback_start(s->log_fd);
    lws_callback_on_writable(wsi);
    return 0;
}

/* The viewer leaves its line; the last one closes it. */
static void leave_line(struct lws *wsi, console_session *s)
{
    serial_line *line = s->line;
    if (line == NULL)
        return;
    for (console_session **v = &line->viewers; *v; v = &(*v)->next_on_line)
        if (*v == s) {
            *v = s->next_on_line;
            break;
        }
    s->line = NULL;
    if (line->viewers == NULL) {
        lws_set_opaque_user_data(line->wsi, NULL);
        lws_set_timeout(line->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
        forget_line(console_proxy_of(wsi), line);
    }
}

/* Sends the viewer the next chunk of the log it has not seen. */
static int send_log(struct lws *wsi, console_session *s)
{
    ssize_t n = pread(s->log_fd, s->down + LWS_PRE, CONSOLE_CHUNK, s->log_off);
    if (n < 0) {
        log_error("console: VM %s: cannot read serial.log: %s", s->vm_id, strerror(errno));
        return -1;
    }
    if (n > 0) {
        if (lws_write(wsi, s->down + LWS_PRE, (size_t)n, LWS_WRITE_BINARY) < n)
            return -1;
        agent_metrics_console_bytes("serial", "to_viewer", (size_t)n);
        s->log_off += n;
        lws_callback_on_writable(wsi); /* there may be more */
        return 0;
    }
    if (s->vm_gone)
        return console_close_viewer(wsi, "the VM's serial console closed");
    if (s->line_spoke) { /* the line woke us before QEMU wrote the log */
        s->line_spoke = 0;
        lws_set_timer_usecs(wsi, RECHECK_US);
    }
    return 0;
}

int console_serial_viewer(struct lws *wsi, enum lws_callback_reasons reason, console_session *s,
                          void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        if (console_alloc_down(s, CONSOLE_CHUNK) < 0)
            return -1;
        agent_metrics_console_viewers("serial", 1); /* until CLOSED, which sees s->down */
        return join_line(wsi, s);
    case LWS_CALLBACK_RECEIVE:
        if (s->line == NULL || console_take_from_viewer(wsi, s, in, len) < 0)
            return -1;
        lws_callback_on_writable(s->line->wsi);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return send_log(wsi, s);
    case LWS_CALLBACK_TIMER:
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (s->down) /* counted in at ESTABLISHED */
            agent_metrics_console_viewers("serial", -1);
        leave_line(wsi, s);
        return 0;
    default:
        return 0;
    }
}

int console_serial_socket(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                          void *in, size_t len)
{
    (void)user, (void)in, (void)len;
    serial_line *line = lws_get_opaque_user_data(wsi);
    if (line == NULL)
        return reason == LWS_CALLBACK_RAW_RX || reason == LWS_CALLBACK_RAW_WRITEABLE ? -1 : 0;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX: /* dropped: the log has it; the viewers look */
        for (console_session *v = line->viewers; v; v = v->next_on_line) {
            v->line_spoke = 1;
            lws_callback_on_writable(v->wsi);
        }
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE: /* one viewer's keystrokes per write */
        for (console_session *v = line->viewers; v; v = v->next_on_line) {
            if (v->up_len == 0)
                continue;
            if (lws_write(wsi, v->up + LWS_PRE, v->up_len, LWS_WRITE_RAW) < (int)v->up_len)
                return -1;
            agent_metrics_console_bytes("serial", "to_vm", v->up_len);
            v->up_len = 0;
            lws_rx_flow_control(v->wsi, 1);
            lws_callback_on_writable(wsi); /* the others' turn */
            break;
        }
        return 0;
    case LWS_CALLBACK_RAW_CLOSE: /* QEMU closed it: the viewers finish the log */
        for (console_session *v = line->viewers; v; v = v->next_on_line) {
            v->vm_gone = 1;
            v->line = NULL;
            lws_callback_on_writable(v->wsi);
        }
        lws_set_opaque_user_data(wsi, NULL);
        forget_line(lws_context_user(lws_get_context(wsi)), line);
        return 0;
    default:
        return 0;
    }
}

void console_serial_forget_lines(console_proxy *p)
{
    while (p->lines)
        forget_line(p, p->lines);
}
