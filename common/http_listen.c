/* http_listen.c: a listen setting ("HOST:PORT", "[::1]:PORT") into a
 * socket address, for http_server.c (declared in http_server.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http_server.h"

int http_parse_listen(const char *listen, char *host, size_t hostlen, unsigned *port,
                      cu_error **err)
{
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    size_t n = colon ? (size_t)(colon - listen) : 0;
    if (colon && listen[0] == '[' && n >= 2 && listen[n - 1] == ']') {
        h = listen + 1;
        n -= 2;
    }
    char *end = NULL;
    unsigned long p = colon ? strtoul(colon + 1, &end, 10) : 0;
    if (colon == NULL || n == 0 || n >= hostlen || *end != '\0' || end == colon + 1 || p > 65535)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "listen address '%s' must look like HOST:PORT (e.g. 127.0.0.1:8080, "
                            "[::1]:8080; port 0 picks a free port)",
                            listen);
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (unsigned)p;
    return 0;
}

int http_listen_sockaddr(const char *listen, struct sockaddr_storage *ss, cu_error **err)
{
    char host[256];
    unsigned port;
    if (http_parse_listen(listen, host, sizeof(host), &port, err) < 0)
        return -1;
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        return AF_INET;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        return AF_INET6;
    }
    return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                        "listen host '%s' must be an IPv4 or IPv6 address", host);
}

