/* test_yaml_json.c: unit tests of YAML <-> JSON (controlplane/yaml_parse.c, yaml_emit.c, yaml_scalar.c): how plain
 * scalars resolve (checked against PyYAML 6's SafeLoader by hand), nesting,
 * every refusal, the emitter's quoting, and the round-trip property
 * yaml_to_json(json_to_yaml(v)) == v over fixed and pseudo-random values. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "error.h"
#include "yaml_json.h"

static json_t *parse_ok(const char *yaml)
{
    _cleanup_error_ cu_error *err = NULL;
    json_t *v = yaml_to_json(yaml, strlen(yaml), &err);
    if (v == NULL)
        fail_msg("parsing %s: %s", yaml, err->message);
    return v;
}

/* Parses `yaml`, expects a refusal whose message holds `needle`. */
static void parse_refused(const char *yaml, const char *needle)
{
    _cleanup_error_ cu_error *err = NULL;
    json_auto_t *v = yaml_to_json(yaml, strlen(yaml), &err);
    if (v != NULL)
        fail_msg("expected %s to be refused", yaml);
    assert_non_null(err);
    assert_int_equal(err->status, 400);
    assert_string_equal(err->code, CU_E_INVALID_FIELD);
    if (strstr(err->message, needle) == NULL)
        fail_msg("message for %s is '%s', expected it to contain '%s'", yaml, err->message, needle);
}

static char *emit_ok(const json_t *v)
{
    _cleanup_error_ cu_error *err = NULL;
    char *y = json_to_yaml(v, &err);
    if (y == NULL)
        fail_msg("emitting: %s", err->message);
    return y;
}

static void assert_round_trip(const json_t *v)
{
    _cleanup_free_ char *yaml = emit_ok(v);
    json_auto_t *back = parse_ok(yaml);
    if (!json_equal(back, v)) {
        _cleanup_free_ char *want = json_dumps(v, JSON_ENCODE_ANY);
        _cleanup_free_ char *got = json_dumps(back, JSON_ENCODE_ANY);
        fail_msg("round trip of %s gave %s via YAML:\n%s", want, got, yaml);
    }
}

/* ---- reading ---- */

/* clang-format off */
static const struct {
    const char *yaml, *json;
} scalar_table[] = {
    /* null */
    {"null", "null"}, {"Null", "null"}, {"NULL", "null"}, {"~", "null"}, {"", "null"},
    {"nUll", "\"nUll\""},
    /* booleans: the YAML 1.1 words in three casings, but not y/n (PyYAML) */
    {"true", "true"}, {"True", "true"}, {"TRUE", "true"}, {"yes", "true"}, {"Yes", "true"},
    {"YES", "true"}, {"on", "true"}, {"On", "true"}, {"ON", "true"}, {"false", "false"},
    {"False", "false"}, {"FALSE", "false"}, {"no", "false"}, {"No", "false"}, {"NO", "false"},
    {"off", "false"}, {"Off", "false"}, {"OFF", "false"}, {"yEs", "\"yEs\""}, {"y", "\"y\""},
    {"n", "\"n\""}, {"Y", "\"Y\""},
    /* integers */
    {"0", "0"}, {"-0", "0"}, {"+12345", "12345"}, {"-17", "-17"}, {"1_000", "1000"}, {"0x1F", "31"},
    {"0x_1f", "31"}, {"-0x10", "-16"}, {"017", "15"}, {"012345", "5349"}, {"0b101", "5"},
    {"190:20:30", "685230"}, {"-1:30", "-90"}, {"9223372036854775807", "9223372036854775807"},
    {"-9223372036854775808", "-9223372036854775808"}, {"08", "\"08\""}, {"0o17", "\"0o17\""},
    /* floats need a '.', and a signed exponent */
    {"1.5", "1.5"}, {"1.", "1.0"}, {".5", "0.5"}, {"+1.5", "1.5"}, {"-0.0", "-0.0"},
    {"1.0e+3", "1000.0"}, {"1.0E-3", "0.001"}, {"685.230_15e+03", "685230.15"}, {"1:30.5", "90.5"},
    {"1e3", "\"1e3\""}, {"1.0e3", "\"1.0e3\""}, {"-.5", "\"-.5\""},
    /* strings */
    {"2001-12-14", "\"2001-12-14\""},
    {"2001-12-14t21:59:43.10-05:00", "\"2001-12-14t21:59:43.10-05:00\""},
    {"hello world", "\"hello world\""}, {"foo #comment", "\"foo\""}, {"a:b", "\"a:b\""},
    {"\"yes\"", "\"yes\""}, {"'123'", "\"123\""}, {"\"\"", "\"\""}, {"'null'", "\"null\""},
    {"\"tab\\there\"", "\"tab\\there\""}, {"caf\xc3\xa9", "\"caf\xc3\xa9\""},
    /* explicit tags */
    {"!!str 123", "\"123\""}, {"!!str yes", "\"yes\""}, {"!!int \"42\"", "42"},
    {"!!int '0x10'", "16"}, {"!!bool \"on\"", "true"}, {"!!bool NO", "false"}, {"!!float 1", "1.0"},
    {"!!float \"1e5\"", "100000.0"}, {"!!null \"\"", "null"}, {"! 123", "123"},
    {"! \"yes\"", "true"},
};
/* clang-format on */

