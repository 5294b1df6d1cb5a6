/* webui_metrics.c: see webui_metrics.h.  The metrics are made once
 * (pthread_once); updates go through the registry's per-metric locks, so
 * the service thread and a scrape may meet. */
#define _GNU_SOURCE
#include "webui_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

static metric *m_requests, *m_api_open, *m_api_total, *m_api_bytes, *m_con_open, *m_con_total,
    *m_con_bytes, *m_refusals;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static const char *const kinds[] = {"files", "api", "metrics"};
static const char *const classes[] = {"2xx", "3xx", "4xx", "5xx"};
static const char *const consoles[] = {"vnc", "serial"};
static const char *const reasons[] = {"origin", "ticket", "host"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void zeros(void)
{
    for (size_t k = 0; k < N(kinds); k++)
        for (size_t c = 0; c < N(classes); c++)
            metric_add(m_requests, (const char *[]){kinds[k], classes[c]}, 0);
    metric_add(m_api_open, NULL, 0);
    metric_add(m_api_total, NULL, 0);
    metric_add(m_api_bytes, (const char *[]){"to_control_plane"}, 0);
    metric_add(m_api_bytes, (const char *[]){"to_browser"}, 0);
    for (size_t k = 0; k < N(consoles); k++) {
        metric_add(m_con_open, &consoles[k], 0);
        metric_add(m_con_total, &consoles[k], 0);
        metric_add(m_con_bytes, (const char *[]){consoles[k], "to_browser"}, 0);
        metric_add(m_con_bytes, (const char *[]){consoles[k], "to_host"}, 0);
    }
    for (size_t r = 0; r < N(reasons); r++)
        metric_add(m_refusals, &reasons[r], 0);
}

static void init_once(void)
{
    static const char *const req_labels[] = {"kind", "class"};
    static const char *const dir_label[] = {"direction"};
    static const char *const kind_label[] = {"kind"};
    static const char *const bytes_labels[] = {"kind", "direction"};
    static const char *const reason_label[] = {"reason"};
    metrics_registry *r = metrics_default();
    m_requests = metrics_counter(r, "cumulus_webui_requests_total",
                                 "HTTP requests the dashboard answered, by kind (files, api, "
                                 "metrics) and status class.",
                                 2, req_labels);
    m_api_open = metrics_gauge(r, "cumulus_webui_api_connections",
                               "Connections to the control plane for /api open now.", 0, NULL);
    m_api_total = metrics_counter(r, "cumulus_webui_api_connections_total",
                                  "Connections to the control plane made for /api.", 0, NULL);
    m_api_bytes = metrics_counter(r, "cumulus_webui_api_bytes_total",
                                  "Body bytes /api passed, by direction (to_control_plane, "
                                  "to_browser).",
                                  1, dir_label);
    m_con_open =
        metrics_gauge(r, "cumulus_webui_console_connections",
                      "Consoles relayed to VMs' hosts now, by kind (vnc, serial).", 1, kind_label);
    m_con_total = metrics_counter(r, "cumulus_webui_console_connections_total",
                                  "Consoles relayed since start, by kind.", 1, kind_label);
    m_con_bytes = metrics_counter(r, "cumulus_webui_console_bytes_total",
                                  "Bytes the console relay passed, by kind and direction "
                                  "(to_browser, to_host).",
                                  2, bytes_labels);
    m_refusals = metrics_counter(r, "cumulus_webui_console_refusals_total",
                                 "Console websockets refused, by reason (origin, ticket, host).", 1,
                                 reason_label);
    zeros();
}

void webui_metrics_init(void)
{
    pthread_once(&once, init_once);
}

static const char *status_class(int status)
{
    return status < 300 ? "2xx" : status < 400 ? "3xx" : status < 500 ? "4xx" : "5xx";
}

void webui_metrics_request(const char *kind, int status)
{
    webui_metrics_init();
    metric_add(m_requests, (const char *[]){kind, status_class(status)}, 1);
}

void webui_metrics_api_connection(int delta)
{
    webui_metrics_init();
    metric_add(m_api_open, NULL, delta);
    if (delta > 0)
        metric_add(m_api_total, NULL, delta);
}

void webui_metrics_api_bytes(const char *direction, size_t n)
{
    webui_metrics_init();
    metric_add(m_api_bytes, &direction, (double)n);
}

/* ".../serial" -> "serial", else "vnc" (the routes hold only these two). */
static const char *console_kind(const char *path)
{
    size_t n = strlen(path);
    return n >= 7 && strcmp(path + n - 7, "/serial") == 0 ? "serial" : "vnc";
}

void webui_metrics_console_connection(const char *path, int delta)
{
    webui_metrics_init();
    const char *kind = console_kind(path);
    metric_add(m_con_open, &kind, delta);
    if (delta > 0)
        metric_add(m_con_total, &kind, delta);
}

void webui_metrics_console_bytes(const char *path, const char *direction, size_t n)
{
    webui_metrics_init();
    metric_add(m_con_bytes, (const char *[]){console_kind(path), direction}, (double)n);
}

void webui_metrics_console_refused(const char *reason)
{
    webui_metrics_init();
    metric_add(m_refusals, &reason, 1);
}

char *webui_metrics_render(void)
{
    webui_metrics_init();
    return metrics_render(metrics_default());
}
