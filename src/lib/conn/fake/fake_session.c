/*
 * fake_session.c: the fake's sessions behind the zkc_conn interface: submit, multi, close,
 * the fault injector, open and identities.
 */
#include <errno.h>
#include <nettle/sha1.h>
#include <string.h>

#include "fake_impl.h"
#include "zkcell/util.h"

/* ------------------------------------------------------------------ */
/* The zkc_conn operations.                                            */
/* ------------------------------------------------------------------ */

/* Back after a (real or injected) disconnection: RECONNECTED, then the
 * watch events held meanwhile, as SetWatches would bring them. */
static uint64_t fk_session_reconnect(fake_conn *fc, fk_state *up)
{
    uint64_t seq = fk_queue_push(fc, &up->it);
    fc->hold = 0;
    while (fc->held_head != NULL) {
        fk_item *it = fc->held_head;
        fc->held_head = it->next;
        fk_queue_push(fc, it);
    }
    fc->held_tail = NULL;
    return seq;
}

/* What one submission applies: a request, or a multi's operations. */
typedef struct fk_work {
    const zkc_request *req; /* NULL for a multi */
    const zkc_request *mops;
    size_t nops;
    mundo *undo;
    fk_reg *reg;
    int used;
} fk_work;

static int fk_work_apply(zkc_fake_tree *t, fake_conn *fc, fk_work *w, fk_done *d, int watch)
{
    if (w->req == NULL)
        return fk_op_multi(t, fc, w->mops, w->nops, d, w->undo);
    return fk_op_apply(t, fc, w->req, d, watch ? w->reg : NULL, watch ? &w->used : &(int){0});
}

/* Apply w (or fail it, as the session's faults say) and queue d.  The
 * fault injection treats a multi as one operation.  Returns ZKC_OK, or
 * ZKC_ECLOSED / ZKC_ENOMEM and d is not queued. */
static int fake_dispatch(fake_conn *fc, fk_done *d, fk_work *w)
{
    zkc_fake_tree *t = fc->tree;
    pthread_mutex_lock(&t->lock);
    if (fc->closed) {
        pthread_mutex_unlock(&t->lock);
        return ZKC_ECLOSED;
    }
    fc->nops++;
    bool loss = fc->loss_before > 0 || fc->loss_after > 0;
    if (loss && fc->loss_skip > 0) {
        fc->loss_skip--;
        loss = false;
    }
    if (fc->expired) {
        fk_done_clear(d, ZKC_ESESSIONEXPIRED, NULL);
        fk_queue_push(fc, &d->it);
    } else if (fc->suspended) {
        fk_done_clear(d, ZKC_ECONNECTIONLOSS, "connection suspended (injected fault)");
        fk_queue_push(fc, &d->it);
    } else if (loss) {
        fk_state *down = fk_state_item_new(ZKC_STATE_SUSPENDED);
        fk_state *up = fk_state_item_new(ZKC_STATE_RECONNECTED);
        if (down == NULL || up == NULL) {
            pthread_mutex_unlock(&t->lock);
            free(down);
            free(up);
            return ZKC_ENOMEM;
        }
        fk_queue_push(fc, &down->it);
        if (fc->loss_before > 0) {
            fc->loss_before--;
            fk_done_clear(d, ZKC_ECONNECTIONLOSS,
                          "connection lost before the request (injected)");
        } else {
            /* Applied, but the reply (and the watch it would set) is
             * lost; events for this session come after the reconnect. */
            fc->loss_after--;
            fc->hold = 1;
            fk_work_apply(t, fc, w, d, 0);
            fk_done_clear(d, ZKC_ECONNECTIONLOSS,
                          "connection lost before the reply (injected)");
        }
        fk_queue_push(fc, &d->it);
        fk_session_reconnect(fc, up);
    } else {
        d->res.rc = fk_work_apply(t, fc, w, d, 1);
        fk_queue_push(fc, &d->it);
    }
    pthread_mutex_unlock(&t->lock);
    return ZKC_OK;
}

static fk_done *fk_done_new(const char *path, zkc_op op, zkc_done_fn done, void *userdata)
{
    fk_done *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->path = strdup(path);
    if (d->path == NULL) {
        free(d);
        return NULL;
    }
    d->it.kind = IT_DONE;
    d->done = done;
    d->ud = userdata;
    d->res.op = op;
    d->res.path = d->path;
    return d;
}

