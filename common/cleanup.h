/* cleanup.h: scope-bound release of memory, fds, FILEs and SQLite
 * statements (gcc/clang cleanup attribute), and steal_ptr() to hand
 * ownership back to the caller. */
#ifndef CUMULUS_CLEANUP_H
#define CUMULUS_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cu_freep(void *p)
{
    free(*(void **)p);
}
static inline void cu_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
static inline void cu_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

#define _cleanup_free_ __attribute__((cleanup(cu_freep)))
#define _cleanup_close_ __attribute__((cleanup(cu_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(cu_fclosep)))

/* Returns *pp and clears it, so the cleanup attribute frees nothing. */
#define steal_ptr(pp)                                                                              \
    ({                                                                                             \
        __typeof__(*(pp)) steal_tmp_ = *(pp);                                                      \
        *(pp) = NULL;                                                                              \
        steal_tmp_;                                                                                \
    })

static inline int steal_fd(int *fd)
{
    int r = *fd;
    *fd = -1;
    return r;
}

#endif
