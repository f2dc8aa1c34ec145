/*
 * zkcell/sys/conn_impl.h: for implementers of zkc_conn only: the
 * extension API, exported by libzkcell under the zkc_impl_ prefix (the
 * library's own internals are zkc__ and not exported).
 *
 * An implementation embeds struct zkc_conn first in its own struct, fills
 * a static struct zkc_conn_ops, calls zkc_impl_conn_init() in its constructor
 * and exposes only that constructor.  Arguments are checked once, in
 * src/lib/core/conn.c, before they reach the ops: an implementation sees a
 * valid request (non-NULL path starting with '/', known op, data_len 0 or
 * data non-NULL) and a non-NULL completion.
 *
 * Contract of submit: return ZKC_OK and call done exactly once later, on a
 * thread of the connection's (not inside submit), or return an error and
 * never call done.  Completions of one connection run in submission order.
 * The request (req, or a multi's ops) is borrowed until the operation is
 * handed to whatever completes it, not until submit returns: done may run
 * on another thread, and free what the caller lent, before submit returns,
 * so nothing of it is read after the hand-over.
 *
 * Contract of close: mark the connection closed (later submits return
 * ZKC_ECLOSED, which conn.c already ensures), complete every outstanding
 * operation, end every outstanding watch with ZKC_EVENT_CLOSED (or
 * zkc_impl_watch_discard it if it was never handed out), release its own
 * resources, then call zkc_impl_conn_fini() and free the struct.  It may be
 * called from one of the connection's own completions.
 */
#ifndef ZKC_SYS_CONN_IMPL_H
#define ZKC_SYS_CONN_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "../conn.h"

