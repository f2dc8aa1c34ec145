/*
 * zkcell/zkns.h: zkns service records (the seed's zkns package): the
 * record JSON stored in a node, its kinds, the DNS answers it gives, the
 * mapping from DNS names to node paths, and LookupName.
 *
 * The record.  A node holds one JSON object, byte-compatible with the
 * original:
 *
 *   {"Entries": [{"host": "h", "port": 0, "named_port_map": {"_http": 80},
 *                 "ipv4": "10.0.0.1"}, ...]}
 *
 * Keys are matched without regard to case, as Go's decoder did ("entries",
 * written by vt's own tools, works too; of two spellings of one key the
 * later wins); unknown keys are ignored; a missing or null value is the
 * zero value ("" or 0).  Added here, all optional and ignored by the
 * original: "ipv6" per entry (AAAA), "priority" and "weight" per entry
 * (SRV; 0 and 1 when absent), "ttl" on the object (seconds; overrides the
 * server's default).  Empty node data is "no record" (intermediate nodes
 * of the tree have none), not an error.
 *
 * Kinds, with the original's rules (a string field counts when non-empty):
 *   A      at least one entry, each with ipv4, without host or named ports
 *   AAAA   the same with ipv6 (an entry may have both: then both kinds)
 *   CNAME  exactly one entry, with host and without ipv4 or ipv6
 *   SRV    every entry has host, a non-empty named_port_map, no ipv4 or
 *          ipv6 (true of an empty list, as in the original)
 *
 * Names.  A DNS name under the served domain maps to a node under the
 * root with its labels reversed: with domain ".zkns.test.zk" and root
 * "/zk/test/zkns", "x.y.zkns.test.zk" is "/zk/test/zkns/y/x", and
 * "_http.srv.zkns.test.zk" asks for the named port "_http" of the SRV
 * record at "/zk/test/zkns/srv".  Names are case-insensitive: labels are
 * lowercased before they become path components.
 *
 * Threads: the pure functions may be called from any thread; the ones
 * that take a zkc_conn are blocking calls (conn.h rules: not from a
 * completion of that connection).  Results belong to the caller.
 */
#ifndef ZKC_ZKNS_H
#define ZKC_ZKNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest record data parsed, in bytes (the node data limit). */
#define ZKC_ZKNS_MAX_DATA ZKC_MAX_DATA

/* One named port of an entry. */
typedef struct zkc_zkns_port {
    char *name; /* "_http" */
    int port;   /* 0..65535 */
} zkc_zkns_port;

/* One entry.  Absent strings are NULL; absent numbers as noted. */
typedef struct zkc_zkns_addr {
    char *host;
    int port;              /* DEPRECATED in the original; 0: absent */
    size_t nports;
    zkc_zkns_port *ports;  /* named_port_map, in the order read */
    char *ipv4;
    char *ipv6;            /* zkcell's addition */
    int priority;          /* SRV priority; -1: absent (0) */
    int weight;            /* SRV weight; -1: absent (1) */
} zkc_zkns_addr;

/* A record.  Free with zkc_zkns_record_free. */
typedef struct zkc_zkns_record {
    size_t count;
    zkc_zkns_addr *v;
    int ttl;         /* seconds; -1: absent (the server's default) */
    int32_t version; /* the node's version when read by zkc_zkns_read; else -1 */
} zkc_zkns_record;

/* Record kinds, also the types of answers. */
typedef enum zkc_zkns_kind {
    ZKC_ZKNS_NONE = 0, /* not a valid record of any kind */
    ZKC_ZKNS_A = 1,
    ZKC_ZKNS_AAAA = 2,
    ZKC_ZKNS_CNAME = 3,
    ZKC_ZKNS_SRV = 4,
    ZKC_ZKNS_ANY = 255 /* a question for every kind */
} zkc_zkns_kind;

/* zkc_zkns_kind_name: "A", "AAAA", "CNAME", "SRV", "ANY", or NULL. */
const char *zkc_zkns_kind_name(zkc_zkns_kind k);

