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
 *  - All four show a progress meter (progress.c): nodes read, then
 *    archived or dumped; nodes written out of the input's, then given
 *    their ACL.
 *  - unzip and restore read and check the whole input before writing
 *    anything: an entry that would land outside the target (a "." or
 *    ".." component, an empty one, an absolute zip name, a NUL, anything
 *    the path rules refuse), a zip entry whose data does not match its
 *    declared size and CRC, two entries for one node, data too large for
 *    the server: the input is refused, the entries named, nothing written.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "zkcmd.h"

#define DUMP_FORMAT 1
/* Refused entries named before the rest are only counted. */
#define MAX_REFUSALS_SHOWN 10

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
    bool existed;       /* it was there: set, not created */
    bool written;       /* created or set */
    zk_progress *meter; /* counts it once written; may be NULL */
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
    if (res->rc == ZKC_OK) {
        it->written = true;
        zk_progress_add(it->meter, 1);
    }
}

static void acl_fn(zk_pipe *p, const zkc_result *res, void *tag)
{
    (void)p;
    put_item *it = tag;
    it->rc = res->rc;
    if (res->rc == ZKC_OK)
        zk_progress_add(it->meter, 1);
}

static bool is_world_all(const zkc_acl_list *a)
{
    return a->count == 1 && a->v[0].perms == ZKC_PERM_ALL &&
           strcmp(a->v[0].scheme, "world") == 0 && strcmp(a->v[0].id, "anyone") == 0;
}

/* Whether an item written has an ACL to set: a node we created already
 * has world:anyone, all. */
static bool acl_to_set(const put_item *it)
{
    return it->rc == ZKC_OK && it->acl != NULL && (it->existed || !is_world_all(it->acl));
}

static int item_cmp(const void *a, const void *b)
{
    const put_item *x = a, *y = b;
    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    return zk_path_cmp(x->path, y->path);
}

