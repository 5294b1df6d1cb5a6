/* json_util.c: see json_util.h. */
#define _GNU_SOURCE
#include "json_util.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"

json_t *cu_json_parse_object(const char *buf, size_t len, cu_error **err)
{
    json_error_t jerr;
    if (len == 0) {
        cu_error_set(err, 400, CU_E_INVALID_JSON, NULL, "the request body is empty; send a JSON object");
        return NULL;
    }
    json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        cu_error_set(err, 400, CU_E_INVALID_JSON, NULL,
                     "the request body is not valid JSON: %s at line %d, column %d", jerr.text,
                     jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        cu_error_set(err, 400, CU_E_INVALID_JSON, NULL, "the request body must be a JSON object");
        return NULL;
    }
    return v;
}

static const char *kind_name(enum cu_json_kind kind)
{
    switch (kind) {
    case CU_JSON_STRING:
        return "a string";
    case CU_JSON_INTEGER:
        return "an integer";
    case CU_JSON_BOOLEAN:
        return "a boolean";
    case CU_JSON_ARRAY:
        return "an array";
    case CU_JSON_OBJECT:
        return "an object";
    case CU_JSON_STRING_ARRAY:
        return "an array of strings";
    }
    return "?";
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static bool kind_matches(enum cu_json_kind kind, const json_t *v)
{
    switch (kind) {
    case CU_JSON_STRING:
        return json_is_string(v);
    case CU_JSON_INTEGER:
        return json_is_integer(v);
    case CU_JSON_BOOLEAN:
        return json_is_boolean(v);
    case CU_JSON_ARRAY:
        return json_is_array(v);
    case CU_JSON_OBJECT:
        return json_is_object(v);
    case CU_JSON_STRING_ARRAY: {
        if (!json_is_array(v))
            return false;
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) if (!json_is_string(item)) return false;
        return true;
    }
    }
    return false;
}

static const cu_json_field *find_field(const cu_json_field *fields, const char *name)
{
    for (const cu_json_field *f = fields; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

int cu_json_check_fields(const json_t *obj, const cu_json_field *fields, cu_error **err)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        const cu_json_field *f = find_field(fields, key);
        if (f == NULL)
            return cu_error_set(err, 400, CU_E_INVALID_REQUEST, key, "unknown field '%s'", key);
        if (json_is_null(value) && !f->required)
            continue;
        if (!kind_matches(f->kind, value))
            return cu_error_set(err, 400, CU_E_INVALID_FIELD, key, "field '%s' must be %s, not %s",
                                key, kind_name(f->kind), type_name(value));
    }
    for (const cu_json_field *f = fields; f->name; f++) {
        json_t *v = json_object_get(obj, f->name);
        if (f->required && (v == NULL || json_is_null(v)))
            return cu_error_set(err, 400, CU_E_INVALID_FIELD, f->name, "field '%s' is required",
                                f->name);
    }
    return 0;
}

const char *cu_json_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* A JSON string of `text` with every byte that is not valid UTF-8 shown as
 * U+FFFD: error messages quote what the client sent (a path, a query),
 * which may be anything, and jansson refuses invalid UTF-8. */
static json_t *json_string_lossy(const char *text)
{
    size_t size = strlen(text) * 3 + 1;
    char *out = malloc(size);
    if (out == NULL)
        abort();
    cu_utf8_copy(out, size, text);
    json_t *s = json_string(out);
    free(out);
    if (s == NULL)
        abort();
    return s;
}

json_t *cu_json_error_doc(const cu_error *e)
{
    json_t *inner = json_pack("{s:s, s:o, s:o}", "code", e->code, "message",
                              json_string_lossy(e->message), "field",
                              e->field ? json_string_lossy(e->field) : json_null());
    if (inner == NULL)
        abort();
    return json_pack("{s:o}", "error", inner);
}

char *cu_json_dump(const json_t *value)
{
    char *s = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s == NULL)
        abort();
    return s;
}
