/* log.h: leveled logging to stderr, one line per event, with a UTC
 * timestamp and the daemon's name.  Thread-safe (one write per line). */
#ifndef CUMULUS_LOG_H
#define CUMULUS_LOG_H

enum cu_log_level { CU_LOG_DEBUG = 0, CU_LOG_INFO, CU_LOG_WARN, CU_LOG_ERROR };

void cu_log_init(const char *program);
/* Returns -1 for an unknown name ("debug", "info", "warn", "error"). */
int cu_log_set_level_name(const char *name);
void cu_log_set_level(enum cu_log_level level);
int cu_log_enabled(enum cu_log_level level);
void cu_log(enum cu_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) cu_log(CU_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) cu_log(CU_LOG_INFO, __VA_ARGS__)
#define log_warn(...) cu_log(CU_LOG_WARN, __VA_ARGS__)
#define log_error(...) cu_log(CU_LOG_ERROR, __VA_ARGS__)

#endif
