/*
 * glob.c: Go's path.Match, byte for byte, for wildcard paths.
 *
 * A pattern is a sequence of chunks, each an optional run of '*' followed
 * by literal text: plain bytes, '?' (one UTF-8 character other than '/'),
 * '[...]' classes (ranges, '^' negation; a class may match '/', as in Go)
 * and '\\' escapes.  '*' matches any run of bytes without '/'.  Malformed
 * patterns give ZKC_EBADPATTERN, also when the name does not match, as Go
 * does since 1.16: the rest of the pattern is checked before "no match" is
 * returned.
 *
 * Characters are decoded as Go's utf8.DecodeRuneInString does: an invalid
 * sequence is U+FFFD, one byte long.  Splitting paths into components and
 * walking the tree is zkutil.c's business.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/utf8.h"
#include "zkcell/util.h"

#define RUNE_ERROR 0xFFFD

/* Decode one character of s (n > 0 bytes) like Go's DecodeRuneInString:
 * the rune and its length in *size; what is not a character gives
 * RUNE_ERROR with *size 1. */
static int32_t decode_rune(const unsigned char *s, size_t n, size_t *size)
{
    uint32_t cp = 0;
    size_t len = zkc__utf8_decode(s, n, &cp);
    *size = len > 0 ? len : 1;
    return len > 0 ? (int32_t)cp : RUNE_ERROR;
}

/*
 * Split off the next chunk of p[0..n): skip leading stars (*star tells if
 * there were any), then scan to the next '*' outside a class.  The chunk
 * is p[*chunk_off .. *chunk_off + *chunk_len); returns where the rest of
 * the pattern starts.
 */
static size_t scan_chunk(const char *p, size_t n, bool *star, size_t *chunk_off,
                         size_t *chunk_len)
{
    size_t i = 0;
    bool inrange = false;

    *star = false;
    while (i < n && p[i] == '*') {
        i++;
        *star = true;
    }
    *chunk_off = i;
    for (; i < n; i++) {
        if (p[i] == '\\') {
            /* A trailing backslash is reported by match_chunk. */
            if (i + 1 < n)
                i++;
        } else if (p[i] == '[') {
            inrange = true;
        } else if (p[i] == ']') {
            inrange = false;
        } else if (p[i] == '*' && !inrange) {
            break;
        }
    }
    *chunk_len = i - *chunk_off;
    return i;
}

/*
 * One character of a class, possibly escaped (Go's getEsc): '-' and ']'
 * must be escaped, and a class character cannot end the pattern.  On
 * success *r is the character and *used the bytes consumed.
 */
static int class_char(const char *c, size_t n, int32_t *r, size_t *used)
{
    size_t i = 0, size;

    if (n == 0 || c[0] == '-' || c[0] == ']')
        return ZKC_EBADPATTERN;
    if (c[0] == '\\') {
        i = 1;
        if (n == 1)
            return ZKC_EBADPATTERN;
    }
    *r = decode_rune((const unsigned char *)c + i, n - i, &size);
    if (*r == RUNE_ERROR && size == 1)
        return ZKC_EBADPATTERN;
    i += size;
    if (i == n)
        return ZKC_EBADPATTERN;
    *used = i;
    return ZKC_OK;
}

/*
 * Match chunk c[0..cn) against a prefix of s[0..sn) (Go's matchChunk).
 * On a match *ok is true and *rest is the offset in s where the match
 * ended.  After a mismatch the chunk is still parsed to the end, so a
 * malformed chunk is reported either way.
 */
