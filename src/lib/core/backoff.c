/*
 * backoff.c: jittered exponential backoff: the delay before a retry, and
 * a backoff in progress that sleeps it out before a deadline (the
 * connection cache's dials, the recipes' retries).
 */
#include "zkcell/sys/conn_impl.h"

int zkc_impl_backoff_delay(int min_ms, int max_ms, unsigned n)
{
    int64_t d = min_ms;
    for (unsigned i = 1; i < n && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    int64_t half = d / 2;
    return (int)(d - half + (int64_t)(zkc_impl_random() % (uint64_t)(half + 1)));
}

int zkc_impl_backoff_next(zkc_impl_backoff *b)
{
    if (b->attempt < 64)
        b->attempt++;
    return zkc_impl_backoff_delay(b->min_ms > 0 ? b->min_ms : 1, b->max_ms, b->attempt);
}

int zkc_impl_backoff_wait(zkc_impl_backoff *b, int64_t deadline, zkc_cancel *cancel)
{
    if (zkc_cancel_is_set(cancel))
        return ZKC_EINTERRUPTED;
    int left = zkc_impl_time_left(deadline);
    if (left == 0)
        return ZKC_ETIMEDOUT;
    int ms = zkc_impl_backoff_next(b);
    if (left > 0 && ms > left)
        ms = left;
    return zkc_sleep(ms, cancel);
}