static int fake_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata)
{
    fake_conn *fc = (fake_conn *)c;
    int is_read =
        req->op == ZKC_OP_GET || req->op == ZKC_OP_CHILDREN || req->op == ZKC_OP_EXISTS;

    fk_done *d = fk_done_new(req->path, req->op, done, userdata);
    if (d == NULL)
        return ZKC_ENOMEM;
    fk_work w = {.req = req};
    if (is_read && (req->flags & ZKC_WATCH)) {
        w.reg = calloc(1, sizeof *w.reg);
        if (w.reg != NULL) {
            w.reg->watch = zkc_impl_watch_new(req->path);
            if (w.reg->watch == NULL) {
                free(w.reg);
                w.reg = NULL;
            }
        }
        if (w.reg == NULL) {
            fk_done_free(d);
            return ZKC_ENOMEM;
        }
    }
    int rc = fake_dispatch(fc, d, &w);
    if (rc != ZKC_OK)
        fk_done_free(d);
    if (w.reg != NULL && !w.used) {
        zkc_impl_watch_discard(w.reg->watch);
        free(w.reg);
    }
    return rc;
}

static int fake_multi(zkc_conn *c, const zkc_request *ops, size_t nops, zkc_done_fn done,
                      void *userdata)
{
    fake_conn *fc = (fake_conn *)c;
    fk_done *d = fk_done_new(nops > 0 ? ops[0].path : "/", ZKC_OP_MULTI, done, userdata);
    if (d == NULL)
        return ZKC_ENOMEM;
    fk_work w = {.mops = ops, .nops = nops};
    w.undo = calloc(nops > 0 ? nops : 1, sizeof *w.undo);
    int rc = w.undo == NULL ? ZKC_ENOMEM : fk_multi_prepare(d, nops);
    if (rc == ZKC_OK)
        rc = fake_dispatch(fc, d, &w);
    if (rc != ZKC_OK)
        fk_done_free(d);
    free(w.undo);
    return rc;
}

void fk_session_free(fake_conn *fc)
{
    for (size_t i = 0; i < fc->nids; i++) {
        free(fc->ids[i].scheme);
        free(fc->ids[i].id);
    }
    free(fc->ids);
    free(fc->expire_item);
    pthread_mutex_destroy(&fc->qlock);
    pthread_cond_destroy(&fc->qcond);
    pthread_cond_destroy(&fc->qdone);
    zkc_fake_tree *t = fc->tree;
    zkc_impl_conn_fini(&fc->base);
    free(fc);
    fk_tree_unref(t);
}

static void fake_close(zkc_conn *c)
{
    fake_conn *fc = (fake_conn *)c;
    zkc_fake_tree *t = fc->tree;

    pthread_mutex_lock(&t->lock);
    fc->closed = 1;
    /* A close ends the session like an expiry, but the watches end with
     * CLOSED; the other sessions see the ephemerals go. */
    fk_session_end(t, fc, ZKC_EVENT_CLOSED, !fc->expired);
    pthread_mutex_unlock(&t->lock);

    int self = pthread_equal(pthread_self(), fc->thread);
    pthread_mutex_lock(&fc->qlock);
    fc->q_stop = 1;
    fc->q_self_close = self;
    pthread_cond_signal(&fc->qcond);
    pthread_mutex_unlock(&fc->qlock);
    if (self) {
        /* We are a completion of this session: the thread finishes the
         * queue after we return, then frees the session. */
        pthread_detach(fc->thread);
        return;
    }
    pthread_join(fc->thread, NULL);
    fk_session_free(fc);
}

static int64_t fake_session_id(zkc_conn *c)
{
    fake_conn *fc = (fake_conn *)c;
    pthread_mutex_lock(&fc->tree->lock);
    int64_t id = fc->expired || fc->closed ? 0 : fc->session_id;
    pthread_mutex_unlock(&fc->tree->lock);
    return id;
}

static const struct zkc_conn_ops fake_ops = {
    .version = 1,
    .name = "fake",
    .submit = fake_submit,
    .close = fake_close,
    .session_id = fake_session_id,
    .multi = fake_multi,
};

/* ------------------------------------------------------------------ */
/* Sessions: open, faults, identities.                                 */
/* ------------------------------------------------------------------ */

