/*
 * watch.c: watch handles, cancel tokens, and the waits built on them.
 *
 * A watch is shared by two owners: the caller, who holds the handle, and
 * the implementation that will fire it.  Each drops its reference once
 * (zkc_watch_free, zkc_impl_watch_fire); the last one frees.  Waiting uses a
 * condition variable, and, when a cancel token is involved or the caller
 * asks for it, an eventfd made on first use, so thousands of idle watches
 * cost no descriptors.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "zkcell/sys/conn_impl.h"
#include "zkcell/watch.h"

struct zkc_watch {
    /* Held while the callback runs, and by whoever sets or clears it, so
     * that no callback runs once zkc_watch_free() or
     * zkc_watch_set_callback() has returned (recursive: the callback may
     * call either on its own watch). */
    pthread_mutex_t cb_lock;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;
    int abandoned; /* the caller freed its handle */
    int fd;        /* eventfd, -1 until asked for */
    zkc_event ev;
    char *path;
    zkc_watch_fn fn;
    void *fn_ud;
};

struct zkc_cancel {
    int fd; /* eventfd; a count above zero means triggered */
    atomic_int set;
};

/* ---- waits ---- */

int zkc_impl_wait_fd(int fd, int timeout_ms, zkc_cancel *cancel)
{
    int64_t deadline = timeout_ms < 0 ? -1 : zkc_impl_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
        nfds_t n = 1;
        if (cancel != NULL) {
            if (zkc_cancel_is_set(cancel))
                return ZKC_EINTERRUPTED;
            p[1].fd = cancel->fd;
            n = 2;
        }
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - zkc_impl_now_ms();
            wait = left < 0 ? 0 : (int)left;
        }
        int r = poll(p, n, wait);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return ZKC_ESYSTEMERROR;
        }
        if (n == 2 && (p[1].revents & POLLIN))
            return ZKC_EINTERRUPTED;
        if (p[0].revents & (POLLIN | POLLERR | POLLHUP))
            return ZKC_OK;
        if (r == 0 && deadline >= 0 && zkc_impl_now_ms() >= deadline)
            return ZKC_ETIMEDOUT;
    }
}

/* ---- cancel tokens ---- */

zkc_cancel *zkc_cancel_new(void)
{
    zkc_cancel *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->fd < 0) {
        free(c);
        return NULL;
    }
    atomic_init(&c->set, 0);
    return c;
}

void zkc_cancel_trigger(zkc_cancel *c)
{
    if (c == NULL)
        return;
    if (atomic_exchange(&c->set, 1) == 0) {
        uint64_t one = 1;
        /* write(2) is async-signal-safe; the count never overflows (one write). */
        ssize_t r = write(c->fd, &one, sizeof one);
        (void)r;
    }
}

int zkc_cancel_is_set(const zkc_cancel *c)
{
    return c != NULL && atomic_load(&((zkc_cancel *)c)->set);
}

int zkc_cancel_fd(const zkc_cancel *c)
{
    return c == NULL ? -1 : c->fd;
}

void zkc_cancel_free(zkc_cancel *c)
{
    if (c == NULL)
        return;
    close(c->fd);
    free(c);
}

int zkc_sleep(int ms, zkc_cancel *cancel)
{
    if (cancel == NULL) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        return ZKC_OK;
    }
    int r = zkc_impl_wait_fd(cancel->fd, ms, cancel);
    return r == ZKC_ETIMEDOUT ? ZKC_OK : r;
}

/* ---- watches ---- */

zkc_watch *zkc_impl_watch_new(const char *path)
{
    zkc_watch *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->path = strdup(path);
    if (w->path == NULL) {
        free(w);
        return NULL;
    }
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&w->cb_lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_mutex_init(&w->lock, NULL);
    zkc_impl_cond_init_monotonic(&w->cond);
    w->refs = 2;
    w->fd = -1;
    w->ev.type = ZKC_EVENT_NONE;
    w->ev.path = w->path;
    return w;
}

static void watch_unref(zkc_watch *w)
{
    pthread_mutex_lock(&w->lock);
    int left = --w->refs;
    pthread_mutex_unlock(&w->lock);
    if (left > 0)
        return;
    if (w->fd >= 0)
        close(w->fd);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->cb_lock);
    pthread_cond_destroy(&w->cond);
    free(w->path);
    free(w);
}

