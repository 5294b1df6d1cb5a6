/* firmware.h: UEFI firmware for a guest architecture on this host, found
 * the way libvirt does it: QEMU's firmware descriptors first
 * (docs/interop/firmware.json: *.json in CUMULUS_FIRMWARE_DIR when set,
 * /etc/qemu/firmware, /usr/share/qemu/firmware and the Homebrew prefixes),
 * then the paths distributions are known to use (Debian OVMF/AAVMF,
 * Fedora edk2, Homebrew's edk2-*.fd).  Only plain UEFI in split flash is
 * taken: no Secure Boot, no enrolled keys, no SMM requirement.
 *
 * The code image is shared and read-only; each VM gets its own copy of the
 * variable-store template (its NVRAM), made once and kept across restarts
 * so boot entries the guest writes survive. */
#ifndef CUMULUS_AGENT_FIRMWARE_H
#define CUMULUS_AGENT_FIRMWARE_H

#include <limits.h>

#include "error.h"

typedef struct firmware_paths {
    char code[PATH_MAX];          /* read-only executable (pflash0) */
    char vars_template[PATH_MAX]; /* pristine variable store, copied per VM */
} firmware_paths;

/* Finds firmware for `guest_arch` ("x86_64" | "aarch64"); both files exist
 * and are readable.  404-style error (not_found) when there is none. */
int firmware_find(const char *guest_arch, firmware_paths *out, cu_error **err);

/* Copies `template_path` to `dest` (mode 0600) unless `dest` exists: a VM
 * keeps its NVRAM.  Atomic (tmp + rename), so `dest` is never partial. */
int firmware_prepare_vars(const char *template_path, const char *dest, cu_error **err);

#endif
