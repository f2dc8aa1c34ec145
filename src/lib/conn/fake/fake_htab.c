/*
 * fake_htab.c: the fake's hash table of strings (paths): intrusive, chained, grown by doubling.
 */
#include <string.h>

#include "fake_impl.h"

static size_t fk_hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return (size_t)(h ^ (h >> 29));
}

int fk_htab_init(fk_htab *h, size_t buckets)
{
    h->b = calloc(buckets, sizeof *h->b);
    h->mask = buckets - 1;
    h->count = 0;
    return h->b == NULL ? ZKC_ENOMEM : ZKC_OK;
}

fk_hlink *fk_htab_find(const fk_htab *h, const char *key, size_t klen)
{
    size_t hash = fk_hash_bytes(key, klen);
    for (fk_hlink *l = h->b[hash & h->mask]; l != NULL; l = l->hnext)
        if (l->hash == hash && l->klen == klen && memcmp(l->key, key, klen) == 0)
            return l;
    return NULL;
}

/* Insert l (l->key and l->klen set).  Grows the table when it can; a
 * chained table works at any load, so a failed grow is not an error. */
void fk_htab_insert(fk_htab *h, fk_hlink *l)
{
    if (h->count >= h->mask + 1 && (h->mask + 1) * 2 > h->mask) {
        size_t nb = (h->mask + 1) * 2;
        fk_hlink **b = calloc(nb, sizeof *b);
        if (b != NULL) {
            for (size_t i = 0; i <= h->mask; i++) {
                fk_hlink *e = h->b[i];
                while (e != NULL) {
                    fk_hlink *next = e->hnext;
                    e->hnext = b[e->hash & (nb - 1)];
                    b[e->hash & (nb - 1)] = e;
                    e = next;
                }
            }
            free(h->b);
            h->b = b;
            h->mask = nb - 1;
        }
    }
    l->hash = fk_hash_bytes(l->key, l->klen);
    l->hnext = h->b[l->hash & h->mask];
    h->b[l->hash & h->mask] = l;
    h->count++;
}

void fk_htab_remove(fk_htab *h, fk_hlink *l)
{
    fk_hlink **pp = &h->b[l->hash & h->mask];
    while (*pp != NULL && *pp != l)
        pp = &(*pp)->hnext;
    if (*pp == l) {
        *pp = l->hnext;
        h->count--;
    }
}
