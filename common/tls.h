/* tls.h: a daemon's TLS settings, the same on every daemon.
 *
 *   tls-cert, tls-key  the PEM certificate (chain) and private key its
 *                      listeners serve HTTPS and WSS with; both or neither
 *   tls-ca             the PEM CA bundle it verifies the daemons it calls
 *                      with (libcurl's CAINFO, libwebsockets' client CA);
 *                      unset: the system's trusted CAs
 *   insecure-http      serve plain HTTP on an address other than loopback
 *
 * Plain HTTP stays the default on loopback (development, tests).  On any
 * other address a listener without TLS is refused unless insecure-http is
 * set: tokens and console tickets would cross the network in clear.
 *
 * Everything is checked at start, so a daemon fails before it listens with
 * a message naming the setting and the file: one of cert/key without the
 * other, a file that cannot be read or holds no PEM, a key that is not the
 * certificate's.  This module reads the files; it never opens a socket. */
#ifndef CUMULUS_TLS_H
#define CUMULUS_TLS_H

#include "config.h"
#include "error.h"

/* The four keys, for a daemon's key table; ENV is its variables' prefix
 * ("CUMULUS_CP" gives CUMULUS_CP_TLS_CERT ...). */
#define CU_TLS_CONFIG_KEYS(ENV)                                                                    \
    {"tls-cert", ENV "_TLS_CERT", NULL,                                                            \
     "PEM certificate (chain) to serve HTTPS/WSS with, with tls-key (scripts/make-certs)"},        \
        {"tls-key", ENV "_TLS_KEY", NULL, "PEM private key of tls-cert"},                          \
        {"tls-ca", ENV "_TLS_CA", NULL,                                                            \
         "PEM CA bundle the daemons this one calls are verified with (default: the system's)"},    \
    {                                                                                              \
        "insecure-http", ENV "_INSECURE_HTTP", "no",                                               \
            "allow plain HTTP on an address other than loopback (a bare --insecure-http: yes)"     \
    }

typedef struct cu_tls {
    char *cert_file, *key_file, *ca_file; /* as configured, or NULL */
    char *cert_pem, *key_pem;             /* their contents, when TLS is on */
    int insecure_http;
} cu_tls;

/* Reads and checks the settings: 0, or -1 with *err naming what is wrong. */
int cu_tls_load(const cu_config *cfg, cu_tls *t, cu_error **err);
/* The listeners speak TLS (tls-cert and tls-key are set). */
int cu_tls_on(const cu_tls *t);
/* "https"/"http" (ws = 0) or "wss"/"ws" (ws = 1), by cu_tls_on(). */
const char *cu_tls_scheme(const cu_tls *t, int ws);
/* A listener on `host` (setting `what`, e.g. "listen") may serve: 0, or -1
 * when it is not loopback, TLS is off and insecure-http is not set. */
int cu_tls_check_listen(const cu_tls *t, const char *what, const char *host, cu_error **err);
/* 127.0.0.0/8, ::1 or "localhost". */
int cu_is_loopback(const char *host);
void cu_tls_free(cu_tls *t);

#endif
