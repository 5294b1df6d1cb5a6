/* store.c: see store.h. */
#define _GNU_SOURCE
#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "schema.h"

/* Room for every statement the control plane prepares (about 120 in
 * 2026-12) with some to spare: one that finds the cache full is prepared
 * on each use. */
#define STMT_CACHE 256

struct cp_store {
    sqlite3 *db;
    pthread_mutex_t lock;
    struct {
        const char *sql; /* string literals: compared by address, then content */
        sqlite3_stmt *stmt;
    } cache[STMT_CACHE];
    size_t ncache;
    int cache_full_said; /* the warning below, once */
    /* Events written since the last commit (the update hook sets it), and
     * whom to tell once they are committed. */
    int events_pending;
    void (*on_events)(void *arg);
    void *on_events_arg;
};

static int db_error(cp_store *s, cu_error **err, const char *what)
{
    return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "database: %s: %s", what,
                        sqlite3_errmsg(s->db));
}

int store_exec_script(cp_store *s, const char *sql, cu_error **err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        cu_error_set(err, 500, CU_E_INTERNAL, NULL, "database: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Runs inside sqlite3_step(), under the lock; also for rows that
 * triggers insert. */
static void update_hook(void *arg, int op, const char *db, const char *table, sqlite3_int64 rowid)
{
    (void)db;
    (void)rowid;
    cp_store *s = arg;
    if (op == SQLITE_INSERT && strcmp(table, "events") == 0)
        s->events_pending = 1;
}

void store_on_events(cp_store *s, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&s->lock);
    s->on_events = fn;
    s->on_events_arg = arg;
    pthread_mutex_unlock(&s->lock);
}

/* Releases the lock; when that ends a write outside any transaction (or
 * the commit of one) that added events, tells the listener after. */
static void unlock_and_notify(cp_store *s)
{
    int fire = s->events_pending && sqlite3_get_autocommit(s->db) && s->on_events;
    void (*fn)(void *) = s->on_events;
    void *arg = s->on_events_arg;
    if (sqlite3_get_autocommit(s->db))
        s->events_pending = 0;
    pthread_mutex_unlock(&s->lock);
    if (fire)
        fn(arg);
}

cp_store *store_open(const char *path, cu_error **err)
{
    cp_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        abort();
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->lock, &attr);
    pthread_mutexattr_destroy(&attr);

    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        cu_error_set(err, 500, CU_E_INTERNAL, NULL, "cannot open database '%s': %s", path,
                     s->db ? sqlite3_errmsg(s->db) : "out of memory");
        store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 5000);
    sqlite3_update_hook(s->db, update_hook, s);
    /* WAL for concurrent readers; synchronous=FULL so every commit is on
     * disk before we answer the client; foreign keys on. */
    if (store_exec_script(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                             "PRAGMA foreign_keys=ON;",
                          err) < 0 ||
        schema_migrate(s, err) < 0) {
        cu_error_wrap(err, "opening database '%s'", path);
        store_close(s);
        return NULL;
    }
    return s;
}

void store_close(cp_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ncache; i++)
        sqlite3_finalize(s->cache[i].stmt);
    /* Closing the last connection checkpoints the WAL into the database
     * file and removes it: after a clean stop, cumulus.db alone is whole. */
    if (s->db && sqlite3_close(s->db) != SQLITE_OK)
        log_error("closing the database: %s; its WAL is checkpointed at the next start",
                  sqlite3_errmsg(s->db));
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int store_schema_version(cp_store *s)
{
    return (int)store_int(s, 0, NULL, "PRAGMA user_version", "");
}

int store_tx_begin(cp_store *s, cu_error **err)
{
    pthread_mutex_lock(&s->lock);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(s, err, "begin");
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    return 0;
}

int store_tx_commit(cp_store *s, cu_error **err)
{
    int r = 0;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        r = db_error(s, err, "commit");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->events_pending = 0;
    }
    unlock_and_notify(s);
    return r;
}

void store_tx_rollback(cp_store *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->events_pending = 0;
    pthread_mutex_unlock(&s->lock);
}

/* Returns a reset statement for `sql` from the cache, preparing it once.
 * Caller holds the lock. */
static sqlite3_stmt *prepare(cp_store *s, const char *sql, cu_error **err)
{
    for (size_t i = 0; i < s->ncache; i++) {
        if (s->cache[i].sql == sql || strcmp(s->cache[i].sql, sql) == 0) {
            sqlite3_reset(s->cache[i].stmt);
            sqlite3_clear_bindings(s->cache[i].stmt);
            return s->cache[i].stmt;
        }
    }
    sqlite3_stmt *stmt = NULL;
    unsigned flags = s->ncache < STMT_CACHE ? SQLITE_PREPARE_PERSISTENT : 0;
    if (sqlite3_prepare_v3(s->db, sql, -1, flags, &stmt, NULL) != SQLITE_OK) {
        db_error(s, err, "prepare");
        return NULL;
    }
    if (s->ncache < STMT_CACHE) {
        s->cache[s->ncache].sql = sql;
        s->cache[s->ncache++].stmt = stmt;
    } else if (!s->cache_full_said) {
        s->cache_full_said = 1;
        log_warn("statement cache full (%d statements): preparing '%s' and any other new one "
                 "each time",
                 STMT_CACHE, sql);
    }
    return stmt;
}

