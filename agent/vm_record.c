/* vm_record.c: see vm_record.h. */
#define _GNU_SOURCE
#include "vm_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "utf8.h"

vm_record *vm_record_new(const char *id)
{
    vm_record *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    snprintf(r->id, sizeof(r->id), "%s", id);
    pthread_mutex_init(&r->lock, NULL);
    snprintf(r->state, sizeof(r->state), "provisioning");
    r->boot_seconds = -1;
    return r;
}

void vm_record_free(vm_record *r)
{
    vm_spec_clear(&r->spec);
    json_decref(r->snapshots);
    json_decref(r->export);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

json_t *vm_record_status(vm_record *r)
{
    pthread_mutex_lock(&r->lock);
    json_t *error = r->error_code[0]
                        ? json_pack("{s:s, s:s, s:I}", "code", r->error_code, "message",
                                    r->error_message, "generation", r->error_generation)
                        : json_null();
    json_t *guest = json_null();
    if (!r->destroyed && strcmp(r->state, "running") == 0)
        guest = json_pack("{s:s, s:s, s:o, s:b}", "state", guest_status_name(r->guest), "message",
                          r->guest_message, "boot_seconds",
                          r->boot_seconds >= 0 ? json_integer(r->boot_seconds) : json_null(),
                          "timed_out", r->boot_timed_out);
    json_t *s = json_pack("{s:s, s:s, s:I, s:I, s:o, s:i, s:s, s:o, s:I, s:I, s:o}", "id", r->id,
                          "state", r->destroyed ? "destroying" : r->state,
                          "accepted_generation", r->spec.generation, "applied_generation",
                          r->rt.applied_generation, "ssh_port",
                          r->rt.ssh_port ? json_integer(r->rt.ssh_port) : json_null(),
                          "progress", r->progress, "message", r->message, "error", error,
                          "vcpus", (json_int_t)r->spec.vcpus, "memory_mib", r->spec.memory_mib,
                          "guest", guest);
    if (r->guest_bake)
        json_object_set_new(s, "bake",
                            json_pack("{s:s, s:s, s:s}", "state", guest_status_name(r->guest),
                                      "message", r->guest_message, "detail", r->guest_detail));
    if (r->snapshots)
        json_object_set_new(s, "snapshots", json_deep_copy(r->snapshots));
    if (r->export)
        json_object_set_new(s, "export", json_deep_copy(r->export));
    pthread_mutex_unlock(&r->lock);
    return s;
}

void vm_record_set(vm_record *r, const char *state, int progress, const char *message)
{
    pthread_mutex_lock(&r->lock);
    int changed = strcmp(r->state, state) != 0;
    snprintf(r->state, sizeof(r->state), "%s", state);
    r->progress = progress;
    cu_utf8_copy(r->message, sizeof(r->message), message);
    pthread_mutex_unlock(&r->lock);
    if (changed)
        log_info("VM %s: %s (%s)", r->id, state, message);
}

void vm_record_boot_began(vm_record *r)
{
    pthread_mutex_lock(&r->lock);
    r->guest = GUEST_BOOTING;
    snprintf(r->guest_message, sizeof(r->guest_message), "booting: waiting for cloud-init");
    r->boot_seconds = -1;
    r->boot_timed_out = 0;
    r->guest_bake = 0;
    r->guest_detail[0] = '\0';
    pthread_mutex_unlock(&r->lock);
}

void vm_record_fail(vm_record *r, long long generation, const char *code, const char *message)
{
    pthread_mutex_lock(&r->lock);
    snprintf(r->state, sizeof(r->state), "error");
    cu_utf8_copy(r->error_code, sizeof(r->error_code), code);
    cu_utf8_copy(r->error_message, sizeof(r->error_message), message);
    cu_utf8_copy(r->message, sizeof(r->message), message);
    r->error_generation = generation;
    pthread_mutex_unlock(&r->lock);
    log_error("VM %s: %s", r->id, message);
}

void vm_record_error(vm_record *r, long long generation, const char *code, const char *message)
{
    pthread_mutex_lock(&r->lock);
    cu_utf8_copy(r->error_code, sizeof(r->error_code), code);
    cu_utf8_copy(r->error_message, sizeof(r->error_message), message);
    r->error_generation = generation;
    pthread_mutex_unlock(&r->lock);
    log_error("VM %s: %s", r->id, message);
}
