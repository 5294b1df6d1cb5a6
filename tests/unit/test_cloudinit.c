/* test_cloudinit.c: unit tests of controlplane/cloudinit.c: meta-data, our
 * own cloud-config, the merge of a user's cloud-config, scripts and
 * boothooks in multipart MIME, every refusal, determinism, and finally the
 * rendered user-data of every case checked by the real cloud-init's
 * `cloud-init schema` (Debian's cloud-init package must be installed).
 *
 * cloud-init 22.4's `schema --config-file` only reads files that start with
 * "#cloud-config" (it refuses MIME with "needs to begin with
 * #cloud-config"), so for multipart cases the text/cloud-config part is
 * extracted, as cloud-init itself would, and validated on its own. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "cleanup.h"
#include "cloudinit.h"
#include "error.h"
#include "yaml_json.h"

#define KEY_A                                                                                      \
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl "            \
    "alice@laptop"
#define KEY_B "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 bob@desk"
#define KEY_C "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= carol"

static const char *const one_key[] = {KEY_A, NULL};
static const char *const no_keys[] = {NULL};
static const char *const three_keys[] = {KEY_A, KEY_B, KEY_C, NULL};

static ci_input input(const char *user_data, const char *const *keys)
{
    return (ci_input){.instance_id = "vm-3f9a1c2b7d4e5f60",
                      .hostname = "web-1",
                      .login_user = "debian",
                      .ssh_keys = keys,
                      .user_data = user_data};
}

static char *render(const char *user_data, const char *const *keys)
{
    ci_input in = input(user_data, keys);
    _cleanup_error_ cu_error *err = NULL;
    char *out = cloudinit_render_user_data(&in, &err);
    if (out == NULL)
        fail_msg("rendering user-data: %s", err->message);
    return out;
}

/* The value of a rendered "#cloud-config" document. */
static json_t *config_of(const char *text)
{
    _cleanup_error_ cu_error *err = NULL;
    assert_memory_equal(text, "#cloud-config\n", 14);
    json_t *v = yaml_to_json(text, strlen(text), &err);
    if (v == NULL)
        fail_msg("rendered cloud-config does not parse: %s\n%s", err->message, text);
    return v;
}

static json_t *render_config(const char *user_data, const char *const *keys)
{
    _cleanup_free_ char *text = render(user_data, keys);
    return config_of(text);
}

static void assert_json(const json_t *got, const char *want_json)
{
    json_auto_t *want = json_loads(want_json, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        _cleanup_free_ char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_INDENT(1));
        fail_msg("got %s\nexpected %s", g, want_json);
    }
}

/* ---- MIME, read the way Python's email module reads our documents ---- */

typedef struct part {
    char *type;        /* "text/x-shellscript" */
    char *disposition; /* the Content-Disposition value */
    char *body;        /* decoded */
    size_t len;
} part;

static void part_free(part *p)
{
    free(p->type);
    free(p->disposition);
    free(p->body);
}

static char *header(const char *headers, size_t hlen, const char *name)
{
    _cleanup_free_ char *h = strndup(headers, hlen);
    _cleanup_free_ char *needle = NULL;
    assert_true(asprintf(&needle, "%s: ", name) > 0);
    char *at = strstr(h, needle);
    if (at == NULL)
        return NULL;
    at += strlen(needle);
    return strndup(at, strcspn(at, ";\n"));
}

static char *base64_decode(const char *text, size_t len, size_t *out_len)
{
    _cleanup_free_ char *clean = malloc(len + 1);
    size_t n = 0, pad = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] != '\n')
            clean[n++] = text[i];
    clean[n] = '\0';
    while (pad < n && clean[n - 1 - pad] == '=')
        pad++;
    char *out = malloc(n / 4 * 3 + 1);
    int got = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)clean, (int)n);
    assert_true(got >= 0);
    *out_len = (size_t)got - pad;
    out[*out_len] = '\0';
    return out;
}

