/*
 * daemon_argv.h: for the daemons' option fuzz targets: the input split
 * into argv at NULs (argv[0] the daemon's name), stdout and stderr on
 * /dev/null (unless ZK_FUZZ_VERBOSE is set), and exit() turned into a
 * jump back to the target.  Included once, by the target, before the
 * daemon's main.c.
 */
#ifndef FUZZ_DAEMON_ARGV_H
#define FUZZ_DAEMON_ARGV_H

#include <fcntl.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#endif
