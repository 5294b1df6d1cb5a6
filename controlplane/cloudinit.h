/* cloudinit.h: the cloud-init NoCloud seed of one VM, `meta-data` and
 * `user-data` (see cloudinit.c).
 *
 * Our own cloud-config always sets the hostname, creates the image's
 * login user with passwordless sudo, a locked password and the VM's SSH
 * keys, and installs the unit that reports readiness to the host
 * (cloudinit_ready.c).  The user's own user_data may be:
 *   - "#cloud-config": merged into ours as one document (mappings merge
 *     recursively, lists concatenate ours first, scalars: theirs win; a
 *     `users` entry naming our login user is merged into ours);
 *   - "#!" (a script) or "#cloud-boothook": sent beside ours in a
 *     multipart/mixed MIME document, verbatim.
 * Anything else is refused at create time.  A merged cloud-config that
 * mentions "mime-version:" in its first 4096 bytes goes out as one-part MIME,
 * since cloud-init would otherwise take it for a MIME message.  Rendering is
 * a pure function of the input: the same input gives the same bytes (the MIME
 * boundary is derived from a SHA-256 of the parts). */
#ifndef CUMULUS_CP_CLOUDINIT_H
#define CUMULUS_CP_CLOUDINIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef struct ci_input {
    const char *instance_id;     /* the VM's id, e.g. "vm-3f9a1c2b7d4e5f60" */
    const char *hostname;        /* the VM's name, a DNS label */
    const char *login_user;      /* the image's default login user, e.g. "debian" */
    const char *const *ssh_keys; /* OpenSSH public key lines, NULL-terminated (may be empty) */
    const char *user_data;       /* the user's own user-data, or NULL */
    /* The image was made from another VM's disk: give this instance a
     * machine-id of its own (once per instance-id), so clones never share
     * one (nor the DHCP client ids and journal ids derived from it). */
    bool new_machine_id;
    /* The VM is baked into an image (bake.h): it powers off once
     * cloud-init has finished its first boot, and says how that went just
     * before (cloudinit_bake_config), instead of reporting every boot. */
    bool bake;
} ci_input;

#define CLOUDINIT_USER_DATA_MAX 65536 /* bytes */

/* Validation at VM create time: at most CLOUDINIT_USER_DATA_MAX bytes, UTF-8
 * without NUL, one of the formats above, and for cloud-config YAML (see
 * yaml_json.h for what is refused) whose top level is a mapping (or empty)
 * and whose `users`, if any, is a list, a string or a mapping.  Empty or
 * blank user_data is accepted and means none.  Errors: status 400, code
 * "invalid_field", field "user_data"; YAML errors give line and column
 * counted from the start of user_data (the "#cloud-config" line is line 1). */
int cloudinit_check_user_data(const char *user_data, size_t len, cu_error **err);

/* "instance-id: ...\nlocal-hostname: ...\n"; malloc'd. */
char *cloudinit_render_meta_data(const ci_input *in, cu_error **err);

/* The user-data file: "#cloud-config\n..." or a multipart MIME document;
 * malloc'd.  Fails like cloudinit_check_user_data for bad user_data, with
 * 400 (field "ssh_keys") for a key holding a line break or control
 * character, and with 500 for a missing instance_id, hostname or
 * login_user. */
char *cloudinit_render_user_data(const ci_input *in, cu_error **err);

/* The cloud-config that reports "cloud-init finished" to the host on every
 * boot (cloudinit_ready.c); merged into every VM's own. */
json_t *cloudinit_ready_config(void);

/* A bake's instead: power_state (poweroff, ours whatever the user's
 * cloud-config says) whose condition reports cloud-init's result, status
 * and log to the host (cloudinit_ready.c). */
json_t *cloudinit_bake_config(void);

#endif
