/* schema.c: migrations, oldest first.  Never edit a migration that has
 * shipped: add a new one.  Seed rows are inserted by migrations too, so a
 * default that an operator deleted does not come back on restart. */
#define _GNU_SOURCE
#include "schema.h"

#include <stdio.h>

#include "events.h"
#include "log.h"
#include "store.h"

#define NEW_ID(prefix) "'" prefix "-' || lower(hex(randomblob(8)))"
#define TS "TEXT NOT NULL DEFAULT (" SQL_NOW ")"

static const char migration_1[] =
    "CREATE TABLE tokens ("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('admin','join','agent')),"
    "  hash TEXT NOT NULL UNIQUE, subject TEXT, created_at " TS ");"
    "CREATE TABLE sizes ("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE,"
    "  vcpus INTEGER NOT NULL, memory_mib INTEGER NOT NULL, disk_gib INTEGER NOT NULL,"
    "  created_at " TS ");"
    "CREATE TABLE images ("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE,"
    "  os TEXT NOT NULL, version TEXT NOT NULL,"
    "  architecture TEXT NOT NULL CHECK (architecture IN ('x86_64','aarch64')),"
    "  url TEXT NOT NULL, checksum TEXT NOT NULL,"
    "  format TEXT NOT NULL CHECK (format IN ('qcow2','raw')),"
    "  login_user TEXT NOT NULL, boot TEXT NOT NULL CHECK (boot IN ('uefi','kernel')),"
    "  origin TEXT NOT NULL DEFAULT 'user', created_at " TS ");"
    "CREATE TABLE ssh_keys ("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE,"
    "  type TEXT NOT NULL, bits INTEGER NOT NULL, fingerprint TEXT NOT NULL UNIQUE,"
    "  comment TEXT NOT NULL, public_key TEXT NOT NULL, created_at " TS ");"
    "CREATE TABLE hosts ("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE,"
    "  address TEXT NOT NULL, architecture TEXT NOT NULL, accelerators TEXT NOT NULL DEFAULT '[]',"
    "  vcpus INTEGER NOT NULL, memory_mib INTEGER NOT NULL, disk_gib INTEGER NOT NULL,"
    "  free_vcpus INTEGER NOT NULL, free_memory_mib INTEGER NOT NULL,"
    "  free_disk_gib INTEGER NOT NULL, qemu_version TEXT,"
    "  state TEXT NOT NULL DEFAULT 'up' CHECK (state IN ('up','down','draining')),"
    "  last_heartbeat TEXT, created_at " TS ");"
    "CREATE TABLE vms ("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE,"
    "  size TEXT NOT NULL, vcpus INTEGER NOT NULL, memory_mib INTEGER NOT NULL,"
    "  disk_gib INTEGER NOT NULL, image_id TEXT NOT NULL REFERENCES images(id),"
    "  ssh_keys TEXT NOT NULL DEFAULT '[]', user_data TEXT,"
    "  desired_state TEXT NOT NULL CHECK (desired_state IN ('running','stopped','deleted')),"
    "  state TEXT NOT NULL,"
    "  host_id TEXT REFERENCES hosts(id), ssh_port INTEGER,"
    "  created_at " TS ", updated_at " TS ");"
    "CREATE INDEX vms_state ON vms(state);"
    "CREATE INDEX vms_host ON vms(host_id);"
    "CREATE INDEX vms_image ON vms(image_id);"
    "CREATE TABLE operations ("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,"
    "  target_type TEXT NOT NULL, target_id TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('pending','running','succeeded','failed')),"
    "  progress INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',"
    "  error_code TEXT, error_message TEXT,"
    "  created_at " TS ", updated_at " TS ", finished_at TEXT);"
    "CREATE INDEX operations_target ON operations(target_id, status);";

/* Default sizes, in the spirit of a hosting provider's price list. */
static const char migration_2[] =
    "INSERT INTO sizes (id, name, vcpus, memory_mib, disk_gib) VALUES"
    " (" NEW_ID("size") ", 's-1vcpu-512mb', 1, 512, 10),"
    " (" NEW_ID("size") ", 's-1vcpu-1gb', 1, 1024, 25),"
    " (" NEW_ID("size") ", 's-2vcpu-2gb', 2, 2048, 50),"
    " (" NEW_ID("size") ", 's-2vcpu-4gb', 2, 4096, 80),"
    " (" NEW_ID("size") ", 's-4vcpu-8gb', 4, 8192, 160);";

