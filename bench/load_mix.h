/* load_mix.h: what bench-load-client asks for — the request kinds, their
 * weights (--mix) and the next request of one client.
 *
 * A client picks a mix entry by weight at each step.  Reads are one
 * request; a write is a pair (create, then delete what was created, as
 * the client's next request), so the database does not grow over a long
 * run.  Writes never boot a guest: sizes and SSH keys only.
 *
 * No I/O here: the client (load_client.c) sends what this builds. */
#ifndef CUMULUS_BENCH_LOAD_MIX_H
#define CUMULUS_BENCH_LOAD_MIX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Report kinds: one row each in the report (load_stats.h). */
enum {
    LK_VMS,
    LK_VM,
    LK_VM_STATS,
    LK_SIZES,
    LK_IMAGES,
    LK_HOSTS,
    LK_OPS,
    LK_EVENTS,
    LK_METRICS,
    LK_SIZE_CREATE,
    LK_SIZE_DELETE,
    LK_KEY_CREATE,
    LK_KEY_DELETE,
    LK_COUNT
};
extern const char *const load_kind_names[LK_COUNT];

/* Mix entries: what --mix names and a client picks among. */
enum {
    LM_VMS,
    LM_VM,
    LM_VM_STATS,
    LM_SIZES,
    LM_IMAGES,
    LM_HOSTS,
    LM_OPS,
    LM_EVENTS,
    LM_METRICS,
    LM_SIZE_WRITE,
    LM_KEY_WRITE,
    LM_COUNT
};

typedef struct load_mix {
    unsigned weight[LM_COUNT];
    unsigned total;
} load_mix;

void load_mix_default(load_mix *m);
/* "vms=20,vm=10,size-write=5": only the entries named, the others 0.
 * Returns -1 with the reason in `why` on a bad spec. */
int load_mix_parse(load_mix *m, const char *spec, char *why, size_t whylen);
/* Sets an entry's weight to 0 (no VM to ask about, say). */
void load_mix_drop(load_mix *m, int entry);
/* "vms=15 vm=10 ..." on one line, for the report's header. */
void load_mix_print(const load_mix *m, FILE *out);
/* The --help text's list of entries. */
void load_mix_usage(FILE *out);

typedef struct load_req {
    int kind;           /* LK_* */
    const char *method; /* "GET", "POST", "DELETE" */
    char path[192];     /* after the base URL: "/v1/vms" */
    char body[256];     /* JSON for a POST, else empty */
    long expect;        /* the status that means success */
} load_req;

/* One client's walk through the mix. */
typedef struct load_walker {
    uint64_t rng;
    unsigned id;
    unsigned long seq;
    int follow_kind;       /* LK_* of the delete owed, or -1 */
    char follow_path[160]; /* its path */
} load_walker;

void load_walker_init(load_walker *w, unsigned id, uint64_t seed);
/* The client's next request: the delete it owes, else a pick by weight.
 * `vm` is the VM's id for the entries that need one. */
void load_next(const load_mix *m, const char *vm, load_walker *w, load_req *r);
/* After `r` ended: a create that succeeded owes its delete. */
void load_done(load_walker *w, const load_req *r, int ok);

#endif
