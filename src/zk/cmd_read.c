/*
 * cmd_read.c: the subcommands that only read: ls, cat, stat, tree, find
 * and du.  Every one of them fetches with many operations in flight
 * (pipe.c) and prints in a stable order: children sorted by name,
 * subtrees depth-first.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "zkcmd.h"

/* Options shared by most readers. */
enum { OPT_JSON = 300 };

/* A path that could not be read: an error, but for a missing one with
 * -f (quiet). */
static void path_err(zk_ctx *z, const char *path, int rc, bool quiet)
{
    if (!(quiet && rc == ZKC_ENONODE))
        zk_err(z, path, rc, NULL);
}

/* ---- ls ---- */

typedef struct ls_opts {
    bool l, d, R, f;
} ls_opts;

static const char *node_type(const zkc_stat *st)
{
    if (st->ephemeral_owner != 0)
        return "erw-rw-rw-";
    if (st->num_children > 0)
        return st->data_length > 0 ? "nrw-rw-rw-" : "drwxrwxrwx";
    return "-rw-rw-rw-";
}

static void ls_row(zk_ctx *z, const ls_opts *o, const char *full, const char *name,
                   const zkc_stat *st)
{
    if (z->json) {
        json_t *j = json_pack("{ss ss so}", "path", full, "name", zkc_path_base(full), "stat",
                              zk_json_stat(st));
        zk_json_print(j, false);
        json_decref(j);
        return;
    }
    if (o->l) {
        char t[32];
        zk_fmt_time(st->mtime, t, sizeof t);
        printf("%s zk zk %8d %s ", node_type(st), (int)st->data_length, t);
    }
    zk_write_data(z, stdout, name, strlen(name));
    fputc('\n', stdout);
}

/* List path; returns the number of nodes listed with -R (the meter's
 * count), else 0. */
static size_t ls_one(zk_ctx *z, const ls_opts *o, const char *path, bool header)
{
    bool want_stats = o->l || z->json;
    if (o->d) {
        zkc_stat st;
        int rc;
        char *p = (char *)path;
        if (zk_stat_many(z, &p, 1, &st, &rc) != ZKC_OK || rc != ZKC_OK) {
            path_err(z, path, rc, o->f);
            return 0;
        }
        ls_row(z, o, path, path, &st);
        return 0;
    }
    if (o->R) {
        zk_walk_opts wo = {.want_data = false, .want_acl = false,
                           .names_only = !want_stats, .max_depth = -1,
                           .progress = z->meter};
        zk_tree t;
        int rc = zk_walk(z, path, &wo, &t);
        if (rc != ZKC_OK) {
            path_err(z, path, rc, o->f);
            return 0;
        }
        size_t listed = 0;
        zk_progress_hold(z); /* stdout may be the same terminal */
        if (header && !z->json)
            printf("%s:\n", path);
        if (o->l && !z->json)
            printf("total: %zu\n", t.n - 1);
        for (size_t i = 1; i < t.n; i++) {
            zk_node *n = t.v[i];
            if (n->rc != ZKC_OK) {
                zk_err(z, n->path, n->rc, NULL);
                continue;
            }
            ls_row(z, o, n->path, n->path, &n->stat);
            listed++;
        }
        if (header && !z->json)
            fputc('\n', stdout);
        fflush(stdout);
        zk_progress_release(z);
        zk_tree_free(&t);
        return listed;
    }
    zkc_strings *kids = NULL;
    zkc_stat st;
    int rc = zkc_children(z->conn, path, &kids, &st, NULL);
    if (rc != ZKC_OK) {
        path_err(z, path, rc, o->f);
        return 0;
    }
    if (header && !z->json)
        printf("%s:\n", path);
    if (kids->count == 0) {
        /* A node without children is listed as itself, like a file. */
        ls_row(z, o, path, path, &st);
    } else {
        zkc_strings_sort(kids);
        char **full = calloc(kids->count, sizeof *full);
        zkc_stat *sts = calloc(kids->count, sizeof *sts);
        int *rcs = calloc(kids->count, sizeof *rcs);
        if (full == NULL || sts == NULL || rcs == NULL) {
            zk_err(z, path, ZKC_ENOMEM, NULL);
            goto out;
        }
        for (size_t i = 0; i < kids->count; i++) {
            full[i] = zkc_path_join(path, kids->v[i]);
            if (full[i] == NULL) {
                zk_err(z, path, ZKC_ENOMEM, NULL);
                goto out;
            }
        }
        if (want_stats) {
            rc = zk_stat_many(z, full, kids->count, sts, rcs);
            if (rc != ZKC_OK) {
                zk_err(z, path, rc, NULL);
                goto out;
            }
        }
        if (o->l && !z->json)
            printf("total: %zu\n", kids->count);
        for (size_t i = 0; i < kids->count; i++) {
            if (!want_stats)
                ls_row(z, o, full[i], kids->v[i], &st);
            else if (rcs[i] == ZKC_OK)
                ls_row(z, o, full[i], kids->v[i], &sts[i]);
            else if (rcs[i] != ZKC_ENONODE) /* deleted meanwhile: gone */
                zk_err(z, full[i], rcs[i], NULL);
        }
    out:
        for (size_t i = 0; full != NULL && i < kids->count; i++)
            zkc_free(full[i]);
        free(full);
        free(sts);
        free(rcs);
    }
    if (header && !z->json)
        fputc('\n', stdout);
    zkc_strings_free(kids);
    return 0;
}