/*
 * zkc_zkns_parse: decode len bytes of node data.  Returns ZKC_OK with
 * *ret_rec (zkc_zkns_record_free), or ZKC_OK with *ret_rec NULL when the
 * data is empty (or only white space): no record.  ZKC_EBADDATA when it
 * is not JSON, not an object, or a field has the wrong type or an out of
 * range value (ports, priority, weight 0..65535; ttl 0..2^31-1), with
 * zkc_errmsg() saying which; ZKC_EBADARGUMENTS (NULL data with len > 0,
 * NULL ret_rec), ZKC_ENOMEM.
 */
int zkc_zkns_parse(const char *data, size_t len, zkc_zkns_record **ret_rec);

/* zkc_zkns_record_free: free; NULL is accepted. */
void zkc_zkns_record_free(zkc_zkns_record *rec);

/*
 * zkc_zkns_record_new: an empty record (no entries, ttl -1, version -1),
 * and zkc_zkns_record_add: append a copy of addr (strings and ports
 * copied).  Return NULL / ZKC_ENOMEM when out of memory; add also
 * ZKC_EBADARGUMENTS.
 */
zkc_zkns_record *zkc_zkns_record_new(void);
int zkc_zkns_record_add(zkc_zkns_record *rec, const zkc_zkns_addr *addr);

/*
 * zkc_zkns_format: the record as the original wrote it: Go's
 * json.MarshalIndent with two spaces, keys in the order Entries; host,
 * port (left out when 0), named_port_map (sorted by name; null when
 * empty), ipv4; then the additions, each only when set: ipv6, priority,
 * weight, and ttl on the object.  No trailing newline.  Returns ZKC_OK
 * with *ret_json (zkc_free), ZKC_EBADARGUMENTS or ZKC_ENOMEM.  The record
 * is not validated.
 */
int zkc_zkns_format(const zkc_zkns_record *rec, char **ret_json);

/* The kinds, as the header comment defines them.  NULL is false. */
bool zkc_zkns_is_a(const zkc_zkns_record *rec);
bool zkc_zkns_is_aaaa(const zkc_zkns_record *rec);
bool zkc_zkns_is_cname(const zkc_zkns_record *rec);
bool zkc_zkns_is_srv(const zkc_zkns_record *rec);
/* zkc_zkns_kind_of: the first of A, AAAA, CNAME, SRV that holds, else
 * ZKC_ZKNS_NONE. */
zkc_zkns_kind zkc_zkns_kind_of(const zkc_zkns_record *rec);

/*
 * zkc_zkns_validate: what the original's WriteAddrs demanded (a valid A,
 * CNAME or SRV record; AAAA too), and more: every ipv4 and ipv6 parses
 * as an address, every host is a DNS name (letters, digits, '-', '_',
 * '.', at most 253 bytes, no empty label, a last label not all digits),
 * every named port is a label
 * starting with '_', ports and priority/weight in range.  Returns ZKC_OK
 * or ZKC_EBADDATA with zkc_errmsg() naming the entry and the problem.
 */
int zkc_zkns_validate(const zkc_zkns_record *rec);

/*
 * zkc_zkns_read: ReadAddrs: get path and parse it.  Returns ZKC_OK with
 * *ret_rec (its version set from the node), ZKC_OK with *ret_rec NULL
 * for a node without data, ZKC_EBADDATA (message names the path), or the
 * get's error (ZKC_ENONODE, ...).
 */
int zkc_zkns_read(zkc_conn *c, const char *path, zkc_zkns_record **ret_rec);

/*
 * zkc_zkns_write: WriteAddrs: validate, format and write rec at path,
 * creating it (world:anyone, ZKC_PERM_FILE) and its missing parents, or
 * setting its data.  version >= 0 makes the set conditional on it (an
 * existing node only).  Returns ZKC_OK, ZKC_EBADDATA (invalid record),
 * or the write's error, with zkc_errmsg() naming the path.
 */
int zkc_zkns_write(zkc_conn *c, const char *path, const zkc_zkns_record *rec, int32_t version);

/*
 * A source of random numbers: a number in [0, bound) (bound > 0).  NULL
 * wherever one is taken means arc4random_uniform().  Tests inject their
 * own to get a known order.
 */
typedef uint32_t (*zkc_zkns_rand_fn)(uint32_t bound, void *userdata);

/* One answer: an address, a name, or an SRV target. */
typedef struct zkc_zkns_answer {
    zkc_zkns_kind type;  /* A, AAAA, CNAME or SRV */
    char *target;        /* address, or host name with a trailing '.' */
    int port;            /* SRV; else the entry's port (may be 0) */
    int priority;        /* SRV priority; 0 otherwise */
    int weight;          /* SRV weight; 0 otherwise */
} zkc_zkns_answer;

