/* store.h: the control plane's one SQLite connection (WAL, synchronous
 * FULL so an acknowledged write survives a crash), its schema migrations,
 * a cache of prepared statements, and small helpers that run one
 * statement and turn rows into the API's JSON objects.
 *
 * All SQL lives behind this module and the store_*.c files beside it;
 * handlers never see sqlite3.  One mutex (recursive) serialises access:
 * every helper takes it, and store_tx_begin() holds it until commit or
 * rollback so a check-then-write is atomic.
 *
 * Bind formats: one character per `?` parameter: 's' const char * (NULL
 * binds NULL), 'i' long long, 'z' size_t. */
#ifndef CUMULUS_CP_STORE_H
#define CUMULUS_CP_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "error.h"

typedef struct cp_store cp_store;

cp_store *store_open(const char *path, cu_error **err);
void store_close(cp_store *s);
int store_schema_version(cp_store *s);

int store_tx_begin(cp_store *s, cu_error **err);
int store_tx_commit(cp_store *s, cu_error **err);
void store_tx_rollback(cp_store *s);

/* Runs a statement that returns no rows; returns the number of rows
 * changed or -1.  A UNIQUE violation becomes 409 already_exists. */
int store_exec(cp_store *s, cu_error **err, const char *sql, const char *fmt, ...);
/* First row as a JSON object: 1 found (*out set), 0 none, -1 error.
 * Columns become keys; a column named "x_json" is parsed into key "x". */
int store_get(cp_store *s, json_t **out, cu_error **err, const char *sql, const char *fmt, ...);
/* All rows as a JSON array, or NULL on error. */
json_t *store_list(cp_store *s, cu_error **err, const char *sql, const char *fmt, ...);
/* First column of the first row as an integer; `def` when no row. */
long long store_int(cp_store *s, long long def, cu_error **err, const char *sql, const char *fmt,
                    ...);

/* Calls fn(arg) after every commit that added rows to the events table
 * (events.h), outside the store's lock; set it once, before other
 * threads use the store.  A rolled-back transaction calls nothing. */
void store_on_events(cp_store *s, void (*fn)(void *arg), void *arg);

/* Used by the migration code only. */
int store_exec_script(cp_store *s, const char *sql, cu_error **err);

#endif
