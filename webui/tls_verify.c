/* tls_verify.c: see tls_verify.h. */
#define _GNU_SOURCE
#include "tls_verify.h"

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>

int tls_verify_note(tls_refusal *last, struct lws *wsi, void *x509_ctx, int preverify_ok)
{
    X509_STORE_CTX *ctx = x509_ctx;
    if (preverify_ok || ctx == NULL) {
        if (last->wsi == wsi)
            last->wsi = NULL;
        return 0;
    }
    int err = X509_STORE_CTX_get_error(ctx);
    X509 *cert = X509_STORE_CTX_get_current_cert(ctx);
    char subject[128] = "?", issuer[128] = "?";
    if (cert) {
        X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof(subject));
        X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof(issuer));
    }
    /* Cut short if it must: it is a log line's reason. */
    int n = snprintf(last->why, sizeof(last->why),
                     "its certificate was refused: %s (subject '%s', issuer '%s', depth %d): is it "
                     "signed by tls-ca, and for this address?",
                     X509_verify_cert_error_string(err), subject, issuer,
                     X509_STORE_CTX_get_error_depth(ctx));
    (void)n;
    last->wsi = wsi;
    return 0;
}

const char *tls_verify_why(tls_refusal *last, const struct lws *wsi, const char *otherwise)
{
    if (wsi == NULL || last->wsi != wsi)
        return otherwise;
    last->wsi = NULL; /* the text stays until the next refusal: the caller logs it now */
    return last->why;
}