static int fk_session_add_id(fake_conn *fc, const char *scheme, const char *id)
{
    for (size_t i = 0; i < fc->nids; i++)
        if (strcmp(fc->ids[i].scheme, scheme) == 0 && strcmp(fc->ids[i].id, id) == 0)
            return ZKC_OK; /* addAuthInfo keeps one of each */
    fk_id *ids = realloc(fc->ids, (fc->nids + 1) * sizeof *ids);
    if (ids == NULL)
        return ZKC_ENOMEM;
    fc->ids = ids;
    char *s = strdup(scheme), *i = strdup(id);
    if (s == NULL || i == NULL) {
        free(s);
        free(i);
        return ZKC_ENOMEM;
    }
    fc->ids[fc->nids].scheme = s;
    fc->ids[fc->nids].id = i;
    fc->nids++;
    return ZKC_OK;
}

int zkc_fake_open(zkc_fake_tree *t, zkc_conn **ret_conn)
{
    if (t == NULL || ret_conn == NULL)
        return ZKC_EBADARGUMENTS;
    fake_conn *fc = calloc(1, sizeof *fc);
    if (fc == NULL)
        return ZKC_ENOMEM;
    fc->expire_item = fk_state_item_new(ZKC_STATE_EXPIRED);
    if (fc->expire_item == NULL || fk_session_add_id(fc, "ip", "127.0.0.1") != ZKC_OK) {
        free(fc->expire_item);
        if (fc->nids > 0) {
            free(fc->ids[0].scheme);
            free(fc->ids[0].id);
        }
        free(fc->ids);
        free(fc);
        return ZKC_ENOMEM;
    }

    pthread_mutex_lock(&t->lock);
    fc->session_id = t->next_session++;
    t->zxid++; /* createSession */
    pthread_mutex_unlock(&t->lock);

    char desc[64];
    snprintf(desc, sizeof desc, "fake(0x%llx)", (unsigned long long)fc->session_id);
    int rc = zkc_impl_conn_init(&fc->base, &fake_ops, desc);
    if (rc != ZKC_OK) {
        free(fc->expire_item);
        free(fc->ids[0].scheme);
        free(fc->ids[0].id);
        free(fc->ids);
        free(fc);
        return rc == ZKC_ENOMEM ? rc : ZKC_ENOMEM;
    }
    pthread_mutex_init(&fc->qlock, NULL);
    zkc_impl_cond_init_monotonic(&fc->qcond);
    pthread_cond_init(&fc->qdone, NULL);
    fc->tree = t;
    /* Nobody can watch the state yet: set it without an event. */
    fc->base.state = ZKC_STATE_CONNECTED;

    pthread_mutex_lock(&t->lock);
    t->refs++;
    pthread_mutex_unlock(&t->lock);
    if (pthread_create(&fc->thread, NULL, fk_session_main, fc) != 0) {
        /* fk_session_free drops the tree reference taken above. */
        fk_session_free(fc);
        return ZKC_ENOMEM;
    }
    *ret_conn = &fc->base;
    return ZKC_OK;
}

static int fk_inject_state(fake_conn *fc, int suspend)
{
    zkc_fake_tree *t = fc->tree;
    fk_state *st = fk_state_item_new(suspend ? ZKC_STATE_SUSPENDED : ZKC_STATE_RECONNECTED);
    if (st == NULL)
        return ZKC_ENOMEM;
    pthread_mutex_lock(&t->lock);
    if (fc->closed || fc->expired || (suspend != 0) == (fc->suspended != 0)) {
        pthread_mutex_unlock(&t->lock);
        free(st);
        return ZKC_OK;
    }
    int wait = fk_queue_wait_prepare(fc);
    uint64_t seq;
    if (suspend) {
        fc->suspended = 1;
        fc->hold = 1;
        seq = fk_queue_push(fc, &st->it);
    } else {
        fc->suspended = 0;
        seq = fk_session_reconnect(fc, st);
    }
    pthread_mutex_unlock(&t->lock);
    if (wait)
        fk_queue_wait(fc, seq);
    return ZKC_OK;
}

