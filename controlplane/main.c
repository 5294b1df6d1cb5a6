/* main.c: cumulus-controlplane — wires configuration, the database, the
 * tokens and the REST API together, then waits for a signal to stop. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "cleanup.h"
#include "config.h"
#include "daemon.h"
#include "events.h"
#include "fsutil.h"
#include "http_client.h"
#include "log.h"
#include "service_notify.h"
#include "orders.h"
#include "runs.h"
#include "tls.h"

static const cu_config_key keys[] = {
    {"listen", "CUMULUS_CP_LISTEN", "127.0.0.1:8080",
     "HOST:PORT to serve the API on; port 0 picks a free port (logged)"},
    {"data-dir", "CUMULUS_CP_DATA_DIR", "./cumulus-data",
     "directory for cumulus.db, admin-token and join-token"},
    CU_LOG_CONFIG_KEYS("CUMULUS_CP"),
    {"max-body", "CUMULUS_CP_MAX_BODY", "1048576", "largest request body accepted, in bytes"},
    {"host-timeout", "CUMULUS_CP_HOST_TIMEOUT", "15",
     "seconds without a heartbeat after which a host is down"},
    {"reconcile-interval", "CUMULUS_CP_RECONCILE_INTERVAL", "1000",
     "milliseconds between reconciler passes"},
    {"cpu-allocation-ratio", "CUMULUS_CP_CPU_RATIO", "4", "vCPUs placed per host CPU (overcommit)"},
    {"memory-allocation-ratio", "CUMULUS_CP_MEMORY_RATIO", "1", "memory placed per host MiB"},
    {"disk-allocation-ratio", "CUMULUS_CP_DISK_RATIO", "1",
     "disk GiB placed per free host GiB (overlays are thin)"},
    {"placement", "CUMULUS_CP_PLACEMENT", "spread",
     "where new VMs go: spread (the host with the most room left) or pack (the fullest host "
     "that fits)"},
    CU_TLS_CONFIG_KEYS("CUMULUS_CP"),
    {NULL, NULL, NULL, NULL}};

static const cu_config_spec spec = {
    .program = "cumulus-controlplane",
    .summary = "The Cumulus control plane: the REST API and the database of which VMs should "
               "exist.",
    .config_env = "CUMULUS_CP_CONFIG",
    .keys = keys,
};

static int parse_ratio(const cu_config *cfg, const char *name, double *out, cu_error **err)
{
    const char *v = cu_config_get(cfg, name);
    char *end = NULL;
    *out = strtod(v, &end);
    if (*v == '\0' || *end != '\0' || !(*out > 0 && *out <= 64))
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "setting '%s' must be a number above 0 and at most 64, got '%s'",
                            name, v);
    return 0;
}

static int app_settings(cp_app *app, const cu_config *cfg, cu_error **err)
{
    unsigned long timeout, interval;
    if (cu_config_get_uint(cfg, "host-timeout", 86400, &timeout, err) < 0 ||
        cu_config_get_uint(cfg, "reconcile-interval", 600000, &interval, err) < 0 ||
        parse_ratio(cfg, "cpu-allocation-ratio", &app->cpu_ratio, err) < 0 ||
        parse_ratio(cfg, "memory-allocation-ratio", &app->memory_ratio, err) < 0 ||
        parse_ratio(cfg, "disk-allocation-ratio", &app->disk_ratio, err) < 0)
        return -1;
    app->host_timeout_s = (unsigned)(timeout ? timeout : 1);
    app->reconcile_ms = (unsigned)(interval ? interval : 100);
    const char *placement = cu_config_get(cfg, "placement");
    if (strcmp(placement, "spread") != 0 && strcmp(placement, "pack") != 0)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "setting 'placement' must be 'spread' or 'pack', got '%s'", placement);
    app->placement_pack = strcmp(placement, "pack") == 0;
    return 0;
}

static int app_init(cp_app *app, const cu_config *cfg, cu_error **err)
{
    app->data_dir = strdup(cu_config_get(cfg, "data-dir"));
    pthread_mutex_init(&app->ops_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&app->ops_changed, &ca);
    pthread_condattr_destroy(&ca);
    if (app_settings(app, cfg, err) < 0)
        return -1;
    if (cu_mkdir_p(app->data_dir, 0700, err) < 0)
        return cu_error_wrap(err, "preparing the data directory");
    _cleanup_free_ char *db = NULL;
    if (asprintf(&db, "%s/cumulus.db", app->data_dir) < 0)
        abort();
    app->store = store_open(db, err);
    if (app->store == NULL)
        return -1;
    store_on_events(app->store, events_wake, app); /* event streams wake on commit */
    if (auth_bootstrap(app, err) < 0)
        return -1;
    if (orders_start(app, err) < 0)
        return -1;
    return runs_start(app, err);
}

static void app_fini(cp_app *app)
{
    runs_free(app); /* before the reconciler stops: a run's last deletes may go out */
    orders_stop(app);
    store_close(app->store);
    pthread_cond_destroy(&app->ops_changed);
    pthread_mutex_destroy(&app->ops_lock);
    free(app->data_dir);
}

/* TLS settings (tls.h), checked before anything else starts. */
static int tls_settings(const cu_config *cfg, cu_tls *tls, cu_error **err)
{
    char host[256];
    unsigned port;
    const char *listen = cu_config_get(cfg, "listen");
    if (cu_tls_load(cfg, tls, err) < 0 ||
        http_parse_listen(listen, host, sizeof(host), &port, err) < 0 ||
        cu_tls_check_listen(tls, "listen", host, err) < 0)
        return -1;
    http_client_set_ca(tls->ca_file); /* orders to agents, their screenshots and exports */
    return 0;
}

static int run(const cu_config *cfg, cu_error **err)
{
    cp_app app = {0};
    unsigned long max_body;
    __attribute__((cleanup(cu_tls_free))) cu_tls tls = {0};
    if (tls_settings(cfg, &tls, err) < 0)
        return -1;
    if (cu_config_get_uint(cfg, "max-body", 64ul << 20, &max_body, err) < 0 ||
        app_init(&app, cfg, err) < 0) {
        app_fini(&app);
        return -1;
    }
    http_server_config hc = {.listen = cu_config_get(cfg, "listen"),
                             .routes = cp_routes,
                             .nroutes = cp_nroutes,
                             .auth = auth_check,
                             .app = &app,
                             .max_body = max_body,
                             .tls_cert_pem = tls.cert_pem,
                             .tls_key_pem = tls.key_pem};
    http_server *srv = http_server_start(&hc, err);
    if (srv == NULL) {
        app_fini(&app);
        return -1;
    }
    log_info("listening on %s://%s (port %u), data in '%s'", cu_tls_scheme(&tls, 0), hc.listen,
             http_server_port(srv), app.data_dir);
    cu_notify_ready();
    int sig = cu_daemon_wait_stop();
    log_info("stopping on signal %d", sig);
    pthread_mutex_lock(&app.ops_lock); /* long-polls answer now, so requests can finish */
    app.stopping = 1;
    pthread_cond_broadcast(&app.ops_changed);
    pthread_mutex_unlock(&app.ops_lock);
    runs_stop(&app); /* runs in flight end their commands and ask for their VMs' deletion */
    http_server_stop(srv); /* finishes requests in flight */
    app_fini(&app);
    return 0;
}

int main(int argc, char **argv)
{
    return cu_daemon_main(&spec, argc, argv, run);
}
