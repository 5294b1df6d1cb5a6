/* host_facts.h: what this host is and has, found once at start: OS, CPU
 * architecture, accelerators (/dev/kvm on Linux, Hypervisor.framework on
 * macOS, TCG always), vCPUs, memory, free disk in the data directory, the
 * QEMU version and whether QEMU has seccomp (-sandbox). */
#ifndef CUMULUS_AGENT_HOST_FACTS_H
#define CUMULUS_AGENT_HOST_FACTS_H

#include <stdbool.h>

#include "error.h"

typedef struct host_facts {
    char os[16];           /* "linux" | "darwin" */
    char arch[16];         /* "x86_64" | "aarch64" */
    bool kvm, hvf;         /* hardware acceleration available */
    bool seccomp;          /* QEMU accepts -sandbox on */
    int vcpus;
    long long memory_mib;
    long long disk_gib;    /* free space where VM disks live */
    char qemu_version[32]; /* "7.2.0" */
    /* Guest architectures other than arch this host can run under TCG
     * emulation (QEMU binary and UEFI firmware found): slow, but it runs. */
    char emulated[2][16];
    int nemulated;
} host_facts;

/* Probes the host; `data_dir` is where disks go. */
int host_facts_probe(const char *data_dir, host_facts *out, cu_error **err);

/* Does this host run guests of that architecture (natively or emulated)? */
bool host_runs_arch(const host_facts *f, const char *guest_arch);

/* The QEMU binary for a guest architecture: "qemu-system-x86_64" ... */
const char *host_qemu_binary(const char *guest_arch);

#endif
