/* webui_context.h: what the webui's libwebsockets context carries (its
 * user pointer): the control plane /api goes to and how long it may take
 * to answer, the console routes learnt from its answers, the tokens
 * /metrics was lately allowed for and why an upstream's certificate was
 * last refused.
 * Used on the service thread only. */
#ifndef CUMULUS_WEBUI_CONTEXT_H
#define CUMULUS_WEBUI_CONTEXT_H

#include "api_proxy.h"
#include "console_routes.h"
#include "metrics_page.h"
#include "tls_verify.h"

typedef struct webui_context {
    api_upstream api;
    unsigned api_timeout_s; /* api-timeout: api_deadline.h */
    console_routes routes;
    metrics_auth_cache metrics_auth;
    tls_refusal tls_refused; /* the last upstream certificate refused, and why */
} webui_context;

#endif
