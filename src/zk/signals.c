/*
 * signals.c: SIGINT, SIGTERM and SIGHUP trigger the command's cancel
 * token (zk_catch_signals()), until zk_release_signals() before the token
 * is freed.
 *
 * The handler can run on any thread (the library's threads do not block
 * these signals), so it announces itself in a counter before it reads the
 * token, and zk_release_signals() clears the token, then waits until no
 * handler is inside: after it returns no handler can reach the token.
 * Both are atomics, which the handler may use (lock-free on every target
 * zk builds on; checked at compile time).
 */
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "zkcmd.h"

_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "the signal handler needs lock-free atomics");

static _Atomic(zkc_cancel *) signal_cancel;
static atomic_int in_handler;

static void on_signal(int sig)
{
    (void)sig;
    atomic_fetch_add(&in_handler, 1);
    zkc_cancel_trigger(atomic_load(&signal_cancel));
    atomic_fetch_sub(&in_handler, 1);
}

void zk_catch_signals(zk_ctx *z)
{
    if (z->cancel == NULL)
        return;
    atomic_store(&signal_cancel, z->cancel);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void zk_release_signals(void)
{
    atomic_store(&signal_cancel, NULL);
    while (atomic_load(&in_handler) != 0)
        sched_yield();
}
