/* load_stats.h: what bench-load-client measured — every answered
 * request's latency by kind, and every failure by reason — and the report
 * printed at the end.
 *
 * Latencies are kept whole (4 bytes a request) and sorted once at the end,
 * so percentiles are exact (nearest rank).  Failures are grouped by kind
 * and reason ("HTTP 500", "transport: Timeout was reached"), each group
 * with its count and the first body that came with it. */
#ifndef CUMULUS_BENCH_LOAD_STATS_H
#define CUMULUS_BENCH_LOAD_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct load_stats load_stats;

/* `names`: one per kind, as the report prints them. */
load_stats *load_stats_new(size_t nkinds, const char *const *names);
void load_stats_free(load_stats *s);

/* An answered request's latency; -1 when out of memory. */
int load_stats_add(load_stats *s, int kind, uint32_t usec);
/* A failed request (transport error or unexpected status); `body` (not
 * NUL-terminated, may be NULL) is kept for the first of its group. */
void load_stats_fail(load_stats *s, int kind, const char *reason, const char *body, size_t len);

size_t load_stats_requests(const load_stats *s);
size_t load_stats_failures(const load_stats *s);

/* The table (per kind and all: requests, failures, req/s over `seconds`,
 * p50/p90/p99/max in ms), the failures by reason, then one line for
 * scripts: "result requests=N rps=R p50_ms=A p90_ms=B p99_ms=C max_ms=D
 * errors=E".  Sorts the samples. */
void load_stats_report(load_stats *s, FILE *out, double seconds);

#endif
