/* cloudinit_merge.h: how the user's cloud-config joins ours (cloudinit.c):
 * mappings merge, lists concatenate (ours first), other values: theirs
 * replace ours; `users` merge by name, the login user's keys and groups
 * kept. */
#ifndef CUMULUS_CP_CLOUDINIT_MERGE_H
#define CUMULUS_CP_CLOUDINIT_MERGE_H

#include <jansson.h>

/* Merges `theirs` (a parsed cloud-config mapping) into `ours`. */
void cloudinit_merge_config(json_t *ours, const json_t *theirs);

#endif
