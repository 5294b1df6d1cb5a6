/* cumulus-webui: the browser dashboard's server.  Serves the dashboard's
 * files, passes /api to the control plane (api_proxy.h), relays the
 * consoles to the VMs' hosts (console_relay.h) and serves its figures at
 * /metrics (metrics_page.h), all on one origin,
 * with libwebsockets on a service thread of its own; waits for a signal to
 * stop. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libwebsockets.h>

#include "api_proxy.h"
#include "console_relay.h"
#include "cleanup.h"
#include "config.h"
#include "daemon.h"
#include "error.h"
#include "files_dir.h"
#include "files_protocol.h"
#include "http_server.h"
#include "log.h"
#include "metrics_page.h"
#include "service_notify.h"
#include "tls.h"
#include "webui_context.h"
#include "webui_metrics.h"

static const cu_config_key keys[] = {
    {"listen", "CUMULUS_WEBUI_LISTEN", "127.0.0.1:8090",
     "HOST:PORT the dashboard is served on; port 0 picks a free port (logged)"},
    {"control-plane", "CUMULUS_WEBUI_CONTROL_PLANE", "http://127.0.0.1:8080",
     "URL of the control plane /api is passed to"},
    {"api-timeout", "CUMULUS_WEBUI_API_TIMEOUT", "60",
     "seconds the control plane may take to begin its answer to a request passed on through "
     "/api, 1 to 3600 (a long-poll's own timeout is added); then 504 upstream_timeout"},
    {"static-dir", "CUMULUS_WEBUI_STATIC_DIR", NULL,
     "directory of the dashboard's files (default: share/cumulus/webui beside bin/, "
     "else " CUMULUS_WEBUI_INSTALLED_FILES_DIR ")"},
    CU_LOG_CONFIG_KEYS("CUMULUS_WEBUI"),
    CU_TLS_CONFIG_KEYS("CUMULUS_WEBUI"),
    {NULL, NULL, NULL, NULL}};

static const cu_config_spec spec = {
    .program = "cumulus-webui",
    .summary = "The Cumulus dashboard: its files and the control plane's API on one origin.",
    .config_env = "CUMULUS_WEBUI_CONFIG",
    .keys = keys,
};

static atomic_int stopping;

static void *serve(void *arg)
{
    struct lws_context *ctx = arg;
    while (!atomic_load(&stopping))
        if (lws_service(ctx, 0) < 0)
            break;
    return NULL;
}

static void lws_log(int level, const char *line)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", line);
    msg[strcspn(msg, "\n")] = '\0';
    if (level & LLL_ERR)
        log_error("libwebsockets: %s", msg);
    else
        log_warn("libwebsockets: %s", msg);
}

/* TLS (tls.h): the dashboard's listener with tls-cert and tls-key, and
 * the control plane and agents' consoles verified with tls-ca.  lws takes
 * file names; tls.h has read and checked the files already. */
static void tls_setup(struct lws_context_creation_info *info, const cu_tls *tls)
{
    /* Always: the upstreams may be https:// and wss:// even when the
     * dashboard itself is served in clear on loopback. */
    info->options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (cu_tls_on(tls)) {
        info->ssl_cert_filepath = tls->cert_file;
        info->ssl_private_key_filepath = tls->key_file;
    }
    info->client_ssl_ca_filepath = tls->ca_file;
}

static int run(const cu_config *cfg, cu_error **err)
{
    const char *listen = cu_config_get(cfg, "listen"), *dir = cu_config_get(cfg, "static-dir");
    _cleanup_free_ char *found = dir ? NULL : webui_files_dir_default();
    dir = dir ? dir : found;
    char host[256], why[256];
    unsigned port;
    _cleanup_free_ webui_context *w = calloc(1, sizeof(*w));
    struct stat st;
    if (w == NULL)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "out of memory");
    __attribute__((cleanup(cu_tls_free))) cu_tls tls = {0};
    if (cu_tls_load(cfg, &tls, err) < 0 ||
        http_parse_listen(listen, host, sizeof(host), &port, err) < 0 ||
        cu_tls_check_listen(&tls, "listen", host, err) < 0)
        return -1;
    if (api_upstream_parse(cu_config_get(cfg, "control-plane"), &w->api, why) < 0)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL, "%s", why);
    unsigned long api_timeout = 0;
    _cleanup_error_ cu_error *why_not = NULL;
    if (cu_config_get_uint(cfg, "api-timeout", 3600, &api_timeout, &why_not) < 0 ||
        api_timeout == 0)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "setting 'api-timeout' must be whole seconds from 1 to 3600, got '%s'",
                            cu_config_get(cfg, "api-timeout"));
    w->api_timeout_s = (unsigned)api_timeout;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "static-dir '%s' is not a directory of the dashboard's files", dir);
    static const struct lws_http_mount metrics_mount = {
        .mountpoint = "/metrics",
        .origin = "cumulus-metrics",
        .origin_protocol = LWSMPRO_CALLBACK,
        .mountpoint_len = 8,
    };
    static const struct lws_http_mount api_mount = {
        .mount_next = &metrics_mount,
        .mountpoint = "/api",
        .origin = "cumulus-api",
        .origin_protocol = LWSMPRO_CALLBACK,
        .mountpoint_len = 4,
    };
    struct lws_http_mount files = {
        .mount_next = &api_mount,
        .mountpoint = "/",
        .origin = dir,
        .def = "index.html",
        .origin_protocol = LWSMPRO_FILE,
        .mountpoint_len = 1,
    };
    const struct lws_protocols protocols[] = {files_protocol, /* first: lws' default */
                                              api_proxy_protocol,
                                              api_upstream_protocol,
                                              console_relay_protocol,
                                              console_upstream_protocol,
                                              metrics_page_protocol,
                                              metrics_auth_protocol,
                                              {NULL, NULL, 0, 0, 0, NULL, 0}};
    webui_metrics_init();
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    struct lws_context_creation_info info = {0};
    info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    info.user = w;
    info.pt_serv_buf_size = CONSOLE_RELAY_CHUNK; /* else lws reads 4 KiB at a time */
    info.gid = (gid_t)-1;
    info.uid = (uid_t)-1;
    info.port = (int)port;
    info.iface = host;
    info.protocols = protocols;
    info.mounts = &files;
    tls_setup(&info, &tls);
    struct lws_context *ctx = lws_create_context(&info);
    if (ctx == NULL)
        return cu_error_set(err, 500, CU_E_CONFIG, NULL, "cannot listen on '%s'", listen);
    struct lws_vhost *vh = lws_get_vhost_by_name(ctx, "default");
    unsigned real_port = vh ? (unsigned)lws_get_vhost_listen_port(vh) : port;
    pthread_t thread;
    if (pthread_create(&thread, NULL, serve, ctx) != 0) {
        lws_context_destroy(ctx);
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "cannot start the service thread");
    }
    log_info("listening on %s://%s:%u (port %u): files from '%s', /api to %s://%s:%d, consoles "
             "at /console, figures at /metrics",
             cu_tls_scheme(&tls, 0), host, real_port, real_port, dir, w->api.tls ? "https" : "http",
             w->api.host, w->api.port);
    cu_notify_ready();
    int sig = cu_daemon_wait_stop();
    log_info("stopping on signal %d", sig);
    atomic_store(&stopping, 1);
    lws_cancel_service(ctx);
    pthread_join(thread, NULL);
    lws_context_destroy(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    return cu_daemon_main(&spec, argc, argv, run);
}
