/* test_qmp.c: agent/qmp.c against a scripted fake QMP server (fake_qmp.h):
 * handshake, replies and error replies, events between a command and its
 * reply, timeouts closing the connection, bad greetings, malformed,
 * oversized and mismatched messages, waiting for events (seen earlier,
 * arriving later, or QEMU hanging up), query-status, several threads on one
 * connection.  The real QEMU is in test_qmp_qemu.c. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>

#include "cleanup.h"
#include "fake_qmp.h"
#include "qmp.h"

#define T 3000 /* ms: generous timeout where none is under test */

typedef struct fixture {
    fake_qmp fake;
    qmp *q;
    const void *param;   /* a table case (cmocka's initial state) */
    char events[16][32]; /* what the event handler saw */
    char first_data[256];
    int n_events;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL || fake_qmp_init(&fx->fake) < 0)
        return -1;
    fx->param = *state;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    qmp_close(fx->q);
    fake_qmp_cleanup(&fx->fake);
    free(fx);
    return 0;
}

static void on_event(void *opaque, const char *event, const json_t *data)
{
    fixture *fx = opaque;
    if (fx->n_events == 0 && data) {
        char *s = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
        snprintf(fx->first_data, sizeof(fx->first_data), "%s", s);
        free(s);
    }
    if (fx->n_events < 16)
        snprintf(fx->events[fx->n_events++], sizeof(fx->events[0]), "%s", event);
}

/* Connects to the fake (which must greet properly), with the event recorder. */
static void connect_fake(fixture *fx)
{
    _cleanup_error_ cu_error *err = NULL;
    fx->q = qmp_connect(fx->fake.path, T, &err);
    if (fx->q == NULL)
        fail_msg("connect: %s", err->message);
    qmp_set_event_handler(fx->q, on_event, fx);
}

/* Closes the client and checks the fake played its whole script. */
static void finish(fixture *fx)
{
    qmp_close(fx->q);
    fx->q = NULL;
    fake_qmp_finish(&fx->fake);
    assert_string_equal(fx->fake.failure, "");
}

/* Runs `command` expecting failure with `code` and `needle` in the message. */
static void expect_failure(fixture *fx, const char *command, const char *code, const char *needle)
{
    _cleanup_error_ cu_error *err = NULL;
    json_t *r = qmp_execute(fx->q, command, NULL, T, &err);
    assert_null(r);
    assert_non_null(err);
    assert_string_equal(err->code, code);
    if (strstr(err->message, needle) == NULL)
        fail_msg("'%s' not in '%s'", needle, err->message);
}

static long long elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000LL + (now.tv_nsec - since->tv_nsec) / 1000000;
}

#define EV_SHUTDOWN                                                                                \
    "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"SHUTDOWN\", "             \
    "\"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}\r\n"
#define EV_RESET "{\"event\": \"RESET\", \"data\": {\"guest\": false}, \"timestamp\": {}}\n"
#define EV_STOP "{\"event\": \"STOP\", \"timestamp\": {}}\n"
#define R_EMPTY "{\"return\": {}}"
#define R_RUNNING                                                                                  \
    "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}"

/* ---- handshake ---------------------------------------------------------- */

static void test_handshake(void **state)
{
    fixture *fx = *state;
    assert_int_equal(fake_qmp_start(&fx->fake, NULL, 0), 0);
    connect_fake(fx);
    finish(fx);
    assert_true(fx->fake.saw_eof);
}

typedef struct bad_case {
    fake_qmp_step step;   /* for replies */
    const char *greeting; /* for greetings */
    const char *code, *needle;
} bad_case;

static const bad_case greet_none = {
    .greeting = "", .code = QMP_E_TIMEOUT, .needle = "no QMP greeting"};
static const bad_case greet_wrong = {
    .greeting = "{\"hello\": {}}\n", .code = QMP_E_PROTOCOL, .needle = "did not greet"};
static const bad_case greet_garbage = {
    .greeting = "SSH-2.0-OpenSSH_9.2\r\n", .code = QMP_E_PROTOCOL, .needle = "malformed"};

/* A fake greeting with the case's text: qmp_connect fails, and quickly. */
static void test_bad_greeting(void **state)
{
    fixture *fx = *state;
    const bad_case *c = fx->param;
    fx->fake.greeting = c->greeting;
    fx->fake.manual_caps = true;
    assert_int_equal(fake_qmp_start(&fx->fake, NULL, 0), 0);
    _cleanup_error_ cu_error *err = NULL;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_null(qmp_connect(fx->fake.path, 300, &err));
    assert_true(elapsed_ms(&t0) < 2000);
    assert_string_equal(err->code, c->code);
    if (strstr(err->message, c->needle) == NULL)
        fail_msg("'%s' not in '%s'", c->needle, err->message);
    fake_qmp_finish(&fx->fake);
    assert_string_equal(fx->fake.failure, "");
}

