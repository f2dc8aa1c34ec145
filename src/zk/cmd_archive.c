/*
 * cmd_archive.c: whole subtrees in and out: zip, unzip, dump, restore.
 *
 * Decisions (also in zk(1)):
 *  - zip stores one deflated entry per node, named by its absolute path
 *    without the leading '/', with the node's mtime.  Unlike the
 *    original, the node named on the command line is archived too, so
 *    its own data is not lost.  Ephemeral nodes are skipped (they belong
 *    to a session that will not be there when the archive is unpacked);
 *    ACLs are not kept (a zip entry has no place for them).
 *  - dump keeps everything zip leaves out: data as "data" (UTF-8 text) or
 *    "data_base64", the ACL, and with -e the ephemeral nodes, marked.
 *    One node per line, so dumps diff well.
 *  - unzip and restore create what is missing (world:anyone, all) and
 *    set the data of what exists, one depth level at a time with many
 *    operations in flight; restore then applies the dumped ACLs.
 *    Ephemeral nodes are restored only with -e, and as persistent nodes.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "zkcmd.h"

#define DUMP_FORMAT 1

static bool skip_system(const char *root, const char *path)
{
    /* The server's own /zookeeper tree is never archived from "/". */
    return strcmp(root, "/") == 0 &&
           (strcmp(path, "/zookeeper") == 0 || strncmp(path, "/zookeeper/", 11) == 0);
}

/* ---- writing many nodes ---- */

typedef struct put_item {
    char *path;
    char *data;
    size_t len;
    zkc_acl_list *acl; /* restore: applied after every node exists */
    int depth;
    int rc;
    bool existed; /* it was there: set, not created */
} put_item;

static int depth_of(const char *path)
{
    int d = 0;
    for (; *path != '\0'; path++)
        d += *path == '/';
    return d;
}

static void put_fn(zk_pipe *p, const zkc_result *res, void *tag)
{
    put_item *it = tag;
    if (res->op == ZKC_OP_CREATE && res->rc == ZKC_ENODEEXISTS) {
        it->existed = true;
        zkc_request req = {.op = ZKC_OP_SET, .path = it->path, .data = it->data,
                           .data_len = it->len, .version = -1};
        it->rc = zk_pipe_add(p, &req, put_fn, it);
        return;
    }
    it->rc = res->rc;
}

static void acl_fn(zk_pipe *p, const zkc_result *res, void *tag)
{
    (void)p;
    ((put_item *)tag)->rc = res->rc;
}

static bool is_world_all(const zkc_acl_list *a)
{
    return a->count == 1 && a->v[0].perms == ZKC_PERM_ALL &&
           strcmp(a->v[0].scheme, "world") == 0 && strcmp(a->v[0].id, "anyone") == 0;
}

static int item_cmp(const void *a, const void *b)
{
    const put_item *x = a, *y = b;
    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    return zk_path_cmp(x->path, y->path);
}

/*
 * Create or update every item, parents before children; then, with
 * acls, set each item's ACL.  Errors are printed per path.
 */
static void put_many(zk_ctx *z, put_item *items, size_t n, bool acls)
{
    qsort(items, n, sizeof *items, item_cmp);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        zk_pipe *p = zk_pipe_new(z->conn, z->window, z->cancel);
        if (p == NULL) {
            zk_errf(z, "out of memory");
            return;
        }
        for (; j < n && items[j].depth == items[i].depth; j++) {
            zkc_request req = {.op = ZKC_OP_CREATE, .path = items[j].path,
                               .data = items[j].data, .data_len = items[j].len, .version = -1};
            items[j].rc = zk_pipe_add(p, &req, put_fn, &items[j]);
        }
        int rc = zk_pipe_run(p);
        zk_pipe_free(p);
        if (rc != ZKC_OK) {
            zk_errf(z, "%s", zkc_strerror(rc));
            return;
        }
        /* A parent that is not in the set: make it, then the node. */
        for (size_t k = i; k < j; k++) {
            if (items[k].rc != ZKC_ENONODE)
                continue;
            rc = zkc_create_recursive(z->conn, items[k].path, items[k].data, items[k].len, 0,
                                      NULL, NULL);
            if (rc == ZKC_ENODEEXISTS) {
                items[k].existed = true;
                rc = zkc_set(z->conn, items[k].path, items[k].data, items[k].len, -1, NULL);
            }
            items[k].rc = rc;
        }
        i = j;
    }
    for (size_t k = 0; k < n; k++)
        if (items[k].rc != ZKC_OK)
            zk_err(z, items[k].path, items[k].rc, NULL);
    if (!acls)
        return;
    zk_pipe *p = zk_pipe_new(z->conn, z->window, z->cancel);
    if (p == NULL)
        return;
    for (size_t k = 0; k < n; k++) {
        /* A node we created already has world:anyone, all. */
        if (items[k].rc != ZKC_OK || items[k].acl == NULL ||
            (!items[k].existed && is_world_all(items[k].acl))) {
            zkc_acl_list_free(items[k].acl);
            items[k].acl = NULL;
            continue;
        }
        zkc_request req = {.op = ZKC_OP_SET_ACL, .path = items[k].path, .acl = items[k].acl,
                           .version = -1};
        items[k].rc = zk_pipe_add(p, &req, acl_fn, &items[k]);
    }
    zk_pipe_run(p);
    zk_pipe_free(p);
    for (size_t k = 0; k < n; k++)
        if (items[k].rc != ZKC_OK && items[k].acl != NULL)
            zk_err(z, items[k].path, items[k].rc, "setting the ACL");
}

