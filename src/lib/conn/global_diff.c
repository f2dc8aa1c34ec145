/*
 * global_diff.c: divergence between the quorums of a global namespace:
 * zkc_global_diff() walks the trees with blocking reads fanned out per
 * node and lists what differs; zkc_global_repair() makes every quorum
 * match a source quorum, each change checked against the version just
 * read, versions only raised (global.h says the whole contract).  The
 * namespace itself is conn_global.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "global_impl.h"
#include "zkcell/global.h"
#include "zkcell/path.h"
#include "zkcell/sys/conn_impl.h"

/* Versions further apart than this are reported, not realigned. */
#define MAX_VERSION_BUMPS 100000

/* ------------------------------------------------------------------ */
/* Divergence: diff and repair, with blocking reads fanned out per node. */
/* ------------------------------------------------------------------ */

/* What one quorum holds at one path. */
typedef struct nodeinfo {
    int rc; /* ZKC_OK, ZKC_ENONODE (absent), or the read's error */
    char *errmsg;
    char *data;
    size_t data_len;
    zkc_stat stat;
    zkc_acl_list *acl;
    zkc_stat acl_stat;
    zkc_strings *kids;
} nodeinfo;

typedef struct reader {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t left;
} reader;

typedef struct read_slot {
    reader *rd;
    nodeinfo *ni;
} read_slot;

static void read_done(const zkc_result *res, void *userdata)
{
    read_slot *s = userdata;
    nodeinfo *ni = s->ni;
    pthread_mutex_lock(&s->rd->lock);
    int rc = res->rc;
    if (rc == ZKC_OK) {
        if (res->op == ZKC_OP_GET) {
            ni->data = zkc_impl_memdup(res->data != NULL ? res->data : "", res->data_len);
            ni->data_len = res->data_len;
            if (res->stat != NULL)
                ni->stat = *res->stat;
            rc = ni->data != NULL ? ZKC_OK : ZKC_ENOMEM;
        } else if (res->op == ZKC_OP_GET_ACL) {
            ni->acl = res->acl != NULL ? zkc_acl_list_dup(res->acl) : NULL;
            if (res->stat != NULL)
                ni->acl_stat = *res->stat;
            rc = res->acl == NULL || ni->acl != NULL ? ZKC_OK : ZKC_ENOMEM;
        } else {
            ni->kids = zkc_strings_dup(res->children);
            rc = ni->kids != NULL ? ZKC_OK : ZKC_ENOMEM;
        }
    }
    /* The worst answer wins: an error, then "no node", then ok. */
    if (rc != ZKC_OK && rc != ZKC_ENONODE) {
        if (ni->rc == ZKC_OK || ni->rc == ZKC_ENONODE) {
            ni->rc = rc;
            free(ni->errmsg);
            ni->errmsg = res->errmsg != NULL ? strdup(res->errmsg) : NULL;
        }
    } else if (rc == ZKC_ENONODE && ni->rc == ZKC_OK) {
        ni->rc = rc;
    }
    if (--s->rd->left == 0)
        pthread_cond_signal(&s->rd->cond);
    pthread_mutex_unlock(&s->rd->lock);
}

static void nodeinfo_clear(nodeinfo *ni)
{
    free(ni->errmsg);
    free(ni->data);
    zkc_acl_list_free(ni->acl);
    zkc_strings_free(ni->kids);
    memset(ni, 0, sizeof *ni);
}

/* Read path on every quorum at once: data, ACL and children. */
static int read_node(zkc_conn *const *conns, size_t n, const char *path, nodeinfo *ni)
{
    reader rd = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    read_slot *slots = calloc(n, sizeof *slots);
    if (slots == NULL)
        return ZKC_ENOMEM;
    static const zkc_op ops[3] = {ZKC_OP_GET, ZKC_OP_GET_ACL, ZKC_OP_CHILDREN};
    int rc = ZKC_OK;
    for (size_t i = 0; i < n; i++) {
        nodeinfo_clear(&ni[i]);
        slots[i] = (read_slot){&rd, &ni[i]};
        for (int k = 0; k < 3; k++) {
            zkc_request r = {.op = ops[k], .path = path, .version = -1};
            pthread_mutex_lock(&rd.lock);
            rd.left++;
            pthread_mutex_unlock(&rd.lock);
            int src = zkc_submit(conns[i], &r, read_done, &slots[i]);
            if (src != ZKC_OK) {
                pthread_mutex_lock(&rd.lock);
                rd.left--;
                if (ni[i].rc == ZKC_OK || ni[i].rc == ZKC_ENONODE)
                    ni[i].rc = src;
                pthread_mutex_unlock(&rd.lock);
            }
        }
    }
    pthread_mutex_lock(&rd.lock);
    while (rd.left > 0)
        pthread_cond_wait(&rd.cond, &rd.lock);
    pthread_mutex_unlock(&rd.lock);
    free(slots);
    for (size_t i = 0; i < n && rc == ZKC_OK; i++) {
        if (ni[i].rc != ZKC_OK && ni[i].rc != ZKC_ENONODE) {
            rc = ni[i].rc;
            zkc_impl_set_errmsg("quorum %zu %s: read %s: %s%s%s", i, zkc_conn_describe(conns[i]),
                            path, zkc_strerror(rc), ni[i].errmsg != NULL ? ": " : "",
                            ni[i].errmsg != NULL ? ni[i].errmsg : "");
        }
    }
    return rc;
}

