/* runs.h: throwaway runs.  POST /v1/runs boots a VM of its own from an
 * image (an overlay, like every VM), waits until its guest is ready and
 * SSH answers, copies the given files in, runs one command over SSH with
 * its output streamed to a file, records the exit code, and destroys the
 * VM whatever happens.  A run ends only once its VM is gone.
 *
 * States: pending → booting (the VM boots, then SSH is awaited) →
 * copying → running → destroying → succeeded (exit code 0) | failed (any
 * other exit code, the timeout, a cancel) | error (the run could not run
 * the command: boot or SSH failed, the VM was deleted under it, the
 * control plane stopped).  Each run has one operation (type "run") whose
 * progress follows the states and which ends with the run.
 *
 * One worker thread per run in flight (runs.c keeps them; run_worker.c is
 * what each does; run_ssh.c drives ssh).  On start the control plane
 * picks up the runs a previous process left in flight: they end as error
 * ("interrupted"), after their VMs are destroyed.
 *
 * Per run, DATA_DIR/runs/<id>/ holds the run's SSH key pair (made with
 * ssh-keygen, its public half injected with the VM's cloud-init), the
 * files to copy (files/<n>) until the run ends, and output.log. */
#ifndef CUMULUS_CP_RUNS_H
#define CUMULUS_CP_RUNS_H

#include <jansson.h>

#include "app.h"

#define RUN_SELECT                                                                                 \
    "SELECT seq AS _seq, id, state, exit_code, image, image_id, size, command,"                    \
    " timeout_s AS timeout, files AS files_json, ssh_keys AS ssh_keys_json, vm_id, operation_id,"  \
    " error_code, error_message, created_at, started_at, finished_at, updated_at FROM runs"

#define RUN_TIMEOUT_DEFAULT 1800 /* seconds the command may take */
#define RUN_TIMEOUT_MAX 86400

/* Picks up the runs left in flight by a previous process (a worker each,
 * which destroys the VM and ends the run as error).  Call once the store
 * is open, after orders_start. */
int runs_start(cp_app *app, cu_error **err);
/* Tells every worker to stop (a run in flight is interrupted: its command
 * killed, its VM's deletion asked for) and waits for them. */
void runs_stop(cp_app *app);
/* After runs_stop and once no request can reach the runs: frees them. */
void runs_free(cp_app *app);

/* Starts the worker of a run just stored (state pending). */
int runs_spawn(cp_app *app, const char *run_id, cu_error **err);
/* Asks the run's worker to cancel it: 1 told, 0 no worker (not in flight). */
int runs_cancel(cp_app *app, const char *run_id);

/* DATA_DIR/runs/<id>[/<file>], malloc'd. */
char *run_path(const cp_app *app, const char *run_id, const char *file);
/* Removes a directory tree (a run's); ok if absent. */
int run_remove_tree(const char *path, cu_error **err);

/* A row of RUN_SELECT in the API's shape ("error", "output_bytes"). */
json_t *run_row_to_api(const cp_app *app, json_t *row);
/* By id: 1 (*run set), 0 none, -1 error. */
int run_lookup(cp_app *app, const char *id, json_t **run, cu_error **err);
/* Whether a state is final. */
int run_state_final(const char *state);

#endif
