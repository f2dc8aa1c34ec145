/*
 * duration.c: durations on command lines (zkcell/duration.h).  Go's
 * time.ParseDuration, unsigned, in whole nanoseconds (up to 2^63-1, as
 * Go) with every step checked for overflow, then rounded up to
 * milliseconds.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "zkcell/duration.h"
#include "zkcell/err.h"

#define NS_MAX    UINT64_C(9223372036854775807)
#define NS_PER_MS UINT64_C(1000000)

static const struct {
    const char *name;
    uint64_t ns;
} units[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000}, /* U+03BC Greek small letter mu */
    {"ms", NS_PER_MS},
    {"s", 1000 * NS_PER_MS},
    {"m", 60 * 1000 * NS_PER_MS},
    {"h", 60 * 60 * 1000 * NS_PER_MS},
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The unit at p, longest name first ("ms" before "m"); its length, or 0. */
static size_t unit_at(const char *p, uint64_t *ns)
{
    size_t best = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t len = strlen(units[i].name);
        if (len > best && strncmp(p, units[i].name, len) == 0) {
            best = len;
            *ns = units[i].ns;
        }
    }
    return best;
}

int zkc_parse_duration_ms(const char *s, int bare_unit_ms, int *ret_ms)
{
    if (s == NULL || *s == '\0' || ret_ms == NULL || bare_unit_ms < 0)
        return ZKC_EBADARGUMENTS;
    if (strcmp(s, "0") == 0) {
        *ret_ms = 0;
        return ZKC_OK;
    }
    uint64_t total = 0;
    const char *p = s;
    while (*p != '\0') {
        /* The whole part, exact. */
        uint64_t whole = 0;
        bool digits = false;
        for (; is_digit(*p); p++, digits = true) {
            if (whole > (NS_MAX - 9) / 10)
                return ZKC_EBADARGUMENTS;
            whole = whole * 10 + (uint64_t)(*p - '0');
        }
        /* The fraction: as many digits as fit, the rest only read. */
        uint64_t frac = 0;
        double scale = 1;
        if (*p == '.') {
            for (p++; is_digit(*p); p++, digits = true) {
                if (frac > (NS_MAX - 9) / 10)
                    continue;
                frac = frac * 10 + (uint64_t)(*p - '0');
                scale *= 10;
            }
        }
        if (!digits)
            return ZKC_EBADARGUMENTS;
        uint64_t unit = 0;
        size_t len = unit_at(p, &unit);
        if (len == 0) {
            /* A bare number: the whole of s, where the caller allows it. */
            if (*p != '\0' || bare_unit_ms == 0 || s[strspn(s, "0123456789.")] != '\0')
                return ZKC_EBADARGUMENTS;
            unit = (uint64_t)bare_unit_ms * NS_PER_MS;
        }
        p += len;
        if (whole > NS_MAX / unit)
            return ZKC_EBADARGUMENTS;
        uint64_t v = whole * unit;
        if (frac > 0) {
            /* As Go does: the fraction through a double, below one unit. */
            v += (uint64_t)((double)frac * ((double)unit / scale));
            if (v > NS_MAX)
                return ZKC_EBADARGUMENTS;
        }
        if (v > NS_MAX - total)
            return ZKC_EBADARGUMENTS;
        total += v;
    }
    uint64_t ms = (total + NS_PER_MS - 1) / NS_PER_MS;
    if (ms > (uint64_t)ZKC_DURATION_MAX_MS)
        return ZKC_EBADARGUMENTS;
    *ret_ms = (int)ms;
    return ZKC_OK;
}