static void test_scalar_resolution(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(scalar_table) / sizeof(scalar_table[0]); i++) {
        _cleanup_free_ char *doc = NULL;
        assert_true(asprintf(&doc, "v: %s\n", scalar_table[i].yaml) > 0);
        json_auto_t *v = parse_ok(doc);
        json_auto_t *want = json_loads(scalar_table[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(want);
        json_t *got = json_object_get(v, "v");
        if (!json_equal(got, want) || json_typeof(got) != json_typeof(want)) {
            _cleanup_free_ char *g = json_dumps(got, JSON_ENCODE_ANY);
            fail_msg("'%s' resolved to %s, expected %s", scalar_table[i].yaml, g,
                     scalar_table[i].json);
        }
    }
}

static void test_nesting_and_styles(void **state)
{
    (void)state;
    const char *yaml = "#cloud-config\n---\n"
                       "packages: [htop, 'curl']\n"
                       "users:\n  - default\n  - name: bob\n    groups: {admin: null}\n"
                       "script: |\n  line 1\n    indented\n"
                       "folded: >-\n  one\n  two\n"
                       "empty_map: {}\nempty_list: []\n"
                       "1: one\nnull: key\n"
                       "nested:\n  - - a\n    - b\n  - {c: [1, {d: e}]}\n";
    json_auto_t *v = parse_ok(yaml);
    json_auto_t *want = json_loads(
        "{\"packages\": [\"htop\", \"curl\"], \"users\": [\"default\", {\"name\": \"bob\", "
        "\"groups\": {\"admin\": null}}], \"script\": \"line 1\\n  indented\\n\", \"folded\": "
        "\"one two\", \"empty_map\": {}, \"empty_list\": [], \"1\": \"one\", \"null\": \"key\", "
        "\"nested\": [[\"a\", \"b\"], {\"c\": [1, {\"d\": \"e\"}]}]}",
        0, NULL);
    assert_true(json_equal(v, want));
    /* keys keep the document's order */
    const char *order[] = {"packages",   "users", "script", "folded", "empty_map",
                           "empty_list", "1",     "null",   "nested"};
    size_t i = 0;
    const char *key;
    json_t *val;
    json_object_foreach (v, key, val)
        assert_string_equal(key, order[i++]);
}

static void test_empty_documents(void **state)
{
    (void)state;
    const char *docs[] = {"", "#cloud-config\n", "# only\n# comments\n", "---\n", "--- ~\n"};
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_auto_t *v = parse_ok(docs[i]);
        assert_true(json_is_null(v));
    }
    json_auto_t *s = parse_ok("just text\n");
    assert_string_equal(json_string_value(s), "just text");
}

static char *nested_flow(int depth)
{
    char *s = malloc((size_t)depth * 2 + 1);
    assert_non_null(s);
    memset(s, '[', (size_t)depth);
    memset(s + depth, ']', (size_t)depth);
    s[depth * 2] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    (void)state;
    _cleanup_free_ char *ok = nested_flow(YAML_JSON_MAX_DEPTH);
    json_auto_t *v = parse_ok(ok);
    assert_true(json_is_array(v));
    _cleanup_free_ char *deep = nested_flow(YAML_JSON_MAX_DEPTH + 1);
    parse_refused(deep, "deeper than 64 levels");
    _cleanup_free_ char *very_deep = nested_flow(100000);
    parse_refused(very_deep, "deeper than 64 levels");
}

