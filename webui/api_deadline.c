/* api_deadline.c: see api_deadline.h. */
#include "api_deadline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ops_wait.h"

/* "/v1/operations/{id}/wait", then the query or nothing: the query, or
 * NULL when PATH is not a long-poll. */
static const char *wait_query(const char *path)
{
    static const char prefix[] = "/v1/operations/";
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    path += sizeof(prefix) - 1;
    size_t id = strcspn(path, "/?");
    if (id == 0 || strncmp(path + id, "/wait", 5) != 0)
        return NULL;
    const char *rest = path + id + 5;
    return *rest == '\0' || *rest == '?' ? rest : NULL;
}

/* The query's timeout=S in seconds: the default when there is none, 0
 * when it is not one the control plane takes. */
static unsigned wait_timeout_s(const char *query)
{
    for (const char *p = query; *p; p += strcspn(p, "&")) {
        p += *p == '?' || *p == '&';
        if (strncmp(p, "timeout=", 8) != 0)
            continue;
        const char *value = p + 8;
        char *end = NULL;
        errno = 0;
        long s = strtol(value, &end, 10);
        if (end == value || (*end && *end != '&') || errno || s < 0 || s > CU_OPS_WAIT_MAX_S)
            return 0;
        return (unsigned)s;
    }
    return CU_OPS_WAIT_DEFAULT_S;
}

unsigned api_deadline_answer_s(const char *path, unsigned api_timeout_s)
{
    const char *query = wait_query(path);
    return api_timeout_s + (query ? wait_timeout_s(query) : 0);
}
