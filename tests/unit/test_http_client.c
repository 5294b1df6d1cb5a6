/* test_http_client.c: common/http_client against a tiny libmicrohttpd
 * server started in the test: JSON round trips, error statuses, garbage,
 * empty and oversized replies, redirects not followed, timeouts, a closed
 * port, and many threads at once. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"

#define BIG_REPLY (HTTP_CLIENT_MAX_REPLY + 1024 * 1024)

static struct MHD_Daemon *daemon_;
static unsigned port_;

typedef struct upload {
    char *data;
    size_t len;
} upload;

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *text,
                                 const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    enum MHD_Result ret = send_text(conn, status, text, "application/json");
    free(text);
    return ret;
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result echo(struct MHD_Connection *conn, const char *method, const upload *u)
{
    json_t *body = u->len ? json_loadb(u->data, u->len, 0, NULL) : NULL;
    const char *auth = header(conn, "Authorization"), *type = header(conn, "Content-Type");
    return send_json(conn, 200,
                     json_pack("{s:s, s:s?, s:s?, s:o?}", "method", method, "auth", auth,
                               "content_type", type, "body", body));
}

static ssize_t fill_spaces(void *cls, uint64_t pos, char *buf, size_t max)
{
    if (pos >= BIG_REPLY)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = max < BIG_REPLY - pos ? max : (size_t)(BIG_REPLY - pos);
    memset(buf, ' ', n);
    return (ssize_t)n;
}

static enum MHD_Result send_big(struct MHD_Connection *conn, int size_known)
{
    struct MHD_Response *r = MHD_create_response_from_callback(
        size_known ? BIG_REPLY : MHD_SIZE_UNKNOWN, 64 * 1024, fill_spaces, NULL, NULL);
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_redirect(struct MHD_Connection *conn)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, "/echo");
    enum MHD_Result ret = MHD_queue_response(conn, 302, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result route(struct MHD_Connection *conn, const char *url, const char *method,
                             const upload *u)
{
    if (strcmp(url, "/echo") == 0)
        return echo(conn, method, u);
    if (strcmp(url, "/error") == 0)
        return send_json(
            conn, 409,
            json_pack("{s:{s:s, s:s}}", "error", "code", "conflict", "message", "it is busy"));
    if (strcmp(url, "/garbage") == 0)
        return send_text(conn, 200, "<html>\x01 not json \xc3</html>", "text/html");
    if (strcmp(url, "/empty") == 0)
        return send_text(conn, 204, "", "application/json");
    if (strcmp(url, "/slow") == 0) {
        sleep(1);
        return send_json(conn, 200, json_pack("{s:b}", "ok", 1));
    }
    if (strcmp(url, "/big") == 0 || strcmp(url, "/big-known") == 0)
        return send_big(conn, strcmp(url, "/big-known") == 0);
    if (strcmp(url, "/redirect") == 0)
        return send_redirect(conn);
    return send_text(conn, 404, "{\"error\":{\"code\":\"not_found\"}}", "application/json");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    upload *u = *con_cls;
    if (u == NULL) { /* first call: headers only, never answer yet */
        *con_cls = calloc(1, sizeof(upload));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size > 0) {
        u->data = realloc(u->data, u->len + *upload_data_size);
        memcpy(u->data + u->len, upload_data, *upload_data_size);
        u->len += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return route(conn, url, method, u);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    upload *u = *con_cls;
    if (u != NULL)
        free(u->data);
    free(u);
    *con_cls = NULL;
}

static int server_start(void **state)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    daemon_ = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
        NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (daemon_ == NULL)
        return -1;
    port_ = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int server_stop(void **state)
{
    MHD_stop_daemon(daemon_);
    return 0;
}

static char *url_for(const char *path)
{
    char *u = NULL;
    assert_true(asprintf(&u, "http://127.0.0.1:%u%s", port_, path) > 0);
    return u;
}

static void json_round_trip(void **state)
{
    char *url = url_for("/echo");
    json_t *body = json_pack("{s:i, s:s}", "x", 1, "name", "web-1"), *reply = NULL;
    long status = 0;
    cu_error *err = NULL;
    assert_int_equal(http_client_json("POST", url, "tok-1", body, 5000, &status, &reply, &err), 0);
    assert_null(err);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(reply, "method")), "POST");
    assert_string_equal(json_string_value(json_object_get(reply, "auth")), "Bearer tok-1");
    assert_string_equal(json_string_value(json_object_get(reply, "content_type")),
                        "application/json");
    assert_true(json_equal(json_object_get(reply, "body"), body));
    json_decref(reply);
    json_decref(body);
    free(url);
}

static void methods_without_body(void **state)
{
    char *url = url_for("/echo");
    const char *methods[] = {"GET", "DELETE", "PUT", "POST"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(*methods); i++) {
        json_t *reply = NULL;
        long status = 0;
        cu_error *err = NULL;
        assert_int_equal(http_client_json(methods[i], url, NULL, NULL, 5000, &status, &reply, &err),
                         0);
        assert_int_equal(status, 200);
        assert_string_equal(json_string_value(json_object_get(reply, "method")), methods[i]);
        assert_true(json_is_null(json_object_get(reply, "auth")));
        assert_true(json_is_null(json_object_get(reply, "body")));
        json_decref(reply);
    }
    free(url);
}

