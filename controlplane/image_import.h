/* image_import.h: images built on a host of ours (images/build-debian
 * writes a manifest.json beside the qcow2, kernel and initrd) brought into
 * the catalogue, and their files served to agents over HTTP, so a VM's
 * image travels the same download path as an official one.
 *
 * The files are copied into DATA/images/<image id>/ (hard-linked when on
 * the same file system) and each one's SHA-256 is checked against the
 * manifest on the way: a deleted or rebuilt cache never breaks an image
 * the catalogue holds.
 *
 * manifest.json: {"name", "os", "version", "architecture", "format",
 *   "file", "sha256", "login_user", "boot",
 *   "kernel"?: {"file", "sha256", "cmdline"}, "initrd"?: {"file", "sha256"}}
 * File names are plain names beside the manifest. */
#ifndef CUMULUS_CP_IMAGE_IMPORT_H
#define CUMULUS_CP_IMAGE_IMPORT_H

#include <jansson.h>

#include "error.h"

/* Reads and checks a manifest (absolute path); 400 invalid_field
 * "manifest" naming what is wrong. */
json_t *image_manifest_load(const char *path, cu_error **err);

/* Copies the manifest's files into dest_dir, verifying each; on any error
 * (422 checksum_mismatch, 400 unreadable) dest_dir is removed. */
int image_files_import(const char *manifest_path, const json_t *manifest, const char *dest_dir,
                       cu_error **err);

/* Opens dir/file for serving (a plain name only; 404 otherwise). */
int image_file_open(const char *dir, const char *file, int *fd, long long *size, cu_error **err);

/* Removes an imported image's directory and everything in it. */
void image_files_remove(const char *dir);

#endif