static char *list_of(int items)
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    assert_non_null(f);
    for (int i = 0; i < items; i++)
        fputs("- x\n", f);
    fclose(f);
    return s;
}

static void test_node_limit(void **state)
{
    (void)state;
    _cleanup_free_ char *ok = list_of(YAML_JSON_MAX_NODES - 1); /* + the list itself */
    json_auto_t *v = parse_ok(ok);
    assert_int_equal(json_array_size(v), YAML_JSON_MAX_NODES - 1);
    _cleanup_free_ char *big = list_of(YAML_JSON_MAX_NODES);
    parse_refused(big, "more than 10000 nodes");
}

/* clang-format off */
static const struct {
    const char *yaml, *needle;
} refusal_table[] = {
    {"a: &x 1\nb: *x\n", "YAML aliases are not supported in user_data"},
    {"a: &anchor [1, 2]\n",
     "YAML aliases are not supported in user_data (anchor '&anchor' at line 1, column 4)"},
    {"a: 1\nb: *nowhere\n", "YAML aliases are not supported in user_data"},
    {"a: 1\n---\nb: 2\n",
     "multiple YAML documents are not supported (a second one starts at line 2"},
    {"? {a: 1}\n: x\n", "the mapping key at line 1, column 3 is a mapping"},
    {"[a, b]: x\n", "is a sequence; only scalar keys are supported"},
    {"a: 1\nb: 2\na: 3\n", "duplicate key 'a' at line 3, column 1"},
    {"a: !!python/object:os.system x\n",
     "unsupported YAML tag '!!python/object:os.system' at line 1, column 4"},
    {"a: !!python/name:os.system\n", "unsupported YAML tag '!!python/name:os.system'"},
    {"a: !!binary aGVsbG8=\n", "encoding: b64"},
    {"a: !!timestamp 2001-12-14\n", "unsupported YAML tag '!!timestamp'"},
    {"a: !custom x\n", "unsupported YAML tag '!custom'"},
    {"a: !!set {x: null}\n", "unsupported YAML tag '!!set'"},
    {"a: !!str [1]\n", "unsupported YAML tag '!!str'"},
    {"!!python/name:x : 1\n", "unsupported YAML tag"},
    {"a: !!int abc\n", "'abc' at line 1, column 4 is not a valid !!int"},
    {"a: !!bool maybe\n", "is not a valid !!bool"},
    {"a: !!float 0x10\n", "is not a valid !!float"},
    {"a: !!float \"-\"\n", "is not a valid !!float"},
    {"a: .inf\n", "float '.inf' at line 1, column 4 is infinite or not a number"},
    {"a: -.Inf\n", "infinite or not a number"},
    {"a: .NaN\n", "infinite or not a number"},
    {"a: 1.0e+999\n", "infinite or not a number"},
    {"a: 9223372036854775808\n",
     "integer '9223372036854775808' at line 1, column 4 has no digits or exceeds 64 bits"},
    {"a: 0b_\n", "has no digits"},
    {"<<: {a: 1}\n", "plain '<<' at line 1, column 1 means something else in YAML 1.1; quote it"},
    {"a: =\n", "plain '=' at line 1, column 4"},
    {"a: \"nul\\0here\"\n", "contains a NUL character"},
    {"a: 1\nb: [1, 2\nc: 3\n", "YAML syntax error at line 3"},
    {"a: b: c\n", "YAML syntax error at line 1, column 5: mapping values are not allowed"},
    {"a:\n  - 1\n - 2\n", "YAML syntax error at line 3"},
    {"a: \"unterminated\n", "YAML syntax error"},
    {"a: 'x'\tb\n", "YAML syntax error"},
    {"a: \x01\n", "YAML error at byte offset 3"},
    {"a: \xff\n", "YAML error at byte offset 3"},
};
/* clang-format on */

static void test_refusals(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(refusal_table) / sizeof(refusal_table[0]); i++)
        parse_refused(refusal_table[i].yaml, refusal_table[i].needle);
}

