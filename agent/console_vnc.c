/* console_vnc.c: a viewer's websocket piped to the VM's VNC socket.
 *
 * The socket (connected at admission) is adopted as a raw child of the
 * websocket; its opaque user data points back to the session, and the
 * session clears it when the websocket goes, so the child never reaches a
 * freed session.  Towards the viewer, the buffer holds two reads: the
 * next is read while the last is written, and reading stops while it is
 * full; towards the VM, one buffer in flight (console_proxy.h). */
#include <string.h>

#include "agent_metrics.h"
#include "console_session.h"
#include "log.h"

static int adopt(struct lws *wsi, console_session *s)
{
    lws_sock_file_fd_type fd = {.sockfd = s->vm_fd};
    s->has_fd = 0; /* lws's now, adopted or closed */
    s->vm = lws_adopt_descriptor_vhost(lws_get_vhost(wsi), LWS_ADOPT_SOCKET, fd,
                                       "cumulus-vnc-socket", wsi);
    if (s->vm == NULL) {
        log_error("console: VM %s: cannot add its VNC socket to the event loop", s->vm_id);
        return -1;
    }
    lws_set_opaque_user_data(s->vm, s);
    return 0;
}

int console_vnc_viewer(struct lws *wsi, enum lws_callback_reasons reason, console_session *s,
                       void *in, size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        /* Two reads in flight and room for one more (lws may hand over
         * what it had read before the flow stopped). */
        if (console_alloc_down(s, 3 * CONSOLE_VNC_CHUNK) < 0)
            return -1;
        agent_metrics_console_viewers("vnc", 1); /* until CLOSED, which sees s->down */
        return adopt(wsi, s);
    case LWS_CALLBACK_RECEIVE:
        if (s->vm == NULL || console_take_from_viewer(wsi, s, in, len) < 0)
            return -1;
        lws_callback_on_writable(s->vm);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (s->down_len > 0) {
            if (lws_write(wsi, s->down + LWS_PRE, s->down_len, LWS_WRITE_BINARY) <
                (int)s->down_len)
                return -1;
            agent_metrics_console_bytes("vnc", "to_viewer", s->down_len);
            s->down_len = 0;
            if (s->vm)
                lws_rx_flow_control(s->vm, 1);
        }
        return s->vm_gone ? console_close_viewer(wsi, "the VM's screen closed") : 0;
    case LWS_CALLBACK_CLOSED:
        if (s->down) /* counted in at ESTABLISHED */
            agent_metrics_console_viewers("vnc", -1);
        if (s->vm) { /* the viewer went first: the VM's side goes too */
            lws_set_opaque_user_data(s->vm, NULL);
            lws_set_timeout(s->vm, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
            s->vm = NULL;
        }
        return 0;
    default:
        return 0;
    }
}

int console_vnc_socket(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    (void)user;
    console_session *s = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_RAW_RX:
        if (s == NULL || s->down_len + len > s->down_cap)
            return -1;
        memcpy(s->down + LWS_PRE + s->down_len, in, len);
        s->down_len += len;
        if (s->down_cap - s->down_len < 2 * CONSOLE_VNC_CHUNK)
            lws_rx_flow_control(wsi, 0); /* full: until the viewer has taken it */
        lws_callback_on_writable(lws_get_parent(wsi));
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE:
        if (s == NULL)
            return -1;
        if (s->up_len > 0) {
            if (lws_write(wsi, s->up + LWS_PRE, s->up_len, LWS_WRITE_RAW) < (int)s->up_len)
                return -1;
            agent_metrics_console_bytes("vnc", "to_vm", s->up_len);
            s->up_len = 0;
            lws_rx_flow_control(lws_get_parent(wsi), 1);
        }
        return 0;
    case LWS_CALLBACK_RAW_CLOSE:
        if (s) { /* QEMU closed it: the viewer gets what is left, then a close */
            s->vm = NULL;
            s->vm_gone = 1;
            lws_callback_on_writable(lws_get_parent(wsi));
        }
        return 0;
    default:
        return 0;
    }
}
