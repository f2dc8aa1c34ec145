/*
 * fake_tree.c: the fake's data tree: nodes, their stats, linking and unlinking, and the tree
 * object (zkc_fake_tree_new/free) with the server's initial nodes.
 */
#include <string.h>

#include "fake_impl.h"

/* ------------------------------------------------------------------ */
/* Nodes.                                                              */
/* ------------------------------------------------------------------ */

fk_node *fk_node_find(zkc_fake_tree *t, const char *path, size_t len)
{
    fk_hlink *l = fk_htab_find(&t->nodes, path, len);
    return l == NULL ? NULL : (fk_node *)l;
}

/* Length of the parent's path: "/a/b" -> 2, "/a" -> 1 ("/"), "/" -> 1. */
size_t fk_parent_len(const char *path, size_t len)
{
    size_t i = len;
    while (i > 0 && path[i - 1] != '/')
        i--;
    /* i - 1 is the last '/' */
    return i <= 1 ? 1 : i - 1;
}

int fk_path_is_special(const char *path)
{
    return strcmp(path, "/") == 0 || strcmp(path, "/zookeeper") == 0 ||
           strcmp(path, "/zookeeper/quota") == 0 || strcmp(path, "/zookeeper/config") == 0;
}

void fk_node_stat(const fk_node *n, zkc_stat *st)
{
    st->czxid = n->czxid;
    st->mzxid = n->mzxid;
    st->ctime = n->ctime;
    st->mtime = n->mtime;
    st->version = n->version;
    /* DataNode.copyStat: the count of creates becomes the count of
     * changes, "for every create there is a delete except for the
     * children still present". */
    st->cversion = (int32_t)(uint32_t)(2u * (uint32_t)n->creates - (uint32_t)n->nkids);
    st->aversion = n->aversion;
    st->ephemeral_owner = n->owner;
    st->data_length = (int32_t)n->len;
    st->num_children = (int32_t)n->nkids;
    st->pzxid = n->pzxid;
}

void fk_node_free(fk_node *n)
{
    if (n == NULL)
        return;
    free(n->link.key);
    free(n->kids);
    free(n->data);
    fk_acl_unref(n->acl);
    free(n);
}

/* A detached node; data and path copied, acl reference taken over. */
fk_node *fk_node_new(const char *path, size_t plen, const void *data, size_t len)
{
    fk_node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    n->link.key = zkc_impl_memdup(path, plen);
    n->link.klen = plen;
    n->data = zkc_impl_memdup(data, len);
    n->len = len;
    if (n->link.key == NULL || n->data == NULL) {
        fk_node_free(n);
        return NULL;
    }
    return n;
}

/* Make room for one more child of p (before anything is changed). */
int fk_node_reserve_kid(fk_node *p)
{
    if (p->nkids < p->kids_cap)
        return ZKC_OK;
    size_t cap = p->kids_cap == 0 ? 4 : p->kids_cap * 2;
    fk_node **k = realloc(p->kids, cap * sizeof *k);
    if (k == NULL)
        return ZKC_ENOMEM;
    p->kids = k;
    p->kids_cap = cap;
    return ZKC_OK;
}

/* Attach n under p with the stats of a create at zxid (room reserved). */
void fk_node_link(zkc_fake_tree *t, fk_node *p, fk_node *n, int64_t zxid, int64_t now)
{
    n->czxid = n->mzxid = n->pzxid = zxid;
    n->ctime = n->mtime = now;
    n->parent = p;
    n->kid_index = p->nkids;
    p->kids[p->nkids++] = n;
    p->creates = fk_inc32(p->creates);
    p->pzxid = zxid;
    fk_htab_insert(&t->nodes, &n->link);
    if (n->owner_conn != NULL) {
        fake_conn *fc = n->owner_conn;
        n->eph_prev = fc->eph_tail;
        n->eph_next = NULL;
        if (fc->eph_tail != NULL)
            fc->eph_tail->eph_next = n;
        else
            fc->eph_head = n;
        fc->eph_tail = n;
    }
}

