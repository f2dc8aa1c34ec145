/*
 * conn_zk.c: a zkc_conn over a real ZooKeeper session, through the Apache
 * ZooKeeper C client (libzookeeper_mt): zkc_zk_dial (the seed's DialZk
 * and DialZkTimeout, always with a bound unless asked otherwise), the
 * operations, session states, watches and close.
 *
 * Every operation goes through the C client's asynchronous calls, and its
 * completion runs on the C client's completion thread, where results are
 * handed over borrowed (no copies, except the data of a get, which gets
 * its courtesy NUL).  One exception: a blocking get, children or exists
 * without a watch, made while nothing else of the connection is in
 * flight, goes through the C client's synchronous call (zk_call, the
 * call op), whose answer its I/O thread hands straight to the caller:
 * one thread hop less, so a blocking read costs what zoo_get costs.
 * What the C client does not do, this file does:
 *
 *  - Exactly one completion per accepted submit.  Every operation is
 *    kept in a list, in submission order, until it completes; at close,
 *    after zookeeper_close() has joined the C client's threads, anything
 *    still listed completes with ZKC_ECLOSING.  (Before that, close gives
 *    answers already on their way up to CLOSE_DRAIN_MS to arrive: the C
 *    client's completion thread may leave before running the ZCLOSING
 *    results it queues at close, and then leaks them.)  An operation the
 *    C client refuses at once because the session is gone (ZINVALIDSTATE)
 *    is completed by us, after every operation submitted before it;
 *    so is one it accepts just as the session goes (it may have taken it
 *    in after its expiry cleanup, and then answers it only at close):
 *    see hold_if_gone_locked().
 *  - Every watch ends with exactly one event.  The C client drops its
 *    watchers silently at close and tells them about expiry only through
 *    session events; so each watch handed out is tracked here, and ends
 *    with its node event, ZKC_EVENT_SESSION_EXPIRED or ZKC_EVENT_CLOSED.
 *  - Close from the completion thread: zookeeper_close() joins that very
 *    thread, so such a close is handed to a helper thread of the
 *    connection (started on first need, which also delivers the
 *    completions of refused operations).
 *  - Logging: the C client's log callback takes no user pointer, so each
 *    connection borrows one of a fixed set of trampolines, which maps the
 *    line back to the connection and its zkc_log_fn.  Connections past
 *    those slots share one more trampoline, which finds the connection
 *    by the thread when it can, and otherwise logs the line to them
 *    marked as such (see log_overflow): any number of connections dial
 *    and log.  That slot table and the list of connections past it are
 *    the only process-wide state here; nothing of the C client's global
 *    configuration (log level, log stream) is touched, and with no log
 *    function nothing is printed.
 *
 * A multi goes through zoo_amulti(): the C client serialises the
 * operations at once, but writes the results, created names and set
 * stats into buffers of ours when the answer comes, so those live with
 * the operation until its completion (struct zk_multi).
 *
 * Digest (or any other scheme's) credentials are given to the C client,
 * which sends them again after every reconnect; they are never logged.
 */
#include <zookeeper/zookeeper.h>

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zkcell/path.h"
#include "zkcell/sys/conn_impl.h"
#include "zkcell/zk.h"

/* The codes are the C client's own, passed through as they come. */
#define ZKC__SAME_CODE(ours, theirs) _Static_assert((int)ZKC_##ours == (int)(theirs), #ours)
ZKC__SAME_CODE(OK, ZOK);
ZKC__SAME_CODE(ESYSTEMERROR, ZSYSTEMERROR);
ZKC__SAME_CODE(ERUNTIMEINCONSISTENCY, ZRUNTIMEINCONSISTENCY);
ZKC__SAME_CODE(EDATAINCONSISTENCY, ZDATAINCONSISTENCY);
ZKC__SAME_CODE(ECONNECTIONLOSS, ZCONNECTIONLOSS);
ZKC__SAME_CODE(EMARSHALLINGERROR, ZMARSHALLINGERROR);
ZKC__SAME_CODE(EUNIMPLEMENTED, ZUNIMPLEMENTED);
ZKC__SAME_CODE(EOPERATIONTIMEOUT, ZOPERATIONTIMEOUT);
ZKC__SAME_CODE(EBADARGUMENTS, ZBADARGUMENTS);
ZKC__SAME_CODE(EINVALIDSTATE, ZINVALIDSTATE);
ZKC__SAME_CODE(ENEWCONFIGNOQUORUM, ZNEWCONFIGNOQUORUM);
ZKC__SAME_CODE(ERECONFIGINPROGRESS, ZRECONFIGINPROGRESS);
ZKC__SAME_CODE(ESSLCONNECTIONERROR, ZSSLCONNECTIONERROR);
ZKC__SAME_CODE(EAPIERROR, ZAPIERROR);
ZKC__SAME_CODE(ENONODE, ZNONODE);
ZKC__SAME_CODE(ENOAUTH, ZNOAUTH);
ZKC__SAME_CODE(EBADVERSION, ZBADVERSION);
ZKC__SAME_CODE(ENOCHILDRENFOREPHEMERALS, ZNOCHILDRENFOREPHEMERALS);
ZKC__SAME_CODE(ENODEEXISTS, ZNODEEXISTS);
ZKC__SAME_CODE(ENOTEMPTY, ZNOTEMPTY);
ZKC__SAME_CODE(ESESSIONEXPIRED, ZSESSIONEXPIRED);
ZKC__SAME_CODE(EINVALIDCALLBACK, ZINVALIDCALLBACK);
ZKC__SAME_CODE(EINVALIDACL, ZINVALIDACL);
ZKC__SAME_CODE(EAUTHFAILED, ZAUTHFAILED);
ZKC__SAME_CODE(ECLOSING, ZCLOSING);
ZKC__SAME_CODE(ESESSIONMOVED, ZSESSIONMOVED);
ZKC__SAME_CODE(ENOTREADONLY, ZNOTREADONLY);
ZKC__SAME_CODE(EEPHEMERALONLOCALSESSION, ZEPHEMERALONLOCALSESSION);
ZKC__SAME_CODE(ENOWATCHER, ZNOWATCHER);
ZKC__SAME_CODE(ERECONFIGDISABLED, ZRECONFIGDISABLED);
ZKC__SAME_CODE(ESESSIONCLOSEDREQUIRESASLAUTH, ZSESSIONCLOSEDREQUIRESASLAUTH);
ZKC__SAME_CODE(ETHROTTLEDOP, ZTHROTTLEDOP);

typedef struct zk_conn zk_conn;

/* A watch handed to the C client. */
enum { WREC_PENDING, WREC_ACTIVE, WREC_DONE };
typedef struct zk_wrec {
    struct zk_wrec *prev, *next; /* zc->watches */
    zk_conn *zc;
    zkc_watch *w;
    int state; /* PENDING until its operation completes, ACTIVE once handed out */
    struct zk_wrec *fire_next; /* a batch to fire outside the lock */
} zk_wrec;

/* One outstanding operation. */
typedef struct zk_op {
    struct zk_op *prev, *next; /* zc->ops, in submission order */
    zk_conn *zc;
    zkc_done_fn done;
    void *ud;
    zkc_op op;
    uint64_t seq;    /* unique within the connection, from submission order */
    int deferred_rc; /* non-zero: refused by the C client, completed by us */
    bool orphan;     /* its submit failed, yet the C client may still answer */
    /* Accepted by the C client when the session was already gone: the C
     * client may have taken it after its expiry cleanup, and then answers
     * it at close or never.  Completed by us like a refused operation
     * (deferred_rc), and kept in zc->limbo until the C client lets go. */
    bool held;
    bool settled;  /* completed by us, in zc->limbo */
    bool busy;     /* its completion is running (the drainer's) */
    bool answered; /* the C client answered while busy: the drainer frees */
    int64_t sent_ms; /* monotonic ms, taken before it went to the C client */
    zk_wrec *wrec;   /* the watch asked for, or NULL */
    struct zk_multi *multi; /* a multi's buffers, or NULL */
    char path[];
} zk_op;

/*
 * A multi's buffers, one block, alive until its completion: the C client
 * writes each result, the name of each created node and the stat of each
 * set into them when the answer comes.  The requests themselves (paths,
 * data, ACLs) are serialised by zoo_amulti() and not kept.
 */
typedef struct zk_multi {
    size_t n;
    zoo_op_result_t *zres;
    struct Stat *stats;
    zkc_op_result *res;
    zkc_stat *rstats;
    char **names; /* create: its name buffer, else NULL */
} zk_multi;

/* Not an error code of the C client's: a result it never wrote. */
#define ZRES_UNSET 1

struct zk_conn {
    zkc_conn base; /* first: the dispatcher casts */
    zhandle_t *zh;
    char *servers;
    int log_slot;     /* its trampoline, or -1: past the slots */
    bool in_overflow; /* listed in overflow_head (log_slot -1) */
    struct zk_conn *overflow_prev, *overflow_next;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* dial progress, submitters leaving */
    bool connected_once;
    bool expired;
    bool auth_failed;
    bool auth_done;
    int auth_rc;
    int64_t session_id;

    bool connected_now; /* CONNECTED or RECONNECTED, not since lost */
    bool published;     /* the first CONNECTED has reached the base state */
    zk_op *ops_head, *ops_tail;
    zk_op *limbo;      /* held operations completed by us (doubly linked) */
    uint64_t next_seq; /* the next zk_op.seq */
    zk_wrec *watches;
    int inflight;   /* operations the C client holds */
    int calling;    /* threads inside a synchronous call (zk_call), also in inflight */
    long calls;     /* synchronous calls made (zkc__zk_calls) */
    int submitting; /* threads inside a zoo_a* call */
    bool closing;
    bool draining;
    /* Outside the lock: completions running after their operation left
     * the list (no refused operation may complete meanwhile), and refused
     * operations listed but not yet completed (an over-estimate). */
    atomic_int completing;
    atomic_int deferred;
    /* The send time of the latest request the server answered
     * (zkc_conn_last_heard), monotonic ms; 0: none yet. */
    _Atomic int64_t last_heard;

    /* The helper thread: completions of refused operations, and close
     * when asked from the completion thread. */
    pthread_t aux;
    pthread_cond_t aux_cond;
    bool aux_started;
    bool aux_quit;
    bool aux_close;

    /* zookeeper_init2() on a thread of its own (init_main), so that the
     * connect timeout bounds it too. */
    int init_session_ms;
    log_callback_fn init_logcb;
    bool init_done;      /* it returned: zh and init_errno are set */
    bool init_abandoned; /* the dial gave up first: init_main frees zc */
    int init_errno;
};

static const struct zkc_conn_ops zk_ops;

/* How long close waits for answers already on their way. */
#define CLOSE_DRAIN_MS 1000

