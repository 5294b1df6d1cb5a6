/* seed_iso.c: the cidata seed ISO, built in memory with libisofs and
 * written atomically.  See seed_iso.h.
 *
 * Determinism: libisofs stamps nodes with "now" and the volume descriptors
 * with the write time; we pin both.  The nowtime override is process-wide
 * (set once here; nothing else in the agent uses libisofs), the volume
 * descriptor dates come from a fixed vol_uuid, Rock Ridge timestamps are
 * replaced by one constant, and dates are written as GMT so the host's
 * timezone cannot leak in.  Ownership and modes are replaced too (0:0, files
 * 0644, directories 0755), so the agent's uid does not show either.
 *
 * Must not: call iso_finish() (other threads may build next), print to
 * stderr (libisofs messages are queued and read back into the error). */
#define _GNU_SOURCE
#include "seed_iso.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#include "cleanup.h"
#include "fsutil.h"
#include "log.h"

/* 2000-01-01T00:00:00Z: every timestamp in the image.  Not 0, because a
 * zero volume time means "the time of writing" to libisofs. */
#define SEED_TIME ((time_t)946684800)
#define SEED_VOL_UUID "2000010100000000" /* the same instant, YYYYMMDDhhmmsscc */
#define ISO_BLOCK 2048
#define WRITE_CHUNK (32 * ISO_BLOCK)

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;
/* libisofs's message queue and nowtime are global: one build at a time. */
static pthread_mutex_t iso_lock = PTHREAD_MUTEX_INITIALIZER;

static void seed_iso_global_init(void)
{
    /* bit0: leave the process locale alone (setlocale is not thread-safe). */
    init_result = iso_init_with_flag(1);
    if (init_result < 0)
        return;
    /* Queue what can explain a failure (read back into the error); print nothing. */
    iso_set_msgs_severities((char[]){"SORRY"}, (char[]){"NEVER"}, (char[]){"libisofs"});
    /* Names are ASCII; a fixed charset keeps the bytes independent of LANG. */
    iso_set_local_charset((char[]){"UTF-8"}, 0);
    time_t now = SEED_TIME;
    iso_nowtime(&now, 1);
}

/* libisofs's words for a failure: the code's text, plus the queued
 * message (the writer thread's cause) when there is one. */
static int iso_fail(cu_error **err, int code, const char *path, const char *what)
{
    char text[ISO_MSGS_MESSAGE_LEN] = "", severity[80] = "";
    int msg_code = 0, img_id = 0;
    const char *base = iso_error_to_msg(code);
    if (iso_obtain_msgs((char[]){"SORRY"}, &msg_code, &img_id, text, severity) > 0 && text[0] &&
        strcmp(text, base) != 0)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "cannot write seed ISO '%s': %s: %s (%s)", path, what, base, text);
    return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "cannot write seed ISO '%s': %s: %s", path,
                        what, base);
}

static void image_unrefp(IsoImage **p)
{
    if (*p)
        iso_image_unref(*p);
}

static void opts_freep(IsoWriteOpts **p)
{
    if (*p)
        iso_write_opts_free(*p);
}

/* Stops and joins the writer thread whatever state it is in, then frees. */
static void burn_source_freep(struct burn_source **p)
{
    struct burn_source *src = *p;
    if (src == NULL)
        return;
    if (src->read == NULL && src->version >= 1 && src->cancel)
        src->cancel(src);
    src->free_data(src);
    free(src);
}

/* One file at the root, its content copied into a memory stream. */
static int add_file(IsoImage *image, const char *name, const char *content, const char *path,
                    cu_error **err)
{
    size_t len = strlen(content);
    unsigned char *buf = malloc(len + 1);
    if (buf == NULL)
        abort();
    memcpy(buf, content, len);
    IsoStream *stream = NULL;
    int r = iso_memory_stream_new(buf, len, &stream);
    if (r < 0) {
        free(buf);
        return iso_fail(err, r, path, name);
    }
    IsoFile *file = NULL;
    r = iso_image_add_new_file(image, iso_image_get_root(image), name, stream, &file);
    if (r < 0) {
        iso_stream_unref(stream); /* the file took no reference */
        return iso_fail(err, r, path, name);
    }
    IsoNode *node = (IsoNode *)file;
    iso_node_set_permissions(node, 0644);
    iso_node_set_uid(node, 0);
    iso_node_set_gid(node, 0);
    iso_node_set_mtime(node, SEED_TIME);
    iso_node_set_atime(node, SEED_TIME);
    iso_node_set_ctime(node, SEED_TIME);
    return 0;
}

static int build_image(IsoImage **out, const char *user_data, const char *meta_data,
                       const char *network_config, const char *path, cu_error **err)
{
    IsoImage *image = NULL;
    int r = iso_image_new(SEED_ISO_VOLUME_ID, &image);
    if (r < 0)
        return iso_fail(err, r, path, "creating the image");
    *out = image;
    iso_image_set_ignore_aclea(image, 3); /* no ACLs or xattrs from anywhere */
    IsoNode *root = (IsoNode *)iso_image_get_root(image);
    iso_node_set_mtime(root, SEED_TIME);
    iso_node_set_atime(root, SEED_TIME);
    iso_node_set_ctime(root, SEED_TIME);
    if (add_file(image, "user-data", user_data, path, err) < 0 ||
        add_file(image, "meta-data", meta_data, path, err) < 0)
        return -1;
    if (network_config && add_file(image, "network-config", network_config, path, err) < 0)
        return -1;
    return 0;
}