/* Detach a childless node from the tree (not freed). */
void fk_node_unlink(zkc_fake_tree *t, fk_node *n, int64_t zxid)
{
    fk_node *p = n->parent;
    fk_node *last = p->kids[--p->nkids];
    p->kids[n->kid_index] = last;
    last->kid_index = n->kid_index;
    if (zxid > p->pzxid)
        p->pzxid = zxid;
    fk_htab_remove(&t->nodes, &n->link);
    if (n->owner_conn != NULL) {
        fake_conn *fc = n->owner_conn;
        if (n->eph_prev != NULL)
            n->eph_prev->eph_next = n->eph_next;
        else
            fc->eph_head = n->eph_next;
        if (n->eph_next != NULL)
            n->eph_next->eph_prev = n->eph_prev;
        else
            fc->eph_tail = n->eph_prev;
        n->owner_conn = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Trees.                                                              */
/* ------------------------------------------------------------------ */

/* A node of a fresh server: zxid 0, time 0. */
static fk_node *fk_tree_add_initial(zkc_fake_tree *t, fk_node *p, const char *path, fk_acl *acl)
{
    fk_node *n = fk_node_new(path, strlen(path), NULL, 0);
    if (n == NULL)
        return NULL;
    acl->refs++;
    n->acl = acl;
    if (p == NULL) {
        fk_htab_insert(&t->nodes, &n->link);
        return n;
    }
    if (fk_node_reserve_kid(p) != ZKC_OK) {
        fk_node_free(n);
        return NULL;
    }
    /* The server builds these by hand: no create is counted. */
    n->parent = p;
    n->kid_index = p->nkids;
    p->kids[p->nkids++] = n;
    fk_htab_insert(&t->nodes, &n->link);
    return n;
}

static void fk_tree_destroy(zkc_fake_tree *t)
{
    if (t->nodes.b != NULL) {
        for (size_t i = 0; i <= t->nodes.mask; i++) {
            fk_hlink *l = t->nodes.b[i];
            while (l != NULL) {
                fk_hlink *next = l->hnext;
                fk_node_free((fk_node *)l);
                l = next;
            }
        }
    }
    /* Watch points die with their sessions; none is left here. */
    if (t->wpoints.b != NULL) {
        for (size_t i = 0; i <= t->wpoints.mask; i++) {
            fk_hlink *l = t->wpoints.b[i];
            while (l != NULL) {
                fk_hlink *next = l->hnext;
                free(l->key);
                free(l);
                l = next;
            }
        }
    }
    free(t->nodes.b);
    free(t->wpoints.b);
    fk_acl_unref(t->acl_open);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

zkc_fake_tree *zkc_fake_tree_new(void)
{
    zkc_fake_tree *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    t->refs = 1;
    fk_acl *read_only = fk_acl_alloc(1);
    t->acl_open = fk_acl_alloc(1);
    if (fk_htab_init(&t->nodes, 64) != ZKC_OK || fk_htab_init(&t->wpoints, 64) != ZKC_OK ||
        t->acl_open == NULL || read_only == NULL ||
        fk_acl_push(t->acl_open, ZKC_PERM_ALL, "world", "anyone") != ZKC_OK ||
        fk_acl_push(read_only, ZKC_PERM_READ, "world", "anyone") != ZKC_OK) {
        fk_acl_unref(read_only);
        fk_tree_destroy(t);
        return NULL;
    }
    /* Like DataTree's constructor: "/", "/zookeeper", its "quota" and
     * "config" (world:anyone READ, and an aversion of -1 as the server
     * reports it). */
    t->root = fk_tree_add_initial(t, NULL, "/", t->acl_open);
    fk_node *zk =
        t->root != NULL ? fk_tree_add_initial(t, t->root, "/zookeeper", t->acl_open) : NULL;
    fk_node *quota =
        zk != NULL ? fk_tree_add_initial(t, zk, "/zookeeper/quota", t->acl_open) : NULL;
    fk_node *config =
        quota != NULL ? fk_tree_add_initial(t, zk, "/zookeeper/config", read_only) : NULL;
    fk_acl_unref(read_only);
    if (config == NULL) {
        fk_tree_destroy(t);
        return NULL;
    }
    config->aversion = -1;
    /* Session ids like the server's: time in the middle bits, the server
     * id (1) in the top byte, then counted up. */
    uint64_t ms = (uint64_t)zkc_impl_wall_ms();
    t->next_session = (int64_t)(((ms << 24) >> 8) | (1ull << 56));
    return t;
}

void fk_tree_unref(zkc_fake_tree *t)
{
    pthread_mutex_lock(&t->lock);
    int left = --t->refs;
    pthread_mutex_unlock(&t->lock);
    if (left == 0)
        fk_tree_destroy(t);
}

void zkc_fake_tree_free(zkc_fake_tree *t)
{
    if (t != NULL)
        fk_tree_unref(t);
}
