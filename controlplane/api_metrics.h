/* api_metrics.h: GET /metrics of the control plane (Prometheus text
 * format, admin token) and what feeds it besides the HTTP server's own
 * request metrics: operations that end. */
#ifndef CUMULUS_CP_API_METRICS_H
#define CUMULUS_CP_API_METRICS_H

#include "app.h"
#include "http_server.h"

int api_metrics(http_request *req, http_response *resp, cu_error **err);

/* Operation `id` has just ended (ops_finish changed it): observes its
 * created_at → finished_at in cumulus_operation_duration_seconds{type,status}.
 * Never fails: a figure it cannot read is left out. */
void cp_metrics_op_finished(cp_app *app, const char *id);

#endif
