/* api_upstream_parse: the control plane URL the webui passes /api to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "api_proxy.h"

static void good_urls(void **state)
{
    (void)state;
    api_upstream up;
    char why[256];
    assert_int_equal(api_upstream_parse("http://127.0.0.1:8080", &up, why), 0);
    assert_string_equal(up.host, "127.0.0.1");
    assert_int_equal(up.port, 8080);
    assert_int_equal(api_upstream_parse("http://cp.example", &up, why), 0);
    assert_string_equal(up.host, "cp.example");
    assert_int_equal(up.port, 80);
    assert_int_equal(api_upstream_parse("http://cp.example:9000/", &up, why), 0);
    assert_string_equal(up.host, "cp.example");
    assert_int_equal(up.port, 9000);
    assert_int_equal(up.tls, 0);
    assert_int_equal(api_upstream_parse("https://cp.example", &up, why), 0);
    assert_string_equal(up.host, "cp.example");
    assert_int_equal(up.port, 443);
    assert_int_equal(up.tls, 1);
    assert_int_equal(api_upstream_parse("https://10.0.0.5:8443/", &up, why), 0);
    assert_string_equal(up.host, "10.0.0.5");
    assert_int_equal(up.port, 8443);
    assert_int_equal(up.tls, 1);
}

static void bad_urls_say_why(void **state)
{
    (void)state;
    api_upstream up;
    char why[256];
    static const char *const bad[] = {
        "ftp://cp.example", "cp.example:8080", "http://",       "http://:8080",
        "http://cp:0",      "http://cp:65536", "http://cp:80x", NULL};
    for (const char *const *u = bad; *u; u++) {
        why[0] = '\0';
        assert_int_equal(api_upstream_parse(*u, &up, why), -1);
        assert_non_null(strstr(why, "control-plane"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(good_urls),
                                       cmocka_unit_test(bad_urls_say_why)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