static void test_billion_laughs(void **state)
{
    (void)state;
    parse_refused(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
        "YAML aliases are not supported in user_data");
}

/* ---- writing ---- */

static void assert_emits(const char *json, const char *want)
{
    json_auto_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    _cleanup_free_ char *got = emit_ok(v);
    if (strcmp(got, want) != 0)
        fail_msg("%s emitted as:\n%s\nexpected:\n%s", json, got, want);
    assert_round_trip(v);
}

static void test_emit_layout(void **state)
{
    (void)state;
    assert_emits("{\"hostname\": \"web-1\", \"users\": [{\"name\": \"debian\", \"groups\": "
                 "[\"sudo\"], \"ssh_authorized_keys\": [\"ssh-ed25519 AAAA x@y\"]}, \"default\"], "
                 "\"apt\": {\"sources\": {\"x\": {\"source\": \"deb http://x stable main\"}}}, "
                 "\"m\": [[1, 2], [], {}], \"e\": {}}",
                 "hostname: web-1\n"
                 "users:\n"
                 "  - name: debian\n"
                 "    groups:\n"
                 "      - sudo\n"
                 "    ssh_authorized_keys:\n"
                 "      - ssh-ed25519 AAAA x@y\n"
                 "  - default\n"
                 "apt:\n"
                 "  sources:\n"
                 "    x:\n"
                 "      source: \"deb http://x stable main\"\n"
                 "m:\n"
                 "  - - 1\n"
                 "    - 2\n"
                 "  - []\n"
                 "  - {}\n"
                 "e: {}\n");
    assert_emits("[]", "[]\n");
    assert_emits("{}", "{}\n");
    assert_emits("null", "null\n");
    assert_emits("\"yes\"", "\"yes\"\n");
    assert_emits("[{\"a\": 1, \"b\": [true, false, null]}]",
                 "- a: 1\n  b:\n    - true\n    - false\n    - null\n");
}

/* clang-format off */
static const struct {
    const char *json; /* a JSON string */
    const char *yaml; /* how it must be written */
} quoting_table[] = {
    {"\"plain text\"", "plain text"}, {"\"/bin/bash\"", "/bin/bash"},
    {"\"ssh-ed25519 AAAAC3 me@host\"", "ssh-ed25519 AAAAC3 me@host"},
    {"\"caf\xc3\xa9\"", "caf\xc3\xa9"}, {"\"a,b\"", "a,b"}, {"\"it's\"", "it's"},
    {"\"ALL=(ALL) NOPASSWD:ALL\"", "\"ALL=(ALL) NOPASSWD:ALL\""}, {"\"yes\"", "\"yes\""},
    {"\"No\"", "\"No\""}, {"\"on\"", "\"on\""}, {"\"y\"", "\"y\""}, {"\"n\"", "\"n\""},
    {"\"true\"", "\"true\""}, {"\"null\"", "\"null\""}, {"\"~\"", "\"~\""}, {"\"\"", "\"\""},
    {"\"123\"", "\"123\""}, {"\"0x1f\"", "\"0x1f\""}, {"\"017\"", "\"017\""},
    {"\"0o17\"", "\"0o17\""}, {"\"1.5\"", "\"1.5\""}, {"\"1e3\"", "\"1e3\""},
    {"\"1_000\"", "\"1_000\""}, {"\"1:30\"", "\"1:30\""}, {"\".inf\"", "\".inf\""},
    {"\"nan\"", "\"nan\""}, {"\"2001-12-14\"", "\"2001-12-14\""}, {"\"<<\"", "\"<<\""},
    {"\"=\"", "\"=\""}, {"\" lead\"", "\" lead\""}, {"\"trail \"", "\"trail \""},
    {"\"a: b\"", "\"a: b\""}, {"\"a #b\"", "\"a #b\""}, {"\"key:\"", "\"key:\""},
    {"\"- item\"", "\"- item\""}, {"\"? x\"", "\"? x\""}, {"\"#x\"", "\"#x\""},
    {"\"&a\"", "\"&a\""}, {"\"*a\"", "\"*a\""}, {"\"!tag\"", "\"!tag\""}, {"\"|\"", "\"|\""},
    {"\">\"", "\">\""}, {"\"'q'\"", "\"'q'\""}, {"\"\\\"q\\\"\"", "\"\\\"q\\\"\""},
    {"\"%x\"", "\"%x\""}, {"\"@x\"", "\"@x\""}, {"\"`x`\"", "\"`x`\""}, {"\"[a]\"", "\"[a]\""},
    {"\"{a}\"", "\"{a}\""}, {"\"...\"", "\"...\""}, {"\"---\"", "\"---\""},
    {"\"tab\\there\"", "\"tab\\there\""}, {"\"back\\\\slash\"", "back\\slash"},
    {"\"bell\\u0007\"", "\"bell\\x07\""}, {"\"del\\u007f\"", "\"del\\x7f\""},
    {"\"nel\\u0085\"", "\"nel\\x85\""}, {"\"ls\\u2028\"", "\"ls\\L\""},
    {"\"bom\\ufeff\"", "\"bom\\ufeff\""}, {"\"cr\\r\\n\"", "\"cr\\r\\n\""},
    {"\"\\nstarts with newline\"", "\"\\nstarts with newline\""},
    {"\"two\\nlines\"", "|-\n  two\n  lines"}, {"\"two\\nlines\\n\"", "|\n  two\n  lines"},
    {"\"keep\\n\\n\"", "\"keep\\n\\n\""}, {"\" indented\\nblock\"", "\" indented\\nblock\""},
    {"\"blank\\n  \\nline\"", "\"blank\\n  \\nline\""},
};
/* clang-format on */

