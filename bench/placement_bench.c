/* placement_bench.c: placement decisions per second with 1,000 hosts and
 * 100,000 VMs in the database, and two peers measured in the same run
 * (bench/run-placement-bench runs it; bench/README.md explains it):
 *   - the same decisions with 10 hosts and no VMs (what the database's
 *     size costs a decision);
 *   - the same decisions with each host's usage summed from the vms table
 *     by the GROUP BY the usage counters replaced (schema.c, migration 6):
 *     a second connection to the big file gets a TEMP VIEW named `hosts`
 *     (temp shadows main), so the real scheduler_place() runs unchanged.
 *
 * A decision is made as api_vms.c's create makes it: a store transaction,
 * scheduler_place() with the daemon's default ratios and policy spread or
 * pack, then a rollback (the decision alone) or the create's inserts (VM,
 * operation) and a commit (synchronous=FULL: an fsync).  Rounds interleave
 * the cases, so noise falls on all of them, and start from the same
 * database (what a round inserted is deleted after it).  Only the decision
 * is timed; the checks run after it.
 *
 * Figures are printed, never judged.  Exit status 1 if something failed or
 * a check did: a VM placed beyond capacity times ratio (summed from the
 * vms table), on a host down, drained or of another architecture; the
 * GROUP BY peer picking other hosts than the counters; counters unequal to
 * the sums.  Settings from the environment: BENCH_HOSTS, BENCH_VMS,
 * BENCH_DECISIONS, BENCH_GROUP_BY_DECISIONS, BENCH_ROUNDS, TMPDIR. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "cleanup.h"
#include "ids.h"
#include "json_util.h"
#include "log.h"
#include "ops.h"
#include "scheduler.h"
#include "store.h"

#define CPU_RATIO 4.0 /* the daemon's defaults (controlplane/main.c) */
#define MEMORY_RATIO 1.0
#define DISK_RATIO 1.0
#define SEED_FILL 0.85  /* seeding leaves every host at least 15% free */
#define ARM_PERCENT 14  /* of the VMs asked for; 1 host in 7 is aarch64 */
#define MAX_REPORTED 20 /* violations printed in full */

/* Migration 2's sizes, and how often each is asked for (percent). */
static const struct size {
    const char *name;
    long long vcpus, memory_mib, disk_gib;
    unsigned weight;
} sizes[] = {{"s-1vcpu-512mb", 1, 512, 10, 20},
             {"s-1vcpu-1gb", 1, 1024, 25, 30},
             {"s-2vcpu-2gb", 2, 2048, 50, 25},
             {"s-2vcpu-4gb", 2, 4096, 80, 15},
             {"s-4vcpu-8gb", 4, 8192, 160, 10}};

/* Host hardware (cores, MiB, GiB of disk): 3 in 10 of each of the first
 * three, 1 in 10 of the last. */
static const long long classes[4][3] = {
    {48, 256 << 10, 6144}, {64, 384 << 10, 8192}, {96, 512 << 10, 12288}, {128, 1024 << 10, 24576}};

/* A VM's copy of its SSH key, as api_vms.c keeps it (rows of real size). */
#define KEY_COPY                                                                                   \
    "'[{\"id\":\"key-5d2f0e6b9a8c7d41\",\"name\":\"bench\",\"fingerprint\":"                       \
    "\"SHA256:3nXq2mWm2w9cYVw0b0ql5bX6mFJm1m3Ff0gk0fY8xQk\",\"public_key\":\"ssh-ed25519 "         \
    "AAAAC3NzaC1lZDI1NTE5AAAAIPFodyUWPBYSd8wYo+xMjb0b3DRtfE+FoQUJY8kYDFLZ bench@cumulus\"}]'"
#define IMAGE_OF_ARCH_7                                                                            \
    "(SELECT id FROM images WHERE name = CASE ?7 WHEN 'aarch64' THEN 'debian-12-arm64'"            \
    " ELSE 'debian-12-amd64' END)"
