/* metrics_auth_cached / metrics_auth_remember: the tokens the webui's
 * /metrics was lately allowed for (metrics_page.h). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "metrics_page.h"

static void a_yes_lasts_the_ttl(void **state)
{
    (void)state;
    metrics_auth_cache c = {0};
    assert_int_equal(metrics_auth_cached(&c, "cuadm_a", 1000), 0);
    metrics_auth_remember(&c, "cuadm_a", 1000);
    assert_int_equal(metrics_auth_cached(&c, "cuadm_a", 1000), 1);
    assert_int_equal(metrics_auth_cached(&c, "cuadm_a", 1000 + METRICS_AUTH_TTL_MS - 1), 1);
    assert_int_equal(metrics_auth_cached(&c, "cuadm_a", 1000 + METRICS_AUTH_TTL_MS), 0);
    assert_int_equal(metrics_auth_cached(&c, "cuadm_b", 1000), 0);
    assert_int_equal(metrics_auth_cached(&c, "cuadm_", 1000), 0);
    assert_int_equal(metrics_auth_cached(&c, "", 1000), 0);
}

static void the_token_itself_is_not_kept(void **state)
{
    (void)state;
    metrics_auth_cache c = {0};
    const char *token = "cuadm_secret-token-value";
    metrics_auth_remember(&c, token, 0);
    assert_null(memmem(&c, sizeof(c), token, strlen(token)));
}

static void the_oldest_goes_when_full(void **state)
{
    (void)state;
    metrics_auth_cache c = {0};
    char t[32];
    for (int i = 0; i <= METRICS_AUTH_SLOTS; i++) {
        snprintf(t, sizeof(t), "cuadm_%d", i);
        metrics_auth_remember(&c, t, 100 + i);
    }
    assert_int_equal(metrics_auth_cached(&c, "cuadm_0", 200), 0);
    for (int i = 1; i <= METRICS_AUTH_SLOTS; i++) {
        snprintf(t, sizeof(t), "cuadm_%d", i);
        assert_int_equal(metrics_auth_cached(&c, t, 200), 1);
    }
    /* Remembered again: renewed in its slot, nothing else pushed out. */
    metrics_auth_remember(&c, "cuadm_1", 300);
    for (int i = 2; i <= METRICS_AUTH_SLOTS; i++) {
        snprintf(t, sizeof(t), "cuadm_%d", i);
        assert_int_equal(metrics_auth_cached(&c, t, 200), 1);
    }
    assert_int_equal(metrics_auth_cached(&c, "cuadm_1", 300 + METRICS_AUTH_TTL_MS - 1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(a_yes_lasts_the_ttl),
                                       cmocka_unit_test(the_token_itself_is_not_kept),
                                       cmocka_unit_test(the_oldest_goes_when_full)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
