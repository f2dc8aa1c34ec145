/*
 * utf8.c: the library's one UTF-8 decoder (utf8.h).  The accepted second
 * bytes of each lead byte are narrowed as in RFC 3629's table, which
 * excludes overlong forms, surrogates and values above U+10FFFF without
 * decoding first.
 */
#include "utf8.h"

size_t zkc__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xBF; /* accepted range of the second byte */
    size_t len;
    uint32_t r;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        r = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        r = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        r = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    r = (r << 6) | (s[1] & 0x3Fu);
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
        r = (r << 6) | (s[i] & 0x3Fu);
    }
    *cp = r;
    return len;
}
