/* guest_channel.c: see guest_channel.h.  The guest is untrusted: it may
 * write anything, as much as it likes.  Only the last READ_MAX bytes are
 * read, lines are parsed as JSON and anything unexpected is ignored; the
 * message kept is cut to size and stripped of control characters. */
#define _GNU_SOURCE
#include "guest_channel.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "json_util.h"
#include "utf8.h"

#define READ_MAX (64 * 1024)

const char *guest_status_name(guest_status s)
{
    return s == GUEST_READY ? "ready" : s == GUEST_FAILED ? "failed" : "booting";
}

/* Appends what fits of `text`, whole characters only: the agent sends the
 * result in JSON, which must stay UTF-8.  Control characters (and a byte
 * that is not UTF-8, though jansson gave us the text) become spaces, but
 * for newlines and tabs with keep_lines. */
static void append_text(char *buf, size_t size, const char *text, int keep_lines)
{
    size_t n = strlen(buf);
    while (text && *text) {
        size_t len = cu_utf8_seq((const unsigned char *)text);
        if (n + (len ? len : 1) >= size)
            break;
        if (len > 1) {
            memcpy(buf + n, text, len);
            n += len;
            text += len;
            continue;
        }
        int ctl = len == 0 || (unsigned char)*text < 0x20 || *text == 0x7f;
        buf[n++] = ctl && !(keep_lines && (*text == '\n' || *text == '\t')) ? ' ' : *text;
        text++;
    }
    buf[n] = '\0';
}

static void append_clean(char *buf, size_t size, const char *text)
{
    append_text(buf, size, text, 0);
}

/* A bake's status and log, lines kept: the log's end matters most, so a
 * long one loses its beginning. */
static void bake_detail(const json_t *j, char *buf, size_t size)
{
    const char *status = cu_json_str(j, "status"), *log = cu_json_str(j, "log");
    buf[0] = '\0';
    append_text(buf, size, "cloud-init status --long:\n", 1);
    append_text(buf, size, status ? status : "(not reported)\n", 1);
    append_text(buf, size, "\nthe end of /var/log/cloud-init-output.log:\n", 1);
    size_t room = size - strlen(buf) - 1, n = log ? strlen(log) : 0;
    const char *tail = log ? log + (n > room ? n - room : 0) : "(not reported)";
    while (((unsigned char)*tail & 0xc0) == 0x80) /* not in the middle of a character */
        tail++;
    append_text(buf, size, tail, 1);
}

int guest_channel_parse_line(const char *line, size_t len, guest_report *out)
{
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    const char *event = cu_json_str(j, "event");
    int bake = event && strcmp(event, "bake") == 0;
    if (event == NULL || (strcmp(event, "ready") != 0 && !bake)) {
        json_decref(j);
        return 0;
    }
    const json_t *errors = json_object_get(json_object_get(json_object_get(j, "result"), "v1"),
                                           "errors");
    out->message[0] = '\0';
    out->bake = bake;
    out->detail[0] = '\0';
    if (bake)
        bake_detail(j, out->detail, sizeof(out->detail));
    if (json_array_size(errors) == 0) {
        out->status = GUEST_READY;
        append_clean(out->message, sizeof(out->message), "cloud-init finished");
    } else {
        out->status = GUEST_FAILED;
        append_clean(out->message, sizeof(out->message), "cloud-init finished with errors: ");
        size_t i;
        const json_t *e;
        json_array_foreach(errors, i, e)
        {
            if (i > 0)
                append_clean(out->message, sizeof(out->message), "; ");
            append_clean(out->message, sizeof(out->message),
                         json_is_string(e) ? json_string_value(e) : "(not text)");
        }
    }
    const char *uptime = cu_json_str(j, "uptime");
    if (uptime && strspn(uptime, "0123456789.") == strlen(uptime) && strlen(uptime) < 16) {
        char tail[48];
        snprintf(tail, sizeof(tail), " (guest uptime %s s)", uptime);
        append_clean(out->message, sizeof(out->message), tail);
    }
    json_decref(j);
    return 1;
}

void guest_channel_read(const char *path, long long offset, guest_report *out, long long *mtime)
{
    out->status = GUEST_BOOTING;
    out->message[0] = '\0';
    out->bake = 0;
    out->detail[0] = '\0';
    if (mtime)
        *mtime = 0;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= offset)
        return;
    if (mtime)
        *mtime = (long long)st.st_mtime;
    long long from = st.st_size - offset > READ_MAX ? st.st_size - READ_MAX : offset;
    _cleanup_free_ char *buf = malloc(READ_MAX + 1);
    if (buf == NULL)
        abort();
    ssize_t n = pread(fd, buf, READ_MAX, (off_t)from);
    if (n <= 0)
        return;
    /* Complete lines only: a line still being written has no '\n' yet. */
    for (char *line = buf, *nl; (nl = memchr(line, '\n', (size_t)(buf + n - line))); line = nl + 1)
        guest_channel_parse_line(line, (size_t)(nl - line), out);
}

long long guest_channel_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}