/* What the VMs on host h use, summed from the vms table (the truth). */
#define SUMMED_USE                                                                                 \
    "coalesce(sum(v.vcpus), 0) AS uv, coalesce(sum(v.memory_mib), 0) AS um,"                       \
    " coalesce(sum(v.disk_gib), 0) AS ud FROM hosts h LEFT JOIN vms v"                             \
    " ON v.host_id = h.id AND v.desired_state != 'deleted'"

static const char insert_host_sql[] =
    "INSERT INTO hosts (id, name, address, architecture, accelerators, vcpus, memory_mib,"
    " disk_gib, free_vcpus, free_memory_mib, free_disk_gib, qemu_version, state, drained,"
    " emulated_architectures, api_url, order_token) VALUES (?1, ?2, ?3, ?4, '[\"kvm\",\"tcg\"]',"
    " ?5, ?6, ?7, ?5, ?6, ?7, '7.2.0', ?8, ?9, ?10, 'http://' || ?3 || ':8081', 'cuord_bench')";
static const char seed_vm_sql[] =
    "INSERT INTO vms (id, name, size, vcpus, memory_mib, disk_gib, image_id, ssh_keys,"
    " desired_state, state, host_id, pushed_generation, reported_generation) VALUES"
    " (?1, ?2, ?3, ?4, ?5, ?6, " IMAGE_OF_ARCH_7 ", " KEY_COPY ", ?8, ?9, ?10, 1, 1)";
static const char create_vm_sql[] = /* api_vms.c's insert_vm() */
    "INSERT INTO vms (id, name, size, vcpus, memory_mib, disk_gib, image_id, ssh_keys,"
    " user_data, boot, autostart, desired_state, state, host_id) VALUES (?1, ?2, ?3, ?4, ?5,"
    " ?6, " IMAGE_OF_ARCH_7 ", " KEY_COPY ", NULL, NULL, 'last', 'running', 'pending', ?8)";
static const char host_truth_sql[] =
    "SELECT h.name, h.state, h.drained, h.architecture, h.emulated_architectures, h.vcpus,"
    " h.memory_mib, h.disk_gib, " SUMMED_USE " WHERE h.id = ? GROUP BY h.id";
static const char counters_wrong_sql[] =
    "SELECT count(*) FROM (SELECT h.used_vcpus, h.used_memory_mib, h.used_disk_gib, " SUMMED_USE
    " GROUP BY h.id) WHERE used_vcpus != uv OR used_memory_mib != um OR used_disk_gib != ud";
static const char group_by_view_sql[] = /* the old scheduler's query (commit b8f802e) */
    "CREATE TEMP VIEW hosts AS SELECT h.seq, h.id, h.name, h.architecture,"
    " h.emulated_architectures, h.vcpus, h.memory_mib, h.disk_gib, h.drained, h.state,"
    " coalesce(sum(v.vcpus), 0) AS used_vcpus, coalesce(sum(v.memory_mib), 0) AS used_memory_mib,"
    " coalesce(sum(v.disk_gib), 0) AS used_disk_gib FROM main.hosts h LEFT JOIN main.vms v"
    " ON v.host_id = h.id AND v.desired_state != 'deleted' GROUP BY h.id";

static uint64_t rng_state;
static uint64_t rng(void) /* splitmix64: the same sequence on every machine */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static sched_request next_request(void)
{
    unsigned w = (unsigned)(rng() % 100), i = 0;
    while (w >= sizes[i].weight)
        w -= sizes[i++].weight;
    return (sched_request){.vcpus = sizes[i].vcpus,
                           .memory_mib = sizes[i].memory_mib,
                           .disk_gib = sizes[i].disk_gib,
                           .size_name = sizes[i].name,
                           .architecture = rng() % 100 < ARM_PERCENT ? "aarch64" : "x86_64"};
}