int zkc_fake_inject(zkc_conn *c, zkc_fake_fault fault, unsigned n)
{
    if (c == NULL || c->ops != &fake_ops)
        return ZKC_EBADARGUMENTS;
    fake_conn *fc = (fake_conn *)c;
    zkc_fake_tree *t = fc->tree;
    switch (fault) {
    case ZKC_FAKE_LOSS_BEFORE:
    case ZKC_FAKE_LOSS_AFTER:
        pthread_mutex_lock(&t->lock);
        if (fault == ZKC_FAKE_LOSS_BEFORE)
            fc->loss_before = n;
        else
            fc->loss_after = n;
        fc->loss_skip = 0;
        pthread_mutex_unlock(&t->lock);
        return ZKC_OK;
    case ZKC_FAKE_EXPIRE: {
        uint64_t seq = 0;
        int wait = 0;
        pthread_mutex_lock(&t->lock);
        if (!fc->closed && !fc->expired) {
            fc->expired = 1;
            wait = fk_queue_wait_prepare(fc);
            /* The state first, so a watch that ends with expiry finds
             * the session EXPIRED already. */
            seq = fk_queue_push(fc, &fc->expire_item->it);
            fc->expire_item = NULL;
            fk_session_end(t, fc, ZKC_EVENT_SESSION_EXPIRED, 1);
        }
        pthread_mutex_unlock(&t->lock);
        if (wait)
            fk_queue_wait(fc, seq);
        return ZKC_OK;
    }
    case ZKC_FAKE_DELAY:
        pthread_mutex_lock(&fc->qlock);
        fc->delay_ms = n;
        pthread_mutex_unlock(&fc->qlock);
        return ZKC_OK;
    case ZKC_FAKE_SUSPEND:
        return fk_inject_state(fc, n != 0);
    }
    return ZKC_EBADARGUMENTS;
}

int zkc_fake_inject_nth(zkc_conn *c, zkc_fake_fault fault, unsigned k)
{
    if (c == NULL || c->ops != &fake_ops || k == 0 ||
        (fault != ZKC_FAKE_LOSS_BEFORE && fault != ZKC_FAKE_LOSS_AFTER))
        return ZKC_EBADARGUMENTS;
    fake_conn *fc = (fake_conn *)c;
    pthread_mutex_lock(&fc->tree->lock);
    fc->loss_before = fault == ZKC_FAKE_LOSS_BEFORE;
    fc->loss_after = fault == ZKC_FAKE_LOSS_AFTER;
    fc->loss_skip = k - 1;
    pthread_mutex_unlock(&fc->tree->lock);
    return ZKC_OK;
}

int zkc_fake_ops(zkc_conn *c, uint64_t *ret_n, bool *ret_loss_pending)
{
    if (c == NULL || c->ops != &fake_ops)
        return ZKC_EBADARGUMENTS;
    fake_conn *fc = (fake_conn *)c;
    pthread_mutex_lock(&fc->tree->lock);
    if (ret_n != NULL)
        *ret_n = fc->nops;
    if (ret_loss_pending != NULL)
        *ret_loss_pending = fc->loss_before > 0 || fc->loss_after > 0;
    pthread_mutex_unlock(&fc->tree->lock);
    return ZKC_OK;
}

int zkc_fake_add_auth(zkc_conn *c, const char *scheme, const char *cred)
{
    if (c == NULL || c->ops != &fake_ops || scheme == NULL || cred == NULL)
        return ZKC_EBADARGUMENTS;
    fake_conn *fc = (fake_conn *)c;
    char *id = NULL;
    if (strcmp(scheme, "digest") == 0) {
        /* DigestAuthenticationProvider.generateDigest: the user part
         * before the first ':', and the hash of the whole string. */
        uint8_t h[SHA1_DIGEST_SIZE];
        struct sha1_ctx sc;
        sha1_init(&sc);
        sha1_update(&sc, strlen(cred), (const uint8_t *)cred);
        sha1_digest(&sc, sizeof h, h);
        char *b64 = zkc_base64_encode(h, sizeof h);
        const char *colon = strchr(cred, ':');
        size_t ulen = colon != NULL ? (size_t)(colon - cred) : strlen(cred);
        id = b64 != NULL ? fk_fmt_msg("%.*s:%s", (int)ulen, cred, b64) : NULL;
        free(b64);
        if (id == NULL)
            return ZKC_ENOMEM;
    } else if (strcmp(scheme, "ip") == 0) {
        unsigned char a[16];
        size_t alen;
        unsigned bits;
        if (strchr(cred, '/') != NULL || !fk_ip_parse(cred, a, &alen, &bits))
            return ZKC_EAUTHFAILED;
        id = strdup(cred);
        if (id == NULL)
            return ZKC_ENOMEM;
    } else {
        return ZKC_EAUTHFAILED;
    }
    zkc_fake_tree *t = fc->tree;
    pthread_mutex_lock(&t->lock);
    int rc = fc->expired ? ZKC_ESESSIONEXPIRED : fk_session_add_id(fc, scheme, id);
    pthread_mutex_unlock(&t->lock);
    free(id);
    return rc;
}
