/* test_openapi.c: the OpenAPI document served at /v1/openapi.json and the
 * route table agree both ways: every route the server has is documented,
 * and every documented path and method is a route.  (That every documented
 * route answers is checked against the running daemon in
 * tests/integration/openapi.test.mjs.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "api.h"

extern const char cp_openapi_json[];
extern const unsigned long cp_openapi_json_len;

static json_t *load_doc(void)
{
    json_error_t jerr;
    json_t *doc = json_loadb(cp_openapi_json, cp_openapi_json_len, 0, &jerr);
    if (doc == NULL)
        fail_msg("openapi.json is not valid JSON: %s (line %d)", jerr.text, jerr.line);
    return doc;
}

static void lower(const char *in, char *out, size_t n)
{
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

static void every_route_is_documented(void **state)
{
    json_t *doc = load_doc();
    json_t *paths = json_object_get(doc, "paths");
    assert_non_null(paths);
    for (size_t i = 0; i < cp_nroutes; i++) {
        char method[16];
        lower(cp_routes[i].method, method, sizeof(method));
        json_t *ops = json_object_get(paths, cp_routes[i].pattern);
        if (ops == NULL || json_object_get(ops, method) == NULL)
            fail_msg("route %s %s is not in openapi.json", cp_routes[i].method,
                     cp_routes[i].pattern);
        /* Public routes say so; the others inherit the bearer requirement. */
        json_t *security = json_object_get(json_object_get(ops, method), "security");
        if (cp_routes[i].roles == 0 && !(json_is_array(security) && json_array_size(security) == 0))
            fail_msg("public route %s has no 'security: []'", cp_routes[i].pattern);
    }
    json_decref(doc);
}

static void every_documented_operation_is_a_route(void **state)
{
    static const char *const methods[] = {"get", "post", "put", "delete", "patch", "head", "options"};
    json_t *doc = load_doc();
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        for (size_t m = 0; m < sizeof(methods) / sizeof(*methods); m++) {
            if (json_object_get(item, methods[m]) == NULL)
                continue;
            int found = 0;
            for (size_t i = 0; i < cp_nroutes && !found; i++) {
                char method[16];
                lower(cp_routes[i].method, method, sizeof(method));
                found = strcmp(method, methods[m]) == 0 && strcmp(cp_routes[i].pattern, path) == 0;
            }
            if (!found)
                fail_msg("openapi.json documents %s %s but the server has no such route",
                         methods[m], path);
        }
    }
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.0.3");
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_route_is_documented),
        cmocka_unit_test(every_documented_operation_is_a_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
