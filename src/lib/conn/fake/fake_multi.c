/*
 * fake_multi.c: the fake's multi: one transaction, checked and applied operation by
 * operation, undone on the first failure, its events held until commit.
 */
#include <string.h>

#include "fake_impl.h"

/* ------------------------------------------------------------------ */
/* Multi: one transaction, all or nothing.                             */
/* ------------------------------------------------------------------ */

/*
 * The server checks each operation of a multi against the effects of the
 * ones before it, then commits them all with one zxid or none (the whole
 * multi then takes its zxid as an error transaction), and fires watches
 * only for a committed multi, in operation order.  Here each operation is
 * applied to the tree at once, with an undo record and its events kept
 * back; a failure undoes the records in reverse order, a commit fires
 * the events and frees what the deletes took out.  Nothing allocates
 * during an undo.
 */

/* Put a node that fk_op_multi took out back where it was (room is left in
 * parent->kids by the unlink). */
static void fk_node_relink(zkc_fake_tree *t, const mundo *u)
{
    fk_node *p = u->parent, *n = u->n;
    n->parent = p;
    n->kid_index = p->nkids;
    p->kids[p->nkids++] = n;
    p->pzxid = u->p_pzxid;
    fk_htab_insert(&t->nodes, &n->link);
    if (u->owner != NULL) {
        fake_conn *fc = u->owner;
        n->owner_conn = fc;
        n->eph_prev = fc->eph_tail;
        n->eph_next = NULL;
        if (fc->eph_tail != NULL)
            fc->eph_tail->eph_next = n;
        else
            fc->eph_head = n;
        fc->eph_tail = n;
    }
}

static void fk_multi_undo(zkc_fake_tree *t, mundo *u)
{
    switch (u->kind) {
    case MU_CREATE:
        fk_node_unlink(t, u->n, 0);
        u->parent->creates = u->p_creates;
        u->parent->pzxid = u->p_pzxid;
        fk_node_free(u->n);
        break;
    case MU_DELETE:
        fk_node_relink(t, u);
        break;
    case MU_SET:
        free(u->n->data);
        u->n->data = u->old_data;
        u->n->len = u->old_len;
        u->n->version = u->old_version;
        u->n->mzxid = u->old_mzxid;
        u->n->mtime = u->old_mtime;
        u->old_data = NULL;
        break;
    }
}

/* A committed operation's events, in the server's order, then the memory
 * a delete or set let go of. */
static void fk_multi_commit(zkc_fake_tree *t, mundo *u)
{
    switch (u->kind) {
    case MU_CREATE:
        fk_watches_fire(t, u->n->link.key, u->n->link.klen, WL_DATA, ZKC_EVENT_CREATED);
        fk_watches_fire(t, u->parent->link.key, u->parent->link.klen, WL_CHILD,
                        ZKC_EVENT_CHILD);
        break;
    case MU_DELETE:
        fk_fire_deleted(t, u->n->link.key, u->n->link.klen, u->parent);
        break;
    case MU_SET:
        fk_watches_fire(t, u->n->link.key, u->n->link.klen, WL_DATA, ZKC_EVENT_CHANGED);
        free(u->old_data);
        u->old_data = NULL;
        break;
    }
}

/* Freed only after every event has fired: a later event may name a node
 * (a parent) that an earlier delete took out. */
static void fk_multi_release(mundo *u)
{
    if (u->kind == MU_DELETE)
        fk_node_free(u->n);
}

static int fk_multi_create(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req,
                           int64_t zxid, mundo *u, char **ret_name)
{
    fk_node *p = NULL, *n = NULL;
    int rc = fk_create_prepare(t, fc, req, NULL, &p, &n);
    if (rc != ZKC_OK)
        return rc;
    char *name = zkc__memdup(n->link.key, n->link.klen);
    if (name == NULL) {
        fk_node_free(n);
        return ZKC_ENOMEM;
    }
    u->kind = MU_CREATE;
    u->n = n;
    u->parent = p;
    u->p_creates = p->creates;
    u->p_pzxid = p->pzxid;
    fk_node_link(t, p, n, zxid, zkc__wall_ms());
    *ret_name = name;
    return ZKC_OK;
}

static int fk_multi_delete(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req,
                           int64_t zxid, mundo *u)
{
    const char *path = req->path;
    size_t len = strlen(path);
    if (fk_path_is_special(path))
        return ZKC_EBADARGUMENTS;
    fk_node *p = fk_node_find(t, path, fk_parent_len(path, len));
    if (p == NULL)
        return ZKC_ENONODE;
    if (fk_acl_check(fc, p->acl, ZKC_PERM_DELETE) != ZKC_OK)
        return ZKC_ENOAUTH;
    fk_node *n = fk_node_find(t, path, len);
    if (n == NULL)
        return ZKC_ENONODE;
    if (!fk_version_ok(req->version, n->version))
        return ZKC_EBADVERSION;
    if (n->nkids > 0)
        return ZKC_ENOTEMPTY;
    u->kind = MU_DELETE;
    u->n = n;
    u->parent = p;
    u->p_pzxid = p->pzxid;
    u->owner = n->owner_conn;
    fk_node_unlink(t, n, zxid);
    return ZKC_OK;
}

