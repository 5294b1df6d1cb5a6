/* vms.c: see vms.h. */
#define _GNU_SOURCE
#include "vms.h"

#include <stdio.h>
#include <stdlib.h>

#include "store.h"

json_t *vm_row_to_api(json_t *row)
{
    json_object_del(row, "_seq");
    const char *user = json_string_value(json_object_get(row, "login_user"));
    const char *addr = json_string_value(json_object_get(row, "host_address"));
    json_t *port = json_object_get(row, "ssh_port");
    json_t *ssh = json_null();
    if (user && addr && json_is_integer(port)) {
        char *cmd = NULL;
        if (asprintf(&cmd, "ssh -p %lld %s@%s", (long long)json_integer_value(port), user, addr) <
            0)
            abort();
        ssh = json_pack("{s:s, s:s, s:O, s:s}", "user", user, "host", addr, "port", port,
                        "command", cmd);
        free(cmd);
    }
    json_object_set_new(row, "ssh", ssh);
    json_object_del(row, "host_address");
    return row;
}

int vm_lookup(cp_app *app, const char *ref, json_t **vm, cu_error **err)
{
    json_t *row = NULL;
    int r = store_get(app->store, &row, err, VM_SELECT " WHERE v.id = ?1 OR v.name = ?1", "s",
                      ref);
    if (r == 1)
        *vm = vm_row_to_api(row);
    return r;
}
