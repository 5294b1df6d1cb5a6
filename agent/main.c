/* main.c: cumulus-agent — wires host facts, the image cache, the VMs of
 * this host, the order API and the reporter together, then waits for a
 * signal.  Stopping the agent never stops a VM: QEMU lives on and the next
 * agent re-adopts it. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "agent_api.h"
#include "cleanup.h"
#include "config.h"
#include "console_proxy.h"
#include "daemon.h"
#include "credentials.h"
#include "fsutil.h"
#include "http_client.h"
#include "image_cache.h"
#include "log.h"
#include "service_notify.h"
#include "tls.h"
#include "reporter.h"
#include "vm_manager.h"

static const cu_config_key keys[] = {
    {"control-plane", "CUMULUS_AGENT_CONTROL_PLANE", "http://127.0.0.1:8080",
     "URL of the control plane"},
    {"join-token-file", "CUMULUS_AGENT_JOIN_TOKEN_FILE", NULL,
     "file holding the control plane's join token (its DATA_DIR/join-token)"},
    {"listen", "CUMULUS_AGENT_LISTEN", "127.0.0.1:8081",
     "HOST:PORT for the order API; port 0 picks a free port (logged)"},
    {"data-dir", "CUMULUS_AGENT_DATA_DIR", "./cumulus-agent-data",
     "directory for VMs, the image cache and credentials"},
    {"name", "CUMULUS_AGENT_NAME", NULL, "this host's name (default: the hostname)"},
    {"address", "CUMULUS_AGENT_ADDRESS", NULL,
     "address users reach VMs' forwarded ports on (default: the listen host)"},
    {"advertise-url", "CUMULUS_AGENT_ADVERTISE_URL", NULL,
     "URL the control plane sends orders to (default: http://LISTEN)"},
    {"console-listen", "CUMULUS_AGENT_CONSOLE_LISTEN", NULL,
     "HOST:PORT for VM consoles (websockets; default: the listen host, a free port)"},
    {"console-origins", "CUMULUS_AGENT_CONSOLE_ORIGINS", NULL,
     "comma-separated origins browsers may open consoles from, e.g. http://ui.example:8443 "
     "(default: none; clients that send no Origin are not affected)"},
    {"advertise-console-url", "CUMULUS_AGENT_ADVERTISE_CONSOLE_URL", NULL,
     "ws:// or wss:// URL consoles are reached at (default: ws://CONSOLE-LISTEN)"},
    {"ssh-bind", "CUMULUS_AGENT_SSH_BIND", NULL,
     "host address VMs' SSH ports are forwarded on (default: the address)"},
    {"vm-ports", "CUMULUS_AGENT_VM_PORTS", "22000-22999", "host ports for VMs' SSH forwards"},
    {"vm-uid-range", "CUMULUS_AGENT_VM_UID_RANGE", "1879048192-1879113727",
     "when the agent runs as root, each VM's QEMU runs as a uid and gid of its own from this "
     "range (off: as root)"},
    {"heartbeat-interval", "CUMULUS_AGENT_HEARTBEAT", "5", "seconds between heartbeats"},
    {"stop-timeout", "CUMULUS_AGENT_STOP_TIMEOUT", "120",
     "seconds a guest gets to power off before the plug is pulled"},
    {"boot-timeout", "CUMULUS_AGENT_BOOT_TIMEOUT", "900",
     "seconds a guest may take to finish cloud-init before its start is reported as timed out "
     "(it keeps booting)"},
    {"vcpus", "CUMULUS_AGENT_VCPUS", NULL,
     "vCPUs this host offers to VMs (default: every CPU; less keeps some for the host)"},
    {"memory", "CUMULUS_AGENT_MEMORY_MIB", NULL,
     "MiB of memory this host offers to VMs (default: all of it)"},
    {"image-file-dirs", "CUMULUS_AGENT_IMAGE_FILE_DIRS", NULL,
     "directories, ':' between them, that images' file:/// URLs may name files in, symlinks "
     "resolved (default: none: file:// URLs are refused)"},
    {"emulation", "CUMULUS_AGENT_EMULATION", "auto",
     "run guests of another architecture under TCG when QEMU and firmware for it are found "
     "(auto) or never (off)"},
    CU_LOG_CONFIG_KEYS("CUMULUS_AGENT"),
    CU_TLS_CONFIG_KEYS("CUMULUS_AGENT"),
    {NULL, NULL, NULL, NULL}};

static const cu_config_spec spec = {
    .program = "cumulus-agent",
    .summary = "The Cumulus agent: runs this host's VMs with QEMU on the control plane's orders.",
    .config_env = "CUMULUS_AGENT_CONFIG",
    .keys = keys,
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

static char *default_name(void)
{
    char host[256] = "host";
    gethostname(host, sizeof(host) - 1);
    for (char *p = host; *p; p++)
        *p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
    host[63] = '\0';
    return xstrdup(host);
}

static char *read_token(const char *path, cu_error **err)
{
    _cleanup_fclose_ FILE *f = path ? fopen(path, "re") : NULL;
    char buf[256] = "";
    if (f == NULL || fgets(buf, sizeof(buf), f) == NULL) {
        cu_error_set(err, 400, CU_E_CONFIG, NULL,
                     "cannot read the join token from '%s' (give --join-token-file: the control "
                     "plane's DATA_DIR/join-token)",
                     path ? path : "(none)");
        return NULL;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    return xstrdup(buf);
}

static int parse_ports(const char *s, agent *a, cu_error **err)
{
    if (sscanf(s, "%d-%d", &a->port_min, &a->port_max) != 2 || a->port_min < 1 ||
        a->port_max > 65535 || a->port_min > a->port_max)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "vm-ports must look like 22000-22999, got '%s'", s);
    return 0;
}

/* Per-VM users need root to switch to; otherwise QEMU runs as the agent,
 * which is then the unprivileged user. */
