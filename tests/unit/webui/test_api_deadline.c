/* api_deadline_answer_s: how long /api waits for the control plane's
 * answer to begin. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api_deadline.h"

static void every_request_has_the_api_timeout(void **state)
{
    (void)state;
    assert_int_equal(api_deadline_answer_s("/v1/vms", 60), 60);
    assert_int_equal(api_deadline_answer_s("/v1/vms?timeout=500", 60), 60);
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1", 60), 60);
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1/waiting?timeout=9", 60), 60);
    assert_int_equal(api_deadline_answer_s("/v1/operations//wait?timeout=9", 60), 60);
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1/wait/x?timeout=9", 60), 60);
}

static void a_long_poll_has_its_own_timeout_on_top(void **state)
{
    (void)state;
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1/wait?timeout=3", 2), 5);
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1/wait?x=1&timeout=600", 60), 660);
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1/wait?timeout=0", 60), 60);
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1/wait", 60), 90);
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1/wait?other=2", 60), 90);
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1/wait?xtimeout=9", 60), 90);
}

static void a_timeout_the_control_plane_refuses_adds_nothing(void **state)
{
    (void)state;
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1/wait?timeout=601", 60), 60);
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1/wait?timeout=-1", 60), 60);
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1/wait?timeout=ten", 60), 60);
    assert_int_equal(api_deadline_answer_s("/v1/operations/op-1/wait?timeout=", 60), 60);
    assert_int_equal(
        api_deadline_answer_s("/v1/operations/op-1/wait?timeout=99999999999999999999", 60), 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_request_has_the_api_timeout),
        cmocka_unit_test(a_long_poll_has_its_own_timeout_on_top),
        cmocka_unit_test(a_timeout_the_control_plane_refuses_adds_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
