/*
 * zkns.c: zkns service records (include/zkcell/zkns.h): the record JSON
 * read and written as the original did (through jansson), the record
 * kinds, the DNS answers a record gives, RFC 2782 ordering, LookupName
 * and the DNS name to node path mapping.
 *
 * What it leaves to others: the PowerDNS pipe protocol, SOA records and
 * caching (src/zkns-pdns/), reads and writes themselves (any zkc_conn).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "zkcell/path.h"
#include "zkcell/sys/conn_impl.h"
#include "zkcell/util.h"
#include "zkcell/zkns.h"

#define MAX_PORT 65535
#define MAX_DNS_NAME 253

const char *zkc_zkns_kind_name(zkc_zkns_kind k)
{
    switch (k) {
    case ZKC_ZKNS_A:
        return "A";
    case ZKC_ZKNS_AAAA:
        return "AAAA";
    case ZKC_ZKNS_CNAME:
        return "CNAME";
    case ZKC_ZKNS_SRV:
        return "SRV";
    case ZKC_ZKNS_ANY:
        return "ANY";
    case ZKC_ZKNS_NONE:
        break;
    }
    return NULL;
}

/* ---- records ---- */

static void addr_clear(zkc_zkns_addr *a)
{
    free(a->host);
    free(a->ipv4);
    free(a->ipv6);
    for (size_t i = 0; i < a->nports; i++)
        free(a->ports[i].name);
    free(a->ports);
    memset(a, 0, sizeof *a);
}

void zkc_zkns_record_free(zkc_zkns_record *rec)
{
    if (rec == NULL)
        return;
    for (size_t i = 0; i < rec->count; i++)
        addr_clear(&rec->v[i]);
    free(rec->v);
    free(rec);
}

zkc_zkns_record *zkc_zkns_record_new(void)
{
    zkc_zkns_record *r = calloc(1, sizeof *r);
    if (r != NULL) {
        r->ttl = -1;
        r->version = -1;
    }
    return r;
}

static int dup_opt(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL)
        return ZKC_OK;
    *out = strdup(s);
    return *out == NULL ? ZKC_ENOMEM : ZKC_OK;
}

int zkc_zkns_record_add(zkc_zkns_record *rec, const zkc_zkns_addr *addr)
{
    if (rec == NULL || addr == NULL || (addr->nports > 0 && addr->ports == NULL))
        return ZKC_EBADARGUMENTS;
    zkc_zkns_addr *nv = realloc(rec->v, (rec->count + 1) * sizeof *nv);
    if (nv == NULL)
        return ZKC_ENOMEM;
    rec->v = nv;
    zkc_zkns_addr *a = &nv[rec->count];
    memset(a, 0, sizeof *a);
    a->port = addr->port;
    a->priority = addr->priority;
    a->weight = addr->weight;
    int rc = dup_opt(addr->host, &a->host);
    if (rc == ZKC_OK)
        rc = dup_opt(addr->ipv4, &a->ipv4);
    if (rc == ZKC_OK)
        rc = dup_opt(addr->ipv6, &a->ipv6);
    if (rc == ZKC_OK && addr->nports > 0) {
        a->ports = calloc(addr->nports, sizeof *a->ports);
        if (a->ports == NULL)
            rc = ZKC_ENOMEM;
        for (size_t i = 0; rc == ZKC_OK && i < addr->nports; i++) {
            a->ports[i].port = addr->ports[i].port;
            rc = dup_opt(addr->ports[i].name, &a->ports[i].name);
            a->nports = i + 1;
        }
    }
    if (rc != ZKC_OK) {
        addr_clear(a);
        return rc;
    }
    rec->count++;
    return ZKC_OK;
}

/* ---- parsing ---- */

/* An int field: null is 0 (absent: *out untouched by the caller's
 * default), an integer within [lo, hi], else an error. */
static int get_int(json_t *v, const char *what, size_t entry, long long lo, long long hi,
                   int *out, bool *present)
{
    *present = false;
    if (json_is_null(v))
        return ZKC_OK;
    if (!json_is_integer(v)) {
        zkc_impl_set_errmsg("zkns record: entry %zu: %s is not an integer", entry, what);
        return ZKC_EBADDATA;
    }
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi) {
        zkc_impl_set_errmsg("zkns record: entry %zu: %s %lld out of range %lld..%lld", entry, what,
                        (long long)n, lo, hi);
        return ZKC_EBADDATA;
    }
    *out = (int)n;
    *present = true;
    return ZKC_OK;
}