/* Splits a multipart document into parts (at most `max`); returns the count. */
static size_t mime_parts(const char *doc, part *parts, size_t max, char **boundary_out)
{
    const char *b = strstr(doc, "boundary=\"");
    assert_non_null(b);
    b += strlen("boundary=\"");
    _cleanup_free_ char *boundary = strndup(b, strcspn(b, "\""));
    _cleanup_free_ char *delim = NULL;
    assert_true(asprintf(&delim, "\n--%s", boundary) > 0);
    size_t n = 0;
    const char *at = strstr(doc, delim);
    while (at && strncmp(at + strlen(delim), "--", 2) != 0) {
        assert_true(n < max);
        const char *start = at + strlen(delim) + 1; /* past the delimiter's newline */
        const char *blank = strstr(start, "\n\n");
        assert_non_null(blank);
        const char *body = blank + 2;
        const char *next = strstr(body, delim);
        assert_non_null(next);
        size_t hlen = (size_t)(blank - start);
        part *p = &parts[n++];
        p->type = header(start, hlen, "Content-Type");
        p->disposition = header(start, hlen, "Content-Disposition");
        _cleanup_free_ char *cte = header(start, hlen, "Content-Transfer-Encoding");
        assert_non_null(cte);
        if (strcmp(cte, "base64") == 0) {
            p->body = base64_decode(body, (size_t)(next - body), &p->len);
        } else {
            assert_string_equal(cte, "7bit");
            p->len = (size_t)(next - body);
            p->body = strndup(body, p->len);
        }
        at = next;
    }
    assert_non_null(at); /* the closing delimiter */
    if (boundary_out)
        *boundary_out = strdup(boundary);
    return n;
}

/* ---- meta-data and our own cloud-config ---- */

static void test_meta_data(void **state)
{
    (void)state;
    ci_input in = input(NULL, one_key);
    _cleanup_error_ cu_error *err = NULL;
    _cleanup_free_ char *meta = cloudinit_render_meta_data(&in, &err);
    assert_non_null(meta);
    assert_string_equal(meta, "instance-id: vm-3f9a1c2b7d4e5f60\nlocal-hostname: web-1\n");
}

static const char ours_golden[] = "#cloud-config\n"
                                  "hostname: web-1\n"
                                  "preserve_hostname: false\n"
                                  "manage_etc_hosts: true\n"
                                  "ssh_pwauth: false\n"
                                  "disable_root: true\n"
                                  "users:\n"
                                  "  - name: debian\n"
                                  "    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"
                                  "    shell: /bin/bash\n"
                                  "    lock_passwd: true\n"
                                  "    groups:\n"
                                  "      - sudo\n";

static void test_user_data_without_user_data(void **state)
{
    (void)state;
    _cleanup_free_ char *text = render(NULL, one_key);
    _cleanup_free_ char *want = NULL;
    assert_true(asprintf(&want, "%s    ssh_authorized_keys:\n      - %s\n", ours_golden, KEY_A) >
                0);
    assert_string_equal(text, want);
    /* blank user_data means none */
    _cleanup_free_ char *blank = render(" \n\t\n", one_key);
    assert_string_equal(blank, want);
}

static void test_user_data_no_keys(void **state)
{
    (void)state;
    _cleanup_free_ char *text = render(NULL, no_keys);
    assert_string_equal(text, ours_golden);
    ci_input in = input(NULL, NULL); /* a NULL list is no keys too */
    _cleanup_error_ cu_error *err = NULL;
    _cleanup_free_ char *again = cloudinit_render_user_data(&in, &err);
    assert_string_equal(again, ours_golden);
}

static void test_user_data_several_keys(void **state)
{
    (void)state;
    json_auto_t *cfg = render_config(NULL, three_keys);
    assert_json(
        json_object_get(json_array_get(json_object_get(cfg, "users"), 0), "ssh_authorized_keys"),
        "[\"" KEY_A "\", \"" KEY_B "\", \"" KEY_C "\"]");
}

