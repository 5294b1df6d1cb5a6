/* webui_context.h: what the webui's libwebsockets context carries (its
 * user pointer): the control plane /api goes to, the console routes
 * learnt from its answers and the tokens /metrics was lately allowed for.
 * Used on the service thread only. */
#ifndef CUMULUS_WEBUI_CONTEXT_H
#define CUMULUS_WEBUI_CONTEXT_H

#include "api_proxy.h"
#include "console_routes.h"
#include "metrics_page.h"

typedef struct webui_context {
    api_upstream api;
    console_routes routes;
    metrics_auth_cache metrics_auth;
} webui_context;

#endif
