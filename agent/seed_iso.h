/* seed_iso.h: the cloud-init NoCloud seed of a VM — an ISO 9660 image with
 * volume id "cidata" (Rock Ridge + Joliet, as cloud-localds/genisoimage make
 * it) holding user-data, meta-data and, when given, network-config.  Built
 * in-process with libisofs: no genisoimage/xorriso on the host, no temporary
 * directory of loose files.
 *
 * Thread-safe: libisofs keeps global state (init, message queue, "now"
 * override), so builds are serialized behind one mutex; seeds are a few KiB
 * and take milliseconds. */
#ifndef CUMULUS_AGENT_SEED_ISO_H
#define CUMULUS_AGENT_SEED_ISO_H

#include "error.h"

/* The volume label cloud-init's NoCloud datasource looks for. */
#define SEED_ISO_VOLUME_ID "cidata"

/* Writes the seed atomically (temporary file beside `path`, fsync, rename,
 * fsync of the directory): a crash leaves the old file or the new one,
 * never half of one.  Files are mode 0644, owned 0:0.  Deterministic: the
 * same input gives the same bytes (every timestamp is fixed), so a restarted
 * agent can compare instead of rewriting.  `network_config` may be NULL.
 * On failure nothing is left at `path` or beside it, and the error names the
 * path and carries libisofs's own words. */
int seed_iso_write(const char *path, const char *user_data, const char *meta_data,
                   const char *network_config, cu_error **err);

#endif