static void test_emit_quoting(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(quoting_table) / sizeof(quoting_table[0]); i++) {
        _cleanup_free_ char *json = NULL, *want = NULL;
        const char *y = quoting_table[i].yaml;
        assert_true(asprintf(&json, "{\"k\": %s}", quoting_table[i].json) > 0);
        assert_true(asprintf(&want, "k: %s\n", y) > 0);
        assert_emits(json, want);
    }
}

static void test_emit_numbers(void **state)
{
    (void)state;
    assert_emits("[0, -1, 9223372036854775807, -9223372036854775808]",
                 "- 0\n- -1\n- 9223372036854775807\n- -9223372036854775808\n");
    assert_emits("[1.0, 100.0, 0.1, -0.0, 1.5, 123.456, 1e20, 1e-7, 1.5e300, 0.0001]",
                 "- 1.0\n- 100.0\n- 0.1\n- -0.0\n- 1.5\n- 123.456\n- 1.0e+20\n- 1.0e-07\n"
                 "- 1.5e+300\n- 0.0001\n");
    json_auto_t *odd = json_pack("[f, f, f]", 2.2250738585072014e-308, 0.1 + 0.2, 1.0 / 3.0);
    assert_round_trip(odd);
}

static void test_emit_keys(void **state)
{
    (void)state;
    assert_emits("{\"yes\": 1, \"1\": 2, \"a b\": 3, \"a: b\": 4, \"\": 5, \"x\\ny\": 6}",
                 "\"yes\": 1\n\"1\": 2\na b: 3\n\"a: b\": 4\n\"\": 5\n\"x\\ny\": 6\n");
    /* keys beyond YAML's 1024-character implicit key limit use "? key" */
    char long_key[1101];
    memset(long_key, 'k', 1100);
    long_key[1100] = '\0';
    json_auto_t *v = json_pack("{s:{s:i}, s:[{s:s}]}", long_key, "a", 1, "list", long_key, "v");
    _cleanup_free_ char *y = emit_ok(v);
    assert_non_null(strstr(y, "? \"kkk"));
    assert_round_trip(v);
    /* insertion order, not sorted */
    json_auto_t *o = json_object();
    json_object_set_new(o, "zeta", json_integer(1));
    json_object_set_new(o, "alpha", json_integer(2));
    json_object_set_new(o, "mid", json_integer(3));
    _cleanup_free_ char *oy = emit_ok(o);
    assert_string_equal(oy, "zeta: 1\nalpha: 2\nmid: 3\n");
}

static void test_emit_depth(void **state)
{
    (void)state;
    json_auto_t *ok = json_array();
    json_t *inner = ok;
    for (int i = 1; i < YAML_JSON_MAX_DEPTH; i++) {
        json_t *next = json_array();
        json_array_append_new(inner, next);
        inner = next;
    }
    assert_round_trip(ok);
    json_array_append_new(inner, json_object()); /* one level too many, even empty */
    _cleanup_error_ cu_error *err = NULL;
    char *y = json_to_yaml(ok, &err);
    assert_null(y);
    assert_non_null(strstr(err->message, "deeper than 64 levels"));
}

