/*
 * fake_watch.c: the fake's watches: registration at watch points, firing in the server's
 * order, and the end of a session (its watches and ephemerals).
 */
#include <string.h>

#include "fake_impl.h"

/* ------------------------------------------------------------------ */
/* Watches.                                                            */
/* ------------------------------------------------------------------ */

/* Hand a fired registration to its session: queued, or held back while
 * the session is disconnected (delivered after it reconnects, as the
 * client's SetWatches would get them). */
static void fk_reg_deliver(fk_reg *r)
{
    fake_conn *fc = r->owner;
    if (fc->hold) {
        r->it.next = NULL;
        if (fc->held_tail != NULL)
            fc->held_tail->next = &r->it;
        else
            fc->held_head = &r->it;
        fc->held_tail = &r->it;
        return;
    }
    fk_queue_push(fc, &r->it);
}

static void fk_wpoint_free_if_empty(zkc_fake_tree *t, fk_wpoint *wp)
{
    if (wp->lists[WL_DATA] != NULL || wp->lists[WL_CHILD] != NULL)
        return;
    fk_htab_remove(&t->wpoints, &wp->link);
    free(wp->link.key);
    free(wp);
}

/* Take r out of its watch point's list and its session's list. */
static void fk_reg_detach(fk_reg *r)
{
    fk_wpoint *wp = r->wp;
    if (r->wp_prev != NULL)
        r->wp_prev->wp_next = r->wp_next;
    else
        wp->lists[r->which] = r->wp_next;
    if (r->wp_next != NULL)
        r->wp_next->wp_prev = r->wp_prev;
    wp->n--;
    fake_conn *fc = r->owner;
    if (r->s_prev != NULL)
        r->s_prev->s_next = r->s_next;
    else
        fc->regs = r->s_next;
    if (r->s_next != NULL)
        r->s_next->s_prev = r->s_prev;
    r->wp_prev = r->wp_next = r->s_prev = r->s_next = NULL;
}

/* Drop registrations whose handle the caller already freed, so a path
 * watched over and over does not pile them up.  Amortised: only when the
 * count doubled since the last look. */
static void fk_wpoint_prune(fk_wpoint *wp)
{
    if (wp->n < wp->prune_at)
        return;
    for (int which = 0; which < 2; which++) {
        fk_reg *r = wp->lists[which];
        while (r != NULL) {
            fk_reg *next = r->wp_next;
            if (zkc_impl_watch_abandoned(r->watch)) {
                fk_reg_detach(r);
                zkc_impl_watch_release(r->watch);
                free(r);
            }
            r = next;
        }
    }
    wp->prune_at = wp->n * 2 > 16 ? wp->n * 2 : 16;
}

/* Register r for path in list which.  Returns ZKC_OK or ZKC_ENOMEM. */
int fk_reg_add(zkc_fake_tree *t, fake_conn *fc, fk_reg *r, const char *path, int which)
{
    size_t plen = strlen(path);
    fk_wpoint *wp = (fk_wpoint *)fk_htab_find(&t->wpoints, path, plen);
    if (wp == NULL) {
        wp = calloc(1, sizeof *wp);
        if (wp == NULL)
            return ZKC_ENOMEM;
        wp->link.key = zkc_impl_memdup(path, plen);
        if (wp->link.key == NULL) {
            free(wp);
            return ZKC_ENOMEM;
        }
        wp->link.klen = plen;
        wp->prune_at = 16;
        fk_htab_insert(&t->wpoints, &wp->link);
    } else {
        fk_wpoint_prune(wp);
    }
    r->it.kind = IT_FIRE;
    r->owner = fc;
    r->wp = wp;
    r->which = which;
    r->wp_prev = NULL;
    r->wp_next = wp->lists[which];
    if (r->wp_next != NULL)
        r->wp_next->wp_prev = r;
    wp->lists[which] = r;
    wp->n++;
    r->s_prev = NULL;
    r->s_next = fc->regs;
    if (fc->regs != NULL)
        fc->regs->s_prev = r;
    fc->regs = r;
    return ZKC_OK;
}

/* Fire every watch in one list of path, oldest registration first. */
void fk_watches_fire(zkc_fake_tree *t, const char *path, size_t plen, int which,
                     zkc_event_type ev)
{
    fk_wpoint *wp = (fk_wpoint *)fk_htab_find(&t->wpoints, path, plen);
    if (wp == NULL || wp->lists[which] == NULL)
        return;
    /* The list is newest first; fire in registration order. */
    fk_reg *r = wp->lists[which];
    while (r->wp_next != NULL)
        r = r->wp_next;
    while (r != NULL) {
        fk_reg *prev = r->wp_prev;
        fk_reg_detach(r);
        r->ev = ev;
        fk_reg_deliver(r);
        r = prev;
    }
    fk_wpoint_free_if_empty(t, wp);
}

/* The server's order of events for a create, a delete and a set. */
void fk_fire_created(zkc_fake_tree *t, const fk_node *n)
{
    fk_watches_fire(t, n->link.key, n->link.klen, WL_DATA, ZKC_EVENT_CREATED);
    fk_watches_fire(t, n->parent->link.key, n->parent->link.klen, WL_CHILD, ZKC_EVENT_CHILD);
}

void fk_fire_deleted(zkc_fake_tree *t, const char *path, size_t plen, const fk_node *parent)
{
    fk_watches_fire(t, path, plen, WL_DATA, ZKC_EVENT_DELETED);
    fk_watches_fire(t, path, plen, WL_CHILD, ZKC_EVENT_DELETED);
    fk_watches_fire(t, parent->link.key, parent->link.klen, WL_CHILD, ZKC_EVENT_CHILD);
}

/* Remove a childless node at zxid, with its events, and free it. */
void fk_node_delete(zkc_fake_tree *t, fk_node *n, int64_t zxid)
{
    fk_node *p = n->parent;
    fk_node_unlink(t, n, zxid);
    fk_fire_deleted(t, n->link.key, n->link.klen, p);
    fk_node_free(n);
}

/* The end of a session (expiry or close): its watches end with ev, its
 * ephemerals go in one closeSession transaction.  Tree lock held. */
void fk_session_end(zkc_fake_tree *t, fake_conn *fc, zkc_event_type ev, int alive)
{
    /* Oldest registration first; fc->regs is newest first. */
    fk_reg *r = fc->regs;
    while (r != NULL && r->s_next != NULL)
        r = r->s_next;
    while (r != NULL) {
        fk_reg *prev = r->s_prev;
        fk_wpoint *wp = r->wp;
        fk_reg_detach(r);
        fk_wpoint_free_if_empty(t, wp);
        r->ev = ev;
        fk_queue_push(fc, &r->it);
        r = prev;
    }
    while (fc->held_head != NULL) {
        fk_item *it = fc->held_head;
        fc->held_head = it->next;
        ((fk_reg *)it)->ev = ev;
        fk_queue_push(fc, it);
    }
    fc->held_tail = NULL;
    fc->hold = 0;
    fc->suspended = 0;
    if (!alive)
        return;
    int64_t zxid = ++t->zxid;
    while (fc->eph_head != NULL)
        fk_node_delete(t, fc->eph_head, zxid);
}