static int parse_vm_uids(const char *s, agent *a, cu_error **err)
{
    unsigned long lo = 0, hi = 0;
    int end = 0;
    if (strcmp(s, "off") == 0)
        return 0;
    if (sscanf(s, "%lu-%lu%n", &lo, &hi, &end) != 2 || s[end] != '\0' || lo < 1000 || hi < lo ||
        hi >= 4294967294ul)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "vm-uid-range must be off or look like 1879048192-1879113727 (uids "
                            "from 1000, not in use by anyone else), got '%s'",
                            s);
    if (geteuid() != 0) {
        log_info("VMs run as this agent's user (uid %u): per-VM users need the agent to run as "
                 "root",
                 (unsigned)geteuid());
        return 0;
    }
    a->vm_uid_min = (unsigned)lo;
    a->vm_uid_max = (unsigned)hi;
    log_info("each VM's QEMU runs as a uid of its own in %s", s);
    return 0;
}

/* QEMU opens its files as root and then drops to its uid, which must not
 * reach any file by name: not another VM's, not the image cache. */
static int confine_data_dir(const agent *a, cu_error **err)
{
    struct stat st;
    if (a->vm_uid_min == 0)
        return 0;
    if (stat(a->data_dir, &st) < 0)
        return cu_error_errno(err, errno, "cannot stat the data directory '%s'", a->data_dir);
    if ((st.st_mode & 077) == 0)
        return 0;
    if (chmod(a->data_dir, 0700) < 0)
        return cu_error_errno(err, errno, "cannot make the data directory '%s' private (0700)",
                              a->data_dir);
    log_warn("data directory '%s' was mode %04o: made it 0700, so that VMs' users cannot read "
             "other VMs' files",
             a->data_dir, (unsigned)(st.st_mode & 07777));
    return 0;
}