static void test_round_trip_values(void **state)
{
    (void)state;
    const char *values[] = {
        "{\"write_files\": [{\"path\": \"/etc/motd\", \"content\": \"#!/bin/sh\\necho 'hi: there' "
        "# x\\n\\n\\tdone\\n\", \"permissions\": \"0644\"}]}",
        "{\"runcmd\": [[\"sh\", \"-c\", \"echo $HOME\"], \"ls -la | grep x\", \"- dash\"]}",
        "[\"\", \" \", \"  \", \"\\t\", \"\\n\", \"\\n\\n\", \"a\\n\", \"a\\n\\n\", \"a\\n \", \"a "
        "\\nb\", \"a\\n\\tb\", \"a\\n\\nb\", \"a\\n  b\\n\"]",
        "{\"nested\": {\"deeper\": {\"list\": [{\"a\": [{\"b\": {}}]}, [[[]]]]}}}",
        "[1, -1, 1.25, true, false, null, \"1\", \"true\", \"null\", \"\\u00e9\\u65e5\\u672c\"]",
        "{\"---\": \"...\", \"- a\": \"? b\", \"#\": \"&\", \"|\": \">\", \"'\": \"\\\"\"}",
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        json_auto_t *v = json_loads(values[i], JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        assert_round_trip(v);
    }
}

/* A small deterministic generator (xorshift) of awkward values. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* clang-format off */
static const char *const fragments[] = {
    "yes", "no", "on", "off", "y", "null", "~", "0", "017", "0x1f", "1.5", "1e3", ".inf", "0o17",
    "2001-12-14", "<<", "=", "-", "- a", "? x", ": ", "a: b", " #", "#", "---", "...", " ", "\t",
    "\n", "\n\n", "\r", "\xc3\xa9", "\xe6\x97\xa5", "\xe2\x80\xa8", "\xc2\x85", "\xef\xbb\xbf",
    "\x01", "\x7f", "\"", "'", "\\", "!", "&", "*", "%", "@", "`", "[", "]", "{", "}", ",", "|",
    ">", "true", "1:30", "word", "ssh-ed25519 AAAA me@host", "ALL=(ALL) NOPASSWD:ALL",
};
/* clang-format on */

static json_t *random_string(void)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    for (unsigned n = rnd(5); n > 0; n--)
        fputs(fragments[rnd(sizeof(fragments) / sizeof(fragments[0]))], f);
    fclose(f);
    return json_string(buf);
}

static json_t *random_value(int depth)
{
    unsigned r = rnd(10);
    if (depth > 4 || r < 5) {
        switch (rnd(6)) {
        case 0:
            return json_integer((json_int_t)rnd(2000) - 1000);
        case 1:
            return json_real((double)rnd(100000) / 64.0 - 500.0);
        case 2:
            return json_boolean(rnd(2));
        case 3:
            return json_null();
        default:
            return random_string();
        }
    }
    json_t *c = r < 7 ? json_array() : json_object();
    for (unsigned n = rnd(4); n > 0; n--) {
        if (json_is_array(c)) {
            json_array_append_new(c, random_value(depth + 1));
        } else {
            json_auto_t *k = random_string();
            json_object_set_new(c, json_string_value(k), random_value(depth + 1));
        }
    }
    return c;
}

static void test_round_trip_random(void **state)
{
    (void)state;
    for (int i = 0; i < 3000; i++) {
        json_auto_t *v = random_value(0);
        assert_round_trip(v);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_resolution), cmocka_unit_test(test_nesting_and_styles),
        cmocka_unit_test(test_empty_documents),   cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_node_limit),        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_billion_laughs),    cmocka_unit_test(test_emit_layout),
        cmocka_unit_test(test_emit_quoting),      cmocka_unit_test(test_emit_numbers),
        cmocka_unit_test(test_emit_keys),         cmocka_unit_test(test_emit_depth),
        cmocka_unit_test(test_round_trip_values), cmocka_unit_test(test_round_trip_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