/*
 * How often, at most, the C client looks the server names up again while
 * connected.  By default it does so on every turn of its I/O loop (every
 * request sent and every answer read): a getaddrinfo(), a netlink query
 * for the local addresses, and an srand() and shuffle of the list, which
 * took over half of the client's CPU per blocking call.  A change in DNS
 * is still seen within this bound (an idle connection turns its loop only
 * every few seconds anyway), and every reconnect looks the names up as
 * before.
 */
#define RESOLVE_DELAY_MS 1000

/* The connection whose C client callback runs on this thread, if any. */
static _Thread_local zk_conn *tls_in_callback;

/* ---- logging: the C client's per-handle callback, mapped back ---- */

#define LOG_SLOTS 256
static _Atomic(zk_conn *) log_slots[LOG_SLOTS];

/* One line of the C client's to zc's log function; tag leads the text. */
static void log_deliver(zk_conn *zc, const char *msg, const char *tag)
{
    /* "2024-...:pid(0xtid):ZOO_INFO@func@line: text" -> level, "func@line: text" */
    zkc_log_level level = ZKC_LOG_INFO;
    const char *text = msg;
    static const struct {
        const char *tag;
        zkc_log_level level;
    } levels[] = {{"ZOO_ERROR@", ZKC_LOG_ERROR},
                  {"ZOO_WARN@", ZKC_LOG_WARN},
                  {"ZOO_INFO@", ZKC_LOG_INFO},
                  {"ZOO_DEBUG@", ZKC_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof levels / sizeof *levels; i++) {
        const char *p = strstr(msg, levels[i].tag);
        if (p != NULL) {
            level = levels[i].level;
            text = p + strlen(levels[i].tag);
            break;
        }
    }
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    /* A close from the log function is handed to the helper. */
    zk_conn *saved = tls_in_callback;
    tls_in_callback = zc;
    zkc_impl_log(&zc->base, level, "%s: %.*s", tag, (int)len, text);
    tls_in_callback = saved;
}

static void log_dispatch(int slot, const char *msg)
{
    zk_conn *zc = atomic_load(&log_slots[slot]);
    if (zc == NULL || msg == NULL)
        return;
    log_deliver(zc, msg, "zookeeper");
}

/* clang-format off */
#define LOG_TRAMP(a, b)                                                        \
    static void log_tramp_##a##_##b(const char *msg)                           \
    {                                                                          \
        log_dispatch((a) * 16 + (b), msg);                                     \
    }
#define LOG_TRAMP_ROW(a)                                                       \
    LOG_TRAMP(a, 0) LOG_TRAMP(a, 1) LOG_TRAMP(a, 2) LOG_TRAMP(a, 3)            \
    LOG_TRAMP(a, 4) LOG_TRAMP(a, 5) LOG_TRAMP(a, 6) LOG_TRAMP(a, 7)            \
    LOG_TRAMP(a, 8) LOG_TRAMP(a, 9) LOG_TRAMP(a, 10) LOG_TRAMP(a, 11)          \
    LOG_TRAMP(a, 12) LOG_TRAMP(a, 13) LOG_TRAMP(a, 14) LOG_TRAMP(a, 15)
LOG_TRAMP_ROW(0) LOG_TRAMP_ROW(1) LOG_TRAMP_ROW(2) LOG_TRAMP_ROW(3)
LOG_TRAMP_ROW(4) LOG_TRAMP_ROW(5) LOG_TRAMP_ROW(6) LOG_TRAMP_ROW(7)
LOG_TRAMP_ROW(8) LOG_TRAMP_ROW(9) LOG_TRAMP_ROW(10) LOG_TRAMP_ROW(11)
LOG_TRAMP_ROW(12) LOG_TRAMP_ROW(13) LOG_TRAMP_ROW(14) LOG_TRAMP_ROW(15)

#define LOG_TRAMP_REF(a, b) log_tramp_##a##_##b,
#define LOG_TRAMP_REF_ROW(a)                                                   \
    LOG_TRAMP_REF(a, 0) LOG_TRAMP_REF(a, 1) LOG_TRAMP_REF(a, 2)                \
    LOG_TRAMP_REF(a, 3) LOG_TRAMP_REF(a, 4) LOG_TRAMP_REF(a, 5)                \
    LOG_TRAMP_REF(a, 6) LOG_TRAMP_REF(a, 7) LOG_TRAMP_REF(a, 8)                \
    LOG_TRAMP_REF(a, 9) LOG_TRAMP_REF(a, 10) LOG_TRAMP_REF(a, 11)              \
    LOG_TRAMP_REF(a, 12) LOG_TRAMP_REF(a, 13) LOG_TRAMP_REF(a, 14)             \
    LOG_TRAMP_REF(a, 15)
static const log_callback_fn log_tramps[LOG_SLOTS] = {
    LOG_TRAMP_REF_ROW(0) LOG_TRAMP_REF_ROW(1) LOG_TRAMP_REF_ROW(2)
    LOG_TRAMP_REF_ROW(3) LOG_TRAMP_REF_ROW(4) LOG_TRAMP_REF_ROW(5)
    LOG_TRAMP_REF_ROW(6) LOG_TRAMP_REF_ROW(7) LOG_TRAMP_REF_ROW(8)
    LOG_TRAMP_REF_ROW(9) LOG_TRAMP_REF_ROW(10) LOG_TRAMP_REF_ROW(11)
    LOG_TRAMP_REF_ROW(12) LOG_TRAMP_REF_ROW(13) LOG_TRAMP_REF_ROW(14)
    LOG_TRAMP_REF_ROW(15)
};
/* clang-format on */

/* Take a free slot for zc; -1 when all are taken. */
static int log_slot_take(zk_conn *zc)
{
    for (int i = 0; i < LOG_SLOTS; i++) {
        zk_conn *expected = NULL;
        if (atomic_compare_exchange_strong(&log_slots[i], &expected, zc))
            return i;
    }
    return -1;
}

/*
 * Connections dialed while every slot is taken share one trampoline,
 * log_overflow, and are listed in overflow_head.  A line logged on a
 * thread working for one connection (the dial's init thread, a submit,
 * close: tls_log_conn) goes to that connection, as through a slot.  A
 * line from a C client thread of its own (the I/O thread) cannot be
 * traced to its connection: it goes, marked so, to the log function of
 * the listed connections, each distinct function and userdata once (the
 * first OVERFLOW_LOGGERS of them).  The delivery holds overflow_lock, so
 * that no log function is called after its connection's close returned;
 * a close asked for inside such a delivery is handed to that
 * connection's helper thread (the close would wait for C client threads
 * that may be waiting for overflow_lock).
 */
#define OVERFLOW_LOGGERS 8
static pthread_mutex_t overflow_lock = PTHREAD_MUTEX_INITIALIZER;
static zk_conn *overflow_head;
static int overflow_count;
static _Thread_local bool tls_overflow_held;

/* The connection a C client call on this thread works for, if any. */
static _Thread_local zk_conn *tls_log_conn;

static void overflow_add(zk_conn *zc)
{
    bool held = tls_overflow_held; /* a dial from a log function */
    if (!held)
        pthread_mutex_lock(&overflow_lock);
    zc->overflow_next = overflow_head;
    if (overflow_head != NULL)
        overflow_head->overflow_prev = zc;
    overflow_head = zc;
    overflow_count++;
    if (!held)
        pthread_mutex_unlock(&overflow_lock);
}

/* Only once the C client's threads are gone.  Inside a delivery only
 * for a dial that failed (a close is handed to the helper there). */
static void overflow_remove(zk_conn *zc)
{
    bool held = tls_overflow_held; /* a failed dial from a log function */
    if (!held)
        pthread_mutex_lock(&overflow_lock);
    if (zc->overflow_prev != NULL)
        zc->overflow_prev->overflow_next = zc->overflow_next;
    else
        overflow_head = zc->overflow_next;
    if (zc->overflow_next != NULL)
        zc->overflow_next->overflow_prev = zc->overflow_prev;
    overflow_count--;
    if (!held)
        pthread_mutex_unlock(&overflow_lock);
}

static void log_overflow(const char *msg)
{
    if (msg == NULL)
        return;
    if (tls_log_conn != NULL) {
        log_deliver(tls_log_conn, msg, "zookeeper");
        return;
    }
    pthread_mutex_lock(&overflow_lock);
    tls_overflow_held = true;
    char tag[96];
    snprintf(tag, sizeof tag, "zookeeper (one of the %d connections past the %d log slots)",
             overflow_count, LOG_SLOTS);
    struct {
        zkc_log_fn fn;
        void *ud;
    } seen[OVERFLOW_LOGGERS];
    int n_seen = 0;
    /* A dial from a log function adds at the head: the walk goes on. */
    for (zk_conn *zc = overflow_head; zc != NULL && n_seen < OVERFLOW_LOGGERS;
         zc = zc->overflow_next) {
        pthread_mutex_lock(&zc->base.base_lock);
        zkc_log_fn fn = zc->base.log_fn;
        void *ud = zc->base.log_ud;
        pthread_mutex_unlock(&zc->base.base_lock);
        bool dup = fn == NULL;
        for (int i = 0; i < n_seen && !dup; i++)
            dup = seen[i].fn == fn && seen[i].ud == ud;
        if (dup)
            continue;
        seen[n_seen].fn = fn;
        seen[n_seen].ud = ud;
        n_seen++;
        log_deliver(zc, msg, tag);
    }
    tls_overflow_held = false;
    pthread_mutex_unlock(&overflow_lock);
}

/* Only once the C client's threads are gone. */
static void log_slot_release(zk_conn *zc)
{
    if (zc->log_slot >= 0)
        atomic_store(&log_slots[zc->log_slot], NULL);
    else if (zc->in_overflow)
        overflow_remove(zc);
}

/* ---- helpers ---- */

static void stat_from_zk(zkc_stat *d, const struct Stat *s)
{
    d->czxid = s->czxid;
    d->mzxid = s->mzxid;
    d->ctime = s->ctime;
    d->mtime = s->mtime;
    d->version = s->version;
    d->cversion = s->cversion;
    d->aversion = s->aversion;
    d->ephemeral_owner = s->ephemeralOwner;
    d->data_length = s->dataLength;
    d->num_children = s->numChildren;
    d->pzxid = s->pzxid;
}

/* The code for operations refused because the session is gone. */
/* Whether the C client's state st is one it never leaves: the session
 * is over. */
static bool state_gone(int st)
{
    return st == ZOO_EXPIRED_SESSION_STATE || st == ZOO_AUTH_FAILED_STATE;
}

static int gone_rc_locked(zk_conn *zc)
{
    if (zc->auth_failed)
        return ZKC_EAUTHFAILED;
    if (zc->expired)
        return ZKC_ESESSIONEXPIRED;
    int s = zc->zh != NULL ? zoo_state(zc->zh) : 0;
    if (s == ZOO_AUTH_FAILED_STATE)
        return ZKC_EAUTHFAILED;
    return ZKC_ESESSIONEXPIRED;
}

static void ops_unlink_locked(zk_conn *zc, zk_op *op)
{
    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        zc->ops_head = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    else
        zc->ops_tail = op->prev;
    op->prev = op->next = NULL;
}

static void limbo_push_locked(zk_conn *zc, zk_op *op)
{
    op->prev = NULL;
    op->next = zc->limbo;
    if (zc->limbo != NULL)
        zc->limbo->prev = op;
    zc->limbo = op;
}

static void limbo_unlink_locked(zk_conn *zc, zk_op *op)
{
    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        zc->limbo = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
}

/* Append op to the list of outstanding operations, giving it its seq. */
static uint64_t ops_append_locked(zk_conn *zc, zk_op *op)
{
    op->seq = zc->next_seq++;
    op->prev = zc->ops_tail;
    if (zc->ops_tail != NULL)
        zc->ops_tail->next = op;
    else
        zc->ops_head = op;
    zc->ops_tail = op;
    return op->seq;
}

static int aux_kick_locked(zk_conn *zc);

/*
 * Right after the C client accepted the operation numbered seq (which may
 * already have completed and be gone: it is looked up, not touched).  The
 * C client's I/O thread marks the session gone, then completes everything
 * it holds (ZSESSIONEXPIRED); an operation it takes in after that cleanup
 * (it checked the state just before the mark) is answered only at close,
 * if at all.  Which of the two happened cannot be told from here, so when
 * the session is gone by now, the operation is completed by us in order,
 * like a refused one, and whichever answer comes second is dropped.  When
 * the session was still there after the C client took the operation, the
 * cleanup, which comes later, completes it.
 */
static void hold_if_gone_locked(zk_conn *zc, uint64_t seq)
{
    if (!state_gone(zoo_state(zc->zh)))
        return;
    for (zk_op *o = zc->ops_tail; o != NULL && o->seq >= seq; o = o->prev) {
        if (o->seq != seq)
            continue;
        o->held = true;
        o->deferred_rc = gone_rc_locked(zc);
        atomic_fetch_add(&zc->deferred, 1);
        (void)aux_kick_locked(zc); /* without a helper, the next completion drains */
        return;
    }
}

static void wrec_unlink_locked(zk_conn *zc, zk_wrec *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        zc->watches = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void op_free(zk_op *op)
{
    free(op->multi);
    free(op);
}

/* ---- completing operations ---- */

static void drain_deferred(zk_conn *zc);

static void result_init(zkc_result *r, const zk_op *op, int rc)
{
    memset(r, 0, sizeof *r);
    r->rc = rc;
    r->op = op->op;
    r->path = op->path;
}

/*
 * Decide the fate of op's watch: handed out in r when the C client
 * registered it (registered true), else discarded.  Runs on the
 * completion thread, or at close when no C client thread is left.
 */
static void settle_watch(zk_conn *zc, zk_op *op, zkc_result *r, bool registered)
{
    zk_wrec *wr = op->wrec;
    if (wr == NULL)
        return;
    op->wrec = NULL;
    pthread_mutex_lock(&zc->lock);
    if (!registered) {
        wrec_unlink_locked(zc, wr);
        pthread_mutex_unlock(&zc->lock);
        zkc_impl_watch_discard(wr->w);
        free(wr);
        return;
    }
    bool gone = zc->expired || zc->auth_failed;
    wr->state = gone ? WREC_DONE : WREC_ACTIVE;
    pthread_mutex_unlock(&zc->lock);
    r->watch = wr->w;
    if (gone) /* cannot happen in order, but never leave a watch hanging */
        zkc_impl_watch_fire(wr->w, ZKC_EVENT_SESSION_EXPIRED);
}

/* Whether rc is the server's answer (so the server heard the request),
 * rather than the C client's verdict on a request it could not send or
 * whose answer never came. */
static bool server_answered(int rc)
{
    switch (rc) {
    case ZOK:
    case ZNONODE:
    case ZNOAUTH:
    case ZBADVERSION:
    case ZNOCHILDRENFOREPHEMERALS:
    case ZNODEEXISTS:
    case ZNOTEMPTY:
    case ZINVALIDACL:
        return true;
    default:
        return false;
    }
}

/* When rc is the server's answer to a request sent at sent_ms, the
 * server was heard then (zkc_conn_last_heard): the latest such time. */
static void note_heard(zk_conn *zc, int rc, int64_t sent_ms)
{
    if (!server_answered(rc))
        return;
    int64_t seen = atomic_load(&zc->last_heard);
    while (seen < sent_ms && !atomic_compare_exchange_weak(&zc->last_heard, &seen, sent_ms))
        ;
}

/*
 * Forget op, then run its completion with r.  The bookkeeping comes first
 * so that a caller woken by the completion, who submits again at once,
 * does not meet this thread on the lock.  While the completion runs,
 * zc->completing keeps later refused operations from overtaking it; the
 * last completion to end drains them.  (Close cannot free zc meanwhile:
 * it joins this thread in zookeeper_close.)
 */
static void finish(zk_conn *zc, zk_op *op, const zkc_result *r)
{
    note_heard(zc, r->rc, op->sent_ms);
    pthread_mutex_lock(&zc->lock);
    bool settled = op->settled;
    bool keep = false;
    if (settled) {
        /* Completed by us already (a held operation): only let go. */
        keep = op->busy;
        if (keep)
            op->answered = true; /* the drainer frees it */
        else
            limbo_unlink_locked(zc, op);
    } else {
        ops_unlink_locked(zc, op);
        if (op->deferred_rc != 0)
            atomic_fetch_sub(&zc->deferred, 1); /* held, answered first */
        atomic_fetch_add(&zc->completing, 1);
    }
    if (--zc->inflight == 0 && zc->closing)
        pthread_cond_broadcast(&zc->cond);
    pthread_mutex_unlock(&zc->lock);
    if (!op->orphan && !settled)
        op->done(r, op->ud);
    else
        zkc_watch_free(r->watch); /* nobody asked for it any more */
    if (keep)
        return;
    op_free(op);
    if (!settled && atomic_fetch_sub(&zc->completing, 1) == 1 && atomic_load(&zc->deferred) > 0)
        drain_deferred(zc);
}

/* Complete the refused operations at the head of the list, in order.  One
 * drainer at a time; a drainer looks again before it stops. */
static void drain_deferred(zk_conn *zc)
{
    pthread_mutex_lock(&zc->lock);
    if (zc->draining) {
        pthread_mutex_unlock(&zc->lock);
        return;
    }
    zc->draining = true;
    while (zc->ops_head != NULL && zc->ops_head->deferred_rc != 0 &&
           atomic_load(&zc->completing) == 0) {
        zk_op *op = zc->ops_head;
        ops_unlink_locked(zc, op);
        atomic_fetch_sub(&zc->deferred, 1);
        bool held = op->held;
        if (held) {
            /* The C client may still answer it: it waits in the limbo
             * list, and its answer is dropped (finish). */
            op->settled = true;
            op->busy = true;
            limbo_push_locked(zc, op);
        }
        pthread_mutex_unlock(&zc->lock);
        zkc_result r;
        result_init(&r, op, op->deferred_rc);
        /* A close from this completion must be handed to the helper,
         * which may be the thread running this. */
        zk_conn *saved = tls_in_callback;
        tls_in_callback = zc;
        op->done(&r, op->ud);
        tls_in_callback = saved;
        pthread_mutex_lock(&zc->lock);
        bool gone = !held;
        if (held) {
            op->busy = false;
            gone = op->answered;
            if (gone)
                limbo_unlink_locked(zc, op);
        }
        if (gone) {
            pthread_mutex_unlock(&zc->lock);
            op_free(op);
            pthread_mutex_lock(&zc->lock);
        }
    }
    zc->draining = false;
    pthread_mutex_unlock(&zc->lock);
}

/* ---- the C client's callbacks (completion thread) ---- */

#define ENTER_CALLBACK(zc)                                                                     \
    zk_conn *saved_tls_ = tls_in_callback;                                                     \
    tls_in_callback = (zc)
#define LEAVE_CALLBACK() tls_in_callback = saved_tls_

static void on_data(int rc, const char *value, int value_len, const struct Stat *stat,
                    const void *data)
{
    zk_op *op = (zk_op *)data;
    zk_conn *zc = op->zc;
    ENTER_CALLBACK(zc);
    zkc_result r;
    zkc_stat st;
    char small[256];
    char *copy = NULL;
    result_init(&r, op, rc);
    if (rc == ZOK) {
        size_t len = value_len > 0 ? (size_t)value_len : 0;
        /* The C client's buffer has no room for the courtesy NUL. */
        copy = len < sizeof small ? small : malloc(len + 1);
        if (copy == NULL) {
            r.rc = ZKC_ENOMEM;
        } else {
            if (len > 0)
                memcpy(copy, value, len);
            copy[len] = '\0';
            r.data = copy;
            r.data_len = len;
            stat_from_zk(&st, stat);
            r.stat = &st;
        }
    }
    settle_watch(zc, op, &r, rc == ZOK);
    finish(zc, op, &r);
    if (copy != small)
        free(copy);
    LEAVE_CALLBACK();
}

/* The C client's names as a borrowed zkc_strings. */
static zkc_strings strings_from_zk(const struct String_vector *v)
{
    zkc_strings k = {0, NULL};
    if (v != NULL && v->count > 0) {
        k.count = (size_t)v->count;
        k.v = v->data;
    }
    return k;
}

/* A children answer, with its stat (getChildren2) or without (NULL:
 * getChildren, see on_names). */
static void on_children(int rc, const struct String_vector *strings, const struct Stat *stat,
                        const void *data)
{
    zk_op *op = (zk_op *)data;
    zk_conn *zc = op->zc;
    ENTER_CALLBACK(zc);
    zkc_result r;
    zkc_stat st;
    zkc_strings kids = strings_from_zk(strings);
    result_init(&r, op, rc);
    if (rc == ZOK) {
        r.children = &kids;
        if (stat != NULL) {
            stat_from_zk(&st, stat);
            r.stat = &st;
        }
    }
    settle_watch(zc, op, &r, rc == ZOK);
    finish(zc, op, &r);
    LEAVE_CALLBACK();
}

static void on_names(int rc, const struct String_vector *strings, const void *data)
{
    on_children(rc, strings, NULL, data);
}

static void on_exists(int rc, const struct Stat *stat, const void *data)
{
    zk_op *op = (zk_op *)data;
    zk_conn *zc = op->zc;
    ENTER_CALLBACK(zc);
    zkc_result r;
    zkc_stat st;
    /* A missing node is not an error for exists, and its watch is set. */
    result_init(&r, op, rc == ZNONODE ? ZKC_OK : rc);
    if (rc == ZOK) {
        stat_from_zk(&st, stat);
        r.stat = &st;
    }
    settle_watch(zc, op, &r, rc == ZOK || rc == ZNONODE);
    finish(zc, op, &r);
    LEAVE_CALLBACK();
}

static void on_stat(int rc, const struct Stat *stat, const void *data)
{
    zk_op *op = (zk_op *)data;
    zk_conn *zc = op->zc;
    ENTER_CALLBACK(zc);
    zkc_result r;
    zkc_stat st;
    result_init(&r, op, rc);
    if (rc == ZOK && stat != NULL) {
        stat_from_zk(&st, stat);
        r.stat = &st;
    }
    finish(zc, op, &r);
    LEAVE_CALLBACK();
}

static void on_created(int rc, const char *value, const void *data)
{
    zk_op *op = (zk_op *)data;
    zk_conn *zc = op->zc;
    ENTER_CALLBACK(zc);
    zkc_result r;
    result_init(&r, op, rc);
    /* The server's name for the node, whole (sequence number included):
     * the asynchronous call has no caller-sized buffer to truncate it. */
    if (rc == ZOK)
        r.created_path = value;
    finish(zc, op, &r);
    LEAVE_CALLBACK();
}

static void on_void(int rc, const void *data)
{
    zk_op *op = (zk_op *)data;
    zk_conn *zc = op->zc;
    ENTER_CALLBACK(zc);
    zkc_result r;
    result_init(&r, op, rc);
    finish(zc, op, &r);
    LEAVE_CALLBACK();
}

static void on_acl(int rc, struct ACL_vector *acl, struct Stat *stat, const void *data)
{
    zk_op *op = (zk_op *)data;
    zk_conn *zc = op->zc;
    ENTER_CALLBACK(zc);
    zkc_result r;
    zkc_stat st;
    zkc_acl small[8];
    zkc_acl *v = small;
    zkc_acl_list list = {0, NULL};
    result_init(&r, op, rc);
    if (rc == ZOK) {
        size_t n = acl != NULL && acl->count > 0 ? (size_t)acl->count : 0;
        if (n > sizeof small / sizeof *small)
            v = malloc(n * sizeof *v);
        if (v == NULL) {
            r.rc = ZKC_ENOMEM;
        } else {
            for (size_t i = 0; i < n; i++) {
                v[i].perms = (uint32_t)acl->data[i].perms;
                v[i].scheme = acl->data[i].id.scheme;
                v[i].id = acl->data[i].id.id;
            }
            list.count = n;
            list.v = n > 0 ? v : NULL;
            r.acl = &list;
            stat_from_zk(&st, stat);
            r.stat = &st;
        }
    }
    finish(zc, op, &r);
    if (v != small)
        free(v);
    LEAVE_CALLBACK();
}

static void on_multi(int rc, const void *data)
{
    zk_op *op = (zk_op *)data;
    zk_conn *zc = op->zc;
    ENTER_CALLBACK(zc);
    zkc_result r;
    result_init(&r, op, rc);
    zk_multi *m = op->multi;
    /* Results only when the server answered: then the C client wrote
     * every one of them. */
    bool answered = rc == ZOK || m->n > 0;
    for (size_t i = 0; i < m->n; i++)
        answered &= m->zres[i].err != ZRES_UNSET;
    if (answered) {
        for (size_t i = 0; i < m->n; i++) {
            zkc_op_result *o = &m->res[i];
            o->rc = m->zres[i].err;
            o->created_path = NULL;
            o->stat = NULL;
            if (rc == ZOK && o->op == ZKC_OP_CREATE)
                o->created_path = m->names[i];
            if (rc == ZOK && o->op == ZKC_OP_SET) {
                stat_from_zk(&m->rstats[i], &m->stats[i]);
                o->stat = &m->rstats[i];
            }
        }
        r.ops = m->res;
        r.nops = m->n;
    }
    finish(zc, op, &r);
    LEAVE_CALLBACK();
}

/* A watch's own watcher: its node event, or session events. */
static void on_watch(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh;
    (void)path;
    zk_wrec *wr = ctx;
    zk_conn *zc = wr->zc;
    ENTER_CALLBACK(zc);
    if (type == ZOO_SESSION_EVENT) {
        /* Transient states are the connection's business; the end of the
         * session ends the watch (the global watcher may get there first). */
        if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
            pthread_mutex_lock(&zc->lock);
            bool fire = wr->state == WREC_ACTIVE;
            if (fire)
                wr->state = WREC_DONE;
            pthread_mutex_unlock(&zc->lock);
            /* The C client still holds the record: it is freed at close. */
            if (fire)
                zkc_impl_watch_fire(wr->w, ZKC_EVENT_SESSION_EXPIRED);
        }
    } else if (type == ZOO_CREATED_EVENT || type == ZOO_DELETED_EVENT ||
               type == ZOO_CHANGED_EVENT || type == ZOO_CHILD_EVENT) {
        /* The C client has forgotten this watcher: so can we. */
        pthread_mutex_lock(&zc->lock);
        bool fire = wr->state == WREC_ACTIVE;
        wr->state = WREC_DONE;
        wrec_unlink_locked(zc, wr);
        pthread_mutex_unlock(&zc->lock);
        if (fire)
            zkc_impl_watch_fire(wr->w, (zkc_event_type)type);
        free(wr);
    }
    LEAVE_CALLBACK();
}

/* The handle's watcher: session events. */
static void on_session(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)path;
    zk_conn *zc = ctx;
    if (type != ZOO_SESSION_EVENT)
        return;
    ENTER_CALLBACK(zc);
    int next = -1;
    zk_wrec *ended = NULL;
    pthread_mutex_lock(&zc->lock);
    if (!zc->closing) {
        if (state == ZOO_CONNECTED_STATE) {
            zc->connected_now = true;
            if (!zc->connected_once) {
                zc->connected_once = true;
                const clientid_t *cid = zoo_client_id(zh);
                zc->session_id = cid != NULL ? cid->client_id : 0;
                next = ZKC_STATE_CONNECTED;
            } else {
                next = ZKC_STATE_RECONNECTED;
            }
        } else if (state == ZOO_CONNECTING_STATE) {
            zc->connected_now = false;
            if (zc->connected_once)
                next = ZKC_STATE_SUSPENDED;
        } else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
            if (state == ZOO_AUTH_FAILED_STATE)
                zc->auth_failed = true;
            else
                zc->expired = true;
            zc->connected_now = false;
            next = ZKC_STATE_EXPIRED;
            /* Every watch handed out ends now.  The records stay listed:
             * the C client still holds them until close. */
            for (zk_wrec *wr = zc->watches; wr != NULL; wr = wr->next) {
                if (wr->state != WREC_ACTIVE)
                    continue;
                wr->state = WREC_DONE;
                wr->fire_next = ended;
                ended = wr;
            }
        }
        pthread_cond_broadcast(&zc->cond);
    }
    pthread_mutex_unlock(&zc->lock);
    if (next == ZKC_STATE_EXPIRED)
        zkc_impl_log(&zc->base, ZKC_LOG_ERROR, "zk(%s): %s", zc->servers,
                 zc->auth_failed ? "authentication failed; session closed" : "session expired");
    else if (next == ZKC_STATE_SUSPENDED)
        zkc_impl_log(&zc->base, ZKC_LOG_WARN, "zk(%s): connection lost, session 0x%llx suspended",
                 zc->servers, (unsigned long long)zc->session_id);
    else if (next == ZKC_STATE_RECONNECTED)
        zkc_impl_log(&zc->base, ZKC_LOG_INFO, "zk(%s): reconnected, session 0x%llx", zc->servers,
                 (unsigned long long)zc->session_id);
    if (next >= 0)
        zkc_impl_conn_set_state(&zc->base, (zkc_state)next);
    if (next == ZKC_STATE_CONNECTED) {
        /* Only now may the dial return: its caller sees CONNECTED. */
        pthread_mutex_lock(&zc->lock);
        zc->published = true;
        pthread_cond_broadcast(&zc->cond);
        pthread_mutex_unlock(&zc->lock);
    }
    while (ended != NULL) {
        zk_wrec *wr = ended;
        ended = wr->fire_next;
        zkc_impl_watch_fire(wr->w, ZKC_EVENT_SESSION_EXPIRED);
    }
    LEAVE_CALLBACK();
}

