/* json_util.c: see json_util.h. */
#define _GNU_SOURCE
#include "json_util.h"

#include <stdlib.h>
#include <string.h>

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

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms,
 * surrogates or code points past U+10FFFF), or 0 if it is not one. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                            : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) ||
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

/* A JSON string of `text`, whose bytes that are not UTF-8 become '?'.
 * Messages quote what clients sent: jansson's own errors quote the bytes
 * near a syntax error, and "%.80s" may cut a character in two. */
static json_t *text_string(const char *text)
{
    json_t *v = json_string(text);
    if (v != NULL)
        return v;
    char *clean = strdup(text);
    if (clean == NULL)
        abort();
    for (unsigned char *p = (unsigned char *)clean; *p;) {
        size_t n = utf8_seq_len(p);
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
    v = json_string(clean);
    free(clean);
    if (v == NULL)
        abort();
    return v;
}

json_t *cu_json_error_doc(const cu_error *e)
{
    json_t *inner = json_object();
    if (inner == NULL)
        abort();
    json_object_set_new(inner, "code", text_string(e->code));
    json_object_set_new(inner, "message", text_string(e->message));
    json_object_set_new(inner, "field", e->field ? text_string(e->field) : json_null());
    return json_pack("{s:o}", "error", inner);
}

char *cu_json_dump(const json_t *value)
{
    char *s = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s == NULL)
        abort();
    return s;
}
