/* cloudinit.c: the NoCloud seed of one VM (see cloudinit.h).
 *
 * Owns the checks on a user's user_data, our own cloud-config (hostname,
 * login user, SSH keys), the merge of a user's cloud-config into ours, and
 * the multipart MIME document that carries a user's script beside ours.
 * Must not: write files or ISO images (the agent does), or let user text
 * change the structure of what we emit other than through the documented
 * merge: everything is built as jansson values and written by json_to_yaml,
 * which quotes as needed, so a key or hostname cannot inject YAML.
 * Output is a pure function of the input (the MIME boundary is a hash). */
#define _GNU_SOURCE
#include "cloudinit.h"
#include "cloudinit_merge.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "yaml_json.h"

#define FIELD "user_data"
#define SUPPORTED                                                                                  \
    "'#cloud-config' (merged with Cumulus's own cloud-config), a script starting with '#!', or "   \
    "'#cloud-boothook'"
#define SUDO_RULE "ALL=(ALL) NOPASSWD:ALL"
#define MIME_SNIFF 4096 /* cloud-init looks this far for "mime-version:" */
#define B64_LINE 76
#define refuse(err, ...) cu_error_set((err), 400, CU_E_INVALID_FIELD, FIELD, __VA_ARGS__)

enum ud_format { UD_NONE, UD_CLOUD_CONFIG, UD_SCRIPT, UD_BOOTHOOK, UD_UNSUPPORTED };

/* cloud-init's own table (handlers/__init__.py INCLUSION_TYPES_MAP), tried
 * longest first, case-insensitively after leading blanks, as it does: we
 * must classify user_data exactly as cloud-init would have. */
static const struct {
    const char *prefix;
    enum ud_format format;
    const char *what; /* for refusals */
} formats[] = {
    {"#cloud-config-archive", UD_UNSUPPORTED, "'#cloud-config-archive'"},
    {"#cloud-config-jsonp", UD_UNSUPPORTED, "'#cloud-config-jsonp'"},
    {"## template: jinja", UD_UNSUPPORTED, "a Jinja template ('## template: jinja')"},
    {"#cloud-boothook", UD_BOOTHOOK, NULL},
    {"#include-once", UD_UNSUPPORTED, "'#include-once'"},
    {"#part-handler", UD_UNSUPPORTED, "'#part-handler'"},
    {"#cloud-config", UD_CLOUD_CONFIG, NULL},
    {"content-type:", UD_UNSUPPORTED, "a MIME document"},
    {"mime-version:", UD_UNSUPPORTED, "a MIME document"},
    {"#upstart-job", UD_UNSUPPORTED, "'#upstart-job'"},
    {"#include", UD_UNSUPPORTED, "'#include'"},
    {"#!", UD_SCRIPT, NULL},
};

static void *must(void *p)
{
    if (p == NULL)
        abort(); /* out of memory: the daemons treat it as fatal */
    return p;
}

/* Offset of the first byte that is not UTF-8 as Python decodes it (no
 * overlong forms, surrogates or code points past U+10FFFF), or len. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t n = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
        if (n == 0 || n > len - i)
            return i;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
        if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0) ||
            (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90))
            return i;
        i += n;
    }
    return len;
}

/* Printable UTF-8 on one line: what a key or a name may hold. */
static bool one_line(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return n > 0 && utf8_invalid_at((const unsigned char *)s, n) == n;
}

static enum ud_format classify(const char *s, size_t len, const char **what)
{
    size_t skip = 0;
    while (skip < len && isspace((unsigned char)s[skip]))
        skip++;
    *what = NULL;
    if (skip == len)
        return UD_NONE;
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        size_t n = strlen(formats[i].prefix);
        if (len - skip >= n && strncasecmp(s + skip, formats[i].prefix, n) == 0) {
            *what = formats[i].what;
            return formats[i].format;
        }
    }
    return UD_UNSUPPORTED;
}

static int refuse_format(const char *s, size_t len, const char *what, cu_error **err)
{
    if (what)
        return refuse(err, "user_data in the format %s is not supported; use " SUPPORTED, what);
    while (len > 0 && isspace((unsigned char)*s))
        s++, len--;
    size_t n = 0;
    while (n < len && s[n] != '\n' && s[n] != '\r')
        n++;
    if (n > 32) {
        n = 32;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--; /* do not cut a UTF-8 character in half */
    }
    return refuse(err, "user_data must start with " SUPPORTED "; it starts with '%.*s'", (int)n, s);
}

