/* firmware.c: see firmware.h.  Reads QEMU firmware descriptors with
 * jansson and copies NVRAM templates; it never runs a program (no `brew
 * --prefix`: the two Homebrew prefixes are simply looked at). */
#define _GNU_SOURCE
#include "firmware.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"

/* Where descriptors live, most specific first (after CUMULUS_FIRMWARE_DIR). */
static const char *const descriptor_dirs[] = {
    "/etc/qemu/firmware",
    "/usr/share/qemu/firmware",
    "/opt/homebrew/share/qemu/firmware",
    "/usr/local/share/qemu/firmware",
    NULL,
};

typedef struct known_pair {
    const char *arch, *code, *vars;
} known_pair;

/* Used when no descriptor matches.  CODE and VARS must come from the same
 * build: a 4M code image only works with the 4M variable store. */
static const known_pair known_pairs[] = {
    {"x86_64", "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"},
    {"x86_64", "/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"},
    {"x86_64", "/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"},
    {"x86_64", "/opt/homebrew/share/qemu/edk2-x86_64-code.fd",
     "/opt/homebrew/share/qemu/edk2-i386-vars.fd"},
    {"x86_64", "/usr/local/share/qemu/edk2-x86_64-code.fd",
     "/usr/local/share/qemu/edk2-i386-vars.fd"},
    {"aarch64", "/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"},
    {"aarch64", "/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw",
     "/usr/share/edk2/aarch64/vars-template-pflash.raw"},
    {"aarch64", "/opt/homebrew/share/qemu/edk2-aarch64-code.fd",
     "/opt/homebrew/share/qemu/edk2-arm-vars.fd"},
    {"aarch64", "/usr/local/share/qemu/edk2-aarch64-code.fd",
     "/usr/local/share/qemu/edk2-arm-vars.fd"},
};

/* A machine name the descriptor's "machines" globs must cover ("pc-q35-*",
 * "virt-*"): the machine types qemu_argv.c uses. */
static const char *machine_for(const char *arch)
{
    return strcmp(arch, "x86_64") == 0 ? "pc-q35-7.2" : "virt-7.2";
}

static bool readable(const char *path)
{
    return path && path[0] == '/' && access(path, R_OK) == 0;
}

static bool array_has_string(const json_t *arr, const char *s)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *v = json_string_value(json_array_get(arr, i));
        if (v && strcmp(v, s) == 0)
            return true;
    }
    return false;
}

/* One of `targets` is for `arch` on a machine type we use. */
static bool targets_match(const json_t *targets, const char *arch)
{
    for (size_t i = 0; i < json_array_size(targets); i++) {
        const json_t *t = json_array_get(targets, i);
        const char *a = json_string_value(json_object_get(t, "architecture"));
        const json_t *machines = json_object_get(t, "machines");
        if (a == NULL || strcmp(a, arch) != 0)
            continue;
        for (size_t k = 0; k < json_array_size(machines); k++) {
            const char *glob = json_string_value(json_array_get(machines, k));
            if (glob && fnmatch(glob, machine_for(arch), 0) == 0)
                return true;
        }
    }
    return false;
}

/* Features that would need Secure Boot setup, pre-enrolled keys or SMM:
 * a plain cloud VM wants none of them. */
static bool features_acceptable(const json_t *features)
{
    static const char *const refused[] = {"secure-boot", "enrolled-keys", "requires-smm",
                                          "amd-sev-es",  "intel-tdx",     NULL};
    for (size_t i = 0; refused[i]; i++)
        if (array_has_string(features, refused[i]))
            return false;
    return true;
}

/* "format" is optional and defaults to raw. */
static const char *raw_file(const json_t *mapping, const char *key)
{
    const json_t *f = json_object_get(mapping, key);
    const char *fmt = json_string_value(json_object_get(f, "format"));
    if (fmt && strcmp(fmt, "raw") != 0)
        return NULL;
    return json_string_value(json_object_get(f, "filename"));
}

/* 1 and `out` filled when the descriptor at `path` fits; 0 otherwise. */
static int try_descriptor(const char *path, const char *arch, firmware_paths *out)
{
    json_error_t jerr;
    json_t *d = json_load_file(path, 0, &jerr);
    if (d == NULL) {
        log_debug("firmware descriptor '%s' skipped: %s", path, jerr.text);
        return 0;
    }
    const json_t *mapping = json_object_get(d, "mapping");
    const char *device = json_string_value(json_object_get(mapping, "device"));
    const char *mode = json_string_value(json_object_get(mapping, "mode"));
    const char *code = raw_file(mapping, "executable");
    const char *vars = raw_file(mapping, "nvram-template");
    int ok = array_has_string(json_object_get(d, "interface-types"), "uefi") && device &&
             strcmp(device, "flash") == 0 && (mode == NULL || strcmp(mode, "split") == 0) &&
             targets_match(json_object_get(d, "targets"), arch) &&
             features_acceptable(json_object_get(d, "features")) && readable(code) &&
             readable(vars) && strlen(code) < sizeof(out->code) &&
             strlen(vars) < sizeof(out->vars_template);
    if (ok) {
        snprintf(out->code, sizeof(out->code), "%s", code);
        snprintf(out->vars_template, sizeof(out->vars_template), "%s", vars);
        log_debug("firmware for %s from descriptor '%s'", arch, path);
    }
    json_decref(d);
    return ok;
}