static int settings(agent *a, const cu_config *cfg, cu_error **err)
{
    unsigned long hb, stop, boot;
    char host[256];
    unsigned port;
    const char *listen = cu_config_get(cfg, "listen");
    if (http_parse_listen(listen, host, sizeof(host), &port, err) < 0 ||
        cu_config_get_uint(cfg, "heartbeat-interval", 3600, &hb, err) < 0 ||
        cu_config_get_uint(cfg, "stop-timeout", 3600, &stop, err) < 0 ||
        cu_config_get_uint(cfg, "boot-timeout", 86400, &boot, err) < 0 ||
        parse_ports(cu_config_get(cfg, "vm-ports"), a, err) < 0 ||
        parse_vm_uids(cu_config_get(cfg, "vm-uid-range"), a, err) < 0)
        return -1;
    a->heartbeat_s = (unsigned)(hb ? hb : 1);
    a->stop_timeout_s = (unsigned)stop;
    a->boot_timeout_s = (unsigned)(boot ? boot : 1);
    a->data_dir = xstrdup(cu_config_get(cfg, "data-dir"));
    a->cp_url = xstrdup(cu_config_get(cfg, "control-plane"));
    const char *name = cu_config_get(cfg, "name");
    a->name = name ? xstrdup(name) : default_name();
    const char *addr = cu_config_get(cfg, "address");
    a->address = xstrdup(addr ? addr : (strcmp(host, "0.0.0.0") == 0 ? a->name : host));
    const char *bind = cu_config_get(cfg, "ssh-bind");
    a->ssh_bind = xstrdup(bind ? bind : (strcmp(host, "0.0.0.0") == 0 ? "0.0.0.0" : host));
    return 0;
}

/* What this host offers: the probed facts, less what the operator keeps
 * back.  A cap above what the host has is refused: it would overbook. */
static int offer_cap(const cu_config *cfg, const char *name, long long min, long long *value,
                     cu_error **err)
{
    const char *v = cu_config_get(cfg, name);
    char *end = NULL;
    long long n = v ? strtoll(v, &end, 10) : 0;
    if (v == NULL)
        return 0;
    if (*v == '\0' || *end != '\0' || n < min || n > *value)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "setting '%s' must be a whole number from %lld to what the host has "
                            "(%lld), got '%s'",
                            name, min, *value, v);
    *value = n;
    return 0;
}

static int apply_offer(agent *a, const cu_config *cfg, cu_error **err)
{
    long long vcpus = a->facts.vcpus;
    if (offer_cap(cfg, "vcpus", 1, &vcpus, err) < 0 ||
        offer_cap(cfg, "memory", 64, &a->facts.memory_mib, err) < 0)
        return -1;
    a->facts.vcpus = (int)vcpus;
    const char *emu = cu_config_get(cfg, "emulation");
    if (strcmp(emu, "off") == 0)
        a->facts.nemulated = 0;
    else if (strcmp(emu, "auto") != 0)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "setting 'emulation' must be 'auto' or 'off', got '%s'", emu);
    return 0;
}

/* QEMU gets absolute paths: the agent may be started from anywhere. */
static int absolute_data_dir(agent *a, cu_error **err)
{
    char *abs = realpath(a->data_dir, NULL);
    if (abs == NULL)
        return cu_error_errno(err, errno, "cannot resolve the data directory '%s'", a->data_dir);
    free(a->data_dir);
    a->data_dir = abs;
    return 0;
}

/* The console listener (console_proxy.h), and the URL the control plane
 * gives out for it. */
static console_proxy *start_consoles(agent *a, const cu_config *cfg, const cu_tls *tls,
                                     const char *api_host, cu_error **err)
{
    _cleanup_free_ char *dflt = NULL;
    const char *listen = cu_config_get(cfg, "console-listen");
    if (listen == NULL && asprintf(&dflt, "%s:0", api_host) < 0)
        abort();
    char host[256];
    unsigned port;
    if (http_parse_listen(listen ? listen : dflt, host, sizeof(host), &port, err) < 0 ||
        cu_tls_check_listen(tls, "console-listen", host, err) < 0)
        return NULL;
    console_proxy *p = console_proxy_start(a, listen ? listen : dflt,
                                           cu_config_get(cfg, "console-origins"), tls, err);
    if (p == NULL)
        return NULL;
    const char *adv = cu_config_get(cfg, "advertise-console-url");
    if (adv)
        a->console_url = xstrdup(adv);
    else if (asprintf(&a->console_url, "%s://%s:%u", cu_tls_scheme(tls, 1),
                      strcmp(host, "0.0.0.0") == 0 ? a->address : host, console_proxy_port(p)) < 0)
        abort();
    return p;
}

