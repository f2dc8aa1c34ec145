/*
 * fuzz_path.c: libFuzzer target for the path rules (path.c).
 *
 * The input, cut at its first NUL, is a path.  Besides "no crash", it
 * checks what the helpers promise: a valid path splits into a dir and a
 * base that join back to it, and its dir is valid too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "zkcell/err.h"
#include "zkcell/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * ZKC_MAX_PATH)
        return 0;
    char *s = fuzz_cstring(data, size);
    if (s == NULL)
        return 0;

    int plain = zkc_path_validate(s, false);
    int seq = zkc_path_validate(s, true);
    check(plain == ZKC_OK || plain == ZKC_EBADPATH);
    check(seq == ZKC_OK || seq == ZKC_EBADPATH);
    /* Allowing a trailing '/' only ever accepts more. */
    check(plain != ZKC_OK || seq == ZKC_OK);

    /* The helpers take any string. */
    char *dir = zkc_path_dir(s);
    const char *base = zkc_path_base(s);
    check(base >= s && base <= s + strlen(s));
    char *joined = zkc_path_join(s, base);
    free(joined);

    if (seq == ZKC_OK && dir != NULL) {
        /* dir + base gives the path back ("/" is its own dir). */
        if (strcmp(s, "/") != 0) {
            joined = zkc_path_join(dir, base);
            check(joined == NULL || strcmp(joined, s) == 0);
            free(joined);
        }
        check(zkc_path_validate(dir, false) == ZKC_OK);
        check(strlen(dir) <= strlen(s));
        if (plain == ZKC_OK && strcmp(s, "/") != 0) {
            check(base[0] != '\0' && strchr(base, '/') == NULL);
            check(strcmp(base, ".") != 0 && strcmp(base, "..") != 0);
        }
    }
    free(dir);
    free(s);
    return 0;
}
