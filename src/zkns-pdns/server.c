/*
 * server.c: zkns-pdns's answers to PowerDNS questions (server.h).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server.h"
#include "zkcell/path.h"

struct pdns_server {
    zkns_store *store;
    char *domain; /* ".zkns.test.zk" */
    char *root;
    char *soa_host;
    char *banner;
    unsigned ttl;
    int abi;
    _Atomic uint64_t requests, errors, empty, fails, handshakes, axfrs, stale;
};

pdns_server *pdns_server_new(zkns_store *store, const pdns_server_opts *o)
{
    pdns_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->store = store;
    s->domain = strdup(o->domain);
    s->root = strdup(o->root);
    s->soa_host = strdup(o->soa_host);
    s->banner = strdup(o->banner);
    s->ttl = o->ttl;
    if (s->domain == NULL || s->root == NULL || s->soa_host == NULL || s->banner == NULL) {
        pdns_server_free(s);
        return NULL;
    }
    return s;
}

void pdns_server_free(pdns_server *s)
{
    if (s == NULL)
        return;
    free(s->domain);
    free(s->root);
    free(s->soa_host);
    free(s->banner);
    free(s);
}

int pdns_server_abi(const pdns_server *s)
{
    return s->abi;
}

void pdns_server_counts(const pdns_server *s, pdns_counts *out)
{
    out->requests = atomic_load(&s->requests);
    out->errors = atomic_load(&s->errors);
    out->empty = atomic_load(&s->empty);
    out->fails = atomic_load(&s->fails);
    out->handshakes = atomic_load(&s->handshakes);
    out->axfrs = atomic_load(&s->axfrs);
    out->stale = atomic_load(&s->stale);
}

static void fail(pdns_server *s, pdns_out *out)
{
    atomic_fetch_add(&s->fails, 1);
    pdns_put_fail(out);
}

void pdns_server_long_line(pdns_server *s, pdns_out *out)
{
    atomic_fetch_add(&s->errors, 1);
    fail(s, out);
}

/* qname (a trailing '.' ignored) is the domain itself. */
static bool is_apex(const pdns_server *s, const char *qname)
{
    size_t n = strlen(qname), dn = strlen(s->domain) - 1;
    if (n > 0 && qname[n - 1] == '.')
        n--;
    return n == dn && strncasecmp(qname, s->domain + 1, n) == 0;
}

static zkc_zkns_kind qtype_kind(const char *t)
{
    static const struct {
        const char *name;
        zkc_zkns_kind k;
    } map[] = {{"ANY", ZKC_ZKNS_ANY}, {"A", ZKC_ZKNS_A},     {"AAAA", ZKC_ZKNS_AAAA},
               {"CNAME", ZKC_ZKNS_CNAME}, {"SRV", ZKC_ZKNS_SRV}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(t, map[i].name) == 0)
            return map[i].k;
    return ZKC_ZKNS_NONE;
}

static void put_soa(pdns_server *s, pdns_out *out, const char *qname, const char *id)
{
    char content[600];
    snprintf(content, sizeof content, "%s. hostmaster.%s. 0 1800 600 3600 300", s->soa_host,
             s->soa_host);
    pdns_put_data(out, s->abi, qname, "SOA", s->ttl, id, content);
}

/* The DATA lines of the answers rec gives; returns how many. */
static size_t put_answers(pdns_server *s, pdns_out *out, const char *qname, const char *id,
                          const zkc_zkns_record *rec, zkc_zkns_kind qtype, const char *port)
{
    zkc_zkns_answers *a = NULL;
    if (zkc_zkns_answers_for(rec, qtype, port, NULL, NULL, &a) != ZKC_OK) {
        out->oom = true;
        return 0;
    }
    unsigned ttl = rec != NULL && rec->ttl >= 0 ? (unsigned)rec->ttl : s->ttl;
    for (size_t i = 0; i < a->count; i++) {
        const zkc_zkns_answer *x = &a->v[i];
        char content[400];
        if (x->type == ZKC_ZKNS_SRV)
            snprintf(content, sizeof content, "%d\t%d %d %s", x->priority, x->weight, x->port,
                     x->target);
        else
            snprintf(content, sizeof content, "%s", x->target);
        pdns_put_data(out, s->abi, qname, zkc_zkns_kind_name(x->type), ttl, id, content);
    }
    if (a->skipped > 0)
        pdns_put_log(out, "zkns-pdns: %s: %zu malformed entries left out", qname, a->skipped);
    size_t n = a->count;
    zkc_zkns_answers_free(a);
    return n;
}

