/* tls.c: see tls.h.  OpenSSL (libcrypto, which common/ links already) only
 * parses the PEM files here, so that a wrong file is reported by name at
 * start instead of as a failed handshake later. */
#define _GNU_SOURCE
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"

#define PEM_MAX (1 << 20) /* a certificate chain or a CA bundle is far smaller */

static char *xstrdup_or_null(const char *s)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

/* The whole file, NUL-terminated: the string, or NULL with *err. */
static char *read_pem(const char *setting, const char *path, cu_error **err)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (f == NULL) {
        cu_error_set(err, 400, CU_E_CONFIG, NULL, "cannot read %s '%s': %s", setting, path,
                     strerror(errno));
        return NULL;
    }
    _cleanup_free_ char *buf = malloc(PEM_MAX + 1);
    if (buf == NULL)
        abort();
    size_t n = fread(buf, 1, PEM_MAX + 1, f);
    if (ferror(f) || n == 0 || n > PEM_MAX) {
        cu_error_set(err, 400, CU_E_CONFIG, NULL, "cannot read %s '%s': %s", setting, path,
                     ferror(f) ? strerror(errno)
                     : n == 0  ? "it is empty"
                               : "it is over 1 MiB");
        return NULL;
    }
    buf[n] = '\0';
    return steal_ptr(&buf);
}

static void bio_freep(BIO **b)
{
    BIO_free(*b);
}

static void x509_freep(X509 **x)
{
    X509_free(*x);
}

static void pkey_freep(EVP_PKEY **k)
{
    EVP_PKEY_free(*k);
}

/* The first certificate of a PEM text, or NULL. */
static X509 *first_cert(const char *pem)
{
    __attribute__((cleanup(bio_freep))) BIO *b = BIO_new_mem_buf(pem, -1);
    return b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
}

static void warn_if_expired(const X509 *x, const char *setting, const char *path)
{
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        log_warn("%s '%s' has expired: peers will refuse it (make it again with "
                 "scripts/make-certs)",
                 setting, path);
    else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
        log_warn("%s '%s' is not valid yet (is this host's clock right?)", setting, path);
}

/* The certificate and key parse, and the key is the certificate's. */
static int check_pair(const cu_tls *t, cu_error **err)
{
    __attribute__((cleanup(x509_freep))) X509 *cert = first_cert(t->cert_pem);
    if (cert == NULL)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "tls-cert '%s' holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                            t->cert_file);
    __attribute__((cleanup(bio_freep))) BIO *b = BIO_new_mem_buf(t->key_pem, -1);
    /* No passphrase callback: an encrypted key fails here, not at a prompt. */
    __attribute__((cleanup(pkey_freep))) EVP_PKEY *key =
        b ? PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"") : NULL;
    ERR_clear_error();
    if (key == NULL)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "tls-key '%s' holds no unencrypted PEM private key", t->key_file);
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "tls-key '%s' is not the private key of tls-cert '%s'", t->key_file,
                            t->cert_file);
    }
    warn_if_expired(cert, "tls-cert", t->cert_file);
    return 0;
}

static int check_ca(const cu_tls *t, cu_error **err)
{
    _cleanup_free_ char *pem = read_pem("tls-ca", t->ca_file, err);
    if (pem == NULL)
        return -1;
    __attribute__((cleanup(x509_freep))) X509 *ca = first_cert(pem);
    ERR_clear_error();
    if (ca == NULL)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "tls-ca '%s' holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                            t->ca_file);
    warn_if_expired(ca, "tls-ca", t->ca_file);
    return 0;
}

int cu_tls_load(const cu_config *cfg, cu_tls *t, cu_error **err)
{
    memset(t, 0, sizeof(*t));
    t->cert_file = xstrdup_or_null(cu_config_get(cfg, "tls-cert"));
    t->key_file = xstrdup_or_null(cu_config_get(cfg, "tls-key"));
    t->ca_file = xstrdup_or_null(cu_config_get(cfg, "tls-ca"));
    if (cu_config_get_bool(cfg, "insecure-http", &t->insecure_http, err) < 0)
        return -1;
    if (t->cert_file && !t->key_file)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "tls-cert '%s' is set but tls-key is not: give the certificate's "
                            "private key with --tls-key (or neither, for plain HTTP)",
                            t->cert_file);
    if (t->key_file && !t->cert_file)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "tls-key '%s' is set but tls-cert is not: give the certificate with "
                            "--tls-cert (or neither, for plain HTTP)",
                            t->key_file);
    if (t->ca_file && check_ca(t, err) < 0)
        return -1;
    if (t->cert_file == NULL)
        return 0;
    if ((t->cert_pem = read_pem("tls-cert", t->cert_file, err)) == NULL ||
        (t->key_pem = read_pem("tls-key", t->key_file, err)) == NULL)
        return -1;
    return check_pair(t, err);
}

int cu_tls_on(const cu_tls *t)
{
    return t->cert_pem != NULL && t->key_pem != NULL;
}

const char *cu_tls_scheme(const cu_tls *t, int ws)
{
    if (cu_tls_on(t))
        return ws ? "wss" : "https";
    return ws ? "ws" : "http";
}

int cu_is_loopback(const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (strcmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, host, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

int cu_tls_check_listen(const cu_tls *t, const char *what, const char *host, cu_error **err)
{
    if (cu_tls_on(t) || cu_is_loopback(host))
        return 0;
    if (!t->insecure_http)
        return cu_error_set(err, 400, CU_E_CONFIG, NULL,
                            "%s '%s' is not a loopback address and TLS is off: give tls-cert and "
                            "tls-key (scripts/make-certs), or --insecure-http to serve plain HTTP "
                            "on it anyway",
                            what, host);
    log_warn("%s '%s': serving plain HTTP beyond loopback (insecure-http): tokens and console "
             "tickets cross the network in clear",
             what, host);
    return 0;
}

void cu_tls_free(cu_tls *t)
{
    free(t->cert_file);
    free(t->key_file);
    free(t->ca_file);
    if (t->key_pem)
        explicit_bzero(t->key_pem, strlen(t->key_pem));
    free(t->cert_pem);
    free(t->key_pem);
    memset(t, 0, sizeof(*t));
}