static void items_free(put_item *items, size_t n)
{
    for (size_t i = 0; items != NULL && i < n; i++) {
        free(items[i].path);
        free(items[i].data);
        zkc_acl_list_free(items[i].acl);
    }
    free(items);
}

/* ---- zip ---- */

/* zip_open(), or NULL after an error naming the archive. */
static zip_t *archive_open(zk_ctx *z, const char *name, int flags)
{
    int zerr = 0;
    zip_t *zip = zip_open(name, flags, &zerr);
    if (zip == NULL) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        zk_errf(z, "%s: %s", name, zip_error_strerror(&ze));
        zip_error_fini(&ze);
    }
    return zip;
}

int zk_cmd_zip(zk_ctx *z, int argc, char **argv)
{
    int status = zk_getopt_none(z, argc, argv, "h");
    if (status >= 0)
        return status;
    if (argc - optind < 2)
        return zk_usage(z, "want one or more paths and an archive name");
    const char *out = argv[argc - 1];
    zk_args a;
    if (zk_expand_connect(z, argv + optind, argc - optind - 1, false, &a) != 0 || a.n == 0) {
        zk_args_free(&a);
        return ZK_EXIT_FAIL;
    }
    zip_t *zip = archive_open(z, out, ZIP_CREATE | ZIP_TRUNCATE);
    if (zip == NULL) {
        zk_args_free(&a);
        return ZK_EXIT_FAIL;
    }
    /* The data must live until zip_close(): keep every tree. */
    zk_tree *trees = calloc(a.n, sizeof *trees);
    size_t entries = 0;
    for (size_t i = 0; trees != NULL && i < a.n; i++) {
        zk_walk_opts wo = {.want_data = true, .want_acl = false, .max_depth = -1};
        int rc = zk_walk(z, a.v[i].path, &wo, &trees[i]);
        if (rc != ZKC_OK) {
            zk_err(z, a.v[i].path, rc, NULL);
            continue;
        }
        for (size_t k = 0; k < trees[i].n; k++) {
            zk_node *n = trees[i].v[k];
            if (n->rc != ZKC_OK) {
                zk_err(z, n->path, n->rc, NULL);
                continue;
            }
            if (n->stat.ephemeral_owner != 0 || strcmp(n->path, "/") == 0 ||
                skip_system(a.v[i].path, n->path))
                continue;
            zip_source_t *src = zip_source_buffer(zip, n->data, n->data_len, 0);
            zip_int64_t idx = src != NULL ? zip_file_add(zip, n->path + 1, src,
                                                         ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8)
                                          : -1;
            if (idx < 0) {
                zip_source_free(src);
                zk_errf(z, "%s: %s", n->path, zip_strerror(zip));
                continue;
            }
            zip_set_file_compression(zip, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 0);
            zip_file_set_mtime(zip, (zip_uint64_t)idx, (time_t)(n->stat.mtime / 1000), 0);
            entries++;
        }
    }
    if (entries == 0) {
        zip_discard(zip);
        if (z->status == ZK_EXIT_OK)
            zk_errf(z, "nothing to archive");
    } else if (zip_close(zip) != 0) {
        zk_errf(z, "%s: %s", out, zip_strerror(zip));
        zip_discard(zip);
    }
    for (size_t i = 0; trees != NULL && i < a.n; i++)
        zk_tree_free(&trees[i]);
    free(trees);
    zk_args_free(&a);
    return z->status;
}

/* ---- unzip ---- */

