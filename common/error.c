/* error.c: building, wrapping and freeing cu_error values. */
#define _GNU_SOURCE
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        return NULL;
    return s;
}

int cu_error_setv(cu_error **err, int status, const char *code, const char *field,
                  const char *fmt, va_list ap)
{
    if (err == NULL)
        return -1;
    if (*err != NULL) /* the first error is the cause; keep it */
        return -1;
    cu_error *e = calloc(1, sizeof(*e));
    if (e == NULL)
        abort();
    e->status = status ? status : 500;
    e->code = strdup(code ? code : CU_E_INTERNAL);
    e->field = field ? strdup(field) : NULL;
    e->message = vformat(fmt, ap);
    if (e->code == NULL || e->message == NULL || (field && e->field == NULL))
        abort();
    *err = e;
    return -1;
}

int cu_error_set(cu_error **err, int status, const char *code, const char *field,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cu_error_setv(err, status, code, field, fmt, ap);
    va_end(ap);
    return -1;
}

int cu_error_wrap(cu_error **err, const char *fmt, ...)
{
    if (err == NULL || *err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *prefix = vformat(fmt, ap);
    va_end(ap);
    char *joined = NULL;
    if (prefix == NULL || asprintf(&joined, "%s: %s", prefix, (*err)->message) < 0)
        abort();
    free(prefix);
    free((*err)->message);
    (*err)->message = joined;
    return -1;
}

int cu_error_errno(cu_error **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = vformat(fmt, ap);
    va_end(ap);
    if (what == NULL)
        abort();
    cu_error_set(err, 500, CU_E_INTERNAL, NULL, "%s: %s", what, strerror(errnum));
    free(what);
    return -1;
}

void cu_error_free(cu_error *e)
{
    if (e == NULL)
        return;
    free(e->code);
    free(e->field);
    free(e->message);
    free(e);
}

void cu_error_freep(cu_error **e)
{
    cu_error_free(*e);
    *e = NULL;
}