/* The answer to the credentials sent at dial (on the C client's I/O
 * thread; later re-sends after reconnects have no completion, and a
 * refusal then shows as ZOO_AUTH_FAILED_STATE). */
static void on_auth(int rc, const void *data)
{
    zk_conn *zc = (zk_conn *)data;
    pthread_mutex_lock(&zc->lock);
    zc->auth_done = true;
    zc->auth_rc = rc;
    if (rc == ZAUTHFAILED)
        zc->auth_failed = true;
    pthread_cond_broadcast(&zc->cond);
    pthread_mutex_unlock(&zc->lock);
}

/* ---- the helper thread ---- */

static void teardown(zk_conn *zc, bool on_aux);
static void wait_locked(zk_conn *zc, int64_t deadline);

static void *aux_main(void *arg)
{
    zk_conn *zc = arg;
    pthread_mutex_lock(&zc->lock);
    for (;;) {
        if (zc->aux_close) {
            pthread_mutex_unlock(&zc->lock);
            teardown(zc, true); /* frees zc */
            return NULL;
        }
        if (zc->aux_quit)
            break;
        if (zc->ops_head != NULL && zc->ops_head->deferred_rc != 0 && !zc->draining &&
            atomic_load(&zc->completing) == 0) {
            pthread_mutex_unlock(&zc->lock);
            drain_deferred(zc);
            pthread_mutex_lock(&zc->lock);
            continue;
        }
        pthread_cond_wait(&zc->aux_cond, &zc->lock);
    }
    pthread_mutex_unlock(&zc->lock);
    return NULL;
}

