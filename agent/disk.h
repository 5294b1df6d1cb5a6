/* disk.h: a VM's disk — a qcow2 overlay on a cached base image, made and
 * inspected with qemu-img (run from an argv array, never a shell).
 *
 * Must not: touch the base image (it is shared by every VM made from it),
 * shrink anything, or replace a disk that already exists. */
#ifndef CUMULUS_AGENT_DISK_H
#define CUMULUS_AGENT_DISK_H

#include "error.h"

#define DISK_GIB (1024LL * 1024 * 1024)

/* qemu-img create -f qcow2 -F <base_format> -b <base> <path> <size_gib>G,
 * atomically: made at "<path>.tmp", fsynced, then renamed into place, so a
 * crash never leaves a half-made disk under the real name.
 *
 * The overlay records the base by its canonical absolute path (realpath),
 * so it does not depend on the agent's working directory.  Commas and
 * spaces in paths are fine (each is its own argv element, and -b is not
 * parsed as an option string).
 *
 * Errors: a missing or unreadable base (500, qemu-img's words); a base whose
 * virtual size is larger than `size_gib` (400 invalid_field "disk_gib":
 * "image 'x' needs at least N GiB ..."); `path` already existing (409
 * already_exists: a disk is never overwritten).  On any failure nothing is
 * left at `path` or "<path>.tmp". */
int disk_create_overlay(const char *base, const char *base_format, const char *path,
                        long long size_gib, cu_error **err);

/* What qemu-img info --output=json says of an image.  Sizes are bytes;
 * actual_size is -1 when qemu-img does not know it.  `backing` is the
 * backing file as QEMU will resolve it ("" when none). */
typedef struct disk_info {
    long long virtual_size, actual_size;
    char backing[4096];
    char format[16];
} disk_info;

/* The path as qemu-img must see it to take it literally ("./x" for a
 * relative one); malloc'd. */
char *disk_literal_path(const char *path);

/* Reads with -U (force share), so it works on the disk of a running VM. */
int disk_info_get(const char *path, disk_info *out, cu_error **err);

#endif