/* Read the record at path for qname; LOG what is worth knowing.  Returns
 * ZKC_OK (rec may be NULL) or an error after which the answer is FAIL. */
static int get_record(pdns_server *s, pdns_out *out, const char *qname, const char *path,
                      const zkc_zkns_record **rec)
{
    char err[512];
    unsigned flags = 0;
    int rc = zkns_store_get(s->store, path, rec, &flags, err, sizeof err);
    if (rc == ZKC_EBADDATA) {
        atomic_fetch_add(&s->errors, 1);
        pdns_put_log(out, "zkns-pdns: %s: bad record: %s", qname, err);
        *rec = NULL;
        return ZKC_OK;
    }
    if (rc != ZKC_OK) {
        pdns_put_log(out, "zkns-pdns: %s: cannot read %s", qname, err);
        return rc;
    }
    if (flags & ZKNS_STALE) {
        atomic_fetch_add(&s->stale, 1);
        pdns_put_log(out, "zkns-pdns: %s: stale answer (%s)", qname, err);
    }
    return ZKC_OK;
}

static void answer_q(pdns_server *s, const pdns_question *q, pdns_out *out)
{
    atomic_fetch_add(&s->requests, 1);
    size_t n = 0;
    bool apex = is_apex(s, q->qname);
    zkc_zkns_kind k = qtype_kind(q->qtype);
    bool soa = strcasecmp(q->qtype, "SOA") == 0;
    if (strcasecmp(q->qclass, "IN") != 0 || (k == ZKC_ZKNS_NONE && !soa))
        goto done;
    if (apex && (soa || k == ZKC_ZKNS_ANY)) {
        put_soa(s, out, q->qname, q->id);
        n++;
    }
    if (soa)
        goto done;
    char *path = NULL, *port = NULL;
    if (zkc_zkns_name_to_path(s->root, s->domain, q->qname, &path, &port) != ZKC_OK)
        goto done; /* outside the domain, or no node can have this name */
    const zkc_zkns_record *rec = NULL;
    int rc = get_record(s, out, q->qname, path, &rec);
    if (rc != ZKC_OK) {
        free(path);
        free(port);
        atomic_fetch_add(&s->errors, 1);
        fail(s, out);
        return;
    }
    n += put_answers(s, out, q->qname, q->id, rec, k, port);
    free(path);
    free(port);
done:
    if (out->oom) {
        pdns_out_reset(out);
        atomic_fetch_add(&s->errors, 1);
        fail(s, out);
        return;
    }
    if (n == 0)
        atomic_fetch_add(&s->empty, 1);
    pdns_put_end(out);
}

/* ---- AXFR ---- */

/* The DNS name of a node relative to the root ("y/x" -> "x.y" + domain),
 * or NULL when its components cannot be labels that map back to it. */
static char *node_name(pdns_server *s, const char *rel)
{
    size_t n = strlen(rel), dn = strlen(s->domain);
    char *name = malloc(n + dn + 1);
    if (name == NULL)
        return NULL;
    size_t o = 0, end = n;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && rel[start - 1] != '/')
            start--;
        if (o > 0)
            name[o++] = '.';
        memcpy(name + o, rel + start, end - start);
        o += end - start;
        end = start > 0 ? start - 1 : 0;
    }
    memcpy(name + o, s->domain, dn + 1);
    /* Keep only names that map back to this very node. */
    char *path = NULL, *port = NULL, *want = zkc_path_join(s->root, rel);
    int rc = zkc_zkns_name_to_path(s->root, s->domain, name, &path, &port);
    bool ok = rc == ZKC_OK && port == NULL && want != NULL && strcmp(path, want) == 0;
    free(path);
    free(port);
    free(want);
    if (!ok) {
        free(name);
        return NULL;
    }
    return name;
}

/* Every record of one node: its addresses or name, and for an SRV
 * record one SRV set per named port. */
