/* schema.c: migrations, oldest first.  Never edit a migration that has
 * shipped: add a new one.  Seed rows are inserted by migrations too, so a
 * default that an operator deleted does not come back on restart. */
#define _GNU_SOURCE
#include "schema.h"

#include <stdio.h>

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

static const char *const migrations[] = {migration_1, migration_2, migration_3, migration_4,
                                         migration_5, migration_6, migration_7};
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
