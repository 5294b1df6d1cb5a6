/* yaml_scalar.c: the typing of YAML plain scalars (see yaml_private.h).
 *
 * Owns the implicit-type patterns of PyYAML's resolver.py, in its order
 * (cloud-init reads user-data with PyYAML, so "yes" must become true here
 * too), and the conversion of matched text to integers, floats and
 * booleans as PyYAML's constructors do it.  Must not depend on the process
 * locale beyond the C numeric conventions (strtod), nor build jansson
 * values: the parser and the emitter decide what a type means to them. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "yaml_private.h"

/* ---- implicit types of plain scalars: PyYAML resolver.py, in its order ---- */

static const char *const resolver_re[K_COUNT] = {
    [K_BOOL] = "^(yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
    [K_FLOAT] = "^([-+]?[0-9][0-9_]*\\.[0-9_]*([eE][-+][0-9]+)?"
                "|\\.[0-9][0-9_]*([eE][-+][0-9]+)?"
                "|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*"
                "|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN))$",
    [K_INT] = "^([-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)"
              "|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$",
    [K_MERGE] = "^<<$",
    [K_NULL] = "^(~|null|Null|NULL)$",
    [K_TIMESTAMP] = "^([0-9]{4}-[0-9]{2}-[0-9]{2}"
                    "|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}"
                    "(\\.[0-9]*)?([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)$",
    [K_VALUE] = "^=$",
};
static regex_t resolvers[K_COUNT];
static pthread_once_t resolvers_once = PTHREAD_ONCE_INIT;

static void compile_resolvers(void)
{
    for (int k = K_BOOL; k < K_COUNT; k++)
        if (regcomp(&resolvers[k], resolver_re[k], REG_EXTENDED | REG_NOSUB) != 0)
            abort(); /* constant patterns: failing to compile is a bug */
}

bool yaml_matches(enum yaml_kind k, const char *s)
{
    pthread_once(&resolvers_once, compile_resolvers);
    return regexec(&resolvers[k], s, 0, NULL, 0) == 0;
}

enum yaml_kind yaml_resolve_plain(const char *s)
{
    if (*s == '\0')
        return K_NULL;
    for (int k = K_BOOL; k < K_COUNT; k++)
        if (yaml_matches(k, s))
            return k;
    return K_STR;
}

/* Copies s without '_' (PyYAML drops them before converting numbers). */
static char *without_underscores(const char *s)
{
    char *out = must(malloc(strlen(s) + 1)), *o = out;
    for (; *s; s++)
        if (*s != '_')
            *o++ = *s;
    *o = '\0';
    return out;
}

/* PyYAML construct_yaml_int on text the int resolver matched. */
bool yaml_parse_int(const char *text, json_int_t *out)
{
    _cleanup_free_ char *buf = without_underscores(text);
    char *p = buf + (buf[0] == '-' || buf[0] == '+'), *end = p;
    unsigned long long mag = 0;
    int base = p[0] != '0' || p[1] == '\0' ? 10 : p[1] == 'b' ? 2 : p[1] == 'x' ? 16 : 8;
    errno = 0;
    if (strchr(p, ':')) { /* base 60: 1:30 is 90 */
        for (char *part = strtok_r(p, ":", &end); part; part = strtok_r(NULL, ":", &end))
            if (__builtin_mul_overflow(mag, 60, &mag) ||
                __builtin_add_overflow(mag, strtoull(part, NULL, 10), &mag))
                return false;
    } else {
        p += base == 2 || base == 16 ? 2 : 0;
        mag = strtoull(p, &end, base);
        if (end == p || *end != '\0') /* "0x_" has no digits: PyYAML fails too */
            return false;
    }
    if (errno == ERANGE || mag > (unsigned long long)INT64_MAX + (buf[0] == '-'))
        return false;
    *out = buf[0] == '-' ? (json_int_t)(0 - mag) : (json_int_t)mag;
    return true;
}

/* PyYAML construct_yaml_float; false for what JSON cannot hold. */
bool yaml_parse_float(const char *text, double *out)
{
    _cleanup_free_ char *buf = without_underscores(text);
    char *p = buf, *end = NULL;
    if (strpbrk(p, "0123456789") == NULL)
        return false;
    double sign = *p == '-' ? -1.0 : 1.0;
    if (*p == '-' || *p == '+')
        p++;
    if (strchr(p, ':') == NULL) {
        *out = sign * strtod(p, &end);
        return *end == '\0' && isfinite(*out);
    }
    double value = 0.0;
    for (char *part = strtok_r(p, ":", &end); part; part = strtok_r(NULL, ":", &end))
        value = value * 60.0 + strtod(part, NULL);
    *out = sign * value;
    return isfinite(*out);
}

bool yaml_bool_word(const char *s, bool *value)
{
    static const char *const words[] = {"yes", "true", "on", "no", "false", "off"};
    for (size_t i = 0; i < 6; i++)
        if (strcasecmp(s, words[i]) == 0) {
            *value = i < 3;
            return true;
        }
    return false;
}