/* A list of answers.  Free with zkc_zkns_answers_free. */
typedef struct zkc_zkns_answers {
    size_t count;
    zkc_zkns_answer *v;
    size_t skipped; /* entries left out because their value is malformed */
} zkc_zkns_answers;

void zkc_zkns_answers_free(zkc_zkns_answers *a);

/*
 * zkc_zkns_answers_for: the answers rec gives to a question of type
 * qtype (A, AAAA, CNAME, SRV or ANY) for a name whose named-port label
 * is port (NULL when the name has none):
 *   - with a port: SRV or ANY only; rec must be SRV; one answer per entry
 *     that has that named port, in the record's order;
 *   - without: ANY gives all of A, AAAA and CNAME that the record is; A
 *     gives the A answers, else the CNAME (the original's fallback: an A
 *     question reports a CNAME); AAAA likewise; CNAME the CNAME; SRV
 *     nothing.  A and AAAA answers are shuffled (Fisher-Yates with rnd).
 * An entry whose value is malformed (an ipv4 that does not parse, a host
 * that is not a DNS name) is left out and counted in skipped.  rec NULL
 * gives no answers.  Returns ZKC_OK with *ret (zkc_zkns_answers_free),
 * ZKC_EBADARGUMENTS or ZKC_ENOMEM.
 */
int zkc_zkns_answers_for(const zkc_zkns_record *rec, zkc_zkns_kind qtype, const char *port,
                         zkc_zkns_rand_fn rnd, void *rnd_ud, zkc_zkns_answers **ret);

/*
 * zkc_zkns_srv_order: sort answers in place in RFC 2782 order: by
 * priority, then within each priority a weighted shuffle (entries of
 * weight 0 first, then each next one picked with a chance proportional
 * to its weight) with rnd.
 */
void zkc_zkns_srv_order(zkc_zkns_answers *a, zkc_zkns_rand_fn rnd, void *rnd_ud);

/*
 * zkc_zkns_lookup_name: LookupName.  name is "PATH" or "PATH:_PORT".
 * Without a port the record must be A (targets: each ipv4), AAAA (each
 * ipv6) or CNAME (the host), with the entry's port; with one it must be
 * SRV, and every entry must have that named port.  The result is in RFC
 * 2782 order (zkc_zkns_srv_order).  Returns ZKC_OK with *ret
 * (zkc_zkns_answers_free), ZKC_ENONODE (no node, or no record in it),
 * ZKC_EBADDATA (the record is not of the kind needed, or an entry lacks
 * the named port: "no such named port"), or the read's error, with
 * zkc_errmsg() naming the path.
 */
int zkc_zkns_lookup_name(zkc_conn *c, const char *name, zkc_zkns_rand_fn rnd, void *rnd_ud,
                         zkc_zkns_answers **ret);

/*
 * zkc_zkns_domain_normalize: the served domain as the original kept it:
 * a trailing '.' removed, a leading '.' added, lowercased (".zkns.test.zk").
 * Returns ZKC_OK with *ret (zkc_free), ZKC_EBADARGUMENTS for an empty or
 * malformed domain (empty labels, characters other than letters, digits,
 * '-' and '_'), ZKC_ENOMEM.
 */
int zkc_zkns_domain_normalize(const char *domain, char **ret);

/*
 * zkc_zkns_name_to_path: map the DNS name qname (a trailing '.' allowed,
 * any case) under domain (normalized or not) to a node under root.  The
 * domain's own name maps to root.  A first label starting with '_' is
 * the named port, returned in *ret_port (zkc_free; NULL when none), and
 * the other labels make the path.  Returns ZKC_OK with *ret_path
 * (zkc_free); ZKC_ENONODE when the name is outside the domain or has a
 * label that cannot be a node name here (empty, or a character other
 * than letters, digits, '-', '_' and '*'), with zkc_errmsg() saying why;
 * ZKC_EBADARGUMENTS, ZKC_ENOMEM.
 */
int zkc_zkns_name_to_path(const char *root, const char *domain, const char *qname,
                          char **ret_path, char **ret_port);

#ifdef __cplusplus
}
#endif
#endif
