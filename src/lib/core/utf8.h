/*
 * utf8.h: the project's one UTF-8 decoder, internal to libzkcell (path
 * rules, wildcards) and the commands built with it (zk's escaping of
 * node data).  Not installed.
 *
 * Threads: a pure function, safe from any thread.
 */
#ifndef ZKC_UTF8_H
#define ZKC_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * zkc__utf8_decode: decode the character at s (n > 0 bytes left) as
 * RFC 3629 and Go's utf8.DecodeRune read it.  Returns its length (1 to
 * 4) with the code point in *cp, or 0 when the bytes there are not a
 * character: a bad lead byte, a missing or bad continuation byte, an
 * overlong form, a surrogate (U+D800..U+DFFF) or a value above U+10FFFF.
 */
size_t zkc__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
