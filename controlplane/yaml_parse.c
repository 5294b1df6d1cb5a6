/* yaml_parse.c: YAML text to jansson values, yaml_to_json() (see
 * yaml_json.h).
 *
 * Owns the reading of user-supplied YAML with libyaml's event parser, the
 * meaning of tags, and the limits that keep hostile input cheap (nodes,
 * depth, no aliases).  Plain scalars are typed by yaml_scalar.c.  Must not:
 * expand aliases, construct anything a tag names, or depend on the process
 * locale beyond the C numeric conventions. */
#define _GNU_SOURCE
#include "yaml_json.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cleanup.h"
#include "yaml_private.h"

#define refuse(err, ...) cu_error_set((err), 400, CU_E_INVALID_FIELD, NULL, __VA_ARGS__)
/* refuse() in functions that return a value: sets p->err, gives NULL */
#define fail(p, ...) (refuse((p)->err, __VA_ARGS__), NULL)
#define TAG_PREFIX "tag:yaml.org,2002:"

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

static json_t *typed_scalar(yparser *p, enum yaml_kind k, const char *s)
{
    json_int_t i;
    double d;
    bool b = false;
    if (k == K_NULL)
        return must(json_null());
    if (k == K_BOOL && yaml_bool_word(s, &b))
        return must(json_boolean(b));
    if (k == K_INT && yaml_parse_int(s, &i))
        return must(json_integer(i));
    if (k == K_INT)
        return fail(p, "integer '%.64s' " AT " has no digits or exceeds 64 bits", s, HERE(p));
    if (k == K_FLOAT && yaml_parse_float(s, &d))
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
    if (strcmp(tag, YAML_BOOL_TAG) == 0 && yaml_bool_word(s, &b))
        return must(json_boolean(b));
    if (strcmp(tag, YAML_INT_TAG) == 0 && yaml_matches(K_INT, s))
        return typed_scalar(p, K_INT, s);
    if (strcmp(tag, YAML_FLOAT_TAG) == 0 && s[strspn(s, "0123456789+-._:eE")] == '\0' &&
        yaml_parse_float(s, &d))
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
        return typed_scalar(p, yaml_resolve_plain(s), s);
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
