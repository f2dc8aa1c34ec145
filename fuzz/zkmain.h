/*
 * zkmain.h: the zk command's main() as a function, for the fuzz targets
 * that drive zk (fuzz_zk_argv, fuzz_zk_restore, fuzz_zk_unzip,
 * fuzz_zk_zipnames).  See zkmain.c.
 */
#ifndef FUZZ_ZKMAIN_H
#define FUZZ_ZKMAIN_H

#include <stdbool.h>
#include <stddef.h>

/* Once per process: stdin and stdout from and to /dev/null (stderr too
 * while zk runs, unless ZK_FUZZ_VERBOSE is set; sanitizer reports still
 * reach the real stderr), a private working directory made
 * under $TMPDIR (the current directory during zkfuzz_run()), and the
 * fake tree written to a file beside it.  Returns the directory
 * (absolute).  All of it is removed at exit. */
const char *zkfuzz_setup(void);
/* stderr to /dev/null (on) or back (unless ZK_FUZZ_VERBOSE is set). */
void zkfuzz_quiet(bool on);
/* The fake tree file zkfuzz_setup() wrote. */
const char *zkfuzz_fake(void);
/* Run zk with argv (argv[0] "zk", NULL-terminated) and return its exit
 * status.  The caller puts "--fake FILE" in argv. */
int zkfuzz_run(int argc, char **argv);
/* Remove every file in the working directory (what a run wrote). */
void zkfuzz_clean(void);
/* Write size bytes to name in the working directory (a name starting
 * with '.' is a suffix to the directory's own name instead, a file that
 * zkfuzz_clean() keeps); returns its absolute path (static buffer). */
const char *zkfuzz_write(const char *name, const void *data, size_t size);

#endif
