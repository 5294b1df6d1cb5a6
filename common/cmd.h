/* cmd.h: a small virCommand — run a program from an argv array, never
 * through a shell.  The child gets an explicit environment (PATH, LANG=C
 * and what the caller adds), /dev/null on stdin, every fd >= 3 closed, and
 * its argv is logged before exec.  stdout and stderr are captured (up to a
 * cap) so a failure carries the program's own words up to the user. */
#ifndef CUMULUS_CMD_H
#define CUMULUS_CMD_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

typedef struct cu_cmd cu_cmd;

cu_cmd *cu_cmd_new(const char *program);
void cu_cmd_arg(cu_cmd *c, const char *arg);
void cu_cmd_argf(cu_cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds NAME=VALUE to the child's environment. */
void cu_cmd_env(cu_cmd *c, const char *name, const char *value);
/* Kills the child (SIGKILL) after `seconds`; 0 = no limit (the default). */
void cu_cmd_timeout(cu_cmd *c, unsigned seconds);

/* Runs to completion.  Returns 0 when it exited 0; otherwise -1 with an
 * error quoting the program, its exit status and the end of its stderr. */
int cu_cmd_run(cu_cmd *c, cu_error **err);
/* Starts the program and returns at once: the child's stdin reads from
 * `in_fd` and its stdout and stderr both write to `out_fd` (-1: /dev/null
 * for either).  Returns its pid, which the caller must reap (waitpid) and
 * may kill; or -1 with an error.  Nothing is captured: cu_cmd_stdout()
 * and cu_cmd_stderr() stay empty.  (For long commands whose output is
 * streamed to a file, such as a run's SSH session.) */
pid_t cu_cmd_start(cu_cmd *c, int in_fd, int out_fd, cu_error **err);

/* After cu_cmd_run: what the child wrote (NUL-terminated, never NULL). */
const char *cu_cmd_stdout(const cu_cmd *c);
const char *cu_cmd_stderr(const cu_cmd *c);
int cu_cmd_exit_status(const cu_cmd *c); /* -1 when killed by a signal */

/* The argv as one line, each argument quoted when needed (for logs). */
char *cu_cmd_to_string(const cu_cmd *c);
/* NULL-terminated argv (owned by the command). */
char *const *cu_cmd_argv(const cu_cmd *c);

void cu_cmd_free(cu_cmd *c);
void cu_cmd_freep(cu_cmd **c);
#define _cleanup_cmd_ __attribute__((cleanup(cu_cmd_freep)))

#endif
