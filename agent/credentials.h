/* credentials.h: the agent's identity at the control plane, kept in
 * DATA/credentials.json (mode 0600): host id, the agent token it presents,
 * and the order token the control plane must present to it. */
#ifndef CUMULUS_AGENT_CREDENTIALS_H
#define CUMULUS_AGENT_CREDENTIALS_H

#include "agent.h"

/* 1 loaded, 0 none yet (first start), -1 error (unreadable, corrupt). */
int credentials_load(agent *a, cu_error **err);
int credentials_save(agent *a, cu_error **err);
/* Joins the control plane with the join token (first start, or when the
 * control plane no longer knows our token), saving the new credentials. */
int credentials_join(agent *a, cu_error **err);

/* A URL the control plane gave us, made absolute: a path ("/v1/images/…")
 * names a file the control plane serves itself.  malloc'd. */
char *agent_resolve_url(const agent *a, const char *url);

/* image_auth_fn for the image cache (opaque: the agent): our token for
 * URLs on the control plane, nothing for any other server. */
int credentials_image_auth(void *opaque, const char *url, char *buf, size_t size);

#endif
