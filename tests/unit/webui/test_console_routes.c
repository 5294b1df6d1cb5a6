/* console_routes: the webui remembers where a console answer's ticket
 * goes, adds proxy_path to the answer, and gives each route out once, for
 * its own path, before it expires. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console_routes.h"

#define NOW 1700000000000LL

static char *answer(const char *url, const char *ticket)
{
    char *s = NULL;
    if (asprintf(&s,
                 "{\"vm_id\":\"vm-1\",\"type\":\"vnc\",\"url\":\"%s?ticket=%s\",\"ticket\":\"%s\"}",
                 url, ticket, ticket) < 0)
        abort();
    return s;
}

static char *adopt(console_routes *t, const char *url, const char *ticket, long long now)
{
    char *a = answer(url, ticket);
    size_t n = 0;
    char *out = console_routes_adopt(t, a, strlen(a), now, &n);
    if (out)
        assert_int_equal(n, strlen(out));
    free(a);
    return out;
}

static void adds_proxy_path_and_gives_the_route_once(void **state)
{
    (void)state;
    console_routes *t = calloc(1, sizeof(*t));
    char *out = adopt(t, "ws://10.0.0.5:8181/v1/vms/vm-1/vnc", "v1.vm-1.vnc.1.aa.bb", NOW);
    assert_non_null(out);
    json_t *doc = json_loads(out, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "proxy_path")),
                        "/console/v1/vms/vm-1/vnc?ticket=v1.vm-1.vnc.1.aa.bb");
    assert_string_equal(json_string_value(json_object_get(doc, "vm_id")), "vm-1");
    json_decref(doc);
    free(out);

    console_route r;
    assert_int_equal(
        console_routes_take(t, "/console/v1/vms/vm-1/vnc", "v1.vm-1.vnc.1.aa.bb", NOW + 1000, &r),
        0);
    assert_string_equal(r.host, "10.0.0.5");
    assert_int_equal(r.port, 8181);
    assert_string_equal(r.path, "/v1/vms/vm-1/vnc");
    assert_int_equal(r.tls, 0);
    assert_int_equal(
        console_routes_take(t, "/console/v1/vms/vm-1/vnc", "v1.vm-1.vnc.1.aa.bb", NOW + 1000, &r),
        -1); /* once */
    free(t);
}

static void refuses_other_paths_unknown_and_expired_tickets(void **state)
{
    (void)state;
    console_routes *t = calloc(1, sizeof(*t));
    console_route r;
    free(adopt(t, "ws://h:1/v1/vms/vm-1/vnc", "T1", NOW));
    free(adopt(t, "ws://h:1/v1/vms/vm-1/vnc", "T2", NOW));
    assert_int_equal(console_routes_take(t, "/console/v1/vms/vm-1/serial", "T1", NOW, &r), -1);
    assert_int_equal(console_routes_take(t, "/console/v1/vms/vm-1/vnc", "T1", NOW, &r), -1)
        /* tried once on the wrong path: gone */;
    assert_int_equal(console_routes_take(t, "/v1/vms/vm-1/vnc", "T2", NOW, &r), -1);
    assert_int_equal(console_routes_take(t, "/console/v1/vms/vm-1/vnc", "T9", NOW, &r), -1);
    assert_int_equal(console_routes_take(t, "/console/v1/vms/vm-1/vnc", NULL, NOW, &r), -1);
    long long late = NOW + CONSOLE_TICKET_TTL_MS + CONSOLE_TICKET_SKEW_MS;
    assert_int_equal(console_routes_take(t, "/console/v1/vms/vm-1/vnc", "T2", late, &r), -1);
    free(t);
}

static void wss_routes_use_tls(void **state)
{
    (void)state;
    console_routes *t = calloc(1, sizeof(*t));
    char *out = adopt(t, "wss://h1.example:8182/v1/vms/vm-1/serial", "T3", NOW);
    assert_non_null(out);
    free(out);
    console_route r;
    assert_int_equal(console_routes_take(t, "/console/v1/vms/vm-1/serial", "T3", NOW, &r), 0);
    assert_string_equal(r.host, "h1.example");
    assert_int_equal(r.port, 8182);
    assert_int_equal(r.tls, 1);
    free(t);
}

static void bad_answers_pass_unchanged(void **state)
{
    (void)state;
    console_routes *t = calloc(1, sizeof(*t));
    size_t n = 0;
    assert_null(adopt(t, "http://h:1/v1/vms/vm-1/vnc", "T", NOW));
    assert_null(adopt(t, "ws://h/v1/vms/vm-1/vnc", "T", NOW));
    assert_null(adopt(t, "ws://h:99999/v1/vms/vm-1/vnc", "T", NOW));
    assert_null(adopt(t, "ws://:80/v1/vms/vm-1/vnc", "T", NOW));
    assert_null(console_routes_adopt(t, "not json", 8, NOW, &n));
    assert_null(console_routes_adopt(t, "{\"url\":\"ws://h:1/x\"}", 20, NOW, &n));
    assert_int_equal(t->n, 0);
    free(t);
}

static void a_full_table_forgets_the_oldest(void **state)
{
    (void)state;
    console_routes *t = calloc(1, sizeof(*t));
    char ticket[32];
    for (int i = 0; i <= CONSOLE_ROUTES_MAX; i++) {
        snprintf(ticket, sizeof(ticket), "T%d", i);
        free(adopt(t, "ws://h:1/v1/vms/vm-1/vnc", ticket, NOW + i));
    }
    assert_int_equal(t->n, CONSOLE_ROUTES_MAX);
    console_route r;
    assert_int_equal(console_routes_take(t, "/console/v1/vms/vm-1/vnc", "T0", NOW, &r), -1);
    assert_int_equal(console_routes_take(t, "/console/v1/vms/vm-1/vnc", "T1", NOW, &r), 0);
    snprintf(ticket, sizeof(ticket), "T%d", CONSOLE_ROUTES_MAX);
    assert_int_equal(console_routes_take(t, "/console/v1/vms/vm-1/vnc", ticket, NOW, &r), 0);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adds_proxy_path_and_gives_the_route_once),
        cmocka_unit_test(refuses_other_paths_unknown_and_expired_tickets),
        cmocka_unit_test(wss_routes_use_tls),
        cmocka_unit_test(bad_answers_pass_unchanged),
        cmocka_unit_test(a_full_table_forgets_the_oldest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