/* A string field: null or "" is absent (NULL). */
static int get_str(json_t *v, const char *what, size_t entry, char **out)
{
    free(*out);
    *out = NULL;
    if (json_is_null(v))
        return ZKC_OK;
    if (!json_is_string(v)) {
        zkc_impl_set_errmsg("zkns record: entry %zu: %s is not a string", entry, what);
        return ZKC_EBADDATA;
    }
    if (json_string_length(v) == 0)
        return ZKC_OK;
    *out = strdup(json_string_value(v));
    return *out == NULL ? ZKC_ENOMEM : ZKC_OK;
}

static int get_ports(json_t *v, size_t entry, zkc_zkns_addr *a)
{
    for (size_t i = 0; i < a->nports; i++)
        free(a->ports[i].name);
    free(a->ports);
    a->ports = NULL;
    a->nports = 0;
    if (json_is_null(v))
        return ZKC_OK;
    if (!json_is_object(v)) {
        zkc_impl_set_errmsg("zkns record: entry %zu: named_port_map is not an object", entry);
        return ZKC_EBADDATA;
    }
    size_t n = json_object_size(v);
    if (n == 0)
        return ZKC_OK;
    a->ports = calloc(n, sizeof *a->ports);
    if (a->ports == NULL)
        return ZKC_ENOMEM;
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        zkc_zkns_port *p = &a->ports[a->nports];
        bool present;
        int rc = get_int(val, "a named port", entry, 0, MAX_PORT, &p->port, &present);
        if (rc != ZKC_OK)
            return rc;
        if (!present) /* null: Go stores 0 */
            p->port = 0;
        p->name = strdup(key);
        if (p->name == NULL)
            return ZKC_ENOMEM;
        a->nports++;
    }
    return ZKC_OK;
}

static int parse_entry(json_t *o, size_t entry, zkc_zkns_addr *a)
{
    a->priority = -1;
    a->weight = -1;
    if (json_is_null(o))
        return ZKC_OK;
    if (!json_is_object(o)) {
        zkc_impl_set_errmsg("zkns record: entry %zu is not an object", entry);
        return ZKC_EBADDATA;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        int rc = ZKC_OK;
        bool present;
        if (strcasecmp(key, "host") == 0) {
            rc = get_str(v, "host", entry, &a->host);
        } else if (strcasecmp(key, "port") == 0) {
            a->port = 0;
            rc = get_int(v, "port", entry, 0, MAX_PORT, &a->port, &present);
        } else if (strcasecmp(key, "named_port_map") == 0) {
            rc = get_ports(v, entry, a);
        } else if (strcasecmp(key, "ipv4") == 0) {
            rc = get_str(v, "ipv4", entry, &a->ipv4);
        } else if (strcasecmp(key, "ipv6") == 0) {
            rc = get_str(v, "ipv6", entry, &a->ipv6);
        } else if (strcasecmp(key, "priority") == 0) {
            a->priority = -1;
            rc = get_int(v, "priority", entry, 0, MAX_PORT, &a->priority, &present);
        } else if (strcasecmp(key, "weight") == 0) {
            a->weight = -1;
            rc = get_int(v, "weight", entry, 0, MAX_PORT, &a->weight, &present);
        }
        if (rc != ZKC_OK)
            return rc;
    }
    return ZKC_OK;
}

static bool only_space(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    return true;
}

