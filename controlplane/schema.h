/* schema.h: the database schema as an ordered list of migrations.  The
 * version is SQLite's user_version; each migration runs in its own
 * transaction, so a crash mid-upgrade leaves the previous version. */
#ifndef CUMULUS_CP_SCHEMA_H
#define CUMULUS_CP_SCHEMA_H

#include "error.h"

struct cp_store;
int schema_migrate(struct cp_store *s, cu_error **err);
int schema_latest_version(void);

/* SQL expression for "now" in the API's timestamp format (RFC 3339, UTC). */
#define SQL_NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

#endif