static const char *type_name(const json_t *v)
{
    return json_is_array(v)     ? "a sequence"
           : json_is_string(v)  ? "a string"
           : json_is_number(v)  ? "a number"
           : json_is_boolean(v) ? "a boolean"
                                : "null";
}

/* cloud-init accepts `users` as a list, a comma-separated string or a
 * mapping of name to settings (distros/ug_util.py); refuse what it cannot
 * read rather than ship a VM that silently lacks its users. */
static int check_users(const json_t *users, cu_error **err)
{
    size_t i;
    const char *key;
    json_t *v;
    if (users == NULL || json_is_null(users) || json_is_string(users))
        return 0;
    if (json_is_object(users)) {
        json_object_foreach ((json_t *)users, key, v)
            if (json_is_array(v))
                return refuse(err, "user_data: 'users.%.64s' must be a mapping or a boolean", key);
        return 0;
    }
    if (!json_is_array(users))
        return refuse(err, "user_data: 'users' must be a list, a string or a mapping, not %s",
                      type_name(users));
    json_array_foreach (users, i, v) {
        const json_t *name = json_object_get(v, "name");
        if (!json_is_string(v) && !json_is_array(v) && !json_is_object(v))
            return refuse(err, "user_data: 'users' entry %zu must be a name or a mapping, not %s",
                          i + 1, type_name(v));
        if (name && !json_is_string(name))
            return refuse(err, "user_data: 'name' of 'users' entry %zu must be a string", i + 1);
    }
    return 0;
}

static int parse_cloud_config(const char *ud, size_t len, json_t **cfg, cu_error **err)
{
    _cleanup_error_ cu_error *yerr = NULL;
    json_auto_t *v = yaml_to_json(ud, len, &yerr);
    if (v == NULL)
        return refuse(err, "user_data is not valid cloud-config: %s", yerr->message);
    if (json_is_null(v)) { /* only the "#cloud-config" line: nothing to add */
        json_decref(v);
        v = must(json_object());
    }
    if (!json_is_object(v))
        return refuse(err,
                      "user_data is '#cloud-config' but its YAML is %s; cloud-config must be "
                      "a mapping such as 'packages: [htop]'",
                      type_name(v));
    if (check_users(json_object_get(v, "users"), err) < 0)
        return -1;
    *cfg = steal_ptr(&v);
    return 0;
}

/* Checks user_data and says what it is; *cfg gets a cloud-config's value. */
static int parse_user_data(const char *ud, size_t len, enum ud_format *format, json_t **cfg,
                           cu_error **err)
{
    const char *what = NULL;
    *format = UD_NONE;
    if (ud == NULL)
        return 0;
    if (len > CLOUDINIT_USER_DATA_MAX)
        return refuse(err, "user_data is %zu bytes; the limit is %d bytes (64 KiB)", len,
                      CLOUDINIT_USER_DATA_MAX);
    if (len >= 2 && (unsigned char)ud[0] == 0x1f && (unsigned char)ud[1] == 0x8b)
        return refuse(
            err, "gzip-compressed user_data is not supported; send it uncompressed as " SUPPORTED);
    const char *nul = memchr(ud, '\0', len);
    if (nul)
        return refuse(err, "user_data contains a NUL byte at offset %zu", (size_t)(nul - ud));
    size_t bad = utf8_invalid_at((const unsigned char *)ud, len);
    if (bad < len)
        return refuse(err, "user_data is not valid UTF-8 (at byte offset %zu)", bad);
    *format = classify(ud, len, &what);
    if (*format == UD_UNSUPPORTED)
        return refuse_format(ud, len, what, err);
    return *format == UD_CLOUD_CONFIG ? parse_cloud_config(ud, len, cfg, err) : 0;
}

int cloudinit_check_user_data(const char *user_data, size_t len, cu_error **err)
{
    enum ud_format format;
    json_auto_t *cfg = NULL;
    return parse_user_data(user_data, len, &format, &cfg, err);
}

/* ---- our cloud-config, and the merge of theirs into it ---- */

