/*
 * thread_blocked.h: for tests that prove a call waits for something:
 * the calling thread records its id (thread_blocked_self), the test
 * waits until that thread has either returned from the call or sleeps
 * in the kernel (blocked on a lock or condition: /proc's state S), and
 * only then lets the awaited thing finish.  No sleep gives the call "a
 * chance": a call that does not wait returns, one that waits blocks.
 */
#ifndef ZKC_TEST_THREAD_BLOCKED_H
#define ZKC_TEST_THREAD_BLOCKED_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The calling thread's kernel id, for thread_blocked_wait. */
static inline void thread_blocked_self(atomic_int *tid)
{
    atomic_store(tid, (int)syscall(SYS_gettid));
}

/* Whether thread tid of this process sleeps (state S or D). */
static inline bool thread_blocked_now(int tid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *end = strrchr(buf, ')'); /* the name may hold anything */
    return end != NULL && end[1] == ' ' && (end[2] == 'S' || end[2] == 'D');
}

/* Wait until *done is set or thread *tid (once known) is blocked. */
static inline void thread_blocked_wait(atomic_int *tid, atomic_int *done)
{
    while (!atomic_load(done)) {
        int t = atomic_load(tid);
        if (t != 0 && thread_blocked_now(t))
            return;
        sched_yield();
    }
}

#endif
