/* fuzz_yaml.c: yaml_to_json() (controlplane/yaml_parse.c, yaml_scalar.c),
 * the reader of a user's #cloud-config, and json_to_yaml()
 * (yaml_emit.c), which writes the merged document.  What yaml_json.h
 * promises is checked: whatever is read writes back as YAML that reads
 * back equal. */
#define _GNU_SOURCE
#include "fuzz.h"

#include "yaml_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cu_error *err = NULL;
    json_t *v = yaml_to_json((const char *)data, size, &err);
    if (v == NULL) {
        FUZZ_CHECK(err != NULL && err->status == 400);
        cu_error_free(err);
        return 0;
    }
    FUZZ_CHECK(err == NULL);
    char *text = json_to_yaml(v, &err);
    FUZZ_CHECK(text != NULL); /* yaml_to_json() refuses anything too deep to write */
    json_t *back = yaml_to_json(text, strlen(text), &err);
    if (back == NULL)
        fprintf(stderr, "written:\n%s\nread back: %s\n", text, err->message);
    FUZZ_CHECK(back != NULL);
    FUZZ_CHECK(json_equal(v, back));
    json_decref(back);
    free(text);
    json_decref(v);
    return 0;
}
