/* test_events.c: the events the triggers of migration 8 record
 * (controlplane/schema.c, events.h): exactly one per real change of a VM,
 * host, operation or image, in a fixed order, none for writes that change
 * nothing; retention; and the store's hook that wakes streams only once a
 * transaction with events has committed. */
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

#include "events.h"
#include "ops.h"
#include "store.h"

typedef struct fixture {
    char dir[64];
    char path[96];
    cp_store *store;
    cp_app app;
    long long cursor; /* events up to here were checked */
    int wakes;        /* calls of the store's events hook */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/cumulus-events-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/cumulus.db", f->dir);
    cu_error *err = NULL;
    f->store = store_open(f->path, &err);
    if (f->store == NULL)
        return -1;
    f->app.store = f->store;
    pthread_mutex_init(&f->app.ops_lock, NULL);
    pthread_cond_init(&f->app.ops_changed, NULL);
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
    pthread_cond_destroy(&f->app.ops_changed);
    pthread_mutex_destroy(&f->app.ops_lock);
    free(f);
    return 0;
}

static void exec(fixture *f, const char *sql)
{
    cu_error *err = NULL;
    if (store_exec(f->store, &err, sql, "") < 0)
        fail_msg("%s: %s", sql, err->message);
}

/* The events after the cursor must be exactly `types` (NULL-terminated),
 * in order; returns them (the caller frees) and moves the cursor on. */
static json_t *expect(fixture *f, ...)
{
    cu_error *err = NULL;
    json_t *rows = store_list(f->store, &err,
                              "SELECT seq, created_at, type, target_type, target_id,"
                              " target_name, data AS data_json FROM events WHERE seq > ?"
                              " ORDER BY seq",
                              "i", f->cursor);
    assert_non_null(rows);
    va_list ap;
    va_start(ap, f);
    size_t n = 0;
    for (const char *t; (t = va_arg(ap, const char *)) != NULL; n++) {
        json_t *row = json_array_get(rows, n);
        if (row == NULL)
            fail_msg("expected event %zu to be '%s', there are only %zu", n + 1, t,
                     json_array_size(rows));
        assert_string_equal(json_string_value(json_object_get(row, "type")), t);
    }
    va_end(ap);
    if (json_array_size(rows) != n)
        fail_msg("%zu events, expected %zu; event %zu is '%s'", json_array_size(rows), n, n + 1,
                 json_string_value(json_object_get(json_array_get(rows, n), "type")));
    if (n > 0)
        f->cursor = json_integer_value(json_object_get(json_array_get(rows, n - 1), "seq"));
    return rows;
}

static void expect_none(fixture *f)
{
    json_decref(expect(f, NULL));
}

static const char *str(const json_t *events, size_t i, const char *key)
{
    return json_string_value(json_object_get(json_array_get(events, i), key));
}

static const char *data_str(const json_t *events, size_t i, const char *key)
{
    json_t *data = json_object_get(json_array_get(events, i), "data");
    return json_string_value(json_object_get(data, key));
}

#define INSERT_HOST                                                                                \
    "INSERT INTO hosts (id, name, address, architecture, vcpus, memory_mib, disk_gib,"             \
    " free_vcpus, free_memory_mib, free_disk_gib, last_heartbeat) VALUES ('host-1', 'h1',"         \
    " '10.0.0.1', 'x86_64', 8, 8192, 100, 8, 8192, 100, '2026-01-01T00:00:00.000Z')"
#define INSERT_VM                                                                                  \
    "INSERT INTO vms (id, name, size, vcpus, memory_mib, disk_gib, image_id, desired_state,"       \
    " state, host_id) VALUES ('vm-1', 'web-1', 's-1vcpu-1gb', 1, 1024, 25,"                        \
    " (SELECT id FROM images WHERE name = 'debian-12-amd64'), 'running', 'pending', 'host-1')"

static void migrations_record_nothing(void **state)
{
    fixture *f = *state;
    /* The seeded sizes and images were inserted before the triggers. */
    expect_none(f);
}

