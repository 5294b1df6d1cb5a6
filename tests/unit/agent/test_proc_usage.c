/* test_proc_usage.c: agent/proc_usage.c.  The parsers on sample text: a
 * stat line whose command name holds spaces and parentheses (fields are
 * counted from the last ')'), ticks to seconds, statm pages to bytes,
 * and lines cut short refused by name.  Then the real thing on this
 * process (its CPU time grows as it works) and on a pid that is gone. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc_usage.h"

/* A real line from a QEMU, with its command name made awkward: utime is
 * 1234 ticks and stime 566. */
static const char stat_line[] =
    "4242 (qemu-system-x86 (x)) S 1 4241 4241 0 -1 4194624 51230 0 12 0 1234 566 0 0 20 0 "
    "3 0 987654 1460715520 34567 18446744073709551615 1 1 0 0 0 0 0 4096 17123 0 0 0 17 1 0 "
    "0 0 0 0\n";

static void stat_counts_fields_from_the_last_parenthesis(void **state)
{
    (void)state;
    double cpu = -1;
    cu_error *err = NULL;
    assert_int_equal(proc_usage_parse_stat(stat_line, 100, &cpu, &err), 0);
    assert_null(err);
    assert_float_equal(cpu, 18.0, 1e-9); /* (1234 + 566) / 100 */
    assert_int_equal(proc_usage_parse_stat(stat_line, 250, &cpu, &err), 0);
    assert_float_equal(cpu, 7.2, 1e-9);
    /* A name that is only ") (": still the last ')' that counts. */
    static const char odd[] = "7 () ( ) ) R 1 7 7 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 1 1\n";
    assert_int_equal(proc_usage_parse_stat(odd, 100, &cpu, &err), 0);
    assert_float_equal(cpu, 0.1, 1e-9);
}

static void stat_cut_short_is_refused(void **state)
{
    (void)state;
    double cpu = -1;
    static const char *const bad[] = {
        "", "4242 qemu S 1 2 3",                                     /* no parentheses */
        "4242 (qemu) S 1 4241 4241 0 -1 4194624 51230 0 12 0 1234",  /* no stime */
        "4242 (qemu) S 1 4241 4241 0 -1 4194624 51230 0 12 0 x 566", /* not a number */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cu_error *err = NULL;
        assert_int_equal(proc_usage_parse_stat(bad[i], 100, &cpu, &err), -1);
        assert_non_null(err);
        assert_non_null(strstr(err->message, "utime and stime"));
        cu_error_free(err);
    }
    cu_error *err = NULL;
    assert_int_equal(proc_usage_parse_stat(stat_line, 0, &cpu, &err), -1);
    cu_error_free(err);
    assert_float_equal(cpu, -1, 0); /* untouched on failure */
}

static void statm_is_resident_pages_times_page_size(void **state)
{
    (void)state;
    long long rss = -1;
    cu_error *err = NULL;
    assert_int_equal(
        proc_usage_parse_statm("356620 34567 2050 1869 0 120000 0\n", 4096, &rss, &err), 0);
    assert_int_equal(rss, 34567LL * 4096);
    assert_int_equal(proc_usage_parse_statm("10 3", 16384, &rss, &err), 0);
    assert_int_equal(rss, 3 * 16384);
    assert_int_equal(proc_usage_parse_statm("356620\n", 4096, &rss, &err), -1);
    assert_non_null(strstr(err->message, "resident pages"));
    cu_error_free(err);
    err = NULL;
    assert_int_equal(proc_usage_parse_statm("a b", 4096, &rss, &err), -1);
    cu_error_free(err);
}

static void sample_of_this_process_grows_with_work(void **state)
{
    (void)state;
    proc_usage before, after;
    cu_error *err = NULL;
    assert_int_equal(proc_usage_sample(getpid(), &before, &err), 0);
    assert_true(before.rss_bytes > 1024 * 1024);
    assert_true(before.cpu_seconds >= 0);
    /* Spin for 300 ms of CPU time. */
    struct timespec t0, t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 100000; i++)
            x += (unsigned long)i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 300);
    assert_int_equal(proc_usage_sample(getpid(), &after, &err), 0);
    assert_true(after.cpu_seconds - before.cpu_seconds >= 0.2);
}

static void sample_of_a_pid_that_is_gone(void **state)
{
    (void)state;
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    assert_true(child > 0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    proc_usage u;
    cu_error *err = NULL;
    assert_int_equal(proc_usage_sample(child, &u, &err), -1);
    assert_int_equal(err->status, 404);
    assert_string_equal(err->code, "process_gone");
    cu_error_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stat_counts_fields_from_the_last_parenthesis),
        cmocka_unit_test(stat_cut_short_is_refused),
        cmocka_unit_test(statm_is_resident_pages_times_page_size),
        cmocka_unit_test(sample_of_this_process_grows_with_work),
        cmocka_unit_test(sample_of_a_pid_that_is_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
