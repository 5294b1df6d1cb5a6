/* load_client.c: bench-load-client — N concurrent clients against the
 * control plane's API (or the webui's /api) for a while, then every
 * request kind's latency percentiles and every failure by reason.
 *
 * One thread, libcurl's multi interface: each client is one easy handle
 * (so one kept-alive connection) with one request in flight; when it ends
 * the client sends its next one at once (closed loop), or at its turn
 * under --rate.  What is asked is load_mix.h's; what is measured,
 * load_stats.h's.  A request fails when the transport fails (refused,
 * reset, --timeout) or the status is not the one its kind expects.
 *
 * Figures are printed, never judged; the exit status is 0 when every
 * request succeeded, 1 when one failed or nothing could be asked, 2 on a
 * usage error.  It must not hide a failure: every one is counted and
 * grouped with its first body. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "load_mix.h"
#include "load_stats.h"

#define BODY_KEEP 512 /* bytes of an answer kept, for a failure's report */

typedef struct options {
    const char *url, *token_file, *mix_spec, *vm;
    unsigned clients;
    double duration, rate, timeout, progress;
    int any_2xx;
} options;

typedef struct client {
    CURL *h;
    load_walker walk;
    load_req req;
    int busy;
    double next_at; /* monotonic seconds: when it may send again */
    char body[BODY_KEEP];
    size_t body_len;
    char errbuf[CURL_ERROR_SIZE];
} client;

typedef struct run {
    const options *o;
    load_mix mix;
    char vm[128]; /* the VM's id, or empty */
    CURLM *multi;
    struct curl_slist *get_headers, *post_headers;
    client *clients;
    load_stats *stats;
    unsigned busy;
} run;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: bench-load-client --url URL [options]\n"
                "  --url URL          the API's base: http://HOST:PORT (the control plane) or\n"
                "                     http://HOST:PORT/api (through the webui)\n"
                "  --token-file FILE  the bearer token (default: $CUMULUS_TOKEN)\n"
                "  --clients N        concurrent clients, one connection and one request in\n"
                "                     flight each (default 100)\n"
                "  --duration SECS    how long to send; requests in flight then, and deletes\n"
                "                     owed, are still waited for (default 60)\n"
                "  --rate R           at most R requests a second over all clients (default 0:\n"
                "                     none, a client asks again as soon as it is answered)\n"
                "  --mix SPEC         NAME=WEIGHT,... : only the entries named (default below)\n"
                "  --vm REF           the VM of vm and vm-stats (default: the first of GET\n"
                "                     /v1/vms; without one, those entries are left out)\n"
                "  --timeout SECS     a request's limit; past it, a transport error (default 30)\n"
                "  --progress SECS    a progress line on stderr every SECS (default 0: none)\n"
                "  --any-2xx          any 2xx answer succeeds (for a peer answering 200 to all)\n"
                "mix entries (default weight):\n");
    load_mix_usage(to);
    fprintf(to, "Prints a table of requests, errors, req/s and p50/p90/p99/max latency by kind,\n"
                "the errors by reason, and a 'result ...' line.  Exit status: 0 when every\n"
                "request succeeded, 1 otherwise, 2 on a usage error.\n");
}

/* A number from `lo` to `hi`, else -1. */
static int parse_num(const char *flag, const char *text, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "bench-load-client: %s must be a number from %g to %g, not '%s'\n", flag,
                lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Whether `a` is one of the options that take a value. */
static int takes_value(const char *a)
{
    static const char *const names[] = {"--url",  "--token-file", "--mix",
                                        "--vm",   "--clients",    "--duration",
                                        "--rate", "--timeout",    "--progress"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(a, names[i]) == 0)
            return 1;
    return 0;
}

/* Returns 0 to run, 1 for --help, -1 on a usage error (said on stderr). */
static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.clients = 100, .duration = 60, .timeout = 30};
    double clients = 100;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int r = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--any-2xx") == 0) {
            o->any_2xx = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "bench-load-client: %s '%s' (see --help)\n",
                    takes_value(a) ? "a value is needed after" : "unknown option", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--url") == 0)
            o->url = v;
        else if (strcmp(a, "--token-file") == 0)
            o->token_file = v;
        else if (strcmp(a, "--mix") == 0)
            o->mix_spec = v;
        else if (strcmp(a, "--vm") == 0)
            o->vm = v;
        else if (strcmp(a, "--clients") == 0)
            r = parse_num(a, v, 1, 10000, &clients);
        else if (strcmp(a, "--duration") == 0)
            r = parse_num(a, v, 0.1, 7 * 86400, &o->duration);
        else if (strcmp(a, "--rate") == 0)
            r = parse_num(a, v, 0, 1e6, &o->rate);
        else if (strcmp(a, "--timeout") == 0)
            r = parse_num(a, v, 0.001, 3600, &o->timeout);
        else if (strcmp(a, "--progress") == 0)
            r = parse_num(a, v, 0, 86400, &o->progress);
        else {
            fprintf(stderr, "bench-load-client: unknown option '%s' (see --help)\n", a);
            return -1;
        }
        if (r < 0)
            return -1;
    }
    if (clients != (unsigned)clients) {
        fprintf(stderr, "bench-load-client: --clients must be a whole number, not %g\n", clients);
        return -1;
    }
    o->clients = (unsigned)clients;
    if (o->url == NULL || (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8))) {
        fprintf(stderr, "bench-load-client: --url http://HOST:PORT is needed%s%s%s (see --help)\n",
                o->url ? ", not '" : "", o->url ? o->url : "", o->url ? "'" : "");
        return -1;
    }
    return 0;
}

