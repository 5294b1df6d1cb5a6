/* fuzz_guest_channel.c: what a guest writes to its virtio-serial channel
 * (agent/guest_channel.c), which the agent reads after every boot: the
 * guest is untrusted and may write anything.  Input: the offset of the
 * boot's first byte (decimal) on the first line, then the file's content.
 * The message kept must be a bounded, NUL-terminated, control-free UTF-8
 * text. */
#define _GNU_SOURCE
#include "fuzz.h"

#include <jansson.h>

#include "guest_channel.h"

/* The agent reports message and detail in JSON (vm_record.c): they must
 * stay UTF-8 however they were cut. */
static int is_utf8(const char *s)
{
    json_t *v = json_string(s);
    json_decref(v);
    return v != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    char *first = fuzz_next_line(&in);
    /* The offset is a size the agent took of the file itself (never input). */
    long long offset = (long long)(strtoull(first, NULL, 10) % (1ULL << 40));
    free(first);
    const char *path = fuzz_file(in.p, in.left);
    if (path == NULL)
        abort();
    guest_report r;
    long long mtime;
    guest_channel_read(path, offset, &r, &mtime);
    FUZZ_CHECK(r.status == GUEST_BOOTING || r.status == GUEST_READY || r.status == GUEST_FAILED);
    size_t n = strnlen(r.message, sizeof(r.message));
    FUZZ_CHECK(n < sizeof(r.message));
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)r.message[i] >= 0x20 && r.message[i] != 0x7f);
    FUZZ_CHECK(strnlen(r.detail, sizeof(r.detail)) < sizeof(r.detail));
    FUZZ_CHECK(r.bake == 0 || r.status != GUEST_BOOTING);
    FUZZ_CHECK(is_utf8(r.message) && is_utf8(r.detail));
    /* The same bytes as one line. */
    guest_report one = {0};
    guest_channel_parse_line((const char *)in.p, in.left, &one);
    return 0;
}
