/* proc_usage.c: see proc_usage.h. */
#define _GNU_SOURCE
#include "proc_usage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"

#ifdef __APPLE__
#include <libproc.h>
#include <mach/mach_time.h>
#include <sys/proc_info.h>
#endif

int proc_usage_parse_stat(const char *text, long ticks_per_s, double *cpu_seconds, cu_error **err)
{
    /* "pid (comm) state ppid pgrp session tty_nr tpgid flags minflt
     * cminflt majflt cmajflt utime stime ...": after the last ')' come
     * field 3 (state) to 13, then utime (14) and stime (15). */
    const char *p = strrchr(text, ')');
    unsigned long long utime, stime;
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                            &stime) != 2)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "a /proc stat line without utime and stime: '%.80s'", text);
    if (ticks_per_s <= 0)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "clock ticks per second is %ld",
                            ticks_per_s);
    *cpu_seconds = (double)(utime + stime) / (double)ticks_per_s;
    return 0;
}

int proc_usage_parse_statm(const char *text, long page_size, long long *rss_bytes, cu_error **err)
{
    /* "size resident shared text lib data dt", in pages. */
    long long size, resident;
    if (sscanf(text, "%lld %lld", &size, &resident) != 2 || resident < 0)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "a /proc statm line without the resident pages: '%.80s'", text);
    if (page_size <= 0)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "the page size is %ld", page_size);
    *rss_bytes = resident * page_size;
    return 0;
}

#ifndef __APPLE__

/* /proc/<pid>/<file> into buf (NUL-terminated): 0, or -1 with 404 when
 * the process is gone. */
static int read_proc(pid_t pid, const char *file, char *buf, size_t size, cu_error **err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (f == NULL)
        return errno == ENOENT || errno == ESRCH
                   ? cu_error_set(err, 404, "process_gone", NULL, "process %d is gone", (int)pid)
                   : cu_error_errno(err, errno, "cannot open '%s'", path);
    size_t n = fread(buf, 1, size - 1, f);
    if (ferror(f))
        return cu_error_errno(err, errno, "cannot read '%s'", path);
    buf[n] = '\0';
    return 0;
}

int proc_usage_sample(pid_t pid, proc_usage *out, cu_error **err)
{
    char stat[1024], statm[256];
    if (read_proc(pid, "stat", stat, sizeof(stat), err) < 0 ||
        read_proc(pid, "statm", statm, sizeof(statm), err) < 0 ||
        proc_usage_parse_stat(stat, sysconf(_SC_CLK_TCK), &out->cpu_seconds, err) < 0 ||
        proc_usage_parse_statm(statm, sysconf(_SC_PAGESIZE), &out->rss_bytes, err) < 0)
        return cu_error_wrap(err, "the CPU and memory of process %d", (int)pid);
    return 0;
}

#else

int proc_usage_sample(pid_t pid, proc_usage *out, cu_error **err)
{
    struct proc_taskinfo ti;
    int n = proc_pidinfo(pid, PROC_PIDTASKINFO, 0, &ti, sizeof(ti));
    if (n != (int)sizeof(ti))
        return errno == ESRCH
                   ? cu_error_set(err, 404, "process_gone", NULL, "process %d is gone", (int)pid)
                   : cu_error_errno(err, errno, "proc_pidinfo(%d, PROC_PIDTASKINFO)", (int)pid);
    /* The times are in mach absolute time units (nanoseconds on Intel,
     * not on Apple Silicon). */
    mach_timebase_info_data_t tb;
    mach_timebase_info(&tb);
    double ns = (double)(ti.pti_total_user + ti.pti_total_system) * tb.numer / tb.denom;
    out->cpu_seconds = ns / 1e9;
    out->rss_bytes = (long long)ti.pti_resident_size;
    return 0;
}

#endif
