/* proc_usage.h: what one process (a VM's QEMU) uses now: CPU time, user +
 * system, since it started, and resident memory.
 *
 * Linux: /proc/<pid>/stat (utime + stime, fields 14 and 15, in clock
 * ticks) and /proc/<pid>/statm (resident pages, field 2).  macOS:
 * proc_pidinfo(PROC_PIDTASKINFO) (pti_total_user + pti_total_system in
 * mach time units, pti_resident_size).  Reads only; never signals or
 * waits on the process.  The parsers are separate so tests can feed them
 * text. */
#ifndef CUMULUS_AGENT_PROC_USAGE_H
#define CUMULUS_AGENT_PROC_USAGE_H

#include <sys/types.h>

#include "error.h"

typedef struct proc_usage {
    double cpu_seconds;  /* user + system, since the process started */
    long long rss_bytes; /* resident now */
} proc_usage;

/* Samples `pid`.  Errors: 404 "process_gone" when it no longer exists,
 * 500 when its figures cannot be read or make no sense. */
int proc_usage_sample(pid_t pid, proc_usage *out, cu_error **err);

/* A /proc/<pid>/stat line -> utime + stime in seconds (`ticks_per_s`:
 * sysconf(_SC_CLK_TCK)).  The command name (field 2) is in parentheses
 * and may itself hold spaces and parentheses: fields are counted from
 * the last ')'. */
int proc_usage_parse_stat(const char *text, long ticks_per_s, double *cpu_seconds, cu_error **err);
/* A /proc/<pid>/statm line -> resident pages (field 2) * `page_size`. */
int proc_usage_parse_statm(const char *text, long page_size, long long *rss_bytes, cu_error **err);

#endif