static void release(cp_store *s, sqlite3_stmt *stmt)
{
    for (size_t i = 0; i < s->ncache; i++) {
        if (s->cache[i].stmt == stmt) {
            sqlite3_reset(stmt);
            return;
        }
    }
    sqlite3_finalize(stmt);
}

static int bind_all(cp_store *s, sqlite3_stmt *stmt, const char *fmt, va_list ap, cu_error **err)
{
    for (int i = 0; fmt[i]; i++) {
        int rc;
        switch (fmt[i]) {
        case 's': {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(stmt, i + 1, v, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(stmt, i + 1);
            break;
        }
        case 'i':
            rc = sqlite3_bind_int64(stmt, i + 1, va_arg(ap, long long));
            break;
        case 'z':
            rc = sqlite3_bind_int64(stmt, i + 1, (long long)va_arg(ap, size_t));
            break;
        default:
            abort(); /* programming error in a format string */
        }
        if (rc != SQLITE_OK)
            return db_error(s, err, "bind");
    }
    return 0;
}

static sqlite3_stmt *start(cp_store *s, const char *sql, const char *fmt, va_list ap,
                           cu_error **err)
{
    sqlite3_stmt *stmt = prepare(s, sql, err);
    if (stmt && bind_all(s, stmt, fmt, ap, err) < 0) {
        release(s, stmt);
        return NULL;
    }
    return stmt;
}

static json_t *column_json(sqlite3_stmt *stmt, int i)
{
    switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(stmt, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(stmt, i));
    case SQLITE_NULL:
        return json_null();
    default:
        return json_stringn((const char *)sqlite3_column_text(stmt, i),
                            (size_t)sqlite3_column_bytes(stmt, i));
    }
}

/* Columns become members; a column named "x_json" keeps its text under
 * that name here and is parsed into "x" by parse_json_columns() once the
 * lock is released (parsing is the costly part of a big list). */
static json_t *row_json(sqlite3_stmt *stmt)
{
    json_t *obj = json_object();
    int n = sqlite3_column_count(stmt);
    for (int i = 0; i < n; i++)
        json_object_set_new(obj, sqlite3_column_name(stmt, i), column_json(stmt, i));
    return obj;
}

static void parse_json_columns(json_t *row)
{
    const char *name;
    json_t *value;
    void *tmp;
    json_object_foreach_safe(row, tmp, name, value)
    {
        size_t len = strlen(name);
        if (len <= 5 || strcmp(name + len - 5, "_json") != 0)
            continue;
        const char *text = json_string_value(value);
        json_t *parsed = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)(len - 5), name);
        json_object_set_new(row, key, parsed ? parsed : json_null());
        json_object_del(row, name);
    }
}

int store_exec(cp_store *s, cu_error **err, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = start(s, sql, fmt, ap, err);
    va_end(ap);
    int r = -1;
    if (stmt) {
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_DONE || rc == SQLITE_ROW)
            r = sqlite3_changes(s->db);
        else if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_UNIQUE)
            cu_error_set(err, 409, CU_E_EXISTS, NULL, "it already exists (%s)",
                         sqlite3_errmsg(s->db));
        else
            db_error(s, err, "write");
        release(s, stmt);
    }
    unlock_and_notify(s);
    return r;
}

int store_get(cp_store *s, json_t **out, cu_error **err, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = start(s, sql, fmt, ap, err);
    va_end(ap);
    int r = -1;
    if (stmt) {
        int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW) {
            *out = row_json(stmt);
            r = 1;
        } else if (rc == SQLITE_DONE) {
            r = 0;
        } else {
            db_error(s, err, "read");
        }
        release(s, stmt);
    }
    pthread_mutex_unlock(&s->lock);
    if (r == 1)
        parse_json_columns(*out);
    return r;
}

json_t *store_list(cp_store *s, cu_error **err, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = start(s, sql, fmt, ap, err);
    va_end(ap);
    json_t *arr = NULL;
    if (stmt) {
        arr = json_array();
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
            json_array_append_new(arr, row_json(stmt));
        if (rc != SQLITE_DONE) {
            db_error(s, err, "read");
            json_decref(arr);
            arr = NULL;
        }
        release(s, stmt);
    }
    pthread_mutex_unlock(&s->lock);
    size_t i;
    json_t *row;
    json_array_foreach(arr, i, row) parse_json_columns(row);
    return arr;
}

long long store_int(cp_store *s, long long def, cu_error **err, const char *sql, const char *fmt,
                    ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *stmt = start(s, sql, fmt, ap, err);
    va_end(ap);
    long long v = def;
    if (stmt) {
        if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
            v = sqlite3_column_int64(stmt, 0);
        release(s, stmt);
    }
    pthread_mutex_unlock(&s->lock);
    return v;
}
