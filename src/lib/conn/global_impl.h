/*
 * global_impl.h: what the global namespace (conn_global.c) shares with
 * its diff and repair (global_diff.c).  Not installed.
 */
#ifndef ZKC_GLOBAL_IMPL_H
#define ZKC_GLOBAL_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "zkcell/conn.h"

/* A growing text buffer for messages that name every quorum; p is
 * malloc'd (NULL when nothing was written or memory ran out). */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

/* Append to b (best effort: out of memory leaves b as it was). */
void gl_sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether two ACL lists hold the same entries in any order (both are
 * sorted in place; NULL is empty). */
bool gl_acl_equal_sorted(zkc_acl_list *a, zkc_acl_list *b);

#endif
