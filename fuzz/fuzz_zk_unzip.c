/*
 * fuzz_zk_unzip.c: libFuzzer target for whole zip archives, the input of
 * "zk unzip" (src/zk/cmd_archive.c, reading through libzip): the input
 * is written to a file and run as "zk --fake TREE unzip FILE /zk/u"
 * in-process (fuzz/zkmain.c), so the entry checks and the writes into
 * the fake run.
 *
 * fuzz-sources: fuzz/zkmain.c src/zk/out.c src/zk/paths.c src/zk/pipe.c src/zk/cmd_read.c src/zk/cmd_write.c src/zk/cmd_wait.c src/zk/cmd_archive.c src/zk/child.c src/zk/cmd_zkns.c src/zk/cmd_global.c src/zk/signals.c src/zk/conn.c src/zk/help.c
 */
#include <stddef.h>
#include <stdint.h>

#include "zkmain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    zkfuzz_setup();
    const char *file = zkfuzz_write("in.zip", data, size);
    char *argv[] = {"zk", "--fake", (char *)zkfuzz_fake(), "unzip", (char *)file, "/zk/u", NULL};
    (void)zkfuzz_run(6, argv);
    zkfuzz_clean();
    return 0;
}
