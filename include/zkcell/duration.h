/*
 * zkcell/duration.h: the one parser of durations on zkcell's command
 * lines (zk, zkocc, zkns-pdns and the -zk.* flags of zkcell/cells.h).
 *
 * Threads: a pure function, safe from any thread.
 */
#ifndef ZKC_DURATION_H
#define ZKC_DURATION_H

#include <limits.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The longest duration, in milliseconds (24 days and a bit): every
 * timeout of the library is an int of milliseconds. */
#define ZKC_DURATION_MAX_MS INT_MAX

/*
 * zkc_parse_duration_ms: s as a duration in Go's form, without a sign:
 * one or more decimal numbers (digits with at most one '.', "1.5",
 * ".5", "5."), each followed by a unit, ns, us (or µs), ms, s, m or h:
 * "250ms", "1.5m", "1m30s".  A number without a unit is whole s alone
 * and counts bare_unit_ms milliseconds ("5" is 5 s with 1000); with
 * bare_unit_ms 0 only "0" may go without a unit, as in Go.  Blanks,
 * signs, exponents, hex, "nan" and "inf" are not durations.
 *
 * Returns ZKC_OK with *ret_ms the duration in whole milliseconds rounded
 * up (100us is 1 ms), at most ZKC_DURATION_MAX_MS; or
 * ZKC_EBADARGUMENTS when s is NULL, empty, not a duration or longer than
 * that, or bare_unit_ms is negative, and then *ret_ms is untouched.  The
 * caller says what range its option takes within that.
 */
int zkc_parse_duration_ms(const char *s, int bare_unit_ms, int *ret_ms);

#ifdef __cplusplus
}
#endif

#endif
