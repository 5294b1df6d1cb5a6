/* test_console_ticket.c: common/console_ticket.c: a ticket opens its own
 * VM's console once, within its time; missing, malformed, forged (any
 * byte changed, another key), other-VM, other-kind, expired, early and
 * replayed tickets are refused with their own code; the memory of used
 * tickets forgets the expired and refuses when full. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "console_ticket.h"

static const char key[] = "0123456789abcdef0123456789abcdef";
static const char other_key[] = "fedcba9876543210fedcba9876543210";
#define VM "vm-3f9a1c2b7d4e5f60"
#define T0 1764000000000LL

static console_ticket_seen seen;

static int setup(void **state)
{
    (void)state;
    console_ticket_seen_init(&seen);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    console_ticket_seen_destroy(&seen);
    return 0;
}

static void issue(const char *vm, const char *kind, long long now, char out[CONSOLE_TICKET_MAX])
{
    _cleanup_error_ cu_error *err = NULL;
    if (console_ticket_issue(key, sizeof(key) - 1, vm, kind, now, out, &err) < 0)
        fail_msg("issue: %s", err->message);
}

/* The refusal's code for checking `t` for VM/kind at `now` (NULL: good). */
static char *check(const char *t, const char *vm, const char *kind, long long now)
{
    _cleanup_error_ cu_error *err = NULL;
    if (console_ticket_check(key, sizeof(key) - 1, t, vm, kind, now, &seen, &err) == 0)
        return NULL;
    return strdup(err->code);
}

static void assert_refused(const char *t, const char *vm, const char *kind, long long now,
                           const char *code)
{
    _cleanup_free_ char *got = check(t, vm, kind, now);
    if (got == NULL)
        fail_msg("ticket '%s' was accepted; expected %s", t ? t : "(null)", code);
    assert_string_equal(got, code);
}

static void test_good_once(void **state)
{
    (void)state;
    char t[CONSOLE_TICKET_MAX];
    issue(VM, "vnc", T0, t);
    assert_memory_equal(t, "v1." VM ".vnc.", strlen("v1." VM ".vnc."));
    assert_true(strlen(t) < 160);
    assert_null(check(t, VM, "vnc", T0 + 29000));
    assert_refused(t, VM, "vnc", T0 + 29500, "ticket_replayed");
    /* two tickets for the same VM are two */
    char t2[CONSOLE_TICKET_MAX];
    issue(VM, "vnc", T0, t2);
    assert_string_not_equal(t, t2);
    assert_null(check(t2, VM, "vnc", T0 + 1));
}

static void test_refusals(void **state)
{
    (void)state;
    char t[CONSOLE_TICKET_MAX];
    issue(VM, "serial", T0, t);
    assert_refused(NULL, VM, "serial", T0, "ticket_invalid");
    assert_refused("", VM, "serial", T0, "ticket_invalid");
    assert_refused("v1.garbage", VM, "serial", T0, "ticket_invalid");
    /* any one byte changed is a forgery */
    for (size_t i = 0; i < strlen(t); i++) {
        char f[CONSOLE_TICKET_MAX];
        snprintf(f, sizeof(f), "%s", t);
        f[i] = f[i] == 'a' ? 'b' : 'a';
        assert_refused(f, VM, "serial", T0, "ticket_invalid");
    }
    /* a longer expiry, signed with another key */
    char forged[CONSOLE_TICKET_MAX];
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(console_ticket_issue(other_key, sizeof(other_key) - 1, VM, "serial", T0 + 3600000,
                                          forged, &err),
                     0);
    assert_refused(forged, VM, "serial", T0, "ticket_invalid");
    assert_refused(t, "vm-0000000000000000", "serial", T0, "ticket_wrong_vm");
    assert_refused(t, VM, "vnc", T0, "ticket_wrong_vm");
    assert_refused(t, VM, "serial", T0 + CONSOLE_TICKET_TTL_MS + 1, "ticket_expired");
    /* issued by a clock far ahead of ours */
    assert_refused(t, VM, "serial", T0 - CONSOLE_TICKET_SKEW_MS - 1, "ticket_expired");
    /* refusals use nothing up: the ticket still opens its console once */
    assert_null(check(t, VM, "serial", T0 + 1000));
    assert_refused(t, VM, "serial", T0 + 1000, "ticket_replayed");
}

static void test_issue_refuses_what_cannot_be_signed(void **state)
{
    (void)state;
    char t[CONSOLE_TICKET_MAX];
    _cleanup_error_ cu_error *e1 = NULL, *e2 = NULL, *e3 = NULL;
    assert_int_equal(console_ticket_issue(key, 4, "vm.with.dots", "vnc", T0, t, &e1), -1);
    assert_int_equal(console_ticket_issue(key, 4, VM, "ssh", T0, t, &e2), -1);
    assert_int_equal(console_ticket_issue(key, 4, "", "vnc", T0, t, &e3), -1);
    assert_int_equal(e1->status, 400);
}

static void test_memory_forgets_and_fills(void **state)
{
    (void)state;
    console_ticket_seen_destroy(&seen);
    console_ticket_seen_init(&seen);
    char t[CONSOLE_TICKET_MAX];
    for (int i = 0; i < CONSOLE_TICKET_REMEMBERED; i++) {
        issue(VM, "vnc", T0, t);
        assert_null(check(t, VM, "vnc", T0));
    }
    issue(VM, "vnc", T0, t);
    assert_refused(t, VM, "vnc", T0, "ticket_busy");
    /* once the old ones have expired they are forgotten: room again */
    issue(VM, "vnc", T0 + CONSOLE_TICKET_TTL_MS + 1, t);
    assert_null(check(t, VM, "vnc", T0 + CONSOLE_TICKET_TTL_MS + 1));
    assert_int_equal(seen.n, 1);
}

/* Both sides derive the same key from the order token; another token,
 * another key; the key is not the token. */
static void test_key_from_the_order_token(void **state)
{
    (void)state;
    unsigned char a[CONSOLE_TICKET_KEY_LEN], b[CONSOLE_TICKET_KEY_LEN], c[CONSOLE_TICKET_KEY_LEN];
    console_ticket_key("cuord_first", a);
    console_ticket_key("cuord_first", b);
    console_ticket_key("cuord_second", c);
    assert_memory_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, c, sizeof(a));
    char t[CONSOLE_TICKET_MAX];
    _cleanup_error_ cu_error *err = NULL, *err2 = NULL;
    assert_int_equal(console_ticket_issue(a, sizeof(a), VM, "vnc", T0, t, &err), 0);
    assert_int_equal(console_ticket_check(c, sizeof(c), t, VM, "vnc", T0, &seen, &err2), -1);
    assert_string_equal(err2->code, "ticket_invalid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_once),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_issue_refuses_what_cannot_be_signed),
        cmocka_unit_test(test_memory_forgets_and_fills),
        cmocka_unit_test(test_key_from_the_order_token),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
