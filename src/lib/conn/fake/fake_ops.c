/*
 * fake_ops.c: the fake's single operations, with the server's checks in the server's
 * order (PrepRequestProcessor, FinalRequestProcessor of ZooKeeper 3.8).
 */
#include <string.h>

#include "fake_impl.h"
#include "zkcell/path.h"

/* ------------------------------------------------------------------ */
/* The operations, applied under the tree lock.                        */
/* ------------------------------------------------------------------ */

int fk_version_ok(int32_t want, int32_t have)
{
    return want == -1 || want == have;
}

/*
 * The checks of a create, in the server's order, then the new node with
 * its ACL and owner, not yet linked under *ret_parent.  d gets the
 * detail of a refusal.  Single creates and a multi's share this.
 */
int fk_create_prepare(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d,
                      fk_node **ret_parent, fk_node **ret_node)
{
    const char *path = req->path;
    size_t len = strlen(path);
    fk_acl *acl = NULL;
    int rc = fk_acl_fixup(t, fc, req->acl, &acl);
    if (rc != ZKC_OK)
        return rc;
    size_t plen = fk_parent_len(path, len);
    fk_node *p = fk_node_find(t, path, plen);
    if (p == NULL) {
        fk_acl_unref(acl);
        DONE_MSG(d, "parent %.*s does not exist", (int)plen, path);
        return ZKC_ENONODE;
    }
    if (fk_acl_check(fc, p->acl, ZKC_PERM_CREATE) != ZKC_OK) {
        fk_acl_unref(acl);
        DONE_MSG(d, "no CREATE permission on %s", p->link.key);
        return ZKC_ENOAUTH;
    }
    char seqbuf[16] = "";
    if (req->flags & ZKC_SEQUENCE)
        snprintf(seqbuf, sizeof seqbuf, "%010d", p->creates);
    size_t slen = strlen(seqbuf);
    if (len + slen > ZKC_MAX_PATH) {
        fk_acl_unref(acl);
        return ZKC_EBADARGUMENTS;
    }
    char *full = malloc(len + slen + 1);
    if (full == NULL) {
        fk_acl_unref(acl);
        return ZKC_ENOMEM;
    }
    memcpy(full, path, len);
    memcpy(full + len, seqbuf, slen + 1);
    rc = ZKC_OK;
    if (fk_node_find(t, full, len + slen) != NULL) {
        rc = ZKC_ENODEEXISTS;
    } else if (p->owner != 0) {
        rc = ZKC_ENOCHILDRENFOREPHEMERALS;
        DONE_MSG(d, "parent %s is ephemeral", p->link.key);
    }
    fk_node *n = NULL;
    if (rc == ZKC_OK) {
        n = fk_node_new(full, len + slen, req->data, req->data_len);
        if (n == NULL || fk_node_reserve_kid(p) != ZKC_OK)
            rc = ZKC_ENOMEM;
    }
    free(full);
    if (rc != ZKC_OK) {
        fk_node_free(n);
        fk_acl_unref(acl);
        return rc;
    }
    n->acl = acl;
    if (req->flags & ZKC_EPHEMERAL) {
        n->owner = fc->session_id;
        n->owner_conn = fc;
    }
    *ret_parent = p;
    *ret_node = n;
    return ZKC_OK;
}

static int fk_op_create(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d)
{
    t->zxid++; /* the transaction's zxid, also when it fails */
    int64_t zxid = t->zxid;
    fk_node *p = NULL, *n = NULL;
    int rc = fk_create_prepare(t, fc, req, d, &p, &n);
    if (rc != ZKC_OK)
        return rc;
    char *created = zkc_impl_memdup(n->link.key, n->link.klen);
    if (created == NULL) {
        fk_node_free(n);
        return ZKC_ENOMEM;
    }
    fk_node_link(t, p, n, zxid, zkc_impl_wall_ms());
    fk_fire_created(t, n);
    d->created = created;
    d->res.created_path = created;
    return ZKC_OK;
}

/*
 * The checks of a delete, in the server's order: not one of the server's
 * own nodes, the parent exists, DELETE on the parent, the node exists,
 * the version, no children.  *ret_node is the node to delete.  d gets the
 * detail of a refusal.  Single deletes and a multi's share this.
 */
