/*
 * fuzz_pdns_opts.c: libFuzzer target for zkns-pdns's command line
 * (src/zkns-pdns/main.c: parse_args, parse_uint, parse_ms), included
 * here with main() renamed and exit() caught, so nothing is started.
 * The input is the argument vector, split at NULs; then the first
 * argument alone goes through parse_ms and parse_uint.
 *
 * fuzz-sources: src/zkns-pdns/pdns_line.c src/zkns-pdns/server.c src/zkns-pdns/store.c
 */
#include <getopt.h>
#include <stdio.h>

#include "daemon_argv.h"

int pdns_main(int argc, char **argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define main pdns_main
#define exit daemon_exit
#include "../src/zkns-pdns/main.c"
#undef exit
#undef main

/* parse_args with its exit() caught; nothing here changes after setjmp. */
static void run_parse(int argc, char **argv, options *o)
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
    if (parse_ms(buf, &ms) == 0 && (ms <= 0 || ms > 3600000))
        abort();
    unsigned long u;
    if (parse_uint(buf, 1000, &u) == 0 && u > 1000)
        abort();

    char *argv[DAEMON_MAX_ARGS + 1];
    int argc = daemon_split(buf, size, "zkns-pdns", argv);
    if (argc > 0) {
        options o = {0};
        o.ttl = 1;
        o.timeout_ms = DEFAULT_TIMEOUT_MS;
        o.cache = DEFAULT_CACHE;
        optind = 0;
        opterr = 0;
        run_parse(argc, argv, &o);
        optind = 0;
    }
    free(buf);
    return 0;
}