static void axfr_node(pdns_server *s, pdns_out *out, const char *name, const char *path,
                      const char *id)
{
    const zkc_zkns_record *rec = NULL;
    if (get_record(s, out, name, path, &rec) != ZKC_OK || rec == NULL)
        return;
    put_answers(s, out, name, id, rec, ZKC_ZKNS_ANY, NULL);
    if (!zkc_zkns_is_srv(rec))
        return;
    /* the distinct named ports, in first-seen order */
    for (size_t i = 0; i < rec->count; i++) {
        for (size_t j = 0; j < rec->v[i].nports; j++) {
            const char *p = rec->v[i].ports[j].name;
            bool seen = false;
            for (size_t a = 0; a <= i && !seen; a++)
                for (size_t b = 0; b < rec->v[a].nports && !seen; b++)
                    if ((a < i || b < j) && strcmp(rec->v[a].ports[b].name, p) == 0)
                        seen = true;
            if (seen)
                continue;
            size_t len = strlen(p) + strlen(name) + 2;
            char *srv = malloc(len);
            if (srv == NULL) {
                out->oom = true;
                return;
            }
            snprintf(srv, len, "%s.%s", p, name);
            char *tp = NULL, *tport = NULL;
            /* only names that map back to this node and port */
            if (zkc_zkns_name_to_path(s->root, s->domain, srv, &tp, &tport) == ZKC_OK &&
                strcmp(tp, path) == 0 && tport != NULL && strcmp(tport, p) == 0)
                put_answers(s, out, srv, id, rec, ZKC_ZKNS_SRV, p);
            free(tp);
            free(tport);
            free(srv);
        }
    }
}

static void answer_axfr(pdns_server *s, const pdns_question *q, pdns_out *out)
{
    atomic_fetch_add(&s->axfrs, 1);
    if (q->zone != NULL && !is_apex(s, q->zone)) {
        pdns_put_end(out);
        return;
    }
    zkc_strings *kids = NULL;
    int rc = zkns_store_list(s->store, s->root, &kids);
    if (rc == ZKC_ENONODE) /* no root yet: an empty zone */
        rc = (kids = calloc(1, sizeof *kids)) != NULL ? ZKC_OK : ZKC_ENOMEM;
    if (rc != ZKC_OK) {
        atomic_fetch_add(&s->errors, 1);
        pdns_put_log(out, "zkns-pdns: AXFR: cannot list %s: %s", s->root, zkc_strerror(rc));
        fail(s, out);
        return;
    }
    const char *apex = s->domain + 1;
    put_soa(s, out, apex, q->id);
    axfr_node(s, out, apex, s->root, q->id);
    for (size_t i = 0; i < kids->count && !out->oom; i++) {
        char *name = node_name(s, kids->v[i]);
        char *path = zkc_path_join(s->root, kids->v[i]);
        if (name != NULL && path != NULL)
            axfr_node(s, out, name, path, q->id);
        free(name);
        free(path);
    }
    zkc_strings_free(kids);
    if (out->oom) {
        pdns_out_reset(out);
        atomic_fetch_add(&s->errors, 1);
        fail(s, out);
        return;
    }
    pdns_put_end(out);
}

/* ---- CMD (ABI 5: pdnsutil backend-cmd) ---- */

static void answer_cmd(pdns_server *s, const pdns_question *q, pdns_out *out)
{
    char line[256];
    if (strcmp(q->cmd, "stats") == 0) {
        pdns_counts c;
        zkns_store_counts sc;
        size_t entries = 0;
        pdns_server_counts(s, &c);
        zkns_store_counts_get(s->store, &sc, &entries);
        snprintf(line, sizeof line,
                 "requests %llu errors %llu empty %llu fails %llu axfrs %llu stale %llu",
                 (unsigned long long)c.requests, (unsigned long long)c.errors,
                 (unsigned long long)c.empty, (unsigned long long)c.fails,
                 (unsigned long long)c.axfrs, (unsigned long long)c.stale);
        pdns_put_text(out, line);
        snprintf(line, sizeof line, "cache entries %zu hits %llu misses %llu failed-reads %llu",
                 entries, (unsigned long long)sc.hits, (unsigned long long)sc.misses,
                 (unsigned long long)sc.reads_failed);
        pdns_put_text(out, line);
    } else if (strcmp(q->cmd, "flush") == 0) {
        zkns_store_flush(s->store);
        pdns_put_text(out, "cache flushed");
    } else {
        snprintf(line, sizeof line, "unknown command '%.80s'; commands: stats, flush", q->cmd);
        pdns_put_text(out, line);
    }
    pdns_put_end(out);
}

void pdns_server_line(pdns_server *s, char *line, size_t len, pdns_out *out)
{
    pdns_question q;
    pdns_parse(line, len, s->abi, &q);
    switch (q.kind) {
    case PDNS_HELO:
        s->abi = q.abi;
        atomic_fetch_add(&s->handshakes, 1);
        pdns_put_ok(out, s->banner);
        return;
    case PDNS_Q:
        answer_q(s, &q, out);
        return;
    case PDNS_AXFR:
        answer_axfr(s, &q, out);
        return;
    case PDNS_CMD:
        answer_cmd(s, &q, out);
        return;
    case PDNS_PING:
        pdns_put_end(out);
        return;
    case PDNS_BAD:
        break;
    }
    atomic_fetch_add(&s->errors, 1);
    fail(s, out);
}