static char tmpdir[4096]; /* $TMPDIR/bench-placement.XXXXXX, removed at exit */

static void remove_tmp(void)
{
    static const char *const files[] = {"big.db", "big.db-wal", "big.db-shm",
                                        "few.db", "few.db-wal", "few.db-shm"};
    char path[sizeof(tmpdir) + 16];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    rmdir(tmpdir);
}

__attribute__((noreturn)) static void fail(cu_error *err, const char *what)
{
    fprintf(stderr, "bench-placement: %s: %s\n", what, err ? err->message : "failed");
    exit(1);
}

static cp_store *open_store(const char *file)
{
    _cleanup_free_ char *path = NULL;
    cu_error *err = NULL;
    if (asprintf(&path, "%s/%s", tmpdir, file) < 0)
        abort();
    cp_store *s = store_open(path, &err);
    if (s == NULL)
        fail(err, "store_open");
    return s;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* What seeding keeps of a host: allowed capacity (times the ratios) and use. */
typedef struct seed_host {
    char id[32];
    int arm;
    double cap[3], used[3];
} seed_host;

/* Host i of the mix: 1 in 7 aarch64 (a quarter of them emulate x86_64), 1
 * x86_64 in 10 emulates aarch64, 1 in 50 down, 1 in 40 drained. */
static void seed_hosts(cp_store *s, int n, seed_host *hosts)
{
    cu_error *err = NULL;
    if (store_tx_begin(s, &err) < 0)
        fail(err, "seeding hosts");
    for (int i = 0; i < n; i++) {
        const long long *c = classes[i % 10 < 3 ? 0 : i % 10 < 6 ? 1 : i % 10 < 9 ? 2 : 3];
        int arm = i % 7 == 3;
        const char *emulates =
            arm ? (i % 4 == 2 ? "[\"x86_64\"]" : "[]") : (i % 10 == 5 ? "[\"aarch64\"]" : "[]");
        _cleanup_free_ char *id = cu_id_new("host"), *name = NULL, *addr = NULL;
        hosts[i] = (seed_host){.arm = arm,
                               .cap = {c[0] * CPU_RATIO, c[1] * MEMORY_RATIO, c[2] * DISK_RATIO}};
        snprintf(hosts[i].id, sizeof(hosts[i].id), "%s", id);
        if (asprintf(&name, "host-%04d", i) < 0 ||
            asprintf(&addr, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255) < 0)
            abort();
        if (store_exec(s, &err, insert_host_sql, "ssssiiisis", id, name, addr,
                       arm ? "aarch64" : "x86_64", c[0], c[1], c[2], i % 50 == 7 ? "down" : "up",
                       (long long)(i % 40 == 21), emulates) < 0)
            fail(err, "seeding hosts");
    }
    if (store_tx_commit(s, &err) < 0)
        fail(err, "seeding hosts");
}

/* A random host of the VM's architecture with room below SEED_FILL. */
static seed_host *seed_pick(seed_host *hosts, int *of_arch[2], const int count[2], int arm,
                            const double need[3])
{
    for (int try = 0; try < 1000 && count[arm] > 0; try++) {
        seed_host *h = &hosts[of_arch[arm][rng() % (uint64_t)count[arm]]];
        int fits = 1;
        for (int k = 0; k < 3; k++)
            fits &= h->used[k] + need[k] <= h->cap[k] * SEED_FILL;
        if (fits)
            return h;
    }
    fail(NULL, "seeding VMs: the hosts are full; give fewer VMs or more hosts");
}

/* VMs of the request mix on hosts of their architecture (down and drained
 * hosts keep VMs too), 1 in 100 being deleted (it counts for nothing) and 1
 * in 10 stopped; one transaction, the triggers keeping the counters. */
static void seed_vms(cp_store *s, seed_host *hosts, int nhosts, long nvms)
{
    cu_error *err = NULL;
    _cleanup_free_ int *x86 = calloc((size_t)nhosts, sizeof(int));
    _cleanup_free_ int *arm = calloc((size_t)nhosts, sizeof(int));
    int *of_arch[2] = {x86, arm}, count[2] = {0, 0};
    for (int i = 0; i < nhosts; i++)
        of_arch[hosts[i].arm][count[hosts[i].arm]++] = i;
    if (store_tx_begin(s, &err) < 0)
        fail(err, "seeding VMs");
    for (long v = 0; v < nvms; v++) {
        sched_request r = next_request();
        double need[3] = {(double)r.vcpus, (double)r.memory_mib, (double)r.disk_gib};
        seed_host *h = seed_pick(hosts, of_arch, count, r.architecture[0] == 'a', need);
        int deleted = rng() % 100 == 0, stopped = rng() % 10 == 0;
        for (int k = 0; k < 3 && !deleted; k++)
            h->used[k] += need[k];
        const char *desired = deleted ? "deleted" : stopped ? "stopped" : "running";
        _cleanup_free_ char *id = cu_id_new("vm"), *name = NULL;
        if (asprintf(&name, "seed-%06ld", v) < 0)
            abort();
        if (store_exec(s, &err, seed_vm_sql, "sssiiissss", id, name, r.size_name, r.vcpus,
                       r.memory_mib, r.disk_gib, r.architecture, desired,
                       deleted ? "deleting" : desired, h->id) < 0)
            fail(err, "seeding VMs");
    }
    if (store_tx_commit(s, &err) < 0)
        fail(err, "seeding VMs");
}

/* Hosts whose counters differ from the sums over the vms table. */
static long long counters_wrong(cp_store *s)
{
    cu_error *err = NULL;
    long long n = store_int(s, -1, &err, counters_wrong_sql, "");
    if (n < 0)
        fail(err, "checking the counters");
    return n;
}

enum { BIG, FEW, GROUP_BY, NDBS };
enum { SPREAD, PACK, SPREAD_COMMIT, PACK_COMMIT, NVARIANTS }; /* bit 0 pack, bit 1 commit */
static const char *const db_names[NDBS] = {"big", "10 hosts", "GROUP BY"};
static const char *const variant_names[NVARIANTS] = {"spread", "pack", "spread + insert, commit",
                                                     "pack + insert, commit"};

typedef struct bcase {
    char label[64];
    cp_app app;                     /* its connection, the ratios and the policy */
    cp_store *plain;                /* a connection without the view, for checks and cleanup */
    int commit;                     /* 0: decide and roll back; 1: + the create's inserts, commit */
    int n;                          /* decisions per round */
    const struct bcase *same_picks; /* must pick as this case did, or NULL */
    double *rate, *lat_us;          /* per round; per decision, all rounds */
    size_t nlat;
    char **picks; /* this round's host per decision (NULL: refused) */
    long refused;
    double median_rate, p50; /* the figures, once measured */
} bcase;

static long violations, checked, agreed, compared;

/* One decision as a create makes it: 0 placed (*host set), 1 refused. */
static int decide(bcase *c, const sched_request *req, char **host)
{
    static long serial;
    cu_error *err = NULL;
    cp_store *s = c->app.store;
    if (store_tx_begin(s, &err) < 0)
        fail(err, c->label);
    if (scheduler_place(&c->app, req, host, &err) < 0) {
        store_tx_rollback(s);
        if (strcmp(err->code, CU_E_NO_CAPACITY) != 0)
            fail(err, c->label);
        cu_error_free(err);
        return 1;
    }
    if (!c->commit) {
        store_tx_rollback(s);
        return 0;
    }
    _cleanup_free_ char *id = cu_id_new("vm"), *name = NULL;
    if (asprintf(&name, "bench-%ld", serial++) < 0)
        abort();
    json_t *op = NULL;
    if (store_exec(s, &err, create_vm_sql, "sssiiiss", id, name, req->size_name, req->vcpus,
                   req->memory_mib, req->disk_gib, req->architecture, *host) < 0 ||
        !(op = ops_create_for_vm(&c->app, "vm.create", id, 1,
                                 "placed; sending the order to its host", &err)) ||
        store_tx_commit(s, &err) < 0)
        fail(err, c->label);
    json_decref(op);
    return 0;
}

/* The host must be up, not drained, run the architecture, and hold what is
 * placed on it (summed from vms, plus this request if not inserted). */
static void check_pick(bcase *c, const sched_request *req, const char *host_id)
{
    json_t *h = NULL;
    cu_error *err = NULL;
    if (store_get(c->plain, &h, &err, host_truth_sql, "s", host_id) != 1)
        fail(err, "checking a pick");
#define I(k) ((double)json_integer_value(json_object_get(h, k)))
    double extra = c->commit ? 0 : 1;
    const char *why = NULL;
    if (strcmp(cu_json_str(h, "state"), "up") != 0 || I("drained"))
        why = "the host is down or drained";
    else if (strcmp(cu_json_str(h, "architecture"), req->architecture) != 0 &&
             !strstr(cu_json_str(h, "emulated_architectures"), req->architecture))
        why = "the host cannot run the architecture";
    else if (I("uv") + extra * (double)req->vcpus > I("vcpus") * CPU_RATIO ||
             I("um") + extra * (double)req->memory_mib > I("memory_mib") * MEMORY_RATIO ||
             I("ud") + extra * (double)req->disk_gib > I("disk_gib") * DISK_RATIO)
        why = "it is over capacity times ratio";
#undef I
    checked++;
    if (why && violations++ < MAX_REPORTED)
        fprintf(stderr, "VIOLATION: %s: %s %s placed on host '%s', but %s\n", c->label,
                req->size_name, req->architecture, cu_json_str(h, "name"), why);
    json_decref(h);
}

/* Deletes what a round inserted: the triggers take it off the counters. */
static void undo_round(cp_store *s)
{
    cu_error *err = NULL;
    if (store_tx_begin(s, &err) < 0 ||
        store_exec(s, &err, "DELETE FROM vms WHERE name LIKE 'bench-%'", "") < 0 ||
        store_exec(s, &err, "DELETE FROM operations", "") < 0 || store_tx_commit(s, &err) < 0)
        fail(err, "undoing a round");
}

static void run_round(bcase *c, int round)
{
    rng_state = 12345; /* the same requests in every case and round */
    double total = 0;
    for (int i = 0; i < c->n; i++) {
        sched_request req = next_request();
        char *host = NULL;
        double t0 = now_us();
        int refused = decide(c, &req, &host);
        double dt = now_us() - t0;
        total += dt;
        c->lat_us[c->nlat++] = dt;
        c->refused += refused;
        if (!refused)
            check_pick(c, &req, host);
        free(c->picks[i]);
        c->picks[i] = host;
    }
    c->rate[round] = c->n / (total / 1e6);
    if (c->commit)
        undo_round(c->plain);
}

/* The GROUP BY peer must pick as the counters did: same state, same
 * requests, only where the usage comes from differs. */
static void compare_picks(const bcase *c)
{
    for (int i = 0; i < c->n && c->same_picks; i++) {
        const char *a = c->picks[i], *b = c->same_picks->picks[i];
        compared++;
        if ((a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0))
            agreed++;
        else if (violations++ < MAX_REPORTED)
            fprintf(stderr, "VIOLATION: %s picked %s, %s %s (decision %d)\n", c->label,
                    a ? a : "nothing", c->same_picks->label, b ? b : "nothing", i);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v and returns its q-quantile (nearest rank). */
static double quantile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof(*v), cmp_double);
    size_t k = (size_t)(q * (double)n + 0.999999);
    return v[k == 0 ? 0 : k - 1];
}

static void report(bcase cases[NDBS][NVARIANTS], int rounds)
{
    printf("\n%-36s %12s %10s %10s %8s\n", "case", "decisions/s", "p50_us", "p99_us", "refused");
    for (int d = 0; d < NDBS; d++) {
        for (int v = 0; v < NVARIANTS; v++) {
            bcase *c = &cases[d][v];
            c->median_rate = quantile(c->rate, (size_t)rounds, 0.5);
            c->p50 = quantile(c->lat_us, c->nlat, 0.5);
            printf("%-36s %12.1f %10.1f %10.1f %8ld\n", c->label, c->median_rate, c->p50,
                   quantile(c->lat_us, c->nlat, 0.99), c->refused);
        }
    }
    printf("\nratios of median decisions/s (of p50 latencies)\n%-26s %20s %24s\n", "",
           "10 hosts / big", "counters / GROUP BY");
    for (int v = 0; v < NVARIANTS; v++) {
        const bcase *big = &cases[BIG][v], *few = &cases[FEW][v], *gb = &cases[GROUP_BY][v];
        printf("%-26s %11.2fx (%6.2fx) %15.2fx (%6.2fx)\n", variant_names[v],
               few->median_rate / big->median_rate, big->p50 / few->p50,
               big->median_rate / gb->median_rate, gb->p50 / big->p50);
    }
    printf("decision alone / + insert, commit (spread): big %.2fx, 10 hosts %.2fx\n",
           cases[BIG][SPREAD].median_rate / cases[BIG][SPREAD_COMMIT].median_rate,
           cases[FEW][SPREAD].median_rate / cases[FEW][SPREAD_COMMIT].median_rate);
}

/* Seeds the big database on a connection of its own with a big page cache
 * (the measured ones keep the daemon's default), the small one, and opens
 * the connections the cases use. */
static void open_databases(cp_store *stores[NDBS], int nhosts, long nvms)
{
    cu_error *err = NULL;
    double t0 = now_us();
    cp_store *seeder = open_store("big.db");
    if (store_exec(seeder, &err, "PRAGMA cache_size = -262144", "") < 0)
        fail(err, "PRAGMA cache_size");
    seed_host *hosts = calloc((size_t)nhosts + 10, sizeof(*hosts));
    rng_state = 1;
    seed_hosts(seeder, nhosts, hosts);
    seed_vms(seeder, hosts, nhosts, nvms);
    store_close(seeder);
    double seed_s = (now_us() - t0) / 1e6;
    stores[BIG] = open_store("big.db");
    stores[FEW] = open_store("few.db");
    stores[GROUP_BY] = open_store("big.db");
    if (store_exec(stores[GROUP_BY], &err, group_by_view_sql, "") < 0)
        fail(err, "creating the GROUP BY view");
    seed_hosts(stores[FEW], 10, hosts + nhosts);
    free(hosts);
    if (counters_wrong(stores[BIG]) != 0)
        fail(NULL, "after seeding, the usage counters differ from the sums over vms");
    printf("bench-placement: schema %d; big: %d hosts (%lld up, not drained), %ld VMs (%lld%% of"
           " the memory used), seeded in %.1f s; data in %s\n",
           store_schema_version(stores[BIG]), nhosts,
           store_int(stores[BIG], 0, NULL,
                     "SELECT count(*) FROM hosts WHERE state = 'up' AND NOT drained", ""),
           nvms,
           store_int(stores[BIG], 0, NULL,
                     "SELECT 100 * sum(used_memory_mib) / sum(memory_mib) FROM hosts", ""),
           seed_s, tmpdir);
}

static void make_cases(bcase cases[NDBS][NVARIANTS], cp_store *stores[NDBS], int n, int gn,
                       int rounds)
{
    for (int d = 0; d < NDBS; d++) {
        for (int v = 0; v < NVARIANTS; v++) {
            bcase *c = &cases[d][v];
            snprintf(c->label, sizeof(c->label), "%s: %s", db_names[d], variant_names[v]);
            c->app = (cp_app){.store = stores[d],
                              .cpu_ratio = CPU_RATIO,
                              .memory_ratio = MEMORY_RATIO,
                              .disk_ratio = DISK_RATIO,
                              .placement_pack = v & 1};
            c->plain = stores[d == FEW ? FEW : BIG];
            c->commit = v >> 1;
            c->same_picks = d == GROUP_BY ? &cases[BIG][v] : NULL;
            c->n = d == GROUP_BY ? gn : n;
            c->rate = calloc((size_t)rounds, sizeof(double));
            c->lat_us = calloc((size_t)rounds * (size_t)c->n, sizeof(double));
            c->picks = calloc((size_t)c->n, sizeof(char *));
        }
    }
}

static long env_long(const char *name, long def, long min)
{
    const char *v = getenv(name);
    long x = v && *v ? strtol(v, NULL, 10) : def;
    if (x < min) {
        fprintf(stderr, "bench-placement: %s must be at least %ld\n", name, min);
        exit(2);
    }
    return x;
}

static void free_cases(bcase cases[NDBS][NVARIANTS])
{
    for (int i = 0; i < NDBS * NVARIANTS; i++) {
        bcase *c = &cases[i / NVARIANTS][i % NVARIANTS];
        for (int k = 0; k < c->n; k++)
            free(c->picks[k]);
        free(c->picks);
        free(c->rate);
        free(c->lat_us);
    }
}

int main(void)
{
    int nhosts = (int)env_long("BENCH_HOSTS", 1000, 10);
    long nvms = env_long("BENCH_VMS", 100000, 0);
    int n = (int)env_long("BENCH_DECISIONS", 200, 1);
    int gn = (int)env_long("BENCH_GROUP_BY_DECISIONS", n >= 20 ? n / 20 : 1, 1); /* slow */
    int rounds = (int)env_long("BENCH_ROUNDS", 5, 1);
    if (gn > n)
        fail(NULL, "BENCH_GROUP_BY_DECISIONS may not exceed BENCH_DECISIONS");
    cu_log_set_level(CU_LOG_WARN); /* no "schema migrated" lines */
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/bench-placement.XXXXXX", t && *t ? t : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
        fail(NULL, "cannot make a temporary directory in $TMPDIR");
    atexit(remove_tmp);

    cp_store *stores[NDBS];
    open_databases(stores, nhosts, nvms);
    printf("%d decisions per round and case (GROUP BY: %d), %d rounds\n", n, gn, rounds);
    fflush(stdout);
    bcase cases[NDBS][NVARIANTS] = {0};
    make_cases(cases, stores, n, gn, rounds);
    double t0 = now_us();
    for (int r = 0; r < rounds; r++) { /* interleaved: noise falls on every case */
        for (int i = 0; i < NDBS * NVARIANTS; i++) {
            run_round(&cases[i / NVARIANTS][i % NVARIANTS], r);
            compare_picks(&cases[i / NVARIANTS][i % NVARIANTS]);
        }
        fprintf(stderr, "round %d/%d done after %.0f s\n", r + 1, rounds, (now_us() - t0) / 1e6);
    }
    long long wrong = counters_wrong(stores[BIG]) + counters_wrong(stores[FEW]);
    report(cases, rounds);
    printf("\nchecks: %ld placements checked (capacity x ratio, host up and not drained,"
           " architecture); %ld/%ld GROUP BY picks equal to the counters' picks; %lld hosts"
           " with counters unequal to the sums; %ld violations\n",
           checked, agreed, compared, wrong, violations);
    free_cases(cases);
    for (int d = NDBS - 1; d >= 0; d--)
        store_close(stores[d]);
    return violations || wrong ? 1 : 0;
}
