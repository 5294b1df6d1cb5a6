/* console_routes.c: see console_routes.h. */
#define _GNU_SOURCE
#include "console_routes.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* "ws://host:port/path?ticket=T" (or wss://) -> the route's host, port,
 * path and TLS: 0, or -1 with a reason. */
static int parse_url(const char *url, console_route *r, const char **why)
{
    r->tls = strncmp(url, "wss://", 6) == 0;
    if (!r->tls && strncmp(url, "ws://", 5) != 0) {
        *why = "only ws:// and wss:// console URLs can be relayed";
        return -1;
    }
    const char *host = url + (r->tls ? 6 : 5), *slash = strchr(host, '/');
    const char *colon = slash ? memrchr(host, ':', (size_t)(slash - host)) : NULL;
    if (slash == NULL || colon == NULL || colon == host ||
        (size_t)(colon - host) >= sizeof(r->host)) {
        *why = "the console URL has no host:port";
        return -1;
    }
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (end != slash || port < 1 || port > 65535) {
        *why = "the console URL has a bad port";
        return -1;
    }
    size_t plen = strcspn(slash, "?");
    if (plen >= sizeof(r->path)) {
        *why = "the console URL's path is too long";
        return -1;
    }
    memcpy(r->host, host, (size_t)(colon - host));
    r->host[colon - host] = '\0';
    r->port = (int)port;
    memcpy(r->path, slash, plen);
    r->path[plen] = '\0';
    return 0;
}

/* Forgets expired routes; makes room by forgetting the oldest when full. */
static console_route *slot(console_routes *t, long long now_ms)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->r[i].expires_ms > now_ms)
            t->r[k++] = t->r[i];
    t->n = k;
    if (t->n == CONSOLE_ROUTES_MAX) { /* the oldest goes: its ticket is nearly spent anyway */
        memmove(&t->r[0], &t->r[1], (t->n - 1) * sizeof(t->r[0]));
        t->n--;
    }
    return &t->r[t->n++];
}

char *console_routes_adopt(console_routes *t, const char *answer, size_t len, long long now_ms,
                           size_t *out_len)
{
    json_error_t jerr;
    json_t *doc = json_loadb(answer, len, 0, &jerr);
    const char *url = json_string_value(json_object_get(doc, "url"));
    const char *ticket = json_string_value(json_object_get(doc, "ticket"));
    const char *why = NULL;
    console_route r = {0};
    char *out = NULL, *proxy_path = NULL;
    if (url == NULL || ticket == NULL)
        why = "the control plane's answer has no url or ticket";
    else if (strlen(ticket) >= sizeof(r.ticket))
        why = "the ticket is too long";
    if (why == NULL && parse_url(url, &r, &why) == 0) {
        strcpy(r.ticket, ticket);
        r.expires_ms = now_ms + CONSOLE_TICKET_TTL_MS + CONSOLE_TICKET_SKEW_MS;
        if (asprintf(&proxy_path, CONSOLE_ROUTE_PREFIX "%s?ticket=%s", r.path, ticket) < 0)
            abort();
        json_object_set_new(doc, "proxy_path", json_string(proxy_path));
        out = json_dumps(doc, JSON_COMPACT);
    }
    if (out) {
        *slot(t, now_ms) = r;
        *out_len = strlen(out);
    } else {
        log_warn("webui: a console answer is passed on without proxy_path: %s",
                 why ? why : "out of memory");
    }
    free(proxy_path);
    json_decref(doc);
    return out;
}

int console_routes_take(console_routes *t, const char *path, const char *ticket, long long now_ms,
                        console_route *out)
{
    size_t plen = strlen(CONSOLE_ROUTE_PREFIX);
    if (ticket == NULL || strncmp(path, CONSOLE_ROUTE_PREFIX, plen) != 0)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        console_route *r = &t->r[i];
        if (strcmp(r->ticket, ticket) != 0)
            continue;
        int ok = r->expires_ms > now_ms && strcmp(r->path, path + plen) == 0;
        if (ok)
            *out = *r;
        /* Taken or not, a ticket is tried once: forget it either way. */
        t->r[i] = t->r[--t->n];
        return ok ? 0 : -1;
    }
    return -1;
}
