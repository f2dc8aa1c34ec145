/*
 * fuzz_pdns_opts.c: libFuzzer target for zkns-pdns's command line
 * (src/zkns-pdns/main.c: parse_args and parse_uint; its durations are
 * the library's, fuzzed by fuzz_zk_numbers.c), through the shared
 * harness daemon_opts.h.
 *
 * fuzz-sources: src/zkns-pdns/pdns_line.c src/zkns-pdns/server.c src/zkns-pdns/store.c
 */
#define DAEMON_NAME   "zkns-pdns"
#define DAEMON_MAIN_C "../src/zkns-pdns/main.c"
#include "daemon_opts.h"

static void daemon_numbers(const char *s)
{
    unsigned long u;
    if (parse_uint(s, 1000, &u) == 0 && u > 1000)
        abort();
}

static void daemon_parse(int argc, char **argv)
{
    options o = {0};
    o.ttl = 1;
    o.timeout_ms = DEFAULT_TIMEOUT_MS;
    o.cache = DEFAULT_CACHE;
    (void)parse_args(argc, argv, &o);
}
