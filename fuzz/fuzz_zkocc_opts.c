/*
 * fuzz_zkocc_opts.c: libFuzzer target for zkocc's command line
 * (src/zkocc/main.c: parse_args and its size parser; its durations are
 * the library's, fuzzed by fuzz_zk_numbers.c), through the shared
 * harness daemon_opts.h.
 *
 * fuzz-sources: src/zkocc/server.c src/zkocc/cache.c
 * fuzz-libs: -luv
 */
#define DAEMON_NAME   "zkocc"
#define DAEMON_MAIN_C "../src/zkocc/main.c"
#include "daemon_opts.h"

static void daemon_numbers(const char *s)
{
    size_t sz;
    (void)parse_size(s, &sz);
}

static void daemon_parse(int argc, char **argv)
{
    zo_opts o = {.bind = "127.0.0.1", .port = 1, .session_timeout_ms = 30000};
    (void)parse_args(argc, argv, &o);
}
