/*
 * server.h: the answers of zkns-pdns: one protocol line in, its answer
 * lines out.  The handshake state, the served domain and root, the TTL,
 * SOA, ANY, A, AAAA, CNAME, SRV, AXFR and CMD, and the counters.  The
 * I/O, the command line and the metrics endpoint are main.c's.
 *
 * Every line gets exactly one answer (OK or FAIL for a handshake line;
 * END, FAIL, or lines ending in END for a question), so the stream stays
 * in step whatever comes in.  Names outside the domain, unknown types and
 * classes, and missing nodes are empty answers (END: PowerDNS then says
 * REFUSED or NXDOMAIN); a read that fails with no record to fall back on
 * is FAIL (SERVFAIL), preceded by a LOG line saying why.
 *
 * Threads: one thread drives a server; the counters may be read from any.
 */
#ifndef ZKNS_PDNS_SERVER_H
#define ZKNS_PDNS_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "pdns_line.h"
#include "store.h"

typedef struct pdns_server_opts {
    const char *domain;   /* normalized: ".zkns.test.zk" */
    const char *root;     /* "/zk/test/zkns" */
    unsigned ttl;         /* default TTL of answers */
    const char *soa_host; /* the SOA's primary name, without a trailing dot */
    const char *banner;   /* the handshake's banner */
} pdns_server_opts;

typedef struct pdns_server pdns_server;

/* Counters (the original's PdnsRequestCount, PdnsErrorCount,
 * PdnsEmptyCount, plus FAILs written and handshakes). */
typedef struct pdns_counts {
    uint64_t requests, errors, empty, fails, handshakes, axfrs, stale;
} pdns_counts;

/* opts strings are copied.  NULL when out of memory. */
pdns_server *pdns_server_new(zkns_store *store, const pdns_server_opts *opts);
void pdns_server_free(pdns_server *s);

/* Answer one line (len bytes without its '\n'; line[len] writable). */
void pdns_server_line(pdns_server *s, char *line, size_t len, pdns_out *out);
/* Answer a line that was too long to read (skipped whole): FAIL. */
void pdns_server_long_line(pdns_server *s, pdns_out *out);
/* The ABI agreed, 0 before the handshake. */
int pdns_server_abi(const pdns_server *s);

void pdns_server_counts(const pdns_server *s, pdns_counts *out);

#endif
