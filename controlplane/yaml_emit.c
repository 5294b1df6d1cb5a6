/* yaml_emit.c: jansson values to block-style YAML, json_to_yaml() (see
 * yaml_json.h).
 *
 * Owns the choice of scalar style (plain, double-quoted or literal block)
 * and the layout of mappings and sequences.  Must not write anything that
 * PyYAML (YAML 1.1) or a YAML 1.2 reader would read back as another value,
 * nor depend on the process locale beyond the C numeric conventions
 * (printf, strtod).
 *
 * The emitter is ours rather than libyaml's so we decide quoting: libyaml
 * knows nothing of YAML 1.1 implicit types and would write the string "yes"
 * plain, which PyYAML reads back as true. */
#define _GNU_SOURCE
#include "yaml_json.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "yaml_private.h"

#define MAX_SIMPLE_KEY 1000 /* YAML caps implicit keys at 1024 characters */

/* One code point of valid UTF-8 (jansson only holds valid UTF-8). */
static uint32_t utf8_next(const unsigned char *s, size_t *len)
{
    if (s[0] < 0x80)
        return *len = 1, s[0];
    if (s[0] < 0xe0)
        return *len = 2, (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
    if (s[0] < 0xf0)
        return *len = 3,
               (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
    return *len = 4, (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
                         (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
}

/* What YAML may carry unescaped: printable, and not a line break of its own
 * (U+2028/9 break lines in YAML 1.1) or a byte-order mark. */
static bool printable(uint32_t c)
{
    return (c >= 0x20 && c <= 0x7e) ||
           (c >= 0xa0 && c != 0x2028 && c != 0x2029 && c != 0xfeff && c != 0xfffe && c != 0xffff);
}

static bool all_chars(const char *s, size_t n, bool allow_breaks)
{
    for (size_t i = 0, len; i < n; i += len) {
        uint32_t c = utf8_next((const unsigned char *)s + i, &len);
        if (!printable(c) && !(allow_breaks && (c == '\n' || c == '\t')))
            return false;
    }
    return true;
}

/* Deliberately stricter than YAML: a string is written plain only if it is
 * a string under YAML 1.1 (PyYAML) and under YAML 1.2 readers too, has no
 * indicator, ':' or '#' anywhere, and no surrounding blanks. */
static bool plain_ok(const char *s, size_t n)
{
    if (n == 0 || strlen(s) != n || yaml_resolve_plain(s) != K_STR)
        return false;
    if (strchr("-?:,[]{}#&*!|>'\"%@` \t", s[0]) || strpbrk(s, ":#") ||
        isspace((unsigned char)s[n - 1]))
        return false;
    if (strncmp(s, "...", 3) == 0 || strcmp(s, "y") == 0 || strcmp(s, "Y") == 0 ||
        strcmp(s, "n") == 0 || strcmp(s, "N") == 0)
        return false;
    char *end = NULL;
    (void)strtod(s, &end); /* 1e3, inf, nan, 0x1p3: numbers to some reader */
    if (*end == '\0' || strncmp(s + (s[0] == '+' || s[0] == '-'), "0o", 2) == 0)
        return false;
    return all_chars(s, n, false);
}

/* Literal blocks for multi-line text, when they read back exactly: no
 * leading blank (it would set the indentation), no blank-only lines, at most
 * one trailing newline (so "|" or "|-" chomping says it all). */
static bool literal_ok(const char *s, size_t n)
{
    if (n == 0 || strlen(s) != n || memchr(s, '\n', n) == NULL || strchr(" \t\n", s[0]))
        return false;
    if (n >= 2 && s[n - 1] == '\n' && s[n - 2] == '\n')
        return false;
    for (const char *line = s; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
        size_t len = strcspn(line, "\n");
        if (len > 0 && strspn(line, " \t") >= len)
            return false;
    }
    return all_chars(s, n, true);
}

static void put_double_quoted(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    static const char raw[] = "\"\\\n\t\r", named[] = "\"\\ntr";
    for (size_t i = 0, len; i < n; i += len) {
        uint32_t c = utf8_next((const unsigned char *)s + i, &len);
        const char *hit = c > 0 && c < 0x80 ? strchr(raw, (int)c) : NULL;
        if (hit)
            fprintf(f, "\\%c", named[hit - raw]);
        else if (c == 0x2028 || c == 0x2029) /* YAML 1.1 line breaks */
            fputs(c == 0x2028 ? "\\L" : "\\P", f);
        else if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
            fprintf(f, "\\x%02x", (unsigned)c);
        else if (!printable(c))
            fprintf(f, "\\u%04x", (unsigned)c);
        else
            fwrite(s + i, 1, len, f);
    }
    fputc('"', f);
}

static void put_literal(FILE *f, const char *s, size_t n, int indent)
{
    fputs(s[n - 1] == '\n' ? "|\n" : "|-\n", f);
    for (const char *line = s; *line;) {
        size_t len = strcspn(line, "\n");
        if (len > 0)
            fprintf(f, "%*s%.*s", indent, "", (int)len, line);
        fputc('\n', f);
        line += len + (line[len] == '\n');
    }
}

/* Shortest digits that read back as the same double, positional where
 * that is short, and always with a '.' so that PyYAML's float pattern
 * matches ("1e+20" would be a string there). */
static void put_real(FILE *f, double d)
{
    char buf[48];
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
    int exp10 = atoi(strchr(buf, 'e') + 1);
    if (exp10 >= -4 && exp10 < 16) {
        int decimals = prec - 1 - exp10;
        snprintf(buf, sizeof(buf), "%.*f", decimals < 1 ? 1 : decimals, d);
    }
    char *e = strchr(buf, 'e');
    if (strchr(buf, '.'))
        fputs(buf, f);
    else
        fprintf(f, "%.*s.0%s", (int)(e - buf), buf, e);
}

/* A scalar (or empty collection) and its newline; `indent` is where a
 * literal block's lines go. */
static void put_scalar(FILE *f, const json_t *v, int indent)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (s && literal_ok(s, n))
        return put_literal(f, s, n, indent); /* it ends its own lines */
    if (s && plain_ok(s, n))
        fwrite(s, 1, n, f);
    else if (s)
        put_double_quoted(f, s, n);
    else if (json_is_integer(v))
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        put_real(f, json_real_value(v));
    else if (json_is_boolean(v))
        fputs(json_is_true(v) ? "true" : "false", f);
    else
        fputs(json_is_object(v) ? "{}" : json_is_array(v) ? "[]" : "null", f);
    fputc('\n', f);
}

static int put_mapping(FILE *f, const json_t *obj, int indent, bool inline_first, int depth,
                       cu_error **err);
static int put_sequence(FILE *f, const json_t *arr, int indent, bool inline_first, int depth,
                        cu_error **err);

static bool is_block(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

/* `depth` is the nesting level of v, counted as the parser counts it. */
static int too_deep(const json_t *v, int depth, cu_error **err)
{
    if (depth <= YAML_JSON_MAX_DEPTH || !(json_is_object(v) || json_is_array(v)))
        return 0;
    return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                        "cannot write YAML nested deeper than %d levels", YAML_JSON_MAX_DEPTH);
}

/* After "key:": a nested block on the next lines, or " scalar". */
static int put_value(FILE *f, const json_t *v, int indent, int depth, cu_error **err)
{
    if (too_deep(v, depth, err) < 0)
        return -1;
    if (!is_block(v)) {
        fputc(' ', f);
        put_scalar(f, v, indent + 2);
        return 0;
    }
    fputc('\n', f);
    return json_is_object(v) ? put_mapping(f, v, indent + 2, false, depth, err)
                             : put_sequence(f, v, indent + 2, false, depth, err);
}

/* A key, plain or double-quoted; long ones use the explicit "? " form. */
static void put_key(FILE *f, const char *key, int indent)
{
    size_t n = strlen(key);
    if (plain_ok(key, n) && n <= MAX_SIMPLE_KEY) {
        fprintf(f, "%s:", key);
        return;
    }
    _cleanup_free_ char *quoted = NULL;
    size_t qlen = 0;
    FILE *q = must(open_memstream(&quoted, &qlen));
    put_double_quoted(q, key, n);
    fclose(q);
    if (qlen <= MAX_SIMPLE_KEY)
        fprintf(f, "%s:", quoted);
    else
        fprintf(f, "? %s\n%*s:", quoted, indent, "");
}

static int put_mapping(FILE *f, const json_t *obj, int indent, bool inline_first, int depth,
                       cu_error **err)
{
    const char *key;
    json_t *v;
    bool first = true;
    json_object_foreach ((json_t *)obj, key, v) {
        if (!(first && inline_first))
            fprintf(f, "%*s", indent, "");
        first = false;
        put_key(f, key, indent);
        if (put_value(f, v, indent, depth + 1, err) < 0)
            return -1;
    }
    return 0;
}

static int put_sequence(FILE *f, const json_t *arr, int indent, bool inline_first, int depth,
                        cu_error **err)
{
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v) {
        fprintf(f, "%*s- ", (i == 0 && inline_first) ? 0 : indent, "");
        int r = too_deep(v, depth + 1, err);
        if (r < 0)
            return -1;
        if (json_is_object(v) && is_block(v))
            r = put_mapping(f, v, indent + 2, true, depth + 1, err);
        else if (is_block(v))
            r = put_sequence(f, v, indent + 2, true, depth + 1, err);
        else
            put_scalar(f, v, indent + 2);
        if (r < 0)
            return -1;
    }
    return 0;
}

char *json_to_yaml(const json_t *value, cu_error **err)
{
    _cleanup_free_ char *out = NULL;
    size_t len = 0;
    FILE *f = must(open_memstream(&out, &len));
    int r = 0;
    if (json_is_object(value) && is_block(value))
        r = put_mapping(f, value, 0, false, 1, err);
    else if (is_block(value))
        r = put_sequence(f, value, 0, false, 1, err);
    else
        put_scalar(f, value, 2);
    if (fclose(f) != 0)
        abort(); /* a memory stream only fails for lack of memory */
    return r < 0 ? NULL : steal_ptr(&out);
}
