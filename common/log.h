/* log.h: leveled logging to stderr, one line per event, with a UTC
 * timestamp and the daemon's name.  Thread-safe (one write per line).
 * Standard error can be a log file instead, reopened on request (SIGHUP)
 * so that logrotate can move it away. */
#ifndef CUMULUS_LOG_H
#define CUMULUS_LOG_H

enum cu_log_level { CU_LOG_DEBUG = 0, CU_LOG_INFO, CU_LOG_WARN, CU_LOG_ERROR };

void cu_log_init(const char *program);
/* Returns -1 for an unknown name ("debug", "info", "warn", "error"). */
int cu_log_set_level_name(const char *name);
void cu_log_set_level(enum cu_log_level level);
int cu_log_enabled(enum cu_log_level level);
/* Appends standard error (this log, and whatever else the process writes
 * there) to `path`, created 0640 if missing; remembers it for
 * cu_log_reopen().  Returns -1 with errno set when it cannot be opened. */
int cu_log_open_file(const char *path);
/* Opens the log file again by its name (after a rotation moved it).  Does
 * nothing without a log file; on failure keeps writing to the old one and
 * returns -1 with errno set. */
int cu_log_reopen(void);
const char *cu_log_file(void);
void cu_log(enum cu_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) cu_log(CU_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) cu_log(CU_LOG_INFO, __VA_ARGS__)
#define log_warn(...) cu_log(CU_LOG_WARN, __VA_ARGS__)
#define log_error(...) cu_log(CU_LOG_ERROR, __VA_ARGS__)

#endif
