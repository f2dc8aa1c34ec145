/*
 * fake_json.c: loading a fake tree from JSON and dumping it back.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_impl.h"
#include "zkcell/path.h"
#include "zkcell/util.h"

/* ------------------------------------------------------------------ */
/* JSON load and dump.                                                 */
/* ------------------------------------------------------------------ */

typedef struct load_entry {
    char *path;
    char *data;
    size_t len;
} load_entry;

static int fk_load_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const load_entry *)a)->path, ((const load_entry *)b)->path);
}

static void fk_load_entries_free(load_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].path);
        free(e[i].data);
    }
    free(e);
}

/* One JSON value to node data: a string is its bytes, {"base64": "..."}
 * is decoded, anything else is its compact JSON text. */
static int fk_load_value(json_t *v, char **ret, size_t *ret_len)
{
    if (json_is_string(v)) {
        *ret_len = json_string_length(v);
        *ret = zkc_impl_memdup(json_string_value(v), *ret_len);
        return *ret == NULL ? ZKC_ENOMEM : ZKC_OK;
    }
    json_t *b =
        json_is_object(v) && json_object_size(v) == 1 ? json_object_get(v, "base64") : NULL;
    if (b != NULL) {
        if (!json_is_string(b))
            return ZKC_EBADDATA;
        return zkc_base64_decode(json_string_value(b), json_string_length(b), ret, ret_len);
    }
    *ret = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (*ret == NULL)
        return ZKC_ENOMEM;
    *ret_len = strlen(*ret);
    /* jansson's allocation: hand back one of ours. */
    char *copy = zkc_impl_memdup(*ret, *ret_len);
    free(*ret);
    *ret = copy;
    return copy == NULL ? ZKC_ENOMEM : ZKC_OK;
}

/* Create the node at path (parents first) or set its data.  Tree lock
 * held; nothing on the way is ephemeral (checked before). */
static int fk_load_put(zkc_fake_tree *t, const load_entry *e)
{
    size_t len = strlen(e->path);
    fk_node *n = fk_node_find(t, e->path, len);
    if (n != NULL) {
        if (n->len == e->len && (e->len == 0 || memcmp(n->data, e->data, e->len) == 0))
            return ZKC_OK;
        char *data = zkc_impl_memdup(e->data, e->len);
        if (data == NULL)
            return ZKC_ENOMEM;
        free(n->data);
        n->data = data;
        n->len = e->len;
        n->version = fk_inc32(n->version);
        n->mzxid = ++t->zxid;
        n->mtime = zkc_impl_wall_ms();
        fk_watches_fire(t, n->link.key, n->link.klen, WL_DATA, ZKC_EVENT_CHANGED);
        return ZKC_OK;
    }
    /* Walk down from the first missing ancestor. */
    size_t at = 1;
    fk_node *p = t->root;
    while (at < len) {
        size_t end = at;
        while (end < len && e->path[end] != '/')
            end++;
        fk_node *kid = fk_node_find(t, e->path, end);
        if (kid == NULL) {
            int leaf = end == len;
            kid = fk_node_new(e->path, end, leaf ? e->data : NULL, leaf ? e->len : 0);
            if (kid == NULL || fk_node_reserve_kid(p) != ZKC_OK) {
                fk_node_free(kid);
                return ZKC_ENOMEM;
            }
            t->acl_open->refs++;
            kid->acl = t->acl_open;
            fk_node_link(t, p, kid, ++t->zxid, zkc_impl_wall_ms());
            fk_fire_created(t, kid);
        }
        p = kid;
        at = end + 1;
    }
    return ZKC_OK;
}

