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

#endif
