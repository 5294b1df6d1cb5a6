/* service_notify.h: tells the service manager how the daemon is doing, by
 * systemd's notification protocol (sd_notify(3)): "READY=1" once it serves,
 * "STOPPING=1" when it begins to stop.  With libsystemd when the build
 * found it, else a datagram of our own to $NOTIFY_SOCKET; nothing at all
 * when NOTIFY_SOCKET is unset (started by hand, by launchd, by the tests).
 * A failure to notify is logged, never fatal: the daemon still works, and
 * systemd reports the timeout itself. */
#ifndef CUMULUS_SERVICE_NOTIFY_H
#define CUMULUS_SERVICE_NOTIFY_H

#include "error.h"

/* The daemon listens and serves. */
void cu_notify_ready(void);
/* The daemon begins to stop (a signal came). */
void cu_notify_stopping(void);

/* Sends `state` (lines of KEY=VALUE) to $NOTIFY_SOCKET; 0 when it is unset. */
int cu_notify(const char *state, cu_error **err);
/* The protocol itself, without libsystemd: one datagram to the unix socket
 * `socket_name`, an absolute path or an abstract name written "@name". */
int cu_notify_send(const char *socket_name, const char *state, cu_error **err);

#endif