/* The official cloud images, pinned to dated builds so the checksums hold.
 * Ubuntu publishes SHA256SUMS; Debian publishes only SHA512SUMS, so its
 * entries carry SHA-512 (the checksum field names its algorithm). */
#define UBUNTU_REL "https://cloud-images.ubuntu.com/releases/noble/release-20260225/"
#define DEBIAN_REL "https://cloud.debian.org/images/cloud/bookworm/20260225-2399/"
static const char migration_3[] =
    "INSERT INTO images (id, name, os, version, architecture, url, checksum, format,"
    " login_user, boot, origin) VALUES"
    " (" NEW_ID("img") ", 'ubuntu-24-04-amd64', 'ubuntu', '24.04', 'x86_64',"
    "  '" UBUNTU_REL "ubuntu-24.04-server-cloudimg-amd64.img',"
    "  'sha256:7aa6d9f5e8a3a55c7445b138d31a73d1187871211b2b7da9da2e1a6cbf169b21',"
    "  'qcow2', 'ubuntu', 'uefi', 'catalog'),"
    " (" NEW_ID("img") ", 'ubuntu-24-04-arm64', 'ubuntu', '24.04', 'aarch64',"
    "  '" UBUNTU_REL "ubuntu-24.04-server-cloudimg-arm64.img',"
    "  'sha256:99e1d482b958e6bfd0183a4c48ce6dc334e09a3e29a4560f6f5ff85593d09d1d',"
    "  'qcow2', 'ubuntu', 'uefi', 'catalog'),"
    " (" NEW_ID("img") ", 'debian-12-amd64', 'debian', '12', 'x86_64',"
    "  '" DEBIAN_REL "debian-12-genericcloud-amd64-20260225-2399.qcow2',"
    "  'sha512:9484213faab270ee150c337ab0e3e08ec70118b353c0c02c365c1e06e4d5cc18"
    "473c59b1e187d5edd0805548d4b1570ac07750076b8f55c6e20efb8871f50bfc',"
    "  'qcow2', 'debian', 'uefi', 'catalog'),"
    " (" NEW_ID("img") ", 'debian-12-arm64', 'debian', '12', 'aarch64',"
    "  '" DEBIAN_REL "debian-12-genericcloud-arm64-20260225-2399.qcow2',"
    "  'sha512:2c6df5c3f6f52e4becae90cf323e16d957cd6089f6c9f62bc7df05a4065b37c2"
    "8ab14532fb0a789ccb3653d69c9df895971551f6a83bd8864b4d6bfc88d70e3a',"
    "  'qcow2', 'debian', 'uefi', 'catalog');";

/* Agents: how to reach a host and prove it is us; orders and what hosts
 * reported, per VM; the generation an operation waits for. */
static const char migration_4[] =
    "ALTER TABLE hosts ADD COLUMN api_url TEXT;"
    "ALTER TABLE hosts ADD COLUMN order_token TEXT;"
    "ALTER TABLE vms ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE vms ADD COLUMN stop_mode TEXT NOT NULL DEFAULT 'graceful';"
    "ALTER TABLE vms ADD COLUMN reboot_request TEXT;"
    "ALTER TABLE vms ADD COLUMN pushed_generation INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE vms ADD COLUMN reported_generation INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE vms ADD COLUMN push_attempts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE vms ADD COLUMN next_push_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE vms ADD COLUMN state_message TEXT;"
    "ALTER TABLE operations ADD COLUMN generation INTEGER;"
    "ALTER TABLE images ADD COLUMN kernel_url TEXT;"
    "ALTER TABLE images ADD COLUMN initrd_url TEXT;"
    "ALTER TABLE images ADD COLUMN cmdline TEXT;";

/* Readiness (what the guest reported), the boot method a VM chose,
 * images with checksummed kernels or files of our own (image_import.h),
 * and the guest architectures a host runs under emulation. */
static const char migration_5[] =
    "ALTER TABLE vms ADD COLUMN boot TEXT;"
    "ALTER TABLE vms ADD COLUMN guest_state TEXT;"
    "ALTER TABLE vms ADD COLUMN guest_message TEXT;"
    "ALTER TABLE vms ADD COLUMN boot_seconds INTEGER;"
    "ALTER TABLE images ADD COLUMN kernel_checksum TEXT;"
    "ALTER TABLE images ADD COLUMN initrd_checksum TEXT;"
    "ALTER TABLE images ADD COLUMN local_dir TEXT;"
    "ALTER TABLE hosts ADD COLUMN emulated_architectures TEXT NOT NULL DEFAULT '[]';";