static int match_chunk(const char *c, size_t cn, const char *s, size_t sn, bool *ok,
                       size_t *rest)
{
    size_t ci = 0, si = 0;
    bool failed = false;
    int rc;

    *ok = false;
    while (ci < cn) {
        if (!failed && si == sn)
            failed = true;
        switch (c[ci]) {
        case '[': {
            int32_t r = 0;
            if (!failed) {
                size_t size;
                r = decode_rune((const unsigned char *)s + si, sn - si, &size);
                si += size;
            }
            ci++;
            bool negated = false;
            if (ci < cn && c[ci] == '^') {
                negated = true;
                ci++;
            }
            bool match = false;
            int nrange = 0;
            for (;;) {
                if (ci < cn && c[ci] == ']' && nrange > 0) {
                    ci++;
                    break;
                }
                int32_t lo, hi;
                size_t used;
                if ((rc = class_char(c + ci, cn - ci, &lo, &used)) != ZKC_OK)
                    return rc;
                ci += used;
                hi = lo;
                if (c[ci] == '-') {
                    ci++;
                    if ((rc = class_char(c + ci, cn - ci, &hi, &used)) != ZKC_OK)
                        return rc;
                    ci += used;
                }
                if (lo <= r && r <= hi)
                    match = true;
                nrange++;
            }
            if (match == negated)
                failed = true;
            break;
        }
        case '?':
            if (!failed) {
                size_t size;
                if (s[si] == '/')
                    failed = true;
                decode_rune((const unsigned char *)s + si, sn - si, &size);
                si += size;
            }
            ci++;
            break;
        default:
            /* A literal byte, or an escaped one. */
            if (c[ci] == '\\' && ++ci == cn)
                return ZKC_EBADPATTERN;
            if (!failed) {
                if (c[ci] != s[si])
                    failed = true;
                si++;
            }
            ci++;
            break;
        }
    }
    if (failed)
        return ZKC_OK;
    *ok = true;
    *rest = si;
    return ZKC_OK;
}

/* After a mismatch: report a malformed chunk in the rest of p[0..n). */
static int check_rest(const char *p, size_t n)
{
    while (n > 0) {
        bool star, ok;
        size_t off, len, rest;
        size_t next = scan_chunk(p, n, &star, &off, &len);
        int rc = match_chunk(p + off, len, "", 0, &ok, &rest);
        if (rc != ZKC_OK)
            return rc;
        p += next;
        n -= next;
    }
    return ZKC_OK;
}

int zkc_glob_match(const char *pattern, const char *name, bool *ret_match)
{
    if (ret_match != NULL)
        *ret_match = false;
    if (pattern == NULL || name == NULL || ret_match == NULL)
        return ZKC_EBADARGUMENTS;

    const char *p = pattern, *s = name;
    size_t pn = strlen(pattern), sn = strlen(name);
    int rc;

    while (pn > 0) {
        bool star, ok;
        size_t off, len, t = 0;
        size_t next = scan_chunk(p, pn, &star, &off, &len);
        const char *chunk = p + off;
        p += next;
        pn -= next;

        if (star && len == 0) {
            /* A trailing star matches the rest unless it has a '/'. */
            *ret_match = memchr(s, '/', sn) == NULL;
            return ZKC_OK;
        }
        /* The chunk at the current position; the last chunk must use up
         * the name, or a star may still find a later match. */
        rc = match_chunk(chunk, len, s, sn, &ok, &t);
        if (rc != ZKC_OK)
            return rc;
        if (ok && (t == sn || pn > 0)) {
            s += t;
            sn -= t;
            continue;
        }
        bool found = false;
        if (star) {
            /* Skip i+1 bytes, never past a '/'. */
            for (size_t i = 0; i < sn && s[i] != '/'; i++) {
                rc = match_chunk(chunk, len, s + i + 1, sn - i - 1, &ok, &t);
                if (rc != ZKC_OK)
                    return rc;
                if (ok) {
                    if (pn == 0 && t < sn - i - 1)
                        continue;
                    s += i + 1 + t;
                    sn -= i + 1 + t;
                    found = true;
                    break;
                }
            }
        }
        if (found)
            continue;
        return check_rest(p, pn);
    }
    *ret_match = sn == 0;
    return ZKC_OK;
}

bool zkc_glob_has_magic(const char *s)
{
    if (s == NULL)
        return false;
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '\\':
            /* A lone trailing backslash counts, so matching reports it. */
            if (s[1] == '\0')
                return true;
            s++;
            break;
        case '*':
        case '?':
        case '[':
            return true;
        default:
            break;
        }
    }
    return false;
}
