/* fuzz_query.c: query strings of the API's GET routes (?limit=, ?after=,
 * ?state=, ?host=, ?type=, ?target=, ?status=, ?follow=, ...), read by the
 * handlers through http_query(), that is through libmicrohttpd's own
 * parsing of the request line.  So the request really goes through
 * libmicrohttpd: a daemon without a listening socket is handed one end of
 * a socketpair (no network), the harness writes
 *   GET <first line of the input> HTTP/1.1
 * on the other end and reads the answer.  The access handler dispatches
 * as http_server.c does, to the real handlers on the real store
 * (cp_fixture.h), as an admin.  Left out: GET /v1/operations/{id}/wait
 * (waits up to ?timeout=), GET /v1/runs/{id}/output and the files and
 * screenshots (streams, files, another daemon); ?follow=true of events
 * is started and closed at once, never read. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "api.h"
#include "api_metrics.h"
#include "cp_fixture.h"
#include "json_util.h"

static struct MHD_Daemon *daemon_;
static int marker;

static const http_handler_fn skipped[] = {api_ops_wait,  api_runs_output,    api_images_file,
                                          api_vms_screenshot, api_metrics, api_openapi};

static const http_route *route_of(const char *path, char *params[HTTP_MAX_PARAMS])
{
    for (size_t i = 0; i < cp_nroutes; i++) {
        const http_route *r = &cp_routes[i];
        if (strcmp(r->method, "GET") != 0 || !http_route_match(r->pattern, path, params))
            continue;
        for (size_t k = 0; k < sizeof(skipped) / sizeof(skipped[0]); k++)
            if (r->handler == skipped[k])
                return NULL;
        return r;
    }
    return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    if (*con_cls == NULL) { /* headers only: never answer on the first call */
        *con_cls = &marker;
        return MHD_YES;
    }
    *upload_data_size = 0;
    http_request req = {.method = method, .path = url, .app = cls, .conn = conn};
    http_response resp = {.status = 200, .file_fd = -1};
    snprintf(req.principal.id, sizeof(req.principal.id), "admin");
    req.principal.role = ROLE_ADMIN;
    cu_error *err = NULL;
    const http_route *route = strcmp(method, "GET") == 0 ? route_of(url, req.params) : NULL;
    int r = route ? route->handler(&req, &resp, &err)
                  : cu_error_set(&err, 404, CU_E_NO_ROUTE, NULL, "not fuzzed");
    if (resp.stream && resp.stream_free)
        resp.stream_free(resp.stream_cls);
    json_t *doc = NULL;
    if (r < 0) {
        FUZZ_CHECK(err != NULL && err->status >= 400 && err->message != NULL);
        doc = cu_json_error_doc(err);
    }
    const json_t *body = doc ? doc : resp.body; /* none for a stream */
    char *text = body ? cu_json_dump(body) : strdup("");
    struct MHD_Response *answer =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret = MHD_queue_response(conn, r < 0 ? (unsigned)err->status : 200u, answer);
    MHD_destroy_response(answer);
    json_decref(doc);
    json_decref(resp.body);
    free(resp.location);
    cu_error_free(err);
    for (int i = 0; i < HTTP_MAX_PARAMS; i++)
        free(req.params[i]);
    return ret;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cp_app *app = cp_fixture_app();
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                   MHD_USE_POLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
                               0, NULL, NULL, on_request, app, MHD_OPTION_CONNECTION_TIMEOUT,
                               10u, MHD_OPTION_END);
    if (daemon_ == NULL)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cp_fixture_reset(cp_fixture_app()); /* in case a route wrote (none should) */
    fuzz_input in = {data, size};
    char *target = fuzz_next_line(&in), *request = NULL;
    /* Control bytes would end the request line early and leave libmicrohttpd
     * waiting for the rest; %-escapes reach the handlers decoded. */
    for (char *c = target; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '_';
    int n = asprintf(&request, "GET %s HTTP/1.1\r\nHost: cumulus\r\nConnection: close\r\n\r\n",
                     target);
    if (n < 0)
        abort();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (MHD_add_connection(daemon_, sv[1], (struct sockaddr *)&peer, sizeof(peer)) != MHD_YES)
        abort(); /* MHD closes sv[1] itself, also on failure */
    if (send(sv[0], request, (size_t)n, MSG_NOSIGNAL) != n)
        abort();
    struct timeval tv = {.tv_sec = 5}; /* a hang shows as a slow input, not a stuck run */
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    /* The answer is read and dropped (libmicrohttpd may also just close:
     * its business, not ours). */
    char answer[4096];
    while (recv(sv[0], answer, sizeof(answer), 0) > 0)
        ;
    close(sv[0]);
    free(request);
    free(target);
    return 0;
}
