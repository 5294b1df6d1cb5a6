/* webui_metrics.h: what the webui counts for GET /metrics (metrics_page.h),
 * in the process's registry (common/metrics.h, thread-safe).
 *
 *   cumulus_webui_requests_total{kind,class}    requests answered: kind
 *       files (the dashboard's files), api (/api, passed to the control
 *       plane) or metrics; class 2xx, 3xx, 4xx or 5xx
 *   cumulus_webui_api_connections               /api connections to the
 *       control plane open now
 *   cumulus_webui_api_connections_total         ... made since start
 *   cumulus_webui_api_bytes_total{direction}    body bytes passed:
 *       to_control_plane, to_browser
 *   cumulus_webui_console_connections{kind}     consoles relayed now (vnc,
 *       serial)
 *   cumulus_webui_console_connections_total{kind}
 *   cumulus_webui_console_bytes_total{kind,direction}  to_browser, to_host
 *   cumulus_webui_console_refusals_total{reason} consoles refused: origin
 *       (a foreign Origin), ticket (no route for it: never issued through
 *       this webui, used or expired), host (the VM's host refused or could
 *       not be reached, its certificate included)
 *
 * Every label value comes from these fixed sets, never from a request. */
#ifndef CUMULUS_WEBUI_METRICS_H
#define CUMULUS_WEBUI_METRICS_H

#include <stddef.h>

/* Registers them all with zeros, so the first scrape has every series. */
void webui_metrics_init(void);

/* kind: "files", "api" or "metrics"; status: the HTTP status sent. */
void webui_metrics_request(const char *kind, int status);

void webui_metrics_api_connection(int delta); /* +1 opened (counted in the total), -1 closed */
void webui_metrics_api_bytes(const char *direction, size_t n);

/* path: the console's path (.../vnc or .../serial): its kind. */
void webui_metrics_console_connection(const char *path, int delta);
void webui_metrics_console_bytes(const char *path, const char *direction, size_t n);
void webui_metrics_console_refused(const char *reason);

/* The registry's text (malloc'd), the webui's figures with the rest. */
char *webui_metrics_render(void);

#endif