/* Wake the helper, starting it on first need.  Returns ZKC_OK or
 * ZKC_ENOMEM (no thread could be made). */
static int aux_kick_locked(zk_conn *zc)
{
    if (!zc->aux_started) {
        sigset_t all, old;
        sigfillset(&all);
        /* The helper takes no signals meant for the application. */
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&zc->aux, NULL, aux_main, zc);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0)
            return ZKC_ENOMEM;
        zc->aux_started = true;
    }
    pthread_cond_signal(&zc->aux_cond);
    return ZKC_OK;
}

/* ---- submit ---- */

/* ACL lists in the C client's form, borrowing the strings. */
typedef struct acl_conv {
    struct ACL_vector vec;
    struct ACL small[8];
} acl_conv;

static int acl_to_zk(acl_conv *ac, const zkc_acl_list *acl)
{
    if (acl == NULL) {
        ac->vec = ZOO_OPEN_ACL_UNSAFE;
        return ZKC_OK;
    }
    if (acl->count > INT32_MAX)
        return ZKC_EBADARGUMENTS;
    ac->vec.count = (int32_t)acl->count;
    ac->vec.data = acl->count <= sizeof ac->small / sizeof *ac->small
                       ? ac->small
                       : malloc(acl->count * sizeof *ac->vec.data);
    if (ac->vec.data == NULL)
        return ZKC_ENOMEM;
    for (size_t i = 0; i < acl->count; i++) {
        if (acl->v[i].scheme == NULL || acl->v[i].id == NULL) {
            if (ac->vec.data != ac->small)
                free(ac->vec.data);
            ac->vec = (struct ACL_vector){0, NULL}; /* acl_conv_free: nothing left */
            return ZKC_EBADARGUMENTS;
        }
        ac->vec.data[i].perms = (int32_t)acl->v[i].perms;
        ac->vec.data[i].id.scheme = acl->v[i].scheme;
        ac->vec.data[i].id.id = acl->v[i].id;
    }
    return ZKC_OK;
}

