/* yaml_private.h: internals shared by yaml_scalar.c, yaml_parse.c and
 * yaml_emit.c; nothing else includes it (the module's interface is
 * yaml_json.h).
 *
 * The parser types plain scalars with the resolver below; the emitter asks
 * the same resolver whether a string would read back as a string, so both
 * directions agree on what "yes", "1:30" or "~" mean. */
#ifndef CUMULUS_CP_YAML_PRIVATE_H
#define CUMULUS_CP_YAML_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>

static inline void *must(void *p)
{
    if (p == NULL)
        abort(); /* out of memory: the daemons treat it as fatal */
    return p;
}

/* The implicit types of plain scalars, in the order PyYAML's resolver.py
 * tries them (K_STR when none matches). */
enum yaml_kind { K_STR, K_BOOL, K_FLOAT, K_INT, K_MERGE, K_NULL, K_TIMESTAMP, K_VALUE, K_COUNT };

/* The type PyYAML gives the plain scalar s ("" is null). */
enum yaml_kind yaml_resolve_plain(const char *s);

/* Whether s matches the resolver pattern of kind k (not K_STR). */
bool yaml_matches(enum yaml_kind k, const char *s);

/* PyYAML construct_yaml_int on text the int resolver matched; false when
 * it has no digits or does not fit in 64 bits. */
bool yaml_parse_int(const char *text, json_int_t *out);

/* PyYAML construct_yaml_float; false for what JSON cannot hold. */
bool yaml_parse_float(const char *text, double *out);

/* yes/true/on or no/false/off in any case, as PyYAML's bool constructor. */
bool yaml_bool_word(const char *s, bool *value);

#endif
