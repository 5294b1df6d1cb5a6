/* daemon.h: what every daemon's main() does the same way: signals blocked
 * in all threads and taken with sigwait (no handler ever runs in the middle
 * of a request), configuration with --help/--version, the log level. */
#ifndef CUMULUS_DAEMON_H
#define CUMULUS_DAEMON_H

#include "config.h"

/* The settings every daemon has for its log; ENV is its variables' prefix. */
#define CU_LOG_CONFIG_KEYS(ENV)                                                                    \
    {"log-level", ENV "_LOG_LEVEL", "info", "debug, info, warn or error"},                         \
    {                                                                                              \
        "log-file", ENV "_LOG_FILE", NULL,                                                         \
            "append the log to this file, reopened on SIGHUP (default: standard error, which "     \
            "systemd sends to the journal)"                                                        \
    }

/* Call first, before any thread starts: blocks SIGINT, SIGTERM and SIGHUP, ignores
 * SIGPIPE (a peer hanging up is an error to handle, not a reason to die). */
void cu_daemon_block_signals(void);
/* Sleeps until SIGINT or SIGTERM, reopening the log file on each SIGHUP,
 * then tells the service manager the
 * daemon is stopping (service_notify.h); returns which signal.  A daemon
 * calls cu_notify_ready() once it serves. */
int cu_daemon_wait_stop(void);
/* Loads the configuration, sets the log level from its "log-level" and
 * sends the log to "log-file" if set.
 * Returns -1 to go on (*cfg set), else the exit status for main: 0 after
 * --help or --version, 2 on a configuration error (already printed). */
int cu_daemon_configure(const cu_config_spec *spec, int argc, char **argv, cu_config **cfg);

/* A daemon's whole main(): the log named after the program, the signals,
 * the configuration, then run(cfg), whose error is logged.  Returns the
 * exit status: 0, 1 when run failed, or cu_daemon_configure's. */
int cu_daemon_main(const cu_config_spec *spec, int argc, char **argv,
                   int (*run)(const cu_config *cfg, cu_error **err));

#endif
