/* service_notify.c: see service_notify.h.  Must not keep a socket open or
 * change the environment: the agent's children (QEMU) must not notice. */
#define _GNU_SOURCE
#include "service_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef CUMULUS_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "cleanup.h"
#include "log.h"

#ifndef MSG_NOSIGNAL /* macOS: SIGPIPE is ignored by every daemon anyway */
#define MSG_NOSIGNAL 0
#endif

/* Fills `addr` for `name`; returns the address length, or -1. */
static int notify_address(const char *name, struct sockaddr_un *addr, socklen_t *len,
                          cu_error **err)
{
    size_t n = strlen(name);
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (name[0] != '/' && name[0] != '@')
        return cu_error_set(err, 500, CU_E_CONFIG, NULL,
                            "NOTIFY_SOCKET '%s' must be an absolute path or an abstract '@' name",
                            name);
    if (n < 2 || n >= sizeof(addr->sun_path))
        return cu_error_set(err, 500, CU_E_CONFIG, NULL,
                            "NOTIFY_SOCKET '%s' must be 2 to %zu characters long", name,
                            sizeof(addr->sun_path) - 1);
    memcpy(addr->sun_path, name, n);
    if (name[0] == '@')
        addr->sun_path[0] = '\0'; /* Linux's abstract namespace: no file, no trailing NUL */
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (name[0] == '/'));
    return 0;
}

int cu_notify_send(const char *socket_name, const char *state, cu_error **err)
{
    struct sockaddr_un addr;
    socklen_t len = 0;
    if (notify_address(socket_name, &addr, &len, err) < 0)
        return -1;
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0)
        return cu_error_errno(err, errno, "cannot open a socket to NOTIFY_SOCKET '%s'",
                              socket_name);
    ssize_t sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, len);
    if (sent < 0)
        return cu_error_errno(err, errno, "cannot send '%s' to NOTIFY_SOCKET '%s'", state,
                              socket_name);
    if ((size_t)sent != strlen(state))
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "NOTIFY_SOCKET '%s' took %zd of the %zu bytes of '%s'", socket_name,
                            sent, strlen(state), state);
    return 0;
}

int cu_notify(const char *state, cu_error **err)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (name == NULL || name[0] == '\0')
        return 0;
#ifdef CUMULUS_HAVE_LIBSYSTEMD
    int r = sd_notify(0, state);
    if (r < 0)
        return cu_error_errno(err, -r, "cannot send '%s' to NOTIFY_SOCKET '%s'", state, name);
    return 0;
#else
    return cu_notify_send(name, state, err);
#endif
}

static void notify_or_warn(const char *state)
{
    cu_error *err = NULL;
    if (cu_notify(state, &err) < 0)
        log_warn("telling the service manager: %s", err->message);
    cu_error_free(err);
}

void cu_notify_ready(void)
{
    notify_or_warn("READY=1");
}

void cu_notify_stopping(void)
{
    notify_or_warn("STOPPING=1");
}