int zkc_zkns_parse(const char *data, size_t len, zkc_zkns_record **ret_rec)
{
    if (ret_rec == NULL || (data == NULL && len > 0))
        return ZKC_EBADARGUMENTS;
    *ret_rec = NULL;
    if (len == 0 || only_space(data, len))
        return ZKC_OK;
    if (len > ZKC_ZKNS_MAX_DATA) {
        zkc_impl_set_errmsg("zkns record: %zu bytes, more than %d", len, ZKC_ZKNS_MAX_DATA);
        return ZKC_EBADDATA;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
    if (doc == NULL) {
        zkc_impl_set_errmsg("zkns record: not JSON: %s (line %d)", jerr.text, jerr.line);
        return ZKC_EBADDATA;
    }
    int rc = ZKC_OK;
    zkc_zkns_record *rec = zkc_zkns_record_new();
    if (rec == NULL) {
        json_decref(doc);
        return ZKC_ENOMEM;
    }
    if (!json_is_object(doc) && !json_is_null(doc)) {
        zkc_impl_set_errmsg("zkns record: not a JSON object");
        rc = ZKC_EBADDATA;
    }
    /* The entries array: the last key spelled "entries" in any case. */
    json_t *entries = NULL;
    const char *key;
    json_t *v;
    if (rc == ZKC_OK && json_is_object(doc)) {
        json_object_foreach(doc, key, v) {
            bool present;
            if (strcasecmp(key, "entries") == 0) {
                entries = v;
            } else if (strcasecmp(key, "ttl") == 0) {
                rec->ttl = -1;
                rc = get_int(v, "ttl", 0, 0, INT_MAX, &rec->ttl, &present);
                if (rc != ZKC_OK)
                    break;
            }
        }
    }
    if (rc == ZKC_OK && entries != NULL && !json_is_null(entries) && !json_is_array(entries)) {
        zkc_impl_set_errmsg("zkns record: Entries is not an array");
        rc = ZKC_EBADDATA;
    }
    size_t n = rc == ZKC_OK && json_is_array(entries) ? json_array_size(entries) : 0;
    if (n > 0) {
        rec->v = calloc(n, sizeof *rec->v);
        if (rec->v == NULL)
            rc = ZKC_ENOMEM;
    }
    for (size_t i = 0; rc == ZKC_OK && i < n; i++) {
        rc = parse_entry(json_array_get(entries, i), i, &rec->v[i]);
        rec->count = i + 1;
    }
    json_decref(doc);
    if (rc != ZKC_OK) {
        zkc_zkns_record_free(rec);
        return rc;
    }
    *ret_rec = rec;
    return ZKC_OK;
}

/* ---- formatting ---- */

static int port_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static json_t *entry_json(const zkc_zkns_addr *a)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int bad = json_object_set_new(o, "host", json_string(a->host != NULL ? a->host : ""));
    if (a->port != 0)
        bad |= json_object_set_new(o, "port", json_integer(a->port));
    if (a->nports == 0) {
        bad |= json_object_set_new(o, "named_port_map", json_null());
    } else {
        /* Go writes map keys sorted. */
        const char **names = calloc(a->nports, sizeof *names);
        json_t *m = json_object();
        if (names == NULL || m == NULL) {
            free(names);
            json_decref(m);
            json_decref(o);
            return NULL;
        }
        for (size_t i = 0; i < a->nports; i++)
            names[i] = a->ports[i].name != NULL ? a->ports[i].name : "";
        qsort(names, a->nports, sizeof *names, port_cmp);
        for (size_t i = 0; i < a->nports; i++)
            for (size_t j = 0; j < a->nports; j++)
                if (strcmp(a->ports[j].name != NULL ? a->ports[j].name : "", names[i]) == 0)
                    bad |= json_object_set_new(m, names[i], json_integer(a->ports[j].port));
        free(names);
        bad |= json_object_set_new(o, "named_port_map", m);
    }
    bad |= json_object_set_new(o, "ipv4", json_string(a->ipv4 != NULL ? a->ipv4 : ""));
    if (a->ipv6 != NULL)
        bad |= json_object_set_new(o, "ipv6", json_string(a->ipv6));
    if (a->priority >= 0)
        bad |= json_object_set_new(o, "priority", json_integer(a->priority));
    if (a->weight >= 0)
        bad |= json_object_set_new(o, "weight", json_integer(a->weight));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int zkc_zkns_format(const zkc_zkns_record *rec, char **ret_json)
{
    if (rec == NULL || ret_json == NULL)
        return ZKC_EBADARGUMENTS;
    *ret_json = NULL;
    json_t *doc = json_object(), *arr = json_array();
    int bad = doc == NULL || arr == NULL;
    for (size_t i = 0; !bad && i < rec->count; i++) {
        json_t *e = entry_json(&rec->v[i]);
        bad = e == NULL || json_array_append_new(arr, e) != 0;
    }
    if (!bad) {
        bad = json_object_set_new(doc, "Entries", arr) != 0;
        arr = NULL;
    }
    if (!bad && rec->ttl >= 0)
        bad = json_object_set_new(doc, "ttl", json_integer(rec->ttl)) != 0;
    char *s = bad ? NULL : json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(arr);
    json_decref(doc);
    if (s == NULL)
        return ZKC_ENOMEM;
    *ret_json = s;
    return ZKC_OK;
}

/* ---- kinds ---- */

static bool addr_only(const zkc_zkns_record *rec, bool v6)
{
    if (rec == NULL || rec->count == 0)
        return false;
    for (size_t i = 0; i < rec->count; i++) {
        const zkc_zkns_addr *a = &rec->v[i];
        if ((v6 ? a->ipv6 : a->ipv4) == NULL || a->host != NULL || a->nports > 0)
            return false;
    }
    return true;
}

bool zkc_zkns_is_a(const zkc_zkns_record *rec)
{
    return addr_only(rec, false);
}

bool zkc_zkns_is_aaaa(const zkc_zkns_record *rec)
{
    return addr_only(rec, true);
}

bool zkc_zkns_is_cname(const zkc_zkns_record *rec)
{
    return rec != NULL && rec->count == 1 && rec->v[0].host != NULL && rec->v[0].ipv4 == NULL &&
           rec->v[0].ipv6 == NULL;
}

bool zkc_zkns_is_srv(const zkc_zkns_record *rec)
{
    if (rec == NULL)
        return false;
    for (size_t i = 0; i < rec->count; i++) {
        const zkc_zkns_addr *a = &rec->v[i];
        if (a->host == NULL || a->ipv4 != NULL || a->ipv6 != NULL || a->nports == 0)
            return false;
    }
    return true;
}

zkc_zkns_kind zkc_zkns_kind_of(const zkc_zkns_record *rec)
{
    if (zkc_zkns_is_a(rec))
        return ZKC_ZKNS_A;
    if (zkc_zkns_is_aaaa(rec))
        return ZKC_ZKNS_AAAA;
    if (zkc_zkns_is_cname(rec))
        return ZKC_ZKNS_CNAME;
    if (zkc_zkns_is_srv(rec))
        return ZKC_ZKNS_SRV;
    return ZKC_ZKNS_NONE;
}

/* ---- validation ---- */

static bool label_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_';
}