static void acl_conv_free(acl_conv *ac)
{
    if (ac->vec.data != ac->small && ac->vec.data != ZOO_OPEN_ACL_UNSAFE.data)
        free(ac->vec.data);
}

/* Hand op to the C client; returns the C client's code. */
static int zk_start(zk_conn *zc, zk_op *op, const zkc_request *req, acl_conv *ac)
{
    zhandle_t *zh = zc->zh;
    const char *path = op->path;
    zk_wrec *wr = op->wrec;
    /* NULL data would mean "no data" (-1) to the C client; we store empty. */
    const char *data = req->data_len > 0 ? req->data : "";
    int len = (int)req->data_len;
    switch (req->op) {
    case ZKC_OP_GET:
        return wr != NULL ? zoo_awget(zh, path, on_watch, wr, on_data, op)
                          : zoo_aget(zh, path, 0, on_data, op);
    case ZKC_OP_CHILDREN:
        if (req->flags & ZKC_NOSTAT)
            return wr != NULL ? zoo_awget_children(zh, path, on_watch, wr, on_names, op)
                              : zoo_aget_children(zh, path, 0, on_names, op);
        return wr != NULL ? zoo_awget_children2(zh, path, on_watch, wr, on_children, op)
                          : zoo_aget_children2(zh, path, 0, on_children, op);
    case ZKC_OP_EXISTS:
        return wr != NULL ? zoo_awexists(zh, path, on_watch, wr, on_exists, op)
                          : zoo_aexists(zh, path, 0, on_exists, op);
    case ZKC_OP_CREATE:
        return zoo_acreate(zh, path, data, len, &ac->vec,
                           (int)(req->flags & (ZKC_EPHEMERAL | ZKC_SEQUENCE)), on_created, op);
    case ZKC_OP_SET:
        return zoo_aset(zh, path, data, len, req->version, on_stat, op);
    case ZKC_OP_DELETE:
        return zoo_adelete(zh, path, req->version, on_void, op);
    case ZKC_OP_GET_ACL:
        return zoo_aget_acl(zh, path, on_acl, op);
    case ZKC_OP_SET_ACL:
        return zoo_aset_acl(zh, path, req->version, &ac->vec, on_void, op);
    case ZKC_OP_CHECK:
    case ZKC_OP_MULTI:
        break; /* only through zk_multi */
    }
    return ZBADARGUMENTS;
}

/* What the caller of a submission is told once the C client answered zrc
 * for op (listed as seq; lock held), shared by zk_submit and
 * zk_multi_submit.  ZOK: accepted (and held if the session went
 * meanwhile).  ZMARSHALLINGERROR: out of memory inside the C client, which
 * cannot tell whether it queued the operation: op stays listed, silent, in
 * case an answer comes, and the caller is told it failed.  Any other
 * answer was a refusal before queueing, so the C client never calls back:
 * with the session gone (ZINVALIDSTATE) op is accepted and completed
 * after everything submitted before it; else, or when that cannot be
 * arranged, op is unlinked, *drop is set (the caller frees op once it
 * has unlocked) and the error returned.  op is not touched after ZOK. */
static int submitted_locked(zk_conn *zc, zk_op *op, uint64_t seq, int zrc, bool *drop)
{
    *drop = false;
    if (zrc == ZOK)
        hold_if_gone_locked(zc, seq); /* (zh stays while we are submitting) */
    if (--zc->submitting == 0 && zc->closing)
        pthread_cond_broadcast(&zc->cond);
    if (zrc == ZOK)
        return ZKC_OK;
    if (zrc == ZMARSHALLINGERROR) {
        op->orphan = true;
        return ZKC_ENOMEM;
    }
    zc->inflight--;
    int rc;
    if (zrc == ZINVALIDSTATE) {
        op->deferred_rc = gone_rc_locked(zc);
        atomic_fetch_add(&zc->deferred, 1);
        rc = aux_kick_locked(zc);
        if (rc == ZKC_OK)
            return ZKC_OK;
    } else {
        rc = zrc == ZBADARGUMENTS ? ZKC_EBADPATH : ZKC_ENOMEM;
    }
    ops_unlink_locked(zc, op);
    *drop = true;
    return rc;
}

/* A new record of an operation on path, not yet listed; NULL when out
 * of memory. */
static zk_op *op_new(zk_conn *zc, zkc_op kind, const char *path, zkc_done_fn done, void *ud)
{
    size_t plen = strlen(path);
    zk_op *op = malloc(sizeof *op + plen + 1);
    if (op == NULL)
        return NULL;
    memset(op, 0, sizeof *op);
    op->zc = zc;
    op->done = done;
    op->ud = ud;
    op->op = kind;
    op->sent_ms = zkc_impl_now_ms();
    memcpy(op->path, path, plen + 1);
    return op;
}

/* Free an operation that was never listed, and the watch it asked for. */
static void op_discard(zk_op *op)
{
    if (op->wrec != NULL) {
        zkc_impl_watch_discard(op->wrec->w);
        free(op->wrec);
    }
    op_free(op);
}

/* List op, and its watch, before it goes to the C client: counted as in
 * flight and as a thread submitting, its number in *seq.  ZKC_ECLOSED,
 * with nothing listed, when the connection is closing. */
static int op_enlist(zk_conn *zc, zk_op *op, uint64_t *seq)
{
    pthread_mutex_lock(&zc->lock);
    if (zc->closing) {
        pthread_mutex_unlock(&zc->lock);
        return ZKC_ECLOSED;
    }
    *seq = ops_append_locked(zc, op);
    if (op->wrec != NULL) {
        op->wrec->next = zc->watches;
        if (zc->watches != NULL)
            zc->watches->prev = op->wrec;
        zc->watches = op->wrec;
    }
    zc->submitting++;
    zc->inflight++;
    pthread_mutex_unlock(&zc->lock);
    return ZKC_OK;
}

/* After the C client answered zrc for op (listed as seq): settle it as
 * submitted_locked() says, drop the watch of an operation the C client
 * did not queue (it will never report on it), and free op when it is
 * dropped.  Returns what the submitter is told.  op is not touched after
 * ZOK: its completion may already have run. */
static int op_submitted(zk_conn *zc, zk_op *op, uint64_t seq, int zrc)
{
    pthread_mutex_lock(&zc->lock);
    zk_wrec *wr = NULL;
    if (zrc != ZOK && zrc != ZMARSHALLINGERROR && op->wrec != NULL) {
        wr = op->wrec;
        op->wrec = NULL;
        wrec_unlink_locked(zc, wr);
    }
    bool drop;
    int rc = submitted_locked(zc, op, seq, zrc, &drop);
    pthread_mutex_unlock(&zc->lock);
    if (wr != NULL) {
        zkc_impl_watch_discard(wr->w);
        free(wr);
    }
    if (drop)
        op_free(op);
    return rc;
}

/* The watch record req asks for, if any, on op. */
static int op_add_watch(zk_conn *zc, zk_op *op, const zkc_request *req)
{
    bool watchable =
        req->op == ZKC_OP_GET || req->op == ZKC_OP_CHILDREN || req->op == ZKC_OP_EXISTS;
    if (!watchable || !(req->flags & ZKC_WATCH))
        return ZKC_OK;
    zk_wrec *wr = calloc(1, sizeof *wr);
    zkc_watch *w = wr != NULL ? zkc_impl_watch_new(req->path) : NULL;
    if (w == NULL) {
        free(wr);
        return ZKC_ENOMEM;
    }
    wr->zc = zc;
    wr->w = w;
    wr->state = WREC_PENDING;
    op->wrec = wr;
    return ZKC_OK;
}

static int zk_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata)
{
    zk_conn *zc = (zk_conn *)c;
    zk_op *op = op_new(zc, req->op, req->path, done, userdata);
    if (op == NULL)
        return ZKC_ENOMEM;
    acl_conv ac = {.vec = {0, NULL}};
    int rc = ZKC_OK;
    if (req->op == ZKC_OP_CREATE || req->op == ZKC_OP_SET_ACL)
        rc = acl_to_zk(&ac, req->acl);
    if (rc == ZKC_OK)
        rc = op_add_watch(zc, op, req);
    uint64_t seq = 0;
    if (rc == ZKC_OK)
        rc = op_enlist(zc, op, &seq);
    if (rc != ZKC_OK) {
        op_discard(op);
        acl_conv_free(&ac);
        return rc;
    }
    /* From here on, once the C client accepts op, its completion may run
     * (and free op) at any moment: op is not touched after ZOK. */
    zk_conn *saved_log = tls_log_conn;
    tls_log_conn = zc;
    int zrc = zk_start(zc, op, req, &ac);
    tls_log_conn = saved_log;
    acl_conv_free(&ac);
    return op_submitted(zc, op, seq, zrc);
}

/* ---- blocking calls on the caller's thread ---- */

/* The data of a get answered by zk_call lands here first; a larger node
 * is read again the usual way (its stat gives its size). */
#define CALL_BUF 4096
/* How many times a blocking call yields to a completion finishing. */
#define CALL_YIELDS 50

/*
 * Whether a blocking call may go through the C client's synchronous
 * call, counted in zc->calling (and inflight) when it may: only a get,
 * children or exists without a watch; not from inside a completion;
 * only while the C client is connected; and only when nothing of this
 * connection is outstanding or completing, so that no earlier
 * completion can run after this call's.
 *
 * Connected, because the C client 3.8 checks the session before it
 * queues a request, outside its lock: a request queued after its expiry
 * cleanup is answered only at close.  A submit is settled by
 * hold_if_gone_locked(); a synchronous call cannot be, it waits inside
 * the C client.  From connected to expired the C client must notice the
 * connection gone, connect again and hear the verdict, all between its
 * check and its queueing, a few instructions apart: only if this thread
 * is descheduled there that long.  Close releases such a call.
 */