/* Hosts taken out of placement (drained), and what the VMs placed on each
 * host use, kept by triggers in every write path, so placing a VM reads
 * the hosts only, not every VM (scheduler.c).  A VM being deleted
 * (desired_state 'deleted') no longer counts. */
#define VM_USE(sign, row)                                                                          \
    "UPDATE hosts SET used_vcpus = used_vcpus " sign " " row ".vcpus,"                             \
    " used_memory_mib = used_memory_mib " sign " " row ".memory_mib,"                              \
    " used_disk_gib = used_disk_gib " sign " " row ".disk_gib"                                     \
    " WHERE id = " row ".host_id AND " row ".desired_state != 'deleted';"
static const char migration_6[] =
    "ALTER TABLE hosts ADD COLUMN drained INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE hosts ADD COLUMN used_vcpus INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE hosts ADD COLUMN used_memory_mib INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE hosts ADD COLUMN used_disk_gib INTEGER NOT NULL DEFAULT 0;"
    "UPDATE hosts SET"
    " used_vcpus = (SELECT coalesce(sum(vcpus), 0) FROM vms"
    "  WHERE host_id = hosts.id AND desired_state != 'deleted'),"
    " used_memory_mib = (SELECT coalesce(sum(memory_mib), 0) FROM vms"
    "  WHERE host_id = hosts.id AND desired_state != 'deleted'),"
    " used_disk_gib = (SELECT coalesce(sum(disk_gib), 0) FROM vms"
    "  WHERE host_id = hosts.id AND desired_state != 'deleted');"
    "CREATE TRIGGER vms_use_insert AFTER INSERT ON vms BEGIN " VM_USE("+", "NEW") " END;"
    "CREATE TRIGGER vms_use_delete AFTER DELETE ON vms BEGIN " VM_USE("-", "OLD") " END;"
    "CREATE TRIGGER vms_use_update AFTER UPDATE OF host_id, desired_state, vcpus, memory_mib,"
    " disk_gib ON vms BEGIN " VM_USE("-", "OLD") " " VM_USE("+", "NEW") " END;";

/* What a VM does when its host comes back from a restart (agent/vm_steps.c). */
static const char migration_7[] =
    "ALTER TABLE vms ADD COLUMN autostart TEXT NOT NULL DEFAULT 'last';";

/* Events (events.h): one row per real change of a VM, host, operation or
 * image, written by these triggers in the change's own transaction.  An
 * event's id is derived from its seq (api_events.c) and it has one index
 * besides seq, on target_id: an event costs the commit little.  Each
 * trigger fires only when a column it reports differs (OLD IS NOT NEW),
 * so a heartbeat that changes nothing records nothing.  Changes of one
 * statement are recorded in a fixed order (desired state, host, state,
 * guest state).  An operation's events are about what it works on (its
 * target); the operation is in `data`.  Every lookup is by a unique id or
 * an index: a trigger never scans. */
#define XSTR(x) STR(x)
#define STR(x) #x
#define EVENT_INSERT                                                                               \
    "INSERT INTO events (type, target_type, target_id, target_name, data) SELECT "
#define HOST_NAME(id) "(SELECT name FROM hosts WHERE id = " id ")"
#define OP_REF "json_object('id', NEW.id, 'type', NEW.type)"
/* What an operation works on, by name: its row, else the name its last
 * event had (an unplaced VM is deleted before its delete operation). */
#define OP_TARGET                                                                                  \
    "NEW.target_type, NEW.target_id, coalesce(CASE NEW.target_type"                                \
    " WHEN 'vm' THEN (SELECT name FROM vms WHERE id = NEW.target_id)"                              \
    " WHEN 'image' THEN (SELECT name FROM images WHERE id = NEW.target_id)"                        \
    " WHEN 'host' THEN " HOST_NAME("NEW.target_id") " END,"                                        \
    " (SELECT target_name FROM events WHERE target_id = NEW.target_id ORDER BY seq DESC LIMIT 1))"