static int make_opts(IsoWriteOpts **out, const char *path, cu_error **err)
{
    IsoWriteOpts *o = NULL;
    int r = iso_write_opts_new(&o, 0);
    if (r < 0)
        return iso_fail(err, r, path, "creating write options");
    *out = o;
    iso_write_opts_set_iso_level(o, 2);
    iso_write_opts_set_rockridge(o, 1);
    iso_write_opts_set_joliet(o, 1);
    iso_write_opts_set_aaip(o, 0);
    /* Keep "cidata" lowercase, as genisoimage -volid writes it (libisofs
     * would map it to d-characters: "CIDATA"). */
    iso_write_opts_set_relaxed_vol_atts(o, 1);
    /* Joliet names exactly "user-data", without ";1" or a forced dot. */
    iso_write_opts_set_omit_version_numbers(o, 2);
    iso_write_opts_set_no_force_dots(o, 2);
    iso_write_opts_set_replace_mode(o, 2, 2, 2, 2);
    iso_write_opts_set_default_dir_mode(o, 0755);
    iso_write_opts_set_default_file_mode(o, 0644);
    iso_write_opts_set_default_uid(o, 0);
    iso_write_opts_set_default_gid(o, 0);
    iso_write_opts_set_replace_timestamps(o, 2);
    iso_write_opts_set_default_timestamp(o, SEED_TIME);
    iso_write_opts_set_always_gmt(o, 1);
    r = iso_write_opts_set_pvd_times(o, SEED_TIME, SEED_TIME, 0, 0, (char[]){SEED_VOL_UUID});
    if (r < 0)
        return iso_fail(err, r, path, "setting volume times");
    return 0;
}

/* Drains the burn source block by block into fd, in chunks. */
static int pump_image(struct burn_source *src, int fd, const char *tmp, const char *path,
                      cu_error **err)
{
    _cleanup_free_ unsigned char *buf = malloc(WRITE_CHUNK);
    if (buf == NULL)
        abort();
    int (*rd)(struct burn_source *, unsigned char *, int) = src->read_xt ? src->read_xt : src->read;
    off_t expected = src->get_size(src), total = 0;
    size_t fill = 0;
    for (;;) {
        int n = rd(src, buf + fill, ISO_BLOCK);
        if (n < 0)
            return iso_fail(err, (int)ISO_BUF_READ_ERROR, path, "generating the image");
        fill += (size_t)n;
        total += n;
        if ((n < ISO_BLOCK || fill == WRITE_CHUNK) && fill > 0) {
            if (cu_write_all(fd, buf, fill) < 0)
                return cu_error_errno(err, errno, "cannot write '%s'", tmp);
            fill = 0;
        }
        if (n < ISO_BLOCK)
            break;
    }
    if (total != expected)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "cannot write seed ISO '%s': libisofs produced %lld of %lld bytes",
                            path, (long long)total, (long long)expected);
    return 0;
}

/* Everything that touches libisofs; called with iso_lock held.  The
 * cleanups run (burn source first, then options, then image) before the
 * caller unlocks. */
static int render_locked(int fd, const char *tmp, const char *path, const char *user_data,
                         const char *meta_data, const char *network_config, cu_error **err)
{
    __attribute__((cleanup(image_unrefp))) IsoImage *image = NULL;
    __attribute__((cleanup(opts_freep))) IsoWriteOpts *opts = NULL;
    __attribute__((cleanup(burn_source_freep))) struct burn_source *src = NULL;
    int msg_code = 0, img_id = 0;
    char text[ISO_MSGS_MESSAGE_LEN], severity[80];
    iso_obtain_msgs((char[]){"NEVER"}, &msg_code, &img_id, text, severity); /* drop stale */
    if (build_image(&image, user_data, meta_data, network_config, path, err) < 0 ||
        make_opts(&opts, path, err) < 0)
        return -1;
    int r = iso_image_create_burn_source(image, opts, &src);
    if (r < 0) {
        src = NULL;
        return iso_fail(err, r, path, "starting the image writer");
    }
    return pump_image(src, fd, tmp, path, err);
}

static int check_args(const char *path, const char *user_data, const char *meta_data,
                      cu_error **err)
{
    if (path == NULL || *path == '\0')
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "seed ISO: no output path");
    if (user_data == NULL || meta_data == NULL)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "seed ISO '%s': user-data and meta-data are required", path);
    pthread_once(&init_once, seed_iso_global_init);
    if (init_result < 0)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "cannot write seed ISO '%s': libisofs did not initialize: %s", path,
                            iso_error_to_msg(init_result));
    return 0;
}

/* Renders into the open temporary file and makes it durable. */
static int fill_tmp(int fd, const char *tmp, const char *path, const char *user_data,
                    const char *meta_data, const char *network_config, cu_error **err)
{
    if (fchmod(fd, 0644) < 0)
        return cu_error_errno(err, errno, "cannot set the mode of '%s'", tmp);
    pthread_mutex_lock(&iso_lock);
    int r = render_locked(fd, tmp, path, user_data, meta_data, network_config, err);
    pthread_mutex_unlock(&iso_lock);
    if (r < 0)
        return -1;
    if (fsync(fd) < 0)
        return cu_error_errno(err, errno, "cannot write '%s'", tmp);
    return 0;
}

int seed_iso_write(const char *path, const char *user_data, const char *meta_data,
                   const char *network_config, cu_error **err)
{
    if (check_args(path, user_data, meta_data, err) < 0)
        return -1;
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
        abort();
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return cu_error_errno(err, errno, "cannot write seed ISO '%s': cannot create '%s'", path,
                              tmp);
    if (fill_tmp(fd, tmp, path, user_data, meta_data, network_config, err) < 0) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return cu_error_errno(err, e, "cannot rename '%s' to '%s'", tmp, path);
    }
    cu_fsync_dir_of(path);
    log_debug("wrote seed ISO '%s'", path);
    return 0;
}
