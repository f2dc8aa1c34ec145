/*
 * backoff.c: jittered exponential backoff, the delay before a retry (the
 * connection cache's dials, the recipes' retries).
 */
#include "zkcell/sys/conn_impl.h"

int zkc__backoff_delay(int min_ms, int max_ms, unsigned n)
{
    int64_t d = min_ms;
    for (unsigned i = 1; i < n && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    int64_t half = d / 2;
    return (int)(d - half + (int64_t)(zkc__random() % (uint64_t)(half + 1)));
}