static const char migration_8[] =
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, created_at " TS ", type TEXT NOT NULL,"
    "  target_type TEXT NOT NULL, target_id TEXT NOT NULL, target_name TEXT,"
    "  data TEXT NOT NULL DEFAULT '{}');"
    "CREATE INDEX events_target ON events(target_id);"
    "CREATE TRIGGER events_retention AFTER INSERT ON events WHEN NEW.seq % 100 = 0 BEGIN"
    " DELETE FROM events WHERE seq <= NEW.seq - " XSTR(EVENTS_KEEP) "; END;"

    "CREATE TRIGGER vms_event_insert AFTER INSERT ON vms BEGIN " EVENT_INSERT
    "'vm.created', 'vm', NEW.id, NEW.name, json_object('state', NEW.state, 'desired_state',"
    " NEW.desired_state, 'host_id', NEW.host_id, 'host', " HOST_NAME("NEW.host_id") ","
    " 'size', NEW.size, 'image_id', NEW.image_id); END;"
    "CREATE TRIGGER vms_event_update AFTER UPDATE OF desired_state, host_id, state, guest_state"
    " ON vms WHEN OLD.desired_state IS NOT NEW.desired_state OR OLD.host_id IS NOT NEW.host_id"
    " OR OLD.state IS NOT NEW.state OR OLD.guest_state IS NOT NEW.guest_state BEGIN "
    EVENT_INSERT "'vm.desired_state_changed', 'vm', NEW.id, NEW.name, json_object('old',"
    " OLD.desired_state, 'new', NEW.desired_state)"
    " WHERE OLD.desired_state IS NOT NEW.desired_state;"
    EVENT_INSERT "'vm.host_changed', 'vm', NEW.id, NEW.name, json_object('old', OLD.host_id,"
    " 'new', NEW.host_id, 'host', " HOST_NAME("NEW.host_id") ")"
    " WHERE OLD.host_id IS NOT NEW.host_id;"
    EVENT_INSERT "'vm.state_changed', 'vm', NEW.id, NEW.name, json_object('old', OLD.state,"
    " 'new', NEW.state, 'message', NEW.state_message, 'host_id', NEW.host_id, 'ssh_port',"
    " NEW.ssh_port) WHERE OLD.state IS NOT NEW.state;"
    EVENT_INSERT "'vm.guest_state_changed', 'vm', NEW.id, NEW.name, json_object('old',"
    " OLD.guest_state, 'new', NEW.guest_state, 'message', NEW.guest_message, 'boot_seconds',"
    " NEW.boot_seconds) WHERE OLD.guest_state IS NOT NEW.guest_state; END;"
    "CREATE TRIGGER vms_event_delete AFTER DELETE ON vms BEGIN " EVENT_INSERT
    "'vm.deleted', 'vm', OLD.id, OLD.name, json_object('state', OLD.state, 'host_id',"
    " OLD.host_id); END;"

    "CREATE TRIGGER hosts_event_insert AFTER INSERT ON hosts BEGIN " EVENT_INSERT
    "'host.joined', 'host', NEW.id, NEW.name, json_object('state', NEW.state, 'address',"
    " NEW.address, 'api_url', NEW.api_url, 'architecture', NEW.architecture, 'vcpus', NEW.vcpus,"
    " 'memory_mib', NEW.memory_mib, 'disk_gib', NEW.disk_gib); END;"
    "CREATE TRIGGER hosts_event_update AFTER UPDATE OF state, drained ON hosts"
    " WHEN OLD.state IS NOT NEW.state OR OLD.drained IS NOT NEW.drained BEGIN "
    EVENT_INSERT "'host.state_changed', 'host', NEW.id, NEW.name, json_object('old', OLD.state,"
    " 'new', NEW.state, 'last_heartbeat', NEW.last_heartbeat) WHERE OLD.state IS NOT NEW.state;"
    EVENT_INSERT "CASE WHEN NEW.drained THEN 'host.drained' ELSE 'host.returned' END, 'host',"
    " NEW.id, NEW.name, json_object('drained', json(CASE WHEN NEW.drained THEN 'true'"
    " ELSE 'false' END)) WHERE OLD.drained IS NOT NEW.drained; END;"
    "CREATE TRIGGER hosts_event_delete AFTER DELETE ON hosts BEGIN " EVENT_INSERT
    "'host.deleted', 'host', OLD.id, OLD.name, json_object('state', OLD.state); END;"

    "CREATE TRIGGER operations_event_insert AFTER INSERT ON operations BEGIN " EVENT_INSERT
    "'operation.created', " OP_TARGET ", json_object('operation', " OP_REF ", 'status',"
    " NEW.status, 'progress', NEW.progress, 'message', NEW.message); END;"
    "CREATE TRIGGER operations_event_update AFTER UPDATE OF status, progress, message"
    " ON operations WHEN OLD.status IS NOT NEW.status OR OLD.progress IS NOT NEW.progress"
    " OR OLD.message IS NOT NEW.message BEGIN "
    EVENT_INSERT "'operation.status_changed', " OP_TARGET ", json_object('operation', " OP_REF ","
    " 'old', OLD.status, 'new', NEW.status, 'progress', NEW.progress, 'message', NEW.message,"
    " 'error', CASE WHEN NEW.error_code IS NULL THEN NULL ELSE json_object('code',"
    " NEW.error_code, 'message', NEW.error_message) END) WHERE OLD.status IS NOT NEW.status;"
    EVENT_INSERT "'operation.progress_changed', " OP_TARGET ", json_object('operation', " OP_REF
    ", 'status', NEW.status, 'progress', NEW.progress, 'message', NEW.message)"
    " WHERE OLD.status IS NEW.status; END;"

    "CREATE TRIGGER images_event_insert AFTER INSERT ON images BEGIN " EVENT_INSERT
    "'image.created', 'image', NEW.id, NEW.name, json_object('os', NEW.os, 'version',"
    " NEW.version, 'architecture', NEW.architecture, 'origin', NEW.origin); END;"
    "CREATE TRIGGER images_event_delete AFTER DELETE ON images BEGIN " EVENT_INSERT
    "'image.deleted', 'image', OLD.id, OLD.name, json_object('origin', OLD.origin); END;";

