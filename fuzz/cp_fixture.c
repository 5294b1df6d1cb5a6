/* cp_fixture.c: see cp_fixture.h. */
#define _GNU_SOURCE
#include "cp_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

static long long seed_sizes, seed_images;

static const char rows[] =
    "INSERT INTO hosts (id, name, address, architecture, vcpus, memory_mib, disk_gib,"
    " free_vcpus, free_memory_mib, free_disk_gib, api_url, order_token, console_url)"
    " VALUES ('" FIXTURE_HOST "', 'host-a', '127.0.0.1', 'x86_64', 8, 16384, 200, 6, 14000, 150,"
    " 'http://127.0.0.1:9', 'fuzz-order-token', 'ws://127.0.0.1:7001');"
    "INSERT INTO ssh_keys (id, name, type, bits, fingerprint, comment, public_key) VALUES"
    " ('key-a', 'laptop', 'ssh-ed25519', 256, 'SHA256:fuzz', 'me',"
    " 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me');"
    "INSERT INTO vms (id, name, size, vcpus, memory_mib, disk_gib, image_id, ssh_keys, user_data,"
    " desired_state, state, host_id, ssh_port, generation, pushed_generation,"
    " reported_generation) VALUES"
    " ('vm-a', 'web-a', 's-1vcpu-1gb', 1, 1024, 25, (SELECT id FROM images ORDER BY seq LIMIT 1),"
    "  '[\"laptop\"]', '#cloud-config\npackages: [nginx]\n', 'running', 'starting', '" FIXTURE_HOST
    "', NULL, 2, 2, 1),"
    " ('vm-b', 'web-b', 's-1vcpu-1gb', 1, 1024, 25, (SELECT id FROM images ORDER BY seq LIMIT 1),"
    "  '[]', NULL, 'deleted', 'deleting', '" FIXTURE_HOST "', 2201, 3, 3, 3),"
    " ('vm-c', 'web-c', 's-2vcpu-2gb', 2, 2048, 50, (SELECT id FROM images ORDER BY seq LIMIT 1),"
    "  '[]', '#!/bin/sh\necho hi\n', 'stopped', 'stopping', '" FIXTURE_HOST "', 2202, 4, 4, 3),"
    " ('vm-d', 'web-d', 's-1vcpu-512mb', 1, 512, 10, (SELECT id FROM images ORDER BY seq LIMIT 1),"
    "  '[]', NULL, 'running', 'provisioning', NULL, NULL, 1, 0, 0);"
    "INSERT INTO operations (id, type, target_type, target_id, status, generation) VALUES"
    " ('op-a', 'vm.create', 'vm', 'vm-a', 'running', 2),"
    " ('op-b', 'vm.delete', 'vm', 'vm-b', 'running', 3),"
    " ('op-c', 'vm.stop', 'vm', 'vm-c', 'running', 4),"
    " ('op-d', 'vm.create', 'vm', 'vm-d', 'pending', 1);"
    "INSERT INTO snapshots (id, vm_id, name, state, generation) VALUES"
    " ('snap-a', 'vm-a', 'before', 'ready', 2), ('snap-b', 'vm-a', 'pending', 'creating', 3);";

static void exec_or_die(cp_store *s, const char *sql)
{
    cu_error *err = NULL;
    if (store_exec_script(s, sql, &err) < 0) {
        fprintf(stderr, "cp_fixture: %s\n", err->message);
        abort();
    }
}

/* total_changes() right after the last reset: an input that changed
 * nothing (most are refused) needs no reset, which is the slow part. */
static long long changes_after_reset = -1;

static long long total_changes(cp_app *app)
{
    return store_int(app->store, -1, NULL, "SELECT total_changes()", "");
}

void cp_fixture_reset(cp_app *app)
{
    if (changes_after_reset >= 0 && total_changes(app) == changes_after_reset)
        return;
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "BEGIN; DELETE FROM events; DELETE FROM operations; DELETE FROM snapshots;"
             " DELETE FROM runs; DELETE FROM vms; DELETE FROM tokens; DELETE FROM hosts;"
             " DELETE FROM ssh_keys; DELETE FROM sizes WHERE seq > %lld;"
             " DELETE FROM images WHERE seq > %lld;",
             seed_sizes, seed_images);
    exec_or_die(app->store, sql);
    exec_or_die(app->store, rows);
    exec_or_die(app->store, "COMMIT;");
    changes_after_reset = total_changes(app);
}


cp_app *cp_fixture_app(void)
{
    static cp_app app;
    if (app.store)
        return &app;
    cu_log_set_level(CU_LOG_ERROR);
    cu_error *err = NULL;
    if ((app.store = store_open(":memory:", &err)) == NULL) {
        fprintf(stderr, "cp_fixture: %s\n", err->message);
        abort();
    }
    pthread_mutex_init(&app.ops_lock, NULL);
    pthread_cond_init(&app.ops_changed, NULL);
    app.data_dir = strdup("/nonexistent/cumulus-fuzz");
    app.cpu_ratio = app.memory_ratio = app.disk_ratio = 1.0;
    app.host_timeout_s = 30;
    app.reconcile_ms = 1000;
    seed_sizes = store_int(app.store, 0, NULL, "SELECT max(seq) FROM sizes", "");
    seed_images = store_int(app.store, 0, NULL, "SELECT max(seq) FROM images", "");
    cp_fixture_reset(&app);
    return &app;
}