/* A host name: labels of letters, digits, '-' and '_', 1..63 bytes each,
 * at most 253 bytes, one optional trailing '.'. */
static bool dns_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0 || n > MAX_DNS_NAME)
        return false;
    size_t label = 0;
    bool digits = true; /* the last label so far is all digits */
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
            digits = true;
        } else if (!label_char((unsigned char)s[i]) || ++label > 63) {
            return false;
        } else if (!isdigit((unsigned char)s[i])) {
            digits = false;
        }
    }
    /* A top label of digits only is no name ("10.0.0.300" is a typo'd
     * address, not a host). */
    return label > 0 && !digits;
}

static bool ip_ok(const char *s, int af)
{
    unsigned char buf[16];
    return inet_pton(af, s, buf) == 1;
}

int zkc_zkns_validate(const zkc_zkns_record *rec)
{
    if (rec == NULL) {
        zkc_impl_set_errmsg("zkns record: NULL");
        return ZKC_EBADDATA;
    }
    if (zkc_zkns_kind_of(rec) == ZKC_ZKNS_NONE) {
        zkc_impl_set_errmsg("zkns record: not a valid A, AAAA, CNAME or SRV record "
                        "(A: every entry ipv4 only; CNAME: one entry with host only; "
                        "SRV: every entry host and named ports)");
        return ZKC_EBADDATA;
    }
    for (size_t i = 0; i < rec->count; i++) {
        const zkc_zkns_addr *a = &rec->v[i];
        const char *why = NULL;
        if (a->host != NULL && !dns_name_ok(a->host))
            why = "host is not a DNS name";
        else if (a->ipv4 != NULL && !ip_ok(a->ipv4, AF_INET))
            why = "ipv4 is not an IPv4 address";
        else if (a->ipv6 != NULL && !ip_ok(a->ipv6, AF_INET6))
            why = "ipv6 is not an IPv6 address";
        else if (a->port < 0 || a->port > MAX_PORT || a->priority > MAX_PORT ||
                 a->weight > MAX_PORT)
            why = "a number out of range";
        for (size_t j = 0; why == NULL && j < a->nports; j++) {
            const char *name = a->ports[j].name;
            if (name == NULL || name[0] != '_' || strlen(name) > 63)
                why = "a named port is not a label starting with '_'";
            for (const char *p = name; why == NULL && *p; p++)
                if (!label_char((unsigned char)*p))
                    why = "a named port is not a label starting with '_'";
            if (why == NULL && (a->ports[j].port < 0 || a->ports[j].port > MAX_PORT))
                why = "a named port out of range";
        }
        if (why != NULL) {
            zkc_impl_set_errmsg("zkns record: entry %zu: %s", i, why);
            return ZKC_EBADDATA;
        }
    }
    return ZKC_OK;
}

