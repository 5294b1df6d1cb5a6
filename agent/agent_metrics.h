/* agent_metrics.h: GET /metrics of the agent (Prometheus text format, the
 * order token) and the console proxy's counts that feed it. */
#ifndef CUMULUS_AGENT_METRICS_H
#define CUMULUS_AGENT_METRICS_H

#include <stddef.h>

#include "http_server.h"

/* GET /metrics: the HTTP server's request metrics, VMs by state, console
 * viewers and bytes, and per running VM its QEMU's CPU time and memory. */
int agent_metrics(http_request *req, http_response *resp, cu_error **err);

/* The console proxy (its service thread): a viewer of `kind` ("vnc",
 * "serial") came (+1) or left (-1); `n` bytes went "to_viewer" or "to_vm". */
void agent_metrics_console_viewers(const char *kind, double delta);
void agent_metrics_console_bytes(const char *kind, const char *direction, size_t n);

#endif
