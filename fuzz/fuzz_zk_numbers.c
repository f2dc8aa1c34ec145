/*
 * fuzz_zk_numbers.c: libFuzzer target for the zk command's parsers of
 * durations, numbers and permissions (src/zk/out.c): zk_parse_duration,
 * zk_parse_duration_opt, zk_parse_uint and zk_perms_parse, with what
 * their comments promise checked.  The input is one string (up to the
 * first NUL).
 *
 * fuzz-sources: fuzz/zkmain.c src/zk/out.c src/zk/paths.c src/zk/pipe.c src/zk/cmd_read.c src/zk/cmd_write.c src/zk/cmd_wait.c src/zk/cmd_archive.c src/zk/child.c src/zk/cmd_zkns.c src/zk/cmd_global.c src/zk/signals.c src/zk/conn.c src/zk/help.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/zk/zkcmd.h"
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
    char *s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    int64_t ms = -7;
    if (zk_parse_duration(s, &ms) == 0)
        check(ms >= 0 && ms <= (int64_t)9e15);
    else
        check(ms == -7);

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
