/* load_mix.c: see load_mix.h. */
#define _POSIX_C_SOURCE 200809L
#include "load_mix.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const load_kind_names[LK_COUNT] = {
    [LK_VMS] = "GET /v1/vms",
    [LK_VM] = "GET /v1/vms/{id}",
    [LK_VM_STATS] = "GET /v1/vms/{id}/stats",
    [LK_SIZES] = "GET /v1/sizes",
    [LK_IMAGES] = "GET /v1/images",
    [LK_HOSTS] = "GET /v1/hosts",
    [LK_OPS] = "GET /v1/operations",
    [LK_EVENTS] = "GET /v1/events",
    [LK_METRICS] = "GET /metrics",
    [LK_SIZE_CREATE] = "POST /v1/sizes",
    [LK_SIZE_DELETE] = "DELETE /v1/sizes/{name}",
    [LK_KEY_CREATE] = "POST /v1/ssh-keys",
    [LK_KEY_DELETE] = "DELETE /v1/ssh-keys/{name}",
};

static const struct entry {
    const char *name;
    unsigned weight; /* the default */
    int kind;        /* LK_* of the (first) request */
    const char *path;
    const char *after_vm; /* non-NULL: the path is path, the VM's id, this */
    const char *help;
} entries[LM_COUNT] = {
    [LM_VMS] = {"vms", 15, LK_VMS, "/v1/vms", NULL, "GET /v1/vms (first page)"},
    [LM_VM] = {"vm", 10, LK_VM, "/v1/vms/", "", "GET /v1/vms/{id} of the VM (--vm)"},
    [LM_VM_STATS] = {"vm-stats", 2, LK_VM_STATS, "/v1/vms/", "/stats",
                     "GET /v1/vms/{id}/stats (asks the VM's host; only if it runs)"},
    [LM_SIZES] = {"sizes", 10, LK_SIZES, "/v1/sizes", NULL, "GET /v1/sizes"},
    [LM_IMAGES] = {"images", 10, LK_IMAGES, "/v1/images", NULL, "GET /v1/images"},
    [LM_HOSTS] = {"hosts", 10, LK_HOSTS, "/v1/hosts", NULL, "GET /v1/hosts"},
    [LM_OPS] = {"operations", 10, LK_OPS, "/v1/operations", NULL, "GET /v1/operations"},
    [LM_EVENTS] = {"events", 10, LK_EVENTS, "/v1/events", NULL,
                   "GET /v1/events (a page, no follow)"},
    [LM_METRICS] = {"metrics", 5, LK_METRICS, "/metrics", NULL, "GET /metrics"},
    [LM_SIZE_WRITE] = {"size-write", 5, LK_SIZE_CREATE, "/v1/sizes", NULL,
                       "POST /v1/sizes, then DELETE it (two requests)"},
    [LM_KEY_WRITE] = {"key-write", 5, LK_KEY_CREATE, "/v1/ssh-keys", NULL,
                      "POST /v1/ssh-keys (a new ed25519 key), then DELETE it"},
};

static void total(load_mix *m)
{
    m->total = 0;
    for (int i = 0; i < LM_COUNT; i++)
        m->total += m->weight[i];
}

void load_mix_default(load_mix *m)
{
    for (int i = 0; i < LM_COUNT; i++)
        m->weight[i] = entries[i].weight;
    total(m);
}

void load_mix_drop(load_mix *m, int entry)
{
    m->weight[entry] = 0;
    total(m);
}

static int find_entry(const char *name, size_t len)
{
    for (int i = 0; i < LM_COUNT; i++)
        if (strlen(entries[i].name) == len && strncmp(entries[i].name, name, len) == 0)
            return i;
    return -1;
}

int load_mix_parse(load_mix *m, const char *spec, char *why, size_t whylen)
{
    memset(m, 0, sizeof(*m));
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        int e = eq ? find_entry(p, (size_t)(eq - p)) : -1;
        char *end = NULL;
        unsigned long w = eq ? strtoul(eq + 1, &end, 10) : 0;
        if (e < 0 || end == eq + 1 || end != p + len || w > 1000000 || eq[1] == '-') {
            snprintf(why, whylen,
                     "--mix entry '%.*s' is not NAME=WEIGHT with a known NAME and a weight "
                     "from 0 to 1000000 (see --help)",
                     (int)len, p);
            return -1;
        }
        m->weight[e] = (unsigned)w;
        p += len + (p[len] == ',');
    }
    total(m);
    if (m->total == 0) {
        snprintf(why, whylen, "--mix '%s' gives every entry weight 0: nothing to ask", spec);
        return -1;
    }
    return 0;
}

