/* run_request.h: the body of POST /v1/runs, checked field by field
 * (run_request.c), and the files it carries written to the run's
 * directory for the worker to copy. */
#ifndef CUMULUS_CP_RUN_REQUEST_H
#define CUMULUS_CP_RUN_REQUEST_H

#include <jansson.h>
#include <stddef.h>

#include "app.h"

#define RUN_FILES_MAX 64
#define RUN_FILE_PATH_MAX 1024
#define RUN_FILES_BYTES_MAX (16u << 20) /* all files together */
#define RUN_COMMAND_MAX 65536

typedef struct run_file {
    const char *path, *mode; /* as sent (mode "0644" unless given) */
    unsigned char *data;     /* the bytes, decoded */
    size_t len;
} run_file;

typedef struct run_request {
    json_t *image, *size, *keys; /* rows; the key copies */
    const char *command;
    long long timeout;
    run_file *files;
    size_t nfiles;
} run_request;

/* 0, or -1 with a 400 naming the field ("files[1].path" for a file's). */
int run_request_parse(cp_app *app, const json_t *body, run_request *out, cu_error **err);
void run_request_clear(run_request *r);

/* [{path, mode, bytes}] for the run's row (no contents). */
json_t *run_request_files_json(const run_request *r);
/* Writes each file's bytes to dir/files/<n> (mode 0600). */
int run_request_write_files(const run_request *r, const char *dir, cu_error **err);

#endif
