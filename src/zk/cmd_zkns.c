/*
 * cmd_zkns.c: zkns records from the command line (zkcell/zkns.h).
 *
 *   zkns-set      write a checked record: from ENTRY arguments (addresses,
 *                 a host, host,_port=N,... for SRV) or from JSON
 *   zkns-resolve  how a DNS name (or a PATH[:_port]) resolves: the node,
 *                 the named port, the record's kind and the answers
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "zkcell/zkns.h"
#include "zkcmd.h"

/* ---- zkns-set ---- */

/* Parse one ENTRY argument into a (strings malloc'd). */
static int parse_entry(zk_ctx *z, const char *arg, zkc_zkns_addr *a, zkc_zkns_port **ports)
{
    unsigned char buf[16];
    memset(a, 0, sizeof *a);
    a->priority = -1;
    a->weight = -1;
    *ports = NULL;
    if (strchr(arg, ',') == NULL && inet_pton(AF_INET, arg, buf) == 1) {
        a->ipv4 = strdup(arg);
        return 0;
    }
    if (strchr(arg, ',') == NULL && inet_pton(AF_INET6, arg, buf) == 1) {
        a->ipv6 = strdup(arg);
        return 0;
    }
    char *copy = strdup(arg), *save = NULL;
    if (copy == NULL)
        return -1;
    char *tok = strtok_r(copy, ",", &save);
    a->host = strdup(tok != NULL ? tok : "");
    while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
        char *eq = strchr(tok, '=');
        unsigned v;
        if (eq == NULL || zk_parse_uint(eq + 1, 0, 65535, &v) != 0) {
            zk_usage(z, "entry '%s': want NAME=NUMBER (0..65535) after the host, got '%s'", arg,
                     tok);
            free(copy);
            free(a->host);
            free(*ports);
            return -1;
        }
        *eq = '\0';
        if (tok[0] == '_') {
            zkc_zkns_port *np = realloc(*ports, (a->nports + 1) * sizeof *np);
            if (np == NULL) {
                free(copy);
                free(a->host);
                free(*ports);
                return -1;
            }
            *ports = np;
            np[a->nports].name = tok; /* points into copy until added */
            np[a->nports].port = (int)v;
            a->nports++;
        } else if (strcmp(tok, "port") == 0) {
            a->port = (int)v;
        } else if (strcmp(tok, "priority") == 0) {
            a->priority = (int)v;
        } else if (strcmp(tok, "weight") == 0) {
            a->weight = (int)v;
        } else {
            zk_usage(z, "entry '%s': unknown field '%s' (want _PORT, port, priority, weight)",
                     arg, tok);
            free(copy);
            free(a->host);
            free(*ports);
            return -1;
        }
    }
    a->ports = *ports;
    /* the port names point into copy: keep it with the entry's host */
    free(a->host);
    a->host = copy; /* strtok_r put a NUL after the host: copy starts with it */
    return 0;
}

static int read_all(FILE *f, char **out, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b != NULL) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        if (cap >= ZKC_MAX_DATA * 2) {
            free(b);
            return -1;
        }
        char *nb = realloc(b, cap * 2);
        if (nb == NULL)
            free(b);
        b = nb;
        cap *= 2;
    }
    if (b == NULL || ferror(f)) {
        free(b);
        return -1;
    }
    *out = b;
    *len = n;
    return 0;
}