void load_mix_print(const load_mix *m, FILE *out)
{
    for (int i = 0, first = 1; i < LM_COUNT; i++) {
        if (m->weight[i] == 0)
            continue;
        fprintf(out, "%s%s=%u", first ? "" : " ", entries[i].name, m->weight[i]);
        first = 0;
    }
}

void load_mix_usage(FILE *out)
{
    for (int i = 0; i < LM_COUNT; i++)
        fprintf(out, "    %-11s %3u  %s\n", entries[i].name, entries[i].weight, entries[i].help);
}

/* xorshift64*: a client's own stream of numbers, no locks, no libc state. */
static uint64_t next_rand(load_walker *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void load_walker_init(load_walker *w, unsigned id, uint64_t seed)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->rng = (seed ^ (0x9E3779B97F4A7C15ULL * (id + 1))) | 1;
    w->follow_kind = -1;
}

static void base64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        *out++ = tab[v >> 18 & 63];
        *out++ = tab[v >> 12 & 63];
        *out++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *out++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *out = '\0';
}

/* An OpenSSH ed25519 public key line with 32 bytes of the client's stream:
 * the control plane checks the wire format, not the curve point, and
 * every key must differ (it refuses a fingerprint it stores already). */
static void make_key(load_walker *w, char *out)
{
    unsigned char wire[4 + 11 + 4 + 32] = {0,   0,   0,   11,  's', 's', 'h', '-', 'e', 'd',
                                           '2', '5', '5', '1', '9', 0,   0,   0,   32};
    for (size_t i = 19; i < sizeof(wire); i += 8) {
        uint64_t r = next_rand(w);
        memcpy(wire + i, &r, sizeof(wire) - i < 8 ? sizeof(wire) - i : 8);
    }
    char b64[((sizeof(wire) + 2) / 3) * 4 + 1];
    base64(wire, sizeof(wire), b64);
    sprintf(out, "ssh-ed25519 %s load@cumulus", b64);
}

static void set(load_req *r, int kind, const char *method, long expect)
{
    r->kind = kind;
    r->method = method;
    r->expect = expect;
    r->body[0] = '\0';
}

void load_next(const load_mix *m, const char *vm, load_walker *w, load_req *r)
{
    if (w->follow_kind >= 0) {
        set(r, w->follow_kind, "DELETE", 204);
        snprintf(r->path, sizeof(r->path), "%s", w->follow_path);
        w->follow_kind = -1;
        return;
    }
    unsigned pick = (unsigned)(next_rand(w) % m->total);
    int e = 0;
    while (pick >= m->weight[e])
        pick -= m->weight[e++];
    const struct entry *en = &entries[e];
    set(r, en->kind, "GET", 200);
    snprintf(r->path, sizeof(r->path), "%s%s%s", en->path, en->after_vm ? vm : "",
             en->after_vm ? en->after_vm : "");
    if (e != LM_SIZE_WRITE && e != LM_KEY_WRITE)
        return;
    /* A name no other client and no other run uses: pid, client, step. */
    char name[64], key[160];
    snprintf(name, sizeof(name), "load-%ld-%u-%lu", (long)getpid(), w->id, ++w->seq);
    set(r, en->kind, "POST", 201);
    if (e == LM_SIZE_WRITE) {
        snprintf(r->body, sizeof(r->body),
                 "{\"name\":\"%s\",\"vcpus\":1,\"memory_mib\":128,\"disk_gib\":1}", name);
    } else {
        make_key(w, key);
        snprintf(r->body, sizeof(r->body), "{\"name\":\"%s\",\"public_key\":\"%s\"}", name, key);
    }
    /* What the next step deletes, if this one succeeds (load_done). */
    snprintf(w->follow_path, sizeof(w->follow_path), "%s/%s", en->path, name);
}

void load_done(load_walker *w, const load_req *r, int ok)
{
    if (ok && r->kind == LK_SIZE_CREATE)
        w->follow_kind = LK_SIZE_DELETE;
    else if (ok && r->kind == LK_KEY_CREATE)
        w->follow_kind = LK_KEY_DELETE;
}