/* ---- reading and writing ---- */

int zkc_zkns_read(zkc_conn *c, const char *path, zkc_zkns_record **ret_rec)
{
    if (c == NULL || path == NULL || ret_rec == NULL)
        return ZKC_EBADARGUMENTS;
    *ret_rec = NULL;
    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    int rc = zkc_get(c, path, &data, &len, &st, NULL);
    if (rc != ZKC_OK)
        return rc;
    rc = zkc_zkns_parse(data, len, ret_rec);
    zkc_free(data);
    if (rc == ZKC_EBADDATA) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", zkc_errmsg());
        zkc_impl_set_errmsg("%s: %s", path, msg);
    }
    if (rc == ZKC_OK && *ret_rec != NULL)
        (*ret_rec)->version = st.version;
    return rc;
}

int zkc_zkns_write(zkc_conn *c, const char *path, const zkc_zkns_record *rec, int32_t version)
{
    if (c == NULL || path == NULL || rec == NULL)
        return ZKC_EBADARGUMENTS;
    int rc = zkc_zkns_validate(rec);
    if (rc != ZKC_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", zkc_errmsg());
        zkc_impl_set_errmsg("%s: %s", path, msg);
        return rc;
    }
    char *json = NULL;
    rc = zkc_zkns_format(rec, &json);
    if (rc != ZKC_OK)
        return rc;
    if (version >= 0)
        rc = zkc_set(c, path, json, strlen(json), version, NULL);
    else
        rc = zkc_create_or_update(c, path, json, strlen(json), 0, zkc_acl_world(ZKC_PERM_FILE),
                                  true, NULL);
    zkc_free(json);
    return rc;
}

/* ---- answers ---- */

static uint32_t rand_below(uint32_t bound, zkc_zkns_rand_fn rnd, void *ud)
{
    if (bound <= 1)
        return 0;
    uint32_t r = rnd != NULL ? rnd(bound, ud) : arc4random_uniform(bound);
    return r < bound ? r : bound - 1;
}

void zkc_zkns_answers_free(zkc_zkns_answers *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++)
        free(a->v[i].target);
    free(a->v);
    free(a);
}

static int answer_add(zkc_zkns_answers *a, zkc_zkns_kind type, const char *target, bool dot,
                      int port, int priority, int weight)
{
    zkc_zkns_answer *nv = realloc(a->v, (a->count + 1) * sizeof *nv);
    if (nv == NULL)
        return ZKC_ENOMEM;
    a->v = nv;
    size_t n = strlen(target);
    bool add_dot = dot && (n == 0 || target[n - 1] != '.');
    char *t = malloc(n + 2);
    if (t == NULL)
        return ZKC_ENOMEM;
    memcpy(t, target, n);
    if (add_dot)
        t[n++] = '.';
    t[n] = '\0';
    zkc_zkns_answer *x = &nv[a->count++];
    x->type = type;
    x->target = t;
    x->port = port;
    x->priority = priority;
    x->weight = weight;
    return ZKC_OK;
}

static void shuffle(zkc_zkns_answer *v, size_t n, zkc_zkns_rand_fn rnd, void *ud)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rand_below((uint32_t)i, rnd, ud);
        zkc_zkns_answer t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

static int addr_answers(const zkc_zkns_record *rec, bool v6, zkc_zkns_answers *a,
                        zkc_zkns_rand_fn rnd, void *ud)
{
    size_t first = a->count;
    for (size_t i = 0; i < rec->count; i++) {
        const char *ip = v6 ? rec->v[i].ipv6 : rec->v[i].ipv4;
        if (!ip_ok(ip, v6 ? AF_INET6 : AF_INET)) {
            a->skipped++;
            continue;
        }
        int rc = answer_add(a, v6 ? ZKC_ZKNS_AAAA : ZKC_ZKNS_A, ip, false, rec->v[i].port, 0, 0);
        if (rc != ZKC_OK)
            return rc;
    }
    if (a->count > first + 1)
        shuffle(a->v + first, a->count - first, rnd, ud);
    return ZKC_OK;
}

