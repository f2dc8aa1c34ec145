/*
 * zkmain.c: the zk command (src/zk/main.c) compiled with its main()
 * renamed zk_main, so that fuzz targets call it in-process against the
 * in-memory fake.  Including main.c here (rather than changing it) also
 * lets zkfuzz_run() reset main.c's file-scope state between runs.
 */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zkmain.h"

int zk_main(int argc, char **argv);
#define main zk_main
#include "../src/zk/main.c"
#undef main

/* Weak: present only in sanitizer builds. */
extern void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

static char workdir[4096];
static int devnull = -1, saved_err = -1;
static bool quiet; /* zk's stderr to /dev/null during runs */
static char fakefile[4200];
static char written[4200];
static char siblings[4][4200]; /* files beside workdir, removed at exit */
static int nsiblings;

static void remove_all(void)
{
    zkfuzz_clean();
    (void)rmdir(workdir);
    for (int i = 0; i < nsiblings; i++)
        (void)unlink(siblings[i]);
}

/* A small tree with data, ACLs, ephemerals and the zkns layout. */
static const char fake_json[] =
    "{\"/zk/t/a\": \"hello\", \"/zk/t/b/c\": \"{\\\"x\\\": 1}\", \"/zk/t/b/d\": \"\","
    " \"/zk/t/ns/h\": {\"Entries\": [{\"ipv4\": \"10.0.0.1\", \"host\": \"h\","
    " \"named_port_map\": {\"_http\": 80}}]},"
    " \"/zk/global/x\": \"1\"}\n";

const char *zkfuzz_setup(void)
{
    if (workdir[0] != '\0')
        return workdir;
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    saved_err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (devnull < 0 || saved_err < 0)
        abort();
    dup2(devnull, STDIN_FILENO);
    dup2(devnull, STDOUT_FILENO);
    quiet = getenv("ZK_FUZZ_VERBOSE") == NULL;
    /* Sanitizer reports go to the real stderr even while zk's is quiet. */
    if (__sanitizer_set_report_fd != NULL)
        __sanitizer_set_report_fd((void *)(intptr_t)saved_err);
    const char *tmp = getenv("TMPDIR");
    snprintf(workdir, sizeof workdir, "%s/zkfuzz.XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(workdir) == NULL)
        abort();
    /* The fake tree lives outside the working directory's cleaning. */
    snprintf(fakefile, sizeof fakefile, "%s.fake.json", workdir);
    FILE *f = fopen(fakefile, "w");
    if (f == NULL || fputs(fake_json, f) < 0 || fclose(f) != 0)
        abort();
    snprintf(siblings[nsiblings++], sizeof siblings[0], "%s", fakefile);
    atexit(remove_all);
    setenv("EDITOR", "/bin/false", 1);
    setenv("VISUAL", "/bin/false", 1);
    unsetenv("ZK_AUTH");
    return workdir;
}

const char *zkfuzz_fake(void)
{
    return fakefile;
}

void zkfuzz_quiet(bool on)
{
    fflush(stderr);
    if (quiet)
        dup2(on ? devnull : saved_err, STDERR_FILENO);
}

int zkfuzz_run(int argc, char **argv)
{
    /* getopt's state from an earlier run (main.c keeps its own in zk_ctx). */
    optind = 0;
    opterr = 0;
    /* Relative local files land in the working directory; libFuzzer's
     * own relative paths need the caller's back afterwards. */
    int here = open(".", O_RDONLY | O_DIRECTORY);
    if (here < 0 || chdir(workdir) != 0)
        abort();
    zkfuzz_quiet(true);
    int rc = zk_main(argc, argv);
    zkfuzz_quiet(false);
    if (fchdir(here) != 0)
        abort();
    close(here);
    optind = 0;
    fflush(stdout);
    clearerr(stdout);
    return rc;
}

void zkfuzz_clean(void)
{
    DIR *d = opendir(workdir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            (void)unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

const char *zkfuzz_write(const char *name, const void *data, size_t size)
{
    snprintf(written, sizeof written, "%s%s%s", workdir, name[0] == '.' ? "" : "/", name);
    if (name[0] == '.' && nsiblings < 4)
        snprintf(siblings[nsiblings++], sizeof siblings[0], "%s", written);
    FILE *f = fopen(written, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    return written;
}