/* Snapshots (snapshots.h): internal qcow2 snapshots of a VM's disk, with
 * the VM's memory when asked; they live in the VM's disk, so they go with
 * the VM.  A restore is a request the host carries out once.  Images made
 * from a VM (a snapshot, or a baked disk) are 'creating' until their file
 * is here, checked; `source` says where they came from. */
static const char migration_9[] =
    "CREATE TABLE snapshots ("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    "  vm_id TEXT NOT NULL REFERENCES vms(id) ON DELETE CASCADE, name TEXT NOT NULL,"
    "  memory INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL CHECK (state IN ('creating','ready','deleting','error')),"
    "  generation INTEGER NOT NULL DEFAULT 0, vm_state_bytes INTEGER, taken_at TEXT,"
    "  error_message TEXT, created_at " TS ", UNIQUE (vm_id, name));"
    "CREATE INDEX snapshots_vm ON snapshots(vm_id);"
    "ALTER TABLE vms ADD COLUMN restore_request TEXT;"
    "ALTER TABLE vms ADD COLUMN restore_snapshot TEXT;"
    "ALTER TABLE vms ADD COLUMN export_image TEXT;"
    "ALTER TABLE vms ADD COLUMN export_snapshot TEXT;"
    "ALTER TABLE images ADD COLUMN state TEXT NOT NULL DEFAULT 'ready'"
    "  CHECK (state IN ('creating','ready','error'));"
    "ALTER TABLE images ADD COLUMN source TEXT;"
    "ALTER TABLE images ADD COLUMN size_bytes INTEGER;"
    "CREATE TRIGGER snapshots_event_insert AFTER INSERT ON snapshots BEGIN " EVENT_INSERT
    "'snapshot.created', 'snapshot', NEW.id, NEW.name, json_object('vm_id', NEW.vm_id,"
    " 'state', NEW.state, 'memory', json(CASE WHEN NEW.memory THEN 'true' ELSE 'false' END));"
    " END;"
    "CREATE TRIGGER snapshots_event_update AFTER UPDATE OF state ON snapshots"
    " WHEN OLD.state IS NOT NEW.state BEGIN " EVENT_INSERT
    "'snapshot.state_changed', 'snapshot', NEW.id, NEW.name, json_object('vm_id', NEW.vm_id,"
    " 'old', OLD.state, 'new', NEW.state, 'message', NEW.error_message); END;"
    "CREATE TRIGGER snapshots_event_delete AFTER DELETE ON snapshots BEGIN " EVENT_INSERT
    "'snapshot.deleted', 'snapshot', OLD.id, OLD.name, json_object('vm_id', OLD.vm_id); END;"
    "CREATE TRIGGER images_event_update AFTER UPDATE OF state ON images"
    " WHEN OLD.state IS NOT NEW.state BEGIN " EVENT_INSERT
    "'image.state_changed', 'image', NEW.id, NEW.name, json_object('old', OLD.state,"
    " 'new', NEW.state); END;";

