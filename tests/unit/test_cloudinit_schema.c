/* test_cloudinit_schema.c: rendered user-data (our own cloud-config alone,
 * merged with a user's, with scripts and boothooks) validated by the real
 * cloud-init's `cloud-init schema` (Debian's cloud-init package must be
 * installed), and a check that this validation can fail.  The helpers it
 * shares with test_cloudinit.c are in cloudinit_fixtures.h.
 *
 * cloud-init 22.4's `schema --config-file` only reads files that start with
 * "#cloud-config" (it refuses MIME with "needs to begin with
 * #cloud-config"), so for multipart cases the text/cloud-config part is
 * extracted, as cloud-init itself would, and validated on its own. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cloudinit_fixtures.h"

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

typedef struct schema_case {
    const char *name, *user_data;
    const char *const *keys;
} schema_case;

static const schema_case schema_cases[] = {
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

/* Rendered for a bake (power_state and its reporter instead of the unit). */
static const schema_case bake_cases[] = {
    {"bake", "#cloud-config\nruncmd: [[touch, /etc/baked]]\n", one_key},
    {"bake script", "#!/bin/sh\necho baking\n", no_keys},
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

static void check_case(const schema_case *c, bool bake)
{
    ci_input in = input(c->user_data, c->keys);
    in.bake = bake;
    _cleanup_error_ cu_error *err = NULL;
    _cleanup_free_ char *doc = cloudinit_render_user_data(&in, &err);
    if (doc == NULL)
        fail_msg("case '%s': %s", c->name, err->message);
    _cleanup_free_ char *config = cloud_config_part(doc);
    _cleanup_free_ char *output = NULL;
    int status = cloud_init_schema(config, &output);
    if (status != 0 || strstr(output, "Valid cloud-config") == NULL || strstr(output, "deprecat"))
        fail_msg("case '%s': cloud-init schema exited %d:\n%s\nfor:\n%s", c->name, status, output,
                 config);
}

static void test_cloud_init_schema(void **state)
{
    (void)state;
    if (!on_path("cloud-init"))
        fail_msg("'cloud-init' is not on PATH: install Debian's cloud-init package "
                 "(apt-get install cloud-init) to validate rendered user-data against its schema");
    for (size_t i = 0; i < sizeof(schema_cases) / sizeof(schema_cases[0]); i++)
        check_case(&schema_cases[i], false);
    for (size_t i = 0; i < sizeof(bake_cases) / sizeof(bake_cases[0]); i++)
        check_case(&bake_cases[i], true);
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
        cmocka_unit_test(test_cloud_init_schema),
        cmocka_unit_test(test_cloud_init_schema_can_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
