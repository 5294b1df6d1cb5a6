/* error.h: the error value that rises from where a thing failed to where it
 * is reported (a REST handler turns it into JSON, a loop logs it).
 *
 * Convention (crun's): a function that can fail takes `cu_error **err` last
 * and returns < 0 or NULL.  The message is one whole sentence with quoted
 * values; callers may prefix context with cu_error_wrap() as it rises. */
#ifndef CUMULUS_ERROR_H
#define CUMULUS_ERROR_H

#include <stdarg.h>

typedef struct cu_error {
    int status;    /* HTTP status the error maps to (500 when unsure) */
    char *code;    /* stable machine-readable code: "invalid_field", ... */
    char *field;   /* the request field at fault, or NULL */
    char *message; /* for a person: what is wrong, with quoted values */
} cu_error;

/* Sets *err (which must be NULL) and returns -1.  `field` may be NULL. */
int cu_error_set(cu_error **err, int status, const char *code, const char *field,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int cu_error_setv(cu_error **err, int status, const char *code, const char *field,
                  const char *fmt, va_list ap);

/* Prefixes context to the message ("loading 'x': <old message>"); -1. */
int cu_error_wrap(cu_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* errno-based failure of a system call: "<what>: <strerror>", status 500. */
int cu_error_errno(cu_error **err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void cu_error_free(cu_error *e);
void cu_error_freep(cu_error **e);
#define _cleanup_error_ __attribute__((cleanup(cu_error_freep)))

/* Codes used across daemons. */
#define CU_E_INVALID_JSON "invalid_json"
#define CU_E_INVALID_REQUEST "invalid_request"
#define CU_E_INVALID_FIELD "invalid_field"
#define CU_E_UNAUTHORIZED "unauthorized"
#define CU_E_FORBIDDEN "forbidden"
#define CU_E_NOT_FOUND "not_found"
#define CU_E_NO_ROUTE "route_not_found"
#define CU_E_METHOD "method_not_allowed"
#define CU_E_CONFLICT "conflict"
#define CU_E_EXISTS "already_exists"
#define CU_E_IN_USE "in_use"
#define CU_E_BUSY "operation_in_progress"
#define CU_E_TOO_LARGE "body_too_large"
#define CU_E_INTERNAL "internal"
#define CU_E_CONFIG "invalid_config"

#endif
