/* http_client.c: JSON over HTTP with libcurl; see http_client.h.
 *
 * One easy handle per call: no shared state but the once-only global init,
 * so any thread may call at any time.  Redirects are not followed (an order
 * or a heartbeat that gets redirected is a misconfiguration to report, not to
 * chase), and the reply is collected in memory under a size cap. */
#define _GNU_SOURCE
#include "http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "version.h"

#define SNIPPET_MAX 200

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    /* Fails only without memory; nothing could work after that. */
    if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
        abort();
}

void http_client_global_init(void)
{
    pthread_once(&global_once, global_init);
}

static char *ca_file; /* set once at start (http_client_set_ca) */

void http_client_set_ca(const char *pem_file)
{
    free(ca_file);
    ca_file = pem_file ? strdup(pem_file) : NULL;
    if (pem_file && ca_file == NULL)
        abort();
}

const char *http_client_ca(void)
{
    return ca_file;
}

void http_client_tls_setup(void *curl_easy_handle)
{
    CURL *h = curl_easy_handle;
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file != NULL) {
        curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
        curl_easy_setopt(h, CURLOPT_CAPATH, NULL); /* the cluster's CA, not the world's */
    }
}

typedef struct reply_buf {
    char *data;
    size_t len, cap;
    int too_large;
} reply_buf;

static void reply_buf_free(reply_buf *b)
{
    free(b->data);
}

static void easy_cleanupp(CURL **h)
{
    if (*h)
        curl_easy_cleanup(*h);
}

static void slist_freep(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}

static size_t on_data(char *p, size_t size, size_t n, void *opaque)
{
    reply_buf *b = opaque;
    size_t len = size * n;
    if (len > (size_t)HTTP_CLIENT_MAX_REPLY - b->len) {
        b->too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            abort();
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

static struct curl_slist *append_header(struct curl_slist *list, const char *line)
{
    struct curl_slist *l = curl_slist_append(list, line);
    if (l == NULL)
        abort();
    return l;
}

static struct curl_slist *build_headers(const char *bearer, int has_body)
{
    struct curl_slist *h = append_header(NULL, "Accept: application/json");
    if (has_body)
        h = append_header(h, "Content-Type: application/json");
    h = append_header(h, "Expect:"); /* no 100-continue round trip */
    if (bearer != NULL) {
        _cleanup_free_ char *auth = NULL;
        if (asprintf(&auth, "Authorization: Bearer %s", bearer) < 0)
            abort();
        h = append_header(h, auth);
    }
    return h;
}

static void set_method(CURL *h, const char *method, const char *payload)
{
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        return;
    }
    int wants_body =
        strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    if (payload != NULL || wants_body) { /* Content-Length: 0 rather than chunked */
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload ? payload : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(payload ? strlen(payload) : 0));
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
}

static void configure(CURL *h, const char *url, long timeout_ms, struct curl_slist *headers,
                      reply_buf *b, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cumulus/" CUMULUS_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_CLIENT_MAX_REPLY);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    http_client_tls_setup(h);
}

static int transport_error(const char *method, const char *url, CURLcode rc, const char *errbuf,
                           const reply_buf *b, cu_error **err)
{
    if ((rc == CURLE_WRITE_ERROR && b->too_large) || rc == CURLE_FILESIZE_EXCEEDED)
        return cu_error_set(err, 502, HTTP_CLIENT_E_BAD_REPLY, NULL,
                            "%s '%s': the reply is larger than %ld bytes", method, url,
                            HTTP_CLIENT_MAX_REPLY);
    const char *reason = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return cu_error_set(err, 504, HTTP_CLIENT_E_TIMEOUT, NULL, "%s '%s' timed out: %s", method,
                            url, reason);
    return cu_error_set(err, 502, HTTP_CLIENT_E_UNREACHABLE, NULL, "%s '%s' failed: %s", method,
                        url, reason);
}

/* The first bytes of a body, printable ASCII only: the message may end up
 * in a JSON document, which must be valid UTF-8. */
static void snippet(const char *data, size_t len, char out[SNIPPET_MAX + 1])
{
    size_t n = len < SNIPPET_MAX ? len : SNIPPET_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)data[i];
        out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[n] = '\0';
}

static int parse_reply(const char *method, const char *url, long status, const reply_buf *b,
                       json_t **response, cu_error **err)
{
    if (response == NULL || b->len == 0)
        return 0;
    json_error_t je;
    *response = json_loadb(b->data, b->len, JSON_DECODE_ANY, &je);
    if (*response != NULL)
        return 0;
    char text[SNIPPET_MAX + 1];
    snippet(b->data, b->len, text);
    return cu_error_set(err, 502, HTTP_CLIENT_E_BAD_REPLY, NULL,
                        "%s '%s' answered HTTP %ld with a body that is not JSON (%s): '%s'", method,
                        url, status, je.text, text);
}

int http_client_json(const char *method, const char *url, const char *bearer, const json_t *body,
                     long timeout_ms, long *status, json_t **response, cu_error **err)
{
    if (response != NULL)
        *response = NULL;
    if (status != NULL)
        *status = 0;
    if (bearer != NULL && strpbrk(bearer, "\r\n") != NULL)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "%s '%s': the bearer token contains a line break", method, url);
    _cleanup_free_ char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body != NULL && payload == NULL)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                            "%s '%s': cannot encode the request body as JSON", method, url);
    http_client_global_init();
    __attribute__((cleanup(easy_cleanupp))) CURL *h = curl_easy_init();
    if (h == NULL)
        abort();
    __attribute__((cleanup(slist_freep))) struct curl_slist *headers =
        build_headers(bearer, payload != NULL);
    __attribute__((cleanup(reply_buf_free))) reply_buf b = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    configure(h, url, timeout_ms, headers, &b, errbuf);
    set_method(h, method, payload);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK)
        return transport_error(method, url, rc, errbuf, &b, err);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (status != NULL)
        *status = code;
    return parse_reply(method, url, code, &b, response, err);
}