static int cname_answer(const zkc_zkns_record *rec, zkc_zkns_answers *a)
{
    const zkc_zkns_addr *e = &rec->v[0];
    if (!dns_name_ok(e->host)) {
        a->skipped++;
        return ZKC_OK;
    }
    return answer_add(a, ZKC_ZKNS_CNAME, e->host, true, e->port, 0, 0);
}

static int find_port(const zkc_zkns_addr *e, const char *port)
{
    for (size_t j = 0; j < e->nports; j++)
        if (e->ports[j].name != NULL && strcmp(e->ports[j].name, port) == 0)
            return e->ports[j].port;
    return -1;
}

static int srv_answers(const zkc_zkns_record *rec, const char *port, zkc_zkns_answers *a)
{
    for (size_t i = 0; i < rec->count; i++) {
        const zkc_zkns_addr *e = &rec->v[i];
        int p = find_port(e, port);
        if (p < 0)
            continue;
        if (!dns_name_ok(e->host)) {
            a->skipped++;
            continue;
        }
        int rc = answer_add(a, ZKC_ZKNS_SRV, e->host, true, p, e->priority >= 0 ? e->priority : 0,
                            e->weight >= 0 ? e->weight : 1);
        if (rc != ZKC_OK)
            return rc;
    }
    return ZKC_OK;
}

int zkc_zkns_answers_for(const zkc_zkns_record *rec, zkc_zkns_kind qtype, const char *port,
                         zkc_zkns_rand_fn rnd, void *rnd_ud, zkc_zkns_answers **ret)
{
    if (ret == NULL)
        return ZKC_EBADARGUMENTS;
    *ret = NULL;
    zkc_zkns_answers *a = calloc(1, sizeof *a);
    if (a == NULL)
        return ZKC_ENOMEM;
    int rc = ZKC_OK;
    bool any = qtype == ZKC_ZKNS_ANY;
    if (rec == NULL) {
        /* no record: no answers */
    } else if (port != NULL) {
        if ((any || qtype == ZKC_ZKNS_SRV) && zkc_zkns_is_srv(rec))
            rc = srv_answers(rec, port, a);
    } else {
        bool is_a = zkc_zkns_is_a(rec), is_aaaa = zkc_zkns_is_aaaa(rec);
        bool is_cname = zkc_zkns_is_cname(rec);
        if ((any || qtype == ZKC_ZKNS_A) && is_a)
            rc = addr_answers(rec, false, a, rnd, rnd_ud);
        if (rc == ZKC_OK && (any || qtype == ZKC_ZKNS_AAAA) && is_aaaa)
            rc = addr_answers(rec, true, a, rnd, rnd_ud);
        if (rc == ZKC_OK && is_cname &&
            (any || qtype == ZKC_ZKNS_CNAME || qtype == ZKC_ZKNS_A || qtype == ZKC_ZKNS_AAAA))
            rc = cname_answer(rec, a);
    }
    if (rc != ZKC_OK) {
        zkc_zkns_answers_free(a);
        return rc;
    }
    *ret = a;
    return ZKC_OK;
}

static int prio_cmp(const void *x, const void *y)
{
    const zkc_zkns_answer *a = x, *b = y;
    if (a->priority != b->priority)
        return a->priority < b->priority ? -1 : 1;
    /* weight 0 first (RFC 2782), the rest in any order */
    return (a->weight != 0) - (b->weight != 0);
}