/* Runs (runs.h): a throwaway VM that runs one command over SSH and is
 * destroyed.  `result_state` is the outcome once it is known, kept while
 * the VM is being destroyed (state 'destroying'), so a restart mid-way
 * still ends the run as it would have.  The run's VM says whose it is
 * (vms.run_id).  No foreign keys: a finished run outlives its VM and may
 * outlive its image. */
static const char migration_10[] =
    "CREATE TABLE runs ("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    "  image_id TEXT NOT NULL, image TEXT NOT NULL, size TEXT NOT NULL,"
    "  command TEXT NOT NULL, timeout_s INTEGER NOT NULL,"
    "  files TEXT NOT NULL DEFAULT '[]', ssh_keys TEXT NOT NULL DEFAULT '[]',"
    "  state TEXT NOT NULL CHECK (state IN ('pending','booting','copying','running',"
    "   'destroying','succeeded','failed','error')),"
    "  result_state TEXT CHECK (result_state IN ('succeeded','failed','error')),"
    "  exit_code INTEGER, vm_id TEXT, operation_id TEXT, error_code TEXT, error_message TEXT,"
    "  created_at " TS ", started_at TEXT, finished_at TEXT, updated_at " TS ");"
    "CREATE INDEX runs_state ON runs(state);"
    "ALTER TABLE vms ADD COLUMN run_id TEXT;"
    "CREATE TRIGGER runs_event_insert AFTER INSERT ON runs BEGIN " EVENT_INSERT
    "'run.created', 'run', NEW.id, NEW.id, json_object('state', NEW.state, 'vm_id', NEW.vm_id,"
    " 'image', NEW.image, 'size', NEW.size); END;"
    "CREATE TRIGGER runs_event_update AFTER UPDATE OF state ON runs"
    " WHEN OLD.state IS NOT NEW.state BEGIN " EVENT_INSERT
    "'run.state_changed', 'run', NEW.id, NEW.id, json_object('old', OLD.state, 'new', NEW.state,"
    " 'vm_id', NEW.vm_id, 'exit_code', NEW.exit_code, 'error', CASE WHEN NEW.error_code IS NULL"
    " THEN NULL ELSE json_object('code', NEW.error_code, 'message', NEW.error_message) END); END;"
    "CREATE TRIGGER runs_event_delete AFTER DELETE ON runs BEGIN " EVENT_INSERT
    "'run.deleted', 'run', OLD.id, OLD.id, json_object('state', OLD.state, 'exit_code',"
    " OLD.exit_code); END;";

/* Bakes (bake.h): the VM that bakes an image says which (vms.bake_image)
 * and until when it may take (unix seconds). */
static const char migration_11[] = "ALTER TABLE vms ADD COLUMN bake_image TEXT;"
                                   "ALTER TABLE vms ADD COLUMN bake_deadline INTEGER;"
                                   "CREATE INDEX vms_bake_image ON vms(bake_image)"
                                   "  WHERE bake_image IS NOT NULL;";

/* Consoles (agent/console_proxy.h): where viewers reach a host's console
 * websockets, as its agent reports it. */
static const char migration_12[] = "ALTER TABLE hosts ADD COLUMN console_url TEXT;";

static const char *const migrations[] = {migration_1,  migration_2,  migration_3, migration_4,
                                         migration_5,  migration_6,  migration_7, migration_8,
                                         migration_9,  migration_10, migration_11, migration_12};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int schema_latest_version(void)
{
    return NMIGRATIONS;
}

static int apply(struct cp_store *s, int version, cu_error **err)
{
    char bump[64];
    snprintf(bump, sizeof(bump), "PRAGMA user_version = %d;", version);
    if (store_tx_begin(s, err) < 0)
        return -1;
    if (store_exec_script(s, migrations[version - 1], err) < 0 ||
        store_exec_script(s, bump, err) < 0) {
        store_tx_rollback(s);
        return cu_error_wrap(err, "schema migration %d", version);
    }
    return store_tx_commit(s, err);
}

int schema_migrate(struct cp_store *s, cu_error **err)
{
    int current = store_schema_version(s);
    if (current > NMIGRATIONS)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "the database has schema version %d but this build knows only up to "
                            "%d; run a newer cumulus-controlplane",
                            current, NMIGRATIONS);
    for (int v = current + 1; v <= NMIGRATIONS; v++) {
        if (apply(s, v, err) < 0)
            return -1;
        log_info("database schema migrated to version %d", v);
    }
    return 0;
}
