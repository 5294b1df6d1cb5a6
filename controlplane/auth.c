/* auth.c: see auth.h. */
#define _GNU_SOURCE
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "fsutil.h"
#include "ids.h"
#include "log.h"

/* Reads the first line of `path`; NULL when missing or empty. */
static char *read_token_file(const char *path)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n <= 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

static int token_known(cp_app *app, const char *kind, const char *token)
{
    char hash[65];
    cu_sha256_hex(token, strlen(token), hash);
    return store_int(app->store, 0, NULL,
                     "SELECT count(*) FROM tokens WHERE kind = ? AND hash = ?", "ss", kind,
                     hash) > 0;
}

/* Replaces every token of `kind` by a new one, written to `path` (0600). */
static int issue_token(cp_app *app, const char *kind, const char *prefix, const char *path,
                       cu_error **err)
{
    _cleanup_free_ char *token = cu_token_new(prefix);
    _cleanup_free_ char *id = cu_id_new("tok");
    char hash[65];
    cu_sha256_hex(token, strlen(token), hash);
    _cleanup_free_ char *content = NULL;
    if (asprintf(&content, "%s\n", token) < 0)
        abort();
    if (store_tx_begin(app->store, err) < 0)
        return -1;
    if (store_exec(app->store, err, "DELETE FROM tokens WHERE kind = ?", "s", kind) < 0 ||
        store_exec(app->store, err, "INSERT INTO tokens (id, kind, hash) VALUES (?, ?, ?)",
                   "sss", id, kind, hash) < 0) {
        store_tx_rollback(app->store);
        return -1;
    }
    /* The file first: if we crash between the two, the old token still works
     * and the next start replaces it again. */
    if (cu_write_file_atomic(path, content, strlen(content), 0600, err) < 0) {
        store_tx_rollback(app->store);
        return -1;
    }
    return store_tx_commit(app->store, err);
}

static int ensure_token(cp_app *app, const char *kind, const char *prefix, const char *file,
                        cu_error **err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", app->data_dir, file) < 0)
        abort();
    _cleanup_free_ char *existing = read_token_file(path);
    if (existing && token_known(app, kind, existing))
        return 0;
    if (issue_token(app, kind, prefix, path, err) < 0)
        return cu_error_wrap(err, "creating the %s token", kind);
    log_info("wrote a new %s token to '%s' (mode 0600)", kind, path);
    return 0;
}

int auth_bootstrap(cp_app *app, cu_error **err)
{
    if (ensure_token(app, "admin", "cuadm", "admin-token", err) < 0)
        return -1;
    return ensure_token(app, "join", "cujoin", "join-token", err);
}

int auth_check(void *appv, const char *token, http_principal *out, cu_error **err)
{
    cp_app *app = appv;
    char hash[65];
    cu_sha256_hex(token, strlen(token), hash);
    json_t *row = NULL;
    int found = store_get(app->store, &row, err, "SELECT kind, subject FROM tokens WHERE hash = ?",
                          "s", hash);
    if (found < 0)
        return -1;
    if (found == 0)
        return cu_error_set(err, 401, CU_E_UNAUTHORIZED, NULL,
                            "the bearer token is not valid (the admin token is in the control "
                            "plane's data directory, file 'admin-token')");
    const char *kind = json_string_value(json_object_get(row, "kind"));
    const char *subject = json_string_value(json_object_get(row, "subject"));
    out->role = strcmp(kind, "admin") == 0   ? ROLE_ADMIN
                : strcmp(kind, "agent") == 0 ? ROLE_AGENT
                                             : ROLE_JOIN;
    snprintf(out->id, sizeof(out->id), "%s", subject ? subject : kind);
    json_decref(row);
    return 0;
}
