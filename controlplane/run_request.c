/* run_request.c: see run_request.h.
 *
 * A file's path ends up inside single quotes in a command line for the
 * guest's shell (run_ssh.c), so the characters allowed here can never
 * close the quotes: letters, digits and . _ - + @ = , : /.  A relative path
 * is relative to the login user's home; '..' components and empty ones
 * are refused, so a path says plainly where it goes.  The mode is octal
 * digits only for the same reason. */
#define _GNU_SOURCE
#include "run_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "fsutil.h"
#include "json_util.h"
#include "runs.h"
#include "validate.h"
#include "vm_create.h"

/* Names the file in the field of an error about one of its members. */
static int refield(cu_error **err, size_t i, const char *member)
{
    char *field = NULL;
    if (asprintf(&field, "files[%zu]%s%s", i, member ? "." : "", member ? member : "") < 0)
        abort();
    free((*err)->field);
    (*err)->field = field;
    return -1;
}

static int path_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("._-+@=,:/", c) != NULL;
}

static int check_path(const char *p, size_t i, cu_error **err)
{
    size_t n = strlen(p);
    int ok = n >= 1 && n <= RUN_FILE_PATH_MAX && p[n - 1] != '/' && strstr(p, "//") == NULL;
    for (size_t k = 0; ok && k < n; k++)
        ok = path_char_ok(p[k]);
    /* No '.' or '..' component. */
    for (const char *c = p; ok && *c; c = strchr(c, '/') ? strchr(c, '/') + 1 : c + strlen(c)) {
        size_t len = strcspn(c, "/");
        ok = !(len == 1 && c[0] == '.') && !(len == 2 && c[0] == '.' && c[1] == '.');
    }
    if (!ok) {
        cu_error_set(err, 400, CU_E_INVALID_FIELD, NULL,
                     "files[%zu].path '%.200s' is not a usable path: give an absolute path or one "
                     "relative to the login user's home, of letters, digits and . _ - + @ = , : /, "
                     "without '.', '..' or empty components, at most %d bytes",
                     i, p, RUN_FILE_PATH_MAX);
        return refield(err, i, "path");
    }
    return 0;
}

static int check_mode(const char *m, size_t i, cu_error **err)
{
    size_t n = strlen(m);
    int ok = (n == 3 || n == 4) && strspn(m, "01234567") == n;
    if (!ok) {
        cu_error_set(err, 400, CU_E_INVALID_FIELD, NULL,
                     "files[%zu].mode '%.20s' must be 3 or 4 octal digits, e.g. \"0755\"", i, m);
        return refield(err, i, "mode");
    }
    return 0;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict standard base64 with padding; NULL when it is not. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *out_len)
{
    if (n % 4 != 0)
        return NULL;
    size_t pad = n && s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (out == NULL)
        abort();
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        unsigned v = 0;
        for (size_t k = 0; k < 4; k++) {
            int d = i + k >= n - pad ? 0 : b64_value((unsigned char)s[i + k]);
            if (d < 0) {
                free(out);
                return NULL;
            }
            v = v << 6 | (unsigned)d;
        }
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    *out_len = o - pad;
    return out;
}

static int parse_file(const json_t *f, size_t i, run_file *out, cu_error **err)
{
    static const cu_json_field fields[] = {{"path", CU_JSON_STRING, true},
                                           {"content", CU_JSON_STRING, false},
                                           {"content_base64", CU_JSON_STRING, false},
                                           {"mode", CU_JSON_STRING, false},
                                           {NULL}};
    if (!json_is_object(f)) {
        cu_error_set(err, 400, CU_E_INVALID_FIELD, NULL,
                     "files[%zu] must be an object: {\"path\", \"content\" or \"content_base64\", "
                     "\"mode\"}",
                     i);
        return refield(err, i, NULL);
    }
    if (cu_json_check_fields(f, fields, err) < 0)
        return refield(err, i, (*err)->field);
    out->path = cu_json_str(f, "path");
    out->mode = cu_json_str(f, "mode") ? cu_json_str(f, "mode") : "0644";
    if (check_path(out->path, i, err) < 0 || check_mode(out->mode, i, err) < 0)
        return -1;
    json_t *text = json_object_get(f, "content"), *b64 = json_object_get(f, "content_base64");
    int has_text = json_is_string(text), has_b64 = json_is_string(b64);
    if (has_text == has_b64) {
        cu_error_set(err, 400, CU_E_INVALID_FIELD, NULL,
                     "files[%zu] needs exactly one of \"content\" (text) and \"content_base64\"",
                     i);
        return refield(err, i, "content");
    }
    if (has_text) {
        out->len = json_string_length(text);
        out->data = malloc(out->len + 1);
        if (out->data == NULL)
            abort();
        memcpy(out->data, json_string_value(text), out->len);
        return 0;
    }
    out->data = b64_decode(json_string_value(b64), json_string_length(b64), &out->len);
    if (out->data == NULL) {
        cu_error_set(err, 400, CU_E_INVALID_FIELD, NULL,
                     "files[%zu].content_base64 is not valid base64 (standard alphabet, with "
                     "padding)",
                     i);
        return refield(err, i, "content_base64");
    }
    return 0;
}