static bool call_begin(zk_conn *zc, const zkc_request *req)
{
    bool kind = req->op == ZKC_OP_GET || req->op == ZKC_OP_CHILDREN || req->op == ZKC_OP_EXISTS;
    if (!kind || (req->flags & ZKC_WATCH) != 0 || tls_in_callback != NULL)
        return false;
    pthread_mutex_lock(&zc->lock);
    /* The caller of a blocking call that was submitted wakes as its
     * completion posts, while the completion thread still tidies up
     * (completing > 0): give it a moment rather than submit. */
    for (int i = 0; i < CALL_YIELDS && atomic_load(&zc->completing) > 0 && zc->ops_head == NULL;
         i++) {
        pthread_mutex_unlock(&zc->lock);
        sched_yield();
        pthread_mutex_lock(&zc->lock);
    }
    bool here = !zc->closing && zc->ops_head == NULL && atomic_load(&zc->completing) == 0 &&
                zc->connected_now && zoo_state(zc->zh) == ZOO_CONNECTED_STATE;
    if (here) {
        zc->calling++;
        zc->inflight++;
    }
    pthread_mutex_unlock(&zc->lock);
    return here;
}

/* The call is back from the C client with zrc: uncount it, and return
 * the code its caller is told. */
static int call_end(zk_conn *zc, int zrc, int64_t sent_ms)
{
    pthread_mutex_lock(&zc->lock);
    zc->calling--;
    zc->calls++;
    if (--zc->inflight == 0 && zc->closing)
        pthread_cond_broadcast(&zc->cond);
    if (zrc == ZINVALIDSTATE)
        zrc = gone_rc_locked(zc);
    pthread_mutex_unlock(&zc->lock);
    note_heard(zc, zrc, sent_ms);
    return zrc;
}

/*
 * The call op: a blocking get, children or exists through the C client's
 * synchronous calls, whose answer its I/O thread hands straight to the
 * waiting caller, one thread hop less than an asynchronous call (whose
 * answer goes through the completion thread).  The result is the one
 * on_data, on_children or on_exists would give.
 */
static int zk_call(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *ud)
{
    zk_conn *zc = (zk_conn *)c;
    if (!call_begin(zc, req))
        return ZKC_ENOTSUPPORTED;
    char buf[CALL_BUF + 1];
    int len = CALL_BUF;
    struct Stat st;
    struct String_vector names = {0, NULL};
    int64_t sent = zkc_impl_now_ms();
    zk_conn *saved_log = tls_log_conn;
    tls_log_conn = zc;
    int zrc;
    if (req->op == ZKC_OP_GET)
        zrc = zoo_get(zc->zh, req->path, 0, buf, &len, &st);
    else if (req->op == ZKC_OP_CHILDREN && (req->flags & ZKC_NOSTAT))
        zrc = zoo_get_children(zc->zh, req->path, 0, &names);
    else if (req->op == ZKC_OP_CHILDREN)
        zrc = zoo_get_children2(zc->zh, req->path, 0, &names, &st);
    else
        zrc = zoo_exists(zc->zh, req->path, 0, &st);
    tls_log_conn = saved_log;
    zrc = call_end(zc, zrc, sent);
    /* len is -1 for a node without data. */
    if (req->op == ZKC_OP_GET && zrc == ZOK && st.dataLength > (len > 0 ? len : 0))
        return ZKC_ENOTSUPPORTED; /* larger than buf: read it again */

    zkc_result r;
    memset(&r, 0, sizeof r);
    r.rc = req->op == ZKC_OP_EXISTS && zrc == ZNONODE ? ZKC_OK : zrc;
    r.op = req->op;
    r.path = req->path;
    zkc_stat zs;
    zkc_strings kids = strings_from_zk(&names);
    if (zrc == ZOK) {
        if (req->op != ZKC_OP_CHILDREN || !(req->flags & ZKC_NOSTAT)) {
            stat_from_zk(&zs, &st);
            r.stat = &zs;
        }
        if (req->op == ZKC_OP_GET) {
            size_t n = len > 0 ? (size_t)len : 0;
            buf[n] = '\0';
            r.data = buf;
            r.data_len = n;
        } else if (req->op == ZKC_OP_CHILDREN) {
            r.children = &kids;
        }
    }
    done(&r, ud);
    deallocate_String_vector(&names);
    return ZKC_OK;
}

/* Room for everything a multi's answer is written into.  Returns NULL
 * when out of memory. */
static zk_multi *multi_alloc(const zkc_request *ops, size_t n)
{
    size_t names = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i].op == ZKC_OP_CREATE)
            names += strlen(ops[i].path) + 16; /* a sequence number fits */
    size_t size = sizeof(zk_multi) +
                  n * (sizeof(zoo_op_result_t) + sizeof(struct Stat) + sizeof(zkc_op_result) +
                       sizeof(zkc_stat) + sizeof(char *)) +
                  names;
    char *b = calloc(1, size);
    if (b == NULL)
        return NULL;
    zk_multi *m = (zk_multi *)(void *)b;
    m->n = n;
    size_t off = sizeof *m;
    m->zres = (zoo_op_result_t *)(void *)(b + off);
    off += n * sizeof *m->zres;
    m->stats = (struct Stat *)(void *)(b + off);
    off += n * sizeof *m->stats;
    m->res = (zkc_op_result *)(void *)(b + off);
    off += n * sizeof *m->res;
    m->rstats = (zkc_stat *)(void *)(b + off);
    off += n * sizeof *m->rstats;
    m->names = (char **)(void *)(b + off);
    off += n * sizeof *m->names;
    for (size_t i = 0; i < n; i++) {
        m->zres[i].err = ZRES_UNSET;
        m->res[i].op = ops[i].op;
        if (ops[i].op == ZKC_OP_CREATE) {
            m->names[i] = b + off;
            off += strlen(ops[i].path) + 16;
        }
    }
    return m;
}

/* The C client's form of the multi ops[0..nops-1] into zops, with the
 * ACLs of its creates converted into acls (*nacls: how many entries of
 * acls may need acl_conv_free) and the results pointed into op's
 * buffers. */
static int multi_to_zk(zk_op *op, const zkc_request *ops, size_t nops, zoo_op_t *zops,
                       acl_conv *acls, size_t *nacls)
{
    for (size_t i = 0; i < nops; i++) {
        const zkc_request *r = &ops[i];
        /* NULL data would mean "no data" (-1) to the C client. */
        const char *data = r->data_len > 0 ? r->data : "";
        int len = (int)r->data_len;
        switch (r->op) {
        case ZKC_OP_CREATE: {
            int rc = acl_to_zk(&acls[i], r->acl);
            if (rc != ZKC_OK)
                return rc;
            *nacls = i + 1;
            zoo_create_op_init(&zops[i], r->path, data, len, &acls[i].vec,
                               (int)(r->flags & (ZKC_EPHEMERAL | ZKC_SEQUENCE)),
                               op->multi->names[i], (int)strlen(r->path) + 16);
            break;
        }
        case ZKC_OP_DELETE:
            zoo_delete_op_init(&zops[i], r->path, r->version);
            break;
        case ZKC_OP_SET:
            zoo_set_op_init(&zops[i], r->path, data, len, r->version, &op->multi->stats[i]);
            break;
        case ZKC_OP_CHECK:
            zoo_check_op_init(&zops[i], r->path, r->version);
            break;
        default:
            return ZKC_EBADARGUMENTS;
        }
    }
    return ZKC_OK;
}

static int zk_multi_submit(zkc_conn *c, const zkc_request *ops, size_t nops, zkc_done_fn done,
                           void *userdata)
{
    zk_conn *zc = (zk_conn *)c;
    if (nops > INT32_MAX)
        return ZKC_EBADARGUMENTS;
    zk_op *op = op_new(zc, ZKC_OP_MULTI, nops > 0 ? ops[0].path : "/", done, userdata);
    if (op == NULL)
        return ZKC_ENOMEM;
    op->multi = multi_alloc(ops, nops);
    zoo_op_t *zops = calloc(nops > 0 ? nops : 1, sizeof *zops);
    acl_conv *acls = calloc(nops > 0 ? nops : 1, sizeof *acls);
    int rc = op->multi != NULL && zops != NULL && acls != NULL ? ZKC_OK : ZKC_ENOMEM;
    size_t nacls = 0;
    if (rc == ZKC_OK)
        rc = multi_to_zk(op, ops, nops, zops, acls, &nacls);
    uint64_t seq = 0;
    if (rc == ZKC_OK)
        rc = op_enlist(zc, op, &seq);
    if (rc != ZKC_OK) {
        op_discard(op);
    } else {
        /* The request is serialised here: zops and the ACLs may go once
         * this returns.  op (and its multi buffers) stay until the
         * completion, which may run (and free op) at any moment. */
        zk_conn *saved_log = tls_log_conn;
        tls_log_conn = zc;
        int zrc = zoo_amulti(zc->zh, (int)nops, zops, op->multi->zres, on_multi, op);
        tls_log_conn = saved_log;
        rc = op_submitted(zc, op, seq, zrc);
    }
    /* Not ops[i]: once the C client has the multi, its completion may
     * already have run and the caller freed ops (the router does).  An
     * entry acl_to_zk never filled is all zeros, which frees nothing. */
    for (size_t i = 0; i < nacls; i++)
        acl_conv_free(&acls[i]);
    free(zops);
    free(acls);
    return rc;
}

/* ---- close ---- */

/*
 * Before the handle goes, wait for the synchronous calls inside the C
 * client (zk_call): one may be queueing its request, which touches the
 * handle.  While the session lives, each ends with its answer or with
 * the connection's loss, which the C client notices within its receive
 * timeout.  After the session ended, one may wait for an answer that
 * only close gives (see call_begin): then the wait is bounded, and
 * close releases it.
 */
static void calls_wait_locked(zk_conn *zc)
{
    int64_t deadline = -1;
    while (zc->calling > 0) {
        if (!zc->expired && !zc->auth_failed && !state_gone(zoo_state(zc->zh))) {
            wait_locked(zc, zkc_impl_now_ms() + CLOSE_DRAIN_MS);
            continue;
        }
        if (deadline < 0)
            deadline = zkc_impl_now_ms() + CLOSE_DRAIN_MS;
        if (zkc_impl_now_ms() >= deadline) {
            zkc_impl_log(&zc->base, ZKC_LOG_WARN,
                         "zk(%s): close releases %d blocking call(s) the C client kept after "
                         "the session ended",
                         zc->servers, zc->calling);
            return;
        }
        wait_locked(zc, deadline);
    }
}

