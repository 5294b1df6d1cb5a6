/* cp_fixture.h: a control plane for the API harnesses (fuzz_api.c,
 * fuzz_reports.c): the real store, migrated, in an in-memory SQLite
 * database, and a cp_app without its threads (the reconciler is never
 * started, so orders_kick() does nothing and no order leaves).  Before
 * each input cp_fixture_reset() puts the same rows back: one host, an SSH
 * key, VMs in several states on it with their operations, a snapshot. */
#ifndef CUMULUS_FUZZ_CP_FIXTURE_H
#define CUMULUS_FUZZ_CP_FIXTURE_H

#include "app.h"

/* Made once; aborts on failure. */
cp_app *cp_fixture_app(void);
void cp_fixture_reset(cp_app *app);

#define FIXTURE_HOST "host-a"

#endif
