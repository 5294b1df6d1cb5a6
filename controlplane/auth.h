/* auth.h: bearer tokens.  Only SHA-256 hashes are stored; the tokens
 * themselves exist in files readable by the control plane's user alone
 * (DIR/admin-token, DIR/join-token) and in the clients that hold them. */
#ifndef CUMULUS_CP_AUTH_H
#define CUMULUS_CP_AUTH_H

#include "app.h"
#include "http_server.h"

/* Makes sure DIR/admin-token and DIR/join-token hold tokens the database
 * knows; creates (or, when a file was lost, replaces) them otherwise. */
int auth_bootstrap(cp_app *app, cu_error **err);

/* http_auth_fn: maps a token to its principal or a 401. */
int auth_check(void *app, const char *token, http_principal *out, cu_error **err);

#endif
