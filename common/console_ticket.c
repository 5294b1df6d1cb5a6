/* console_ticket.c: see console_ticket.h.  A ticket is parsed as untrusted
 * text: every field has a fixed alphabet and length bound, and the HMAC is
 * compared in constant time before any field is believed. */
#define _GNU_SOURCE
#include "console_ticket.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ids.h"

#define E_INVALID "ticket_invalid"
#define NONCE_HEX 32
#define MAC_HEX 64

static const char *const kinds[] = {"vnc", "serial", NULL};

static int kind_ok(const char *kind)
{
    for (const char *const *k = kinds; *k; k++)
        if (strcmp(*k, kind) == 0)
            return 1;
    return 0;
}

/* A resource id as ids.h makes them: lower-case letters, digits, '-'. */
static int vm_id_ok(const char *id, size_t len)
{
    if (len == 0 || len > 63)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
            return 0;
    return 1;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void mac_hex(const void *key, size_t keylen, const char *text, size_t len,
                    char out[MAC_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)text, len, md, &mdlen) ==
            NULL ||
        mdlen != 32)
        abort(); /* libcrypto cannot do SHA-256: nothing sensible to do */
    hex(md, 32, out);
}

void console_ticket_key(const char *order_token, unsigned char key[CONSOLE_TICKET_KEY_LEN])
{
    static const char label[] = "cumulus console ticket key v1";
    unsigned int n = 0;
    if (HMAC(EVP_sha256(), order_token, (int)strlen(order_token), (const unsigned char *)label,
             sizeof(label) - 1, key, &n) == NULL ||
        n != CONSOLE_TICKET_KEY_LEN)
        abort();
}

long long console_ticket_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int console_ticket_issue(const void *key, size_t keylen, const char *vm_id, const char *kind,
                         long long now_ms, char out[CONSOLE_TICKET_MAX], cu_error **err)
{
    if (!vm_id || !vm_id_ok(vm_id, strlen(vm_id)) || !kind || !kind_ok(kind))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, NULL,
                            "a console ticket names a VM id and \"vnc\" or \"serial\"");
    unsigned char nonce[NONCE_HEX / 2];
    char nonce_hex[NONCE_HEX + 1], mac[MAC_HEX + 1];
    cu_random_bytes(nonce, sizeof(nonce));
    hex(nonce, sizeof(nonce), nonce_hex);
    int n = snprintf(out, CONSOLE_TICKET_MAX, "v1.%s.%s.%lld.%s", vm_id, kind,
                     now_ms + CONSOLE_TICKET_TTL_MS, nonce_hex);
    if (n < 0 || n + 1 + MAC_HEX >= CONSOLE_TICKET_MAX)
        abort(); /* the bounds above make this impossible */
    mac_hex(key, keylen, out, (size_t)n, mac);
    snprintf(out + n, CONSOLE_TICKET_MAX - (size_t)n, ".%s", mac);
    return 0;
}

void console_ticket_seen_init(console_ticket_seen *seen)
{
    memset(seen, 0, sizeof(*seen));
    pthread_mutex_init(&seen->lock, NULL);
}

void console_ticket_seen_destroy(console_ticket_seen *seen)
{
    pthread_mutex_destroy(&seen->lock);
}

/* 0 remembered now, -1 seen before or no room (err set). */
static int use_once(console_ticket_seen *seen, const char *nonce, long long expires_ms,
                    long long now_ms, cu_error **err)
{
    int rc = 0;
    pthread_mutex_lock(&seen->lock);
    size_t kept = 0;
    for (size_t i = 0; i < seen->n; i++) /* forget the expired */
        if (seen->entries[i].expires_ms >= now_ms)
            seen->entries[kept++] = seen->entries[i];
    seen->n = kept;
    for (size_t i = 0; i < seen->n && rc == 0; i++)
        if (strcmp(seen->entries[i].nonce, nonce) == 0)
            rc = cu_error_set(err, 401, "ticket_replayed", NULL,
                              "this console ticket was already used: ask for a new one");
    if (rc == 0 && seen->n == CONSOLE_TICKET_REMEMBERED)
        rc = cu_error_set(err, 503, "ticket_busy", NULL,
                          "too many console tickets in use; try again in %d s",
                          CONSOLE_TICKET_TTL_MS / 1000);
    if (rc == 0) {
        snprintf(seen->entries[seen->n].nonce, sizeof(seen->entries[0].nonce), "%s", nonce);
        seen->entries[seen->n++].expires_ms = expires_ms;
    }
    pthread_mutex_unlock(&seen->lock);
    return rc;
}

static int invalid(cu_error **err)
{
    return cu_error_set(err, 401, E_INVALID, NULL,
                        "missing or invalid console ticket: ask the control plane for one "
                        "(POST /v1/vms/{id}/console)");
}

int console_ticket_check(const void *key, size_t keylen, const char *ticket, const char *vm_id,
                         const char *kind, long long now_ms, console_ticket_seen *seen,
                         cu_error **err)
{
    size_t len = ticket ? strnlen(ticket, CONSOLE_TICKET_MAX) : 0;
    if (len < 3 + MAC_HEX || len >= CONSOLE_TICKET_MAX || strncmp(ticket, "v1.", 3) != 0)
        return invalid(err);
    /* The MAC first: nothing else in a ticket is believed before it. */
    size_t signed_len = len - MAC_HEX - 1;
    char want[MAC_HEX + 1];
    if (ticket[signed_len] != '.')
        return invalid(err);
    mac_hex(key, keylen, ticket, signed_len, want);
    if (CRYPTO_memcmp(want, ticket + signed_len + 1, MAC_HEX) != 0)
        return invalid(err);
    /* v1.<vm>.<kind>.<exp>.<nonce> */
    char text[CONSOLE_TICKET_MAX];
    memcpy(text, ticket, signed_len);
    text[signed_len] = '\0';
    char *save = NULL, *v = strtok_r(text, ".", &save), *id = strtok_r(NULL, ".", &save),
         *k = strtok_r(NULL, ".", &save), *exp_s = strtok_r(NULL, ".", &save),
         *nonce = strtok_r(NULL, ".", &save), *extra = strtok_r(NULL, ".", &save);
    char *end = NULL;
    long long exp = exp_s ? strtoll(exp_s, &end, 10) : 0;
    if (!v || !nonce || extra || !end || *end || strlen(nonce) != NONCE_HEX ||
        strspn(nonce, "0123456789abcdef") != NONCE_HEX)
        return invalid(err); /* signed by us, so never: but never trusted either */
    if (strcmp(id, vm_id ? vm_id : "") != 0 || strcmp(k, kind ? kind : "") != 0)
        return cu_error_set(err, 403, "ticket_wrong_vm", NULL,
                            "this console ticket is for another VM or console");
    if (now_ms > exp || exp - now_ms > CONSOLE_TICKET_TTL_MS + CONSOLE_TICKET_SKEW_MS)
        return cu_error_set(err, 401, "ticket_expired", NULL,
                            "this console ticket has expired (they last %d s): ask for a new one",
                            CONSOLE_TICKET_TTL_MS / 1000);
    return use_once(seen, nonce, exp, now_ms, err);
}
