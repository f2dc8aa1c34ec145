/*
 * conformance.h: one suite, written only against zkc_conn, run against
 * every implementation (libgit2 runs one refs suite over each backend).
 * A runner (run_fake.c, run_zk.c, run_meta.c, run_global.c) fills a backend and calls
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
    /* The read part only (zkc_conformance_run_read): a session that can
     * write to the server the reader reads from (NULL: open), and whether
     * the reader refuses writes, watches and ACLs (zkocc). */
    int (*open_writer)(void *ud, zkc_conn **ret_conn);
    int read_only;
    /* true: paths outside the cells ("/", "/zookeeper") are not one
     * server's (the cell router); the checks on them are skipped. */
    bool routed;
    /* true: a connection is a session on each of several servers (the
     * global namespace) or cells (the router), so zkc_conn_session_id()
     * does not name the owner of its ephemerals; only that they have
     * one is checked. */
    bool many_sessions;
    /* true: several quorums behind one namespace (global.h): a read made
     * while a write is half applied is ZKC_EINCONSISTENT, and the events
     * of two watches come from whichever quorum is first, in no order
     * between the watches. */
    bool quorums;
    /* Make the next operation c sends lose its reply after the server
     * applied it (the fake's ZKC_FAKE_LOSS_AFTER: on the cell's session
     * for the router, on every quorum for the global namespace).  NULL:
     * the lost-reply tests are skipped. */
    int (*lose_reply)(void *ud, zkc_conn *c);
} zkc_conformance_backend;

int zkc_conformance_run(const zkc_conformance_backend *b);

/*
 * The read part (conformance_read.c): get, children and exists as every
 * implementation must answer them, the nodes written beforehand by the
 * writer and each path read only once it is final (so a caching reader
 * such as zkocc is held to exact answers): data, stats equal to the
 * writer's, child lists, missing nodes, pipelined reads in order, close
 * with reads in flight and from a completion, and for read-only backends
 * ZKC_ENOTSUPPORTED for everything else.
 */
int zkc_conformance_run_read(const zkc_conformance_backend *b);

#endif
