/* config.h: a daemon's settings from, in rising precedence, built-in
 * defaults, a config file (`key = value` lines, `#` comments), environment
 * variables and command-line flags (`--key value` or `--key=value`).
 * A key whose default is "no" is a switch: a bare `--key` means "yes".
 * Also owns --help, --version and --config, the same on every daemon. */
#ifndef CUMULUS_CONFIG_H
#define CUMULUS_CONFIG_H

#include "error.h"

typedef struct cu_config_key {
    const char *name;  /* file key and flag: "data-dir" ↔ --data-dir */
    const char *env;   /* environment variable, e.g. "CUMULUS_CP_DATA_DIR" */
    const char *def;   /* default value, or NULL for none */
    const char *help;  /* one line for --help */
} cu_config_key;

typedef struct cu_config cu_config;

typedef struct cu_config_spec {
    const char *program;     /* "cumulus-controlplane" */
    const char *summary;     /* one line saying what the daemon does */
    const char *config_env;  /* variable naming a config file, e.g. "CUMULUS_CP_CONFIG" */
    const cu_config_key *keys; /* terminated by { NULL } */
} cu_config_spec;

enum cu_config_result { CU_CONFIG_RUN = 0, CU_CONFIG_EXIT_OK = 1, CU_CONFIG_ERROR = -1 };

/* Loads the configuration.  Returns CU_CONFIG_EXIT_OK after printing
 * --help or --version (the caller exits 0), CU_CONFIG_ERROR with *err set
 * naming the file and line, the variable or the flag at fault. */
int cu_config_load(const cu_config_spec *spec, int argc, char **argv, cu_config **out,
                   cu_error **err);
const char *cu_config_get(const cu_config *cfg, const char *name);
/* Parses a non-negative integer setting; error names the setting. */
int cu_config_get_uint(const cu_config *cfg, const char *name, unsigned long max,
                       unsigned long *out, cu_error **err);
/* A yes/no setting (yes/no, true/false, on/off, 1/0); error names it. */
int cu_config_get_bool(const cu_config *cfg, const char *name, int *out, cu_error **err);
void cu_config_free(cu_config *cfg);

#endif
