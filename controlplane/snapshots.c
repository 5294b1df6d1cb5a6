/* snapshots.c: see snapshots.h. */
#define _GNU_SOURCE
#include "snapshots.h"

#include <string.h>

#include "json_util.h"
#include "store.h"

json_t *snapshot_row_to_api(json_t *row)
{
    json_object_set_new(row, "memory",
                        json_boolean(json_integer_value(json_object_get(row, "memory")) != 0));
    json_object_del(row, "_seq");
    return row;
}

int snapshots_add_to_spec(cp_app *app, const char *vm_id, json_t *spec, cu_error **err)
{
    json_t *list = store_list(app->store, err,
                              "SELECT id, json(CASE WHEN memory THEN 'true' ELSE 'false' END)"
                              " AS memory_json FROM snapshots WHERE vm_id = ?"
                              " AND state IN ('creating', 'ready') ORDER BY seq",
                              "s", vm_id);
    if (list == NULL)
        return -1;
    json_object_set_new(spec, "snapshots", list);
    json_t *vm = NULL;
    if (store_get(app->store, &vm, err,
                  "SELECT restore_request, restore_snapshot FROM vms WHERE id = ?", "s",
                  vm_id) < 0)
        return -1;
    const char *req = cu_json_str(vm, "restore_request");
    json_object_set_new(spec, "restore",
                        req ? json_pack("{s:s, s:s}", "request", req, "snapshot",
                                        cu_json_str(vm, "restore_snapshot"))
                            : json_null());
    json_decref(vm);
    return 0;
}

static const json_t *reported(const json_t *list, const char *id)
{
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e) if (strcmp(cu_json_str(e, "id") ?: "", id) == 0) return e;
    return NULL;
}

static long long jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

int snapshots_apply_report(cp_app *app, const char *vm_id, const json_t *rep, cu_error **err)
{
    const json_t *list = json_object_get(rep, "snapshots");
    if (!json_is_array(list))
        return 0; /* the host has not read the disk (yet) */
    const json_t *error = json_object_get(rep, "error");
    long long error_gen = json_is_object(error) ? jint(error, "generation") : 0;
    long long applied = jint(rep, "applied_generation");
    json_t *rows = store_list(app->store, err,
                              "SELECT id, state, generation FROM snapshots WHERE vm_id = ?"
                              " AND state IN ('creating', 'deleting')",
                              "s", vm_id);
    if (rows == NULL)
        return -1;
    size_t i;
    json_t *row;
    int rc = 0;
    json_array_foreach(rows, i, row)
    {
        const char *id = cu_json_str(row, "id");
        int creating = strcmp(cu_json_str(row, "state"), "creating") == 0;
        long long gen = jint(row, "generation");
        const json_t *got = reported(list, id);
        if (creating && got)
            rc |= store_exec(app->store, err,
                             "UPDATE snapshots SET state = 'ready', vm_state_bytes = ?,"
                             " memory = ? > 0, taken_at = ? WHERE id = ?",
                             "iiss", jint(got, "vm_state_bytes"), jint(got, "vm_state_bytes"),
                             cu_json_str(got, "taken_at"), id) < 0;
        else if (error_gen >= gen)
            /* Taking it failed: say why.  Deleting it failed: it is still there. */
            rc |= store_exec(app->store, err,
                             "UPDATE snapshots SET state = CASE WHEN ? THEN 'error' ELSE 'ready'"
                             " END, error_message = ? WHERE id = ?",
                             "iss", (long long)creating, cu_json_str(error, "message"), id) < 0;
        else if (!creating && !got && applied >= gen)
            rc |= store_exec(app->store, err, "DELETE FROM snapshots WHERE id = ?", "s", id) < 0;
    }
    json_decref(rows);
    return rc ? -1 : 0;
}
