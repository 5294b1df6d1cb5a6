/* run_private.h: what the run modules share (runs.c keeps the workers,
 * run_worker.c is one worker's work, run_ssh.c drives ssh).  Not for
 * handlers: they use runs.h. */
#ifndef CUMULUS_CP_RUN_PRIVATE_H
#define CUMULUS_CP_RUN_PRIVATE_H

#include <sys/types.h>

#include "app.h"
#include "error.h"

/* Why a worker must stop what it is doing (run_interrupted). */
enum run_stop { RUN_GO = 0, RUN_CANCELLED = 1, RUN_SHUTDOWN = 2 };

typedef struct run_ctx {
    cp_app *app;
    char *id, *dir; /* the run, DATA_DIR/runs/<id> */
    char *vm_id, *op_id;
    long long timeout_s;
    int cleanup_only; /* picked up after a restart: only destroy the VM and end */
    int cancel;       /* set by runs_cancel, under the registry's lock */
    int destroying;   /* past cancelling: only the VM's destruction is left */
    /* Where SSH reaches the guest (from the VM once its guest is ready). */
    char *user, *host;
    long long port;
    struct run_ctx *next;
} run_ctx;

/* runs.c */
/* RUN_GO, or why to stop: a cancel, or the control plane stopping. */
enum run_stop run_interrupted(run_ctx *r);
/* Sleeps up to `ms`, less when interrupted; returns run_interrupted(). */
enum run_stop run_sleep(run_ctx *r, unsigned ms);
/* From now on a cancel changes nothing (the VM is being destroyed). */
void run_ignore_cancel(run_ctx *r);

/* run_worker.c: the thread's body (frees nothing; runs.c owns `r`). */
void run_work(run_ctx *r);

/* run_ssh.c */
/* Waits until the guest's SSH port takes a TCP connection, then until an
 * SSH session with the run's key works (the article's "port first, then a
 * handshake").  Errors: ssh_timeout; interrupted: code "interrupted". */
int run_ssh_wait_ready(run_ctx *r, cu_error **err);
/* Copies one file (its bytes in `local`) to `remote` with `mode`. */
int run_ssh_copy(run_ctx *r, const char *local, const char *remote, const char *mode,
                 cu_error **err);
/* Runs the command, its stdout and stderr appended to output.log, within
 * the run's timeout.  Returns its exit status (>= 0), or -1 with err:
 * run_timeout, cancelled, interrupted, or why ssh could not start. */
int run_ssh_command(run_ctx *r, const char *command, cu_error **err);

#define RUN_E_INTERRUPTED "interrupted"
#define RUN_E_CANCELLED "cancelled"
#define RUN_E_TIMEOUT "run_timeout"

#endif
