/*
 * fake_queue.c: a fake session's completion queue and the thread that runs it: answers,
 * watch events and state changes, in the order the server would send them.
 */
#include <string.h>

#include "fake_impl.h"

/* ------------------------------------------------------------------ */
/* Completion queues.                                                  */
/* ------------------------------------------------------------------ */

/* Queue it on fc (tree lock held, or fc not yet shared).  Returns its
 * sequence number, for fk_queue_wait(). */
uint64_t fk_queue_push(fake_conn *fc, fk_item *it)
{
    pthread_mutex_lock(&fc->qlock);
    /* Once the lock is dropped the thread may run and free it: keep
     * what we return. */
    uint64_t seq = ++fc->q_enq;
    it->next = NULL;
    it->seq = seq;
    it->due_ms = fc->delay_ms > 0 ? zkc_impl_now_ms() + fc->delay_ms : 0;
    /* The thread sleeps only on an empty queue or for the head's due
     * time, so only a first item needs to wake it. */
    if (fc->q_tail != NULL) {
        fc->q_tail->next = it;
    } else {
        fc->q_head = it;
        pthread_cond_signal(&fc->qcond);
    }
    fc->q_tail = it;
    pthread_mutex_unlock(&fc->qlock);
    return seq;
}

/* To wait for an item (fk_queue_wait), first register as a waiter, with the
 * tree lock held and the session not closed: from then on the session's
 * thread does not end, and so does not free it, before we are done.
 * Returns 0 (no waiting) on the session's own completion thread, where
 * everything before the current item has run and waiting for later
 * items would wait for ourselves. */
int fk_queue_wait_prepare(fake_conn *fc)
{
    if (pthread_equal(pthread_self(), fc->thread))
        return 0;
    pthread_mutex_lock(&fc->qlock);
    fc->q_waiters++;
    pthread_mutex_unlock(&fc->qlock);
    return 1;
}

/* Wait until the completion thread has run item seq (see above). */
void fk_queue_wait(fake_conn *fc, uint64_t seq)
{
    pthread_mutex_lock(&fc->qlock);
    while (fc->q_ran < seq)
        pthread_cond_wait(&fc->qdone, &fc->qlock);
    /* The thread may be waiting for us to leave before it ends. */
    if (--fc->q_waiters == 0)
        pthread_cond_broadcast(&fc->qdone);
    pthread_mutex_unlock(&fc->qlock);
}

static void fk_done_multi_free(fk_done *d)
{
    for (size_t i = 0; d->mcreated != NULL && i < d->nm; i++)
        free(d->mcreated[i]);
    free(d->mcreated);
    free(d->mres);
    free(d->mstats);
    d->mcreated = NULL;
    d->mres = NULL;
    d->mstats = NULL;
    d->nm = 0;
}

void fk_done_free(fk_done *d)
{
    fk_done_multi_free(d);
    free(d->path);
    free(d->data);
    zkc_strings_free(d->children);
    zkc_acl_list_free(d->acl);
    free(d->created);
    free(d->errmsg);
    free(d);
}

/* Forget a result's payload (a reply that is lost). */
void fk_done_clear(fk_done *d, int rc, const char *msg)
{
    free(d->data);
    zkc_strings_free(d->children);
    zkc_acl_list_free(d->acl);
    free(d->created);
    free(d->errmsg);
    d->data = d->created = NULL;
    d->children = NULL;
    d->acl = NULL;
    fk_done_multi_free(d);
    d->errmsg = msg != NULL ? strdup(msg) : NULL;
    zkc_op op = d->res.op;
    memset(&d->res, 0, sizeof d->res);
    d->res.op = op;
    d->res.path = d->path;
    d->res.rc = rc;
    d->res.errmsg = d->errmsg;
}

fk_state *fk_state_item_new(zkc_state s)
{
    fk_state *st = calloc(1, sizeof *st);
    if (st != NULL) {
        st->it.kind = IT_STATE;
        st->state = s;
    }
    return st;
}

static void fk_item_run(fake_conn *fc, fk_item *it)
{
    switch (it->kind) {
    case IT_DONE: {
        fk_done *d = (fk_done *)it;
        d->done(&d->res, d->ud);
        fk_done_free(d);
        break;
    }
    case IT_FIRE: {
        fk_reg *r = (fk_reg *)it;
        zkc_impl_watch_fire(r->watch, r->ev);
        free(r);
        break;
    }
    case IT_STATE:
        zkc_impl_conn_set_state(&fc->base, ((fk_state *)it)->state);
        free(it);
        break;
    default:
        free(it);
        break;
    }
}

/* The completion thread: run items in order, each when it is due; once
 * stopping, run what is left at once and end. */
void *fk_session_main(void *arg)
{
    fake_conn *fc = arg;
    pthread_mutex_lock(&fc->qlock);
    for (;;) {
        fk_item *it = fc->q_head;
        if (it == NULL) {
            if (fc->q_stop)
                break;
            pthread_cond_wait(&fc->qcond, &fc->qlock);
            continue;
        }
        if (!fc->q_stop && it->due_ms > 0) {
            if (it->due_ms > zkc_impl_now_ms()) {
                zkc_impl_cond_wait_until(&fc->qcond, &fc->qlock, it->due_ms);
                continue;
            }
        }
        fc->q_head = it->next;
        if (fc->q_head == NULL)
            fc->q_tail = NULL;
        uint64_t seq = it->seq;
        pthread_mutex_unlock(&fc->qlock);
        fk_item_run(fc, it);
        pthread_mutex_lock(&fc->qlock);
        fc->q_ran = seq;
        if (fc->q_waiters > 0)
            pthread_cond_broadcast(&fc->qdone);
    }
    /* A thread still in fk_queue_wait() (an injected fault whose state
     * change closed the session) must be out before the session goes. */
    while (fc->q_waiters > 0)
        pthread_cond_wait(&fc->qdone, &fc->qlock);
    int self = fc->q_self_close;
    pthread_mutex_unlock(&fc->qlock);
    if (self)
        fk_session_free(fc);
    return NULL;
}
