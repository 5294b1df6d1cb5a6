/* yaml_json.h: YAML text to jansson values and back, for cloud-init
 * user-data (implemented in yaml_parse.c, yaml_emit.c and yaml_scalar.c).
 *
 * Reading follows PyYAML's SafeLoader (YAML 1.1), which is what cloud-init
 * uses, so a value means here what it will mean in the guest:
 *   - plain null, Null, NULL, ~ and the empty scalar are null;
 *   - plain yes/no, true/false, on/off (lower, Title or UPPER case) are
 *     booleans (y and n are strings, as in PyYAML);
 *   - plain integers: decimal, 0x hex, 0 octal, 0b binary, 1:30 base 60,
 *     '_' separators; 0o17 is a string, as in PyYAML;
 *   - plain floats need a '.', e.g. 1.5, 1.0e+3, .5, 1:30.5; .inf and .nan
 *     are floats but JSON cannot hold them, so they are refused;
 *   - timestamps (2001-12-14) stay strings (PyYAML makes them dates);
 *   - everything else, and every quoted scalar, is a string;
 *   - explicit !!str, !!int, !!float, !!bool, !!null, !!seq and !!map are
 *     honoured; any other tag (!!python/..., !!binary, !custom) is refused.
 * Refused too, with the line and column: anchors and aliases (no
 * "billion laughs"), more than one document, nesting deeper than
 * YAML_JSON_MAX_DEPTH, more than YAML_JSON_MAX_NODES nodes, keys that are not
 * scalars, duplicate keys, the plain scalars '<<' and '=' (PyYAML gives them
 * meanings cloud-init cannot load) and strings holding NUL.  A key that looks
 * like a number or boolean keeps its text ("1: x" gives {"1": "x"}).
 * An empty stream (only comments) is null.
 *
 * Errors carry status 400 and code "invalid_field" with no field: the caller
 * knows which request field the text came from.  Messages are written for
 * the person who typed the YAML.  Allocation failure aborts. */
#ifndef CUMULUS_CP_YAML_JSON_H
#define CUMULUS_CP_YAML_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"

#define YAML_JSON_MAX_DEPTH 64    /* nested sequences/mappings */
#define YAML_JSON_MAX_NODES 10000 /* scalars + sequences + mappings (keys count) */

/* Parses `len` bytes of UTF-8 YAML (one document) into a new reference. */
json_t *yaml_to_json(const char *text, size_t len, cu_error **err);

/* Writes `value` as block-style YAML without document markers, ending in a
 * newline; malloc'd.  Objects keep jansson's iteration order, which is
 * insertion order (jansson >= 2.8), so equal input gives equal bytes.
 * Strings that would read back as another type, or that YAML cannot hold
 * plain, are double-quoted; multi-line strings use a literal block ('|')
 * when that reads back exactly.  For every value v,
 * json_equal(yaml_to_json(json_to_yaml(v)), v) holds, also under PyYAML.
 * Fails (500) only for values nested deeper than YAML_JSON_MAX_DEPTH. */
char *json_to_yaml(const json_t *value, cu_error **err);

#endif