static void test_values_cannot_inject_yaml(void **state)
{
    (void)state;
    const char *const keys[] = {"ssh-ed25519 AAAA x\": y", "ssh-rsa AAAA # not a comment", NULL};
    ci_input in = input(NULL, keys);
    in.hostname = "yes";
    in.login_user = "null";
    _cleanup_error_ cu_error *err = NULL;
    _cleanup_free_ char *text = cloudinit_render_user_data(&in, &err);
    json_auto_t *cfg = config_of(text);
    assert_string_equal(json_string_value(json_object_get(cfg, "hostname")), "yes");
    json_t *user = json_array_get(json_object_get(cfg, "users"), 0);
    assert_string_equal(json_string_value(json_object_get(user, "name")), "null");
    assert_json(json_object_get(user, "ssh_authorized_keys"),
                "[\"ssh-ed25519 AAAA x\\\": y\", \"ssh-rsa AAAA # not a comment\"]");
}

static void test_bad_inputs(void **state)
{
    (void)state;
    const char *const keys[] = {KEY_A, "ssh-ed25519 AAAA\nssh-rsa BBBB evil", NULL};
    ci_input in = input(NULL, keys);
    _cleanup_error_ cu_error *err = NULL;
    assert_null(cloudinit_render_user_data(&in, &err));
    assert_int_equal(err->status, 400);
    assert_string_equal(err->field, "ssh_keys");
    assert_non_null(strstr(err->message, "SSH key 2"));

    ci_input none = input(NULL, one_key);
    none.hostname = NULL;
    _cleanup_error_ cu_error *err2 = NULL;
    assert_null(cloudinit_render_meta_data(&none, &err2));
    assert_int_equal(err2->status, 500);
}

/* ---- merging a user's cloud-config ---- */

static void test_merge_packages(void **state)
{
    (void)state;
    json_auto_t *cfg =
        render_config("#cloud-config\npackages: [htop, curl]\npackage_update: true\n", one_key);
    assert_json(json_object_get(cfg, "packages"), "[\"htop\", \"curl\"]");
    assert_true(json_is_true(json_object_get(cfg, "package_update")));
    /* ours first, then theirs in their order */
    const char *order[] = {"hostname",   "preserve_hostname", "manage_etc_hosts",
                           "ssh_pwauth", "disable_root",      "users",
                           "packages",   "package_update"};
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach (cfg, key, v)
        assert_string_equal(key, order[i++]);
    assert_int_equal(i, 8);
}

static void test_merge_second_user(void **state)
{
    (void)state;
    json_auto_t *cfg =
        render_config("#cloud-config\nusers:\n  - default\n  - name: bob\n"
                      "    shell: /bin/zsh\n    ssh_authorized_keys: [\"" KEY_B "\"]\n",
                      one_key);
    json_t *users = json_object_get(cfg, "users");
    assert_int_equal(json_array_size(users), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(users, 0), "name")),
                        "debian");
    assert_json(json_array_get(users, 1), "\"default\"");
    assert_json(json_array_get(users, 2),
                "{\"name\": \"bob\", \"shell\": \"/bin/zsh\", \"ssh_authorized_keys\": [\"" KEY_B
                "\"]}");
}

static void test_merge_same_login_user(void **state)
{
    (void)state;
    json_auto_t *cfg =
        render_config("#cloud-config\nusers:\n  - name: debian\n"
                      "    groups: docker, sudo\n    shell: /bin/zsh\n"
                      "    ssh_authorized_keys:\n      - " KEY_B "\n      - " KEY_A "\n",
                      one_key);
    json_t *users = json_object_get(cfg, "users");
    assert_int_equal(json_array_size(users), 1);
    assert_json(json_array_get(users, 0),
                "{\"name\": \"debian\", \"sudo\": \"ALL=(ALL) NOPASSWD:ALL\", \"shell\": "
                "\"/bin/zsh\", \"lock_passwd\": true, \"groups\": [\"sudo\", \"docker\"], "
                "\"ssh_authorized_keys\": [\"" KEY_A "\", \"" KEY_B "\"]}");
}