static void vm_lifecycle(void **state)
{
    fixture *f = *state;
    exec(f, INSERT_HOST);
    json_decref(expect(f, "host.joined", NULL));
    exec(f, INSERT_VM);
    json_t *ev = expect(f, "vm.created", NULL);
    assert_string_equal(str(ev, 0, "target_type"), "vm");
    assert_string_equal(str(ev, 0, "target_id"), "vm-1");
    assert_string_equal(str(ev, 0, "target_name"), "web-1");
    assert_string_equal(data_str(ev, 0, "host"), "h1");
    assert_string_equal(data_str(ev, 0, "state"), "pending");
    const char *t = str(ev, 0, "created_at"); /* 2026-03-01T12:34:56.789Z */
    assert_int_equal(strlen(t), 24);
    assert_true(t[10] == 'T' && t[19] == '.' && t[23] == 'Z');
    json_decref(ev);

    /* A heartbeat that changes nothing the events report records nothing. */
    exec(f, "UPDATE vms SET state = 'pending', guest_state = NULL, ssh_port = NULL,"
            " reported_generation = 1, updated_at = updated_at WHERE id = 'vm-1'");
    exec(f, "UPDATE vms SET next_push_at = 5, push_attempts = 2 WHERE id = 'vm-1'");
    expect_none(f);

    /* One statement, two changes: state, then guest state. */
    exec(f, "UPDATE vms SET state = 'running', ssh_port = 2222, guest_state = 'booting'"
            " WHERE id = 'vm-1'");
    ev = expect(f, "vm.state_changed", "vm.guest_state_changed", NULL);
    assert_string_equal(data_str(ev, 0, "old"), "pending");
    assert_string_equal(data_str(ev, 0, "new"), "running");
    json_t *port = json_object_get(json_object_get(json_array_get(ev, 0), "data"), "ssh_port");
    assert_int_equal(json_integer_value(port), 2222);
    assert_true(
        json_is_null(json_object_get(json_object_get(json_array_get(ev, 1), "data"), "old")));
    assert_string_equal(data_str(ev, 1, "new"), "booting");
    json_decref(ev);
    exec(f, "UPDATE vms SET guest_state = 'ready', guest_message = 'done', boot_seconds = 40"
            " WHERE id = 'vm-1'");
    ev = expect(f, "vm.guest_state_changed", NULL);
    assert_string_equal(data_str(ev, 0, "message"), "done");
    json_decref(ev);

    /* The delete path: desired state and state in one statement, in that order. */
    exec(f, "UPDATE vms SET desired_state = 'deleted', state = 'deleting' WHERE id = 'vm-1'");
    json_decref(expect(f, "vm.desired_state_changed", "vm.state_changed", NULL));
    exec(f, "UPDATE vms SET host_id = NULL WHERE id = 'vm-1'");
    ev = expect(f, "vm.host_changed", NULL);
    assert_string_equal(data_str(ev, 0, "old"), "host-1");
    json_decref(ev);
    exec(f, "DELETE FROM vms WHERE id = 'vm-1'");
    ev = expect(f, "vm.deleted", NULL);
    assert_string_equal(str(ev, 0, "target_name"), "web-1");
    json_decref(ev);
}

static void hosts(void **state)
{
    fixture *f = *state;
    exec(f, INSERT_HOST);
    json_decref(expect(f, "host.joined", NULL));
    /* Heartbeats: state set to what it is, free capacity changing. */
    exec(f, "UPDATE hosts SET state = CASE WHEN state = 'down' THEN 'up' ELSE state END,"
            " free_vcpus = 3, last_heartbeat = 'x' WHERE id = 'host-1'");
    exec(f, "UPDATE hosts SET used_vcpus = 4 WHERE id = 'host-1'");
    expect_none(f);
    exec(f, "UPDATE hosts SET state = 'down' WHERE id = 'host-1'");
    json_t *ev = expect(f, "host.state_changed", NULL);
    assert_string_equal(data_str(ev, 0, "old"), "up");
    assert_string_equal(data_str(ev, 0, "new"), "down");
    json_decref(ev);
    exec(f, "UPDATE hosts SET drained = 1 WHERE id = 'host-1'");
    exec(f, "UPDATE hosts SET drained = 1 WHERE id = 'host-1'"); /* drain is idempotent */
    exec(f, "UPDATE hosts SET drained = 0, state = 'up' WHERE id = 'host-1'");
    ev = expect(f, "host.drained", "host.state_changed", "host.returned", NULL);
    assert_true(
        json_is_true(json_object_get(json_object_get(json_array_get(ev, 0), "data"), "drained")));
    assert_true(
        json_is_false(json_object_get(json_object_get(json_array_get(ev, 2), "data"), "drained")));
    json_decref(ev);
}

