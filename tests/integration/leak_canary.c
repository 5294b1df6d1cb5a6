/* leak_canary.c: a library that leaks on purpose.  integration.leak_check
 * preloads it (LD_PRELOAD) into a daemon to show that a leak is caught:
 * LeakSanitizer must report this allocation when the daemon exits.  Not
 * for anything else. */
#include <stdlib.h>
#include <string.h>

void *volatile leak_canary_last;

static __attribute__((noinline)) void leak_canary(void)
{
    leak_canary_last = malloc(4242);
    if (leak_canary_last)
        memset(leak_canary_last, 0x5a, 4242);
    leak_canary_last = NULL; /* the only pointer to it: now lost */
}

static __attribute__((constructor)) void leak_canary_init(void)
{
    leak_canary();
}