static void test_capabilities_refused(void **state)
{
    fixture *fx = *state;
    static const fake_qmp_step steps[] = {
        {.expect = "qmp_capabilities",
         .reply = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no thanks\"}}"}};
    fx->fake.manual_caps = true;
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    _cleanup_error_ cu_error *err = NULL;
    assert_null(qmp_connect(fx->fake.path, T, &err));
    assert_non_null(strstr(err->message, "QMP handshake"));
    assert_non_null(strstr(err->message, "GenericError: no thanks"));
    fake_qmp_finish(&fx->fake);
    assert_string_equal(fx->fake.failure, "");
}

static void test_no_socket(void **state)
{
    _cleanup_error_ cu_error *err = NULL;
    assert_null(qmp_connect("/nonexistent/qmp.sock", T, &err));
    assert_non_null(strstr(err->message, "'/nonexistent/qmp.sock'"));
}

/* ---- commands ------------------------------------------------------------- */

static void test_command_reply(void **state)
{
    fixture *fx = *state;
    static const fake_qmp_step steps[] = {
        {.expect = "query-version",
         .reply = "{\"return\": {\"qemu\": {\"major\": 7, \"minor\": 2, \"micro\": 0}}}"},
        {.expect = "device_del", .reply = R_EMPTY}};
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    connect_fake(fx);
    _cleanup_error_ cu_error *err = NULL;
    json_auto_t *v = qmp_execute(fx->q, "query-version", NULL, T, &err);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "qemu"), "major")), 7);
    json_auto_t *r = qmp_execute(fx->q, "device_del", json_pack("{s:s}", "id", "net0"), T, &err);
    assert_non_null(r);
    assert_true(json_is_object(r) && json_object_size(r) == 0);
    finish(fx);
    assert_string_equal(fx->fake.last_args, "{\"id\":\"net0\"}");
}

static void test_error_reply(void **state)
{
    fixture *fx = *state;
    static const fake_qmp_step steps[] = {
        {.expect = "nope",
         .reply = "{\"error\": {\"class\": \"CommandNotFound\", "
                  "\"desc\": \"The command nope has not been found\"}}"},
        {.expect = "query-status", .reply = R_RUNNING}};
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    connect_fake(fx);
    expect_failure(fx, "nope", QMP_E_COMMAND,
                   "'nope' failed: CommandNotFound: The command nope has not been found");
    char status[32];
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(qmp_query_status(fx->q, status, sizeof(status), T, &err), 0);
    assert_string_equal(status, "running");
    finish(fx);
}

