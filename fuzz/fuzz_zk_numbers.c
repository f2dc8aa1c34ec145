/*
 * fuzz_zk_numbers.c: libFuzzer target for the parsers of durations,
 * numbers and permissions: the library's zkc_parse_duration_ms (every
 * program's durations), and zk's zk_parse_duration_opt, zk_parse_uint
 * and zk_perms_parse (src/zk/out.c), with what their comments promise
 * checked.  The input is one string (up to the
 * first NUL).
 *
 * fuzz-sources: fuzz/zkmain.c src/zk/out.c src/zk/paths.c src/zk/pipe.c src/zk/cmd_read.c src/zk/cmd_write.c src/zk/cmd_wait.c src/zk/cmd_archive.c src/zk/child.c src/zk/cmd_zkns.c src/zk/cmd_global.c src/zk/signals.c src/zk/conn.c src/zk/help.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "../src/zk/zkcmd.h"
#include "zkcell/duration.h"
#include "zkmain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return 0;
    zkfuzz_setup();
    char *s = fuzz_cstring(data, size);
    if (s == NULL)
        return 0;

    static const int bare_units[] = {0, 1, 1000};
    for (size_t i = 0; i < sizeof bare_units / sizeof bare_units[0]; i++) {
        int ms = -7;
        if (zkc_parse_duration_ms(s, bare_units[i], &ms) == ZKC_OK)
            check(ms >= 0 && ms <= ZKC_DURATION_MAX_MS);
        else
            check(ms == -7);
    }

    zk_ctx z;
    memset(&z, 0, sizeof z);
    z.cmd = "fuzz";
    int ims = -7;
    zkfuzz_quiet(true); /* its usage message */
    int rc = zk_parse_duration_opt(&z, "--t", s, &ims);
    zkfuzz_quiet(false);
    check(rc == 0 ? ims >= 0 : rc == ZK_EXIT_USAGE && ims == -7);

    unsigned u = 7777;
    if (zk_parse_uint(s, 1, 65536, &u) == 0)
        check(u >= 1 && u <= 65536);
    else
        check(u == 7777);

    uint32_t perms = 0;
    if (zk_perms_parse(s, &perms) == 0)
        check((perms & ~(uint32_t)ZKC_PERM_ALL) == 0);
    free(s);
    return 0;
}
