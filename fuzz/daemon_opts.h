/*
 * daemon_opts.h: the one harness of the daemons' option fuzz targets
 * (fuzz_zkocc_opts.c, fuzz_pdns_opts.c).  The target defines
 * DAEMON_NAME (argv[0]) and DAEMON_MAIN_C (the daemon's main.c), then
 * includes this file, which includes that main.c with main() renamed and
 * exit() turned into a jump back here, so that nothing is started; then
 * it defines
 *   static void daemon_numbers(const char *s);       its number parsers
 *   static void daemon_parse(int argc, char **argv); parse_args
 * The input is the argument vector, split at NULs, for daemon_parse,
 * with stdout and stderr on /dev/null (unless ZK_FUZZ_VERBOSE is set);
 * the whole input first goes through daemon_numbers.
 */
#ifndef FUZZ_DAEMON_OPTS_H
#define FUZZ_DAEMON_OPTS_H

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_input.h"

#define DAEMON_MAX_ARGS 32

static jmp_buf daemon_exit_jmp;

__attribute__((unused)) static _Noreturn void daemon_exit(int status)
{
    longjmp(daemon_exit_jmp, status + 1);
}

/* Weak: present only in sanitizer builds. */
extern void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

static int daemon_devnull = -1, daemon_saved_err = -1;

/* on: stdout and (unless ZK_FUZZ_VERBOSE is set) stderr to /dev/null,
 * sanitizer reports still to the real stderr; off: stderr back. */
static void daemon_quiet(int on)
{
    if (daemon_devnull < 0) {
        daemon_devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        daemon_saved_err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        if (daemon_devnull < 0 || daemon_saved_err < 0)
            abort();
        dup2(daemon_devnull, STDOUT_FILENO);
        if (__sanitizer_set_report_fd != NULL)
            __sanitizer_set_report_fd((void *)(intptr_t)daemon_saved_err);
    }
    if (getenv("ZK_FUZZ_VERBOSE") != NULL)
        return;
    fflush(stderr);
    dup2(on ? daemon_devnull : daemon_saved_err, STDERR_FILENO);
}

/* Split buf (size bytes, NUL-terminated at buf[size]) into argv after
 * name; returns argc, or -1 when there are too many arguments. */
static int daemon_split(char *buf, size_t size, const char *name, char **argv)
{
    int argc = 0;
    argv[argc++] = (char *)name;
    for (size_t start = 0; start < size;) {
        if (argc == DAEMON_MAX_ARGS)
            return -1;
        argv[argc++] = buf + start;
        start += strlen(buf + start) + 1;
    }
    argv[argc] = NULL;
    return argc;
}

int daemon_main(int argc, char **argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define main daemon_main
#define exit daemon_exit
#include DAEMON_MAIN_C
#undef exit
#undef main

static void daemon_numbers(const char *s);
static void daemon_parse(int argc, char **argv);

/* daemon_parse with its exit() caught; nothing here changes after setjmp. */
static void daemon_run_parse(int argc, char **argv)
{
    daemon_quiet(1);
    if (setjmp(daemon_exit_jmp) == 0)
        daemon_parse(argc, argv);
    daemon_quiet(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *buf = fuzz_cstring(data, size);
    if (buf == NULL)
        return 0;

    daemon_numbers(buf);

    char *argv[DAEMON_MAX_ARGS + 1];
    int argc = daemon_split(buf, size, DAEMON_NAME, argv);
    if (argc > 0) {
        optind = 0;
        opterr = 0;
        daemon_run_parse(argc, argv);
        optind = 0;
    }
    free(buf);
    return 0;
}

#endif
