/* console_session.h: what the console proxy's parts share (inside the
 * agent only; console_proxy.h is the interface).
 *
 * console_proxy.c listens, admits a viewer (path, Origin, ticket) and
 * hands the session to its kind: console_vnc.c pipes it to the VM's VNC
 * socket, console_serial.c to its serial port.  Everything runs on the
 * proxy's one service thread, so nothing here is locked. */
#ifndef CUMULUS_AGENT_CONSOLE_SESSION_H
#define CUMULUS_AGENT_CONSOLE_SESSION_H

#include <libwebsockets.h>
#include <pthread.h>
#include <sys/types.h>

#include "agent.h"
#include "console_proxy.h"
#include "console_ticket.h"

#define CONSOLE_CHUNK (16 * 1024)      /* the most read from a viewer, or the log, at once */
#define CONSOLE_VNC_CHUNK (64 * 1024) /* the most read from a VNC socket at once */
#define CONSOLE_MAX_ORIGINS 16

typedef struct serial_line serial_line;

struct console_proxy {
    agent *a;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    pthread_t thread;
    _Atomic int stop;
    unsigned port;
    size_t norigins;
    char *origins[CONSOLE_MAX_ORIGINS];
    console_ticket_seen seen;
    serial_line *lines; /* console_serial.c: one per VM with serial viewers */
};

typedef enum { CONSOLE_VNC, CONSOLE_SERIAL } console_kind;

/* A viewer's session: lws's per-session data of the "binary" protocol. */
typedef struct console_session {
    console_kind kind;
    char vm_id[64];
    int vm_fd;       /* connected before the upgrade, until adopted */
    int has_fd;      /* vm_fd is ours to close (zeroed memory must not mean fd 0) */
    int vm_gone;     /* the VM's side closed: close the websocket once drained */
    unsigned char *down; /* bytes for the viewer (LWS_PRE first), down_cap of them */
    size_t down_cap, down_len;
    size_t up_len; /* bytes from the viewer for the VM */
    unsigned char up[LWS_PRE + 2 * CONSOLE_CHUNK];
    /* VNC: the VM's socket, adopted as a raw child of the websocket. */
    struct lws *vm;
    /* Serial: the VM's line (shared by its viewers), its log and how far
     * this viewer has read it. */
    serial_line *line;
    struct console_session *next_on_line;
    struct lws *wsi;
    int log_fd;
    int has_log;
    off_t log_off;
    int line_spoke; /* the line had news since this viewer last read the log */
} console_session;

console_proxy *console_proxy_of(struct lws *wsi);

/* A connected, non-blocking socket to RUN_DIR/<name> of VM `id`, or -1
 * (errno set). */
int console_connect_vm_socket(const agent *a, const char *id, const char *name);

/* Copies what the viewer sent into s->up and holds further reads from it
 * until the VM's side has taken it: 0, or -1 to close (it overran). */
int console_take_from_viewer(struct lws *wsi, console_session *s, const void *in, size_t len);

/* Gives the session a buffer for `cap` bytes to the viewer (a VNC one is
 * large: frames are; a serial one reads the log a chunk at a time): 0, or
 * -1 (logged). */
int console_alloc_down(console_session *s, size_t cap);

/* Sends the VM's side's close to the viewer, with `why`: always -1 (the
 * callback's "close this connection"). */
int console_close_viewer(struct lws *wsi, const char *why);

/* VNC (console_vnc.c): the session of an admitted viewer, after
 * ESTABLISHED; and the callback of the raw protocol of the VM's socket. */
int console_vnc_viewer(struct lws *wsi, enum lws_callback_reasons reason, console_session *s,
                       void *in, size_t len);
int console_vnc_socket(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len);

/* Serial (console_serial.c): admission (the line and log exist: 0, or -1
 * with errno), the viewer's session, and the raw protocol of the line. */
int console_serial_admit(console_proxy *p, console_session *s);
int console_serial_viewer(struct lws *wsi, enum lws_callback_reasons reason, console_session *s,
                          void *in, size_t len);
int console_serial_socket(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                          void *in, size_t len);
/* Frees the lines left once the context is gone (closing every connection
 * forgets them already; this is in case it did not). */
void console_serial_forget_lines(console_proxy *p);

#endif