static void test_merge_users_other_forms(void **state)
{
    (void)state;
    json_auto_t *k = render_config("#cloud-config\nusers:\n  - name: debian\n"
                                   "    ssh_authorized_keys: " KEY_B "\n",
                                   one_key);
    assert_json(
        json_object_get(json_array_get(json_object_get(k, "users"), 0), "ssh_authorized_keys"),
        "[\"" KEY_A "\", \"" KEY_B "\"]");

    json_auto_t *s = render_config("#cloud-config\nusers: default\n", one_key);
    assert_int_equal(json_array_size(json_object_get(s, "users")), 2);
    assert_json(json_array_get(json_object_get(s, "users"), 1), "\"default\"");

    json_auto_t *m = render_config("#cloud-config\nusers:\n  debian:\n    lock_passwd: false\n"
                                   "  carol: true\n  dave: false\n  erin: {shell: /bin/sh}\n",
                                   one_key);
    json_t *users = json_object_get(m, "users");
    assert_int_equal(json_array_size(users), 3);
    assert_true(json_is_false(json_object_get(json_array_get(users, 0), "lock_passwd")));
    assert_json(json_array_get(users, 1), "\"carol\"");
    assert_json(json_array_get(users, 2), "{\"name\": \"erin\", \"shell\": \"/bin/sh\"}");
}

static void test_merge_hostname_and_scalars(void **state)
{
    (void)state;
    json_auto_t *cfg = render_config(
        "#cloud-config\nhostname: db-7\nssh_pwauth: true\nmanage_etc_hosts: localhost\n", one_key);
    assert_string_equal(json_string_value(json_object_get(cfg, "hostname")), "db-7");
    assert_true(json_is_true(json_object_get(cfg, "ssh_pwauth")));
    assert_string_equal(json_string_value(json_object_get(cfg, "manage_etc_hosts")), "localhost");
    /* the key keeps our position */
    assert_string_equal(json_object_iter_key(json_object_iter(cfg)), "hostname");
    /* meta-data keeps the VM's name */
    ci_input in = input("#cloud-config\nhostname: db-7\n", one_key);
    _cleanup_error_ cu_error *err = NULL;
    _cleanup_free_ char *meta = cloudinit_render_meta_data(&in, &err);
    assert_non_null(strstr(meta, "local-hostname: web-1\n"));
}

static const char nested_ud[] = "#cloud-config\n"
                                "write_files:\n"
                                "  - path: /etc/motd\n"
                                "    content: |\n"
                                "      Welcome: \"yes\" # not a comment\n"
                                "        indented\n"
                                "    permissions: '0644'\n"
                                "  - path: /usr/local/bin/hello\n"
                                "    encoding: b64\n"
                                "    content: IyEvYmluL3NoCmVjaG8gaGkK\n"
                                "    permissions: '0755'\n"
                                "apt:\n"
                                "  preserve_sources_list: true\n"
                                "  sources:\n"
                                "    example:\n"
                                "      source: deb http://deb.example.org/debian bookworm main\n"
                                "runcmd:\n"
                                "  - [sh, -c, 'echo $HOME']\n"
                                "  - echo done\n"
                                "bootcmd:\n"
                                "  - echo yes\n";

static void test_merge_nested(void **state)
{
    (void)state;
    json_auto_t *cfg = render_config(nested_ud, one_key);
    _cleanup_error_ cu_error *err = NULL;
    json_auto_t *theirs = yaml_to_json(nested_ud, strlen(nested_ud), &err);
    const char *keys[] = {"write_files", "apt", "runcmd", "bootcmd"};
    for (size_t i = 0; i < 4; i++)
        assert_true(json_equal(json_object_get(cfg, keys[i]), json_object_get(theirs, keys[i])));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(cfg, "write_files"), 0), "content")),
                        "Welcome: \"yes\" # not a comment\n  indented\n");
}

static void test_merge_empty_cloud_config(void **state)
{
    (void)state;
    _cleanup_free_ char *plain = render(NULL, one_key);
    _cleanup_free_ char *empty = render("#cloud-config\n", one_key);
    _cleanup_free_ char *comments = render("#cloud-config\n# nothing yet\n", one_key);
    assert_string_equal(empty, plain);
    assert_string_equal(comments, plain);
}