int zk_cmd_ls(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"json", no_argument, NULL, OPT_JSON},
                                       {"help", no_argument, NULL, 'h'},
                                       ZK_PROGRESS_OPTIONS,
                                       {NULL, 0, NULL, 0}};
    ls_opts o = {0};
    int c;
    while ((c = getopt_long(argc, argv, "ldRfh", lo, NULL)) != -1) {
        switch (c) {
        case 'l': o.l = true; break;
        case 'd': o.d = true; break;
        case 'R': o.R = true; break;
        case 'f': o.f = true; break;
        case OPT_JSON: z->json = true; break;
        ZK_PROGRESS_CASE;
        ZK_HELP_CASE;
        }
    }
    if (optind >= argc)
        return zk_usage(z, "no path given");
    if (o.d && o.R)
        return zk_usage(z, "-d and -R do not go together");
    zk_args a;
    if (zk_expand_connect(z, argv + optind, argc - optind, o.f, &a) != 0)
        return ZK_EXIT_FAIL;
    if (o.R && a.n > 0)
        zk_progress_start(z, "ls -R", argv + optind, argc - optind, "listed", 0);
    size_t listed = 0;
    for (size_t i = 0; i < a.n; i++) {
        listed += ls_one(z, &o, a.v[i].path, a.n > 1 && !o.d);
        /* The walks count roots and unreadable nodes too: the listing's
         * own count from here. */
        zk_progress_set(z->meter, listed, 0);
    }
    zk_progress_end(z, listed, "listed");
    zk_args_free(&a);
    return z->status;
}

/* ---- cat ---- */

/*
 * For cat and stat: expand the path arguments (quiet: -f), connect, and
 * run op on every path at once.  Returns the results, one per a->v[i], to
 * free with zk_fetched_free(); NULL when there is nothing to print (errors
 * printed).  *a is to free with zk_args_free() either way.
 */
static zk_fetched *fetch_args(zk_ctx *z, zkc_op op, char **argv, int argc, bool quiet,
                              zk_args *a)
{
    if (zk_expand_connect(z, argv, argc, quiet, a) != 0 || a->n == 0)
        return NULL;
    char **paths = malloc(a->n * sizeof *paths);
    zk_fetched *r = calloc(a->n, sizeof *r);
    for (size_t i = 0; paths != NULL && i < a->n; i++)
        paths[i] = a->v[i].path;
    int rc = paths != NULL && r != NULL ? zk_fetch_many(z, op, paths, a->n, r) : ZKC_ENOMEM;
    free(paths);
    if (rc != ZKC_OK) {
        zk_errf(z, "%s", zkc_strerror(rc));
        zk_fetched_free(r, a->n);
        return NULL;
    }
    return r;
}

int zk_cmd_cat(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"json", no_argument, NULL, OPT_JSON},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    bool l = false, f = false;
    int c;
    while ((c = getopt_long(argc, argv, "lfh", lo, NULL)) != -1) {
        switch (c) {
        case 'l': l = true; break;
        case 'f': f = true; break;
        case OPT_JSON: z->json = true; break;
        ZK_HELP_CASE;
        }
    }
    if (optind >= argc)
        return zk_usage(z, "no path given");
    zk_args a;
    zk_fetched *r = fetch_args(z, ZKC_OP_GET, argv + optind, argc - optind, f, &a);
    for (size_t i = 0; r != NULL && i < a.n; i++) {
        const char *p = a.v[i].path;
        if (r[i].rc != ZKC_OK) {
            path_err(z, p, r[i].rc, f);
            continue;
        }
        if (z->json) {
            json_t *j = json_pack("{ss}", "path", p);
            zk_json_set_data(j, r[i].data, r[i].data_len);
            json_object_set_new(j, "stat", zk_json_stat(&r[i].stat));
            zk_json_print(j, false);
            json_decref(j);
            continue;
        }
        if (l)
            printf("%s:\n", p);
        zk_write_data(z, stdout, r[i].data, r[i].data_len);
        bool nl = r[i].data_len > 0 && r[i].data[r[i].data_len - 1] == '\n';
        if (!nl && (l || z->escape))
            fputc('\n', stdout);
    }
    zk_fetched_free(r, a.n);
    zk_args_free(&a);
    return z->status;
}