static bool present(const nodeinfo *ni)
{
    return ni->rc == ZKC_OK;
}

static bool data_equal(const nodeinfo *a, const nodeinfo *b)
{
    return a->data_len == b->data_len &&
           (a->data_len == 0 || memcmp(a->data, b->data, a->data_len) == 0);
}

static int diff_add(zkc_diff *d, const char *path, zkc_diff_kind kind, uint64_t mask,
                    const char *detail)
{
    zkc_diff_entry *v = realloc(d->v, (d->count + 1) * sizeof *v);
    if (v == NULL)
        return ZKC_ENOMEM;
    d->v = v;
    zkc_diff_entry *e = &v[d->count];
    e->path = strdup(path);
    e->detail = strdup(detail != NULL ? detail : "");
    e->kind = kind;
    e->present = mask;
    if (e->path == NULL || e->detail == NULL) {
        free(e->path);
        free(e->detail);
        return ZKC_ENOMEM;
    }
    d->count++;
    return ZKC_OK;
}

/* Compare one node across quorums; append what differs to d. */
static int compare_node(zkc_conn *const *conns, size_t n, const char *path, nodeinfo *ni,
                        zkc_diff *d)
{
    (void)conns;
    uint64_t mask = 0;
    size_t first = n;
    for (size_t i = 0; i < n; i++) {
        if (present(&ni[i])) {
            mask |= (uint64_t)1 << i;
            if (first == n)
                first = i;
        }
    }
    if (first == n)
        return ZKC_OK;
    sbuf b = {0};
    int rc = ZKC_OK;
    uint64_t all = n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1);
    if (mask != all) {
        gl_sb_printf(&b, "present on quorum");
        for (size_t i = 0; i < n; i++)
            if (mask & ((uint64_t)1 << i))
                gl_sb_printf(&b, " %zu", i);
        gl_sb_printf(&b, "; missing on quorum");
        for (size_t i = 0; i < n; i++)
            if (!(mask & ((uint64_t)1 << i)))
                gl_sb_printf(&b, " %zu", i);
        rc = diff_add(d, path, ZKC_DIFF_MISSING, mask, b.p);
        free(b.p);
        return rc;
    }
    bool same_data = true, same_acl = true, same_eph = true, same_ver = true;
    for (size_t i = 1; i < n; i++) {
        same_data &= data_equal(&ni[0], &ni[i]);
        same_acl &= gl_acl_equal_sorted(ni[0].acl, ni[i].acl);
        same_eph &= (ni[0].stat.ephemeral_owner != 0) == (ni[i].stat.ephemeral_owner != 0);
        same_ver &= ni[0].stat.version == ni[i].stat.version &&
                    ni[0].acl_stat.aversion == ni[i].acl_stat.aversion;
    }
    if (!same_data) {
        for (size_t i = 0; i < n; i++)
            gl_sb_printf(&b, "%squorum %zu: %zu bytes, version %d", i ? "; " : "", i,
                         ni[i].data_len, (int)ni[i].stat.version);
        rc = diff_add(d, path, ZKC_DIFF_DATA, mask, b.p);
        b.len = 0;
    }
    if (rc == ZKC_OK && !same_acl) {
        for (size_t i = 0; i < n; i++) {
            gl_sb_printf(&b, "%squorum %zu:", i ? "; " : "", i);
            for (size_t k = 0; ni[i].acl != NULL && k < ni[i].acl->count; k++) {
                char perms[6];
                zkc_perms_format(ni[i].acl->v[k].perms, perms);
                gl_sb_printf(&b, " %s:%s:%.5s", ni[i].acl->v[k].scheme, ni[i].acl->v[k].id,
                             perms);
            }
        }
        rc = diff_add(d, path, ZKC_DIFF_ACL, mask, b.p);
        b.len = 0;
    }
    if (rc == ZKC_OK && !same_eph) {
        for (size_t i = 0; i < n; i++)
            gl_sb_printf(&b, "%squorum %zu: %s", i ? "; " : "", i,
                         ni[i].stat.ephemeral_owner != 0 ? "ephemeral" : "persistent");
        rc = diff_add(d, path, ZKC_DIFF_EPHEMERAL, mask, b.p);
        b.len = 0;
    }
    if (rc == ZKC_OK && same_data && !same_ver) {
        for (size_t i = 0; i < n; i++)
            gl_sb_printf(&b, "%squorum %zu: version %d, ACL version %d", i ? "; " : "", i,
                         (int)ni[i].stat.version, (int)ni[i].acl_stat.aversion);
        rc = diff_add(d, path, ZKC_DIFF_VERSION, mask, b.p);
    }
    free(b.p);
    return rc;
}