int zk_cmd_unzip(zk_ctx *z, int argc, char **argv)
{
    int status = zk_getopt_none(z, argc, argv, "h");
    if (status >= 0)
        return status;
    if (argc - optind != 2)
        return zk_usage(z, "want an archive and a destination prefix");
    const char *in = argv[optind];
    char *prefix = zk_arg_clean(z, argv[optind + 1], NULL);
    if (prefix == NULL)
        return ZK_EXIT_FAIL;
    zip_t *zip = archive_open(z, in, ZIP_RDONLY);
    if (zip == NULL) {
        free(prefix);
        return ZK_EXIT_FAIL;
    }
    zip_int64_t total = zip_get_num_entries(zip, 0);
    put_item *items = calloc(total > 0 ? (size_t)total : 1, sizeof *items);
    size_t n = 0;
    for (zip_int64_t i = 0; items != NULL && i < total; i++) {
        zip_stat_t st;
        if (zip_stat_index(zip, (zip_uint64_t)i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
            !(st.valid & ZIP_STAT_SIZE)) {
            zk_errf(z, "%s: entry %lld: %s", in, (long long)i, zip_strerror(zip));
            continue;
        }
        size_t nl = strlen(st.name);
        if (nl == 0 || st.name[nl - 1] == '/')
            continue; /* a folder entry: nodes come with their own */
        if (st.size > ZKC_MAX_DATA) {
            zk_errf(z, "%s: %s: %llu bytes is more than ZooKeeper takes", in, st.name,
                    (unsigned long long)st.size);
            continue;
        }
        char *joined = malloc(strlen(prefix) + nl + 3);
        if (joined == NULL)
            break;
        sprintf(joined, "%s/%s", strcmp(prefix, "/") == 0 ? "" : prefix, st.name);
        char *path = zk_path_clean(joined, NULL);
        free(joined);
        char *data = malloc(st.size + 1);
        zip_file_t *f = path != NULL && data != NULL ? zip_fopen_index(zip, (zip_uint64_t)i, 0)
                                                     : NULL;
        zip_int64_t got = f != NULL ? zip_fread(f, data, st.size) : -1;
        if (f != NULL)
            zip_fclose(f);
        if (got < 0 || (zip_uint64_t)got != st.size) {
            zk_errf(z, "%s: %s: %s", in, st.name, zip_strerror(zip));
            free(path);
            free(data);
            continue;
        }
        items[n].path = path;
        items[n].data = data;
        items[n].len = (size_t)got;
        items[n].depth = depth_of(path);
        n++;
    }
    zip_discard(zip);
    if (n > 0 && zk_connect(z) == ZKC_OK)
        put_many(z, items, n, false);
    items_free(items, n);
    free(prefix);
    return z->status;
}

/* ---- dump ---- */

int zk_cmd_dump(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
                                       {"ephemerals", no_argument, NULL, 'e'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    bool ephemerals = false;
    const char *outname = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "eo:h", lo, NULL)) != -1) {
        switch (c) {
        case 'e': ephemerals = true; break;
        case 'o': outname = optarg; break;
        ZK_HELP_CASE;
        }
    }
    if (argc - optind != 1)
        return zk_usage(z, "want exactly one path");
    zk_args a;
    if (zk_expand_single(z, argv[optind], &a) != 0)
        return ZK_EXIT_FAIL;
    const char *root = a.v[0].path;
    zk_walk_opts wo = {.want_data = true, .want_acl = true, .max_depth = -1};
    zk_tree t;
    int rc = zk_walk(z, root, &wo, &t);
    if (rc != ZKC_OK) {
        zk_err(z, root, rc, NULL);
        zk_args_free(&a);
        return ZK_EXIT_FAIL;
    }
    FILE *f = stdout;
    if (outname != NULL && strcmp(outname, "-") != 0 && (f = fopen(outname, "w")) == NULL) {
        zk_errf(z, "%s: %s", outname, strerror(errno));
        zk_tree_free(&t);
        zk_args_free(&a);
        return ZK_EXIT_FAIL;
    }
    json_t *jroot = json_string(root);
    char *sroot = json_dumps(jroot, JSON_ENCODE_ANY);
    fprintf(f, "{\"zkcell_dump\": %d, \"root\": %s, \"nodes\": [\n", DUMP_FORMAT, sroot);
    free(sroot);
    json_decref(jroot);
    bool first = true;
    for (size_t i = 0; i < t.n; i++) {
        zk_node *n = t.v[i];
        if (n->rc != ZKC_OK) {
            zk_err(z, n->path, n->rc, NULL);
            continue;
        }
        bool eph = n->stat.ephemeral_owner != 0;
        if ((eph && !ephemerals) || skip_system(root, n->path))
            continue;
        json_t *j = json_pack("{ss}", "path", n->path);
        zk_json_set_data(j, n->data, n->data_len);
        json_object_set_new(j, "acl", zk_json_acl(n->acl));
        if (eph)
            json_object_set_new(j, "ephemeral", json_true());
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf(f, "%s%s", first ? "" : ",\n", s);
        first = false;
        free(s);
        json_decref(j);
    }
    fputs("\n]}\n", f);
    if (f != stdout && fclose(f) != 0)
        zk_errf(z, "%s: %s", outname, strerror(errno));
    zk_tree_free(&t);
    zk_args_free(&a);
    return z->status;
}