/* put_many()'s work; each item's written flag says how it went. */
static void put_levels(zk_ctx *z, put_item *items, size_t n, bool acls)
{
    zk_progress_phase(z->meter, "written", 0, n);
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
            items[j].meter = z->meter;
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
            if (rc == ZKC_OK) {
                items[k].written = true;
                zk_progress_add(z->meter, 1);
            }
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
    size_t nacl = 0;
    for (size_t k = 0; k < n; k++)
        nacl += acl_to_set(&items[k]);
    if (nacl > 0)
        zk_progress_phase(z->meter, "given their ACL", 0, nacl);
    for (size_t k = 0; k < n; k++) {
        if (!acl_to_set(&items[k])) {
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

/*
 * Create or update every item, parents before children; then, with
 * acls, set each item's ACL.  Errors are printed per path.  Counted on
 * z's meter, if any: nodes written, out of n, then nodes given their ACL.
 * Returns the number of nodes written (created or set).
 */
static size_t put_many(zk_ctx *z, put_item *items, size_t n, bool acls)
{
    put_levels(z, items, n, acls);
    size_t written = 0;
    for (size_t k = 0; k < n; k++)
        written += items[k].written;
    return written;
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

/* ---- checking an input before writing ---- */

/* The entries of one input found wrong so far. */
typedef struct refusals {
    const char *input; /* the file, for messages */
    size_t n;
} refusals;

/* Report one entry (its name as found, quoted) and why it is refused. */
static void refuse(zk_ctx *z, refusals *r, const char *name, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void refuse(zk_ctx *z, refusals *r, const char *name, size_t len, const char *fmt, ...)
{
    if (r->n++ >= MAX_REFUSALS_SHOWN) {
        z->status = ZK_EXIT_FAIL;
        return;
    }
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    char *q = zk_quote(name, len);
    zk_errf(z, "%s: entry %s: %s", r->input, q != NULL ? q : "?", why);
    free(q);
}

/* After the checks: true to go on writing, or false (said why). */
static bool checked(zk_ctx *z, const refusals *r)
{
    if (r->n == 0 && z->status == ZK_EXIT_OK)
        return true;
    if (r->n > MAX_REFUSALS_SHOWN)
        zk_errf(z, "%s: %zu more bad entries", r->input, r->n - MAX_REFUSALS_SHOWN);
    if (r->n > 0)
        zk_errf(z, "%s: refused (%zu bad %s), nothing written", r->input, r->n,
                r->n == 1 ? "entry" : "entries");
    else
        zk_errf(z, "%s: nothing written", r->input);
    return false;
}

/*
 * Why a name relative to the target ("a/b") would not land strictly
 * under it, or NULL when it is fine: every component must be a real
 * name, so the joined path can be checked as it is, without cleaning.
 */
static const char *bad_relative(const char *name, size_t len)
{
    if (len == 0)
        return "empty name";
    if (memchr(name, '\0', len) != NULL)
        return "NUL in the name";
    if (name[0] == '/')
        return "absolute name";
    const char *s = name, *end = name + len;
    while (s <= end) {
        const char *e = memchr(s, '/', (size_t)(end - s));
        if (e == NULL)
            e = end;
        size_t n = (size_t)(e - s);
        if (n == 0)
            return "empty path component";
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return "\".\" or \"..\" path component";
        s = e + 1;
    }
    return NULL;
}

/* dir + "/" + rel (rel checked by bad_relative()), malloc'd. */
static char *join_under(const char *dir, const char *rel, size_t rel_len)
{
    size_t dl = strcmp(dir, "/") == 0 ? 0 : strlen(dir);
    char *p = malloc(dl + rel_len + 2);
    if (p != NULL) {
        memcpy(p, dir, dl);
        p[dl] = '/';
        memcpy(p + dl + 1, rel, rel_len);
        p[dl + 1 + rel_len] = '\0';
    }
    return p;
}

/* Sort the items and refuse two for one node. */
static void refuse_duplicates(zk_ctx *z, refusals *r, put_item *items, size_t n)
{
    qsort(items, n, sizeof *items, item_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(items[i].path, items[i - 1].path) == 0 &&
            (i < 2 || strcmp(items[i].path, items[i - 2].path) != 0))
            refuse(z, r, items[i].path, strlen(items[i].path), "more than one entry for %s",
                   items[i].path);
}

/* ---- zip ---- */

/* zip_open(), or NULL after an error naming the archive. */
static zip_t *archive_open(zk_ctx *z, const char *name, int flags)
{
    int zerr = 0;
    zip_t *zip = zip_open(name, flags, &zerr);
    if (zip == NULL && zerr == ZIP_ER_EXISTS && !(flags & ZIP_CREATE)) {
        /* libzip's word for two entries of one name. */
        zk_errf(z, "%s: refused, two entries have the same name; nothing written", name);
    } else if (zip == NULL && zerr == ZIP_ER_INCONS) {
        /* Also what libzip says of a name flagged UTF-8 that is not, or
         * holds a control character. */
        zk_errf(z, "%s: refused, the archive is inconsistent (a bad entry name?); nothing "
                   "written",
                name);
    } else if (zip == NULL) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        zk_errf(z, "%s: %s", name, zip_error_strerror(&ze));
        zip_error_fini(&ze);
    }
    return zip;
}

/* The option loop of zip and unzip: --help, --quiet, --progress.  Returns
 * -1 to go on with the operands from optind, or the exit status. */
static int getopt_progress(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                       ZK_PROGRESS_OPTIONS,
                                       {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        ZK_PROGRESS_CASE;
        ZK_HELP_CASE;
        }
    }
    return -1;
}

/* libzip writing the archive: the share done, as entries on the meter. */
typedef struct zip_meter {
    zk_progress *p;
    size_t entries;
} zip_meter;

static void zip_progress(zip_t *zip, double done, void *ud)
{
    zip_meter *m = ud;
    (void)zip;
    zk_progress_set(m->p, (uint64_t)(done * (double)m->entries), m->entries);
}

int zk_cmd_zip(zk_ctx *z, int argc, char **argv)
{
    int status = getopt_progress(z, argc, argv);
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
    zk_progress_start(z, "zip", argv + optind, argc - optind, "read", 0);
    /* The data must live until zip_close(): keep every tree. */
    zk_tree *trees = calloc(a.n, sizeof *trees);
    size_t entries = 0;
    for (size_t i = 0; trees != NULL && i < a.n; i++) {
        zk_walk_opts wo = {.want_data = true, .want_acl = false, .max_depth = -1,
                           .progress = z->meter};
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
    zip_meter zm = {.p = z->meter, .entries = entries};
    zk_progress_phase(zm.p, "archived", 0, entries);
    if (zm.p != NULL)
        zip_register_progress_callback_with_state(zip, 0.01, zip_progress, NULL, &zm);
    size_t archived = 0;
    if (entries == 0) {
        zip_discard(zip);
        if (z->status == ZK_EXIT_OK)
            zk_errf(z, "nothing to archive");
    } else if (zip_close(zip) != 0) {
        zk_errf(z, "%s: %s", out, zip_strerror(zip));
        zip_discard(zip);
    } else {
        archived = entries;
    }
    zk_progress_end(z, archived, "archived");
    for (size_t i = 0; trees != NULL && i < a.n; i++)
        zk_tree_free(&trees[i]);
    free(trees);
    zk_args_free(&a);
    return z->status;
}

/* ---- unzip ---- */

/*
 * Read entry i whole into a malloc'd buffer.  libzip checks the CRC when
 * a read reaches the end of the data, so read until it says so: an entry
 * whose data is longer or shorter than declared, or whose CRC is wrong,
 * is an error (in why) rather than silently cut.
 */
static int read_entry(zip_t *zip, zip_uint64_t i, zip_uint64_t size, char **ret, char *why,
                      size_t why_size)
{
    char *data = malloc(size + 1);
    zip_file_t *f = data != NULL ? zip_fopen_index(zip, i, 0) : NULL;
    if (f == NULL) {
        snprintf(why, why_size, "%s", data == NULL ? "out of memory" : zip_strerror(zip));
        free(data);
        return -1;
    }
    zip_uint64_t got = 0;
    char extra;
    int rc = 0;
    for (;;) {
        zip_int64_t n = got < size ? zip_fread(f, data + got, size - got) : zip_fread(f, &extra, 1);
        if (n < 0) {
            snprintf(why, why_size, "%s", zip_file_strerror(f));
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        if (got == size) {
            snprintf(why, why_size, "more data than its declared size");
            rc = -1;
            break;
        }
        got += (zip_uint64_t)n;
    }
    if (rc == 0 && got != size) {
        snprintf(why, why_size, "less data than its declared size");
        rc = -1;
    }
    zip_fclose(f);
    if (rc != 0) {
        free(data);
        return -1;
    }
    data[size] = '\0';
    *ret = data;
    return 0;
}

int zk_cmd_unzip(zk_ctx *z, int argc, char **argv)
{
    int status = getopt_progress(z, argc, argv);
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
    size_t n = 0, written = 0;
    refusals ref = {.input = in};
    if (items == NULL)
        zk_errf(z, "out of memory");
    zk_progress *meter = zk_progress_start(z, "unzip", argv + optind, 2, "read",
                                           total > 0 ? (uint64_t)total : 0);
    for (zip_int64_t i = 0; items != NULL && i < total; i++) {
        zk_progress_add(meter, 1);
        zip_stat_t st;
        zip_stat_init(&st);
        if (zip_stat_index(zip, (zip_uint64_t)i, 0, &st) != 0 ||
            !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE)) {
            char num[32];
            snprintf(num, sizeof num, "#%lld", (long long)i);
            refuse(z, &ref, num, strlen(num), "%s", zip_strerror(zip));
            continue;
        }
        size_t nl = strlen(st.name);
        bool folder = nl > 0 && st.name[nl - 1] == '/';
        const char *why = bad_relative(st.name, folder ? nl - 1 : nl);
        if (why != NULL) {
            refuse(z, &ref, st.name, nl, "%s: it would land outside %s", why, prefix);
            continue;
        }
        if (folder)
            continue; /* a folder entry: nodes come with their own */
        char *path = join_under(prefix, st.name, nl);
        if (path == NULL) {
            zk_errf(z, "out of memory");
            break;
        }
        if (zkc_path_validate(path, false) != ZKC_OK) {
            refuse(z, &ref, st.name, nl, "not a valid ZooKeeper path under %s", prefix);
            free(path);
            continue;
        }
        char msg[256];
        if (!zk_data_fits_msg(z, path, st.size, msg, sizeof msg)) {
            refuse(z, &ref, st.name, nl, "%s", msg);
            free(path);
            continue;
        }
        char *data = NULL;
        if (read_entry(zip, (zip_uint64_t)i, st.size, &data, msg, sizeof msg) != 0) {
            refuse(z, &ref, st.name, nl, "%s", msg);
            free(path);
            continue;
        }
        items[n].path = path;
        items[n].data = data;
        items[n].len = (size_t)st.size;
        items[n].depth = depth_of(path);
        n++;
    }
    zip_discard(zip);
    refuse_duplicates(z, &ref, items, n);
    if (checked(z, &ref) && n > 0 && zk_connect(z) == ZKC_OK)
        written = put_many(z, items, n, false);
    zk_progress_end(z, written, "unzipped");
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
                                       ZK_PROGRESS_OPTIONS,
                                       {NULL, 0, NULL, 0}};
    bool ephemerals = false;
    const char *outname = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "eo:h", lo, NULL)) != -1) {
        switch (c) {
        case 'e': ephemerals = true; break;
        case 'o': outname = optarg; break;
        ZK_PROGRESS_CASE;
        ZK_HELP_CASE;
        }
    }
    if (argc - optind != 1)
        return zk_usage(z, "want exactly one path");
    zk_args a;
    if (zk_expand_single(z, argv[optind], &a) != 0)
        return ZK_EXIT_FAIL;
    const char *root = a.v[0].path;
    zk_progress *meter = zk_progress_start(z, "dump", argv + optind, 1, "read", 0);
    zk_walk_opts wo = {.want_data = true, .want_acl = true, .max_depth = -1, .progress = meter};
    zk_tree t;
    int rc = zk_walk(z, root, &wo, &t);
    if (rc != ZKC_OK) {
        zk_err(z, root, rc, NULL);
        zk_progress_end(z, 0, "dumped");
        zk_args_free(&a);
        return ZK_EXIT_FAIL;
    }
    FILE *f = stdout;
    if (outname != NULL && strcmp(outname, "-") != 0 && (f = fopen(outname, "we")) == NULL) {
        zk_errf(z, "%s: %s", outname, strerror(errno));
        zk_progress_end(z, 0, "dumped");
        zk_tree_free(&t);
        zk_args_free(&a);
        return ZK_EXIT_FAIL;
    }
    /* To a file, the writing on the meter; to stdout, which may be the
     * terminal, the meter off meanwhile. */
    zk_progress_phase(meter, "written", 0, t.n);
    if (f == stdout)
        zk_progress_hold(z);
    size_t dumped = 0;
    json_t *jroot = json_string(root);
    char *sroot = json_dumps(jroot, JSON_ENCODE_ANY);
    fprintf(f, "{\"zkcell_dump\": %d, \"root\": %s, \"nodes\": [\n", DUMP_FORMAT, sroot);
    free(sroot);
    json_decref(jroot);
    bool first = true;
    for (size_t i = 0; i < t.n; i++) {
        zk_node *n = t.v[i];
        zk_progress_add(meter, 1);
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
        dumped++;
        free(s);
        json_decref(j);
    }
    fputs("\n]}\n", f);
    if (f == stdout) {
        fflush(stdout);
        zk_progress_release(z);
    } else if (fclose(f) != 0) {
        zk_errf(z, "%s: %s", outname, strerror(errno));
        dumped = 0;
    }
    zk_progress_end(z, dumped, "dumped");
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
                                       ZK_PROGRESS_OPTIONS,
                                       {NULL, 0, NULL, 0}};
    bool ephemerals = false, acls = true;
    int c;
    while ((c = getopt_long(argc, argv, "eh", lo, NULL)) != -1) {
        switch (c) {
        case 'e': ephemerals = true; break;
        case OPT_NO_ACL: acls = false; break;
        ZK_PROGRESS_CASE;
        ZK_HELP_CASE;
        }
    }
    int nargs = argc - optind;
    if (nargs < 1 || nargs > 2)
        return zk_usage(z, "want a dump file and, optionally, a destination path");
    const char *file = argv[optind];
    json_error_t je;
    /* NULs are let through the parser so that a path holding one can be
     * named and refused below (data with NULs is fine). */
    json_t *doc = strcmp(file, "-") == 0 ? json_loadf(stdin, JSON_ALLOW_NUL, &je)
                                         : json_load_file(file, JSON_ALLOW_NUL, &je);
    if (doc == NULL) {
        zk_errf(z, "%s:%d: %s", file, je.line, je.text);
        return ZK_EXIT_FAIL;
    }
    const char *root;
    json_t *nodes, *jroot;
    json_int_t format;
    if (json_unpack_ex(doc, &je, 0, "{sI so so}", "zkcell_dump", &format, "root", &jroot,
                       "nodes", &nodes) != 0 ||
        format != DUMP_FORMAT || !json_is_array(nodes) || !json_is_string(jroot)) {
        zk_errf(z, "%s: not a zk dump (format %d)", file, DUMP_FORMAT);
        json_decref(doc);
        return ZK_EXIT_FAIL;
    }
    root = json_string_value(jroot);
    /* The root is only a prefix to strip, but it must be a path as it is:
     * "/backup/.." would let "/backup/../victim" through. */
    if (strlen(root) != json_string_length(jroot) || zkc_path_validate(root, false) != ZKC_OK) {
        char *q = zk_quote(root, json_string_length(jroot));
        zk_errf(z, "%s: root %s is not a valid ZooKeeper path, nothing written", file,
                q != NULL ? q : "?");
        free(q);
        json_decref(doc);
        return ZK_EXIT_FAIL;
    }
    char *dest = nargs == 2 ? zk_arg_clean(z, argv[optind + 1], NULL) : strdup(root);
    if (dest == NULL) {
        json_decref(doc);
        return ZK_EXIT_FAIL;
    }
    size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
    size_t total = json_array_size(nodes), n = 0, written = 0;
    put_item *items = calloc(total > 0 ? total : 1, sizeof *items);
    refusals ref = {.input = file};
    if (items == NULL)
        zk_errf(z, "out of memory");
    zk_progress *meter = zk_progress_start(z, "restore", argv + optind, nargs, "read", total);
    for (size_t i = 0; items != NULL && i < total; i++) {
        json_t *e = json_array_get(nodes, i);
        zk_progress_add(meter, 1);
        json_t *jpath = json_object_get(e, "path");
        if (!json_is_string(jpath)) {
            char num[32];
            snprintf(num, sizeof num, "#%zu", i);
            refuse(z, &ref, num, strlen(num), "no \"path\"");
            continue;
        }
        const char *path = json_string_value(jpath);
        size_t pl = json_string_length(jpath);
        /* The root itself, or a real name under it: checked as written,
         * never cleaned. */
        bool self = pl == strlen(root) && memcmp(path, root, pl) == 0;
        const char *rel = path + rl + 1, *why = NULL;
        size_t rel_len = pl > rl ? pl - rl - 1 : 0;
        if (!self && (pl < rl + 1 || memcmp(path, root, rl) != 0 || path[rl] != '/'))
            why = "not under the root";
        else if (!self)
            why = rel[0] == '/' ? "empty path component" : bad_relative(rel, rel_len);
        if (why != NULL) {
            refuse(z, &ref, path, pl, "%s: it would land outside %s", why, root);
            continue;
        }
        if (json_is_true(json_object_get(e, "ephemeral")) && !ephemerals)
            continue;
        char *np = self ? strdup(dest) : join_under(dest, rel, rel_len);
        if (np == NULL) {
            zk_errf(z, "out of memory");
            break;
        }
        /* "/" itself always exists and has no data worth restoring. */
        if (strcmp(np, "/") == 0) {
            free(np);
            continue;
        }
        if (zkc_path_validate(np, false) != ZKC_OK) {
            refuse(z, &ref, path, pl, "not a valid ZooKeeper path under %s", dest);
            free(np);
            continue;
        }
        put_item *it = &items[n];
        it->path = np;
        if (zk_json_get_data(e, &it->data, &it->len) != 0) {
            refuse(z, &ref, path, pl, "bad data");
        } else {
            char msg[256];
            json_t *acl = json_object_get(e, "acl");
            if (!zk_data_fits_msg(z, np, it->len, msg, sizeof msg))
                refuse(z, &ref, path, pl, "%s", msg);
            else if (acls && acl != NULL && zk_json_get_acl(acl, &it->acl) != 0)
                refuse(z, &ref, path, pl, "bad ACL");
        }
        it->depth = depth_of(np);
        n++; /* kept even when refused, so that it is freed */
    }
    refuse_duplicates(z, &ref, items, n);
    json_decref(doc);
    if (checked(z, &ref) && n > 0 && zk_connect(z) == ZKC_OK)
        written = put_many(z, items, n, acls);
    zk_progress_end(z, written, "restored");
    items_free(items, n);
    free(dest);
    return z->status;
}
