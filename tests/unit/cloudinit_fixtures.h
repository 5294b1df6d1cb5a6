/* cloudinit_fixtures.h: what test_cloudinit.c and test_cloudinit_schema.c
 * share: the VM the user-data is rendered for, its SSH keys, a nested
 * cloud-config, rendering with a failed test on error, reading a rendered
 * "#cloud-config" back, and a reader for our multipart MIME documents.
 * Static inline helpers only (each test file is its own executable); include
 * it after defining _GNU_SOURCE. */
#ifndef CUMULUS_TEST_CLOUDINIT_FIXTURES_H
#define CUMULUS_TEST_CLOUDINIT_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static inline ci_input input(const char *user_data, const char *const *keys)
{
    return (ci_input){.instance_id = "vm-3f9a1c2b7d4e5f60",
                      .hostname = "web-1",
                      .login_user = "debian",
                      .ssh_keys = keys,
                      .user_data = user_data};
}

static inline char *render(const char *user_data, const char *const *keys)
{
    ci_input in = input(user_data, keys);
    _cleanup_error_ cu_error *err = NULL;
    char *out = cloudinit_render_user_data(&in, &err);
    if (out == NULL)
        fail_msg("rendering user-data: %s", err->message);
    return out;
}

/* The YAML every rendered cloud-config ends with when the user's adds no
 * write_files or runcmd: the readiness reporter (cloudinit_ready.c). */
static inline char *ready_yaml(void)
{
    _cleanup_error_ cu_error *err = NULL;
    json_auto_t *ready = cloudinit_ready_config();
    char *text = json_to_yaml(ready, &err);
    if (text == NULL)
        fail_msg("rendering the readiness config: %s", err->message);
    return text;
}

/* The value of a rendered "#cloud-config" document. */
static inline json_t *config_of(const char *text)
{
    _cleanup_error_ cu_error *err = NULL;
    assert_memory_equal(text, "#cloud-config\n", 14);
    json_t *v = yaml_to_json(text, strlen(text), &err);
    if (v == NULL)
        fail_msg("rendered cloud-config does not parse: %s\n%s", err->message, text);
    return v;
}

static inline json_t *render_config(const char *user_data, const char *const *keys)
{
    _cleanup_free_ char *text = render(user_data, keys);
    return config_of(text);
}

static inline void assert_json(const json_t *got, const char *want_json)
{
    json_auto_t *want = json_loads(want_json, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        _cleanup_free_ char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_INDENT(1));
        fail_msg("got %s\nexpected %s", g, want_json);
    }
}

/* A user's cloud-config with nesting, a literal block and lists of lists. */
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

/* ---- MIME, read the way Python's email module reads our documents ---- */

typedef struct part {
    char *type;        /* "text/x-shellscript" */
    char *disposition; /* the Content-Disposition value */
    char *body;        /* decoded */
    size_t len;
} part;

static inline void part_free(part *p)
{
    free(p->type);
    free(p->disposition);
    free(p->body);
}

static inline char *header(const char *headers, size_t hlen, const char *name)
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

static inline char *base64_decode(const char *text, size_t len, size_t *out_len)
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
static inline size_t mime_parts(const char *doc, part *parts, size_t max, char **boundary_out)
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

#endif
