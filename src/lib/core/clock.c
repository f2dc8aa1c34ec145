/*
 * clock.c: the library's clocks: monotonic and wall-clock milliseconds,
 * deadlines from timeouts, and condition variables that wait on the
 * monotonic clock.  Every deadline in the library is a zkc_impl_now_ms()
 * value, and a test may put a clock of its own in place of the real one
 * (zkc_impl_set_clock): condition waits then wait as many real
 * milliseconds as that clock says are left, and look again.
 */
#include <limits.h>
#include <stdatomic.h>
#include <time.h>

#include "zkcell/sys/conn_impl.h"

/* The test's clock, or NULL for the real one. */
static _Atomic(zkc_impl_clock_fn) test_clock;

static int64_t real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void zkc_impl_set_clock(zkc_impl_clock_fn now_ms)
{
    atomic_store(&test_clock, now_ms);
}

int64_t zkc_impl_now_ms(void)
{
    zkc_impl_clock_fn fn = atomic_load(&test_clock);
    return fn != NULL ? fn() : real_now_ms();
}

int64_t zkc_impl_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void zkc_impl_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mutex, int64_t deadline_ms)
{
    int64_t left = deadline_ms - zkc_impl_now_ms();
    if (left <= 0)
        return;
    int64_t until = real_now_ms() + left;
    struct timespec ts = {(time_t)(until / 1000), (long)(until % 1000) * 1000000L};
    pthread_cond_timedwait(cond, mutex, &ts);
}

void zkc_impl_cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
}

int64_t zkc_impl_deadline(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : zkc_impl_now_ms() + timeout_ms;
}

int zkc_impl_time_left(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - zkc_impl_now_ms();
    if (left <= 0)
        return 0;
    return left > INT_MAX ? INT_MAX : (int)left;
}