static int fk_load_root(zkc_fake_tree *t, json_t *root, const json_error_t *jerr,
                        const char *what)
{
    if (root == NULL) {
        zkc_impl_set_errmsg("load %s: not JSON: line %d column %d: %s", what, jerr->line,
                        jerr->column, jerr->text);
        return ZKC_EBADDATA;
    }
    if (!json_is_object(root)) {
        zkc_impl_set_errmsg("load %s: not a JSON object", what);
        json_decref(root);
        return ZKC_EBADDATA;
    }
    size_t n = json_object_size(root);
    load_entry *ents = calloc(n > 0 ? n : 1, sizeof *ents);
    if (ents == NULL) {
        json_decref(root);
        return ZKC_ENOMEM;
    }
    size_t got = 0;
    int rc = ZKC_OK;
    const char *key;
    size_t klen;
    json_t *val;
#if JANSSON_VERSION_HEX >= 0x020e00
    json_object_keylen_foreach(root, key, klen, val)
#else
    json_object_foreach(root, key, val)
#endif
    {
#if JANSSON_VERSION_HEX < 0x020e00
        klen = strlen(key);
#endif
        /* A key with a NUL inside ("\u0000") is not a path either. */
        if (strlen(key) != klen || zkc_path_validate(key, false) != ZKC_OK) {
            zkc_impl_set_errmsg("load %s: bad path \"%s\"", what, key);
            rc = ZKC_EBADPATH;
            break;
        }
        rc = fk_load_value(val, &ents[got].data, &ents[got].len);
        if (rc == ZKC_OK && ents[got].len > ZKC_MAX_DATA)
            rc = ZKC_EBADDATA;
        if (rc == ZKC_OK) {
            ents[got].path = strdup(key);
            if (ents[got].path == NULL)
                rc = ZKC_ENOMEM;
        }
        got++;
        if (rc != ZKC_OK) {
            if (rc == ZKC_EBADDATA)
                zkc_impl_set_errmsg("load %s: %s: bad data (bad base64, or over %d bytes)", what,
                                key, ZKC_MAX_DATA);
            else
                zkc_impl_set_errmsg("load %s: out of memory", what);
            break;
        }
    }
    json_decref(root);
    if (rc != ZKC_OK) {
        fk_load_entries_free(ents, got);
        return rc;
    }
    /* Parents before children: a parent is a prefix, so it sorts first. */
    qsort(ents, got, sizeof *ents, fk_load_entry_cmp);

    pthread_mutex_lock(&t->lock);
    /* All or nothing, but for memory: refuse before changing anything if
     * a path goes through an ephemeral node. */
    for (size_t i = 0; i < got && rc == ZKC_OK; i++) {
        const char *p = ents[i].path;
        size_t len = strlen(p);
        for (size_t end = 1; end < len; end++) {
            if (p[end] != '/')
                continue;
            fk_node *a = fk_node_find(t, p, end);
            if (a == NULL)
                break;
            if (a->owner != 0) {
                zkc_impl_set_errmsg("load %s: %s: %.*s is ephemeral", what, p, (int)end, p);
                rc = ZKC_ENOCHILDRENFOREPHEMERALS;
                break;
            }
        }
    }
    for (size_t i = 0; i < got && rc == ZKC_OK; i++) {
        rc = fk_load_put(t, &ents[i]);
        if (rc != ZKC_OK)
            zkc_impl_set_errmsg("load %s: %s: out of memory", what, ents[i].path);
    }
    pthread_mutex_unlock(&t->lock);
    fk_load_entries_free(ents, got);
    return rc;
}