/*
 * The end of a connection: close the C client's handle (which completes
 * what it still holds, with ZCLOSING, and joins its threads), complete
 * what is left, end the watches, free everything.  on_aux: running on
 * the helper thread, which then exits.
 */
static void teardown(zk_conn *zc, bool on_aux)
{
    /* Give the answers already on their way a moment to arrive: they
     * complete with their real results, and the C client, whose
     * completion thread may leave before the ZCLOSING results it queues
     * at close, leaks nothing.  Not when the connection is down. */
    pthread_mutex_lock(&zc->lock);
    int64_t deadline = zkc_impl_now_ms() + CLOSE_DRAIN_MS;
    while (zc->inflight > 0 && zc->connected_now && zkc_impl_now_ms() < deadline)
        wait_locked(zc, deadline);
    calls_wait_locked(zc);
    pthread_mutex_unlock(&zc->lock);
    if (zc->zh != NULL) {
        zk_conn *saved = tls_in_callback, *saved_log = tls_log_conn;
        tls_in_callback = zc; /* completions may run here, inside destroy */
        tls_log_conn = zc;
        zookeeper_close(zc->zh);
        tls_in_callback = saved;
        tls_log_conn = saved_log;
        pthread_mutex_lock(&zc->lock);
        zc->zh = NULL;
        /* Calls still inside were answered ZCLOSING: they leave now. */
        while (zc->calling > 0)
            pthread_cond_wait(&zc->cond, &zc->lock);
        pthread_mutex_unlock(&zc->lock);
    }
    /* No C client thread is left.  Stop the helper (unless it is us). */
    pthread_mutex_lock(&zc->lock);
    bool join = zc->aux_started && !on_aux;
    zc->aux_quit = true;
    pthread_cond_signal(&zc->aux_cond);
    pthread_mutex_unlock(&zc->lock);
    if (join)
        pthread_join(zc->aux, NULL);

    /* Nobody else touches zc now. */
    for (zk_op *op = zc->ops_head, *next; op != NULL; op = next) {
        next = op->next;
        zkc_result r;
        result_init(&r, op, op->deferred_rc != 0 ? op->deferred_rc : ZKC_ECLOSING);
        if (op->wrec != NULL) {
            wrec_unlink_locked(zc, op->wrec);
            zkc_impl_watch_discard(op->wrec->w);
            free(op->wrec);
        }
        if (!op->orphan)
            op->done(&r, op->ud);
        op_free(op);
    }
    zc->ops_head = zc->ops_tail = NULL;
    /* Held operations completed by us: the C client never answered. */
    for (zk_op *op = zc->limbo, *next; op != NULL; op = next) {
        next = op->next;
        if (op->wrec != NULL) {
            wrec_unlink_locked(zc, op->wrec);
            zkc_impl_watch_discard(op->wrec->w);
            free(op->wrec);
        }
        op_free(op);
    }
    zc->limbo = NULL;
    for (zk_wrec *wr = zc->watches, *next; wr != NULL; wr = next) {
        next = wr->next;
        if (wr->state == WREC_ACTIVE)
            zkc_impl_watch_fire(wr->w, ZKC_EVENT_CLOSED);
        free(wr);
    }
    zc->watches = NULL;

    log_slot_release(zc);
    pthread_mutex_destroy(&zc->lock);
    pthread_cond_destroy(&zc->cond);
    pthread_cond_destroy(&zc->aux_cond);
    zkc_impl_conn_fini(&zc->base);
    free(zc->servers);
    free(zc);
    if (on_aux)
        pthread_detach(pthread_self());
}

static void zk_close(zkc_conn *c)
{
    zk_conn *zc = (zk_conn *)c;
    pthread_mutex_lock(&zc->lock);
    zc->closing = true;
    /* No thread may be inside a zoo_a* call when the handle goes. */
    while (zc->submitting > 0)
        pthread_cond_wait(&zc->cond, &zc->lock);
    if (tls_in_callback == zc || tls_overflow_held) {
        /* On the C client's own thread: zookeeper_close() would wait for
         * this very thread (or, inside a log line of a connection past
         * the slots, for C client threads waiting for overflow_lock).
         * The helper closes; this thread returns to the C client, which
         * then lets it go. */
        zc->aux_close = true;
        if (aux_kick_locked(zc) == ZKC_OK) {
            pthread_mutex_unlock(&zc->lock);
            return;
        }
        zc->aux_close = false;
        pthread_mutex_unlock(&zc->lock);
        /* No thread to hand it to: leak the connection rather than hang. */
        zkc_impl_log(c, ZKC_LOG_ERROR, "zk(%s): cannot start a thread to close the connection",
                 zc->servers);
        return;
    }
    pthread_mutex_unlock(&zc->lock);
    teardown(zc, false);
}

static int64_t zk_session_id(zkc_conn *c)
{
    zk_conn *zc = (zk_conn *)c;
    pthread_mutex_lock(&zc->lock);
    int64_t id = zc->expired || zc->auth_failed ? 0 : zc->session_id;
    pthread_mutex_unlock(&zc->lock);
    return id;
}

int zkc_zk_session_timeout(zkc_conn *c)
{
    if (c == NULL || c->ops != &zk_ops)
        return 0;
    zk_conn *zc = (zk_conn *)c;
    pthread_mutex_lock(&zc->lock);
    /* The C client replaces the timeout asked for by the one granted
     * when the session is made. */
    int ms = zc->connected_once && !zc->expired && !zc->auth_failed && zc->zh != NULL
                 ? zoo_recv_timeout(zc->zh)
                 : 0;
    pthread_mutex_unlock(&zc->lock);
    return ms > 0 ? ms : 0;
}

int64_t zkc_zk_last_heard(zkc_conn *c)
{
    if (c == NULL || c->ops != &zk_ops)
        return 0;
    return atomic_load(&((zk_conn *)c)->last_heard);
}

static const struct zkc_conn_ops zk_ops = {
    .version = 2,
    .name = "zk",
    .submit = zk_submit,
    .close = zk_close,
    .session_id = zk_session_id,
    .multi = zk_multi_submit,
    .call = zk_call,
};

/* ---- dial ---- */

/* host:port[,host:port...][/chroot]: each entry a non-empty host and a
 * port in 1..65535; the chroot, if any, a valid path. */
static bool servers_valid(const char *servers)
{
    const char *chroot = strchr(servers, '/');
    size_t hosts_len = chroot != NULL ? (size_t)(chroot - servers) : strlen(servers);
    if (hosts_len == 0)
        return false;
    if (chroot != NULL && (strcmp(chroot, "/") == 0 || zkc_path_validate(chroot, false) != 0))
        return false;
    const char *p = servers, *end = servers + hosts_len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma != NULL ? comma : end;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        const char *colon = NULL;
        for (const char *q = p; q < e; q++)
            if (*q == ':')
                colon = q;
        if (colon == NULL || colon == p || colon + 1 == e || e - colon > 6)
            return false;
        long port = 0;
        for (const char *q = colon + 1; q < e; q++) {
            if (*q < '0' || *q > '9')
                return false;
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535)
            return false;
        p = comma != NULL ? comma + 1 : end;
        if (comma != NULL && p == end)
            return false; /* trailing comma */
    }
    return true;
}

/* Wait on zc->cond once, at most until the deadline (-1: none).  Locked. */
static void wait_locked(zk_conn *zc, int64_t deadline)
{
    if (deadline < 0) {
        pthread_cond_wait(&zc->cond, &zc->lock);
        return;
    }
    zkc_impl_cond_wait_until(&zc->cond, &zc->lock, deadline);
}

/* Free a connection that never left zkc_zk_dial. */
static void dial_abort(zk_conn *zc)
{
    pthread_mutex_lock(&zc->lock);
    zc->closing = true;
    pthread_mutex_unlock(&zc->lock);
    teardown(zc, false);
}

/*
 * zookeeper_init2() resolves every name of the list before it returns
 * (a slow resolver takes seconds a name: 1,000 unresolvable names took
 * 195 s here) and sorts the list, where no timeout reaches.  It runs on
 * this thread, so the dial can stop waiting at its deadline; the thread
 * is then left to finish, and closes and frees what it made.
 */
static void *init_main(void *arg)
{
    zk_conn *zc = arg;
    errno = 0;
    tls_log_conn = zc;
    zhandle_t *zh =
        zookeeper_init2(zc->servers, on_session, zc->init_session_ms, NULL, zc, 0, zc->init_logcb);
    int err = errno;
    tls_log_conn = NULL;
    if (zh != NULL) /* ZOK for any delay >= -1 */
        (void)zoo_set_servers_resolution_delay(zh, RESOLVE_DELAY_MS);
    pthread_mutex_lock(&zc->lock);
    zc->zh = zh;
    zc->init_errno = err;
    zc->init_done = true;
    bool abandoned = zc->init_abandoned;
    pthread_cond_broadcast(&zc->cond);
    pthread_mutex_unlock(&zc->lock);
    if (abandoned)
        dial_abort(zc);
    return NULL;
}

/* One dial: what it was asked, its bounds, and the address list as its
 * messages show it. */
typedef struct dial_plan {
    const char *servers;
    const zkc_zk_opts *opts;
    char shown[256]; /* servers, cut when long so that the reason still shows */
    int session_ms;
    int connect_ms;
    int64_t t0;
    int64_t deadline; /* monotonic ms, -1: none */
} dial_plan;

/* Check the options and the address list, and work out the bounds. */
static int dial_check(dial_plan *d)
{
    const char *servers = d->servers;
    const zkc_zk_opts *opts = d->opts;
    size_t slen = strlen(servers);
    if (slen > 200)
        snprintf(d->shown, sizeof d->shown, "%.200s... (%zu bytes)", servers, slen);
    else
        snprintf(d->shown, sizeof d->shown, "%s", servers);
    if (opts->version != 1 || (opts->auth_scheme != NULL) != (opts->auth_cred != NULL)) {
        zkc_impl_set_errmsg(
            "dial %s: bad options (version %u, scheme and credentials go together)", d->shown,
            opts->version);
        return ZKC_EBADARGUMENTS;
    }
    size_t n_servers = 1;
    for (const char *q = servers; *q != '\0' && *q != '/'; q++)
        n_servers += *q == ',';
    if (n_servers > ZKC_ZK_MAX_SERVERS) {
        zkc_impl_set_errmsg("%zu addresses in the list, more than the %d one dial takes",
                            n_servers, ZKC_ZK_MAX_SERVERS);
        return ZKC_ECONNECT;
    }
    if (!servers_valid(servers)) {
        zkc_impl_set_errmsg("dial \"%s\": bad address list (want host:port[,host:port...])",
                            d->shown);
        return ZKC_ECONNECT;
    }
    d->session_ms =
        opts->base_timeout_ms > 0 ? opts->base_timeout_ms : ZKC_DEFAULT_BASE_TIMEOUT_MS;
    d->connect_ms = opts->connect_timeout_ms == 0 ? ZKC_DEFAULT_CONNECT_TIMEOUT_MS
                                                  : opts->connect_timeout_ms;
    d->t0 = zkc_impl_now_ms();
    d->deadline = d->connect_ms < 0 ? -1 : d->t0 + d->connect_ms;
    return ZKC_OK;
}

