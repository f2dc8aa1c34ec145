/*
 * conformance.h: one suite, written only against zkc_conn, run against
 * every implementation (libgit2 runs one refs suite over each backend).
 * A runner (run_fake.c, run_zk.c, ...) fills a backend and calls
 * zkc_conformance_run(); it prints TAP and returns the failure count.
 */
#ifndef ZKC_CONFORMANCE_H
#define ZKC_CONFORMANCE_H

#include <zkcell/zkcell.h>

typedef struct zkc_conformance_backend {
    const char *name;
    /* Open a new session on the same server (or tree).  Required. */
    int (*open)(void *ud, zkc_conn **ret_conn);
    /* Expire the session of c from outside.  NULL: expiry tests skipped. */
    int (*expire)(void *ud, zkc_conn *c);
    void *ud;
    /* A folder, created if missing, under which every test works. */
    const char *root;
} zkc_conformance_backend;

int zkc_conformance_run(const zkc_conformance_backend *b);

#endif
