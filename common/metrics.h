/* metrics.h: a small thread-safe registry of counters, gauges and
 * histograms with labels, rendered in the Prometheus text exposition
 * format 0.0.4 for GET /metrics.
 *
 * A metric is registered once by name (metrics_counter() and friends are
 * get-or-create, so callers need no set-up order) with its label names;
 * each distinct tuple of label values is a series.  Label values must come
 * from small sets (a route's pattern, a state, a VM id), never from raw
 * input (a path, a method a client made up): every series is kept until
 * the registry is freed, up to METRICS_MAX_SERIES per metric.
 *
 * Every metric has a mutex of its own: an update locks it, finds the
 * series (a hash, then the values) and changes a number.  The registry's
 * lock only guards its list of metrics.  Nothing here logs or blocks on
 * I/O, so it may be called from any thread, including an event loop. */
#ifndef CUMULUS_METRICS_H
#define CUMULUS_METRICS_H

#include <stddef.h>

#include "http_server.h"

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_SERIES 4096 /* per metric; more are dropped (counted in nothing) */

typedef struct metrics_registry metrics_registry;
typedef struct metric metric;

metrics_registry *metrics_registry_new(void);
void metrics_registry_free(metrics_registry *r);
/* The process's registry (the HTTP server's request metrics live there);
 * never freed. */
metrics_registry *metrics_default(void);

/* Get-or-create by name.  `labels`: nlabels label names (<=
 * METRICS_MAX_LABELS).  Asking for an existing name with another type or
 * other labels is a programming error: it aborts with a message. */
metric *metrics_counter(metrics_registry *r, const char *name, const char *help, size_t nlabels,
                        const char *const labels[]);
metric *metrics_gauge(metrics_registry *r, const char *name, const char *help, size_t nlabels,
                      const char *const labels[]);
/* `bounds`: nbounds upper bounds, increasing (the +Inf bucket is added). */
metric *metrics_histogram(metrics_registry *r, const char *name, const char *help, size_t nlabels,
                          const char *const labels[], size_t nbounds, const double bounds[]);

/* `values` holds one value per label name of the metric (NULL when it has
 * none).  Counters only go up: add() of a negative amount is ignored. */
void metric_add(metric *m, const char *const values[], double v);
void metric_set(metric *m, const char *const values[], double v);     /* gauges */
void metric_observe(metric *m, const char *const values[], double v); /* histograms */

/* Buckets shared by the daemons: request latency, 1 ms to 10 s. */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_nbuckets;

/* The whole registry as exposition text (malloc'd, NUL-terminated), its
 * metrics in registration order, each with # HELP and # TYPE. */
char *metrics_render(metrics_registry *r);

/* The HTTP server's request metrics, in metrics_default():
 * cumulus_http_requests_total{method,route,status},
 * cumulus_http_request_duration_seconds{method,route} and
 * cumulus_http_streams{route}.  `route` is the matched route's pattern or
 * NULL (counted as "unmatched"); a method outside the standard ones is
 * counted as "other", so no client can add series. */
void metrics_http_init(void); /* registers them (HELP and TYPE before any request) */
void metrics_http_request(const char *method, const char *route, int status, double seconds);
void metrics_http_stream(const char *route, double delta);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Answers GET /metrics: metrics_default() rendered, then `figures` (the
 * daemon's own, read at this scrape; taken and freed; may be NULL), as
 * METRICS_CONTENT_TYPE. */
void metrics_respond(http_response *resp, char *figures);

#endif
