/* metrics.c: see metrics.h.  Series live in a small open hash per metric
 * (FNV-1a of the label values), so an update of a busy counter costs a
 * lock, a hash and a few string compares; rendering walks them in the
 * order they were made. */
#define _GNU_SOURCE
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

static const char *const type_names[] = {"counter", "gauge", "histogram"};

#define NBUCKETS_HASH 64 /* hash heads per metric; chains stay short for our label sets */

typedef struct series {
    struct series *next_hash, *next_order;
    uint64_t hash;
    char *values[METRICS_MAX_LABELS];
    double value;      /* counter, gauge; a histogram's sum */
    uint64_t count;    /* histogram */
    uint64_t *buckets; /* histogram: observations per bucket (not cumulative); nbounds + 1 */
} series;

struct metric {
    struct metric *next;
    metric_type type;
    char *name, *help;
    size_t nlabels;
    char *labels[METRICS_MAX_LABELS];
    size_t nbounds;
    double *bounds;
    pthread_mutex_t lock; /* guards the series */
    series *hash[NBUCKETS_HASH];
    series *first, *last;
    size_t nseries;
};

struct metrics_registry {
    pthread_mutex_t lock; /* guards the list */
    metric *first, *last;
};

const double metrics_latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,  0.5,    1,     2.5,  5,     10};
const size_t metrics_latency_nbuckets =
    sizeof(metrics_latency_buckets) / sizeof(metrics_latency_buckets[0]);

static void *must(void *p)
{
    if (p == NULL)
        abort();
    return p;
}

/* ---- registry ------------------------------------------------------- */

metrics_registry *metrics_registry_new(void)
{
    metrics_registry *r = must(calloc(1, sizeof(*r)));
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void series_free(series *s, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        free(s->values[i]);
    free(s->buckets);
    free(s);
}

static void metric_free(metric *m)
{
    for (series *s = m->first, *next; s; s = next) {
        next = s->next_order;
        series_free(s, m->nlabels);
    }
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    pthread_mutex_destroy(&m->lock);
    free(m->bounds);
    free(m->name);
    free(m->help);
    free(m);
}

void metrics_registry_free(metrics_registry *r)
{
    if (r == NULL)
        return;
    for (metric *m = r->first, *next; m; m = next) {
        next = m->next;
        metric_free(m);
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

metrics_registry *metrics_default(void)
{
    /* Static, so it is reachable for ever (no leak report) and needs no
     * initialisation order. */
    static metrics_registry reg = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL};
    return &reg;
}

/* The existing metric of that name, checked against what the caller
 * expects, or NULL.  Called with the registry locked. */
static metric *find_metric(metrics_registry *r, const char *name, metric_type type, size_t nlabels,
                           const char *const labels[])
{
    for (metric *m = r->first; m; m = m->next) {
        if (strcmp(m->name, name) != 0)
            continue;
        int same = m->type == type && m->nlabels == nlabels;
        for (size_t i = 0; same && i < nlabels; i++)
            same = strcmp(m->labels[i], labels[i]) == 0;
        if (!same) {
            fprintf(stderr, "metrics: '%s' registered twice with another type or labels\n", name);
            abort();
        }
        return m;
    }
    return NULL;
}

static metric *get_or_create(metrics_registry *r, const char *name, const char *help,
                             metric_type type, size_t nlabels, const char *const labels[],
                             size_t nbounds, const double bounds[])
{
    if (nlabels > METRICS_MAX_LABELS) {
        fprintf(stderr, "metrics: '%s' has %zu labels, at most %d are allowed\n", name, nlabels,
                METRICS_MAX_LABELS);
        abort();
    }
    pthread_mutex_lock(&r->lock);
    metric *m = find_metric(r, name, type, nlabels, labels);
    if (m == NULL) {
        m = must(calloc(1, sizeof(*m)));
        m->type = type;
        m->name = must(strdup(name));
        m->help = must(strdup(help));
        m->nlabels = nlabels;
        for (size_t i = 0; i < nlabels; i++)
            m->labels[i] = must(strdup(labels[i]));
        if (type == METRIC_HISTOGRAM) {
            m->nbounds = nbounds;
            m->bounds = must(malloc((nbounds ? nbounds : 1) * sizeof(double)));
            memcpy(m->bounds, bounds, nbounds * sizeof(double));
        }
        pthread_mutex_init(&m->lock, NULL);
        if (r->last)
            r->last->next = m;
        else
            r->first = m;
        r->last = m;
    }
    pthread_mutex_unlock(&r->lock);
    return m;
}

metric *metrics_counter(metrics_registry *r, const char *name, const char *help, size_t nlabels,
                        const char *const labels[])
{
    return get_or_create(r, name, help, METRIC_COUNTER, nlabels, labels, 0, NULL);
}

metric *metrics_gauge(metrics_registry *r, const char *name, const char *help, size_t nlabels,
                      const char *const labels[])
{
    return get_or_create(r, name, help, METRIC_GAUGE, nlabels, labels, 0, NULL);
}

metric *metrics_histogram(metrics_registry *r, const char *name, const char *help, size_t nlabels,
                          const char *const labels[], size_t nbounds, const double bounds[])
{
    return get_or_create(r, name, help, METRIC_HISTOGRAM, nlabels, labels, nbounds, bounds);
}

/* ---- series --------------------------------------------------------- */

static uint64_t hash_values(size_t n, const char *const values[])
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull; /* ("a","bc") and ("ab","c") differ */
    }
    return h;
}

