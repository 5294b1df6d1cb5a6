/* utf8.c: see utf8.h. */
#include "utf8.h"

#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

size_t cu_utf8_seq(const unsigned char *s)
{
    size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
                             : s[0] >= 0xe0 && s[0] <= 0xef ? 3
                             : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
    unsigned cp = n == 1 ? s[0] : n == 2 ? s[0] & 0x1f : n == 3 ? s[0] & 0x0f : s[0] & 0x07;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

size_t cu_utf8_copy(char *dst, size_t size, const char *src)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)src; p && *p;) {
        size_t n = cu_utf8_seq(p);
        const void *from = n ? (const void *)p : REPLACEMENT;
        size_t len = n ? n : sizeof(REPLACEMENT) - 1;
        if (o + len >= size)
            break;
        memcpy(dst + o, from, len);
        o += len;
        p += n ? n : 1;
    }
    dst[o] = '\0';
    return o;
}