/* The token from --token-file or $CUMULUS_TOKEN, trimmed; NULL when there
 * is none (said on stderr). */
static char *read_token(const options *o)
{
    char *tok = NULL;
    if (o->token_file) {
        FILE *f = fopen(o->token_file, "r");
        size_t cap = 0;
        ssize_t n = f ? getline(&tok, &cap, f) : -1;
        int e = errno;
        if (f)
            fclose(f);
        if (n <= 0) {
            fprintf(stderr, "bench-load-client: cannot read a token from '%s': %s\n", o->token_file,
                    f && n == 0 ? "it is empty" : strerror(e));
            free(tok);
            return NULL;
        }
    } else if (getenv("CUMULUS_TOKEN")) {
        tok = strdup(getenv("CUMULUS_TOKEN"));
    }
    if (tok)
        tok[strcspn(tok, "\r\n")] = '\0';
    if (tok == NULL || tok[0] == '\0') {
        fprintf(stderr, "bench-load-client: no token: give --token-file FILE or set "
                        "CUMULUS_TOKEN\n");
        free(tok);
        return NULL;
    }
    return tok;
}

static size_t keep_body(char *data, size_t size, size_t n, void *userp)
{
    client *c = userp;
    size_t len = size * n, room = sizeof(c->body) - c->body_len;
    memcpy(c->body + c->body_len, data, len < room ? len : room);
    c->body_len += len < room ? len : room;
    return len;
}

/* Sets the options every request of a client shares. */
static int client_init(run *r, client *c, unsigned id, uint64_t seed)
{
    c->h = curl_easy_init();
    if (c->h == NULL)
        return -1;
    load_walker_init(&c->walk, id, seed);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)(r->o->timeout * 1000));
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    return 0;
}

/* Builds the client's next request and hands it to the multi handle. */
static int client_send(run *r, client *c, double t)
{
    load_next(&r->mix, r->vm, &c->walk, &c->req);
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", r->o->url, c->req.path);
    int post = c->req.body[0] != '\0';
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L); /* resets what the last request set */
    curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST,
                     strcmp(c->req.method, "DELETE") == 0 ? "DELETE" : NULL);
    if (post)
        curl_easy_setopt(c->h, CURLOPT_COPYPOSTFIELDS, c->req.body);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, post ? r->post_headers : r->get_headers);
    c->body_len = 0;
    c->errbuf[0] = '\0';
    if (r->o->rate > 0) { /* each client's turn comes every clients/rate seconds */
        double every = r->o->clients / r->o->rate;
        c->next_at = (c->next_at > t - every ? c->next_at : t) + every; /* late: no burst */
    }
    if (curl_multi_add_handle(r->multi, c->h) != CURLM_OK)
        return -1;
    c->busy = 1;
    r->busy++;
    return 0;
}

/* Records one ended request. */
static int client_done(run *r, client *c, CURLcode code)
{
    long status = 0;
    curl_off_t us = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c->h, CURLINFO_TOTAL_TIME_T, &us);
    curl_multi_remove_handle(r->multi, c->h);
    c->busy = 0;
    r->busy--;
    int ok = code == CURLE_OK &&
             (status == c->req.expect || (r->o->any_2xx && status >= 200 && status < 300));
    char reason[160];
    if (code != CURLE_OK) {
        snprintf(reason, sizeof(reason), "transport: %s", curl_easy_strerror(code));
        load_stats_fail(r->stats, c->req.kind, reason, c->errbuf, strlen(c->errbuf));
    } else if (!ok) {
        snprintf(reason, sizeof(reason), "HTTP %ld, expected %ld", status, c->req.expect);
        load_stats_fail(r->stats, c->req.kind, reason, c->body, c->body_len);
    }
    load_done(&c->walk, &c->req, ok);
    if (code == CURLE_OK && load_stats_add(r->stats, c->req.kind, (uint32_t)us) < 0) {
        fprintf(stderr, "bench-load-client: out of memory for the samples\n");
        return -1;
    }
    return 0;
}

