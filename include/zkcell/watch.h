/*
 * zkcell/watch.h: watch handles and cancel tokens.
 *
 * A watch is set by a get, children or exists call that asks for one
 * (ZKC_WATCH).  It ends with exactly one event: the node event (created,
 * deleted, changed, child), or ZKC_EVENT_SESSION_EXPIRED when the session
 * ends, or ZKC_EVENT_CLOSED when the connection is closed first.  Wait on
 * it with zkc_watch_wait(), poll its file descriptor, or give it a
 * callback.
 *
 * A cancel token is the seed's "interrupted" channel: one thread waits
 * with the token, another triggers it, and the wait returns
 * ZKC_EINTERRUPTED.  A trigger is never lost: a token stays triggered.
 *
 * Thread safety: every function here may be called from any thread.  A
 * watch's callback runs on the thread that fires it (the connection's
 * completion thread), or, when the watch had already fired, on the thread
 * calling zkc_watch_set_callback().
 */
#ifndef ZKC_WATCH_H
#define ZKC_WATCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum zkc_event_type {
    ZKC_EVENT_NONE = 0,            /* not fired yet */
    ZKC_EVENT_CREATED = 1,         /* same values as ZooKeeper's */
    ZKC_EVENT_DELETED = 2,
    ZKC_EVENT_CHANGED = 3,
    ZKC_EVENT_CHILD = 4,
    ZKC_EVENT_SESSION_EXPIRED = 5, /* the session ended before the node event */
    ZKC_EVENT_CLOSED = 6           /* the connection was closed first */
} zkc_event_type;

typedef struct zkc_event {
    zkc_event_type type;
    const char *path; /* the watched path, as the caller gave it */
} zkc_event;

typedef struct zkc_watch zkc_watch;
typedef struct zkc_cancel zkc_cancel;

typedef void (*zkc_watch_fn)(zkc_watch *w, const zkc_event *ev, void *userdata);

/*
 * zkc_watch_wait: wait until the watch fires, at most timeout_ms
 * milliseconds (-1: no limit), or until cancel (may be NULL) is triggered.
 * Returns ZKC_OK when it fired (read it with zkc_watch_event()),
 * ZKC_ETIMEDOUT, ZKC_EINTERRUPTED, or ZKC_EBADARGUMENTS for a NULL watch.
 */
int zkc_watch_wait(zkc_watch *w, int timeout_ms, zkc_cancel *cancel);

/*
 * zkc_watch_fd: a file descriptor that becomes readable (POLLIN) once the
 * watch has fired and stays readable.  Owned by the watch: do not read or
 * close it.  Returns -1 when no descriptor can be made (out of fds).
 */
int zkc_watch_fd(zkc_watch *w);

/*
 * zkc_watch_event: the event, or an event of type ZKC_EVENT_NONE when the
 * watch has not fired yet.  The pointer is borrowed from the watch.
 */
const zkc_event *zkc_watch_event(zkc_watch *w);

/*
 * zkc_watch_fired: 1 once the watch has fired, else 0.
 */
int zkc_watch_fired(zkc_watch *w);

/*
 * zkc_watch_set_callback: call fn once when the watch fires; at once if it
 * already has.  At most one callback; a second call replaces a callback
 * that has not run yet, and a callback running on another thread is
 * waited for (none of the old one runs after this returns).  fn must not
 * call zkc_watch_free() on w.
 */
void zkc_watch_set_callback(zkc_watch *w, zkc_watch_fn fn, void *userdata);

/*
 * zkc_watch_free: give up the caller's handle.  The connection forgets
 * the watch when it fires or ends.  A callback running on another thread
 * is waited for; none runs after this returns, so the callback's userdata
 * may be freed then.  NULL is accepted.
 */
void zkc_watch_free(zkc_watch *w);

/*
 * zkc_cancel_new: a new, untriggered cancel token, or NULL when out of
 * memory or file descriptors.  Free with zkc_cancel_free().
 */
zkc_cancel *zkc_cancel_new(void);

/* zkc_cancel_trigger: trigger the token; idempotent, async-signal-safe. */
void zkc_cancel_trigger(zkc_cancel *c);

/* zkc_cancel_is_set: 1 once triggered, else 0; NULL gives 0. */
int zkc_cancel_is_set(const zkc_cancel *c);

/* zkc_cancel_fd: readable once triggered; owned by the token. */
int zkc_cancel_fd(const zkc_cancel *c);

/* zkc_cancel_free: free the token; NULL is accepted.  No wait may still
 * be using it. */
void zkc_cancel_free(zkc_cancel *c);

/*
 * zkc_sleep: sleep ms milliseconds unless cancel (may be NULL) is
 * triggered first.  Returns ZKC_OK or ZKC_EINTERRUPTED.
 */
int zkc_sleep(int ms, zkc_cancel *cancel);

#ifdef __cplusplus
}
#endif
#endif