int zkc_fake_tree_load_json_string(zkc_fake_tree *t, const char *json)
{
    if (t == NULL || json == NULL) {
        zkc_impl_set_errmsg("load: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    json_error_t jerr;
    json_t *root =
        json_loads(json, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    return fk_load_root(t, root, &jerr, "<string>");
}

int zkc_fake_tree_load_json(zkc_fake_tree *t, const char *filename)
{
    if (t == NULL || filename == NULL) {
        zkc_impl_set_errmsg("load: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    /* jansson reads the file; we open it, close-on-exec, and refuse what
     * is not a regular file (a directory would read as an empty text). */
    int fd = open(filename, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int err = fd < 0 ? errno : fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? EISDIR : 0;
    if (err != 0) {
        if (fd >= 0)
            close(fd);
        char buf[128];
        zkc_impl_set_errmsg("load %s: %s", filename,
                        err == EISDIR ? "not a regular file"
                                      : strerror_r(err, buf, sizeof buf));
        return ZKC_EIO;
    }
    json_error_t jerr;
    json_t *root =
        json_loadfd(fd, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    close(fd);
    return fk_load_root(t, root, &jerr, filename);
}

/* Node data as a JSON value: a string when it is UTF-8, else base64. */
static json_t *fk_dump_value(const fk_node *n)
{
    json_t *v = json_stringn(n->data, n->len);
    if (v != NULL)
        return v;
    char *b = zkc_base64_encode((const unsigned char *)n->data, n->len);
    if (b == NULL)
        return NULL;
    v = json_pack("{s:s}", "base64", b);
    free(b);
    return v;
}

static int fk_path_in_zookeeper(const char *p)
{
    return strncmp(p, "/zookeeper", 10) == 0 && (p[10] == '\0' || p[10] == '/');
}

int zkc_fake_tree_dump_json(zkc_fake_tree *t, const char *root, char **ret_json)
{
    if (t == NULL || root == NULL || ret_json == NULL) {
        zkc_impl_set_errmsg("dump: NULL argument");
        return ZKC_EBADARGUMENTS;
    }
    if (zkc_path_validate(root, false) != ZKC_OK) {
        zkc_impl_set_errmsg("dump %s: bad path", root);
        return ZKC_EBADPATH;
    }
    json_t *obj = json_object();
    if (obj == NULL)
        return ZKC_ENOMEM;
    int skip_zk = !fk_path_in_zookeeper(root);
    int rc = ZKC_OK;

    pthread_mutex_lock(&t->lock);
    fk_node *top = fk_node_find(t, root, strlen(root));
    size_t cap = 64, depth = 0;
    fk_node **stack = top != NULL ? malloc(cap * sizeof *stack) : NULL;
    if (top == NULL) {
        zkc_impl_set_errmsg("dump %s: node does not exist", root);
        rc = ZKC_ENONODE;
    } else if (stack == NULL) {
        rc = ZKC_ENOMEM;
    } else {
        stack[depth++] = top;
    }
    while (rc == ZKC_OK && depth > 0) {
        fk_node *n = stack[--depth];
        if (skip_zk && fk_path_in_zookeeper(n->link.key))
            continue;
        json_t *v = fk_dump_value(n);
        if (v == NULL || json_object_set_new_nocheck(obj, n->link.key, v) != 0) {
            rc = ZKC_ENOMEM;
            break;
        }
        if (depth + n->nkids > cap) {
            size_t ncap = (depth + n->nkids) * 2;
            fk_node **ns = realloc(stack, ncap * sizeof *ns);
            if (ns == NULL) {
                rc = ZKC_ENOMEM;
                break;
            }
            stack = ns;
            cap = ncap;
        }
        for (size_t i = 0; i < n->nkids; i++)
            stack[depth++] = n->kids[i];
    }
    pthread_mutex_unlock(&t->lock);
    free(stack);

    if (rc == ZKC_OK) {
        /* Into our own allocation, whatever allocator jansson was given. */
        size_t flags = JSON_INDENT(2) | JSON_SORT_KEYS;
        size_t need = json_dumpb(obj, NULL, 0, flags);
        char *out = need > 0 ? malloc(need + 1) : NULL;
        if (out == NULL || json_dumpb(obj, out, need, flags) != need) {
            free(out);
            rc = ZKC_ENOMEM;
        } else {
            out[need] = '\0';
            *ret_json = out;
        }
    }
    json_decref(obj);
    return rc;
}