static void test_error_reply_without_id(void **state)
{
    fixture *fx = *state;
    static const fake_qmp_step steps[] = {
        {.expect = "x",
         .flags = FAKE_RAW,
         .reply = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\n"}};
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    connect_fake(fx);
    expect_failure(fx, "x", QMP_E_COMMAND, "GenericError: JSON parse error");
    finish(fx);
}

static void test_events_before_reply(void **state)
{
    fixture *fx = *state;
    static const fake_qmp_step steps[] = {
        {.expect = "system_reset", .events = EV_RESET EV_STOP, .reply = R_EMPTY}};
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    connect_fake(fx);
    _cleanup_error_ cu_error *err = NULL;
    json_auto_t *r = qmp_execute(fx->q, "system_reset", NULL, T, &err);
    assert_non_null(r);
    assert_int_equal(fx->n_events, 2);
    assert_string_equal(fx->events[0], "RESET");
    assert_string_equal(fx->events[1], "STOP");
    assert_string_equal(fx->first_data, "{\"guest\":false}");
    assert_int_equal(qmp_wait_event(fx->q, "STOP", 0, &err), 1);
    finish(fx);
}

static void test_timeout_closes(void **state)
{
    fixture *fx = *state;
    static const fake_qmp_step steps[] = {
        {.expect = "query-status", .delay_ms = 400, .reply = R_RUNNING}};
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    connect_fake(fx);
    _cleanup_error_ cu_error *err = NULL;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_null(qmp_execute(fx->q, "query-status", NULL, 100, &err));
    long long took = elapsed_ms(&t0);
    assert_true(took >= 90 && took < 400);
    assert_string_equal(err->code, QMP_E_TIMEOUT);
    assert_non_null(strstr(err->message, "within 100 ms"));
    /* the late reply must not answer this one: the connection is gone */
    expect_failure(fx, "query-status", QMP_E_CLOSED, "after an earlier error");
    finish(fx);
    assert_true(fx->fake.saw_eof);
}

/* The step's reply is bad in some way: the command fails with `code`,
 * `needle`, and the connection is closed afterwards. */
static void bad_reply(fixture *fx, const fake_qmp_step *step, const char *code, const char *needle)
{
    assert_int_equal(fake_qmp_start(&fx->fake, step, 1), 0);
    connect_fake(fx);
    expect_failure(fx, "query-status", code, needle);
    expect_failure(fx, "query-status", QMP_E_CLOSED, "is closed");
    finish(fx);
}

#define BAD_STEP(...)                                                                              \
    {                                                                                              \
        .expect = "query-status", __VA_ARGS__                                                      \
    }
static const bad_case bad_malformed = {BAD_STEP(.flags = FAKE_RAW, .reply = "{\"return\": {}, \n"),
                                       .code = QMP_E_PROTOCOL, .needle = "malformed QMP message"};
static const bad_case bad_not_object = {BAD_STEP(.flags = FAKE_RAW, .reply = "[1]\n"),
                                        .code = QMP_E_PROTOCOL, .needle = "not a JSON object"};
static const bad_case bad_neither = {BAD_STEP(.flags = FAKE_RAW, .reply = "{\"foo\": 1}\r\n"),
                                     .code = QMP_E_PROTOCOL, .needle = "neither a reply nor an"};
static const bad_case bad_oversized = {BAD_STEP(.flags = FAKE_OVERSIZED), .code = QMP_E_PROTOCOL,
                                       .needle = "longer than 1048576 bytes"};
static const bad_case bad_id = {BAD_STEP(.flags = FAKE_BAD_ID, .reply = R_RUNNING),
                                .code = QMP_E_PROTOCOL, .needle = "does not match command id 2"};
static const bad_case bad_closed = {BAD_STEP(.flags = FAKE_CLOSE), .code = QMP_E_CLOSED,
                                    .needle = "before replying to 'query-status'"};

static void test_bad_reply(void **state)
{
    fixture *fx = *state;
    const bad_case *c = fx->param;
    bad_reply(fx, &c->step, c->code, c->needle);
}

/* {"return": "aaa...", "id": 2} of exactly `size` bytes, then `end`. */
static char *line_of(size_t size, const char *end)
{
    char *line = malloc(size + 3);
    assert_non_null(line);
    memset(line, 'a', size);
    memcpy(line, "{\"return\": \"", 12);
    memcpy(line + size - 11, "\", \"id\": 2}", 11);
    memcpy(line + size, end, strlen(end) + 1);
    return line;
}

/* A line of exactly QMP_MAX_LINE bytes (+ "\r\n") is fine; one byte more
 * (+ "\n", so the whole line still fits in the buffer) is refused. */
static void test_line_limit(void **state)
{
    fixture *fx = *state;
    _cleanup_free_ char *max = line_of(QMP_MAX_LINE, "\r\n");
    _cleanup_free_ char *over = line_of(QMP_MAX_LINE + 1, "\n");
    fake_qmp_step steps[] = {{.expect = "query-status", .flags = FAKE_RAW, .reply = max},
                             {.expect = "query-status", .flags = FAKE_RAW, .reply = over}};
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    connect_fake(fx);
    _cleanup_error_ cu_error *err = NULL;
    json_auto_t *r = qmp_execute(fx->q, "query-status", NULL, T, &err);
    if (r == NULL)
        fail_msg("%s", err->message);
    assert_int_equal(json_string_length(r), QMP_MAX_LINE - 12 - 11);
    expect_failure(fx, "query-status", QMP_E_PROTOCOL, "longer than 1048576 bytes");
    finish(fx);
}

static void test_query_status(void **state)
{
    fixture *fx = *state;
    static const fake_qmp_step steps[] = {
        {.expect = "query-status",
         .reply = "{\"return\": {\"status\": \"paused\", \"running\": false}}"},
        {.expect = "query-status", .reply = R_RUNNING},
        {.expect = "query-status", .reply = "{\"return\": {\"running\": true}}"}};
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    connect_fake(fx);
    char buf[32], tiny[4];
    _cleanup_error_ cu_error *err = NULL, *err2 = NULL, *err3 = NULL;
    assert_int_equal(qmp_query_status(fx->q, buf, sizeof(buf), T, &err), 0);
    assert_string_equal(buf, "paused");
    assert_int_equal(qmp_query_status(fx->q, tiny, sizeof(tiny), T, &err2), -1);
    assert_non_null(strstr(err2->message, "longer than 3 bytes"));
    assert_int_equal(qmp_query_status(fx->q, buf, sizeof(buf), T, &err3), -1);
    assert_non_null(strstr(err3->message, "no \"status\""));
    finish(fx);
}

/* ---- events ------------------------------------------------------------------ */

static void test_wait_event_seen_earlier(void **state)
{
    fixture *fx = *state;
    static const fake_qmp_step steps[] = {
        {.expect = "system_powerdown", .events = EV_SHUTDOWN, .reply = R_EMPTY}};
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    connect_fake(fx);
    _cleanup_error_ cu_error *err = NULL;
    json_auto_t *r = qmp_execute(fx->q, "system_powerdown", NULL, T, &err);
    assert_non_null(r);
    assert_string_equal(fx->first_data, "{\"guest\":true,\"reason\":\"guest-shutdown\"}");
    assert_int_equal(qmp_wait_event(fx->q, "SHUTDOWN", 0, &err), 1);
    assert_int_equal(qmp_wait_event(fx->q, "SHUTDOWN", 50, &err), 0); /* consumed */
    assert_null(err);
    finish(fx);
}

static void test_wait_event_later(void **state)
{
    fixture *fx = *state;
    static const fake_qmp_step steps[] = {{.delay_ms = 150, .events = EV_RESET EV_SHUTDOWN}};
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    connect_fake(fx);
    _cleanup_error_ cu_error *err = NULL;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(qmp_wait_event(fx->q, "SHUTDOWN", T, &err), 1);
    assert_true(elapsed_ms(&t0) >= 100);
    assert_int_equal(fx->n_events, 2);
    assert_int_equal(qmp_wait_event(fx->q, "RESET", 0, &err), 1); /* remembered */
    finish(fx);
}

static void test_wait_event_hangup(void **state)
{
    fixture *fx = *state;
    static const fake_qmp_step steps[] = {{.delay_ms = 100, .flags = FAKE_CLOSE}};
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    connect_fake(fx);
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(qmp_wait_event(fx->q, "SHUTDOWN", T, &err), 1);
    assert_int_equal(qmp_wait_event(fx->q, "SHUTDOWN", T, &err), 1); /* still gone */
    expect_failure(fx, "query-status", QMP_E_CLOSED, "QEMU exited");
    finish(fx);
}

static void test_wait_event_timeout(void **state)
{
    fixture *fx = *state;
    static const fake_qmp_step steps[] = {{.expect = "query-status", .reply = R_RUNNING}};
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    connect_fake(fx);
    _cleanup_error_ cu_error *err = NULL;
    assert_int_equal(qmp_wait_event(fx->q, "SHUTDOWN", 100, &err), 0);
    assert_null(err);
    char buf[16];
    assert_int_equal(qmp_query_status(fx->q, buf, sizeof(buf), T, &err), 0); /* still usable */
    finish(fx);
}

/* ---- threads ------------------------------------------------------------------ */

#define N_THREADS 4
#define PER_THREAD 25

static void *status_worker(void *arg)
{
    qmp *q = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char buf[16];
        _cleanup_error_ cu_error *err = NULL;
        if (qmp_query_status(q, buf, sizeof(buf), T, &err) < 0 || strcmp(buf, "running") != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_threads_share_connection(void **state)
{
    fixture *fx = *state;
    static fake_qmp_step steps[N_THREADS * PER_THREAD];
    for (size_t i = 0; i < N_THREADS * PER_THREAD; i++)
        steps[i] = (fake_qmp_step){.expect = "query-status", .reply = R_RUNNING};
    assert_int_equal(FAKE_QMP_RUN(&fx->fake, steps), 0);
    connect_fake(fx);
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, status_worker, fx->q), 0);
    for (int i = 0; i < N_THREADS; i++) {
        void *res;
        pthread_join(t[i], &res);
        assert_null(res);
    }
    finish(fx); /* the fake checks one command in flight and ids counting up */
    assert_int_equal(fx->fake.last_id, 1 + N_THREADS * PER_THREAD);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define CASE(fn, c)                                                                                \
    {                                                                                              \
#fn ": " #c, fn, setup, teardown, (void *)&c                                               \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_handshake),
        CASE(test_bad_greeting, greet_none),
        CASE(test_bad_greeting, greet_wrong),
        CASE(test_bad_greeting, greet_garbage),
        TEST(test_capabilities_refused),
        TEST(test_no_socket),
        TEST(test_command_reply),
        TEST(test_error_reply),
        TEST(test_error_reply_without_id),
        TEST(test_events_before_reply),
        TEST(test_timeout_closes),
        CASE(test_bad_reply, bad_malformed),
        CASE(test_bad_reply, bad_not_object),
        CASE(test_bad_reply, bad_neither),
        CASE(test_bad_reply, bad_oversized),
        CASE(test_bad_reply, bad_id),
        CASE(test_bad_reply, bad_closed),
        TEST(test_line_limit),
        TEST(test_query_status),
        TEST(test_wait_event_seen_earlier),
        TEST(test_wait_event_later),
        TEST(test_wait_event_hangup),
        TEST(test_wait_event_timeout),
        TEST(test_threads_share_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
