/* fuzz_console_ticket.c: console_ticket_check() (common/console_ticket.c),
 * which the agent runs on the ?ticket= of every console websocket before
 * the upgrade.  Input, line by line:
 *   the VM id of the path
 *   the kind of the path ("vnc", "serial")
 *   the agent's clock, unix ms (taken modulo 2^50)
 *   the ticket (the rest); "S:" first means "sign what follows with the
 *   host's key", so the fuzzer also reaches what lies behind the MAC.
 * Then issue and check must agree: a ticket issued for the id and kind is
 * good once, at once, and refused the second time. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "console_ticket.h"

static console_ticket_seen seen;

static char *signed_ticket(const unsigned char *key, const char *text)
{
    unsigned char md[32];
    unsigned int n = 0;
    if (HMAC(EVP_sha256(), key, CONSOLE_TICKET_KEY_LEN, (const unsigned char *)text,
             strlen(text), md, &n) == NULL)
        abort();
    size_t len = strlen(text);
    char *t = malloc(len + 1 + 64 + 1);
    if (t == NULL)
        abort();
    memcpy(t, text, len);
    t[len] = '.';
    for (unsigned i = 0; i < 32; i++)
        sprintf(t + len + 1 + 2 * i, "%02x", md[i]);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char key[CONSOLE_TICKET_KEY_LEN];
    console_ticket_key("fuzz order token", key);
    fuzz_input in = {data, size};
    char *vm_id = fuzz_next_line(&in), *kind = fuzz_next_line(&in), *clock = fuzz_next_line(&in);
    char *ticket = fuzz_rest(&in);
    /* The clock is the host's, never input: somewhere from 1970 to the
     * year 37000, as the real one will be. */
    long long now = (long long)(strtoull(clock, NULL, 10) % (1ULL << 50));
    if (strncmp(ticket, "S:", 2) == 0) {
        char *t = signed_ticket(key, ticket + 2);
        free(ticket);
        ticket = t;
    }

    console_ticket_seen_init(&seen);
    cu_error *err = NULL;
    if (console_ticket_check(key, sizeof(key), ticket, vm_id, kind, now, &seen, &err) == 0) {
        FUZZ_CHECK(err == NULL);
        FUZZ_CHECK(console_ticket_check(key, sizeof(key), ticket, vm_id, kind, now, &seen,
                                        &err) < 0);
    }
    FUZZ_CHECK(err == NULL || err->status == 401 || err->status == 403 || err->status == 503);
    cu_error_freep(&err);

    /* Issue, check twice. */
    char issued[CONSOLE_TICKET_MAX];
    if (console_ticket_issue(key, sizeof(key), vm_id, kind, now, issued, &err) == 0) {
        FUZZ_CHECK(strlen(issued) < CONSOLE_TICKET_MAX);
        FUZZ_CHECK(console_ticket_check(key, sizeof(key), issued, vm_id, kind, now, &seen,
                                        &err) == 0);
        FUZZ_CHECK(console_ticket_check(key, sizeof(key), issued, vm_id, kind, now, &seen,
                                        &err) < 0);
        FUZZ_CHECK(strcmp(err->code, "ticket_replayed") == 0);
    }
    cu_error_freep(&err);
    console_ticket_seen_destroy(&seen);
    free(vm_id);
    free(kind);
    free(clock);
    free(ticket);
    return 0;
}
