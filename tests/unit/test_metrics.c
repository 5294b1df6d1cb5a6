/* test_metrics.c: the metrics registry renders the Prometheus text format
 * 0.0.4 exactly: HELP and TYPE before the samples, label values escaped,
 * histogram buckets cumulative with +Inf, _sum and _count; updates from
 * several threads add up; the HTTP request labels stay a small set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static void counter_and_gauge(void **state)
{
    (void)state;
    metrics_registry *r = metrics_registry_new();
    static const char *const labels[] = {"method", "status"};
    metric *c = metrics_counter(r, "t_requests_total", "Requests.", 2, labels);
    metric_add(c, (const char *[]){"GET", "200"}, 1);
    metric_add(c, (const char *[]){"GET", "200"}, 2);
    metric_add(c, (const char *[]){"POST", "201"}, 1);
    metric_add(c, (const char *[]){"POST", "201"}, -5); /* counters never go down */
    metric *g = metrics_gauge(r, "t_temperature", "A gauge without labels.", 0, NULL);
    metric_set(g, NULL, 21.5);
    metric_add(g, NULL, -0.25);
    /* Get-or-create: the same metric again. */
    assert_ptr_equal(metrics_counter(r, "t_requests_total", "Requests.", 2, labels), c);

    char *text = metrics_render(r);
    assert_string_equal(text, "# HELP t_requests_total Requests.\n"
                              "# TYPE t_requests_total counter\n"
                              "t_requests_total{method=\"GET\",status=\"200\"} 3\n"
                              "t_requests_total{method=\"POST\",status=\"201\"} 1\n"
                              "# HELP t_temperature A gauge without labels.\n"
                              "# TYPE t_temperature gauge\n"
                              "t_temperature 21.25\n");
    free(text);
    metrics_registry_free(r);
}

static void escaping(void **state)
{
    (void)state;
    metrics_registry *r = metrics_registry_new();
    static const char *const labels[] = {"path"};
    metric *g =
        metrics_gauge(r, "t_odd", "Help with a \\ backslash\nand a newline \"quoted\".", 1, labels);
    metric_set(g, (const char *[]){"a\\b\"c\nd"}, 1);
    metric_set(g, (const char *[]){""}, 0.1);
    char *text = metrics_render(r);
    /* HELP escapes backslash and newline but not the quote; label values all three. */
    assert_string_equal(text,
                        "# HELP t_odd Help with a \\\\ backslash\\nand a newline \"quoted\".\n"
                        "# TYPE t_odd gauge\n"
                        "t_odd{path=\"a\\\\b\\\"c\\nd\"} 1\n"
                        "t_odd{path=\"\"} 0.1\n");
    free(text);
    metrics_registry_free(r);
}

static void histogram(void **state)
{
    (void)state;
    metrics_registry *r = metrics_registry_new();
    static const char *const labels[] = {"route"};
    static const double bounds[] = {0.01, 0.1, 1};
    metric *h = metrics_histogram(r, "t_seconds", "Latency.", 1, labels, 3, bounds);
    const char *v[] = {"/v1/vms/{id}"};
    metric_observe(h, v, 0.005);
    metric_observe(h, v, 0.01); /* le is inclusive */
    metric_observe(h, v, 0.5);
    metric_observe(h, v, 7);
    char *text = metrics_render(r);
    assert_string_equal(text, "# HELP t_seconds Latency.\n"
                              "# TYPE t_seconds histogram\n"
                              "t_seconds_bucket{route=\"/v1/vms/{id}\",le=\"0.01\"} 2\n"
                              "t_seconds_bucket{route=\"/v1/vms/{id}\",le=\"0.1\"} 2\n"
                              "t_seconds_bucket{route=\"/v1/vms/{id}\",le=\"1\"} 3\n"
                              "t_seconds_bucket{route=\"/v1/vms/{id}\",le=\"+Inf\"} 4\n"
                              "t_seconds_sum{route=\"/v1/vms/{id}\"} 7.515\n"
                              "t_seconds_count{route=\"/v1/vms/{id}\"} 4\n");
    free(text);
    metrics_registry_free(r);
}

static void histogram_without_labels_and_default_buckets(void **state)
{
    (void)state;
    metrics_registry *r = metrics_registry_new();
    metric *h = metrics_histogram(r, "t_lat", "L.", 0, NULL, metrics_latency_nbuckets,
                                  metrics_latency_buckets);
    metric_observe(h, NULL, 0.003);
    char *text = metrics_render(r);
    assert_non_null(strstr(text, "t_lat_bucket{le=\"0.001\"} 0\n"
                                 "t_lat_bucket{le=\"0.0025\"} 0\n"
                                 "t_lat_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(text, "t_lat_bucket{le=\"10\"} 1\n"
                                 "t_lat_bucket{le=\"+Inf\"} 1\n"
                                 "t_lat_sum 0.003\n"
                                 "t_lat_count 1\n"));
    free(text);
    metrics_registry_free(r);
}

static void *hammer(void *arg)
{
    metric *c = arg;
    for (int i = 0; i < 10000; i++)
        metric_add(c, (const char *[]){i % 2 ? "odd" : "even"}, 1);
    return NULL;
}

static void threads_add_up(void **state)
{
    (void)state;
    metrics_registry *r = metrics_registry_new();
    static const char *const labels[] = {"kind"};
    metric *c = metrics_counter(r, "t_total", "T.", 1, labels);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, c), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *text = metrics_render(r);
    assert_non_null(strstr(text, "t_total{kind=\"even\"} 20000\n"));
    assert_non_null(strstr(text, "t_total{kind=\"odd\"} 20000\n"));
    free(text);
    metrics_registry_free(r);
}

static void http_labels_stay_few(void **state)
{
    (void)state;
    metrics_http_request("GET", "/v1/vms/{id}", 200, 0.002);
    metrics_http_request("BREW", NULL, 404, 0.0001); /* a made-up method, no route */
    char *text = metrics_render(metrics_default());
    assert_non_null(strstr(
        text,
        "cumulus_http_requests_total{method=\"GET\",route=\"/v1/vms/{id}\",status=\"200\"} 1\n"));
    assert_non_null(strstr(
        text,
        "cumulus_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 1\n"));
    assert_non_null(strstr(text, "cumulus_http_request_duration_seconds_bucket{method=\"GET\","
                                 "route=\"/v1/vms/{id}\",le=\"0.0025\"} 1\n"));
    assert_null(strstr(text, "BREW"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counter_and_gauge),
        cmocka_unit_test(escaping),
        cmocka_unit_test(histogram),
        cmocka_unit_test(histogram_without_labels_and_default_buckets),
        cmocka_unit_test(threads_add_up),
        cmocka_unit_test(http_labels_stay_few),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
