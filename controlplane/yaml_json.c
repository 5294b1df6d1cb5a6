/* yaml_json.c: YAML text <-> jansson values (see yaml_json.h).
 *
 * Owns the reading of user-supplied YAML with libyaml's event parser, the
 * typing of plain scalars exactly as PyYAML's resolver.py does (cloud-init
 * reads user-data with PyYAML, so "yes" must become true here too), the
 * limits that keep hostile input cheap, and a small block-style emitter.
 * Must not: expand aliases, construct anything a tag names, or depend on the
 * process locale beyond the C numeric conventions (strtod, printf).
 *
 * The emitter is ours rather than libyaml's so we decide quoting: libyaml
 * knows nothing of YAML 1.1 implicit types and would write the string "yes"
 * plain, which PyYAML reads back as true. */
#define _GNU_SOURCE
#include "yaml_json.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cleanup.h"

#define refuse(err, ...) cu_error_set((err), 400, CU_E_INVALID_FIELD, NULL, __VA_ARGS__)
/* refuse() in functions that return a value: sets p->err, gives NULL */
#define fail(p, ...) (refuse((p)->err, __VA_ARGS__), NULL)
#define TAG_PREFIX "tag:yaml.org,2002:"
#define MAX_SIMPLE_KEY 1000 /* YAML caps implicit keys at 1024 characters */

static void *must(void *p)
{
    if (p == NULL)
        abort(); /* out of memory: the daemons treat it as fatal */
    return p;
}

/* ---- implicit types of plain scalars: PyYAML resolver.py, in its order ---- */

enum kind { K_STR, K_BOOL, K_FLOAT, K_INT, K_MERGE, K_NULL, K_TIMESTAMP, K_VALUE, K_COUNT };

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

static bool matches(enum kind k, const char *s)
{
    pthread_once(&resolvers_once, compile_resolvers);
    return regexec(&resolvers[k], s, 0, NULL, 0) == 0;
}

