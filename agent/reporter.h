/* reporter.h: the heartbeat thread.  Every few seconds, and at once when
 * a VM changes state, it tells the control plane this host's free
 * capacity and each VM's actual state.  If the control plane no longer
 * knows our token (it lost its database, or the host was removed), it
 * joins again with the join token. */
#ifndef CUMULUS_AGENT_REPORTER_H
#define CUMULUS_AGENT_REPORTER_H

#include "agent.h"

int reporter_start(agent *a, cu_error **err);
void reporter_stop(agent *a);
/* One heartbeat, synchronously; -1 when it could not be delivered. */
int reporter_send(agent *a, cu_error **err);

#endif