static json_t *answers_json(const zkc_zkns_answers *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; a != NULL && i < a->count; i++) {
        const zkc_zkns_answer *x = &a->v[i];
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string(zkc_zkns_kind_name(x->type)));
        json_object_set_new(o, "target", json_string(x->target));
        if (x->type == ZKC_ZKNS_SRV) {
            json_object_set_new(o, "port", json_integer(x->port));
            json_object_set_new(o, "priority", json_integer(x->priority));
            json_object_set_new(o, "weight", json_integer(x->weight));
        } else if (x->port != 0) {
            json_object_set_new(o, "port", json_integer(x->port));
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

static const char *kind_text(const zkc_zkns_record *rec)
{
    const char *k = zkc_zkns_kind_name(zkc_zkns_kind_of(rec));
    return k != NULL ? k : "invalid";
}

int zk_cmd_zkns_set(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"ttl", required_argument, NULL, 't'},
                                       {"file", required_argument, NULL, 'f'},
                                       {"version", required_argument, NULL, 'v'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    const char *file = NULL;
    int ttl = -1, version = -1;
    unsigned v;
    int c;
    while ((c = getopt_long(argc, argv, "t:f:v:h", lo, NULL)) != -1) {
        switch (c) {
        case 't':
            if (zk_parse_uint(optarg, 0, 2147483647u, &v) != 0)
                return zk_usage(z, "--ttl: want seconds, got '%s'", optarg);
            ttl = (int)v;
            break;
        case 'f':
            file = optarg;
            break;
        case 'v':
            if (zk_parse_uint(optarg, 0, 2147483647u, &v) != 0)
                return zk_usage(z, "--version: want a node version, got '%s'", optarg);
            version = (int)v;
            break;
        case 'j':
            z->json = true;
            break;
        ZK_HELP_CASE;
        }
    }
    if (optind >= argc)
        return zk_usage(z, "no path given");
    const char *arg = argv[optind++];
    if (file == NULL && optind >= argc)
        return zk_usage(z, "no entries given (addresses, a host, or HOST,_PORT=N,...; or -f FILE)");
    if (file != NULL && optind < argc)
        return zk_usage(z, "entries and -f FILE do not mix");
    zkc_zkns_record *rec = NULL;
    if (file != NULL) {
        FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rbe");
        char *data = NULL;
        size_t len = 0;
        if (f == NULL || read_all(f, &data, &len) != 0) {
            zk_errf(z, "%s: cannot read", file);
            if (f != NULL && f != stdin)
                fclose(f);
            return ZK_EXIT_FAIL;
        }
        if (f != stdin)
            fclose(f);
        int rc = zkc_zkns_parse(data, len, &rec);
        free(data);
        if (rc == ZKC_OK && rec == NULL) {
            zk_errf(z, "%s: no record (empty)", file);
            return ZK_EXIT_FAIL;
        }
        if (rc != ZKC_OK) {
            zk_errf(z, "%s: %s", file, zkc_errmsg());
            return ZK_EXIT_FAIL;
        }
    } else {
        rec = zkc_zkns_record_new();
        for (int i = optind; rec != NULL && i < argc; i++) {
            zkc_zkns_addr a;
            zkc_zkns_port *ports = NULL;
            if (parse_entry(z, argv[i], &a, &ports) != 0) {
                zkc_zkns_record_free(rec);
                return ZK_EXIT_USAGE;
            }
            int rc = zkc_zkns_record_add(rec, &a);
            free(a.host);
            free(a.ipv4);
            free(a.ipv6);
            free(ports);
            if (rc != ZKC_OK) {
                zkc_zkns_record_free(rec);
                rec = NULL;
            }
        }
        if (rec == NULL) {
            zk_errf(z, "out of memory");
            return ZK_EXIT_FAIL;
        }
    }
    if (ttl >= 0)
        rec->ttl = ttl;
    char *path = zk_arg_clean(z, arg, NULL);
    if (path == NULL) {
        zkc_zkns_record_free(rec);
        return ZK_EXIT_USAGE;
    }
    if (zkc_zkns_validate(rec) != ZKC_OK) {
        zk_err(z, path, ZKC_EBADDATA, zkc_errmsg());
    } else if (zk_connect(z) == ZKC_OK) {
        int rc = zkc_zkns_write(z->conn, path, rec, version);
        if (rc != ZKC_OK) {
            char buf[512];
            const char *d = zk_cell_detail(z, path, rc, buf, sizeof buf);
            zk_err(z, path, rc, d != NULL ? d : zkc_errmsg());
        } else if (z->json) {
            char *text = NULL;
            json_t *doc = json_object();
            json_object_set_new(doc, "path", json_string(path));
            json_object_set_new(doc, "kind", json_string(kind_text(rec)));
            if (zkc_zkns_format(rec, &text) == ZKC_OK)
                json_object_set_new(doc, "record", json_loads(text, 0, NULL));
            zkc_free(text);
            zk_json_print(doc, false);
            json_decref(doc);
        }
    }
    free(path);
    zkc_zkns_record_free(rec);
    return z->status;
}

/* ---- zkns-resolve ---- */

static zkc_zkns_kind parse_type(const char *s)
{
    static const zkc_zkns_kind all[] = {ZKC_ZKNS_A, ZKC_ZKNS_AAAA, ZKC_ZKNS_CNAME, ZKC_ZKNS_SRV,
                                        ZKC_ZKNS_ANY};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcasecmp(s, zkc_zkns_kind_name(all[i])) == 0)
            return all[i];
    return ZKC_ZKNS_NONE;
}

/* A "random" source under which the Fisher-Yates shuffle keeps the order. */
static uint32_t keep_order(uint32_t bound, void *ud)
{
    (void)ud;
    return bound - 1;
}

static void print_answer(const zkc_zkns_answer *x)
{
    if (x->type == ZKC_ZKNS_SRV)
        printf("%-6s %d %d %d %s\n", "SRV", x->priority, x->weight, x->port, x->target);
    else if (x->port != 0)
        printf("%-6s %s (port %d)\n", zkc_zkns_kind_name(x->type), x->target, x->port);
    else
        printf("%-6s %s\n", zkc_zkns_kind_name(x->type), x->target);
}