/* The sorted union of the children every quorum has at this node. */
static zkc_strings *union_kids(nodeinfo *ni, size_t n, const char *path)
{
    zkc_strings *u = zkc_impl_strings_new(0);
    for (size_t i = 0; u != NULL && i < n; i++) {
        if (!present(&ni[i]) || ni[i].kids == NULL)
            continue;
        for (size_t k = 0; k < ni[i].kids->count; k++) {
            const char *name = ni[i].kids->v[k];
            if (strcmp(path, "/") == 0 && strcmp(name, "zookeeper") == 0)
                continue;
            if (zkc_impl_strings_push(u, name, strlen(name)) != ZKC_OK) {
                zkc_strings_free(u);
                return NULL;
            }
        }
    }
    if (u == NULL || u->count < 2)
        return u;
    zkc_strings_sort(u);
    size_t w = 1;
    for (size_t i = 1; i < u->count; i++) {
        if (strcmp(u->v[w - 1], u->v[i]) == 0)
            free(u->v[i]);
        else
            u->v[w++] = u->v[i];
    }
    u->count = w;
    return u;
}

static int diff_walk(zkc_conn *const *conns, size_t n, const char *path, nodeinfo *ni,
                     zkc_diff *d)
{
    int rc = read_node(conns, n, path, ni);
    if (rc != ZKC_OK)
        return rc;
    rc = compare_node(conns, n, path, ni, d);
    zkc_strings *kids = rc == ZKC_OK ? union_kids(ni, n, path) : NULL;
    if (rc == ZKC_OK && kids == NULL)
        rc = ZKC_ENOMEM;
    for (size_t k = 0; rc == ZKC_OK && k < kids->count; k++) {
        char *child = zkc_path_join(path, kids->v[k]);
        if (child == NULL) {
            rc = ZKC_ENOMEM;
            break;
        }
        rc = diff_walk(conns, n, child, ni, d);
        free(child);
    }
    zkc_strings_free(kids);
    return rc;
}

static int check_quorums(zkc_conn *const *conns, size_t n, const char *path, size_t min)
{
    if (conns == NULL || n < min || n > ZKC_GLOBAL_MAX_QUORUMS)
        return ZKC_EBADARGUMENTS;
    for (size_t i = 0; i < n; i++)
        if (conns[i] == NULL)
            return ZKC_EBADARGUMENTS;
    if (zkc_path_validate(path, false) != ZKC_OK) {
        zkc_impl_set_errmsg("bad path: %s", path != NULL ? path : "(null)");
        return ZKC_EBADPATH;
    }
    return ZKC_OK;
}

void zkc_diff_free(zkc_diff *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->count; i++) {
        free(d->v[i].path);
        free(d->v[i].detail);
    }
    free(d->v);
    free(d);
}

const char *zkc_diff_kind_name(zkc_diff_kind kind)
{
    switch (kind) {
    case ZKC_DIFF_MISSING:
        return "missing";
    case ZKC_DIFF_DATA:
        return "data";
    case ZKC_DIFF_ACL:
        return "acl";
    case ZKC_DIFF_EPHEMERAL:
        return "ephemeral";
    case ZKC_DIFF_VERSION:
        return "version";
    }
    return "unknown";
}