static void error_status_is_not_a_failure(void **state)
{
    char *url = url_for("/error");
    json_t *reply = NULL;
    long status = 0;
    cu_error *err = NULL;
    assert_int_equal(http_client_json("PUT", url, "t", NULL, 5000, &status, &reply, &err), 0);
    assert_int_equal(status, 409);
    json_t *e = json_object_get(reply, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "conflict");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "it is busy");
    json_decref(reply);
    free(url);
}

static void garbage_reply(void **state)
{
    char *url = url_for("/garbage");
    json_t *reply = NULL;
    long status = 0;
    cu_error *err = NULL;
    assert_int_equal(http_client_json("GET", url, NULL, NULL, 5000, &status, &reply, &err), -1);
    assert_null(reply);
    assert_int_equal(status, 200);
    assert_string_equal(err->code, HTTP_CLIENT_E_BAD_REPLY);
    assert_non_null(strstr(err->message, url));
    assert_non_null(strstr(err->message, "'<html>? not json ?</html>'"));
    cu_error_freep(&err);
    /* A caller that does not want the body does not care what it is. */
    assert_int_equal(http_client_json("GET", url, NULL, NULL, 5000, &status, NULL, &err), 0);
    assert_int_equal(status, 200);
    free(url);
}

static void empty_reply_and_redirect(void **state)
{
    char *url = url_for("/empty");
    json_t *reply = (json_t *)1;
    long status = 0;
    cu_error *err = NULL;
    assert_int_equal(http_client_json("DELETE", url, NULL, NULL, 5000, &status, &reply, &err), 0);
    assert_int_equal(status, 204);
    assert_null(reply);
    free(url);
    url = url_for("/redirect");
    assert_int_equal(http_client_json("GET", url, NULL, NULL, 5000, &status, &reply, &err), 0);
    assert_int_equal(status, 302); /* not followed */
    assert_null(reply);
    free(url);
}

static void oversized_reply(void **state)
{
    const char *paths[] = {"/big", "/big-known"};
    for (size_t i = 0; i < 2; i++) {
        char *url = url_for(paths[i]);
        json_t *reply = NULL;
        cu_error *err = NULL;
        assert_int_equal(http_client_json("GET", url, NULL, NULL, 10000, NULL, &reply, &err), -1);
        assert_null(reply);
        assert_string_equal(err->code, HTTP_CLIENT_E_BAD_REPLY);
        assert_non_null(strstr(err->message, "larger than"));
        cu_error_freep(&err);
        free(url);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void timeout(void **state)
{
    char *url = url_for("/slow");
    json_t *reply = NULL;
    long status = -5;
    cu_error *err = NULL;
    double t0 = now_s();
    assert_int_equal(http_client_json("GET", url, NULL, NULL, 200, &status, &reply, &err), -1);
    assert_true(now_s() - t0 < 0.9);
    assert_int_equal(status, 0);
    assert_null(reply);
    assert_string_equal(err->code, HTTP_CLIENT_E_TIMEOUT);
    assert_int_equal(err->status, 504);
    assert_non_null(strstr(err->message, url));
    cu_error_freep(&err);
    free(url);
}

static unsigned closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd); /* bound, never listened: nothing answers there */
    return ntohs(sin.sin_port);
}

static void connection_refused(void **state)
{
    char *url = NULL;
    assert_true(asprintf(&url, "http://127.0.0.1:%u/v1/hosts/join", closed_port()) > 0);
    json_t *reply = NULL;
    cu_error *err = NULL;
    assert_int_equal(http_client_json("POST", url, "t", NULL, 5000, NULL, &reply, &err), -1);
    assert_null(reply);
    assert_string_equal(err->code, HTTP_CLIENT_E_UNREACHABLE);
    assert_int_equal(err->status, 502);
    assert_non_null(strstr(err->message, url));
    assert_non_null(strstr(err->message, "POST"));
    cu_error_freep(&err);
    free(url);
    assert_int_equal(
        http_client_json("GET", "ftp://127.0.0.1/x", NULL, NULL, 1000, NULL, NULL, &err), -1);
    assert_string_equal(err->code, HTTP_CLIENT_E_UNREACHABLE);
    cu_error_freep(&err);
}

static void *hammer(void *arg)
{
    char *url = url_for("/echo");
    for (int i = 0; i < 20; i++) {
        json_t *body = json_pack("{s:i}", "i", i), *reply = NULL;
        long status = 0;
        cu_error *err = NULL;
        int r = http_client_json("POST", url, "t", body, 5000, &status, &reply, &err);
        if (r != 0 || status != 200 || !json_equal(json_object_get(reply, "body"), body))
            *(int *)arg = 1;
        cu_error_free(err);
        json_decref(reply);
        json_decref(body);
    }
    free(url);
    return NULL;
}

static void many_threads(void **state)
{
    pthread_t t[8];
    int failed[8] = {0};
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &failed[i]), 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(failed[i], 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_round_trip),
        cmocka_unit_test(methods_without_body),
        cmocka_unit_test(error_status_is_not_a_failure),
        cmocka_unit_test(garbage_reply),
        cmocka_unit_test(empty_reply_and_redirect),
        cmocka_unit_test(oversized_reply),
        cmocka_unit_test(timeout),
        cmocka_unit_test(connection_refused),
        cmocka_unit_test(many_threads),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