/* ---- scripts and boothooks ---- */

static void assert_multipart(const char *doc, const char *type, const char *filename,
                             const char *payload, size_t payload_len)
{
    part parts[3] = {{0}};
    _cleanup_free_ char *boundary = NULL;
    assert_true(strncmp(doc, "Content-Type: multipart/mixed; boundary=\"", 41) == 0);
    assert_non_null(strstr(doc, "\nMIME-Version: 1.0\n"));
    size_t n = mime_parts(doc, parts, 3, &boundary);
    assert_int_equal(n, 2);
    assert_string_equal(parts[0].type, "text/cloud-config");
    assert_string_equal(parts[0].disposition, "attachment");
    assert_non_null(strstr(doc, "filename=\"cloud-config.yaml\""));
    _cleanup_free_ char *ours = render(NULL, one_key);
    assert_string_equal(parts[0].body, ours);
    assert_string_equal(parts[1].type, type);
    _cleanup_free_ char *disp = NULL;
    assert_true(asprintf(&disp, "Content-Disposition: attachment; filename=\"%s\"", filename) > 0);
    assert_non_null(strstr(doc, disp));
    assert_int_equal(parts[1].len, payload_len);
    assert_memory_equal(parts[1].body, payload, payload_len);
    for (size_t i = 0; i < n; i++) {
        assert_null(memmem(parts[i].body, parts[i].len, boundary, strlen(boundary)));
        part_free(&parts[i]);
    }
}

static void test_script_multipart(void **state)
{
    (void)state;
    const char *scripts[] = {
        "#!/bin/sh\necho hello > /tmp/hello\n",
        "#!/bin/bash\necho no final newline",
        "#!/bin/sh\r\necho crlf\r\n",
        "#!/bin/sh\necho 'h\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac'\n\n\n",
        "#!/usr/bin/env python3\nprint('--cumulus-')\n",
    };
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        _cleanup_free_ char *doc = render(scripts[i], one_key);
        assert_multipart(doc, "text/x-shellscript", "user-script.sh", scripts[i],
                         strlen(scripts[i]));
    }
}

static void test_boothook_multipart(void **state)
{
    (void)state;
    const char *hook = "#cloud-boothook\n#!/bin/sh\necho booting > /run/hook\n";
    _cleanup_free_ char *doc = render(hook, one_key);
    assert_multipart(doc, "text/cloud-boothook", "user-boothook.sh", hook, strlen(hook));
}

/* A boundary must not occur in a part: the text of one found by rendering
 * once, then put into the script, must make the boundary change. */
static void test_boundary_never_in_parts(void **state)
{
    (void)state;
    const char *script = "#!/bin/sh\necho first\n";
    _cleanup_free_ char *doc = render(script, one_key);
    part parts[2] = {{0}};
    _cleanup_free_ char *boundary = NULL;
    mime_parts(doc, parts, 2, &boundary);
    part_free(&parts[0]);
    part_free(&parts[1]);
    _cleanup_free_ char *evil = NULL;
    assert_true(asprintf(&evil, "#!/bin/sh\n# --%s\necho %s--\n", boundary, boundary) > 0);
    _cleanup_free_ char *doc2 = render(evil, one_key);
    assert_multipart(doc2, "text/x-shellscript", "user-script.sh", evil, strlen(evil));
}

/* cloud-init takes any user-data with "mime-version:" in its first 4096
 * bytes for MIME; such a cloud-config must be sent as MIME. */
static void test_mime_version_in_cloud_config(void **state)
{
    (void)state;
    const char *ud = "#cloud-config\nwrite_files:\n  - path: /etc/mail.tpl\n"
                     "    content: \"MIME-Version: 1.0\\n\"\n";
    _cleanup_free_ char *doc = render(ud, one_key);
    part parts[2] = {{0}};
    assert_int_equal(mime_parts(doc, parts, 2, NULL), 1);
    assert_string_equal(parts[0].type, "text/cloud-config");
    json_auto_t *cfg = config_of(parts[0].body);
    assert_non_null(json_object_get(cfg, "write_files"));
    part_free(&parts[0]);
}