/* The series of these values, made if new; NULL past METRICS_MAX_SERIES.
 * Called with the metric locked. */
static series *find_series(metric *m, const char *const values[])
{
    uint64_t h = hash_values(m->nlabels, values);
    series **head = &m->hash[h % NBUCKETS_HASH];
    for (series *s = *head; s; s = s->next_hash) {
        if (s->hash != h)
            continue;
        size_t i = 0;
        while (i < m->nlabels && strcmp(s->values[i], values[i]) == 0)
            i++;
        if (i == m->nlabels)
            return s;
    }
    if (m->nseries >= METRICS_MAX_SERIES)
        return NULL;
    series *s = must(calloc(1, sizeof(*s)));
    s->hash = h;
    for (size_t i = 0; i < m->nlabels; i++)
        s->values[i] = must(strdup(values[i] ? values[i] : ""));
    if (m->type == METRIC_HISTOGRAM)
        s->buckets = must(calloc(m->nbounds + 1, sizeof(uint64_t)));
    s->next_hash = *head;
    *head = s;
    if (m->last)
        m->last->next_order = s;
    else
        m->first = s;
    m->last = s;
    m->nseries++;
    return s;
}

static void update(metric *m, const char *const values[], double v, int set)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    series *s = find_series(m, values);
    if (s && set)
        s->value = v;
    else if (s)
        s->value += v;
    pthread_mutex_unlock(&m->lock);
}

void metric_add(metric *m, const char *const values[], double v)
{
    if (m && m->type == METRIC_COUNTER && !(v >= 0))
        return;
    update(m, values, v, 0);
}

void metric_set(metric *m, const char *const values[], double v)
{
    update(m, values, v, 1);
}

void metric_observe(metric *m, const char *const values[], double v)
{
    if (m == NULL || m->type != METRIC_HISTOGRAM)
        return;
    pthread_mutex_lock(&m->lock);
    series *s = find_series(m, values);
    if (s) {
        size_t b = 0;
        while (b < m->nbounds && !(v <= m->bounds[b]))
            b++;
        s->buckets[b]++;
        s->count++;
        s->value += v;
    }
    pthread_mutex_unlock(&m->lock);
}

/* ---- rendering ------------------------------------------------------ */

/* Prometheus' spelling of a float into buf[32]: +Inf, -Inf, NaN, else
 * the shortest %g that reads back to the same double. */
static const char *format_number(char *buf, size_t len, double v)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

/* HELP text escapes backslash and newline; label values also the double
 * quote (exposition format 0.0.4). */
static void put_escaped(FILE *f, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else if (quote && *s == '"')
            fputs("\\\"", f);
        else
            fputc(*s, f);
    }
}

/* name{a="x",b="y"[,le="0.5"]} value */
static void put_sample(FILE *f, const metric *m, const char *suffix, const series *s,
                       const char *le, double value)
{
    fprintf(f, "%s%s", m->name, suffix);
    if (m->nlabels > 0 || le) {
        fputc('{', f);
        for (size_t i = 0; i < m->nlabels; i++) {
            fprintf(f, "%s%s=\"", i ? "," : "", m->labels[i]);
            put_escaped(f, s->values[i], 1);
            fputc('"', f);
        }
        if (le)
            fprintf(f, "%sle=\"%s\"", m->nlabels ? "," : "", le);
        fputc('}', f);
    }
    char num[32];
    fprintf(f, " %s\n", format_number(num, sizeof(num), value));
}

