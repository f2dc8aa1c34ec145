/*
 * random.c: random numbers for jitter and protected names, from
 * getrandom(2), with a clock-and-pid fallback while the pool is not ready.
 */
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "zkcell/sys/conn_impl.h"

uint64_t zkc_impl_random(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        /* No entropy yet: good enough for jitter. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid();
        r *= 0x9e3779b97f4a7c15ull;
    }
    return r;
}

int zkc_impl_random_between(int lo, int hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int)(zkc_impl_random() % (uint64_t)(hi - lo + 1));
}
