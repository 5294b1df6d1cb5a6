/* test_http.c: route matching, listen addresses, JSON field checks and
 * configuration loading from common/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "http_server.h"
#include "json_util.h"

static void route_match(void **state)
{
    char *p[HTTP_MAX_PARAMS] = {0};
    assert_true(http_route_match("/v1/vms", "/v1/vms", p));
    assert_false(http_route_match("/v1/vms", "/v1/vms/", p));
    assert_false(http_route_match("/v1/vms", "/v1/vmsx", p));
    assert_true(http_route_match("/v1/vms/{id}/actions", "/v1/vms/web-1/actions", p));
    assert_string_equal(p[0], "web-1");
    free(p[0]);
    p[0] = NULL;
    assert_false(http_route_match("/v1/vms/{id}", "/v1/vms/", p));
    assert_null(p[0]);
    assert_false(http_route_match("/v1/vms/{id}", "/v1/vms/a/b", p));
    assert_null(p[0]);
    assert_false(http_route_match("/v1/vms/{id}/actions", "/v1/vms/a/other", p));
    assert_null(p[0]);
}

static void listen_addresses(void **state)
{
    char host[64];
    unsigned port;
    cu_error *err = NULL;
    assert_int_equal(http_parse_listen("127.0.0.1:8080", host, sizeof(host), &port, &err), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(http_parse_listen("[::1]:0", host, sizeof(host), &port, &err), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    const char *bad[] = {"8080", ":8080", "host:", "host:70000", "host:12ab"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(http_parse_listen(bad[i], host, sizeof(host), &port, &err), -1);
        assert_non_null(strstr(err->message, bad[i]));
        cu_error_freep(&err);
    }
}

static void json_fields(void **state)
{
    static const cu_json_field fields[] = {{"name", CU_JSON_STRING, true},
                                           {"keys", CU_JSON_STRING_ARRAY, false},
                                           {"n", CU_JSON_INTEGER, false},
                                           {NULL}};
    cu_error *err = NULL;
    json_t *ok = json_pack("{s:s, s:[s,s], s:n}", "name", "a", "keys", "x", "y", "n");
    assert_int_equal(cu_json_check_fields(ok, fields, &err), 0);
    json_decref(ok);
    struct {
        const char *doc, *field;
    } bad[] = {{"{\"name\": \"a\", \"z\": 1}", "z"},
               {"{\"name\": 1}", "name"},
               {"{\"keys\": [\"a\"]}", "name"},
               {"{\"name\": \"a\", \"keys\": [1]}", "keys"},
               {"{\"name\": null}", "name"},
               {"{\"name\": \"a\", \"n\": 1.5}", "n"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        json_t *doc = json_loads(bad[i].doc, 0, NULL);
        assert_int_equal(cu_json_check_fields(doc, fields, &err), -1);
        assert_string_equal(err->field, bad[i].field);
        assert_int_equal(err->status, 400);
        cu_error_freep(&err);
        json_decref(doc);
    }
    assert_null(cu_json_parse_object("{\"a\":", 5, &err));
    assert_string_equal(err->code, "invalid_json");
    assert_non_null(strstr(err->message, "line 1"));
    cu_error_freep(&err);
    assert_null(cu_json_parse_object("[]", 2, &err));
    cu_error_freep(&err);
}

static const cu_config_key keys[] = {{"listen", "TEST_CU_LISTEN", "127.0.0.1:1", "where"},
                                     {"data-dir", "TEST_CU_DATA", NULL, "data"},
                                     {"insecure-http", "TEST_CU_INSECURE", "no", "a switch"},
                                     {NULL, NULL, NULL, NULL}};
static const cu_config_spec spec = {"test", "a test", "TEST_CU_CONFIG", keys};

static void config_precedence(void **state)
{
    char path[] = "/tmp/cumulus-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "# a comment\n\nlisten = 0.0.0.0:9\ndata-dir = \"/from/file\"\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);

    setenv("TEST_CU_DATA", "/from/env", 1);
    char *argv[] = {"test", "--config", path, "--listen=10.0.0.1:2", NULL};
    cu_config *cfg = NULL;
    cu_error *err = NULL;
    assert_int_equal(cu_config_load(&spec, 4, argv, &cfg, &err), CU_CONFIG_RUN);
    assert_string_equal(cu_config_get(cfg, "listen"), "10.0.0.1:2"); /* flag beats file */
    assert_string_equal(cu_config_get(cfg, "data-dir"), "/from/env"); /* env beats file */
    cu_config_free(cfg);
    unsetenv("TEST_CU_DATA");
    unlink(path);
}

