/* guest_channel.h: what a guest tells its host, read on the host side.
 *
 * Every VM has a virtio-serial port named GUEST_CHANNEL_PORT whose host end
 * is a file, RUN_DIR/guest.log (QEMU truncates it when it starts).  The
 * cloud-config the control plane renders installs a small systemd unit in
 * the guest that, on every boot, waits for cloud-init to finish and writes
 * one JSON line to /dev/virtio-ports/GUEST_CHANNEL_PORT:
 *
 *   {"event": "ready", "boot_id": "…", "uptime": "41.37",
 *    "result": <cloud-init's /run/cloud-init/result.json, or null>}
 *
 * result.v1.errors lists what failed ("('scripts-user', RuntimeError(…))").
 *
 * A VM being baked into an image (a bake) reports once instead, from
 * cloud-init's power_state condition, just before it powers off:
 *
 *   {"event": "bake", "boot_id", "uptime", "result": <as above>,
 *    "status": <`cloud-init status --long`>, "log": <the end of
 *    /var/log/cloud-init-output.log>}
 *
 * which counts as a "ready" line and also keeps the status and log.
 * No network is involved: a guest whose network configuration is broken
 * still reports, and nothing listens on the host's ports. */
#ifndef CUMULUS_AGENT_GUEST_CHANNEL_H
#define CUMULUS_AGENT_GUEST_CHANNEL_H

#include <stddef.h>

#define GUEST_CHANNEL_PORT "org.cumulus.guest.0"
#define GUEST_CHANNEL_FILE "guest.log"

typedef enum {
    GUEST_BOOTING, /* nothing reported since the boot began */
    GUEST_READY,   /* cloud-init finished without errors */
    GUEST_FAILED,  /* cloud-init finished with errors (message says which) */
} guest_status;

#define GUEST_DETAIL_MAX 6144 /* bytes of a bake's status and log kept */

typedef struct guest_report {
    guest_status status;
    char message[768];
    int bake;                      /* the line was a bake's last word: the guest powers off */
    char detail[GUEST_DETAIL_MAX]; /* a bake's cloud-init status and log, cleaned */
} guest_report;

/* Reads the channel file from byte `offset` (where the current boot's
 * messages begin): the last complete "ready" line decides.  A missing
 * file, no line yet or a line that is not ours leave *out at
 * GUEST_BOOTING.  *mtime (may be NULL) gets the file's modification time,
 * which is when the guest last wrote. */
void guest_channel_read(const char *path, long long offset, guest_report *out, long long *mtime);

/* The file's size now (0 if missing): the offset of the next boot. */
long long guest_channel_size(const char *path);

/* Parses one line; 1 if it is a "ready" or "bake" event (fills *out), else 0. */
int guest_channel_parse_line(const char *line, size_t len, guest_report *out);

const char *guest_status_name(guest_status s);

#endif