/* GET `path` with a plain easy handle: the parsed JSON, or NULL (said). */
static json_t *get_json(run *r, const char *path)
{
    char url[1024], *buf = NULL;
    size_t len = 0;
    snprintf(url, sizeof(url), "%s%s", r->o->url, path);
    FILE *mem = open_memstream(&buf, &len);
    CURL *h = curl_easy_init();
    long status = 0;
    CURLcode code = CURLE_OUT_OF_MEMORY;
    if (mem && h) {
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->get_headers);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(r->o->timeout * 1000));
        code = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    if (mem)
        fclose(mem);
    curl_easy_cleanup(h);
    json_t *j = code == CURLE_OK && status == 200 ? json_loadb(buf, len, 0, NULL) : NULL;
    if (j == NULL)
        fprintf(stderr, "bench-load-client: GET %s: %s: %.300s\n", url,
                code != CURLE_OK ? curl_easy_strerror(code) : "not a 200 with JSON",
                buf ? buf : "");
    free(buf);
    return j;
}

/* The VM for vm and vm-stats: --vm, else the first listed; the entries
 * that need one are left out without one (vm-stats unless it runs). */
static int find_vm(run *r)
{
    const char *ref = r->o->vm;
    json_t *list = NULL, *vm = NULL;
    if (r->mix.weight[LM_VM] == 0 && r->mix.weight[LM_VM_STATS] == 0)
        return 0;
    if (ref == NULL) {
        if ((list = get_json(r, "/v1/vms?limit=1")) == NULL)
            return -1;
        ref = json_string_value(
            json_object_get(json_array_get(json_object_get(list, "vms"), 0), "id"));
    }
    if (ref) {
        char path[256];
        snprintf(path, sizeof(path), "/v1/vms/%s", ref);
        if ((vm = get_json(r, path)) == NULL) {
            json_decref(list);
            return -1;
        }
        const char *id = json_string_value(json_object_get(vm, "id"));
        snprintf(r->vm, sizeof(r->vm), "%s", id ? id : ref);
    }
    const char *state = json_string_value(json_object_get(vm, "state"));
    if (ref == NULL && (r->mix.weight[LM_VM] || r->mix.weight[LM_VM_STATS]))
        fprintf(stderr, "bench-load-client: no VM to ask about: vm and vm-stats left out\n");
    else if (ref && r->mix.weight[LM_VM_STATS] && (state == NULL || strcmp(state, "running")))
        fprintf(stderr, "bench-load-client: VM '%s' is %s, not running: vm-stats left out\n", r->vm,
                state ? state : "of unknown state");
    if (ref == NULL)
        load_mix_drop(&r->mix, LM_VM);
    if (ref == NULL || state == NULL || strcmp(state, "running"))
        load_mix_drop(&r->mix, LM_VM_STATS);
    json_decref(list);
    json_decref(vm);
    if (r->mix.total == 0) {
        fprintf(stderr, "bench-load-client: nothing is left in the mix to ask\n");
        return -1;
    }
    return 0;
}

static void progress(run *r, double t0, double t, double *last_t, size_t *last_n)
{
    size_t n = load_stats_requests(r->stats);
    fprintf(stderr, "progress t=%.0fs requests=%zu rps=%.1f errors=%zu in_flight=%u\n", t - t0, n,
            (double)(n - *last_n) / (t - *last_t), load_stats_failures(r->stats), r->busy);
    *last_t = t;
    *last_n = n;
}

/* Sends until --duration (or a signal), then waits for what is in flight
 * and the deletes owed.  Returns the seconds it sent for, or -1. */