static void test_determinism(void **state)
{
    (void)state;
    const char *inputs[] = {NULL, "#cloud-config\npackages: [a, b]\nusers: [default]\n",
                            "#!/bin/sh\necho hi\n", "#cloud-boothook\necho hi\n"};
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        _cleanup_free_ char *a = render(inputs[i], three_keys);
        _cleanup_free_ char *b = render(inputs[i], three_keys);
        assert_string_equal(a, b);
    }
    _cleanup_free_ char *s1 = render("#!/bin/sh\necho 1\n", one_key);
    _cleanup_free_ char *s2 = render("#!/bin/sh\necho 2\n", one_key);
    assert_true(strncmp(s1, s2, 90) != 0); /* the boundary follows the content */
}

/* ---- refusals ---- */

static void assert_refused(const char *ud, size_t len, const char *needle)
{
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(cloudinit_check_user_data(ud, len, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->status, 400);
    assert_string_equal(err->code, CU_E_INVALID_FIELD);
    assert_string_equal(err->field, "user_data");
    if (strstr(err->message, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", err->message, needle);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *ud, *needle;
    } table[] = {
        {"#include\nhttp://example.com/x\n",
         "format '#include' is not supported; use '#cloud-config'"},
        {"#include-once\nhttp://x\n", "'#include-once'"},
        {"#cloud-config-archive\n- type: text/x-shellscript\n", "'#cloud-config-archive'"},
        {"#cloud-config-jsonp\n[]\n", "'#cloud-config-jsonp'"},
        {"## template: jinja\n#cloud-config\nhostname: {{ v1.x }}\n", "a Jinja template"},
        {"#part-handler\ndef list_types(): pass\n", "'#part-handler'"},
        {"#upstart-job\n", "'#upstart-job'"},
        {"Content-Type: multipart/mixed; boundary=x\nMIME-Version: 1.0\n\n--x--\n",
         "a MIME document"},
        {"MIME-Version: 1.0\n", "a MIME document"},
        {"hostname: web\n",
         "must start with '#cloud-config' (merged with Cumulus's own cloud-config), a script "
         "starting with '#!', or '#cloud-boothook'; it starts with 'hostname: web'"},
        {"#cloud-config\n- a\n- b\n", "its YAML is a sequence; cloud-config must be a mapping"},
        {"#cloud-config\njust a string\n", "its YAML is a string"},
        {"#cloud-config\npackages: [a\nhostname: x\n", "YAML syntax error at line 3"},
        {"#cloud-config\nhostname: a\n  bad: indent\n", "line 3"},
        {"#cloud-config\na: &x [1]\nb: *x\n", "YAML aliases are not supported in user_data"},
        {"#cloud-config\nruncmd: !!python/object/apply:os.system [id]\n", "unsupported YAML tag"},
        {"#cloud-config\na: 1\na: 2\n", "duplicate key 'a' at line 3, column 1"},
        {"#cloud-config\na: 1\n---\nb: 2\n", "multiple YAML documents"},
        {"#cloud-config\nusers: 5\n",
         "'users' must be a list, a string or a mapping, not a number"},
        {"#cloud-config\nusers: [1]\n", "'users' entry 1 must be a name or a mapping"},
        {"#cloud-config\nusers: [{name: [x]}]\n", "'name' of 'users' entry 1 must be a string"},
        {"#cloud-config\nusers: {bob: [x]}\n", "'users.bob' must be a mapping or a boolean"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        assert_refused(table[i].ud, strlen(table[i].ud), table[i].needle);
    /* render refuses the same way */
    ci_input in = input("#include\nhttp://x\n", one_key);
    _cleanup_error_ cu_error *err = NULL;
    assert_null(cloudinit_render_user_data(&in, &err));
    assert_string_equal(err->field, "user_data");
}

static void test_refusals_bytes(void **state)
{
    (void)state;
    size_t big = CLOUDINIT_USER_DATA_MAX + 1;
    _cleanup_free_ char *huge = malloc(big + 1);
    memcpy(huge, "#!/bin/sh\n", 10);
    memset(huge + 10, '#', big - 10);
    huge[big] = '\0';
    assert_refused(huge, big, "user_data is 65537 bytes; the limit is 65536 bytes (64 KiB)");
    _cleanup_error_ cu_error *err = NULL;
    huge[big - 1] = '\n';
    assert_int_equal(cloudinit_check_user_data(huge, big - 1, &err), 0); /* exactly 64 KiB */

    assert_refused("#!/bin/sh\necho a\0b\n", 19, "NUL byte at offset 16");
    assert_refused("#!/bin/sh\necho \xff\n", 17, "not valid UTF-8 (at byte offset 15)");
    assert_refused("#!/bin/sh\necho \xc0\xaf\n", 18, "not valid UTF-8");     /* overlong '/' */
    assert_refused("#!/bin/sh\necho \xed\xa0\x80\n", 19, "not valid UTF-8"); /* surrogate */
    assert_refused("#!/bin/sh\necho \xe6\x97\n", 18, "not valid UTF-8");     /* truncated */
    assert_refused("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8,
                   "gzip-compressed user_data is not supported");
    assert_refused("\xef\xbb\xbfhostname: x\n", 15, "must start with");
}

static void test_accepted(void **state)
{
    (void)state;
    const char *ok[] = {"#cloud-config\npackages: [htop]\n",
                        "#Cloud-Config\n{}\n",
                        "\n  #cloud-config\nruncmd: [ls]\n",
                        "#!/bin/sh\n",
                        "#!\n",
                        "#cloud-boothook\necho hi\n",
                        "",
                        "   \n",
                        "#cloud-config\nwrite_files:\n- content: \"h\xc3\xa9\"\n  path: /x\n"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        _cleanup_error_ cu_error *err = NULL;
        if (cloudinit_check_user_data(ok[i], strlen(ok[i]), &err) != 0)
            fail_msg("'%s' refused: %s", ok[i], err->message);
    }
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(cloudinit_check_user_data(NULL, 0, &err), 0);
}

/* ---- the real cloud-init's schema ---- */

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    _cleanup_free_ char *copy = strdup(path ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        _cleanup_free_ char *full = NULL;
        if (asprintf(&full, "%s/%s", *dir ? dir : ".", prog) > 0 && access(full, X_OK) == 0)
            return true;
    }
    return false;
}

/* Runs argv (no shell) with stdout and stderr captured; the exit status. */
static int run_captured(char *const argv[], char **output)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    FILE *out = open_memstream(output, &len);
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            fwrite(buf, 1, (size_t)n, out);
    close(fds[0]);
    fclose(out);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* `cloud-init schema --config-file` on text; its exit status and output. */
static int cloud_init_schema(const char *text, char **output)
{
    const char *tmp = getenv("TMPDIR");
    _cleanup_free_ char *path = NULL;
    assert_true(asprintf(&path, "%s/cumulus-user-data-XXXXXX", tmp && *tmp ? tmp : "/tmp") > 0);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    ssize_t written = write(fd, text, len);
    close(fd);
    char *argv[] = {"cloud-init", "schema", "--config-file", path, NULL};
    int status = written == (ssize_t)len ? run_captured(argv, output) : -1;
    unlink(path); /* before any assertion can jump out */
    assert_int_equal(written, (ssize_t)len);
    return status;
}

static const struct {
    const char *name, *user_data;
    const char *const *keys;
} schema_cases[] = {
    {"no user data", NULL, one_key},
    {"no keys", NULL, no_keys},
    {"several keys", NULL, three_keys},
    {"empty cloud-config", "#cloud-config\n", one_key},
    {"packages", "#cloud-config\npackages: [htop, curl]\npackage_update: true\n", one_key},
    {"second user",
     "#cloud-config\nusers:\n  - default\n  - name: bob\n    shell: /bin/zsh\n"
     "    ssh_authorized_keys: [\"" KEY_B "\"]\n",
     one_key},
    {"same login user",
     "#cloud-config\nusers:\n  - name: debian\n    groups: docker, sudo\n"
     "    ssh_authorized_keys:\n      - " KEY_B "\n",
     one_key},
    {"users string", "#cloud-config\nusers: default\n", one_key},
    {"users mapping", "#cloud-config\nusers:\n  debian: {lock_passwd: false}\n  carol: true\n",
     one_key},
    {"hostname override", "#cloud-config\nhostname: db-7\nssh_pwauth: true\n", one_key},
    {"nested", nested_ud, three_keys},
    {"script", "#!/bin/sh\necho hello\n", one_key},
    {"script utf-8", "#!/bin/sh\necho 'h\xc3\xa9llo'\n", three_keys},
    {"boothook", "#cloud-boothook\n#!/bin/sh\necho hi\n", one_key},
    {"mime-version inside",
     "#cloud-config\nwrite_files:\n  - path: /etc/mail.tpl\n"
     "    content: \"MIME-Version: 1.0\\n\"\n",
     one_key},
};

/* The cloud-config cloud-init would read from a rendered user-data. */
static char *cloud_config_part(const char *user_data)
{
    if (strncmp(user_data, "#cloud-config\n", 14) == 0)
        return strdup(user_data);
    part parts[2] = {{0}};
    size_t n = mime_parts(user_data, parts, 2, NULL);
    assert_string_equal(parts[0].type, "text/cloud-config");
    char *text = steal_ptr(&parts[0].body);
    for (size_t i = 0; i < n; i++)
        part_free(&parts[i]);
    return text;
}

static void test_cloud_init_schema(void **state)
{
    (void)state;
    if (!on_path("cloud-init"))
        fail_msg("'cloud-init' is not on PATH: install Debian's cloud-init package "
                 "(apt-get install cloud-init) to validate rendered user-data against its schema");
    for (size_t i = 0; i < sizeof(schema_cases) / sizeof(schema_cases[0]); i++) {
        _cleanup_free_ char *doc = render(schema_cases[i].user_data, schema_cases[i].keys);
        _cleanup_free_ char *config = cloud_config_part(doc);
        _cleanup_free_ char *output = NULL;
        int status = cloud_init_schema(config, &output);
        if (status != 0 || strstr(output, "Valid cloud-config") == NULL ||
            strstr(output, "deprecat"))
            fail_msg("case '%s': cloud-init schema exited %d:\n%s\nfor:\n%s", schema_cases[i].name,
                     status, output, config);
    }
}

/* The check above must be able to fail: an unknown user property is a
 * schema error that we pass through untouched. */
static void test_cloud_init_schema_can_fail(void **state)
{
    (void)state;
    if (!on_path("cloud-init"))
        fail_msg("'cloud-init' is not on PATH: install Debian's cloud-init package");
    _cleanup_free_ char *doc =
        render("#cloud-config\nusers:\n  - name: bob\n    no_such_property: 1\n", one_key);
    _cleanup_free_ char *output = NULL;
    assert_int_not_equal(cloud_init_schema(doc, &output), 0);
    assert_null(strstr(output, "Valid cloud-config"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_data),
        cmocka_unit_test(test_user_data_without_user_data),
        cmocka_unit_test(test_user_data_no_keys),
        cmocka_unit_test(test_user_data_several_keys),
        cmocka_unit_test(test_values_cannot_inject_yaml),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_merge_packages),
        cmocka_unit_test(test_merge_second_user),
        cmocka_unit_test(test_merge_same_login_user),
        cmocka_unit_test(test_merge_users_other_forms),
        cmocka_unit_test(test_merge_hostname_and_scalars),
        cmocka_unit_test(test_merge_nested),
        cmocka_unit_test(test_merge_empty_cloud_config),
        cmocka_unit_test(test_script_multipart),
        cmocka_unit_test(test_boothook_multipart),
        cmocka_unit_test(test_boundary_never_in_parts),
        cmocka_unit_test(test_mime_version_in_cloud_config),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_refusals_bytes),
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_cloud_init_schema),
        cmocka_unit_test(test_cloud_init_schema_can_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