/* TLS settings (tls.h), checked before anything else starts. */
static int tls_settings(const cu_config *cfg, cu_tls *tls, cu_error **err)
{
    char host[256];
    unsigned port;
    if (cu_tls_load(cfg, tls, err) < 0 ||
        http_parse_listen(cu_config_get(cfg, "listen"), host, sizeof(host), &port, err) < 0 ||
        cu_tls_check_listen(tls, "listen", host, err) < 0)
        return -1;
    http_client_set_ca(tls->ca_file); /* joins, heartbeats and images from the control plane */
    return 0;
}

static int run(agent *a, const cu_config *cfg, cu_error **err)
{
    __attribute__((cleanup(cu_tls_free))) cu_tls tls = {0};
    if (tls_settings(cfg, &tls, err) < 0 || settings(a, cfg, err) < 0 ||
        cu_mkdir_p(a->data_dir, 0700, err) < 0 || confine_data_dir(a, err) < 0 ||
        absolute_data_dir(a, err) < 0 || host_facts_probe(a->data_dir, &a->facts, err) < 0 ||
        apply_offer(a, cfg, err) < 0 || (a->images = image_cache_open(a->data_dir, err)) == NULL ||
        image_cache_allow_files(a->images, cu_config_get(cfg, "image-file-dirs"), err) < 0 ||
        credentials_load(a, err) < 0 || vm_table_open(a, err) < 0)
        return -1;
    image_cache_set_auth(a->images, credentials_image_auth, a);
    if (a->host_id[0] == '\0' &&
        (a->join_token = read_token(cu_config_get(cfg, "join-token-file"), err)) == NULL)
        return -1;
    http_server_config hc = {.listen = cu_config_get(cfg, "listen"),
                             .routes = agent_routes,
                             .nroutes = agent_nroutes,
                             .auth = agent_auth,
                             .app = a,
                             .max_body = 1 << 20,
                             .tls_cert_pem = tls.cert_pem,
                             .tls_key_pem = tls.key_pem};
    http_server *srv = http_server_start(&hc, err);
    if (srv == NULL)
        return -1;
    char host[256];
    unsigned port;
    http_parse_listen(hc.listen, host, sizeof(host), &port, NULL);
    const char *adv = cu_config_get(cfg, "advertise-url");
    if (adv)
        a->api_url = xstrdup(adv);
    else if (asprintf(&a->api_url, "%s://%s:%u", cu_tls_scheme(&tls, 0), host,
                      http_server_port(srv)) < 0)
        abort();
    log_info("listening on %s://%s (port %u) as host '%s'; %s, QEMU %s%s", cu_tls_scheme(&tls, 0),
             hc.listen, http_server_port(srv), a->name, a->facts.arch, a->facts.qemu_version,
             a->facts.kvm   ? ", KVM"
             : a->facts.hvf ? ", HVF"
                            : ", TCG only");
    console_proxy *consoles = start_consoles(a, cfg, &tls, host, err);
    if (consoles == NULL) {
        http_server_stop(srv);
        return -1;
    }
    if (reporter_start(a, err) < 0) {
        console_proxy_stop(consoles);
        http_server_stop(srv);
        return -1;
    }
    if (vm_table_watch_start(a, err) < 0) {
        reporter_stop(a);
        console_proxy_stop(consoles);
        http_server_stop(srv);
        return -1;
    }
    cu_notify_ready();
    int sig = cu_daemon_wait_stop();
    log_info("stopping on signal %d; VMs keep running", sig);
    vm_table_watch_stop(a);
    reporter_stop(a);
    console_proxy_stop(consoles);
    http_server_stop(srv);
    return 0;
}

static int run_agent(const cu_config *cfg, cu_error **err)
{
    static agent a; /* static: reachable at exit, for the leak checker */
    pthread_mutex_init(&a.cred_lock, NULL);
    return run(&a, cfg, err);
}

int main(int argc, char **argv)
{
    return cu_daemon_main(&spec, argc, argv, run_agent);
}
