/*
 * cmd_global.c: divergence across the quorums of --quorums: diff lists
 * what differs (zkc_global_diff), repair makes the others equal to one
 * quorum (zkc_global_repair), or with --dry-run prints the writes it
 * would make.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "zkcmd.h"
#include "zkcell/global.h"

enum { OPT_QUORUMS = 256, OPT_JSON, OPT_FROM, OPT_DRY_RUN };

/* The quorums' connections of z->conn, after connecting; 0 (reported)
 * when it is not a global connection of at least two quorums. */
static size_t quorum_conns(zk_ctx *z, zkc_conn **conns)
{
    size_t n = zkc_global_size(z->conn);
    if (n < 2) {
        zk_errf(z, "needs --quorums with at least two quorums");
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        conns[i] = zkc_global_quorum(z->conn, i);
    return n;
}

static void print_entry(const zkc_diff_entry *e, size_t n, json_t *arr)
{
    if (arr != NULL) {
        json_t *present = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(present, json_boolean((e->present >> i) & 1));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:s}", "kind",
                                             zkc_diff_kind_name(e->kind), "path", e->path,
                                             "present", present, "detail",
                                             e->detail != NULL ? e->detail : ""));
        return;
    }
    printf("%s\t%s\t%s\n", zkc_diff_kind_name(e->kind), e->path,
           e->detail != NULL ? e->detail : "");
}

int zk_cmd_diff(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"quorums", required_argument, NULL, OPT_QUORUMS},
                                       {"json", no_argument, NULL, OPT_JSON},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case OPT_QUORUMS: z->quorums = optarg; break;
        case OPT_JSON: json = true; break;
        ZK_HELP_CASE;
        }
    }
    if (optind >= argc)
        return zk_usage(z, "no path given");
    if (z->quorums == NULL)
        return zk_usage(z, "needs --quorums 'HOSTS1;HOSTS2;...'");
    zk_args a;
    if (zk_expand_connect(z, argv + optind, argc - optind, false, &a) != 0)
        return ZK_EXIT_FAIL;
    zkc_conn *conns[ZKC_GLOBAL_MAX_QUORUMS];
    size_t n = quorum_conns(z, conns);
    json_t *arr = json ? json_array() : NULL;
    size_t found = 0;
    for (size_t i = 0; n > 0 && i < a.n; i++) {
        zkc_diff *d = NULL;
        int rc = zkc_global_diff(conns, n, a.v[i].path, &d);
        if (rc != ZKC_OK) {
            zk_err(z, a.v[i].path, rc, zkc_errmsg());
            continue;
        }
        for (size_t k = 0; k < d->count; k++)
            print_entry(&d->v[k], n, arr);
        found += d->count;
        zkc_diff_free(d);
    }
    if (arr != NULL) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(arr);
    }
    zk_args_free(&a);
    if (found > 0 && z->status == ZK_EXIT_OK)
        z->status = ZK_EXIT_FAIL;
    return z->status;
}

/* The writes repair would make for one difference, for --dry-run. */
static void print_plan(const zkc_diff_entry *e, size_t n, size_t from)
{
    bool src = (e->present >> from) & 1;
    switch (e->kind) {
    case ZKC_DIFF_MISSING:
        for (size_t i = 0; i < n; i++) {
            if (i == from || ((e->present >> i) & 1) == src)
                continue;
            printf("%s\t%s\tquorum %zu\n", src ? "create" : "delete", e->path, i);
        }
        break;
    case ZKC_DIFF_DATA:
        printf("set\t%s\tquorums differing from %zu (%s)\n", e->path, from,
               e->detail != NULL ? e->detail : "");
        break;
    case ZKC_DIFF_ACL:
        printf("setacl\t%s\tquorums differing from %zu (%s)\n", e->path, from,
               e->detail != NULL ? e->detail : "");
        break;
    case ZKC_DIFF_VERSION:
        printf("rewrite\t%s\tquorums behind (versions: %s)\n", e->path,
               e->detail != NULL ? e->detail : "");
        break;
    default:
        printf("cannot\t%s\tephemeral on some quorums: left as is (%s)\n", e->path,
               e->detail != NULL ? e->detail : "");
        break;
    }
}

int zk_cmd_repair(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"quorums", required_argument, NULL, OPT_QUORUMS},
                                       {"from", required_argument, NULL, OPT_FROM},
                                       {"dry-run", no_argument, NULL, OPT_DRY_RUN},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    bool dry = false;
    int from = -1;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case OPT_QUORUMS: z->quorums = optarg; break;
        case OPT_DRY_RUN: dry = true; break;
        case OPT_FROM: {
            unsigned v;
            if (zk_parse_uint(optarg, 0, ZKC_GLOBAL_MAX_QUORUMS - 1, &v) != 0)
                return zk_usage(z, "--from: want a quorum number from 0, got '%s'", optarg);
            from = (int)v;
            break;
        }
        ZK_HELP_CASE;
        }
    }
    if (optind >= argc)
        return zk_usage(z, "no path given");
    if (from < 0)
        return zk_usage(z, "needs --from N, the quorum whose tree is right");
    if (z->quorums == NULL)
        return zk_usage(z, "needs --quorums 'HOSTS1;HOSTS2;...'");
    zk_args a;
    if (zk_expand_connect(z, argv + optind, argc - optind, false, &a) != 0)
        return ZK_EXIT_FAIL;
    zkc_conn *conns[ZKC_GLOBAL_MAX_QUORUMS];
    size_t n = quorum_conns(z, conns);
    if (n > 0 && (size_t)from >= n) {
        zk_args_free(&a);
        return zk_usage(z, "--from %d: there are %zu quorums (0 to %zu)", from, n, n - 1);
    }
    for (size_t i = 0; n > 0 && i < a.n; i++) {
        const char *path = a.v[i].path;
        if (dry) {
            zkc_diff *d = NULL;
            int rc = zkc_global_diff(conns, n, path, &d);
            if (rc != ZKC_OK) {
                zk_err(z, path, rc, zkc_errmsg());
                continue;
            }
            for (size_t k = 0; k < d->count; k++)
                print_plan(&d->v[k], n, (size_t)from);
            zkc_diff_free(d);
            continue;
        }
        size_t changes = 0;
        int rc = zkc_global_repair(conns, n, (size_t)from, path, &changes);
        printf("%s\t%zu write%s\n", path, changes, changes == 1 ? "" : "s");
        if (rc != ZKC_OK)
            zk_err(z, path, rc, zkc_errmsg());
    }
    zk_args_free(&a);
    return z->status;
}