static enum kind resolve_plain(const char *s)
{
    if (*s == '\0')
        return K_NULL;
    for (int k = K_BOOL; k < K_COUNT; k++)
        if (matches(k, s))
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
static bool parse_int(const char *text, json_int_t *out)
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
static bool parse_float(const char *text, double *out)
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

static bool bool_word(const char *s, bool *value)
{
    static const char *const words[] = {"yes", "true", "on", "no", "false", "off"};
    for (size_t i = 0; i < 6; i++)
        if (strcasecmp(s, words[i]) == 0) {
            *value = i < 3;
            return true;
        }
    return false;
}

/* ---- the parser: libyaml events to jansson values ---- */

typedef struct yparser {
    yaml_parser_t yp;
    yaml_event_t ev; /* the current event, valid while have_ev */
    bool have_ev;
    size_t nodes;
    cu_error **err;
} yparser;

static void yparser_done(yparser *p)
{
    if (p->have_ev)
        yaml_event_delete(&p->ev);
    yaml_parser_delete(&p->yp);
}

#define LINE(m) ((m).line + 1)
#define COL(m) ((m).column + 1)
#define AT "at line %zu, column %zu"
#define HERE(p) LINE((p)->ev.start_mark), COL((p)->ev.start_mark)

static int syntax_error(yparser *p)
{
    const yaml_parser_t *y = &p->yp;
    const char *problem = y->problem ? y->problem : "unknown error";
    if (y->error == YAML_MEMORY_ERROR)
        abort();
    if (y->error == YAML_READER_ERROR)
        return refuse(p->err, "YAML error at byte offset %zu: %s", y->problem_offset, problem);
    if (y->context)
        return refuse(p->err, "YAML syntax error " AT ": %s (%s " AT ")", LINE(y->problem_mark),
                      COL(y->problem_mark), problem, y->context, LINE(y->context_mark),
                      COL(y->context_mark));
    return refuse(p->err, "YAML syntax error " AT ": %s", LINE(y->problem_mark),
                  COL(y->problem_mark), problem);
}

static int next_event(yparser *p)
{
    if (p->have_ev)
        yaml_event_delete(&p->ev);
    p->have_ev = yaml_parser_parse(&p->yp, &p->ev) != 0;
    return p->have_ev ? 0 : syntax_error(p);
}

/* "tag:yaml.org,2002:int" is shown as the user wrote it: "!!int". */
static int bad_tag(yparser *p, const char *tag)
{
    bool std = strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0;
    const char *shown = std ? tag + strlen(TAG_PREFIX) : tag;
    const char *hint = strcmp(tag, TAG_PREFIX "binary") == 0
                           ? "; for binary file content use write_files with 'encoding: b64'"
                           : "";
    return refuse(p->err,
                  "unsupported YAML tag '%s%.64s' " AT
                  ": only !!str, !!int, !!float, !!bool, !!null, !!seq and !!map are allowed%s",
                  std ? "!!" : "", shown, HERE(p), hint);
}

static json_t *typed_scalar(yparser *p, enum kind k, const char *s)
{
    json_int_t i;
    double d;
    bool b = false;
    if (k == K_NULL)
        return must(json_null());
    if (k == K_BOOL && bool_word(s, &b))
        return must(json_boolean(b));
    if (k == K_INT && parse_int(s, &i))
        return must(json_integer(i));
    if (k == K_INT)
        return fail(p, "integer '%.64s' " AT " has no digits or exceeds 64 bits", s, HERE(p));
    if (k == K_FLOAT && parse_float(s, &d))
        return must(json_real(d));
    if (k == K_FLOAT)
        return fail(p, "float '%.64s' " AT " is infinite or not a number: JSON cannot hold it", s,
                    HERE(p));
    if (k == K_MERGE || k == K_VALUE)
        return fail(p, "plain '%s' " AT " means something else in YAML 1.1; quote it", s, HERE(p));
    return must(json_string(s)); /* K_STR, and K_TIMESTAMP keeps its text */
}

/* A scalar under an explicit standard tag, as PyYAML's constructors read it. */
static json_t *tagged_scalar(yparser *p, const char *tag, const char *s)
{
    bool b;
    double d;
    if (strcmp(tag, YAML_STR_TAG) == 0)
        return must(json_string(s));
    if (strcmp(tag, YAML_NULL_TAG) == 0)
        return must(json_null());
    if (strcmp(tag, YAML_BOOL_TAG) == 0 && bool_word(s, &b))
        return must(json_boolean(b));
    if (strcmp(tag, YAML_INT_TAG) == 0 && matches(K_INT, s))
        return typed_scalar(p, K_INT, s);
    if (strcmp(tag, YAML_FLOAT_TAG) == 0 && s[strspn(s, "0123456789+-._:eE")] == '\0' &&
        parse_float(s, &d))
        return must(json_real(d));
    if (strcmp(tag, YAML_BOOL_TAG) == 0 || strcmp(tag, YAML_INT_TAG) == 0 ||
        strcmp(tag, YAML_FLOAT_TAG) == 0)
        return fail(p, "'%.64s' " AT " is not a valid !!%s", s, HERE(p), tag + strlen(TAG_PREFIX));
    bad_tag(p, tag);
    return NULL;
}

static json_t *scalar_value(yparser *p)
{
    const char *s = (const char *)p->ev.data.scalar.value;
    const char *tag = (const char *)p->ev.data.scalar.tag;
    if (strlen(s) != p->ev.data.scalar.length)
        return fail(p, "the string " AT " contains a NUL character", HERE(p));
    /* PyYAML resolves a scalar tagged "!" like a plain one, even quoted */
    if ((tag == NULL && p->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) ||
        (tag && strcmp(tag, "!") == 0))
        return typed_scalar(p, resolve_plain(s), s);
    return tag == NULL ? must(json_string(s)) : tagged_scalar(p, tag, s);
}

/* Counts the node the current event starts, and refuses anchors. */
static int enter_node(yparser *p, const yaml_char_t *anchor)
{
    if (++p->nodes > YAML_JSON_MAX_NODES)
        return refuse(p->err, "YAML has more than %d nodes (limit reached " AT ")",
                      YAML_JSON_MAX_NODES, HERE(p));
    if (anchor)
        return refuse(p->err,
                      "YAML aliases are not supported in user_data (anchor '&%.64s' " AT ")",
                      (const char *)anchor, HERE(p));
    return 0;
}

static int collection_tag(yparser *p, const yaml_char_t *tag, const char *expected)
{
    if (tag == NULL || strcmp((const char *)tag, "!") == 0 ||
        strcmp((const char *)tag, expected) == 0)
        return 0;
    return bad_tag(p, (const char *)tag);
}

static json_t *parse_node(yparser *p, int depth);

static json_t *parse_sequence(yparser *p, int depth)
{
    json_auto_t *arr = must(json_array());
    for (;;) {
        if (next_event(p) < 0)
            return NULL;
        if (p->ev.type == YAML_SEQUENCE_END_EVENT)
            return steal_ptr(&arr);
        json_t *item = parse_node(p, depth);
        if (item == NULL)
            return NULL;
        json_array_append_new(arr, item);
    }
}

/* The current event is a key: returns its text (after the same checks as a
 * value, so "!!python/name:x : 1" is refused too). */
static char *parse_key(yparser *p)
{
    if (p->ev.type == YAML_MAPPING_START_EVENT || p->ev.type == YAML_SEQUENCE_START_EVENT)
        return fail(p, "the mapping key " AT " is a %s; only scalar keys are supported", HERE(p),
                    p->ev.type == YAML_MAPPING_START_EVENT ? "mapping" : "sequence");
    json_auto_t *check = parse_node(p, 0); /* a scalar or an alias error */
    if (check == NULL)
        return NULL;
    return must(strdup((const char *)p->ev.data.scalar.value));
}

static json_t *parse_mapping(yparser *p, int depth)
{
    json_auto_t *obj = must(json_object());
    for (;;) {
        if (next_event(p) < 0)
            return NULL;
        if (p->ev.type == YAML_MAPPING_END_EVENT)
            return steal_ptr(&obj);
        _cleanup_free_ char *key = parse_key(p);
        if (key == NULL)
            return NULL;
        if (json_object_get(obj, key))
            return fail(p, "duplicate key '%.64s' " AT, key, HERE(p));
        json_t *value = next_event(p) < 0 ? NULL : parse_node(p, depth);
        if (value == NULL)
            return NULL;
        json_object_set_new(obj, key, value);
    }
}

static json_t *parse_node(yparser *p, int depth)
{
    const yaml_event_t *ev = &p->ev;
    bool is_map = ev->type == YAML_MAPPING_START_EVENT;
    if (ev->type == YAML_ALIAS_EVENT)
        return fail(p, "YAML aliases are not supported in user_data (alias '*%.64s' " AT ")",
                    (const char *)ev->data.alias.anchor, HERE(p));
    if (ev->type == YAML_SCALAR_EVENT)
        return enter_node(p, ev->data.scalar.anchor) < 0 ? NULL : scalar_value(p);
    if (!is_map && ev->type != YAML_SEQUENCE_START_EVENT) /* libyaml gives only nodes here */
        return fail(p, "unexpected YAML structure " AT, HERE(p));
    if (enter_node(p, is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor) <
            0 ||
        collection_tag(p, is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag,
                       is_map ? YAML_MAP_TAG : YAML_SEQ_TAG) < 0)
        return NULL;
    if (depth >= YAML_JSON_MAX_DEPTH)
        return fail(p, "YAML nesting is deeper than %d levels " AT, YAML_JSON_MAX_DEPTH, HERE(p));
    return is_map ? parse_mapping(p, depth + 1) : parse_sequence(p, depth + 1);
}

static json_t *parse_stream(yparser *p)
{
    if (next_event(p) < 0 || next_event(p) < 0) /* stream start, then document start */
        return NULL;
    if (p->ev.type == YAML_STREAM_END_EVENT)
        return must(json_null()); /* only comments, as PyYAML's safe_load gives None */
    if (next_event(p) < 0)
        return NULL;
    json_auto_t *root = parse_node(p, 0);
    if (root == NULL || next_event(p) < 0 || next_event(p) < 0) /* document end, then? */
        return NULL;
    if (p->ev.type == YAML_DOCUMENT_START_EVENT)
        return fail(p, "multiple YAML documents are not supported (a second one starts " AT ")",
                    HERE(p));
    return steal_ptr(&root);
}

json_t *yaml_to_json(const char *text, size_t len, cu_error **err)
{
    __attribute__((cleanup(yparser_done))) yparser p = {.err = err};
    if (!yaml_parser_initialize(&p.yp))
        abort();
    yaml_parser_set_input_string(&p.yp, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING); /* never guess UTF-16 */
    return parse_stream(&p);
}

/* ---- the emitter ---- */

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
    if (n == 0 || strlen(s) != n || resolve_plain(s) != K_STR)
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
