/*
 * fuzz_zk_zipnames.c: libFuzzer target for the entry names of a zip
 * archive given to "zk unzip" (src/zk/cmd_archive.c).  Random bytes
 * rarely make a valid archive, so this target builds one with libzip:
 * the input split at NULs gives the entry names (each entry's data is
 * its index), then "zk --fake TREE unzip FILE PREFIX" runs in-process
 * (fuzz/zkmain.c).  The first name is the destination prefix when it
 * starts with '/'.
 *
 * fuzz-sources: fuzz/zkmain.c src/zk/out.c src/zk/paths.c src/zk/pipe.c src/zk/cmd_read.c src/zk/cmd_write.c src/zk/cmd_wait.c src/zk/cmd_archive.c src/zk/child.c src/zk/cmd_zkns.c src/zk/cmd_global.c src/zk/signals.c src/zk/conn.c src/zk/help.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "fuzz_input.h"
#include "zkmain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    const char *dir = zkfuzz_setup();
    char file[4200];
    snprintf(file, sizeof file, "%s/names.zip", dir);
    char *buf = fuzz_cstring(data, size);
    if (buf == NULL)
        return 0;
    int zerr;
    zip_t *zip = zip_open(file, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (zip == NULL)
        abort();
    const char *prefix = "/zk/u";
    size_t start = 0;
    for (int i = 0; start < size && i < 64; i++) {
        const char *name = buf + start;
        start += strlen(name) + 1;
        if (i == 0 && name[0] == '/') {
            prefix = name;
            continue;
        }
        /* ZIP_FL_ENC_RAW: the bytes as given, no UTF-8 conversion. */
        zip_source_t *src = zip_source_buffer(zip, name, 1, 0);
        if (src == NULL)
            abort();
        if (zip_file_add(zip, name, src, ZIP_FL_ENC_RAW) < 0)
            zip_source_free(src);
    }
    if (zip_close(zip) != 0) {
        zip_discard(zip);
    } else {
        char *argv[] = {"zk", "--fake", (char *)zkfuzz_fake(), "unzip", file, (char *)prefix, NULL};
        (void)zkfuzz_run(6, argv);
    }
    zkfuzz_clean();
    free(buf);
    return 0;
}
