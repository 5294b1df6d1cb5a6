/* fuzz_console_routes.c: the webui's console routes
 * (webui/console_routes.c): console_routes_adopt() reads the control
 * plane's answer to a console request (its url and ticket) and
 * console_routes_take() the path and ?ticket= of a browser's websocket.
 * Input, line by line: the clock (unix ms), the browser's path, its
 * ticket, then the answer (the rest).  A route adopted must be taken once,
 * by the proxy_path handed to the browser, and never twice. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <jansson.h>

#include "console_routes.h"
#include "log.h"

static console_routes routes;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cu_log_set_level(CU_LOG_ERROR); /* adopt warns of every answer it passes on */
    return 0;
}

static void take_proxy_path(const char *out, long long now)
{
    json_t *doc = json_loads(out, 0, NULL);
    const char *proxy = json_string_value(json_object_get(doc, "proxy_path"));
    FUZZ_CHECK(proxy != NULL);
    char *path = strdup(proxy), *q = strstr(path, "?ticket=");
    FUZZ_CHECK(q != NULL);
    *q = '\0';
    console_route r;
    FUZZ_CHECK(console_routes_take(&routes, path, q + 8, now, &r) == 0);
    FUZZ_CHECK(console_routes_take(&routes, path, q + 8, now, &r) < 0);
    FUZZ_CHECK(r.port >= 1 && r.port <= 65535 && strnlen(r.host, sizeof(r.host)) < sizeof(r.host));
    free(path);
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    char *clock = fuzz_next_line(&in), *path = fuzz_next_line(&in), *ticket = fuzz_next_line(&in);
    long long now = strtoll(clock, NULL, 10) % (1LL << 50);
    memset(&routes, 0, sizeof(routes));
    size_t len = 0;
    char *out = console_routes_adopt(&routes, (const char *)in.p, in.left, now, &len);
    if (out) {
        FUZZ_CHECK(len == strlen(out));
        console_route r;
        console_routes_take(&routes, path, ticket, now, &r);
        /* Taken above if the browser's pair matched: adopt it again, alone
         * (the control plane never hands out one ticket twice). */
        free(out);
        memset(&routes, 0, sizeof(routes));
        out = console_routes_adopt(&routes, (const char *)in.p, in.left, now, &len);
        FUZZ_CHECK(out != NULL);
        take_proxy_path(out, now);
        free(out);
    } else {
        console_route r;
        FUZZ_CHECK(console_routes_take(&routes, path, ticket, now, &r) < 0);
    }
    free(clock);
    free(path);
    free(ticket);
    return 0;
}
