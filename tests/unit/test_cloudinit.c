/* test_cloudinit.c: unit tests of controlplane/cloudinit.c: meta-data, our
 * own cloud-config, the merge of a user's cloud-config, scripts and
 * boothooks in multipart MIME, every refusal, and determinism.  The
 * rendered user-data checked by the real cloud-init's `cloud-init schema`
 * is in test_cloudinit_schema.c; the helpers both use are in
 * cloudinit_fixtures.h. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudinit_fixtures.h"

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
    _cleanup_free_ char *text = render(NULL, one_key), *ready = ready_yaml();
    _cleanup_free_ char *want = NULL;
    assert_true(asprintf(&want, "%s    ssh_authorized_keys:\n      - %s\n%s", ours_golden, KEY_A,
                         ready) > 0);
    assert_string_equal(text, want);
    /* blank user_data means none */
    _cleanup_free_ char *blank = render(" \n\t\n", one_key);
    assert_string_equal(blank, want);
}

static void test_user_data_no_keys(void **state)
{
    (void)state;
    _cleanup_free_ char *text = render(NULL, no_keys), *ready = ready_yaml(), *want = NULL;
    assert_true(asprintf(&want, "%s%s", ours_golden, ready) > 0);
    assert_string_equal(text, want);
    ci_input in = input(NULL, NULL); /* a NULL list is no keys too */
    _cleanup_error_ cu_error *err = NULL;
    _cleanup_free_ char *again = cloudinit_render_user_data(&in, &err);
    assert_string_equal(again, want);
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

/* The unit runs after cloud-final on every boot (cloud-init.target, not
 * multi-user.target: cloud-final is ordered after that one), is enabled
 * and queued by runcmd, and writes to the port the agent reads. */
static void test_ready_reporter(void **state)
{
    (void)state;
    json_auto_t *cfg = render_config(NULL, one_key);
    json_t *files = json_object_get(cfg, "write_files");
    assert_int_equal(json_array_size(files), 2);
    json_t *script = json_array_get(files, 0), *unit = json_array_get(files, 1);
    assert_string_equal(json_string_value(json_object_get(script, "path")),
                        "/usr/local/lib/cumulus/report-ready");
    assert_string_equal(json_string_value(json_object_get(script, "permissions")), "0755");
    const char *body = json_string_value(json_object_get(script, "content"));
    assert_memory_equal(body, "#!/bin/sh\n", 10);
    assert_non_null(strstr(body, "/dev/virtio-ports/org.cumulus.guest.0"));
    assert_non_null(strstr(body, "/run/cloud-init/result.json"));
    assert_string_equal(json_string_value(json_object_get(unit, "path")),
                        "/etc/systemd/system/cumulus-ready.service");
    const char *u = json_string_value(json_object_get(unit, "content"));
    assert_non_null(strstr(u, "\nAfter=cloud-final.service\n"));
    assert_non_null(strstr(u, "\nExecStart=/usr/local/lib/cumulus/report-ready\n"));
    assert_non_null(strstr(u, "\nWantedBy=cloud-init.target\n"));
    assert_null(strstr(u, "multi-user.target"));
    assert_json(json_object_get(cfg, "runcmd"),
                "[[\"systemctl\", \"enable\", \"--now\", \"--no-block\", "
                "\"cumulus-ready.service\"]]");
}

/* A bake: no per-boot unit, but power_state whose condition is the
 * reporter, and the user's own power_state cannot replace ours. */
static void test_bake_powers_off_and_reports(void **state)
{
    (void)state;
    ci_input in = input("#cloud-config\npower_state: {mode: reboot}\nruncmd: [[touch, /x]]\n",
                        one_key);
    in.bake = true;
    _cleanup_error_ cu_error *err = NULL;
    _cleanup_free_ char *text = cloudinit_render_user_data(&in, &err);
    assert_non_null(text);
    json_auto_t *cfg = config_of(text);
    assert_json(json_object_get(cfg, "power_state"),
                "{\"mode\": \"poweroff\", \"message\": \"Cumulus: cloud-init has finished; "
                "powering off to make the image\", \"condition\": "
                "[\"/usr/local/lib/cumulus/report-baked\"], \"timeout\": 600}");
    json_t *files = json_object_get(cfg, "write_files");
    assert_int_equal(json_array_size(files), 1);
    const char *body = json_string_value(json_object_get(json_array_get(files, 0), "content"));
    assert_memory_equal(body, "#!/usr/bin/python3\n", 19);
    assert_non_null(strstr(body, "'event': 'bake'"));
    assert_non_null(strstr(body, "/dev/virtio-ports/org.cumulus.guest.0"));
    assert_null(strstr(text, "cumulus-ready.service"));
    assert_json(json_object_get(cfg, "runcmd"), "[[\"touch\", \"/x\"]]");
}

/* ---- merging a user's cloud-config ---- */

static void test_merge_packages(void **state)
{
    (void)state;
    json_auto_t *cfg =
        render_config("#cloud-config\npackages: [htop, curl]\npackage_update: true\n", one_key);
    assert_json(json_object_get(cfg, "packages"), "[\"htop\", \"curl\"]");
    assert_true(json_is_true(json_object_get(cfg, "package_update")));
    /* ours first (the readiness reporter included), then theirs in their order */
    const char *order[] = {"hostname",     "preserve_hostname", "manage_etc_hosts",
                           "ssh_pwauth",   "disable_root",      "users",
                           "write_files",  "runcmd",            "packages",
                           "package_update"};
    size_t i = 0;
    const char *key;
    json_t *v;
    json_object_foreach (cfg, key, v) {
        assert_true(i < 10);
        assert_string_equal(key, order[i++]);
    }
    assert_int_equal(i, 10);
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

static void test_new_machine_id(void **state)
{
    (void)state;
    ci_input in = input("#cloud-config\nbootcmd: [echo hi]\n", one_key);
    in.new_machine_id = true;
    _cleanup_error_ cu_error *err = NULL;
    _cleanup_free_ char *text = cloudinit_render_user_data(&in, &err);
    assert_non_null(text);
    json_auto_t *cfg = config_of(text);
    /* ours first, once per instance-id; the user's bootcmd still runs */
    assert_json(json_object_get(cfg, "bootcmd"),
                "[[\"cloud-init-per\", \"instance\", \"cumulus-machine-id\", \"sh\", \"-c\","
                " \"rm -f /etc/machine-id /var/lib/dbus/machine-id && systemd-machine-id-setup\"],"
                " \"echo hi\"]");
    /* an ordinary image gets none */
    json_auto_t *plain = render_config(NULL, one_key);
    assert_null(json_object_get(plain, "bootcmd"));
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

static void test_merge_nested(void **state)
{
    (void)state;
    json_auto_t *cfg = render_config(nested_ud, one_key);
    _cleanup_error_ cu_error *err = NULL;
    json_auto_t *theirs = yaml_to_json(nested_ud, strlen(nested_ud), &err);
    const char *keys[] = {"apt", "bootcmd"};
    for (size_t i = 0; i < 2; i++)
        assert_true(json_equal(json_object_get(cfg, keys[i]), json_object_get(theirs, keys[i])));
    /* Lists: the readiness reporter's first (a failing runcmd of theirs
     * must stay the script's last word), then theirs. */
    json_auto_t *ready = cloudinit_ready_config();
    const char *lists[] = {"write_files", "runcmd"};
    for (size_t i = 0; i < 2; i++) {
        json_t *got = json_object_get(cfg, lists[i]), *their = json_object_get(theirs, lists[i]);
        json_t *our = json_object_get(ready, lists[i]);
        size_t n = json_array_size(our);
        assert_int_equal(json_array_size(got), n + json_array_size(their));
        for (size_t j = 0; j < json_array_size(got); j++)
            assert_true(json_equal(json_array_get(got, j), j < n ? json_array_get(our, j)
                                                                 : json_array_get(their, j - n)));
    }
    size_t first_theirs = json_array_size(json_object_get(ready, "write_files"));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(cfg, "write_files"), first_theirs),
                            "content")),
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_data),
        cmocka_unit_test(test_user_data_without_user_data),
        cmocka_unit_test(test_user_data_no_keys),
        cmocka_unit_test(test_user_data_several_keys),
        cmocka_unit_test(test_values_cannot_inject_yaml),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_ready_reporter),
        cmocka_unit_test(test_merge_packages),
        cmocka_unit_test(test_merge_second_user),
        cmocka_unit_test(test_merge_same_login_user),
        cmocka_unit_test(test_merge_users_other_forms),
        cmocka_unit_test(test_merge_hostname_and_scalars),
        cmocka_unit_test(test_new_machine_id),
        cmocka_unit_test(test_merge_nested),
        cmocka_unit_test(test_merge_empty_cloud_config),
        cmocka_unit_test(test_script_multipart),
        cmocka_unit_test(test_boothook_multipart),
        cmocka_unit_test(test_boundary_never_in_parts),
        cmocka_unit_test(test_mime_version_in_cloud_config),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_bake_powers_off_and_reports),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_refusals_bytes),
        cmocka_unit_test(test_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