/* A key whose default is "no" is a switch: a bare flag means yes. */
static void config_switches(void **state)
{
    cu_config *cfg = NULL;
    cu_error *err = NULL;
    int on = -1;
    char *argv[] = {"test", "--insecure-http", "--listen", "10.0.0.1:2", NULL};
    assert_int_equal(cu_config_load(&spec, 4, argv, &cfg, &err), CU_CONFIG_RUN);
    assert_int_equal(cu_config_get_bool(cfg, "insecure-http", &on, &err), 0);
    assert_int_equal(on, 1);
    assert_string_equal(cu_config_get(cfg, "listen"), "10.0.0.1:2");
    cu_config_free(cfg);

    char *argv2[] = {"test", "--insecure-http=off", NULL};
    assert_int_equal(cu_config_load(&spec, 2, argv2, &cfg, &err), CU_CONFIG_RUN);
    assert_int_equal(cu_config_get_bool(cfg, "insecure-http", &on, &err), 0);
    assert_int_equal(on, 0);
    cu_config_free(cfg);

    char *argv3[] = {"test", "--insecure-http=maybe", NULL};
    assert_int_equal(cu_config_load(&spec, 2, argv3, &cfg, &err), CU_CONFIG_RUN);
    assert_int_equal(cu_config_get_bool(cfg, "insecure-http", &on, &err), -1);
    assert_non_null(strstr(err->message, "'insecure-http' must be yes or no"));
    assert_non_null(strstr(err->message, "'maybe'"));
    cu_error_freep(&err);
    cu_config_free(cfg);
}

static void config_errors(void **state)
{
    char path[] = "/tmp/cumulus-conf-XXXXXX";
    int fd = mkstemp(path);
    const char text[] = "listen = x\nno equals sign\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    char *argv[] = {"test", "--config", path, NULL};
    cu_config *cfg = NULL;
    cu_error *err = NULL;
    assert_int_equal(cu_config_load(&spec, 3, argv, &cfg, &err), CU_CONFIG_ERROR);
    char want[128];
    snprintf(want, sizeof(want), "%s:2:", path);
    assert_non_null(strstr(err->message, want));
    cu_error_freep(&err);
    unlink(path);

    char *argv2[] = {"test", "--listen", NULL};
    assert_int_equal(cu_config_load(&spec, 2, argv2, &cfg, &err), CU_CONFIG_ERROR);
    assert_non_null(strstr(err->message, "needs a value"));
    cu_error_freep(&err);
    char *argv3[] = {"test", "--config", "/nonexistent/x.conf", NULL};
    assert_int_equal(cu_config_load(&spec, 3, argv3, &cfg, &err), CU_CONFIG_ERROR);
    assert_non_null(strstr(err->message, "/nonexistent/x.conf"));
    cu_error_freep(&err);
}

/* An error quoting bytes that are not UTF-8 (a path, a query) still makes
 * a JSON document: they show as U+FFFD, valid UTF-8 is kept. */
static void error_doc_invalid_utf8(void **state)
{
    (void)state;
    cu_error *err = NULL;
    cu_error_set(&err, 404, CU_E_NOT_FOUND, "f\xff", "no VM '\xff\xfe' (\xc0\xaf, \xed\xa0\x80, "
                 "\xf4\x90\x80\x80, \xe2\x82) but caf\xc3\xa9 \xf0\x9f\x98\x80");
    json_t *doc = cu_json_error_doc(err);
    assert_non_null(doc);
    json_t *e = json_object_get(doc, "error");
    assert_string_equal(json_string_value(json_object_get(e, "message")),
                        "no VM '\xef\xbf\xbd\xef\xbf\xbd' (\xef\xbf\xbd\xef\xbf\xbd, "
                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd, "
                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd, "
                        "\xef\xbf\xbd\xef\xbf\xbd) but caf\xc3\xa9 \xf0\x9f\x98\x80");
    assert_string_equal(json_string_value(json_object_get(e, "field")), "f\xef\xbf\xbd");
    json_decref(doc);
    cu_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(route_match),   cmocka_unit_test(listen_addresses),
        cmocka_unit_test(json_fields),   cmocka_unit_test(config_precedence),
        cmocka_unit_test(config_errors), cmocka_unit_test(config_switches),
        cmocka_unit_test(error_doc_invalid_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