static void put_histogram(FILE *f, const metric *m, const series *s)
{
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= m->nbounds; b++) {
        char num[32];
        const char *le = b < m->nbounds ? format_number(num, sizeof(num), m->bounds[b]) : "+Inf";
        cumulative += s->buckets[b];
        put_sample(f, m, "_bucket", s, le, (double)cumulative);
    }
    put_sample(f, m, "_sum", s, NULL, s->value);
    put_sample(f, m, "_count", s, NULL, (double)s->count);
}

static void render_metric(FILE *f, metric *m)
{
    fprintf(f, "# HELP %s ", m->name);
    put_escaped(f, m->help, 0);
    fprintf(f, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
    pthread_mutex_lock(&m->lock);
    for (const series *s = m->first; s; s = s->next_order) {
        if (m->type == METRIC_HISTOGRAM)
            put_histogram(f, m, s);
        else
            put_sample(f, m, "", s, NULL, s->value);
    }
    pthread_mutex_unlock(&m->lock);
}

char *metrics_render(metrics_registry *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = must(open_memstream(&text, &len));
    pthread_mutex_lock(&r->lock);
    for (metric *m = r->first; m; m = m->next)
        render_metric(f, m);
    pthread_mutex_unlock(&r->lock);
    if (fclose(f) != 0)
        abort(); /* out of memory */
    return text;
}

/* ---- the HTTP server's metrics -------------------------------------- */

static metric *m_requests, *m_duration, *m_streams;
static pthread_once_t http_once = PTHREAD_ONCE_INIT;

static void http_metrics_init(void)
{
    static const char *const labels[] = {"method", "route", "status"};
    metrics_registry *r = metrics_default();
    m_requests =
        metrics_counter(r, "cumulus_http_requests_total",
                        "HTTP requests answered, by method, route pattern and status.", 3, labels);
    m_duration = metrics_histogram(r, "cumulus_http_request_duration_seconds",
                                   "Time to answer an HTTP request (a stream: until it began), by "
                                   "method and route pattern.",
                                   2, labels, metrics_latency_nbuckets, metrics_latency_buckets);
    m_streams = metrics_gauge(r, "cumulus_http_streams",
                              "Answers being streamed now (e.g. event streams), by route pattern.",
                              1, labels + 1);
}

static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "other";
}

void metrics_http_init(void)
{
    pthread_once(&http_once, http_metrics_init);
}

void metrics_http_request(const char *method, const char *route, int status, double seconds)
{
    pthread_once(&http_once, http_metrics_init);
    char code[16];
    snprintf(code, sizeof(code), "%d", status);
    const char *labels[] = {method_label(method), route ? route : "unmatched", code};
    metric_add(m_requests, labels, 1);
    metric_observe(m_duration, labels, seconds); /* the first two labels */
}

void metrics_http_stream(const char *route, double delta)
{
    pthread_once(&http_once, http_metrics_init);
    const char *labels[] = {route ? route : "unmatched"};
    metric_add(m_streams, labels, delta);
}

/* ---- the HTTP answer ------------------------------------------------ */

/* The text is malloc'd and http_response.raw is sent as static memory, so
 * it goes out as a (short) stream whose end frees it. */
typedef struct text_body {
    char *text;
    size_t len;
} text_body;

static ssize_t text_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    text_body *t = cls;
    if (pos >= t->len)
        return HTTP_STREAM_END;
    size_t n = t->len - (size_t)pos < max ? t->len - (size_t)pos : max;
    memcpy(buf, t->text + pos, n);
    return (ssize_t)n;
}

static void text_free(void *cls)
{
    text_body *t = cls;
    free(t->text);
    free(t);
}

void metrics_respond(http_response *resp, char *figures)
{
    char *counted = metrics_render(metrics_default()), *text = NULL;
    if (asprintf(&text, "%s%s", counted, figures ? figures : "") < 0)
        abort();
    free(counted);
    free(figures);
    text_body *t = must(malloc(sizeof(*t)));
    t->text = text;
    t->len = strlen(text);
    resp->stream = text_read;
    resp->stream_cls = t;
    resp->stream_free = text_free;
    resp->content_type = METRICS_CONTENT_TYPE;
}
