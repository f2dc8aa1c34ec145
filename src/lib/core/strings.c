/*
 * strings.c: the exact-size string list used for children and paths
 * (zkc_strings), byte copies with a terminating NUL, and zkc_free for
 * what the library hands out.
 */
#include <stdlib.h>
#include <string.h>

#include "zkcell/sys/conn_impl.h"
#include "zkcell/zkcell.h"

static size_t strings_cap(size_t count)
{
    size_t cap = 8;
    while (cap < count)
        cap *= 2;
    return cap;
}

zkc_strings *zkc_impl_strings_new(size_t count)
{
    zkc_strings *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->v = calloc(strings_cap(count), sizeof *s->v);
    if (s->v == NULL) {
        free(s);
        return NULL;
    }
    s->count = count;
    return s;
}

int zkc_impl_strings_push(zkc_strings *s, const char *str, size_t len)
{
    size_t cap = strings_cap(s->count);
    if (s->count + 1 > cap) {
        char **v = realloc(s->v, cap * 2 * sizeof *v);
        if (v == NULL)
            return ZKC_ENOMEM;
        s->v = v;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return ZKC_ENOMEM;
    memcpy(copy, str, len);
    copy[len] = '\0';
    s->v[s->count++] = copy;
    return ZKC_OK;
}

zkc_strings *zkc_strings_dup(const zkc_strings *s)
{
    zkc_strings *d = zkc_impl_strings_new(0);
    for (size_t i = 0; d != NULL && s != NULL && i < s->count; i++) {
        if (zkc_impl_strings_push(d, s->v[i], strlen(s->v[i])) != ZKC_OK) {
            zkc_strings_free(d);
            d = NULL;
        }
    }
    return d;
}

void zkc_strings_free(zkc_strings *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->count; i++)
        free(s->v[i]);
    free(s->v);
    free(s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void zkc_strings_sort(zkc_strings *s)
{
    if (s != NULL && s->count > 1)
        qsort(s->v, s->count, sizeof *s->v, cmp_str);
}

char *zkc_impl_memdup(const void *p, size_t len)
{
    char *d = malloc(len + 1);
    if (d == NULL)
        return NULL;
    if (len > 0)
        memcpy(d, p, len);
    d[len] = '\0';
    return d;
}

void zkc_free(void *p)
{
    free(p);
}
