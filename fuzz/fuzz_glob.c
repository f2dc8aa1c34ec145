/*
 * fuzz_glob.c: libFuzzer target for the glob matcher (glob.c).
 *
 * The input is split at its first NUL or newline: pattern, then name.
 * Besides "no crash", it checks properties of Go's path.Match: a bad
 * pattern is bad for every name; a pattern without magic matches its own
 * unescaped text; a match never has '*' or '?' crossing a '/' the
 * pattern lacks.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zkcell/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

/* Copy [p, p+n) as a C string (cut at an embedded NUL). */
static char *cstr(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static size_t count_byte(const char *s, char c)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == c;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    size_t cut = 0;
    while (cut < size && data[cut] != '\0' && data[cut] != '\n')
        cut++;
    char *pattern = cstr(data, cut);
    char *name = cut < size ? cstr(data + cut + 1, size - cut - 1) : cstr(data, 0);
    if (pattern == NULL || name == NULL)
        goto out;

    bool m = true;
    int rc = zkc_glob_match(pattern, name, &m);
    check(rc == ZKC_OK || rc == ZKC_EBADPATTERN);
    check(rc == ZKC_OK || !m);

    /* Malformed is a property of the pattern alone. */
    bool m0;
    int rc0 = zkc_glob_match(pattern, "", &m0);
    check(rc0 == rc);

    /* '*', '?' never match '/', so a match keeps the count of '/' unless
     * a class (which may match '/', as in Go) is involved. */
    if (rc == ZKC_OK && m && strchr(pattern, '[') == NULL)
        check(count_byte(name, '/') == count_byte(pattern, '/'));

    bool magic = zkc_glob_has_magic(pattern);
    if (!magic) {
        /* A literal: matches exactly its unescaped text. */
        char *lit = malloc(strlen(pattern) + 1);
        if (lit != NULL) {
            char *d = lit;
            for (const char *s = pattern; *s != '\0'; s++) {
                if (*s == '\\' && s[1] != '\0')
                    s++;
                *d++ = *s;
            }
            *d = '\0';
            bool lm = false;
            check(zkc_glob_match(pattern, lit, &lm) == ZKC_OK && lm);
            check(rc == ZKC_OK && m == (strcmp(name, lit) == 0));
            free(lit);
        }
    }
out:
    free(pattern);
    free(name);
    return 0;
}
