/* http_client.h: the small libcurl wrapper both daemons use to talk JSON to
 * each other (orders to agents, heartbeats and joins to the control plane).
 *
 * Thread-safe: libcurl is initialised once (pthread_once) and every call
 * uses its own easy handle.  No signals (CURLOPT_NOSIGNAL), no redirects
 * followed, http/https only, replies capped at HTTP_CLIENT_MAX_REPLY.
 * It must not be used for big downloads (agent/image_cache.c streams those). */
#ifndef CUMULUS_HTTP_CLIENT_H
#define CUMULUS_HTTP_CLIENT_H

#include <jansson.h>

#include "error.h"

#define HTTP_CLIENT_MAX_REPLY (16L * 1024 * 1024)

/* Error codes set by http_client_json(). */
#define HTTP_CLIENT_E_UNREACHABLE "unreachable" /* 502: refused, DNS, reset, TLS */
#define HTTP_CLIENT_E_TIMEOUT "timeout"         /* 504: no whole answer in time */
#define HTTP_CLIENT_E_BAD_REPLY "bad_reply"     /* 502: not JSON, or too large */

/* curl_global_init(), exactly once per process; safe from any thread.  Other
 * modules that use libcurl directly call this before curl_easy_init(). */
void http_client_global_init(void);

/* The CA bundle (PEM file) peers are verified with, for the whole process
 * (tls.h's tls-ca): set once at start, before any call.  NULL (the
 * default): the system's trusted CAs.  Peers are always verified, name and
 * chain; nothing here turns that off. */
void http_client_set_ca(const char *pem_file);
const char *http_client_ca(void);
/* Sets a libcurl easy handle to verify with http_client_ca(): only that
 * bundle when it is set (not the system's too), else the system's. */
void http_client_tls_setup(void *curl_easy_handle);

/* Sends `method` to `url` with `body` as JSON (NULL: no body) and an
 * "Authorization: Bearer" header when `bearer` is not NULL, waiting at most
 * `timeout_ms` (<= 0: no limit) for the whole exchange.
 *
 * Returns 0 when an HTTP answer came back, whatever its status: *status gets
 * it (may be NULL) and *response (may be NULL: the body is then ignored) the
 * parsed JSON body, or NULL when the body was empty — so a caller reads a
 * 4xx/5xx {"error":{...}} document like any other.
 * Returns -1 with *err when there was no usable answer: a transport failure
 * (refused, DNS, timeout; the message names the method, URL and curl's
 * reason), a reply over HTTP_CLIENT_MAX_REPLY, or a non-JSON body (the message
 * quotes its first 200 bytes; *status is still set).  *response is NULL then. */
int http_client_json(const char *method, const char *url, const char *bearer, const json_t *body,
                     long timeout_ms, long *status, json_t **response, cu_error **err);

#endif