#ifdef __cplusplus
extern "C" {
#endif

struct zkc_conn_ops {
    unsigned version; /* 1, or 2 with call */
    const char *name; /* "zk", "fake", "meta", "global", "zkocc" */
    /* must provide */
    int (*submit)(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata);
    /* must provide */
    void (*close)(zkc_conn *c);
    /* may provide (NULL: 0) */
    int64_t (*session_id)(zkc_conn *c);
    /* may provide (NULL: zkc_amulti returns ZKC_ENOTSUPPORTED).  Same
     * contract as submit; ops (nops >= 0, each checked as submit's
     * requests are, ops among create/set/delete/check) are borrowed for
     * the call only.  The completion's result carries op ZKC_OP_MULTI and
     * ops/nops as conn.h describes. */
    int (*multi)(zkc_conn *c, const zkc_request *ops, size_t nops, zkc_done_fn done,
                 void *userdata);
    /* Version 2 on.  May provide (NULL: the blocking calls submit).
     * The blocking calls' submit: the same contract as submit, except
     * that done may run on the calling thread before call returns, and
     * that ZKC_ENOTSUPPORTED (done never called) has the request
     * submitted instead.  A connection answers there what it can answer
     * faster by blocking this thread.  Never called from one of the
     * connection's own completions. */
    int (*call)(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *userdata);
};

struct zkc_conn {
    const struct zkc_conn_ops *ops;
    pthread_mutex_t base_lock; /* guards state, callbacks */
    zkc_state state;
    int state_fd; /* eventfd, readable on every state change */
    zkc_state_fn state_fn;
    void *state_ud;
    zkc_log_fn log_fn;
    void *log_ud;
    char *desc;
    atomic_int closed;
    /* Internal state listeners (the recipes'), see zkc_impl_conn_add_state_listener. */
    pthread_mutex_t listen_lock; /* recursive; held while listeners run */
    struct zkc__state_listener *listeners;
    int listen_depth;
};

/* Initialise the base.  desc is copied.  Returns ZKC_OK or ZKC_ENOMEM. */
int zkc_impl_conn_init(zkc_conn *c, const struct zkc_conn_ops *ops, const char *desc);
/* Release the base's resources (not the struct itself). */
void zkc_impl_conn_fini(zkc_conn *c);
/* Record a new state, wake the state fd, call the state callback. */
void zkc_impl_conn_set_state(zkc_conn *c, zkc_state s);
/*
 * Internal state listeners: any number per connection, unlike the one
 * public state callback, so that several recipes (and the caller) can
 * observe one connection.  zkc_impl_conn_set_state() calls every listener,
 * in the order added, before the public callback, on the thread that
 * observes the change, and serialises them: a listener never runs twice
 * at once and sees the states in the order they happened.  A listener
 * must be quick and must not wait for other threads.
 *
 * zkc_impl_conn_remove_state_listener() returns once fn is not running and
 * will not run again (it may be called from inside a listener).  Remove
 * every listener before the connection is closed.
 * Returns of add: ZKC_OK or ZKC_ENOMEM.
 */
int zkc_impl_conn_add_state_listener(zkc_conn *c, zkc_state_fn fn, void *userdata);
void zkc_impl_conn_remove_state_listener(zkc_conn *c, zkc_state_fn fn, void *userdata);

/* Log through the connection's callback, if any. */
void zkc_impl_log(zkc_conn *c, zkc_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Watches, for implementations.  zkc_impl_watch_new() returns a watch with two
 * references: one for the caller (handed out in zkc_result.watch) and one
 * for the firer.  zkc_impl_watch_fire() delivers the one event (later calls do
 * nothing) and drops the firer's reference.  zkc_impl_watch_discard() drops
 * both when the watch is never handed out.  zkc_impl_watch_abandoned() tells
 * that the caller already freed its handle, so the firer may forget it
 * early (it must still call zkc_impl_watch_fire or zkc_impl_watch_release).
 */
zkc_watch *zkc_impl_watch_new(const char *path);
void zkc_impl_watch_fire(zkc_watch *w, zkc_event_type type);
void zkc_impl_watch_discard(zkc_watch *w);
int zkc_impl_watch_abandoned(zkc_watch *w);
/* Drop the firer's reference without firing (only when abandoned). */
void zkc_impl_watch_release(zkc_watch *w);

/* An operation's name for messages: "get", "create", "get_acl", ... */
const char *zkc_impl_op_name(zkc_op op);

/* Set the calling thread's detailed error message (see zkc_errmsg()). */
void zkc_impl_set_errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Clocks (src/lib/core/clock.c): monotonic and wall-clock milliseconds. */
int64_t zkc_impl_now_ms(void);
int64_t zkc_impl_wall_ms(void);

/*
 * For tests: zkc_impl_now_ms() returns now_ms() from now on, in every
 * thread (NULL: the real monotonic clock again), so that a test moves
 * time itself where timing is the behaviour (backoff, the once-a-second
 * look at zk_client.json).  now_ms must never go back, and must start
 * at or after the real clock's value.  Waits until a deadline wait as
 * long, in real time, as now_ms() says is left, then look again: with a
 * clock that stands still they end only when woken or the test moves it.
 */
typedef int64_t (*zkc_impl_clock_fn)(void);
void zkc_impl_set_clock(zkc_impl_clock_fn now_ms);

/* A random 64-bit number (src/lib/core/random.c, from getrandom), for
 * jitter and protected names. */
uint64_t zkc_impl_random(void);

/*
 * Jittered exponential backoff (src/lib/core/backoff.c): the delay in ms
 * before retry n (n >= 1), min_ms doubled n-1 times, at most max_ms, then
 * drawn uniformly from its upper half, so that callers spread out while
 * the delay still grows.
 */
int zkc_impl_backoff_delay(int min_ms, int max_ms, unsigned n);

/* A deadline (as zkc_impl_now_ms) from a timeout (-1: none), and the
 * milliseconds left until it (-1: no limit, 0: passed); clock.c. */
int64_t zkc_impl_deadline(int timeout_ms);
int zkc_impl_time_left(int64_t deadline);

/* A backoff in progress (backoff.c): delays double from min_ms up to
 * max_ms, each drawn from the upper half (zkc_impl_backoff_delay). */
typedef struct zkc_impl_backoff {
    int min_ms;
    int max_ms;
    unsigned attempt;
} zkc_impl_backoff;

#define ZKC_IMPL_BACKOFF_INIT(lo, hi) {(lo), (hi), 0}

int zkc_impl_backoff_next(zkc_impl_backoff *b);
static inline void zkc_impl_backoff_reset(zkc_impl_backoff *b)
{
    b->attempt = 0;
}

/*
 * Sleep the next backoff delay, cut short by the deadline.  Returns
 * ZKC_OK (try again), ZKC_ETIMEDOUT (the deadline has passed: do not try
 * again) or ZKC_EINTERRUPTED.
 */
int zkc_impl_backoff_wait(zkc_impl_backoff *b, int64_t deadline, zkc_cancel *cancel);

/* A uniformly random number in [lo, hi] (random.c). */
int zkc_impl_random_between(int lo, int hi);

/* A malloc'd copy of len bytes with a NUL after them; NULL when out of
 * memory (src/lib/core/strings.c). */
char *zkc_impl_memdup(const void *p, size_t len);

/*
 * pthread_cond_timedwait (src/lib/core/clock.c) until the monotonic time
 * deadline_ms (as zkc_impl_now_ms); cond must use CLOCK_MONOTONIC.  Returns at once when the
 * deadline has passed; like any condition wait it may return early.
 */
void zkc_impl_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mutex, int64_t deadline_ms);

/* pthread_cond_init with CLOCK_MONOTONIC, for zkc_impl_cond_wait_until. */
void zkc_impl_cond_init_monotonic(pthread_cond_t *cond);

/*
 * Wait (src/lib/core/watch.c) until fd is readable, timeout_ms (-1:
 * forever) passes, or cancel (may be NULL) is triggered.  Returns ZKC_OK, ZKC_ETIMEDOUT or
 * ZKC_EINTERRUPTED.
 */
int zkc_impl_wait_fd(int fd, int timeout_ms, zkc_cancel *cancel);

/* String lists, allocated to exact size (src/lib/core/strings.c). */
zkc_strings *zkc_impl_strings_new(size_t count); /* count NULL slots */
int zkc_impl_strings_push(zkc_strings *s, const char *str, size_t len);

#ifdef __cplusplus
}
#endif
#endif