/* ---- restore ---- */

int zk_cmd_restore(zk_ctx *z, int argc, char **argv)
{
    enum { OPT_NO_ACL = 400 };
    static const struct option lo[] = {{"no-acl", no_argument, NULL, OPT_NO_ACL},
                                       {"ephemerals", no_argument, NULL, 'e'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    bool ephemerals = false, acls = true;
    int c;
    while ((c = getopt_long(argc, argv, "eh", lo, NULL)) != -1) {
        switch (c) {
        case 'e': ephemerals = true; break;
        case OPT_NO_ACL: acls = false; break;
        ZK_HELP_CASE;
        }
    }
    int nargs = argc - optind;
    if (nargs < 1 || nargs > 2)
        return zk_usage(z, "want a dump file and, optionally, a destination path");
    const char *file = argv[optind];
    json_error_t je;
    json_t *doc = strcmp(file, "-") == 0 ? json_loadf(stdin, 0, &je) : json_load_file(file, 0, &je);
    if (doc == NULL) {
        zk_errf(z, "%s:%d: %s", file, je.line, je.text);
        return ZK_EXIT_FAIL;
    }
    const char *root;
    json_t *nodes;
    json_int_t format;
    if (json_unpack_ex(doc, &je, 0, "{sI ss so}", "zkcell_dump", &format, "root", &root, "nodes",
                       &nodes) != 0 ||
        format != DUMP_FORMAT || !json_is_array(nodes)) {
        zk_errf(z, "%s: not a zk dump (format %d)", file, DUMP_FORMAT);
        json_decref(doc);
        return ZK_EXIT_FAIL;
    }
    char *dest;
    if (nargs == 2) {
        dest = zk_arg_clean(z, argv[optind + 1], NULL);
    } else if ((dest = zk_path_clean(root, NULL)) == NULL) {
        zk_err(z, root, ZKC_EBADPATH, "not an absolute path");
    }
    if (dest == NULL) {
        json_decref(doc);
        return ZK_EXIT_FAIL;
    }
    size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
    size_t total = json_array_size(nodes), n = 0;
    put_item *items = calloc(total > 0 ? total : 1, sizeof *items);
    for (size_t i = 0; items != NULL && i < total; i++) {
        json_t *e = json_array_get(nodes, i);
        const char *path = json_string_value(json_object_get(e, "path"));
        if (path == NULL || strncmp(path, root, rl) != 0 ||
            (path[rl] != '\0' && path[rl] != '/' && rl > 0)) {
            zk_errf(z, "%s: node %zu: no path under %s", file, i, root);
            continue;
        }
        if (json_is_true(json_object_get(e, "ephemeral")) && !ephemerals)
            continue;
        put_item *it = &items[n];
        if (zk_json_get_data(e, &it->data, &it->len) != 0) {
            zk_errf(z, "%s: %s: bad data", file, path);
            continue;
        }
        json_t *acl = json_object_get(e, "acl");
        if (acls && acl != NULL && zk_json_get_acl(acl, &it->acl) != 0) {
            zk_errf(z, "%s: %s: bad ACL", file, path);
            free(it->data);
            it->data = NULL;
            continue;
        }
        const char *rest = path + rl;
        size_t dl = strcmp(dest, "/") == 0 ? 0 : strlen(dest);
        char *np = malloc(dl + strlen(rest) + 2);
        if (np != NULL)
            sprintf(np, "%.*s%s", (int)dl, dest, *rest != '\0' ? rest : (dl == 0 ? "/" : ""));
        it->path = np != NULL ? zk_path_clean(np, NULL) : NULL;
        free(np);
        if (it->path == NULL || strcmp(it->path, "/") == 0) {
            /* "/" itself always exists and has no data worth restoring. */
            free(it->path);
            free(it->data);
            zkc_acl_list_free(it->acl);
            memset(it, 0, sizeof *it);
            continue;
        }
        it->depth = depth_of(it->path);
        n++;
    }
    json_decref(doc);
    if (n > 0 && zk_connect(z) == ZKC_OK)
        put_many(z, items, n, acls);
    items_free(items, n);
    free(dest);
    return z->status;
}