void zkc_zkns_srv_order(zkc_zkns_answers *a, zkc_zkns_rand_fn rnd, void *rnd_ud)
{
    if (a == NULL || a->count < 2)
        return;
    /* qsort is not stable; keep the record's order among equals by
     * sorting (priority, zero weight first) with an insertion sort. */
    for (size_t i = 1; i < a->count; i++) {
        zkc_zkns_answer t = a->v[i];
        size_t j = i;
        while (j > 0 && prio_cmp(&a->v[j - 1], &t) > 0) {
            a->v[j] = a->v[j - 1];
            j--;
        }
        a->v[j] = t;
    }
    /* Within each priority: pick each next entry with a chance
     * proportional to its weight (running sums, RFC 2782). */
    for (size_t start = 0; start < a->count;) {
        size_t end = start;
        while (end < a->count && a->v[end].priority == a->v[start].priority)
            end++;
        for (size_t k = start; k + 1 < end; k++) {
            uint64_t sum = 0;
            for (size_t m = k; m < end; m++)
                sum += (unsigned)a->v[m].weight;
            size_t pick = k;
            if (sum > 0) {
                uint64_t r = rand_below((uint32_t)(sum + 1 > UINT32_MAX ? UINT32_MAX : sum + 1),
                                        rnd, rnd_ud);
                uint64_t run = 0;
                for (size_t m = k; m < end; m++) {
                    run += (unsigned)a->v[m].weight;
                    if (run >= r) {
                        pick = m;
                        break;
                    }
                }
            }
            zkc_zkns_answer t = a->v[pick];
            memmove(&a->v[k + 1], &a->v[k], (pick - k) * sizeof t);
            a->v[k] = t;
        }
        start = end;
    }
}

int zkc_zkns_lookup_name(zkc_conn *c, const char *name, zkc_zkns_rand_fn rnd, void *rnd_ud,
                         zkc_zkns_answers **ret)
{
    if (c == NULL || name == NULL || ret == NULL)
        return ZKC_EBADARGUMENTS;
    *ret = NULL;
    char *path = strdup(name);
    if (path == NULL)
        return ZKC_ENOMEM;
    char *port = strrchr(path, ':');
    if (port != NULL && port[1] == '_')
        *port++ = '\0';
    else
        port = NULL;
    zkc_zkns_record *rec = NULL;
    int rc = zkc_zkns_read(c, path, &rec);
    if (rc == ZKC_OK && rec == NULL) {
        zkc_impl_set_errmsg("LookupName %s: no record in the node", path);
        rc = ZKC_ENONODE;
    }
    zkc_zkns_answers *a = NULL;
    if (rc == ZKC_OK && port == NULL) {
        zkc_zkns_kind k = zkc_zkns_kind_of(rec);
        if (k == ZKC_ZKNS_A || k == ZKC_ZKNS_AAAA || k == ZKC_ZKNS_CNAME) {
            rc = zkc_zkns_answers_for(rec, k, NULL, rnd, rnd_ud, &a);
            /* Address answers are equals: weight 1 each, so the order is
             * a fair shuffle (the original's E3 behaviour). */
            for (size_t i = 0; rc == ZKC_OK && i < a->count; i++)
                a->v[i].weight = 1;
        } else {
            zkc_impl_set_errmsg("LookupName %s: not an A or CNAME record", path);
            rc = ZKC_EBADDATA;
        }
    } else if (rc == ZKC_OK) {
        if (!zkc_zkns_is_srv(rec)) {
            zkc_impl_set_errmsg("LookupName %s: not an SRV record", path);
            rc = ZKC_EBADDATA;
        }
        for (size_t i = 0; rc == ZKC_OK && i < rec->count; i++) {
            if (find_port(&rec->v[i], port) < 0) {
                zkc_impl_set_errmsg("LookupName %s: found no such named port %s (entry %zu)", path,
                                port, i);
                rc = ZKC_EBADDATA;
            }
        }
        if (rc == ZKC_OK)
            rc = zkc_zkns_answers_for(rec, ZKC_ZKNS_SRV, port, rnd, rnd_ud, &a);
    } else if (rc != ZKC_EBADDATA) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", zkc_errmsg());
        zkc_impl_set_errmsg("LookupName %s: %s", path, *msg ? msg : zkc_strerror(rc));
    }
    zkc_zkns_record_free(rec);
    free(path);
    if (rc != ZKC_OK) {
        zkc_zkns_answers_free(a);
        return rc;
    }
    zkc_zkns_srv_order(a, rnd, rnd_ud);
    *ret = a;
    return ZKC_OK;
}

/* ---- names ---- */