static void nodeinfo_free(nodeinfo *ni, size_t n)
{
    for (size_t i = 0; ni != NULL && i < n; i++)
        nodeinfo_clear(&ni[i]);
    free(ni);
}

int zkc_global_diff(zkc_conn *const *conns, size_t n, const char *path, zkc_diff **ret_diff)
{
    int rc = check_quorums(conns, n, path, 2);
    if (rc != ZKC_OK)
        return rc;
    if (ret_diff == NULL)
        return ZKC_EBADARGUMENTS;
    zkc_diff *d = calloc(1, sizeof *d);
    nodeinfo *ni = calloc(n, sizeof *ni);
    if (d == NULL || ni == NULL) {
        free(d);
        free(ni);
        return ZKC_ENOMEM;
    }
    rc = diff_walk(conns, n, path, ni, d);
    nodeinfo_free(ni, n);
    if (rc != ZKC_OK) {
        zkc_diff_free(d);
        return rc;
    }
    *ret_diff = d;
    return ZKC_OK;
}

/* ---- repair ---- */

typedef struct repair {
    zkc_conn *const *conns;
    size_t n;
    size_t src;
    size_t changes;
    char *unrepairable; /* the first difference left as is */
} repair;

static int repair_fail(repair *r, size_t i, const char *what, const char *path, int rc)
{
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", zkc_errmsg());
    zkc_impl_set_errmsg("repair: quorum %zu %s: %s %s: %s", i, zkc_conn_describe(r->conns[i]), what,
                    path, saved[0] != '\0' ? saved : zkc_strerror(rc));
    return rc;
}

static void note_unrepairable(repair *r, const char *path, const char *why)
{
    if (r->unrepairable != NULL)
        return;
    size_t len = strlen(path) + strlen(why) + 3;
    r->unrepairable = malloc(len);
    if (r->unrepairable != NULL)
        snprintf(r->unrepairable, len, "%s: %s", path, why);
}

/* Delete path and everything under it on one quorum, children first. */
static int delete_tree(repair *r, size_t i, const char *path)
{
    zkc_strings *kids = NULL;
    int rc = zkc_children(r->conns[i], path, &kids, NULL, NULL);
    if (rc == ZKC_ENONODE)
        return ZKC_OK;
    if (rc != ZKC_OK)
        return repair_fail(r, i, "list", path, rc);
    for (size_t k = 0; rc == ZKC_OK && k < kids->count; k++) {
        char *child = zkc_path_join(path, kids->v[k]);
        rc = child != NULL ? delete_tree(r, i, child) : ZKC_ENOMEM;
        free(child);
    }
    zkc_strings_free(kids);
    if (rc != ZKC_OK)
        return rc;
    rc = zkc_delete(r->conns[i], path, -1);
    if (rc == ZKC_ENONODE)
        return ZKC_OK;
    if (rc != ZKC_OK)
        return repair_fail(r, i, "delete", path, rc);
    r->changes++;
    return ZKC_OK;
}

/* Write the same data (or ACL) until quorum i reaches version want. */
static int bump_to(repair *r, size_t i, const char *path, const nodeinfo *src, bool acl,
                   int32_t have, int32_t want)
{
    if (want - have > MAX_VERSION_BUMPS) {
        note_unrepairable(r, path, "versions too far apart to realign");
        return ZKC_OK;
    }
    for (int32_t v = have; v < want; v++) {
        int rc = acl ? zkc_set_acl(r->conns[i], path, src->acl, v)
                     : zkc_set(r->conns[i], path, src->data, src->data_len, v, NULL);
        if (rc != ZKC_OK)
            return repair_fail(
                r, i, acl ? "realign the ACL version of" : "realign the version of", path, rc);
        r->changes++;
    }
    return ZKC_OK;
}

