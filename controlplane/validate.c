/* validate.c: see validate.h. */
#define _GNU_SOURCE
#include "validate.h"

#include <string.h>

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int validate_dns_label(const char *field, const char *value, cu_error **err)
{
    size_t n = strlen(value);
    int ok = n >= 1 && n <= 63 && value[0] != '-' && value[n - 1] != '-';
    for (size_t i = 0; ok && i < n; i++)
        ok = is_lower_alnum(value[i]) || value[i] == '-';
    if (!ok)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, field,
                            "%s '%s' is not a valid name: use 1 to 63 lower-case letters, digits "
                            "and hyphens, not starting or ending with a hyphen",
                            field, value);
    return 0;
}

int validate_int(const json_t *obj, const char *field, long long min, long long max,
                 long long *out, cu_error **err)
{
    json_t *v = json_object_get(obj, field);
    long long n = json_integer_value(v);
    if (!json_is_integer(v) || n < min || n > max)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, field,
                            "%s must be a whole number from %lld to %lld", field, min, max);
    *out = n;
    return 0;
}

int validate_enum(const char *field, const char *value, const char *const *allowed,
                  cu_error **err)
{
    char list[256] = "";
    size_t used = 0;
    for (const char *const *a = allowed; *a; a++) {
        if (strcmp(*a, value) == 0)
            return 0;
        int w = snprintf(list + used, sizeof(list) - used, "%s'%s'", used ? ", " : "", *a);
        if (w > 0 && (size_t)w < sizeof(list) - used)
            used += (size_t)w;
    }
    return cu_error_set(err, 400, CU_E_INVALID_FIELD, field, "%s '%s' is not one of %s", field,
                        value, list);
}

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int validate_checksum(const char *field, const char *value, cu_error **err)
{
    size_t n = strlen(value);
    if ((strncmp(value, "sha256:", 7) == 0 && n == 7 + 64 && all_hex(value + 7, 64)) ||
        (strncmp(value, "sha512:", 7) == 0 && n == 7 + 128 && all_hex(value + 7, 128)))
        return 0;
    return cu_error_set(err, 400, CU_E_INVALID_FIELD, field,
                        "%s must be 'sha256:' and 64 lower-case hex digits (or 'sha512:' and "
                        "128), got '%.80s'",
                        field, value);
}

static int has_space_or_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return 1;
    return 0;
}

/* A ".." segment, also when its dots are written %2e: curl decodes a
 * file:// path, and web servers decode before they resolve. */
static int has_dot_dot(const char *value)
{
    char plain[2049];
    size_t n = 0;
    for (const char *p = value; *p && n < sizeof(plain) - 1; n++) {
        int dot = p[0] == '%' && p[1] == '2' && (p[2] == 'e' || p[2] == 'E');
        plain[n] = dot ? '.' : *p;
        p += dot ? 3 : 1;
    }
    plain[n] = '\0';
    return strstr(plain, "/../") != NULL || (n >= 3 && strcmp(plain + n - 3, "/..") == 0);
}

int validate_image_url(const char *field, const char *value, cu_error **err)
{
    int scheme_ok = strncmp(value, "http://", 7) == 0 || strncmp(value, "https://", 8) == 0 ||
                    strncmp(value, "file:///", 8) == 0;
    if (!scheme_ok || has_space_or_control(value) || strlen(value) > 2048 || has_dot_dot(value))
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, field,
                            "%s '%.200s' must be an http://, https:// or file:/// URL without "
                            "spaces or '..' segments",
                            field, value);
    return 0;
}

int validate_username(const char *field, const char *value, cu_error **err)
{
    size_t n = strlen(value);
    int ok = n >= 1 && n <= 32 && ((value[0] >= 'a' && value[0] <= 'z') || value[0] == '_');
    for (size_t i = 1; ok && i < n; i++)
        ok = is_lower_alnum(value[i]) || value[i] == '_' || value[i] == '-';
    if (!ok)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, field,
                            "%s '%s' is not a valid Linux user name (lower-case letters, digits, "
                            "'_' and '-', starting with a letter or '_', at most 32)",
                            field, value);
    return 0;
}

int validate_text(const char *field, const char *value, size_t max, cu_error **err)
{
    size_t n = strlen(value);
    int ok = n >= 1 && n <= max;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)value[i] >= ' ' && value[i] != 0x7f;
    if (!ok)
        return cu_error_set(err, 400, CU_E_INVALID_FIELD, field,
                            "%s must be 1 to %zu printable characters", field, max);
    return 0;
}
