/*
 * zkcell/path.h: ZooKeeper path rules and small path helpers.
 *
 * Threads: pure functions, safe from any thread.
 */
#ifndef ZKC_PATH_H
#define ZKC_PATH_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest path zkcell accepts, in bytes. */
#define ZKC_MAX_PATH 4096

/*
 * zkc_path_validate: ZKC_OK when path is a valid ZooKeeper node path
 * (ZooKeeper's own rules: absolute, no empty, "." or ".." component, no
 * trailing '/' except for "/", no control characters or characters the
 * server rejects, at most ZKC_MAX_PATH bytes, valid UTF-8), else
 * ZKC_EBADPATH.  With sequential true, a trailing '/' is allowed, since
 * the server appends the sequence number.
 */
int zkc_path_validate(const char *path, bool sequential);

/*
 * zkc_path_join: dir + "/" + name, without a doubled '/' when dir is "/".
 * Returns a malloc'd string (zkc_free) or NULL when out of memory.
 */
char *zkc_path_join(const char *dir, const char *name);

/*
 * zkc_path_dir: the parent of path ("/a/b" -> "/a", "/a" -> "/"), in a
 * malloc'd string, or NULL when out of memory.
 */
char *zkc_path_dir(const char *path);

/* zkc_path_base: the last component, a pointer into path ("/" -> ""). */
const char *zkc_path_base(const char *path);

#ifdef __cplusplus
}
#endif
#endif
