/* load_stats.c: see load_stats.h. */
#define _POSIX_C_SOURCE 200809L
#include "load_stats.h"

#include <stdlib.h>
#include <string.h>

#define MAX_GROUPS 64 /* failure groups kept apart; more are counted as one */
#define BODY_KEEP 300 /* bytes of a failure's first body kept */
#define REASON_MAX 160

typedef struct samples {
    uint32_t *us;
    size_t n, cap;
    size_t failed;
} samples;

typedef struct group {
    int kind;
    char reason[REASON_MAX];
    size_t count;
    char body[BODY_KEEP + 1];
} group;

struct load_stats {
    size_t nkinds;
    const char *const *names;
    samples *kinds;
    group groups[MAX_GROUPS];
    size_t ngroups;
    size_t other; /* failures past MAX_GROUPS groups */
};

load_stats *load_stats_new(size_t nkinds, const char *const *names)
{
    load_stats *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->kinds = calloc(nkinds, sizeof(samples))) == NULL) {
        free(s);
        return NULL;
    }
    s->nkinds = nkinds;
    s->names = names;
    return s;
}

void load_stats_free(load_stats *s)
{
    if (s == NULL)
        return;
    for (size_t k = 0; k < s->nkinds; k++)
        free(s->kinds[k].us);
    free(s->kinds);
    free(s);
}

int load_stats_add(load_stats *s, int kind, uint32_t usec)
{
    samples *k = &s->kinds[kind];
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 4096;
        uint32_t *us = realloc(k->us, cap * sizeof(*us));
        if (us == NULL)
            return -1;
        k->us = us;
        k->cap = cap;
    }
    k->us[k->n++] = usec;
    return 0;
}

void load_stats_fail(load_stats *s, int kind, const char *reason, const char *body, size_t len)
{
    s->kinds[kind].failed++;
    for (size_t i = 0; i < s->ngroups; i++) {
        if (s->groups[i].kind == kind && strcmp(s->groups[i].reason, reason) == 0) {
            s->groups[i].count++;
            return;
        }
    }
    if (s->ngroups == MAX_GROUPS) {
        s->other++;
        return;
    }
    group *g = &s->groups[s->ngroups++];
    g->kind = kind;
    g->count = 1;
    snprintf(g->reason, sizeof(g->reason), "%s", reason);
    size_t n = 0; /* on one line, each run of white space one space */
    for (size_t i = 0; body && i < len && n < BODY_KEEP; i++) {
        int space = body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t';
        if (!space || (n > 0 && g->body[n - 1] != ' '))
            g->body[n++] = space ? ' ' : body[i];
    }
    g->body[n - (n > 0 && g->body[n - 1] == ' ')] = '\0';
}

size_t load_stats_requests(const load_stats *s)
{
    size_t n = 0;
    for (size_t k = 0; k < s->nkinds; k++)
        n += s->kinds[k].n + s->kinds[k].failed;
    return n;
}

size_t load_stats_failures(const load_stats *s)
{
    size_t n = 0;
    for (size_t k = 0; k < s->nkinds; k++)
        n += s->kinds[k].failed;
    return n;
}

static int by_value(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank on sorted samples, in ms. */
static double pct(const uint32_t *us, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(p * (double)n + 0.999999);
    return us[(rank ? rank : 1) - 1] / 1000.0;
}

/* One line of the table: `requests` sent, `failed` of them, and the
 * percentiles of `n` sorted latencies. */
static void row(FILE *out, const char *name, size_t requests, size_t failed, const uint32_t *us,
                size_t n, double seconds)
{
    fprintf(out, "%-28s %9zu %7zu %9.1f %9.2f %9.2f %9.2f %9.2f\n", name, requests, failed,
            seconds > 0 ? (double)requests / seconds : 0, pct(us, n, 0.50), pct(us, n, 0.90),
            pct(us, n, 0.99), pct(us, n, 1.0));
}

void load_stats_report(load_stats *s, FILE *out, double seconds)
{
    size_t all_n = 0, all_failed = 0, at = 0;
    for (size_t k = 0; k < s->nkinds; k++)
        all_n += s->kinds[k].n;
    uint32_t *all = malloc((all_n ? all_n : 1) * sizeof(*all));
    fprintf(out, "%-28s %9s %7s %9s %9s %9s %9s %9s\n", "kind", "requests", "errors", "req/s",
            "p50_ms", "p90_ms", "p99_ms", "max_ms");
    for (size_t k = 0; k < s->nkinds; k++) {
        samples *c = &s->kinds[k];
        all_failed += c->failed;
        if (c->n + c->failed == 0)
            continue;
        if (c->n) /* qsort and memcpy want pointers, even for nothing */
            qsort(c->us, c->n, sizeof(*c->us), by_value);
        row(out, s->names[k], c->n + c->failed, c->failed, c->us, c->n, seconds);
        if (all && c->n)
            memcpy(all + at, c->us, c->n * sizeof(*all));
        at += c->n;
    }
    size_t sorted = all ? all_n : 0; /* out of memory: totals without percentiles */
    if (all)
        qsort(all, all_n, sizeof(*all), by_value);
    row(out, "all", all_n + all_failed, all_failed, all, sorted, seconds);
    if (all_failed) {
        fprintf(out, "\nerrors by reason:\n");
        for (size_t i = 0; i < s->ngroups; i++) {
            group *g = &s->groups[i];
            fprintf(out, "  %zu x %s: %s%s%s\n", g->count, s->names[g->kind], g->reason,
                    g->body[0] ? "; first body: " : "", g->body);
        }
        if (s->other)
            fprintf(out, "  %zu more in other groups (only %d are kept apart)\n", s->other,
                    MAX_GROUPS);
    }
    fprintf(out,
            "result requests=%zu rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
            "errors=%zu\n",
            all_n + all_failed, seconds > 0 ? (double)(all_n + all_failed) / seconds : 0,
            pct(all, sorted, 0.50), pct(all, sorted, 0.90), pct(all, sorted, 0.99),
            pct(all, sorted, 1.0), all_failed);
    free(all);
}