void zkc_impl_watch_fire(zkc_watch *w, zkc_event_type type)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->cb_lock);
    pthread_mutex_lock(&w->lock);
    int first = w->ev.type == ZKC_EVENT_NONE;
    zkc_watch_fn fn = NULL;
    void *ud = NULL;
    if (first) {
        w->ev.type = type;
        if (w->fd >= 0) {
            uint64_t one = 1;
            ssize_t r = write(w->fd, &one, sizeof one);
            (void)r;
        }
        pthread_cond_broadcast(&w->cond);
        if (!w->abandoned) {
            fn = w->fn;
            ud = w->fn_ud;
            w->fn = NULL;
        }
    }
    pthread_mutex_unlock(&w->lock);
    if (fn != NULL)
        fn(w, &w->ev, ud);
    pthread_mutex_unlock(&w->cb_lock);
    if (first)
        watch_unref(w);
}

void zkc_impl_watch_release(zkc_watch *w)
{
    if (w != NULL)
        watch_unref(w);
}

void zkc_impl_watch_discard(zkc_watch *w)
{
    if (w == NULL)
        return;
    watch_unref(w);
    watch_unref(w);
}

int zkc_impl_watch_abandoned(zkc_watch *w)
{
    pthread_mutex_lock(&w->lock);
    int a = w->abandoned;
    pthread_mutex_unlock(&w->lock);
    return a;
}

int zkc_watch_fd(zkc_watch *w)
{
    if (w == NULL)
        return -1;
    pthread_mutex_lock(&w->lock);
    if (w->fd < 0) {
        w->fd = eventfd(w->ev.type != ZKC_EVENT_NONE ? 1 : 0, EFD_CLOEXEC | EFD_NONBLOCK);
    }
    int fd = w->fd;
    pthread_mutex_unlock(&w->lock);
    return fd;
}

int zkc_watch_fired(zkc_watch *w)
{
    if (w == NULL)
        return 0;
    pthread_mutex_lock(&w->lock);
    int fired = w->ev.type != ZKC_EVENT_NONE;
    pthread_mutex_unlock(&w->lock);
    return fired;
}

const zkc_event *zkc_watch_event(zkc_watch *w)
{
    static const zkc_event none = {ZKC_EVENT_NONE, ""};
    if (w == NULL)
        return &none;
    pthread_mutex_lock(&w->lock);
    /* ev.type is written once, under the lock; after that the struct is
     * stable, and before it the caller sees NONE. */
    const zkc_event *ev = &w->ev;
    pthread_mutex_unlock(&w->lock);
    return ev;
}

int zkc_watch_wait(zkc_watch *w, int timeout_ms, zkc_cancel *cancel)
{
    if (w == NULL)
        return ZKC_EBADARGUMENTS;
    if (cancel != NULL) {
        int fd = zkc_watch_fd(w);
        if (fd >= 0)
            return zkc_impl_wait_fd(fd, timeout_ms, cancel);
        /* Out of descriptors: fall back to polling the token. */
        int64_t deadline = timeout_ms < 0 ? -1 : zkc_impl_now_ms() + timeout_ms;
        for (;;) {
            if (zkc_watch_fired(w))
                return ZKC_OK;
            if (zkc_cancel_is_set(cancel))
                return ZKC_EINTERRUPTED;
            if (deadline >= 0 && zkc_impl_now_ms() >= deadline)
                return ZKC_ETIMEDOUT;
            zkc_sleep(5, NULL);
        }
    }
    /* w->cond runs on the monotonic clock: a wall-clock step neither
     * ends the wait early nor stretches it. */
    int64_t deadline = timeout_ms < 0 ? -1 : zkc_impl_now_ms() + timeout_ms;
    int rc = ZKC_OK;
    pthread_mutex_lock(&w->lock);
    while (w->ev.type == ZKC_EVENT_NONE) {
        if (deadline < 0) {
            pthread_cond_wait(&w->cond, &w->lock);
        } else if (zkc_impl_now_ms() >= deadline) {
            rc = ZKC_ETIMEDOUT;
            break;
        } else {
            zkc_impl_cond_wait_until(&w->cond, &w->lock, deadline);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

void zkc_watch_set_callback(zkc_watch *w, zkc_watch_fn fn, void *userdata)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->cb_lock);
    pthread_mutex_lock(&w->lock);
    int fired = w->ev.type != ZKC_EVENT_NONE;
    if (!fired) {
        w->fn = fn;
        w->fn_ud = userdata;
    }
    pthread_mutex_unlock(&w->lock);
    if (fired && fn != NULL)
        fn(w, &w->ev, userdata);
    pthread_mutex_unlock(&w->cb_lock);
}

void zkc_watch_free(zkc_watch *w)
{
    if (w == NULL)
        return;
    /* Waits out a callback running on another thread. */
    pthread_mutex_lock(&w->cb_lock);
    pthread_mutex_lock(&w->lock);
    w->abandoned = 1;
    w->fn = NULL;
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_unlock(&w->cb_lock);
    watch_unref(w);
}