int fk_check_delete(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d,
                    fk_node **ret_node)
{
    const char *path = req->path;
    size_t len = strlen(path);
    if (fk_path_is_special(path)) {
        DONE_MSG(d, "%s is the server's own node", path);
        return ZKC_EBADARGUMENTS;
    }
    size_t plen = fk_parent_len(path, len);
    fk_node *p = fk_node_find(t, path, plen);
    if (p == NULL)
        return ZKC_ENONODE;
    if (fk_acl_check(fc, p->acl, ZKC_PERM_DELETE) != ZKC_OK) {
        DONE_MSG(d, "no DELETE permission on %s", p->link.key);
        return ZKC_ENOAUTH;
    }
    fk_node *n = fk_node_find(t, path, len);
    if (n == NULL)
        return ZKC_ENONODE;
    if (!fk_version_ok(req->version, n->version))
        return ZKC_EBADVERSION;
    if (n->nkids > 0)
        return ZKC_ENOTEMPTY;
    *ret_node = n;
    return ZKC_OK;
}

/*
 * The checks of a set (perm ZKC_PERM_WRITE) and of a multi's check
 * (ZKC_PERM_READ), in the server's order: the node exists, the
 * permission, the version.  *ret_node is the node.  d gets the detail of
 * a refusal.
 */
int fk_check_node(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, uint32_t perm,
                  fk_done *d, fk_node **ret_node)
{
    fk_node *n = fk_node_find(t, req->path, strlen(req->path));
    if (n == NULL)
        return ZKC_ENONODE;
    if (fk_acl_check(fc, n->acl, perm) != ZKC_OK) {
        DONE_MSG(d, "no %s permission", perm == ZKC_PERM_WRITE ? "WRITE" : "READ");
        return ZKC_ENOAUTH;
    }
    if (!fk_version_ok(req->version, n->version))
        return ZKC_EBADVERSION;
    *ret_node = n;
    return ZKC_OK;
}

/* Give n the data (len bytes, malloc'd, taken over) of a set at zxid;
 * returns the data it had, for the caller to free or keep. */
char *fk_node_set_data(fk_node *n, char *data, size_t len, int64_t zxid)
{
    char *old = n->data;
    n->data = data;
    n->len = len;
    n->version = fk_inc32(n->version);
    n->mzxid = zxid;
    n->mtime = zkc_impl_wall_ms();
    return old;
}

static int fk_op_delete(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d)
{
    int64_t zxid = ++t->zxid;
    fk_node *n = NULL;
    int rc = fk_check_delete(t, fc, req, d, &n);
    if (rc != ZKC_OK)
        return rc;
    fk_node_delete(t, n, zxid);
    return ZKC_OK;
}

static int fk_op_set(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d)
{
    int64_t zxid = ++t->zxid;
    fk_node *n = NULL;
    int rc = fk_check_node(t, fc, req, ZKC_PERM_WRITE, d, &n);
    if (rc != ZKC_OK)
        return rc;
    char *data = zkc_impl_memdup(req->data, req->data_len);
    if (data == NULL)
        return ZKC_ENOMEM;
    free(fk_node_set_data(n, data, req->data_len, zxid));
    fk_watches_fire(t, n->link.key, n->link.klen, WL_DATA, ZKC_EVENT_CHANGED);
    fk_node_stat(n, &d->stat);
    d->res.stat = &d->stat;
    return ZKC_OK;
}

static int fk_op_set_acl(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d)
{
    t->zxid++;
    fk_acl *acl = NULL;
    int rc = fk_acl_fixup(t, fc, req->acl, &acl);
    if (rc != ZKC_OK)
        return rc;
    fk_node *n = fk_node_find(t, req->path, strlen(req->path));
    if (n == NULL) {
        fk_acl_unref(acl);
        return ZKC_ENONODE;
    }
    if (fk_acl_check(fc, n->acl, ZKC_PERM_ADMIN) != ZKC_OK) {
        fk_acl_unref(acl);
        DONE_MSG(d, "no ADMIN permission");
        return ZKC_ENOAUTH;
    }
    if (!fk_version_ok(req->version, n->aversion)) {
        fk_acl_unref(acl);
        return ZKC_EBADVERSION;
    }
    fk_acl_unref(n->acl);
    n->acl = acl;
    n->aversion = fk_inc32(n->aversion);
    fk_node_stat(n, &d->stat);
    d->res.stat = &d->stat;
    return ZKC_OK;
}

/* get, children, exists: reg (may be NULL) is registered when the
 * server would set the watch; *used tells whether it was. */