/* The connection object, before the C client has a handle: the base
 * object, locks, the log callback's slot. */
static int dial_conn_new(const dial_plan *d, zk_conn **ret)
{
    zk_conn *zc = calloc(1, sizeof *zc);
    if (zc == NULL)
        return ZKC_ENOMEM;
    zc->log_slot = -1;
    atomic_init(&zc->completing, 0);
    atomic_init(&zc->deferred, 0);
    zc->servers = strdup(d->servers);
    size_t dlen = strlen(d->servers) + 8;
    char *desc = malloc(dlen);
    if (zc->servers == NULL || desc == NULL) {
        free(zc->servers);
        free(desc);
        free(zc);
        return ZKC_ENOMEM;
    }
    snprintf(desc, dlen, "zk(%s)", d->servers);
    int rc = zkc_impl_conn_init(&zc->base, &zk_ops, desc);
    free(desc);
    if (rc != ZKC_OK) {
        free(zc->servers);
        free(zc);
        return rc;
    }
    zc->base.log_fn = d->opts->log_fn;
    zc->base.log_ud = d->opts->log_ud;
    pthread_mutex_init(&zc->lock, NULL);
    zkc_impl_cond_init_monotonic(&zc->cond);
    pthread_cond_init(&zc->aux_cond, NULL);

    zc->log_slot = log_slot_take(zc);
    if (zc->log_slot < 0) {
        zc->in_overflow = true;
        overflow_add(zc);
    }
    zc->init_logcb = zc->log_slot >= 0 ? log_tramps[zc->log_slot] : log_overflow;
    zc->init_session_ms = d->session_ms;
    *ret = zc;
    return ZKC_OK;
}

/* Start the C client (zookeeper_init2 on init_main's thread) and wait,
 * within the bound, until it has a handle.  On failure zc is gone. */
static int dial_start_client(const dial_plan *d, zk_conn *zc)
{
    /* The C client's threads inherit the init thread's signal mask, and
     * it ours: keep the application's signals away from them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t init_thread;
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int prc = pthread_create(&init_thread, &attr, init_main, zc);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (prc != 0) {
        char eb[128];
        zkc_impl_set_errmsg("dial %s: cannot start a thread: %s", d->shown,
                            strerror_r(prc, eb, sizeof eb));
        dial_abort(zc);
        return ZKC_ENOMEM;
    }
    pthread_mutex_lock(&zc->lock);
    while (!zc->init_done && (d->deadline < 0 || zkc_impl_now_ms() < d->deadline))
        wait_locked(zc, d->deadline);
    if (!zc->init_done) {
        /* Still resolving: init_main closes and frees zc when it is done. */
        zc->init_abandoned = true;
        pthread_mutex_unlock(&zc->lock);
        zkc_impl_set_errmsg("dial %s: resolving the server addresses took more than %d ms",
                            d->shown, d->connect_ms);
        return ZKC_ETIMEDOUT;
    }
    int init_errno = zc->init_errno;
    pthread_mutex_unlock(&zc->lock);
    if (zc->zh == NULL) {
        char eb[128];
        zkc_impl_set_errmsg("dial %s: cannot start a ZooKeeper client: %s", d->shown,
                            init_errno == EINVAL || init_errno == ENOENT
                                ? "no address could be resolved"
                                : strerror_r(init_errno ? init_errno : EINVAL, eb, sizeof eb));
        dial_abort(zc);
        return init_errno == ENOMEM ? ZKC_ENOMEM : ZKC_ECONNECT;
    }
    return ZKC_OK;
}

/* The first session event decides (DialZk), within the bound.  On
 * failure zc is gone. */
static int dial_wait_session(const dial_plan *d, zk_conn *zc)
{
    pthread_mutex_lock(&zc->lock);
    while (!zc->published && !zc->expired && !zc->auth_failed &&
           (d->deadline < 0 || zkc_impl_now_ms() < d->deadline))
        wait_locked(zc, d->deadline);
    bool connected = zc->published && !zc->expired && !zc->auth_failed;
    bool gone = zc->expired || zc->auth_failed;
    pthread_mutex_unlock(&zc->lock);
    if (connected)
        return ZKC_OK;
    if (gone)
        zkc_impl_set_errmsg("dial %s: the session could not be made", d->shown);
    else
        zkc_impl_set_errmsg("dial %s: no ZooKeeper server answered within %d ms", d->shown,
                            d->connect_ms);
    dial_abort(zc);
    return gone ? ZKC_ECONNECT : ZKC_ETIMEDOUT;
}

/* Send the credentials of opts and wait, within the bound, for the
 * server's verdict.  On failure zc is gone. */
static int dial_authenticate(const dial_plan *d, zk_conn *zc)
{
    const zkc_zk_opts *opts = d->opts;
    size_t clen = strlen(opts->auth_cred);
    int zrc = clen > INT32_MAX ? ZBADARGUMENTS
                               : zoo_add_auth(zc->zh, opts->auth_scheme, opts->auth_cred,
                                              (int)clen, on_auth, zc);
    if (zrc != ZOK) {
        zkc_impl_set_errmsg("dial %s: cannot send %s credentials: %s", d->shown,
                            opts->auth_scheme, zerror(zrc));
        dial_abort(zc);
        return ZKC_ECONNECT;
    }
    pthread_mutex_lock(&zc->lock);
    while (!zc->auth_done && !zc->auth_failed && !zc->expired &&
           (d->deadline < 0 || zkc_impl_now_ms() < d->deadline))
        wait_locked(zc, d->deadline);
    bool done = zc->auth_done, failed = zc->auth_failed;
    int auth_rc = zc->auth_rc;
    bool expired = zc->expired;
    pthread_mutex_unlock(&zc->lock);
    int rc = ZKC_OK;
    if (failed) {
        zkc_impl_set_errmsg("dial %s: %s authentication failed", d->shown, opts->auth_scheme);
        rc = ZKC_EAUTHFAILED;
    } else if (expired || (done && auth_rc != ZOK)) {
        zkc_impl_set_errmsg("dial %s: %s while authenticating", d->shown,
                            expired ? "session expired" : zerror(auth_rc));
        rc = ZKC_ECONNECT;
    } else if (!done) {
        zkc_impl_set_errmsg("dial %s: no answer to %s authentication within %d ms", d->shown,
                            opts->auth_scheme, d->connect_ms);
        rc = ZKC_ETIMEDOUT;
    }
    if (rc != ZKC_OK)
        dial_abort(zc);
    return rc;
}

int zkc_zk_dial(const char *servers, const zkc_zk_opts *opts, zkc_conn **ret_conn)
{
    static const zkc_zk_opts defaults = ZKC_ZK_OPTS_INIT;
    if (ret_conn == NULL || servers == NULL) {
        zkc_impl_set_errmsg("dial: %s", zkc_strerror(ZKC_EBADARGUMENTS));
        return ZKC_EBADARGUMENTS;
    }
    *ret_conn = NULL;
    dial_plan d = {.servers = servers, .opts = opts != NULL ? opts : &defaults};
    int rc = dial_check(&d);
    zk_conn *zc = NULL;
    if (rc == ZKC_OK)
        rc = dial_conn_new(&d, &zc);
    if (rc != ZKC_OK)
        return rc;
    /* From here on, each step that fails has let go of zc. */
    rc = dial_start_client(&d, zc);
    if (rc == ZKC_OK)
        rc = dial_wait_session(&d, zc);
    if (rc == ZKC_OK && d.opts->auth_scheme != NULL)
        rc = dial_authenticate(&d, zc);
    if (rc != ZKC_OK)
        return rc;
    zkc_impl_log(&zc->base, ZKC_LOG_INFO, "zk(%s): connected in %lld ms, session 0x%llx",
                 servers, (long long)(zkc_impl_now_ms() - d.t0),
                 (unsigned long long)zc->session_id);
    *ret_conn = &zc->base;
    return ZKC_OK;
}

/*
 * For tests (the expiry test needs to steal the session): the session id
 * and password of a zk connection.  Not in a public header on purpose.
 */
int zkc__zk_session_credentials(zkc_conn *c, int64_t *ret_id, char ret_passwd[16]);
int zkc__zk_session_credentials(zkc_conn *c, int64_t *ret_id, char ret_passwd[16])
{
    if (c == NULL || c->ops != &zk_ops || ret_id == NULL || ret_passwd == NULL)
        return ZKC_EBADARGUMENTS;
    zk_conn *zc = (zk_conn *)c;
    pthread_mutex_lock(&zc->lock);
    int rc = ZKC_ECLOSED;
    if (!zc->closing && zc->zh != NULL) {
        const clientid_t *cid = zoo_client_id(zc->zh);
        *ret_id = cid->client_id;
        memcpy(ret_passwd, cid->passwd, 16);
        rc = ZKC_OK;
    }
    pthread_mutex_unlock(&zc->lock);
    return rc;
}

/* For tests: the C client's own idea of the session (zoo_state), which
 * it updates on its I/O thread even while the completion thread is busy;
 * -1 when closed. */
int zkc__zk_client_state(zkc_conn *c);
int zkc__zk_client_state(zkc_conn *c)
{
    if (c == NULL || c->ops != &zk_ops)
        return -1;
    zk_conn *zc = (zk_conn *)c;
    pthread_mutex_lock(&zc->lock);
    int st = !zc->closing && zc->zh != NULL ? zoo_state(zc->zh) : -1;
    pthread_mutex_unlock(&zc->lock);
    return st;
}

/* For tests: how many blocking calls went through the C client's
 * synchronous calls (zk_call), and, in *ret_inside, how many are inside
 * it now.  -1 for a connection of another kind. */
long zkc__zk_calls(zkc_conn *c, int *ret_inside);
long zkc__zk_calls(zkc_conn *c, int *ret_inside)
{
    if (c == NULL || c->ops != &zk_ops)
        return -1;
    zk_conn *zc = (zk_conn *)c;
    pthread_mutex_lock(&zc->lock);
    long n = zc->calls;
    if (ret_inside != NULL)
        *ret_inside = zc->calling;
    pthread_mutex_unlock(&zc->lock);
    return n;
}