int zk_cmd_zkns_resolve(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"domain", required_argument, NULL, 'd'},
                                       {"root", required_argument, NULL, 'r'},
                                       {"type", required_argument, NULL, 't'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    const char *domain = NULL, *root = NULL;
    zkc_zkns_kind qtype = ZKC_ZKNS_ANY;
    int c;
    while ((c = getopt_long(argc, argv, "d:r:t:h", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            domain = optarg;
            break;
        case 'r':
            root = optarg;
            break;
        case 't':
            qtype = parse_type(optarg);
            if (qtype == ZKC_ZKNS_NONE)
                return zk_usage(z, "--type: want A, AAAA, CNAME, SRV or ANY, got '%s'", optarg);
            break;
        case 'j':
            z->json = true;
            break;
        ZK_HELP_CASE;
        }
    }
    if (optind + 1 != argc)
        return zk_usage(z, optind >= argc ? "no name given" : "one name at a time");
    const char *name = argv[optind];
    bool by_path = name[0] == '/' || strncmp(name, "zk:", 3) == 0;
    if (!by_path && (domain == NULL || root == NULL))
        return zk_usage(z, "a DNS name needs --domain and --root (or give PATH[:_PORT])");
    char *path = NULL, *port = NULL, *cleanroot = NULL;
    int rc;
    if (by_path) {
        char *copy = strdup(name);
        char *colon = copy != NULL ? strrchr(copy, ':') : NULL;
        if (colon != NULL && colon[1] == '_' && colon > copy + 2) {
            *colon = '\0';
            port = strdup(colon + 1);
        }
        path = copy != NULL ? zk_arg_clean(z, copy, NULL) : NULL;
        free(copy);
        if (path == NULL) {
            free(port);
            return ZK_EXIT_USAGE;
        }
    } else {
        cleanroot = zk_arg_clean(z, root, NULL);
        if (cleanroot == NULL)
            return ZK_EXIT_USAGE;
        rc = zkc_zkns_name_to_path(cleanroot, domain, name, &path, &port);
        if (rc == ZKC_EBADARGUMENTS) {
            free(cleanroot);
            return zk_usage(z, "--domain: not a DNS name: '%s'", domain);
        }
        if (rc != ZKC_OK) {
            zk_errf(z, "%s: %s", name, zkc_errmsg());
            free(cleanroot);
            return ZK_EXIT_FAIL;
        }
    }
    free(cleanroot);
    json_t *doc = json_object();
    json_object_set_new(doc, "name", json_string(name));
    json_object_set_new(doc, "path", json_string(path));
    json_object_set_new(doc, "port", port != NULL ? json_string(port) : json_null());
    if (!z->json) {
        printf("name   %s\npath   %s\n", name, path);
        if (port != NULL)
            printf("port   %s\n", port);
    }
    zkc_zkns_record *rec = NULL;
    zkc_zkns_answers *ans = NULL;
    rc = zk_connect(z);
    if (rc == ZKC_OK)
        rc = zkc_zkns_read(z->conn, path, &rec);
    if (rc == ZKC_OK && rec == NULL) {
        zk_errf(z, "%s: no record: the node has no data", path);
    } else if (rc == ZKC_ENONODE) {
        zk_err(z, path, rc, NULL);
    } else if (rc != ZKC_OK) {
        char buf[512];
        const char *d = zk_cell_detail(z, path, rc, buf, sizeof buf);
        zk_err(z, path, rc, d != NULL ? d : zkc_errmsg());
    } else {
        if (!z->json) {
            printf("kind   %s, %zu %s\n", kind_text(rec), rec->count,
                   rec->count == 1 ? "entry" : "entries");
            if (rec->ttl >= 0)
                printf("ttl    %d\n", rec->ttl);
        }
        json_object_set_new(doc, "kind", json_string(kind_text(rec)));
        json_object_set_new(doc, "entries", json_integer((json_int_t)rec->count));
        json_object_set_new(doc, "ttl", rec->ttl >= 0 ? json_integer(rec->ttl) : json_null());
        if (by_path) {
            /* LookupName: its rules, and RFC 2782 order */
            char *lname = malloc(strlen(path) + (port ? strlen(port) : 0) + 2);
            if (lname != NULL) {
                sprintf(lname, "%s%s%s", path, port ? ":" : "", port ? port : "");
                rc = zkc_zkns_lookup_name(z->conn, lname, NULL, NULL, &ans);
                if (rc != ZKC_OK)
                    zk_err(z, path, rc, zkc_errmsg());
                free(lname);
            }
        } else {
            /* the record's order, not shuffled, so the output is stable */
            rc = zkc_zkns_answers_for(rec, qtype, port, keep_order, NULL, &ans);
            if (rc == ZKC_OK && ans->count == 0)
                zk_errf(z, "%s: no answer%s", path,
                        port != NULL ? ": not an SRV record with that named port"
                                     : " of that type");
        }
        if (ans != NULL && !z->json) {
            for (size_t i = 0; i < ans->count; i++)
                print_answer(&ans->v[i]);
            if (ans->skipped > 0)
                printf("(%zu malformed entries left out)\n", ans->skipped);
        }
    }
    if (z->json) {
        json_object_set_new(doc, "answers", answers_json(ans));
        zk_json_print(doc, false);
    }
    json_decref(doc);
    zkc_zkns_answers_free(ans);
    zkc_zkns_record_free(rec);
    free(path);
    free(port);
    return z->status;
}
