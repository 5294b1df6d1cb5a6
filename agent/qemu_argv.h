/* qemu_argv.h: one pure function from a VM and the host's facts to QEMU's
 * argv (libvirt's qemu_command.c in small).  No I/O, no probing: the same
 * input gives the same argv, which tests/golden/<case>.args pin down.
 *
 * Injection rules, checked against QEMU 7.2 (Debian 12):
 *  - -blockdev, -device, -netdev take JSON (built with jansson), so no value
 *    can add a property or an option;
 *  - -chardev, -vnc, -name only take QemuOpts "k=v,k=v" in 7.2 (JSON
 *    -chardev came in 8.x): values there have their commas doubled, which
 *    is QemuOpts' escape;
 *  - -kernel, -initrd, -append, -pidfile take their argument verbatim;
 *  - each value is one argv element (no shell anywhere), and paths must be
 *    absolute and free of control characters. */
#ifndef CUMULUS_AGENT_QEMU_ARGV_H
#define CUMULUS_AGENT_QEMU_ARGV_H

#include "cmd.h"
#include "error.h"
#include "host_facts.h"

/* The -sandbox (seccomp) policy.  spawn=deny and elevateprivileges=deny
 * are left out on purpose: QEMU 7.2 installs the filter before
 * -daemonize forks and calls setsid(), so either one kills QEMU with
 * SIGSYS at start (tried on 7.2.22).  host_facts probes this very string. */
#define QEMU_SANDBOX_OPTS "on,obsolete=deny,resourcecontrol=deny"

typedef struct qemu_launch {
    const char *vm_id, *name;
    const char *guest_arch; /* "x86_64" | "aarch64" */
    int vcpus;
    long long memory_mib;
    const char *run_dir;                   /* holds qmp.sock, vnc.sock, serial.log, qemu.pid */
    const char *disk_path;                 /* qcow2 overlay */
    const char *seed_path;                 /* cidata ISO; NULL for none */
    const char *fw_code, *fw_vars;         /* UEFI; NULL when direct kernel boot */
    const char *kernel, *initrd, *cmdline; /* direct kernel boot; NULL otherwise */
    int ssh_port;                          /* host port forwarded to guest :22; 0 = none */
    const char *ssh_bind;                  /* IPv4 address for the forward; NULL = 127.0.0.1 */
    unsigned runas_uid; /* nonzero: -runas UID:UID, QEMU drops root for this uid and gid once
                         * it has opened its files, before the guest runs; 0: stays as is */
} qemu_launch;

/* Appends QEMU's arguments (after the program name) to cmd.  The argv has
 * -daemonize and -pidfile RUN_DIR/qemu.pid: QEMU detaches once it has
 * started, so cu_cmd_run returns its startup errors and exit status, and
 * the VM outlives the agent.  400 invalid_field errors for bad input. */
int qemu_build_argv(const host_facts *host, const qemu_launch *vm, cu_cmd *cmd, cu_error **err);

/* A command for host_qemu_binary(vm->guest_arch) with qemu_build_argv's
 * arguments; NULL on error. */
cu_cmd *qemu_command_new(const host_facts *host, const qemu_launch *vm, cu_error **err);

/* The VM's NIC address: 52:54:00 (QEMU's locally administered prefix)
 * and three bytes of a hash of the id, so it is stable across restarts. */
void qemu_mac_for_id(const char *vm_id, char out[18]);

#endif
