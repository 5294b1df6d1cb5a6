/* json_util.h: jansson helpers shared by the daemons: parsing request
 * bodies into clear errors, checking an object's fields against a small
 * declarative table (so unknown and mistyped fields name the field), and
 * building the API's error document. */
#ifndef CUMULUS_JSON_UTIL_H
#define CUMULUS_JSON_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Parses a request body that must be one JSON object.  Errors are 400
 * invalid_json with line and column. */
json_t *cu_json_parse_object(const char *buf, size_t len, cu_error **err);

enum cu_json_kind {
    CU_JSON_STRING,
    CU_JSON_INTEGER,
    CU_JSON_BOOLEAN,
    CU_JSON_ARRAY,
    CU_JSON_OBJECT,
    CU_JSON_STRING_ARRAY, /* an array whose every element is a string */
};

typedef struct cu_json_field {
    const char *name;
    enum cu_json_kind kind;
    bool required;
} cu_json_field;

/* Checks that `obj` has only the fields in the table (terminated by a
 * { NULL } entry), each of the declared kind, and every required one.  The
 * first offence becomes a 400 with `field` set.  `null` counts as absent
 * for optional fields. */
int cu_json_check_fields(const json_t *obj, const cu_json_field *fields, cu_error **err);

/* Returns the string at `key` or NULL when absent or null. */
const char *cu_json_str(const json_t *obj, const char *key);

/* {"error":{"code":..,"message":..,"field":..}} */
json_t *cu_json_error_doc(const cu_error *e);

/* json_dumps with the flags the API uses; never NULL (aborts on OOM). */
char *cu_json_dump(const json_t *value);

#endif