/* ---- stat ---- */

static void print_stat(zk_ctx *z, const char *path, const zkc_stat *st, const zkc_acl_list *acl,
                       bool no_acl)
{
    if (z->json) {
        json_t *j = json_pack("{ss so so}", "path", path, "stat", zk_json_stat(st), "acl",
                              zk_json_acl(acl));
        zk_json_print(j, false);
        json_decref(j);
        return;
    }
    char ct[64], mt[64];
    zk_fmt_time_long(st->ctime, ct, sizeof ct);
    zk_fmt_time_long(st->mtime, mt, sizeof mt);
    printf("Path: ");
    zk_write_data(z, stdout, path, strlen(path));
    printf("\nCreated: %s\nModified: %s\nSize: %d\nChildren: %d\n"
           "Version: %d\nCversion: %d\nAversion: %d\n",
           ct, mt, (int)st->data_length, (int)st->num_children, (int)st->version,
           (int)st->cversion, (int)st->aversion);
    if (st->ephemeral_owner != 0)
        printf("Ephemeral: 0x%llx\n", (unsigned long long)st->ephemeral_owner);
    else
        printf("Ephemeral: 0\n");
    printf("Czxid: 0x%llx\nMzxid: 0x%llx\nPzxid: 0x%llx\nACL:\n",
           (unsigned long long)st->czxid, (unsigned long long)st->mzxid,
           (unsigned long long)st->pzxid);
    if (no_acl)
        printf(" (not available through this connection)\n");
    for (size_t i = 0; acl != NULL && i < acl->count; i++) {
        char perms[6];
        zkc_perms_format(acl->v[i].perms, perms);
        printf(" %s:%s %s\n", acl->v[i].scheme, acl->v[i].id, perms);
    }
}

int zk_cmd_stat(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"json", no_argument, NULL, OPT_JSON},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    bool f = false;
    int c;
    while ((c = getopt_long(argc, argv, "fh", lo, NULL)) != -1) {
        switch (c) {
        case 'f': f = true; break;
        case OPT_JSON: z->json = true; break;
        ZK_HELP_CASE;
        }
    }
    if (optind >= argc)
        return zk_usage(z, "no path given");
    zk_args a;
    zk_fetched *r = fetch_args(z, ZKC_OP_GET_ACL, argv + optind, argc - optind, f, &a);
    bool no_acl = false;
    for (size_t i = 0; r != NULL && i < a.n; i++)
        no_acl = no_acl || r[i].rc == ZKC_ENOTSUPPORTED;
    if (no_acl) {
        /* A connection without ACLs (zkocc): the stat comes with a get. */
        char **paths = malloc(a.n * sizeof *paths);
        for (size_t i = 0; paths != NULL && i < a.n; i++) {
            zkc_acl_list_free(r[i].acl);
            paths[i] = a.v[i].path;
        }
        int rc = paths != NULL ? zk_fetch_many(z, ZKC_OP_GET, paths, a.n, r) : ZKC_ENOMEM;
        free(paths);
        if (rc != ZKC_OK) {
            zk_errf(z, "%s", zkc_strerror(rc));
            zk_fetched_free(r, a.n);
            r = NULL;
        }
    }
    bool first = true;
    for (size_t i = 0; r != NULL && i < a.n; i++) {
        if (r[i].rc != ZKC_OK) {
            path_err(z, a.v[i].path, r[i].rc, f);
            continue;
        }
        if (!first && !z->json)
            fputc('\n', stdout);
        first = false;
        print_stat(z, a.v[i].path, &r[i].stat, r[i].acl, no_acl);
    }
    zk_fetched_free(r, a.n);
    zk_args_free(&a);
    return z->status;
}

/* ---- tree ---- */

static json_t *tree_json_node(const zk_node *n)
{
    const char *name = n->depth == 0 ? n->path : zkc_path_base(n->path);
    json_t *j = json_pack("{ss ss}", "path", n->path, "name", name);
    if (n->rc == ZKC_OK)
        json_object_set_new(j, "stat", zk_json_stat(&n->stat));
    else
        json_object_set_new(j, "error", json_string(zkc_strerror(n->rc)));
    return j;
}

