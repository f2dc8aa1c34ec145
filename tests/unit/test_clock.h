/*
 * test_clock.h: a clock the test moves (zkc_impl_set_clock), for tests
 * where timing is the behaviour: test_clock_start() stops the library's
 * clock at the real time, test_clock_advance() moves it forward,
 * test_clock_stop() gives the real clock back.  Header-only, one clock
 * per test binary.
 */
#ifndef ZKC_TEST_CLOCK_H
#define ZKC_TEST_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

#include <zkcell/sys/conn_impl.h>

static _Atomic int64_t test_clock_now;

static inline int64_t test_clock_read(void)
{
    return atomic_load(&test_clock_now);
}

static inline void test_clock_start(void)
{
    atomic_store(&test_clock_now, zkc_impl_now_ms());
    zkc_impl_set_clock(test_clock_read);
}

static inline void test_clock_advance(int64_t ms)
{
    atomic_fetch_add(&test_clock_now, ms);
}

static inline void test_clock_stop(void)
{
    zkc_impl_set_clock(NULL);
}

/* A cmocka teardown that gives the real clock back, also after a failed
 * assertion left the test halfway. */
static inline int test_clock_teardown(void **state)
{
    (void)state;
    test_clock_stop();
    return 0;
}

#endif
