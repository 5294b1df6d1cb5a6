/* validate.h: checks on single request fields.  Each returns 0 or -1 with
 * a 400 invalid_field error that names the field and quotes the value. */
#ifndef CUMULUS_CP_VALIDATE_H
#define CUMULUS_CP_VALIDATE_H

#include <jansson.h>

#include "error.h"

/* A DNS label: 1-63 of [a-z0-9-], not starting or ending with '-'. */
int validate_dns_label(const char *field, const char *value, cu_error **err);
/* An integer field within [min, max]; *out gets the value. */
int validate_int(const json_t *obj, const char *field, long long min, long long max,
                 long long *out, cu_error **err);
/* One of a NULL-terminated list of words. */
int validate_enum(const char *field, const char *value, const char *const *allowed,
                  cu_error **err);
/* "sha256:<64 hex>" or "sha512:<128 hex>", lower-case hex. */
int validate_checksum(const char *field, const char *value, cu_error **err);
/* http://, https:// or file:///absolute/path, no whitespace or control bytes. */
int validate_image_url(const char *field, const char *value, cu_error **err);
/* A Linux user name: [a-z_][a-z0-9_-]{0,31}. */
int validate_username(const char *field, const char *value, cu_error **err);
/* Printable text without control characters, 1..max bytes. */
int validate_text(const char *field, const char *value, size_t max, cu_error **err);

#endif