static void operations(void **state)
{
    fixture *f = *state;
    cu_error *err = NULL;
    exec(f, INSERT_HOST);
    exec(f, INSERT_VM);
    f->cursor = 2;
    json_t *op = ops_create_for_vm(&f->app, "vm.create", "vm-1", 1, "placed", &err);
    assert_non_null(op);
    const char *id = json_string_value(json_object_get(op, "id"));
    json_t *ev = expect(f, "operation.created", NULL); /* setting its generation is no event */
    assert_string_equal(str(ev, 0, "target_type"), "vm");
    assert_string_equal(str(ev, 0, "target_name"), "web-1");
    json_t *ref = json_object_get(json_object_get(json_array_get(ev, 0), "data"), "operation");
    assert_string_equal(json_string_value(json_object_get(ref, "id")), id);
    assert_string_equal(json_string_value(json_object_get(ref, "type")), "vm.create");
    json_decref(ev);

    assert_int_equal(ops_update(&f->app, id, "running", 5, "accepted", &err), 1);
    ev = expect(f, "operation.status_changed", NULL);
    assert_string_equal(data_str(ev, 0, "old"), "pending");
    assert_string_equal(data_str(ev, 0, "new"), "running");
    json_decref(ev);
    /* Reports repeat themselves: only a change of progress or message counts. */
    assert_int_equal(ops_update(&f->app, id, "running", 5, "accepted", &err), 1);
    assert_int_equal(ops_update(&f->app, id, "running", 3, NULL, &err), 1);
    expect_none(f);
    assert_int_equal(ops_update(&f->app, id, "running", 40, "downloading", &err), 1);
    assert_int_equal(ops_update(&f->app, id, "running", 40, "booting", &err), 1);
    json_decref(expect(f, "operation.progress_changed", "operation.progress_changed", NULL));

    assert_int_equal(ops_finish(&f->app, id, "boot_timeout", "silent guest", &err), 1);
    ev = expect(f, "operation.status_changed", NULL);
    json_t *e = json_object_get(json_object_get(json_array_get(ev, 0), "data"), "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "boot_timeout");
    json_decref(ev);
    assert_int_equal(ops_finish(&f->app, id, NULL, "late", &err), 0); /* ended: unchanged */
    expect_none(f);
    json_decref(op);

    /* An operation on a VM already gone still names it (from its events). */
    exec(f, "DELETE FROM vms WHERE id = 'vm-1'");
    op = ops_create(&f->app, "vm.delete", "vm", "vm-1", "succeeded", "deleted", &err);
    ev = expect(f, "vm.deleted", "operation.created", NULL);
    assert_string_equal(str(ev, 1, "target_name"), "web-1");
    json_decref(ev);
    json_decref(op);
}

static void images(void **state)
{
    fixture *f = *state;
    exec(f, "INSERT INTO images (id, name, os, version, architecture, url, checksum, format,"
            " login_user, boot) VALUES ('img-1', 'mine', 'debian', '12', 'x86_64',"
            " 'http://x/y.qcow2', 'sha256:00', 'qcow2', 'debian', 'uefi')");
    exec(f, "UPDATE images SET local_dir = '/tmp' WHERE id = 'img-1'");
    exec(f, "DELETE FROM images WHERE id = 'img-1'");
    json_t *ev = expect(f, "image.created", "image.deleted", NULL);
    assert_string_equal(str(ev, 1, "target_name"), "mine");
    json_decref(ev);
}

/* EVENTS_KEEP are kept, a few more at most; a seq is never reused. */
static void retention(void **state)
{
    fixture *f = *state;
    exec(f, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100250)"
            " INSERT INTO events (type, target_type, target_id) SELECT 'test.filler', 'vm',"
            " 'vm-' || (i % 7) FROM n");
    long long count = store_int(f->store, 0, NULL, "SELECT count(*) FROM events", "");
    long long newest = store_int(f->store, 0, NULL, "SELECT max(seq) FROM events", "");
    assert_int_equal(newest, 100250);
    assert_true(count >= EVENTS_KEEP && count < EVENTS_KEEP + 100);
    assert_int_equal(store_int(f->store, 0, NULL, "SELECT min(seq) FROM events", ""),
                     newest - count + 1);
    exec(f, "DELETE FROM events");
    exec(f, INSERT_HOST);
    assert_int_equal(store_int(f->store, 0, NULL, "SELECT max(seq) FROM events", ""), newest + 1);
}

static void count_wake(void *arg)
{
    ((fixture *)arg)->wakes++;
}

static void wakes_after_commit_only(void **state)
{
    fixture *f = *state;
    cu_error *err = NULL;
    store_on_events(f->store, count_wake, f);
    exec(f, INSERT_HOST); /* outside a transaction: at once */
    assert_int_equal(f->wakes, 1);
    exec(f, "UPDATE sizes SET vcpus = 3 WHERE name = 's-2vcpu-2gb'"); /* no event */
    exec(f, "UPDATE hosts SET free_vcpus = 1 WHERE id = 'host-1'");
    assert_int_equal(f->wakes, 1);

    assert_int_equal(store_tx_begin(f->store, &err), 0);
    exec(f, INSERT_VM);
    exec(f, "UPDATE vms SET state = 'running' WHERE id = 'vm-1'");
    assert_int_equal(f->wakes, 1); /* not before the commit */
    assert_int_equal(store_tx_commit(f->store, &err), 0);
    assert_int_equal(f->wakes, 2); /* once for the transaction */

    assert_int_equal(store_tx_begin(f->store, &err), 0);
    exec(f, "UPDATE vms SET state = 'stopped' WHERE id = 'vm-1'");
    store_tx_rollback(f->store);
    exec(f, "UPDATE vms SET ssh_port = 1 WHERE id = 'vm-1'"); /* no event either */
    assert_int_equal(f->wakes, 2);
    f->cursor = 0;
    json_decref(expect(f, "host.joined", "vm.created", "vm.state_changed", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrations_record_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(vm_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(hosts, setup, teardown),
        cmocka_unit_test_setup_teardown(operations, setup, teardown),
        cmocka_unit_test_setup_teardown(images, setup, teardown),
        cmocka_unit_test_setup_teardown(retention, setup, teardown),
        cmocka_unit_test_setup_teardown(wakes_after_commit_only, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
