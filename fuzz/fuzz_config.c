/* fuzz_config.c: the daemons' settings (common/config.c): a config file of
 * `key = value` lines and command-line flags.  Input: the file's content,
 * then a line "%%", then one flag per line (at most 8; --help, -h and
 * --version are left out: they print and exit).  The settings are then
 * read as the daemons read them (cu_config_get_uint, cu_config_get_bool). */
#define _GNU_SOURCE
#include "fuzz.h"

#include "config.h"

static const cu_config_key keys[] = {
    {"listen", "CUMULUS_FUZZ_LISTEN", "127.0.0.1:8080", "address"},
    {"data-dir", NULL, NULL, "directory"},
    {"insecure-http", NULL, "no", "a switch"},
    {"connection-limit", NULL, "64", "a number"},
    {"log-file", NULL, NULL, "a file"},
    {NULL}};
static const cu_config_spec spec = {"cumulus-fuzz", "fuzzes the config reader", NULL, keys};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = memmem(data, size, "\n%%\n", 4);
    size_t file_len = sep ? (size_t)(sep - data) + 1 : size;
    const char *path = fuzz_file(data, file_len);
    if (path == NULL)
        abort();
    fuzz_input in = {data + file_len, size - file_len};
    if (sep) {
        in.p += 3;
        in.left -= 3;
    }
    char *argv[3 + 8 + 1] = {"cumulus-fuzz", "--config", (char *)path};
    char *flags[8] = {0};
    int argc = 3, nflags = 0;
    while (in.left > 0 && nflags < 8) {
        char *f = fuzz_next_line(&in);
        flags[nflags++] = f;
        if (strncmp(f, "--help", 6) != 0 && strcmp(f, "-h") != 0 &&
            strncmp(f, "--version", 9) != 0 && strncmp(f, "--config", 8) != 0)
            argv[argc++] = f;
    }
    argv[argc] = NULL;

    cu_config *cfg = NULL;
    cu_error *err = NULL;
    int r = cu_config_load(&spec, argc, argv, &cfg, &err);
    if (r == CU_CONFIG_RUN) {
        unsigned long n;
        int b;
        cu_config_get_uint(cfg, "connection-limit", 100000, &n, &err);
        cu_error_freep(&err);
        cu_config_get_bool(cfg, "insecure-http", &b, &err);
        cu_error_freep(&err);
        for (const cu_config_key *k = keys; k->name; k++)
            cu_config_get(cfg, k->name);
        cu_config_free(cfg);
    } else {
        FUZZ_CHECK(r == CU_CONFIG_ERROR && err != NULL);
        cu_error_freep(&err);
    }
    for (int i = 0; i < nflags; i++)
        free(flags[i]);
    return 0;
}
