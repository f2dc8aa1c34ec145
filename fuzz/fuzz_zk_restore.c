/*
 * fuzz_zk_restore.c: libFuzzer target for dump files, the input of
 * "zk restore" (src/zk/cmd_archive.c): the input is written to a file
 * and restored with "zk --fake TREE restore FILE [/zk/r]" in-process
 * (fuzz/zkmain.c), so the checks and the writes into the fake run.
 * The first byte's low bits pick -e, --no-acl and a destination; the
 * rest is the file.
 *
 * fuzz-sources: fuzz/zkmain.c src/zk/out.c src/zk/paths.c src/zk/pipe.c src/zk/cmd_read.c src/zk/cmd_write.c src/zk/cmd_wait.c src/zk/cmd_archive.c src/zk/child.c src/zk/cmd_zkns.c src/zk/cmd_global.c src/zk/signals.c src/zk/conn.c src/zk/help.c
 */
#include <stddef.h>
#include <stdint.h>

#include "zkmain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    zkfuzz_setup();
    const char *file = zkfuzz_write("dump.json", data + 1, size - 1);
    char *argv[10];
    int argc = 0;
    argv[argc++] = "zk";
    argv[argc++] = "--fake";
    argv[argc++] = (char *)zkfuzz_fake();
    argv[argc++] = "restore";
    if (data[0] & 1)
        argv[argc++] = "-e";
    if (data[0] & 2)
        argv[argc++] = "--no-acl";
    argv[argc++] = (char *)file;
    if (data[0] & 4)
        argv[argc++] = "/zk/r";
    argv[argc] = NULL;
    (void)zkfuzz_run(argc, argv);
    zkfuzz_clean();
    return 0;
}
