/* api_deadline.h: how long the webui's /api waits for the control plane
 * to begin its answer (api_proxy.c).
 *
 * Every request passed on has the webui's api-timeout; a long-poll
 * (GET /v1/operations/{id}/wait?timeout=S) has its own S on top (the
 * control plane's default when none is given, ops_wait.h), since the
 * control plane answers it only when the operation ends or S is over.
 * Once the answer has begun there is no deadline: a stream may last. */
#ifndef CUMULUS_WEBUI_API_DEADLINE_H
#define CUMULUS_WEBUI_API_DEADLINE_H

/* The deadline in seconds for the upstream request PATH (path and query,
 * as sent to the control plane).  A long-poll's timeout that is not whole
 * seconds within the control plane's bounds adds nothing: it is refused at
 * once (400). */
unsigned api_deadline_answer_s(const char *path, unsigned api_timeout_s);

#endif
