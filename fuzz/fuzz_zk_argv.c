/*
 * fuzz_zk_argv.c: libFuzzer target for the zk command's argument
 * vectors, every subcommand, run in-process (fuzz/zkmain.c) against the
 * in-memory fake with stdin, stdout and stderr on /dev/null.
 *
 * fuzz-sources: fuzz/zkmain.c src/zk/out.c src/zk/paths.c src/zk/pipe.c src/zk/cmd_read.c src/zk/cmd_write.c src/zk/cmd_wait.c src/zk/cmd_archive.c src/zk/child.c src/zk/cmd_zkns.c src/zk/cmd_global.c src/zk/signals.c src/zk/conn.c src/zk/help.c
 *
 * The input is split into arguments at NULs and run as
 * "zk --fake TREE ARGS...".  Inputs are skipped (not run) when they
 * could block, spawn or touch files outside a private directory:
 *   - an argument naming wait, watch, elock, qlock (they block on
 *     events or run a COMMAND) or edit (runs $EDITOR);
 *   - an argument starting with "--f" (another --fake, --fake-save) or
 *     "-a"/"--a" (--auth: the fake's connection, once failed, stays
 *     failed in main.c for the rest of the process);
 *   - an argument holding '/' that is not a ZooKeeper path ("/zk",
 *     "/zk/...", "zk:..."), so local files are relative names inside
 *     the private working directory, which is emptied after each run;
 *   - an argument starting with ".." (cp /zk/a .. would write a file
 *     beside the working directory).
 * "@dump" and "@zip" are replaced by a valid dump file and zip archive.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "zkmain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 24

static const char *dump_file, *zip_file;

static const char dump_json[] =
    "{\"zkcell_dump\": 1, \"root\": \"/zk/t\", \"nodes\": ["
    "{\"path\": \"/zk/t\", \"data\": \"\"},"
    "{\"path\": \"/zk/t/n\", \"data\": \"v\", \"acl\": [{\"scheme\": \"world\", \"id\": "
    "\"anyone\", \"perms\": \"rwdca\"}]}]}\n";

/* A zip with the entries "a" ("1") and "b/c" ("2"), stored. */
static const unsigned char zip_bytes[] = {
#include "zk_argv_zip.inc"
};

static bool allowed(const char *a)
{
    static const char *const blocked[] = {"wait", "watch", "elock", "qlock", "edit"};
    for (size_t i = 0; i < sizeof blocked / sizeof *blocked; i++)
        if (strcmp(a, blocked[i]) == 0)
            return false;
    if (strncmp(a, "..", 2) == 0 || strncmp(a, "--f", 3) == 0 || strncmp(a, "-a", 2) == 0 ||
        strncmp(a, "--a", 3) == 0)
        return false;
    if (strchr(a, '/') != NULL && strcmp(a, "/zk") != 0 && strncmp(a, "/zk/", 4) != 0 &&
        strncmp(a, "zk:", 3) != 0)
        return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    zkfuzz_setup();
    if (dump_file == NULL) {
        dump_file = strdup(zkfuzz_write(".dump.json", dump_json, sizeof dump_json - 1));
        zip_file = strdup(zkfuzz_write(".in.zip", zip_bytes, sizeof zip_bytes));
        if (dump_file == NULL || zip_file == NULL)
            abort();
    }
    char *buf = fuzz_cstring(data, size);
    if (buf == NULL)
        return 0;
    char *argv[MAX_ARGS + 4];
    int argc = 0;
    argv[argc++] = "zk";
    argv[argc++] = "--fake";
    argv[argc++] = (char *)zkfuzz_fake();
    size_t start = 0;
    bool ok = true;
    while (start <= size && ok) {
        if (argc == MAX_ARGS + 3) {
            ok = false;
            break;
        }
        char *a = buf + start;
        size_t len = strlen(a);
        if (strcmp(a, "@dump") == 0)
            argv[argc++] = (char *)dump_file;
        else if (strcmp(a, "@zip") == 0)
            argv[argc++] = (char *)zip_file;
        else if (allowed(a))
            argv[argc++] = a;
        else
            ok = false;
        start += len + 1;
        if (start == size) /* a trailing NUL ends the last argument */
            break;
    }
    argv[argc] = NULL;
    if (ok)
        (void)zkfuzz_run(argc, argv);
    zkfuzz_clean();
    free(buf);
    return 0;
}