static int check_input(const ci_input *in, cu_error **err)
{
    if (in == NULL || in->instance_id == NULL || in->hostname == NULL || in->login_user == NULL ||
        !one_line(in->instance_id) || !one_line(in->hostname) || !one_line(in->login_user))
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "cloud-init seed: instance id, hostname and login user must be "
                            "non-empty printable text");
    for (size_t i = 0; in->ssh_keys && in->ssh_keys[i]; i++)
        if (!one_line(in->ssh_keys[i]))
            return cu_error_set(err, 400, CU_E_INVALID_FIELD, "ssh_keys",
                                "SSH key %zu is empty, not UTF-8, or holds a line break or "
                                "control character",
                                i + 1);
    return 0;
}

static json_t *our_config(const ci_input *in)
{
    json_t *user =
        must(json_pack("{s:s, s:s, s:s, s:b, s:[s]}", "name", in->login_user, "sudo", SUDO_RULE,
                       "shell", "/bin/bash", "lock_passwd", 1, "groups", "sudo"));
    json_t *keys = must(json_array());
    for (size_t i = 0; in->ssh_keys && in->ssh_keys[i]; i++)
        json_array_append_new(keys, must(json_string(in->ssh_keys[i])));
    /* the schema wants at least one key: no keys, no list */
    if (json_array_size(keys) > 0)
        json_object_set_new(user, "ssh_authorized_keys", keys);
    else
        json_decref(keys);
    json_t *cfg = must(json_pack("{s:s, s:b, s:b, s:b, s:b, s:[o]}", "hostname", in->hostname,
                                 "preserve_hostname", 0, "manage_etc_hosts", 1, "ssh_pwauth", 0,
                                 "disable_root", 1, "users", user));
    if (in->new_machine_id)
        json_object_set_new(
            cfg, "bootcmd",
            must(json_pack("[[s, s, s, s, s, s]]", "cloud-init-per", "instance",
                           "cumulus-machine-id", "sh", "-c",
                           "rm -f /etc/machine-id /var/lib/dbus/machine-id &&"
                           " systemd-machine-id-setup")));
    return cfg;
}

/* ---- the documents ---- */

static char *cloud_config_text(const json_t *cfg, cu_error **err)
{
    _cleanup_free_ char *yaml = json_to_yaml(cfg, err);
    char *text = NULL;
    if (yaml == NULL)
        return NULL;
    if (asprintf(&text, "#cloud-config\n%s", yaml) < 0)
        abort();
    return text;
}

typedef struct mime_part {
    const char *type, *filename, *body;
    size_t len;
    char *encoded; /* base64 lines, or NULL when the body goes as it is */
} mime_part;

/* 7bit keeps a part readable, but Python's email module (which cloud-init
 * parses MIME with) mangles non-ASCII text in it, and a lone CR before the
 * boundary would be eaten as part of the line ending: base64 those. */
static char *maybe_base64(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0x80 && s[i] != '\r')
        i++;
    if (i == n)
        return NULL;
    size_t raw = 4 * ((n + 2) / 3);
    _cleanup_free_ unsigned char *b64 = must(malloc(raw + 1));
    EVP_EncodeBlock(b64, (const unsigned char *)s, (int)n);
    char *out = must(malloc(raw + raw / B64_LINE + 1)), *o = out;
    for (i = 0; i < raw; i += B64_LINE) {
        size_t k = raw - i < B64_LINE ? raw - i : B64_LINE;
        memcpy(o, b64 + i, k);
        o += k;
        if (i + k < raw)
            *o++ = '\n';
    }
    *o = '\0';
    return out;
}

static bool part_contains(const mime_part *p, const char *needle)
{
    return memmem(p->body, p->len, needle, strlen(needle)) ||
           (p->encoded && strstr(p->encoded, needle));
}

/* "cumulus-" + 40 hex digits of SHA-256 over the parts (and a round number,
 * in the unlikely case a part holds the candidate). */
static void make_boundary(char *out, size_t size, const mime_part *parts, size_t n)
{
    for (unsigned round = 0;; round++) {
        unsigned char md[EVP_MAX_MD_SIZE];
        char prefix[64];
        EVP_MD_CTX *ctx = must(EVP_MD_CTX_new());
        int plen = snprintf(prefix, sizeof(prefix), "cumulus-mime %u", round);
        if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
            !EVP_DigestUpdate(ctx, prefix, (size_t)plen))
            abort();
        for (size_t i = 0; i < n; i++) {
            plen = snprintf(prefix, sizeof(prefix), "\n%zu\n", parts[i].len);
            if (!EVP_DigestUpdate(ctx, prefix, (size_t)plen) ||
                !EVP_DigestUpdate(ctx, parts[i].body, parts[i].len))
                abort();
        }
        if (!EVP_DigestFinal_ex(ctx, md, NULL))
            abort();
        EVP_MD_CTX_free(ctx);
        int used = snprintf(out, size, "cumulus-");
        for (int i = 0; i < 20; i++)
            used += snprintf(out + used, size - (size_t)used, "%02x", md[i]);
        bool clash = false;
        for (size_t i = 0; i < n; i++)
            clash = clash || part_contains(&parts[i], out);
        if (!clash)
            return;
    }
}

