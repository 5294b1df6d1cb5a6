/* metrics_page.h: GET /metrics on the webui, the Prometheus text format
 * 0.0.4 (webui_metrics.h), behind the control plane's admin token like
 * the control plane's own /metrics.
 *
 * The webui holds no tokens of its own: it asks the control plane.  A
 * scrape's "Authorization: Bearer T" is passed to the control plane's GET
 * /v1/sizes?limit=1 (an admin-only route that costs one small query);
 * its 200 lets the scrape through, its 401 or 403 is answered as it came,
 * anything else (the control plane down, its certificate refused) is a
 * 502.  A yes is remembered for METRICS_AUTH_TTL_MS under the token's
 * SHA-256 (never the token itself), so a scrape every few seconds asks the
 * control plane at most that often; a no is never remembered.  No header,
 * or another scheme: 401 without asking.  Everything runs on the webui's
 * service thread. */
#ifndef CUMULUS_WEBUI_METRICS_PAGE_H
#define CUMULUS_WEBUI_METRICS_PAGE_H

#include <libwebsockets.h>

#define METRICS_AUTH_TTL_MS 30000
#define METRICS_AUTH_SLOTS 8

/* Tokens the control plane said yes to lately: SHA-256 and until when. */
typedef struct metrics_auth_cache {
    unsigned char hash[METRICS_AUTH_SLOTS][32];
    long long until_ms[METRICS_AUTH_SLOTS];
} metrics_auth_cache;

/* 1 when `token` is remembered (and not expired); 0 otherwise. */
int metrics_auth_cached(const metrics_auth_cache *c, const char *token, long long now_ms);
/* Remembers `token` until now + METRICS_AUTH_TTL_MS (the oldest slot goes). */
void metrics_auth_remember(metrics_auth_cache *c, const char *token, long long now_ms);

/* The protocols: "cumulus-metrics" (mounted at /metrics as a callback
 * mount; the context's user pointer must be a webui_context) and
 * "cumulus-metrics-auth" (its client connections to the control plane). */
extern const struct lws_protocols metrics_page_protocol;
extern const struct lws_protocols metrics_auth_protocol;

#endif
