/* daemon.c: see daemon.h. */
#define _GNU_SOURCE
#include "daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "service_notify.h"

static void daemon_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

void cu_daemon_block_signals(void)
{
    sigset_t set;
    daemon_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cu_daemon_wait_stop(void)
{
    sigset_t set;
    daemon_signals(&set);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig != SIGHUP) {
            cu_notify_stopping();
            return sig;
        }
        if (cu_log_reopen() < 0)
            log_error("cannot reopen the log file '%s': %s; still writing to the old one",
                      cu_log_file(), strerror(errno));
        else if (cu_log_file())
            log_info("log file '%s' reopened (SIGHUP)", cu_log_file());
    }
}

int cu_daemon_configure(const cu_config_spec *spec, int argc, char **argv, cu_config **cfg)
{
    cu_error *err = NULL;
    int r = cu_config_load(spec, argc, argv, cfg, &err);
    if (r == CU_CONFIG_EXIT_OK)
        return 0;
    if (r == CU_CONFIG_ERROR || cu_log_set_level_name(cu_config_get(*cfg, "log-level")) < 0) {
        fprintf(stderr, "%s: %s\n", spec->program,
                err ? err->message : "log-level must be debug, info, warn or error");
        cu_error_free(err);
        cu_config_free(*cfg);
        *cfg = NULL;
        return 2;
    }
    const char *log_file = cu_config_get(*cfg, "log-file");
    if (log_file && *log_file && cu_log_open_file(log_file) < 0) {
        fprintf(stderr, "%s: log-file: cannot open '%s' for appending: %s\n", spec->program,
                log_file, strerror(errno));
        cu_config_free(*cfg);
        *cfg = NULL;
        return 2;
    }
    return -1;
}

int cu_daemon_main(const cu_config_spec *spec, int argc, char **argv,
                   int (*run)(const cu_config *cfg, cu_error **err))
{
    cu_log_init(spec->program);
    cu_daemon_block_signals();
    cu_config *cfg = NULL;
    int r = cu_daemon_configure(spec, argc, argv, &cfg);
    if (r >= 0)
        return r;
    cu_error *err = NULL;
    r = run(cfg, &err);
    if (r < 0)
        log_error("%s", err ? err->message : "failed");
    cu_error_free(err);
    cu_config_free(cfg);
    return r < 0 ? 1 : 0;
}
