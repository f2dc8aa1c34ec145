/*
 * acl.c: ACL lists: the static world ACLs, deep copies, IsDirectory and
 * permission text.  String lists are in strings.c.
 */
#include <stdlib.h>
#include <string.h>

#include "zkcell/sys/conn_impl.h"
#include "zkcell/zkcell.h"

/* One static world:anyone entry per permission set, so zkc_acl_world()
 * needs no allocation and no global mutable state. */
#define W(p)                                                                                   \
    {                                                                                          \
        (p), (char *)"world", (char *)"anyone"                                                 \
    }
static const zkc_acl world_entries[32] = {
    W(0),  W(1),  W(2),  W(3),  W(4),  W(5),  W(6),  W(7),  W(8),  W(9),  W(10),
    W(11), W(12), W(13), W(14), W(15), W(16), W(17), W(18), W(19), W(20), W(21),
    W(22), W(23), W(24), W(25), W(26), W(27), W(28), W(29), W(30), W(31),
};
#undef W
#define L(p)                                                                                   \
    {                                                                                          \
        1, (zkc_acl *)&world_entries[p]                                                        \
    }
static const zkc_acl_list world_lists[32] = {
    L(0),  L(1),  L(2),  L(3),  L(4),  L(5),  L(6),  L(7),  L(8),  L(9),  L(10),
    L(11), L(12), L(13), L(14), L(15), L(16), L(17), L(18), L(19), L(20), L(21),
    L(22), L(23), L(24), L(25), L(26), L(27), L(28), L(29), L(30), L(31),
};
#undef L

const zkc_acl_list *zkc_acl_world(uint32_t perms)
{
    return &world_lists[perms & ZKC_PERM_ALL];
}

zkc_acl_list *zkc_acl_list_dup(const zkc_acl_list *a)
{
    zkc_acl_list *d = calloc(1, sizeof *d);
    if (d == NULL || a == NULL || a->count == 0)
        return d;
    d->v = calloc(a->count, sizeof *d->v);
    if (d->v == NULL) {
        free(d);
        return NULL;
    }
    for (size_t i = 0; i < a->count; i++) {
        d->v[i].perms = a->v[i].perms;
        d->v[i].scheme = strdup(a->v[i].scheme ? a->v[i].scheme : "");
        d->v[i].id = strdup(a->v[i].id ? a->v[i].id : "");
        d->count = i + 1;
        if (d->v[i].scheme == NULL || d->v[i].id == NULL) {
            zkc_acl_list_free(d);
            return NULL;
        }
    }
    return d;
}

void zkc_acl_list_free(zkc_acl_list *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++) {
        free(a->v[i].scheme);
        free(a->v[i].id);
    }
    free(a->v);
    free(a);
}

bool zkc_is_directory(const zkc_acl_list *a)
{
    if (a == NULL)
        return true;
    for (size_t i = 0; i < a->count; i++)
        if (a->v[i].perms != ZKC_PERM_DIRECTORY)
            return false;
    return true;
}

void zkc_perms_format(uint32_t perms, char buf[6])
{
    /* Printed in the original's order r w d c a; bits are READ=1 WRITE=2
     * CREATE=4 DELETE=8 ADMIN=16. */
    static const uint32_t order[5] = {ZKC_PERM_READ, ZKC_PERM_WRITE, ZKC_PERM_DELETE,
                                      ZKC_PERM_CREATE, ZKC_PERM_ADMIN};
    static const char order_letters[5] = {'r', 'w', 'd', 'c', 'a'};
    for (int i = 0; i < 5; i++)
        buf[i] = (perms & order[i]) ? order_letters[i] : '-';
    buf[5] = '\0';
}
