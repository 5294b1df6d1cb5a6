/* tls_verify.h: why the webui refused a peer's certificate.
 *
 * When lws' OpenSSL refuses the certificate of an upstream (the control
 * plane for /api and /metrics, an agent for a console), the connection
 * fails with no more than "connect SSL err 1".  OpenSSL's verification
 * callback, which lws passes to protocols[0], knows why: the error, at
 * which depth, and the certificate's subject and issuer.  It is kept here
 * for that connection so its failure can be logged with it.  Nothing is
 * decided here: OpenSSL's verdict stands (verified with tls-ca, names
 * checked by lws).  Everything runs on the webui's service thread. */
#ifndef CUMULUS_WEBUI_TLS_VERIFY_H
#define CUMULUS_WEBUI_TLS_VERIFY_H

#include <libwebsockets.h>

typedef struct tls_refusal {
    const struct lws *wsi; /* the connection it is about, or NULL */
    char why[320];
} tls_refusal;

/* LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION: `x509_ctx` (the
 * callback's user), `preverify_ok` (its len).  Remembers a refusal in
 * `last`; returns what the callback must return (0: OpenSSL's verdict). */
int tls_verify_note(tls_refusal *last, struct lws *wsi, void *x509_ctx, int preverify_ok);

/* Why `wsi`'s certificate was refused (forgotten once asked), else
 * `otherwise`. */
const char *tls_verify_why(tls_refusal *last, const struct lws *wsi, const char *otherwise);

#endif