static int fk_op_read(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d,
                      fk_reg *reg, int *used)
{
    fk_node *n = fk_node_find(t, req->path, strlen(req->path));
    if (req->op == ZKC_OP_EXISTS) {
        /* statNode: the watch goes in first, also for a missing node. */
        if (reg != NULL) {
            if (fk_reg_add(t, fc, reg, req->path, WL_DATA) != ZKC_OK)
                return ZKC_ENOMEM;
            *used = 1;
            d->res.watch = reg->watch;
        }
        if (n != NULL) {
            fk_node_stat(n, &d->stat);
            d->res.stat = &d->stat;
        }
        return ZKC_OK;
    }
    if (n == NULL)
        return ZKC_ENONODE;
    if (fk_acl_check(fc, n->acl, ZKC_PERM_READ) != ZKC_OK) {
        DONE_MSG(d, "no READ permission");
        return ZKC_ENOAUTH;
    }
    if (req->op == ZKC_OP_GET) {
        d->data = zkc_impl_memdup(n->data, n->len);
        if (d->data == NULL)
            return ZKC_ENOMEM;
        d->res.data = d->data;
        d->res.data_len = n->len;
    } else {
        d->children = zkc_impl_strings_new(0);
        if (d->children == NULL)
            return ZKC_ENOMEM;
        for (size_t i = 0; i < n->nkids; i++) {
            const char *name = zkc_path_base(n->kids[i]->link.key);
            if (zkc_impl_strings_push(d->children, name, strlen(name)) != ZKC_OK)
                return ZKC_ENOMEM;
        }
        zkc_strings_sort(d->children);
        d->res.children = d->children;
    }
    if (reg != NULL) {
        int which = req->op == ZKC_OP_GET ? WL_DATA : WL_CHILD;
        if (fk_reg_add(t, fc, reg, req->path, which) != ZKC_OK)
            return ZKC_ENOMEM;
        *used = 1;
        d->res.watch = reg->watch;
    }
    fk_node_stat(n, &d->stat);
    d->res.stat = &d->stat;
    return ZKC_OK;
}

static int fk_op_get_acl(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d)
{
    fk_node *n = fk_node_find(t, req->path, strlen(req->path));
    if (n == NULL)
        return ZKC_ENONODE;
    if (fk_acl_check(fc, n->acl, ZKC_PERM_READ | ZKC_PERM_ADMIN) != ZKC_OK) {
        DONE_MSG(d, "no READ or ADMIN permission");
        return ZKC_ENOAUTH;
    }
    d->acl = zkc_acl_list_dup(&n->acl->list);
    if (d->acl == NULL)
        return ZKC_ENOMEM;
    /* Without ADMIN, digest ids lose their hash: "user:x". */
    if (fk_acl_check(fc, n->acl, ZKC_PERM_ADMIN) != ZKC_OK) {
        for (size_t i = 0; i < d->acl->count; i++) {
            zkc_acl *e = &d->acl->v[i];
            char *colon = strchr(e->id, ':');
            if (strcmp(e->scheme, "digest") == 0 && colon != NULL && colon[1] != '\0') {
                colon[1] = 'x';
                colon[2] = '\0';
            }
        }
    }
    d->res.acl = d->acl;
    fk_node_stat(n, &d->stat);
    d->res.stat = &d->stat;
    return ZKC_OK;
}

int fk_op_apply(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, fk_done *d,
                fk_reg *reg, int *used)
{
    if (req->data_len > ZKC_MAX_DATA)
        return ZKC_EBADARGUMENTS;
    switch (req->op) {
    case ZKC_OP_GET:
    case ZKC_OP_CHILDREN:
    case ZKC_OP_EXISTS:
        return fk_op_read(t, fc, req, d, reg, used);
    case ZKC_OP_CREATE:
        return fk_op_create(t, fc, req, d);
    case ZKC_OP_SET:
        return fk_op_set(t, fc, req, d);
    case ZKC_OP_DELETE:
        return fk_op_delete(t, fc, req, d);
    case ZKC_OP_GET_ACL:
        return fk_op_get_acl(t, fc, req, d);
    case ZKC_OP_SET_ACL:
        return fk_op_set_acl(t, fc, req, d);
    case ZKC_OP_CHECK:
    case ZKC_OP_MULTI:
        break; /* only through fake_multi */
    }
    return ZKC_EBADARGUMENTS;
}
