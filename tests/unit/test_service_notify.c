/* service_notify: the notification protocol without libsystemd (a datagram
 * to a path or an abstract '@' name, errors that say why), and cu_notify()
 * by whichever way the build chose, a no-op without NOTIFY_SOCKET. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "service_notify.h"

static int bind_at(const char *name)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(addr.sun_path, name, n);
    if (name[0] == '@')
        addr.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(
        bind(fd, (struct sockaddr *)&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)),
        0);
    return fd;
}

/* The next datagram, or "" when none comes within a second. */
static void receive(int fd, char *buf, size_t size)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    buf[0] = '\0';
    if (poll(&p, 1, 1000) == 1) {
        ssize_t n = recv(fd, buf, size - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
    }
}

static void path_name(char *out, size_t size)
{
    snprintf(out, size, "%s/cumulus-notify-%d.sock", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
}

static void sends_to_a_path(void **state)
{
    (void)state;
    char name[256], got[256];
    path_name(name, sizeof(name));
    unlink(name);
    int fd = bind_at(name);
    cu_error *err = NULL;
    assert_int_equal(cu_notify_send(name, "READY=1", &err), 0);
    receive(fd, got, sizeof(got));
    assert_string_equal(got, "READY=1");
    close(fd);
    unlink(name);
}

static void sends_to_an_abstract_name(void **state)
{
    (void)state;
    char name[64], got[256];
    snprintf(name, sizeof(name), "@cumulus-notify-unit-%d", (int)getpid());
    int fd = bind_at(name);
    cu_error *err = NULL;
    assert_int_equal(cu_notify_send(name, "STOPPING=1", &err), 0);
    receive(fd, got, sizeof(got));
    assert_string_equal(got, "STOPPING=1");
    close(fd);
}

static void bad_names_say_why(void **state)
{
    (void)state;
    cu_error *err = NULL;
    assert_int_equal(cu_notify_send("run/notify", "READY=1", &err), -1);
    assert_non_null(strstr(err->message, "'run/notify' must be an absolute path or an abstract"));
    cu_error_free(err);
    err = NULL;
    assert_int_equal(cu_notify_send("@", "READY=1", &err), -1);
    assert_non_null(strstr(err->message, "must be 2 to"));
    cu_error_free(err);
    err = NULL;
    assert_int_equal(cu_notify_send("/nonexistent/notify.sock", "READY=1", &err), -1);
    assert_non_null(strstr(err->message, "cannot send 'READY=1' to NOTIFY_SOCKET "
                                         "'/nonexistent/notify.sock'"));
    cu_error_free(err);
}

static void cu_notify_follows_the_environment(void **state)
{
    (void)state;
    char name[256], got[256];
    cu_error *err = NULL;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(cu_notify("READY=1", &err), 0); /* nobody to tell: nothing to do */
    path_name(name, sizeof(name));
    unlink(name);
    int fd = bind_at(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(cu_notify("READY=1", &err), 0);
    receive(fd, got, sizeof(got));
    assert_string_equal(got, "READY=1");
    assert_string_equal(getenv("NOTIFY_SOCKET"), name); /* STOPPING=1 goes there later */
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sends_to_a_path),
        cmocka_unit_test(sends_to_an_abstract_name),
        cmocka_unit_test(bad_names_say_why),
        cmocka_unit_test(cu_notify_follows_the_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
