/* test_store.c: the SQLite store, its migrations and the operations
 * built on it (controlplane/store.c, schema.c, ops.c). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"
#include "schema.h"
#include "store.h"

typedef struct fixture {
    char dir[64];
    char path[96];
    cp_store *store;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/cumulus-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/cumulus.db", f->dir);
    cu_error *err = NULL;
    f->store = store_open(f->path, &err);
    if (f->store == NULL)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    store_close(f->store);
    char p[128];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void migrates_and_seeds(void **state)
{
    fixture *f = *state;
    assert_int_equal(store_schema_version(f->store), schema_latest_version());
    assert_int_equal(store_int(f->store, 0, NULL, "SELECT count(*) FROM sizes", ""), 5);
    assert_int_equal(store_int(f->store, 0, NULL, "SELECT count(*) FROM images", ""), 4);
    char mode[16] = "";
    json_t *row = NULL;
    assert_int_equal(store_get(f->store, &row, NULL, "PRAGMA journal_mode", ""), 1);
    snprintf(mode, sizeof(mode), "%s", json_string_value(json_object_get(row, "journal_mode")));
    json_decref(row);
    assert_string_equal(mode, "wal");

    /* Reopening runs no migration twice and keeps what an operator changed. */
    cu_error *err = NULL;
    assert_int_equal(store_exec(f->store, &err, "DELETE FROM sizes WHERE name = 's-4vcpu-8gb'", ""), 1);
    store_close(f->store);
    f->store = store_open(f->path, &err);
    assert_non_null(f->store);
    assert_int_equal(store_int(f->store, 0, NULL, "SELECT count(*) FROM sizes", ""), 4);
}

static void refuses_newer_schema(void **state)
{
    fixture *f = *state;
    cu_error *err = NULL;
    assert_int_equal(store_exec_script(f->store, "PRAGMA user_version = 999", &err), 0);
    store_close(f->store);
    f->store = store_open(f->path, &err);
    assert_null(f->store);
    assert_non_null(strstr(err->message, "999"));
    cu_error_free(err);
    err = NULL;
    /* Put it back so teardown has a store. */
    f->store = NULL;
    char p[128];
    snprintf(p, sizeof(p), "%s", f->path);
    unlink(p);
    f->store = store_open(p, &err);
    assert_non_null(f->store);
}

static void rows_as_json(void **state)
{
    fixture *f = *state;
    cu_error *err = NULL;
    json_t *rows = store_list(f->store, &err,
                              "SELECT name, vcpus, '[1,2]' AS list_json, NULL AS empty FROM sizes"
                              " WHERE vcpus >= ? ORDER BY seq",
                              "i", 2LL);
    if (rows == NULL)
        fail_msg("%s", err->message);
    assert_int_equal(json_array_size(rows), 3);
    json_t *first = json_array_get(rows, 0);
    assert_string_equal(json_string_value(json_object_get(first, "name")), "s-2vcpu-2gb");
    assert_int_equal(json_integer_value(json_object_get(first, "vcpus")), 2);
    assert_true(json_is_array(json_object_get(first, "list")));
    assert_true(json_is_null(json_object_get(first, "empty")));
    json_decref(rows);
    json_t *row = NULL;
    assert_int_equal(store_get(f->store, &row, &err, "SELECT * FROM sizes WHERE name = ?", "s",
                               "nope"),
                     0);
}

static void unique_is_409_and_tx_rolls_back(void **state)
{
    fixture *f = *state;
    cu_error *err = NULL;
    const char *ins = "INSERT INTO sizes (id, name, vcpus, memory_mib, disk_gib) VALUES (?,?,1,256,1)";
    assert_int_equal(store_exec(f->store, &err, ins, "ss", "size-1", "one"), 1);
    assert_int_equal(store_exec(f->store, &err, ins, "ss", "size-2", "one"), -1);
    assert_int_equal(err->status, 409);
    assert_string_equal(err->code, "already_exists");
    cu_error_freep(&err);

    assert_int_equal(store_tx_begin(f->store, &err), 0);
    assert_int_equal(store_exec(f->store, &err, ins, "ss", "size-3", "three"), 1);
    store_tx_rollback(f->store);
    assert_int_equal(store_int(f->store, 0, NULL, "SELECT count(*) FROM sizes WHERE name = 'three'", ""), 0);
}

static cp_app *make_app(cp_store *s)
{
    cp_app *app = calloc(1, sizeof(*app));
    app->store = s;
    pthread_mutex_init(&app->ops_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&app->ops_changed, &ca);
    return app;
}

static void *finish_later(void *arg)
{
    cp_app *app = arg;
    usleep(200 * 1000);
    ops_fail_in_flight(app, "vm-1", "cancelled", "cancelled by the test", NULL);
    ops_notify(app);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void operations(void **state)
{
    fixture *f = *state;
    cp_app *app = make_app(f->store);
    cu_error *err = NULL;
    json_t *op = ops_create(app, "vm.create", "vm", "vm-1", "pending", "waiting", &err);
    assert_non_null(op);
    const char *id = json_string_value(json_object_get(op, "id"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(op, "target"), "id")), "vm-1");
    assert_true(json_is_null(json_object_get(op, "error")));

    json_t *inflight = NULL;
    assert_int_equal(ops_find_in_flight(app, "vm-1", &inflight, &err), 1);
    assert_string_equal(json_string_value(json_object_get(inflight, "id")), id);
    json_decref(inflight);

    /* A wait that times out returns the op still pending. */
    json_t *waited = NULL;
    double t0 = now_s();
    assert_int_equal(ops_wait(app, id, 150, &waited, &err), 1);
    assert_true(now_s() - t0 >= 0.14);
    assert_string_equal(json_string_value(json_object_get(waited, "status")), "pending");
    json_decref(waited);

    /* A wait is woken by the change, long before its timeout. */
    pthread_t th;
    pthread_create(&th, NULL, finish_later, app);
    t0 = now_s();
    assert_int_equal(ops_wait(app, id, 10000, &waited, &err), 1);
    assert_true(now_s() - t0 < 5);
    pthread_join(th, NULL);
    assert_string_equal(json_string_value(json_object_get(waited, "status")), "failed");
    json_t *e = json_object_get(waited, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "cancelled");
    assert_false(json_is_null(json_object_get(waited, "finished_at")));
    json_decref(waited);
    assert_int_equal(ops_find_in_flight(app, "vm-1", &inflight, &err), 0);
    assert_int_equal(ops_wait(app, "op-unknown", 10, &waited, &err), 0);

    json_t *done = ops_create(app, "vm.delete", "vm", "vm-2", "succeeded", "done", &err);
    assert_int_equal(json_integer_value(json_object_get(done, "progress")), 100);
    json_decref(done);
    json_decref(op);
    pthread_cond_destroy(&app->ops_changed);
    pthread_mutex_destroy(&app->ops_lock);
    free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrates_and_seeds, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(rows_as_json, setup, teardown),
        cmocka_unit_test_setup_teardown(unique_is_409_and_tx_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(operations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
