/*
 * fuzz_zkocc_opts.c: libFuzzer target for zkocc's command line
 * (src/zkocc/main.c: parse_args and its duration and size parsers),
 * included here with main() renamed and exit() caught, so nothing is
 * started.  The input is the argument vector, split at NULs; then the
 * first argument alone goes through parse_duration and parse_size.
 *
 * fuzz-sources: src/zkocc/server.c src/zkocc/cache.c
 * fuzz-libs: -luv
 */
#include <getopt.h>
#include <stdio.h>

#include "daemon_argv.h"

int zkocc_main(int argc, char **argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define main zkocc_main
#define exit daemon_exit
#include "../src/zkocc/main.c"
#undef exit
#undef main

/* parse_args with its exit() caught; nothing here changes after setjmp. */
static void run_parse(int argc, char **argv, zo_opts *o)
{
    daemon_quiet(1);
    if (setjmp(daemon_exit_jmp) == 0)
        (void)parse_args(argc, argv, o);
    daemon_quiet(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    int ms = -7;
    if (parse_duration(buf, &ms) == 0 && ms < 0)
        abort();
    size_t sz;
    (void)parse_size(buf, &sz);

    char *argv[DAEMON_MAX_ARGS + 1];
    int argc = daemon_split(buf, size, "zkocc", argv);
    if (argc > 0) {
        zo_opts o = {.bind = "127.0.0.1", .port = 1, .session_timeout_ms = 30000};
        optind = 0;
        opterr = 0;
        run_parse(argc, argv, &o);
        optind = 0;
    }
    free(buf);
    return 0;
}