static int parse_files(const json_t *files, run_request *r, cu_error **err)
{
    size_t n = json_array_size(files);
    if (n > RUN_FILES_MAX)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "files", "at most %d files, got %zu",
                            RUN_FILES_MAX, n);
    r->files = calloc(n ? n : 1, sizeof(run_file));
    if (r->files == NULL)
        abort();
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (parse_file(json_array_get(files, i), i, &r->files[i], err) < 0)
            return -1;
        r->nfiles = i + 1;
        total += r->files[i].len;
        for (size_t k = 0; k < i; k++)
            if (strcmp(r->files[k].path, r->files[i].path) == 0) {
                cu_error_set(err, 400, CU_E_INVALID_FIELD, NULL,
                             "files[%zu].path '%s' is also files[%zu].path", i, r->files[i].path,
                             k);
                return refield(err, i, "path");
            }
    }
    if (total > RUN_FILES_BYTES_MAX)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "files",
                            "the files hold %zu bytes together; at most %u", total,
                            RUN_FILES_BYTES_MAX);
    return 0;
}

static int check_command(const json_t *cmd, cu_error **err)
{
    const char *s = json_string_value(cmd);
    size_t n = json_string_length(cmd);
    int blank = strspn(s, " \t\r\n") == n;
    if (n == 0 || blank || n > RUN_COMMAND_MAX || strlen(s) != n)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, "command",
                            "command must be a shell command line of 1 to %d bytes, not blank and "
                            "without NUL bytes",
                            RUN_COMMAND_MAX);
    return 0;
}

int run_request_parse(cp_app *app, const json_t *b, run_request *r, cu_error **err)
{
    static const cu_json_field fields[] = {{"image", CU_JSON_STRING, true},
                                           {"size", CU_JSON_STRING, true},
                                           {"command", CU_JSON_STRING, true},
                                           {"ssh_keys", CU_JSON_STRING_ARRAY, false},
                                           {"files", CU_JSON_ARRAY, false},
                                           {"timeout", CU_JSON_INTEGER, false},
                                           {NULL}};
    if (b == NULL)
        return cu_error_set(err, 400, CU_E_INVALID_JSON, NULL,
                            "send a JSON object: {\"image\", \"size\", \"command\", \"files\", "
                            "\"timeout\"}");
    if (cu_json_check_fields(b, fields, err) < 0)
        return -1;
    r->command = cu_json_str(b, "command");
    r->timeout = RUN_TIMEOUT_DEFAULT;
    if (api_resolve_vm_parts(app, b, "runs can use it", &r->image, &r->size, &r->keys, err) < 0)
        return -1;
    json_t *timeout = json_object_get(b, "timeout");
    if (check_command(json_object_get(b, "command"), err) < 0 ||
        (timeout && !json_is_null(timeout) &&
         validate_int(b, "timeout", 1, RUN_TIMEOUT_MAX, &r->timeout, err) < 0))
        return -1;
    return parse_files(json_object_get(b, "files"), r, err);
}

void run_request_clear(run_request *r)
{
    for (size_t i = 0; i < r->nfiles; i++)
        free(r->files[i].data);
    free(r->files);
    json_decref(r->image);
    json_decref(r->size);
    json_decref(r->keys);
    memset(r, 0, sizeof(*r));
}

json_t *run_request_files_json(const run_request *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->nfiles; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:I}", "path", r->files[i].path, "mode",
                                           r->files[i].mode, "bytes", (json_int_t)r->files[i].len));
    return a;
}

int run_request_write_files(const run_request *r, const char *dir, cu_error **err)
{
    _cleanup_free_ char *fdir = NULL;
    if (asprintf(&fdir, "%s/files", dir) < 0)
        abort();
    if (cu_mkdir_p(fdir, 0700, err) < 0)
        return -1;
    for (size_t i = 0; i < r->nfiles; i++) {
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/%zu", fdir, i) < 0)
            abort();
        if (cu_write_file_atomic(p, r->files[i].data, r->files[i].len, 0600, err) < 0)
            return -1;
    }
    return 0;
}
