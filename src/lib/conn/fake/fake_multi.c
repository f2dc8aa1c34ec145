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

/* The operations of a multi: the checks are the single operations' own
 * (fake_ops.c); what differs is the undo record.  d gets the detail of
 * a refusal. */
static int fk_multi_create(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req,
                           int64_t zxid, fk_done *d, mundo *u, char **ret_name)
{
    fk_node *p = NULL, *n = NULL;
    int rc = fk_create_prepare(t, fc, req, d, &p, &n);
    if (rc != ZKC_OK)
        return rc;
    char *name = zkc_impl_memdup(n->link.key, n->link.klen);
    if (name == NULL) {
        fk_node_free(n);
        return ZKC_ENOMEM;
    }
    u->kind = MU_CREATE;
    u->n = n;
    u->parent = p;
    u->p_creates = p->creates;
    u->p_pzxid = p->pzxid;
    fk_node_link(t, p, n, zxid, zkc_impl_wall_ms());
    *ret_name = name;
    return ZKC_OK;
}

static int fk_multi_delete(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req,
                           int64_t zxid, fk_done *d, mundo *u)
{
    fk_node *n = NULL;
    int rc = fk_check_delete(t, fc, req, d, &n);
    if (rc != ZKC_OK)
        return rc;
    u->kind = MU_DELETE;
    u->n = n;
    u->parent = n->parent;
    u->p_pzxid = n->parent->pzxid;
    u->owner = n->owner_conn;
    fk_node_unlink(t, n, zxid);
    return ZKC_OK;
}

static int fk_multi_set(zkc_fake_tree *t, fake_conn *fc, const zkc_request *req, int64_t zxid,
                        fk_done *d, mundo *u, zkc_stat *st)
{
    fk_node *n = NULL;
    int rc = fk_check_node(t, fc, req, ZKC_PERM_WRITE, d, &n);
    if (rc != ZKC_OK)
        return rc;
    char *data = zkc_impl_memdup(req->data, req->data_len);
    if (data == NULL)
        return ZKC_ENOMEM;
    u->kind = MU_SET;
    u->n = n;
    u->old_len = n->len;
    u->old_version = n->version;
    u->old_mzxid = n->mzxid;
    u->old_mtime = n->mtime;
    u->old_data = fk_node_set_data(n, data, req->data_len, zxid);
    fk_node_stat(n, st);
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
                rc = fk_multi_create(t, fc, r, zxid, d, u, &d->mcreated[i]);
                break;
            case ZKC_OP_DELETE:
                rc = fk_multi_delete(t, fc, r, zxid, d, u);
                break;
            case ZKC_OP_SET:
                rc = fk_multi_set(t, fc, r, zxid, d, u, &d->mstats[i]);
                break;
            case ZKC_OP_CHECK: {
                fk_node *n = NULL;
                rc = fk_check_node(t, fc, r, ZKC_PERM_READ, d, &n);
                break;
            }
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