int zkc_zkns_domain_normalize(const char *domain, char **ret)
{
    if (domain == NULL || ret == NULL)
        return ZKC_EBADARGUMENTS;
    *ret = NULL;
    size_t n = strlen(domain);
    if (n > 0 && domain[n - 1] == '.')
        n--;
    const char *d = domain;
    if (n > 0 && d[0] == '.') {
        d++;
        n--;
    }
    if (n == 0 || n > MAX_DNS_NAME) {
        zkc_impl_set_errmsg("zkns domain '%s': empty or too long", domain);
        return ZKC_EBADARGUMENTS;
    }
    char *out = malloc(n + 2);
    if (out == NULL)
        return ZKC_ENOMEM;
    out[0] = '.';
    for (size_t i = 0; i < n; i++)
        out[i + 1] = (char)tolower((unsigned char)d[i]);
    out[n + 1] = '\0';
    if (!dns_name_ok(out + 1)) {
        zkc_impl_set_errmsg("zkns domain '%s': not a DNS name", domain);
        free(out);
        return ZKC_EBADARGUMENTS;
    }
    *ret = out;
    return ZKC_OK;
}

static bool node_label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!label_char((unsigned char)s[i]) && s[i] != '*')
            return false;
    return true;
}

int zkc_zkns_name_to_path(const char *root, const char *domain, const char *qname,
                          char **ret_path, char **ret_port)
{
    if (root == NULL || domain == NULL || qname == NULL || ret_path == NULL)
        return ZKC_EBADARGUMENTS;
    *ret_path = NULL;
    if (ret_port != NULL)
        *ret_port = NULL;
    char *dom = NULL;
    int rc = zkc_zkns_domain_normalize(domain, &dom);
    if (rc != ZKC_OK)
        return rc;
    size_t qn = strlen(qname), dn = strlen(dom);
    if (qn > 0 && qname[qn - 1] == '.')
        qn--;
    const char *rest = NULL; /* the labels before the domain */
    size_t rn = 0;
    if (qn == dn - 1 && strncasecmp(qname, dom + 1, qn) == 0) {
        rest = qname;
        rn = 0;
    } else if (qn > dn && strncasecmp(qname + qn - dn, dom, dn) == 0) {
        rest = qname;
        rn = qn - dn;
    }
    free(dom);
    if (rest == NULL) {
        zkc_impl_set_errmsg("invalid domain for query: %.*s", (int)(qn > 300 ? 300 : qn), qname);
        return ZKC_ENONODE;
    }
    size_t rootn = strlen(root);
    while (rootn > 1 && root[rootn - 1] == '/')
        rootn--;
    /* root + '/' + labels (rn bytes, '.' becomes '/') */
    char *path = malloc(rootn + rn + 2);
    char *port = NULL;
    if (path == NULL)
        return ZKC_ENOMEM;
    memcpy(path, root, rootn);
    size_t pn = rootn;
    size_t end = rn; /* labels are taken from the last one back */
    size_t first_end = rn;
    for (size_t i = 0; i < rn; i++)
        if (rest[i] == '.') {
            first_end = i;
            break;
        }
    size_t stop = 0;
    if (rn > 0 && rest[0] == '_') {
        if (!node_label_ok(rest, first_end)) {
            free(path);
            zkc_impl_set_errmsg("name %.*s: bad label", (int)(qn > 300 ? 300 : qn), qname);
            return ZKC_ENONODE;
        }
        port = strndup(rest, first_end);
        if (port == NULL) {
            free(path);
            return ZKC_ENOMEM;
        }
        for (char *p = port; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        stop = first_end < rn ? first_end + 1 : rn;
    }
    while (end > stop) {
        size_t start = end;
        while (start > stop && rest[start - 1] != '.')
            start--;
        if (!node_label_ok(rest + start, end - start)) {
            free(path);
            free(port);
            zkc_impl_set_errmsg("name %.*s: bad label", (int)(qn > 300 ? 300 : qn), qname);
            return ZKC_ENONODE;
        }
        if (pn > 1 || path[0] != '/')
            path[pn++] = '/';
        else if (pn == 0)
            path[pn++] = '/';
        for (size_t i = start; i < end; i++)
            path[pn++] = (char)tolower((unsigned char)rest[i]);
        end = start > stop ? start - 1 : stop;
    }
    path[pn] = '\0';
    if (pn == 0 || zkc_path_validate(path, false) != ZKC_OK) {
        free(path);
        free(port);
        zkc_impl_set_errmsg("name %.*s: no valid path under %s", (int)(qn > 300 ? 300 : qn), qname,
                        root);
        return ZKC_ENONODE;
    }
    *ret_path = path;
    if (ret_port != NULL)
        *ret_port = port;
    else
        free(port);
    return ZKC_OK;
}