static void tree_json(zk_tree *t)
{
    /* A stack of the open "children" arrays, one per depth. */
    json_t **stack = calloc(t->n + 1, sizeof *stack);
    json_t *root = NULL;
    if (stack == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        zk_node *n = t->v[i];
        json_t *j = tree_json_node(n);
        json_t *kids = json_array();
        json_object_set_new(j, "children", kids);
        if (n->depth == 0)
            root = j;
        else
            json_array_append_new(stack[n->depth - 1], j);
        stack[n->depth] = kids;
    }
    if (root != NULL)
        zk_json_print(root, true);
    json_decref(root);
    free(stack);
}

static void tree_text(zk_ctx *z, zk_tree *t, bool sizes)
{
    /* last[i]: node i is the last child of its parent.  A reverse scan
     * with one "sibling seen" flag per depth finds it. */
    int maxd = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i]->depth > maxd)
            maxd = t->v[i]->depth;
    bool *last = calloc(t->n + 1, sizeof *last);
    bool *seen = calloc((size_t)maxd + 2, sizeof *seen);
    bool *open = calloc((size_t)maxd + 2, sizeof *open);
    if (last == NULL || seen == NULL || open == NULL)
        goto out;
    for (size_t i = t->n; i-- > 0;) {
        int d = t->v[i]->depth;
        last[i] = !seen[d];
        seen[d] = true;
        for (int k = d + 1; k <= maxd; k++)
            seen[k] = false;
    }
    for (size_t i = 0; i < t->n; i++) {
        zk_node *n = t->v[i];
        for (int k = 1; k < n->depth; k++)
            fputs(open[k] ? "\xe2\x94\x82   " : "    ", stdout);
        if (n->depth > 0)
            fputs(last[i] ? "\xe2\x94\x94\xe2\x94\x80\xe2\x94\x80 "
                          : "\xe2\x94\x9c\xe2\x94\x80\xe2\x94\x80 ",
                  stdout);
        open[n->depth] = !last[i];
        if (sizes && n->rc == ZKC_OK)
            printf("[%7d]  ", (int)n->stat.data_length);
        const char *name = n->depth == 0 ? n->path : zkc_path_base(n->path);
        zk_write_data(z, stdout, name, strlen(name));
        if (n->rc == ZKC_OK && n->stat.ephemeral_owner != 0)
            fputs(" (ephemeral)", stdout);
        fputc('\n', stdout);
    }
out:
    free(last);
    free(seen);
    free(open);
}

/*
 * For tree, find and du: walk the subtree at path (stats only), reporting
 * the root's error or those of the nodes that could not be read.  Returns
 * ZKC_OK with *t to free with zk_tree_free(), or the root's error.
 */
static int walk_stats(zk_ctx *z, const char *path, int max_depth, zk_tree *t)
{
    zk_walk_opts wo = {.want_data = false, .want_acl = false, .max_depth = max_depth};
    int rc = zk_walk(z, path, &wo, t);
    if (rc != ZKC_OK) {
        zk_err(z, path, rc, NULL);
        return rc;
    }
    for (size_t i = 1; i < t->n; i++)
        if (t->v[i]->rc != ZKC_OK)
            zk_err(z, t->v[i]->path, t->v[i]->rc, NULL);
    return ZKC_OK;
}

int zk_cmd_tree(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"json", no_argument, NULL, OPT_JSON},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int depth = -1;
    bool sizes = false;
    int c;
    while ((c = getopt_long(argc, argv, "L:sh", lo, NULL)) != -1) {
        switch (c) {
        case 'L': {
            unsigned v;
            if (zk_parse_uint(optarg, 1, 100000, &v) != 0)
                return zk_usage(z, "-L: want a depth of 1 or more, got '%s'", optarg);
            depth = (int)v;
            break;
        }
        case 's': sizes = true; break;
        case OPT_JSON: z->json = true; break;
        ZK_HELP_CASE;
        }
    }
    if (optind >= argc)
        return zk_usage(z, "no path given");
    zk_args a;
    if (zk_expand_connect(z, argv + optind, argc - optind, false, &a) != 0)
        return ZK_EXIT_FAIL;
    for (size_t i = 0; i < a.n; i++) {
        zk_tree t;
        if (walk_stats(z, a.v[i].path, depth, &t) != ZKC_OK)
            continue;
        if (z->json)
            tree_json(&t);
        else
            tree_text(z, &t, sizes);
        zk_tree_free(&t);
    }
    zk_args_free(&a);
    return z->status;
}