static int repair_walk(repair *r, const char *path, nodeinfo *ni)
{
    size_t n = r->n, s = r->src;
    int rc = read_node(r->conns, n, path, ni);
    if (rc != ZKC_OK)
        return rc;
    if (!present(&ni[s])) {
        for (size_t i = 0; rc == ZKC_OK && i < n; i++)
            if (present(&ni[i]))
                rc = delete_tree(r, i, path);
        return rc;
    }
    const nodeinfo *src = &ni[s];
    bool src_eph = src->stat.ephemeral_owner != 0;
    for (size_t i = 0; rc == ZKC_OK && i < n; i++) {
        if (i == s)
            continue;
        nodeinfo *t = &ni[i];
        bool t_eph = present(t) && t->stat.ephemeral_owner != 0;
        if (present(t) && t_eph != src_eph) {
            if (src_eph) {
                note_unrepairable(r, path, "ephemeral on the source, persistent elsewhere");
                continue;
            }
            /* Someone's ephemeral where the source has a persistent node. */
            rc = zkc_delete(r->conns[i], path, t->stat.version);
            if (rc != ZKC_OK)
                return repair_fail(r, i, "delete", path, rc);
            r->changes++;
            t->rc = ZKC_ENONODE;
        }
        if (!present(t)) {
            if (src_eph) {
                note_unrepairable(r, path, "an ephemeral node of the source cannot be copied");
                continue;
            }
            rc = zkc_create(r->conns[i], path, src->data, src->data_len, 0, src->acl, NULL);
            if (rc != ZKC_OK)
                return repair_fail(r, i, "create", path, rc);
            r->changes++;
            /* As created: version 0, aversion 0, the source's data. */
            t->rc = ZKC_OK;
            t->stat = (zkc_stat){0};
            t->acl_stat = (zkc_stat){0};
            continue;
        }
        if (!data_equal(src, t)) {
            zkc_stat st;
            rc = zkc_set(r->conns[i], path, src->data, src->data_len, t->stat.version, &st);
            if (rc != ZKC_OK)
                return repair_fail(r, i, "set", path, rc);
            r->changes++;
            t->stat.version = st.version;
        }
        if (!gl_acl_equal_sorted(src->acl, t->acl)) {
            rc = zkc_set_acl(r->conns[i], path, src->acl, t->acl_stat.aversion);
            if (rc != ZKC_OK)
                return repair_fail(r, i, "set the ACL of", path, rc);
            r->changes++;
            t->acl_stat.aversion++;
        }
    }
    if (rc != ZKC_OK)
        return rc;

    /* Realign versions: everyone up to the highest (versions only grow). */
    int32_t want = 0, want_acl = 0;
    for (size_t i = 0; i < n; i++) {
        if (!present(&ni[i]))
            continue;
        if (ni[i].stat.version > want)
            want = ni[i].stat.version;
        if (ni[i].acl_stat.aversion > want_acl)
            want_acl = ni[i].acl_stat.aversion;
    }
    for (size_t i = 0; rc == ZKC_OK && i < n; i++) {
        if (!present(&ni[i]) || (ni[i].stat.ephemeral_owner != 0) != src_eph)
            continue;
        rc = bump_to(r, i, path, src, false, ni[i].stat.version, want);
        if (rc == ZKC_OK)
            rc = bump_to(r, i, path, src, true, ni[i].acl_stat.aversion, want_acl);
    }
    if (rc != ZKC_OK || src_eph)
        return rc;

    zkc_strings *kids = union_kids(ni, n, path);
    if (kids == NULL)
        return ZKC_ENOMEM;
    for (size_t k = 0; rc == ZKC_OK && k < kids->count; k++) {
        char *child = zkc_path_join(path, kids->v[k]);
        rc = child != NULL ? repair_walk(r, child, ni) : ZKC_ENOMEM;
        free(child);
    }
    zkc_strings_free(kids);
    return rc;
}

int zkc_global_repair(zkc_conn *const *conns, size_t n, size_t source, const char *path,
                      size_t *ret_changes)
{
    int rc = check_quorums(conns, n, path, 2);
    if (rc != ZKC_OK)
        return rc;
    if (source >= n)
        return ZKC_EBADARGUMENTS;
    repair r = {conns, n, source, 0, NULL};
    nodeinfo *ni = calloc(n, sizeof *ni);
    if (ni == NULL)
        return ZKC_ENOMEM;
    rc = repair_walk(&r, path, ni);
    nodeinfo_free(ni, n);
    if (ret_changes != NULL)
        *ret_changes = r.changes;
    if (rc == ZKC_OK) {
        zkc_diff *d = NULL;
        rc = zkc_global_diff(conns, n, path, &d);
        if (rc == ZKC_OK && d->count > 0) {
            rc = ZKC_EINCONSISTENT;
            if (r.unrepairable != NULL)
                zkc_impl_set_errmsg("repair %s: left as is: %s", path, r.unrepairable);
            else
                zkc_impl_set_errmsg("repair %s: still differs: %s: %s: %s", path, d->v[0].path,
                                zkc_diff_kind_name(d->v[0].kind), d->v[0].detail);
        }
        zkc_diff_free(d);
    }
    free(r.unrepairable);
    return rc;
}