static int is_json(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return e->d_name[0] != '.' && n > 5 && strcmp(e->d_name + n - 5, ".json") == 0;
}

/* Descriptors are taken in file-name order, as QEMU's spec asks
 * ("40-..." before "60-..."). */
static int try_descriptor_dir(const char *dir, const char *arch, firmware_paths *out)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_json, alphasort);
    int found = 0;
    for (int i = 0; i < n; i++) {
        _cleanup_free_ char *path = NULL;
        if (!found && asprintf(&path, "%s/%s", dir, names[i]->d_name) >= 0)
            found = try_descriptor(path, arch, out);
        free(names[i]);
    }
    free(names);
    return found;
}

static int try_known_paths(const char *arch, firmware_paths *out)
{
    for (size_t i = 0; i < sizeof(known_pairs) / sizeof(known_pairs[0]); i++) {
        const known_pair *p = &known_pairs[i];
        if (strcmp(p->arch, arch) != 0 || !readable(p->code) || !readable(p->vars))
            continue;
        snprintf(out->code, sizeof(out->code), "%s", p->code);
        snprintf(out->vars_template, sizeof(out->vars_template), "%s", p->vars);
        log_debug("firmware for %s at the known path '%s'", arch, p->code);
        return 1;
    }
    return 0;
}

int firmware_find(const char *guest_arch, firmware_paths *out, cu_error **err)
{
    memset(out, 0, sizeof(*out));
    if (guest_arch == NULL ||
        (strcmp(guest_arch, "x86_64") != 0 && strcmp(guest_arch, "aarch64") != 0))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "image.architecture",
                            "no UEFI firmware for architecture '%s': expected 'x86_64' or "
                            "'aarch64'",
                            guest_arch ? guest_arch : "(none)");
    const char *own = getenv("CUMULUS_FIRMWARE_DIR");
    if (own && *own && try_descriptor_dir(own, guest_arch, out))
        return 0;
    for (size_t i = 0; descriptor_dirs[i]; i++)
        if (try_descriptor_dir(descriptor_dirs[i], guest_arch, out))
            return 0;
    if (try_known_paths(guest_arch, out))
        return 0;
    return cu_error_set(err, 404, CU_E_NOT_FOUND, NULL,
                        "no UEFI firmware for '%s' on this host: install %s, or use an image "
                        "with direct kernel boot",
                        guest_arch,
                        strcmp(guest_arch, "x86_64") == 0 ? "'ovmf' (Debian) or 'edk2-ovmf'"
                                                          : "'qemu-efi-aarch64' (Debian) or "
                                                            "'edk2-aarch64'");
}

static int copy_fd(int in, int out)
{
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                errno = w == 0 ? EIO : errno;
                return -1;
            }
            off += w;
        }
    }
}

/* Copies into `tmp` and renames it over `dest`; removes `tmp` on failure. */
static int copy_then_rename(int in, const char *tmp, const char *dest, cu_error **err)
{
    _cleanup_close_ int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return cu_error_errno(err, errno, "cannot create '%s'", tmp);
    if (copy_fd(in, out) < 0 || fsync(out) < 0) {
        int e = errno;
        unlink(tmp);
        return cu_error_errno(err, e, "cannot write UEFI variables to '%s'", tmp);
    }
    if (rename(tmp, dest) < 0) {
        int e = errno;
        unlink(tmp);
        return cu_error_errno(err, e, "cannot rename '%s' to '%s'", tmp, dest);
    }
    return 0;
}

int firmware_prepare_vars(const char *template_path, const char *dest, cu_error **err)
{
    if (access(dest, F_OK) == 0)
        return 0; /* the VM's NVRAM from an earlier boot: keep it */
    _cleanup_close_ int in = open(template_path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return cu_error_errno(err, errno, "cannot open UEFI variable template '%s'", template_path);
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.%d", dest, (int)getpid()) < 0)
        abort();
    unlink(tmp); /* left by a crash of an earlier agent with our pid */
    return copy_then_rename(in, tmp, dest, err);
}
