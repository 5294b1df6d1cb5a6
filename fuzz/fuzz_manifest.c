/* fuzz_manifest.c: image_manifest_load() (controlplane/image_import.c),
 * which reads the manifest.json that POST /v1/images/import names (written
 * by whoever built the image).  The input is the file's content, served
 * from memory.  An accepted manifest has every required string and file
 * names without '/'. */
#define _GNU_SOURCE
#include "fuzz.h"

#include "image_import.h"
#include "json_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    if (path == NULL)
        abort();
    cu_error *err = NULL;
    json_t *m = image_manifest_load(path, &err);
    if (m == NULL) {
        FUZZ_CHECK(err != NULL && err->status == 400);
        cu_error_free(err);
        return 0;
    }
    const char *file = cu_json_str(m, "file");
    FUZZ_CHECK(file != NULL && strchr(file, '/') == NULL && strcmp(file, "..") != 0);
    FUZZ_CHECK(cu_json_str(m, "name") && cu_json_str(m, "login_user") && cu_json_str(m, "boot"));
    json_decref(m);
    return 0;
}
