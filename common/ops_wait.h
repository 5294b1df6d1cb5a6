/* ops_wait.h: the bounds of the long-poll GET /v1/operations/{id}/wait
 * ?timeout=S: the control plane waits S seconds (this default when none is
 * given, at most the maximum) for the operation to end.  Shared by the
 * control plane (api_ops.c) and the webui, whose /api gives such a request
 * that long more before it stops waiting for the answer (api_deadline.h). */
#ifndef CUMULUS_OPS_WAIT_H
#define CUMULUS_OPS_WAIT_H

#define CU_OPS_WAIT_DEFAULT_S 30
#define CU_OPS_WAIT_MAX_S 600

#endif