static char *multipart(mime_part *parts, size_t n)
{
    char boundary[64];
    _cleanup_free_ char *doc = NULL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        parts[i].encoded = maybe_base64(parts[i].body, parts[i].len);
    make_boundary(boundary, sizeof(boundary), parts, n);
    FILE *f = must(open_memstream(&doc, &len));
    fprintf(f, "Content-Type: multipart/mixed; boundary=\"%s\"\nMIME-Version: 1.0\n\n", boundary);
    for (size_t i = 0; i < n; i++) {
        mime_part *p = &parts[i];
        fprintf(
            f,
            "--%s\nContent-Type: %s; charset=\"%s\"\nMIME-Version: 1.0\n"
            "Content-Transfer-Encoding: %s\nContent-Disposition: attachment; filename=\"%s\"\n\n",
            boundary, p->type, p->encoded ? "utf-8" : "us-ascii", p->encoded ? "base64" : "7bit",
            p->filename);
        if (p->encoded)
            fputs(p->encoded, f);
        else
            fwrite(p->body, 1, p->len, f);
        fputc('\n', f); /* belongs to the delimiter: the body stays verbatim */
        free(p->encoded);
        p->encoded = NULL;
    }
    fprintf(f, "--%s--\n", boundary);
    if (fclose(f) != 0)
        abort();
    return steal_ptr(&doc);
}

/* cloud-init treats user-data as MIME when "mime-version:" appears in its
 * first 4096 bytes (user_data.py convert_string), even inside YAML. */
static bool looks_like_mime(const char *text)
{
    char head[MIME_SNIFF + 1];
    snprintf(head, sizeof(head), "%s", text);
    return strcasestr(head, "mime-version:") != NULL;
}

char *cloudinit_render_meta_data(const ci_input *in, cu_error **err)
{
    if (check_input(in, err) < 0)
        return NULL;
    json_auto_t *meta = must(
        json_pack("{s:s, s:s}", "instance-id", in->instance_id, "local-hostname", in->hostname));
    return json_to_yaml(meta, err);
}

char *cloudinit_render_user_data(const ci_input *in, cu_error **err)
{
    enum ud_format format;
    json_auto_t *theirs = NULL;
    if (check_input(in, err) < 0)
        return NULL;
    const char *ud = in->user_data;
    if (parse_user_data(ud, ud ? strlen(ud) : 0, &format, &theirs, err) < 0)
        return NULL;
    json_auto_t *ours = our_config(in);
    /* Before the user's: runcmd is one script whose status is its last
     * command's, so ours last would hide a failing command of theirs, and
     * an `exit` of theirs would skip ours. */
    json_auto_t *ready = in->bake ? cloudinit_bake_config() : cloudinit_ready_config();
    cloudinit_merge_config(ours, ready);
    if (format == UD_CLOUD_CONFIG)
        cloudinit_merge_config(ours, theirs);
    /* A bake ends with the power-off that reports it: theirs cannot change it. */
    if (in->bake)
        json_object_set(ours, "power_state", json_object_get(ready, "power_state"));
    _cleanup_free_ char *config = cloud_config_text(ours, err);
    if (config == NULL)
        return NULL;
    mime_part parts[2] = {{"text/cloud-config", "cloud-config.yaml", config, strlen(config), NULL}};
    if (format == UD_SCRIPT || format == UD_BOOTHOOK) {
        bool script = format == UD_SCRIPT;
        parts[1] =
            (mime_part){script ? "text/x-shellscript" : "text/cloud-boothook",
                        script ? "user-script.sh" : "user-boothook.sh", ud, strlen(ud), NULL};
        return multipart(parts, 2);
    }
    return looks_like_mime(config) ? multipart(parts, 1) : steal_ptr(&config);
}