static double drive(run *r)
{
    const options *o = r->o;
    double t0 = now(), end = t0 + o->duration, last_t = t0, t = t0;
    size_t last_n = 0;
    for (unsigned i = 0; i < o->clients; i++) /* under --rate, turns spread over the period */
        r->clients[i].next_at = o->rate > 0 ? t0 + i / o->rate : t0;
    for (;;) {
        t = now();
        int sending = t < end && !stopping;
        double wake = t + 0.1;
        for (unsigned i = 0; i < o->clients; i++) {
            client *c = &r->clients[i];
            if (c->busy || !(sending || c->walk.follow_kind >= 0))
                continue;
            if (c->next_at > t) {
                wake = c->next_at < wake ? c->next_at : wake;
                continue;
            }
            if (client_send(r, c, t) < 0)
                return -1;
        }
        int running = 0, left = 0;
        if (curl_multi_perform(r->multi, &running) != CURLM_OK)
            return -1;
        for (CURLMsg *m; (m = curl_multi_info_read(r->multi, &left));) {
            client *c = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            if (m->msg == CURLMSG_DONE && client_done(r, c, m->data.result) < 0)
                return -1;
        }
        if (!sending && r->busy == 0) {
            int owed = 0;
            for (unsigned i = 0; i < o->clients && !owed; i++)
                owed = r->clients[i].walk.follow_kind >= 0;
            if (!owed)
                break;
        }
        if (o->progress > 0 && t - last_t >= o->progress)
            progress(r, t0, t, &last_t, &last_n);
        int ms = (int)((wake - t) * 1000);
        curl_multi_poll(r->multi, NULL, 0, ms > 0 ? ms : 0, NULL);
    }
    return (t < end ? t : end) - t0;
}

static int setup(run *r, const char *token)
{
    char auth[2048];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    struct curl_slist *g = curl_slist_append(NULL, auth);
    r->get_headers = g;
    struct curl_slist *p = g ? curl_slist_append(NULL, auth) : NULL;
    if (p && (p = curl_slist_append(p, "Content-Type: application/json")))
        p = curl_slist_append(p, "Expect:");
    r->post_headers = p;
    r->multi = curl_multi_init();
    r->clients = calloc(r->o->clients, sizeof(client));
    r->stats = load_stats_new(LK_COUNT, load_kind_names);
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    int ok = g && p && r->multi && r->clients && r->stats;
    for (unsigned i = 0; ok && i < r->o->clients; i++)
        ok = client_init(r, &r->clients[i], i, seed) == 0;
    if (!ok)
        fprintf(stderr, "bench-load-client: out of memory setting up %u clients\n", r->o->clients);
    return ok ? 0 : -1;
}

static void teardown(run *r)
{
    for (unsigned i = 0; r->clients && i < r->o->clients; i++) {
        if (r->clients[i].busy)
            curl_multi_remove_handle(r->multi, r->clients[i].h);
        curl_easy_cleanup(r->clients[i].h);
    }
    free(r->clients);
    curl_multi_cleanup(r->multi);
    curl_slist_free_all(r->get_headers);
    curl_slist_free_all(r->post_headers);
    load_stats_free(r->stats);
}

static int load(run *r)
{
    const options *o = r->o;
    char why[256];
    load_mix_default(&r->mix);
    if (o->mix_spec && load_mix_parse(&r->mix, o->mix_spec, why, sizeof(why)) < 0) {
        fprintf(stderr, "bench-load-client: %s\n", why);
        return 2;
    }
    if (find_vm(r) < 0)
        return 1;
    printf("load: %u clients, %g s, %s, %s; mix: ", o->clients, o->duration,
           o->rate > 0 ? "rate-limited" : "closed loop", o->url);
    load_mix_print(&r->mix, stdout);
    if (o->rate > 0)
        printf("; at most %g req/s", o->rate);
    printf("\n");
    fflush(stdout);
    double seconds = drive(r);
    if (seconds < 0) {
        fprintf(stderr, "bench-load-client: libcurl's multi interface failed\n");
        return 1;
    }
    printf("\n");
    load_stats_report(r->stats, stdout, seconds);
    if (load_stats_requests(r->stats) == 0) {
        fprintf(stderr, "bench-load-client: no request was sent\n");
        return 1;
    }
    return load_stats_failures(r->stats) ? 1 : 0;
}

int main(int argc, char **argv)
{
    options o;
    int a = parse_args(argc, argv, &o);
    if (a != 0)
        return a > 0 ? 0 : 2;
    char *token = read_token(&o);
    if (token == NULL)
        return 2;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "bench-load-client: libcurl failed to start\n");
        free(token);
        return 1;
    }
    run r = {.o = &o};
    int rc = setup(&r, token) < 0 ? 1 : load(&r);
    teardown(&r);
    curl_global_cleanup();
    free(token);
    return rc;
}
