/* agent_api.h: the agent's REST API, for the control plane's orders.
 *   GET    /v1/health            no token
 *   GET    /v1/vms               the VMs here and their state
 *   GET    /v1/vms/{id}
 *   PUT    /v1/vms/{id}          the whole spec (idempotent) → 202
 *   DELETE /v1/vms/{id}          destroy the VM, its disk and files → 202
 *   GET    /v1/vms/{id}/screenshot, /exports/{image}
 *   GET    /v1/vms/{id}/stats    {"vm_id","cpu_seconds","rss_bytes","memory_bytes","sampled_at"}
 *                                of the running VM's QEMU (409 while it does not run)
 *   GET    /metrics              Prometheus text (agent_metrics.h)
 * Every call but health needs the order token this agent gave the control
 * plane when it joined. */
#ifndef CUMULUS_AGENT_API_H
#define CUMULUS_AGENT_API_H

#include "http_server.h"

extern const http_route agent_routes[];
extern const size_t agent_nroutes;

int agent_auth(void *app, const char *token, http_principal *out, cu_error **err);

#endif