static int fk_multi_set(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, int64_t zxid,
                        mundo *u, zkc_stat *st)
{
    fk_node *n = fk_node_find(t, req->path, strlen(req->path));
    if (n == NULL)
        return ZKC_ENONODE;
    if (fk_acl_check(fc, n->acl, ZKC_PERM_WRITE) != ZKC_OK)
        return ZKC_ENOAUTH;
    if (!fk_version_ok(req->version, n->version))
        return ZKC_EBADVERSION;
    char *data = zkc__memdup(req->data, req->data_len);
    if (data == NULL)
        return ZKC_ENOMEM;
    u->kind = MU_SET;
    u->n = n;
    u->old_data = n->data;
    u->old_len = n->len;
    u->old_version = n->version;
    u->old_mzxid = n->mzxid;
    u->old_mtime = n->mtime;
    n->data = data;
    n->len = req->data_len;
    n->version = fk_inc32(n->version);
    n->mzxid = zxid;
    n->mtime = zkc__wall_ms();
    fk_node_stat(n, st);
    return ZKC_OK;
}

static int fk_multi_check(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req)
{
    fk_node *n = fk_node_find(t, req->path, strlen(req->path));
    if (n == NULL)
        return ZKC_ENONODE;
    if (fk_acl_check(fc, n->acl, ZKC_PERM_READ) != ZKC_OK)
        return ZKC_ENOAUTH;
    if (!fk_version_ok(req->version, n->version))
        return ZKC_EBADVERSION;
    return ZKC_OK;
}

/* Give d room for n results (before the tree lock: no allocation may
 * fail half-way through a multi). */
int fk_multi_prepare(fk_done *d, size_t n)
{
    d->nm = n;
    if (n == 0)
        return ZKC_OK;
    d->mres = calloc(n, sizeof *d->mres);
    d->mstats = calloc(n, sizeof *d->mstats);
    d->mcreated = calloc(n, sizeof *d->mcreated);
    return d->mres == NULL || d->mstats == NULL || d->mcreated == NULL ? ZKC_ENOMEM : ZKC_OK;
}

/* Apply the multi (tree lock held); d was prepared for nops results,
 * undo has room for nops records. */
int fk_op_multi(zkc_fake_tree *t, fake_conn *fc, const zkc_request *ops, size_t nops,
                fk_done *d, mundo *undo)
{
    int64_t zxid = ++t->zxid; /* one for the whole multi, also when it fails */
    size_t done_n = 0, bad = nops;
    int rc = ZKC_OK;
    for (size_t i = 0; i < nops; i++) {
        const zkc_request *r = &ops[i];
        mundo *u = &undo[done_n];
        memset(u, 0, sizeof *u);
        d->mres[i].op = r->op;
        if (r->data_len > ZKC_MAX_DATA) {
            rc = ZKC_EBADARGUMENTS;
        } else {
            switch (r->op) {
            case ZKC_OP_CREATE:
                rc = fk_multi_create(t, fc, r, zxid, u, &d->mcreated[i]);
                break;
            case ZKC_OP_DELETE:
                rc = fk_multi_delete(t, fc, r, zxid, u);
                break;
            case ZKC_OP_SET:
                rc = fk_multi_set(t, fc, r, zxid, u, &d->mstats[i]);
                break;
            case ZKC_OP_CHECK:
                rc = fk_multi_check(t, fc, r);
                break;
            default:
                rc = ZKC_EBADARGUMENTS;
                break;
            }
        }
        if (rc != ZKC_OK) {
            bad = i;
            break;
        }
        if (u->kind != 0)
            done_n++;
    }
    if (rc != ZKC_OK) {
        while (done_n > 0)
            fk_multi_undo(t, &undo[--done_n]);
        for (size_t i = 0; i < nops; i++) {
            free(d->mcreated[i]);
            d->mcreated[i] = NULL;
            d->mres[i].rc = i < bad ? ZKC_OK : i == bad ? rc : ZKC_ERUNTIMEINCONSISTENCY;
            d->mres[i].op = ops[i].op;
        }
    } else {
        for (size_t i = 0; i < done_n; i++)
            fk_multi_commit(t, &undo[i]);
        for (size_t i = 0; i < done_n; i++)
            fk_multi_release(&undo[i]);
        for (size_t i = 0; i < nops; i++) {
            d->mres[i].rc = ZKC_OK;
            d->mres[i].created_path = d->mcreated[i];
            d->mres[i].stat = ops[i].op == ZKC_OP_SET ? &d->mstats[i] : NULL;
        }
    }
    /* The server answers an empty multi with an empty list. */
    static const zkc_op_result none[1];
    d->res.ops = nops > 0 ? d->mres : none;
    d->res.nops = nops;
    return rc;
}