/* ---- find ---- */

int zk_cmd_find(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"name", required_argument, NULL, 'n'},
                                       {"type", required_argument, NULL, 't'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    const char *glob = NULL;
    char type = 0;
    bool nul = false;
    int c;
    while ((c = getopt_long(argc, argv, "n:t:0h", lo, NULL)) != -1) {
        switch (c) {
        case 'n': glob = optarg; break;
        case 't':
            if (strlen(optarg) != 1 || strchr("edf", optarg[0]) == NULL)
                return zk_usage(z, "-t: want e, d or f, got '%s'", optarg);
            type = optarg[0];
            break;
        case '0': nul = true; break;
        ZK_HELP_CASE;
        }
    }
    if (optind >= argc)
        return zk_usage(z, "no path given");
    bool m;
    if (glob != NULL && zkc_glob_match(glob, "", &m) != ZKC_OK)
        return zk_usage(z, "--name: bad pattern '%s'", glob);
    zk_args a;
    if (zk_expand_connect(z, argv + optind, argc - optind, false, &a) != 0)
        return ZK_EXIT_FAIL;
    for (size_t i = 0; i < a.n; i++) {
        zk_tree t;
        if (walk_stats(z, a.v[i].path, -1, &t) != ZKC_OK)
            continue;
        for (size_t k = 0; k < t.n; k++) {
            zk_node *n = t.v[k];
            if (glob != NULL) {
                const char *name = zkc_path_base(n->path);
                if (zkc_glob_match(glob, name, &m) != ZKC_OK || !m)
                    continue;
            }
            if (type != 0) {
                if (n->rc != ZKC_OK)
                    continue;
                bool eph = n->stat.ephemeral_owner != 0, kids = n->stat.num_children > 0;
                if ((type == 'e' && !eph) || (type == 'd' && !kids) || (type == 'f' && kids))
                    continue;
            }
            if (nul) {
                fputs(n->path, stdout);
                fputc('\0', stdout);
            } else {
                zk_write_data(z, stdout, n->path, strlen(n->path));
                fputc('\n', stdout);
            }
        }
        zk_tree_free(&t);
    }
    zk_args_free(&a);
    return z->status;
}

/* ---- du ---- */

typedef struct du_count {
    size_t nodes, ephemerals;
    long long bytes;
} du_count;

static void du_print(zk_ctx *z, const char *path, const du_count *d)
{
    if (z->json) {
        json_t *j = json_pack("{ss sI sI sI}", "path", path, "nodes", (json_int_t)d->nodes,
                              "bytes", (json_int_t)d->bytes, "ephemerals",
                              (json_int_t)d->ephemerals);
        zk_json_print(j, false);
        json_decref(j);
        return;
    }
    printf("%zu\t%lld\t", d->nodes, d->bytes);
    zk_write_data(z, stdout, path, strlen(path));
    fputc('\n', stdout);
}

int zk_cmd_du(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"json", no_argument, NULL, OPT_JSON},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    bool summary = false;
    int c;
    while ((c = getopt_long(argc, argv, "sh", lo, NULL)) != -1) {
        switch (c) {
        case 's': summary = true; break;
        case OPT_JSON: z->json = true; break;
        ZK_HELP_CASE;
        }
    }
    if (optind >= argc)
        return zk_usage(z, "no path given");
    zk_args a;
    if (zk_expand_connect(z, argv + optind, argc - optind, false, &a) != 0)
        return ZK_EXIT_FAIL;
    for (size_t i = 0; i < a.n; i++) {
        zk_tree t;
        if (walk_stats(z, a.v[i].path, -1, &t) != ZKC_OK)
            continue;
        du_count total = {0}, sub = {0};
        const char *sub_path = NULL;
        for (size_t k = 0; k < t.n; k++) {
            zk_node *n = t.v[k];
            if (n->depth == 1) {
                if (sub_path != NULL && !summary)
                    du_print(z, sub_path, &sub);
                sub_path = n->path;
                memset(&sub, 0, sizeof sub);
            }
            du_count one = {1, n->stat.ephemeral_owner != 0, n->stat.data_length};
            total.nodes += one.nodes;
            total.ephemerals += one.ephemerals;
            total.bytes += one.bytes;
            if (n->depth >= 1) {
                sub.nodes += one.nodes;
                sub.ephemerals += one.ephemerals;
                sub.bytes += one.bytes;
            }
        }
        if (sub_path != NULL && !summary)
            du_print(z, sub_path, &sub);
        du_print(z, a.v[i].path, &total);
        zk_tree_free(&t);
    }
    zk_args_free(&a);
    return z->status;
}
