/* fuzz_cloudinit.c: the user-data renderer (controlplane/cloudinit.c,
 * cloudinit_merge.c, and the YAML reader and writer under them):
 * cloudinit_check_user_data() as POST /v1/vms runs it, then
 * cloudinit_render_user_data() and cloudinit_render_meta_data() as the
 * seed is made.  Input, line by line:
 *   hostname
 *   login user
 *   flags ('m': new machine-id, 'b': bake)
 *   SSH key lines, up to an empty line
 *   the user's user_data (the rest)
 * A user_data the check accepts must render; rendering twice gives the
 * same bytes (cloudinit.h: a pure function). */
#define _GNU_SOURCE
#include "fuzz.h"

#include "cloudinit.h"

#define MAX_KEYS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    char *hostname = fuzz_next_line(&in), *user = fuzz_next_line(&in);
    char *flags = fuzz_next_line(&in);
    char *keys[MAX_KEYS + 1] = {0};
    size_t nkeys = 0;
    while (in.left > 0) {
        char *k = fuzz_next_line(&in);
        if (k[0] == '\0' || nkeys == MAX_KEYS) {
            free(k);
            break;
        }
        keys[nkeys++] = k;
    }
    size_t ud_len = in.left;
    char *user_data = fuzz_rest(&in);

    cu_error *err = NULL;
    int ok = cloudinit_check_user_data(user_data, ud_len, &err) == 0;
    cu_error_freep(&err);
    ci_input ci = {.instance_id = "vm-3f9a1c2b7d4e5f60",
                   .hostname = hostname,
                   .login_user = user,
                   .ssh_keys = (const char *const *)keys,
                   .user_data = ok ? user_data : NULL,
                   .new_machine_id = strchr(flags, 'm') != NULL,
                   .bake = strchr(flags, 'b') != NULL};
    char *a = cloudinit_render_user_data(&ci, &err);
    if (a == NULL) {
        FUZZ_CHECK(err != NULL);
        /* Only a key, or the names the control plane itself provides. */
        FUZZ_CHECK(err->status == 500 || (err->field && strcmp(err->field, "ssh_keys") == 0));
        cu_error_freep(&err);
    } else {
        char *b = cloudinit_render_user_data(&ci, &err);
        FUZZ_CHECK(b != NULL && strcmp(a, b) == 0);
        free(b);
    }
    free(a);
    char *meta = cloudinit_render_meta_data(&ci, &err);
    cu_error_freep(&err);
    free(meta);
    /* A refused user_data is refused by the renderer's own checks too
     * (which see the text up to a NUL: the check refuses NULs). */
    if (!ok && memchr(user_data, '\0', ud_len) == NULL && ud_len <= CLOUDINIT_USER_DATA_MAX) {
        ci.user_data = user_data;
        char *c = cloudinit_render_user_data(&ci, &err);
        FUZZ_CHECK(c == NULL);
        cu_error_freep(&err);
    }
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(flags);
    free(user);
    free(hostname);
    free(user_data);
    return 0;
}
