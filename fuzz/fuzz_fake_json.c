/*
 * fuzz_fake_json.c: libFuzzer target for the fake's JSON loader
 * (zkc_fake_tree_load_json_string in conn/fake/fake_json.c).
 *
 * The input, cut at its first NUL, is a JSON document.  Besides "no
 * crash", it checks what fake.h promises: the codes are the documented
 * ones; bad input changes nothing; and a tree that loaded dumps to JSON
 * that loads into a fresh tree and dumps the same again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zkcell/fake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

static char *dump_all(zkc_fake_tree *t)
{
    char *out = NULL;
    int rc = zkc_fake_tree_dump_json(t, "/", &out);
    check(rc == ZKC_OK || rc == ZKC_ENOMEM);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *s = malloc(size + 1);
    zkc_fake_tree *t = zkc_fake_tree_new();
    zkc_fake_tree *t2 = zkc_fake_tree_new();
    if (s == NULL || t == NULL || t2 == NULL)
        goto out;
    memcpy(s, data, size);
    s[size] = '\0';

    char *fresh = dump_all(t);
    int rc = zkc_fake_tree_load_json_string(t, s);
    check(rc == ZKC_OK || rc == ZKC_EBADDATA || rc == ZKC_EBADPATH || rc == ZKC_ENOMEM);
    char *first = dump_all(t);
    if (rc != ZKC_OK && rc != ZKC_ENOMEM && fresh != NULL && first != NULL)
        check(strcmp(fresh, first) == 0); /* refused: nothing changed */
    if (rc == ZKC_OK && first != NULL) {
        int rc2 = zkc_fake_tree_load_json_string(t2, first);
        check(rc2 == ZKC_OK || rc2 == ZKC_ENOMEM);
        char *second = rc2 == ZKC_OK ? dump_all(t2) : NULL;
        if (second != NULL)
            check(strcmp(first, second) == 0);
        zkc_free(second);
    }
    zkc_free(fresh);
    zkc_free(first);
out:
    zkc_fake_tree_free(t);
    zkc_fake_tree_free(t2);
    free(s);
    return 0;
}
