/* cloudinit_merge.c: see cloudinit_merge.h. */
#define _GNU_SOURCE
#include "cloudinit_merge.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void *must(void *p)
{
    if (p == NULL)
        abort(); /* out of memory: the daemons treat it as fatal */
    return p;
}

static json_t *copy(const json_t *v)
{
    return must(json_deep_copy(v));
}

static void merge_into(json_t *ours, const json_t *theirs);

/* The general rule for one key of theirs: mappings merge, lists
 * concatenate (ours first), anything else: theirs replaces ours. */
static void merge_key(json_t *ours, const char *key, const json_t *theirs)
{
    json_t *mine = json_object_get(ours, key);
    size_t i;
    json_t *v;
    if (json_is_object(mine) && json_is_object(theirs))
        merge_into(mine, theirs);
    else if (json_is_array(mine) && json_is_array(theirs))
        json_array_foreach (theirs, i, v)
            json_array_append_new(mine, copy(v));
    else
        json_object_set_new(ours, key, copy(theirs));
}

static void merge_into(json_t *ours, const json_t *theirs)
{
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)theirs, key, v)
        merge_key(ours, key, v);
}

/* A list of strings as a new array, or NULL.  A string is a one-item list,
 * or with `split` a comma-separated one ("docker, adm"), as cloud-init
 * reads a user's groups. */
static json_t *string_list(const json_t *v, bool split)
{
    size_t i;
    json_t *item;
    if (json_is_array(v)) {
        json_array_foreach (v, i, item)
            if (!json_is_string(item))
                return NULL;
        return copy(v);
    }
    if (!json_is_string(v))
        return NULL;
    if (!split)
        return must(json_pack("[O]", v));
    json_t *list = must(json_array());
    for (const char *p = json_string_value(v); *p; p += *p == ',') {
        p += strspn(p, " \t");
        size_t n = strcspn(p, ",");
        size_t trimmed = n;
        while (trimmed > 0 && isspace((unsigned char)p[trimmed - 1]))
            trimmed--;
        if (trimmed > 0)
            json_array_append_new(list, must(json_stringn(p, trimmed)));
        p += n;
    }
    return list;
}

static bool has_string(const json_t *list, const json_t *s)
{
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item)
        if (json_equal(item, s))
            return true;
    return false;
}

/* groups and ssh_authorized_keys of one user: ours, then theirs not
 * already there; false when either is not a list of strings. */
static bool merge_string_lists(json_t *mine, const char *key, const json_t *theirs)
{
    bool split = strcmp(key, "groups") == 0;
    json_auto_t *list = string_list(json_object_get(mine, key), split);
    json_auto_t *more = list ? string_list(theirs, split) : NULL;
    size_t i;
    json_t *item;
    if (more == NULL)
        return false;
    json_array_foreach (more, i, item)
        if (!has_string(list, item))
            json_array_append(list, item);
    json_object_set(mine, key, list);
    return true;
}

static void merge_user(json_t *mine, const json_t *theirs)
{
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)theirs, key, v) {
        bool listy = strcmp(key, "groups") == 0 || strcmp(key, "ssh_authorized_keys") == 0;
        if (!listy || !merge_string_lists(mine, key, v))
            merge_key(mine, key, v);
    }
}

/* cloud-init's util.is_true, for the mapping form {"bob": true}. */
static bool is_true(const json_t *v)
{
    static const char *const words[] = {"true", "1", "on", "yes"};
    if (json_is_integer(v))
        return json_integer_value(v) == 1;
    for (size_t i = 0; json_is_string(v) && i < 4; i++)
        if (strcasecmp(json_string_value(v), words[i]) == 0)
            return true;
    return json_is_true(v);
}

/* Their `users` as a list: "default" → ["default"]; {"bob": {...}} →
 * [{"name": "bob", ...}], {"bob": true} → ["bob"], as ug_util.py reads it. */
static json_t *users_as_list(const json_t *users)
{
    const char *name;
    json_t *v;
    if (json_is_array(users))
        return copy(users);
    json_t *list = must(json_array());
    if (json_is_string(users))
        json_array_append_new(list, copy(users));
    json_object_foreach ((json_t *)users, name, v) {
        if (json_is_object(v)) {
            json_t *entry = must(json_pack("{s:s}", "name", name));
            merge_into(entry, v);
            json_object_set_new(entry, "name", must(json_string(name)));
            json_array_append_new(list, entry);
        } else if (is_true(v)) {
            json_array_append_new(list, must(json_string(name)));
        }
    }
    return list;
}

/* An entry of theirs naming one of our users is merged into ours: given
 * two entries, cloud-init (ug_util.py) would keep our keys, shell etc. and
 * silently drop theirs.  Other entries are appended. */
static void merge_users(json_t *ours, const json_t *theirs)
{
    json_auto_t *list = users_as_list(theirs);
    size_t n_ours = json_array_size(ours), i, j;
    json_t *entry;
    json_array_foreach (list, i, entry) {
        const char *name = json_string_value(json_object_get(entry, "name"));
        json_t *mine = NULL;
        for (j = 0; name && mine == NULL && j < n_ours; j++) {
            json_t *cand = json_array_get(ours, j);
            const char *cname = json_string_value(json_object_get(cand, "name"));
            if (cname && strcmp(cname, name) == 0)
                mine = cand;
        }
        if (mine)
            merge_user(mine, entry);
        else
            json_array_append_new(ours, copy(entry));
    }
}

void cloudinit_merge_config(json_t *ours, const json_t *theirs)
{
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)theirs, key, v) {
        if (strcmp(key, "users") == 0)
            merge_users(json_object_get(ours, "users"), v);
        else
            merge_key(ours, key, v);
    }
}

