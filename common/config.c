/* config.c: see config.h. */
#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "version.h"

struct cu_config {
    const cu_config_spec *spec;
    size_t n;
    char **values; /* parallel to spec->keys */
};

static ssize_t key_index(const cu_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (strcmp(cfg->spec->keys[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

static void set_value(cu_config *cfg, size_t i, const char *value)
{
    free(cfg->values[i]);
    cfg->values[i] = strdup(value);
    if (cfg->values[i] == NULL)
        abort();
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int parse_line(cu_config *cfg, const char *path, unsigned lineno, char *line,
                      cu_error **err)
{
    char *s = trim(line);
    if (*s == '\0' || *s == '#')
        return 0;
    char *eq = strchr(s, '=');
    if (eq == NULL)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "%s:%u: expected 'key = value', got '%s'", path, lineno, s);
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    size_t vlen = strlen(value);
    if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
        value[vlen - 1] = '\0';
        value++;
    }
    ssize_t i = key_index(cfg, key);
    if (i < 0)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL, "%s:%u: unknown key '%s'", path,
                            lineno, key);
    set_value(cfg, (size_t)i, value);
    return 0;
}

static int load_file(cu_config *cfg, const char *path, cu_error **err)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (f == NULL)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL, "cannot open config file '%s': %s",
                            path, strerror(errno));
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    while (getline(&line, &cap, f) >= 0)
        if (parse_line(cfg, path, ++lineno, line, err) < 0)
            return -1;
    return 0;
}

static void load_env(cu_config *cfg)
{
    for (size_t i = 0; i < cfg->n; i++) {
        const char *env = cfg->spec->keys[i].env;
        const char *v = env ? getenv(env) : NULL;
        if (v != NULL)
            set_value(cfg, i, v);
    }
}

static void print_help(const cu_config_spec *spec)
{
    printf("Usage: %s [--config FILE] [OPTIONS]\n\n%s\n\nOptions (flag, then environment "
           "variable; a config file takes the same names as keys):\n",
           spec->program, spec->summary);
    printf("  --config FILE%*s read settings from FILE (%s)\n", 14, "", spec->config_env);
    for (const cu_config_key *k = spec->keys; k->name; k++) {
        printf("  --%-24s %s (%s", k->name, k->help, k->env);
        if (k->def)
            printf(", default '%s'", k->def);
        printf(")\n");
    }
    printf("  --help%*s show this help and exit\n  --version%*s show the version and exit\n",
           21, "", 18, "");
}

/* First pass over argv: --help, --version and --config, which decide what
 * the rest means.  Returns the config file path or NULL. */
static int scan_meta_flags(const cu_config_spec *spec, int argc, char **argv,
                           const char **config_path, cu_error **err)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_help(spec);
            return CU_CONFIG_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", spec->program, CUMULUS_VERSION);
            return CU_CONFIG_EXIT_OK;
        }
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return cu_error_set(err, 400, CU_E_CONFIG, NULL, "--config needs a file name");
            *config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            *config_path = argv[i] + 9;
        }
    }
    return CU_CONFIG_RUN;
}

static int load_flags(cu_config *cfg, int argc, char **argv, cu_error **err)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0)
            return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                                "unexpected argument '%s' (see --help)", arg);
        if (strcmp(arg, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(arg, "--config=", 9) == 0)
            continue;
        _cleanup_free_ char *name = strdup(arg + 2);
        char *eq = strchr(name, '=');
        const char *value = NULL;
        if (eq != NULL) {
            *eq = '\0';
            value = eq + 1;
        }
        ssize_t k = key_index(cfg, name);
        if (k < 0)
            return cu_error_set(err, 400, CU_E_CONFIG, NULL, "unknown option '--%s' (see --help)",
                                name);
        const char *def = cfg->spec->keys[k].def;
        if (value == NULL && def != NULL && strcmp(def, "no") == 0) {
            value = "yes"; /* a bare switch: --insecure-http */
        } else if (value == NULL) {
            if (i + 1 >= argc)
                return cu_error_set(err, 400, CU_E_CONFIG, NULL, "option '--%s' needs a value",
                                    name);
            value = argv[++i];
        }
        set_value(cfg, (size_t)k, value);
    }
    return 0;
}

int cu_config_load(const cu_config_spec *spec, int argc, char **argv, cu_config **out,
                   cu_error **err)
{
    const char *config_path = spec->config_env ? getenv(spec->config_env) : NULL;
    int r = scan_meta_flags(spec, argc, argv, &config_path, err);
    if (r != CU_CONFIG_RUN)
        return r;

    cu_config *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        abort();
    cfg->spec = spec;
    while (spec->keys[cfg->n].name)
        cfg->n++;
    cfg->values = calloc(cfg->n + 1, sizeof(char *));
    if (cfg->values == NULL)
        abort();
    for (size_t i = 0; i < cfg->n; i++)
        if (spec->keys[i].def)
            set_value(cfg, i, spec->keys[i].def);

    if ((config_path && config_path[0] && load_file(cfg, config_path, err) < 0) ||
        (load_env(cfg), load_flags(cfg, argc, argv, err) < 0)) {
        cu_config_free(cfg);
        return CU_CONFIG_ERROR;
    }
    *out = cfg;
    return CU_CONFIG_RUN;
}

const char *cu_config_get(const cu_config *cfg, const char *name)
{
    ssize_t i = key_index(cfg, name);
    if (i < 0)
        abort(); /* a programming error: the key is not in the table */
    return cfg->values[i];
}

int cu_config_get_uint(const cu_config *cfg, const char *name, unsigned long max,
                       unsigned long *out, cu_error **err)
{
    const char *v = cu_config_get(cfg, name);
    char *end = NULL;
    errno = 0;
    unsigned long n = v ? strtoul(v, &end, 10) : 0;
    if (v == NULL || *v == '\0' || *end != '\0' || errno != 0 || n > max || v[0] == '-')
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "setting '%s' must be a whole number from 0 to %lu, got '%s'", name,
                            max, v ? v : "");
    *out = n;
    return 0;
}

int cu_config_get_bool(const cu_config *cfg, const char *name, int *out, cu_error **err)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    const char *v = cu_config_get(cfg, name);
    for (size_t i = 0; v && i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 0;
    }
    return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                        "setting '%s' must be yes or no (or true/false, on/off, 1/0), got '%s'",
                        name, v ? v : "");
}

void cu_config_free(cu_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n; i++)
        free(cfg->values[i]);
    free(cfg->values);
    free(cfg);
}
