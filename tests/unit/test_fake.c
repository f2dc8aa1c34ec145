/*
 * test_fake.c: the in-memory ZooKeeper (src/lib/conn/fake/).
 *
 * Expectations are those of a real ZooKeeper 3.8 server (values marked
 * "server:" were read off a 3.8.0 server with kazoo): zxids, stats,
 * sequential names, errors and their order, ACLs, watch order, sessions
 * and ephemerals, then the fake's own parts: fault injection, JSON load
 * and dump, close with work outstanding, threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zkcell/sys/conn_impl.h"
#include "zkcell/zkcell.h"

#define OK(expr) assert_int_equal(ZKC_OK, (expr))

/* ---- fixture: one tree, two sessions ---- */

typedef struct fx {
    zkc_fake_tree *t;
    zkc_conn *a, *b;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->t = zkc_fake_tree_new();
    assert_non_null(f->t);
    OK(zkc_fake_open(f->t, &f->a));
    OK(zkc_fake_open(f->t, &f->b));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    zkc_conn_close(f->a);
    zkc_conn_close(f->b);
    zkc_fake_tree_free(f->t);
    free(f);
    return 0;
}

static zkc_stat stat_of(zkc_conn *c, const char *path)
{
    zkc_stat st;
    bool exists = false;
    memset(&st, 0, sizeof st);
    OK(zkc_exists(c, path, &exists, &st, NULL));
    assert_true(exists);
    return st;
}

static bool exists_now(zkc_conn *c, const char *path)
{
    bool exists = false;
    OK(zkc_exists(c, path, &exists, NULL, NULL));
    return exists;
}

/* ---- an ordered log of what callbacks saw ---- */

typedef struct rec {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char text[8192];
    int ndone;
} rec;

static void rec_init(rec *r)
{
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->text[0] = '\0';
    r->ndone = 0;
}

static void rec_fini(rec *r)
{
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
}

static void rec_add(rec *r, int is_done, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rec_add(rec *r, int is_done, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&r->lock);
    strncat(r->text, buf, sizeof r->text - strlen(r->text) - 1);
    strncat(r->text, ";", sizeof r->text - strlen(r->text) - 1);
    r->ndone += is_done;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

/* Wait (at most 10 s) until the log holds want. */
static void rec_wait(rec *r, const char *want)
{
    int64_t end = zkc_impl_now_ms() + 10000;
    pthread_mutex_lock(&r->lock);
    while (strstr(r->text, want) == NULL && zkc_impl_now_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cond, &r->lock, &ts);
    }
    int found = strstr(r->text, want) != NULL;
    pthread_mutex_unlock(&r->lock);
    if (!found)
        fail_msg("never saw \"%s\" in \"%s\"", want, r->text);
}

static void rec_wait_done(rec *r, int n)
{
    int64_t end = zkc_impl_now_ms() + 10000;
    pthread_mutex_lock(&r->lock);
    while (r->ndone < n && zkc_impl_now_ms() < end) {
        pthread_mutex_unlock(&r->lock);
        zkc_sleep(2, NULL);
        pthread_mutex_lock(&r->lock);
    }
    int got = r->ndone;
    pthread_mutex_unlock(&r->lock);
    assert_int_equal(n, got);
}

static void rec_clear(rec *r)
{
    pthread_mutex_lock(&r->lock);
    r->text[0] = '\0';
    r->ndone = 0;
    pthread_mutex_unlock(&r->lock);
}

/* The log is exactly want (entries end with ';', want need not). */
static void rec_expect(rec *r, const char *want)
{
    char full[sizeof r->text + 1];
    snprintf(full, sizeof full, "%s%s", want, want[0] != '\0' ? ";" : "");
    want = full;
    pthread_mutex_lock(&r->lock);
    char copy[sizeof r->text];
    memcpy(copy, r->text, sizeof copy);
    pthread_mutex_unlock(&r->lock);
    assert_string_equal(want, copy);
}

/* A tag names a callback in the log. */
typedef struct tag {
    rec *r;
    const char *name;
    zkc_watch *keep; /* done: the result's watch, when kept */
    int keep_watch;
    int rc;
} tag;

static void on_watch(zkc_watch *w, const zkc_event *ev, void *ud)
{
    tag *t = ud;
    (void)w;
    rec_add(t->r, 0, "%s:%d", t->name, (int)ev->type);
}

static void on_done(const zkc_result *res, void *ud)
{
    tag *t = ud;
    t->rc = res->rc;
    if (t->keep_watch)
        t->keep = res->watch;
    else
        zkc_watch_free(res->watch);
    rec_add(t->r, 1, "%s:done%d", t->name, res->rc);
}

static void on_state(zkc_conn *c, zkc_state s, void *ud)
{
    (void)c;
    rec_add(ud, 0, "state:%s", zkc_state_name(s));
}

/* Watch path in the given way, with its event logged under name. */
static zkc_watch *watch_logged(zkc_conn *c, zkc_op op, const char *path, tag *t)
{
    zkc_watch *w = NULL;
    bool exists;
    switch (op) {
    case ZKC_OP_GET:
        OK(zkc_get(c, path, NULL, NULL, NULL, &w));
        break;
    case ZKC_OP_CHILDREN:
        OK(zkc_children(c, path, NULL, NULL, &w));
        break;
    default:
        OK(zkc_exists(c, path, &exists, NULL, &w));
        break;
    }
    assert_non_null(w);
    zkc_watch_set_callback(w, on_watch, t);
    return w;
}

/* ---- a fresh server ---- */

static void test_fresh_tree(void **state)
{
    fx *f = *state;
    zkc_strings *kids = NULL;
    zkc_stat st;
    OK(zkc_children(f->a, "/", &kids, &st, NULL));
    assert_int_equal(1, kids->count);
    assert_string_equal("zookeeper", kids->v[0]);
    zkc_strings_free(kids);
    /* server: / has czxid 0, ctime 0, cversion -1, one child. */
    assert_int_equal(0, st.czxid);
    assert_int_equal(0, st.mzxid);
    assert_int_equal(0, st.pzxid);
    assert_int_equal(0, st.ctime);
    assert_int_equal(-1, st.cversion);
    assert_int_equal(0, st.version);
    assert_int_equal(1, st.num_children);

    OK(zkc_children(f->a, "/zookeeper", &kids, &st, NULL));
    assert_int_equal(2, kids->count);
    assert_string_equal("config", kids->v[0]);
    assert_string_equal("quota", kids->v[1]);
    zkc_strings_free(kids);
    assert_int_equal(-2, st.cversion); /* server: 2 children, no creates */

    zkc_acl_list *acl = NULL;
    OK(zkc_get_acl(f->a, "/zookeeper/config", &acl, &st));
    assert_int_equal(1, acl->count);
    assert_int_equal(ZKC_PERM_READ, acl->v[0].perms);
    assert_string_equal("world", acl->v[0].scheme);
    assert_string_equal("anyone", acl->v[0].id);
    assert_int_equal(-1, st.aversion);
    zkc_acl_list_free(acl);
    OK(zkc_get_acl(f->a, "/", &acl, NULL));
    assert_int_equal(ZKC_PERM_ALL, acl->v[0].perms);
    zkc_acl_list_free(acl);

    /* The server's own nodes cannot go (server: BadArguments). */
    const char *special[] = {"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"};
    for (int i = 0; i < 4; i++)
        assert_int_equal(ZKC_EBADARGUMENTS, zkc_delete(f->a, special[i], -1));
    assert_true(strstr(zkc_errmsg(), "/zookeeper/config") != NULL);
    assert_int_equal(ZKC_ENODEEXISTS, zkc_create(f->a, "/", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_set(f->a, "/zookeeper/config", "x", 1, -1, NULL));
    /* but /zookeeper itself takes data and children, as on the server */
    OK(zkc_create(f->a, "/zookeeper/mine", NULL, 0, 0, NULL, NULL));
    OK(zkc_delete(f->a, "/zookeeper/mine", -1));

    assert_int_equal(ZKC_STATE_CONNECTED, zkc_conn_state(f->a));
    assert_non_null(strstr(zkc_conn_describe(f->a), "fake"));
}

/* ---- zxids and stats after every operation ---- */

static void test_stats(void **state)
{
    fx *f = *state;
    int64_t before = zkc_impl_wall_ms();
    OK(zkc_create(f->a, "/s", "abc", 3, 0, NULL, NULL));
    int64_t after = zkc_impl_wall_ms();
    zkc_stat s0 = stat_of(f->b, "/s");
    assert_true(s0.czxid > 0);
    assert_int_equal(s0.czxid, s0.mzxid);
    assert_int_equal(s0.czxid, s0.pzxid);
    assert_true(s0.ctime >= before && s0.ctime <= after);
    assert_int_equal(s0.ctime, s0.mtime);
    assert_int_equal(0, s0.version);
    assert_int_equal(0, s0.cversion);
    assert_int_equal(0, s0.aversion);
    assert_int_equal(0, s0.ephemeral_owner);
    assert_int_equal(3, s0.data_length);
    assert_int_equal(0, s0.num_children);

    zkc_stat root = stat_of(f->a, "/");
    assert_int_equal(s0.czxid, root.pzxid);
    assert_int_equal(0, root.cversion); /* -1, plus one create */
    assert_int_equal(2, root.num_children);
    assert_int_equal(0, root.mzxid);

    /* One zxid per write; a failed write takes one too (server: it logs
     * an error transaction). */
    OK(zkc_create(f->a, "/t", NULL, 0, 0, NULL, NULL));
    zkc_stat t0 = stat_of(f->a, "/t");
    assert_int_equal(s0.czxid + 1, t0.czxid);
    assert_int_equal(ZKC_ENODEEXISTS, zkc_create(f->a, "/t", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->a, "/u", NULL, 0, 0, NULL, NULL));
    assert_int_equal(t0.czxid + 2, stat_of(f->a, "/u").czxid);
    /* Reads take none. */
    OK(zkc_get(f->a, "/u", NULL, NULL, NULL, NULL));
    OK(zkc_create(f->a, "/v", NULL, 0, 0, NULL, NULL));
    assert_int_equal(t0.czxid + 3, stat_of(f->a, "/v").czxid);

    /* set: data, version, mzxid, mtime; not czxid, ctime, pzxid. */
    zkc_stat s1;
    OK(zkc_set(f->a, "/s", "hello", 5, 0, &s1));
    assert_int_equal(1, s1.version);
    assert_int_equal(5, s1.data_length);
    assert_int_equal(s0.czxid, s1.czxid);
    assert_int_equal(t0.czxid + 4, s1.mzxid);
    assert_int_equal(s0.pzxid, s1.pzxid);
    assert_int_equal(s0.ctime, s1.ctime);
    assert_true(s1.mtime >= s0.mtime);
    zkc_stat s1b = stat_of(f->b, "/s");
    assert_memory_equal(&s1, &s1b, sizeof s1);
    OK(zkc_set(f->a, "/s", "x", 1, -1, &s1));
    assert_int_equal(2, s1.version);

    /* child create and delete: parent's pzxid and cversion, not mzxid */
    OK(zkc_create(f->a, "/s/k", NULL, 0, 0, NULL, NULL));
    zkc_stat k = stat_of(f->a, "/s/k");
    zkc_stat s2 = stat_of(f->a, "/s");
    assert_int_equal(1, s2.cversion);
    assert_int_equal(1, s2.num_children);
    assert_int_equal(k.czxid, s2.pzxid);
    assert_int_equal(s1.mzxid, s2.mzxid);
    assert_int_equal(2, s2.version);
    OK(zkc_delete(f->a, "/s/k", 0));
    zkc_stat s3 = stat_of(f->a, "/s");
    assert_int_equal(2, s3.cversion);
    assert_int_equal(0, s3.num_children);
    assert_int_equal(k.czxid + 1, s3.pzxid);
    assert_int_equal(s1.mzxid, s3.mzxid);

    /* set_acl: aversion, and nothing else of the node's stat */
    OK(zkc_set_acl(f->a, "/s", zkc_acl_world(ZKC_PERM_ALL), 0));
    zkc_stat s4 = stat_of(f->a, "/s");
    assert_int_equal(1, s4.aversion);
    assert_int_equal(s3.mzxid, s4.mzxid);
    assert_int_equal(s3.pzxid, s4.pzxid);
    assert_int_equal(2, s4.version);
    /* ... but the transaction took a zxid */
    OK(zkc_create(f->a, "/w", NULL, 0, 0, NULL, NULL));
    assert_int_equal(s3.pzxid + 2, stat_of(f->a, "/w").czxid);

    /* get and children return the same stat as exists */
    zkc_stat g, c;
    OK(zkc_get(f->b, "/s", NULL, NULL, &g, NULL));
    OK(zkc_children(f->b, "/s", NULL, &c, NULL));
    assert_memory_equal(&s4, &g, sizeof g);
    assert_memory_equal(&s4, &c, sizeof c);
}

/* ---- data ---- */

static void test_data(void **state)
{
    fx *f = *state;
    const char bin[] = {'a', 0, 'b', (char)0xff, 0, (char)0x80};
    OK(zkc_create(f->a, "/bin", bin, sizeof bin, 0, NULL, NULL));
    char *data = NULL;
    size_t len = 0;
    OK(zkc_get(f->b, "/bin", &data, &len, NULL, NULL));
    assert_int_equal(sizeof bin, len);
    assert_memory_equal(bin, data, len);
    assert_int_equal(0, data[len]);
    zkc_free(data);

    OK(zkc_create(f->a, "/empty", NULL, 0, 0, NULL, NULL));
    OK(zkc_get(f->a, "/empty", &data, &len, NULL, NULL));
    assert_non_null(data);
    assert_int_equal(0, len);
    zkc_free(data);

    /* Exactly the limit is fine; one more byte is refused. */
    char *big = calloc(1, ZKC_MAX_DATA + 1);
    assert_non_null(big);
    big[ZKC_MAX_DATA - 1] = 'z';
    OK(zkc_create(f->a, "/big", big, ZKC_MAX_DATA, 0, NULL, NULL));
    OK(zkc_get(f->b, "/big", &data, &len, NULL, NULL));
    assert_int_equal(ZKC_MAX_DATA, len);
    assert_int_equal('z', data[ZKC_MAX_DATA - 1]);
    zkc_free(data);
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_set(f->a, "/big", big, ZKC_MAX_DATA + 1, -1, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS,
                     zkc_create(f->a, "/big2", big, ZKC_MAX_DATA + 1, 0, NULL, NULL));
    free(big);
    assert_false(exists_now(f->a, "/big2"));

    /* children come sorted (callers must not rely on it) */
    const char *names[] = {"m", "b", "z", "a", "k"};
    OK(zkc_create(f->a, "/d", NULL, 0, 0, NULL, NULL));
    for (int i = 0; i < 5; i++) {
        char p[32];
        snprintf(p, sizeof p, "/d/%s", names[i]);
        OK(zkc_create(f->a, p, NULL, 0, 0, NULL, NULL));
    }
    OK(zkc_delete(f->a, "/d/z", -1));
    zkc_strings *kids = NULL;
    OK(zkc_children(f->b, "/d", &kids, NULL, NULL));
    assert_int_equal(4, kids->count);
    assert_string_equal("a", kids->v[0]);
    assert_string_equal("b", kids->v[1]);
    assert_string_equal("k", kids->v[2]);
    assert_string_equal("m", kids->v[3]);
    zkc_strings_free(kids);
}

/* ---- sequential names ---- */

static void test_sequential(void **state)
{
    fx *f = *state;
    char *p = NULL;
    OK(zkc_create(f->a, "/q", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->a, "/q/lock-", NULL, 0, ZKC_SEQUENCE, NULL, &p));
    assert_string_equal("/q/lock-0000000000", p);
    zkc_free(p);
    OK(zkc_create(f->b, "/q/lock-", NULL, 0, ZKC_SEQUENCE | ZKC_EPHEMERAL, NULL, &p));
    assert_string_equal("/q/lock-0000000001", p);
    zkc_free(p);
    /* The number counts the parent's child creates (the server's
     * persisted cversion): deletes do not move it, plain creates do, and
     * a number is never given twice. */
    OK(zkc_delete(f->a, "/q/lock-0000000000", -1));
    OK(zkc_create(f->a, "/q/lock-", NULL, 0, ZKC_SEQUENCE, NULL, &p));
    assert_string_equal("/q/lock-0000000002", p);
    zkc_free(p);
    OK(zkc_create(f->a, "/q/plain", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->a, "/q/x-", NULL, 0, ZKC_SEQUENCE, NULL, &p));
    assert_string_equal("/q/x-0000000004", p);
    zkc_free(p);
    /* The reported cversion counts creates and deletes: 5 + 1. */
    zkc_stat st = stat_of(f->a, "/q");
    assert_int_equal(6, st.cversion);
    assert_int_equal(4, st.num_children);

    /* A trailing '/' gives a bare number; also under the root. */
    OK(zkc_create(f->a, "/q/plain/", NULL, 0, ZKC_SEQUENCE, NULL, &p));
    assert_string_equal("/q/plain/0000000000", p);
    zkc_free(p);
    OK(zkc_create(f->a, "/", NULL, 0, ZKC_SEQUENCE, NULL, &p));
    assert_string_equal("/0000000001", p); /* "/q" was create number 0 */
    zkc_free(p);

    /* A failed create does not use a number. */
    assert_int_equal(ZKC_EINVALIDACL, zkc_create(f->a, "/q/plain/", NULL, 0, ZKC_SEQUENCE,
                                                 &(zkc_acl_list){0, NULL}, NULL));
    OK(zkc_create(f->a, "/q/plain/", NULL, 0, ZKC_SEQUENCE, NULL, &p));
    assert_string_equal("/q/plain/0000000001", p);
    zkc_free(p);

    /* Sequential names cannot collide with a node someone made by hand:
     * the server answers NODEEXISTS. */
    OK(zkc_create(f->a, "/r", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->a, "/r/n0000000001", NULL, 0, 0, NULL, NULL));
    /* the by-hand create was number 0, so the next number is 1: taken,
     * and a failed create does not count, so it stays taken (server) */
    assert_int_equal(ZKC_ENODEEXISTS,
                     zkc_create(f->a, "/r/n", NULL, 0, ZKC_SEQUENCE, NULL, &p));
    assert_int_equal(ZKC_ENODEEXISTS,
                     zkc_create(f->a, "/r/n", NULL, 0, ZKC_SEQUENCE, NULL, &p));
    OK(zkc_create(f->a, "/r/other", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->a, "/r/n", NULL, 0, ZKC_SEQUENCE, NULL, &p));
    assert_string_equal("/r/n0000000002", p);
    zkc_free(p);
}

/* ---- every error code ---- */

static void test_errors(void **state)
{
    fx *f = *state;
    assert_int_equal(ZKC_ENONODE, zkc_get(f->a, "/missing", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENONODE, zkc_children(f->a, "/missing", NULL, NULL, NULL));
    assert_int_equal(ZKC_ENONODE, zkc_set(f->a, "/missing", "x", 1, -1, NULL));
    assert_int_equal(ZKC_ENONODE, zkc_delete(f->a, "/missing", -1));
    assert_int_equal(ZKC_ENONODE, zkc_delete(f->a, "/missing/kid", -1));
    assert_int_equal(ZKC_ENONODE, zkc_get_acl(f->a, "/missing", NULL, NULL));
    assert_int_equal(ZKC_ENONODE,
                     zkc_set_acl(f->a, "/missing", zkc_acl_world(ZKC_PERM_ALL), -1));
    assert_int_equal(ZKC_ENONODE, zkc_create(f->a, "/no/parent", NULL, 0, 0, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "/no/parent"));
    bool exists = true;
    OK(zkc_exists(f->a, "/missing", &exists, NULL, NULL));
    assert_false(exists);

    OK(zkc_create(f->a, "/n", "v", 1, 0, NULL, NULL));
    assert_int_equal(ZKC_ENODEEXISTS, zkc_create(f->b, "/n", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_EBADVERSION, zkc_set(f->a, "/n", "x", 1, 1, NULL));
    assert_int_equal(ZKC_EBADVERSION, zkc_set(f->a, "/n", "x", 1, -2, NULL));
    assert_int_equal(ZKC_EBADVERSION, zkc_delete(f->a, "/n", 3));
    assert_int_equal(ZKC_EBADVERSION, zkc_set_acl(f->a, "/n", zkc_acl_world(ZKC_PERM_ALL), 1));
    OK(zkc_create(f->a, "/n/k", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_ENOTEMPTY, zkc_delete(f->a, "/n", 0));
    /* version is checked before children (server order) */
    assert_int_equal(ZKC_EBADVERSION, zkc_delete(f->a, "/n", 5));

    OK(zkc_create(f->a, "/e", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    assert_int_equal(ZKC_ENOCHILDRENFOREPHEMERALS,
                     zkc_create(f->a, "/e/k", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_ENOCHILDRENFOREPHEMERALS,
                     zkc_create(f->b, "/e/k", NULL, 0, ZKC_SEQUENCE, NULL, NULL));
    /* NODEEXISTS comes before the ephemeral-parent check */
    assert_int_equal(ZKC_ENODEEXISTS, zkc_create(f->a, "/e", NULL, 0, 0, NULL, NULL));

    /* EINVALIDACL: empty list, unknown scheme, world other than anyone,
     * a malformed digest or ip id, "auth" without an identity. */
    zkc_acl_list empty = {0, NULL};
    assert_int_equal(ZKC_EINVALIDACL, zkc_create(f->a, "/m", NULL, 0, 0, &empty, NULL));
    assert_int_equal(ZKC_EINVALIDACL, zkc_set_acl(f->a, "/n", &empty, -1));
    zkc_acl bad[] = {
        {ZKC_PERM_ALL, "foo", "bar"},        {ZKC_PERM_ALL, "world", "someone"},
        {ZKC_PERM_ALL, "digest", "nocolon"}, {ZKC_PERM_ALL, "digest", "u:"},
        {ZKC_PERM_ALL, "digest", "a:b:c"},   {ZKC_PERM_ALL, "ip", "300.1.1.1"},
        {ZKC_PERM_ALL, "ip", "10.0.0.1/33"}, {ZKC_PERM_ALL, "ip", "10.0.0.1/"},
        {ZKC_PERM_ALL, "auth", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        zkc_acl_list one = {1, &bad[i]};
        assert_int_equal(ZKC_EINVALIDACL, zkc_create(f->a, "/m", NULL, 0, 0, &one, NULL));
        assert_int_equal(ZKC_EINVALIDACL, zkc_set_acl(f->a, "/n", &one, -1));
    }
    /* An entry without a scheme is malformed: the dispatcher refuses it. */
    zkc_acl holey = {ZKC_PERM_ALL, NULL, "x"};
    zkc_acl_list holey_list = {1, &holey};
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_create(f->a, "/m", NULL, 0, 0, &holey_list, NULL));
    assert_false(exists_now(f->a, "/m"));
    /* the ACL is checked before the parent (server order) */
    assert_int_equal(ZKC_EINVALIDACL, zkc_create(f->a, "/no/such", NULL, 0, 0, &empty, NULL));
    zkc_acl good[] = {
        {ZKC_PERM_ALL, "digest", "u:h"},  {ZKC_PERM_ALL, "digest", ":h"},
        {ZKC_PERM_ALL, "digest", "u:h:"}, {ZKC_PERM_ALL, "ip", "10.0.0.0/8"},
        {ZKC_PERM_ALL, "ip", "::1"},      {ZKC_PERM_READ, "world", "anyone"},
    };
    zkc_acl_list all_good = {sizeof good / sizeof *good, good};
    OK(zkc_create(f->a, "/m", NULL, 0, 0, &all_good, NULL));

    /* EBADARGUMENTS: data over the limit, the server's own nodes; bad
     * paths never get that far. */
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_delete(f->a, "/zookeeper", -1));
    assert_int_equal(ZKC_EBADPATH, zkc_get(f->a, "/a/", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_EBADPATH, zkc_create(f->a, "/a//", NULL, 0, ZKC_SEQUENCE, NULL, NULL));

    /* EBADARGUMENTS from the asynchronous entry: done never runs. */
    zkc_request r = {.op = (zkc_op)99, .path = "/n"};
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_submit(f->a, &r, on_done, NULL));
}

/* ---- ACLs ---- */

static void test_acl_perms(void **state)
{
    fx *f = *state;
    /* READ: get, children, get_acl; exists needs nothing. */
    OK(zkc_create(f->a, "/noread", "s", 1, 0,
                  zkc_acl_world(ZKC_PERM_ALL & ~ZKC_PERM_READ & ~ZKC_PERM_ADMIN), NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_get(f->b, "/noread", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_children(f->b, "/noread", NULL, NULL, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_get_acl(f->b, "/noread", NULL, NULL));
    assert_true(exists_now(f->b, "/noread"));
    /* no watch is set when the read is refused */
    zkc_watch *w = (zkc_watch *)&w;
    assert_int_equal(ZKC_ENOAUTH, zkc_get(f->b, "/noread", NULL, NULL, NULL, &w));
    assert_ptr_equal(&w, w);
    /* WRITE: set. */
    OK(zkc_create(f->a, "/ro", "r", 1, 0, zkc_acl_world(ZKC_PERM_READ), NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_set(f->b, "/ro", "w", 1, -1, NULL));
    /* the ACL is checked before the version (server order) */
    assert_int_equal(ZKC_ENOAUTH, zkc_set(f->b, "/ro", "w", 1, 42, NULL));
    /* ADMIN: set_acl, after the node exists, before the version. */
    assert_int_equal(ZKC_ENOAUTH, zkc_set_acl(f->b, "/ro", zkc_acl_world(ZKC_PERM_ALL), 9));
    /* get_acl needs READ or ADMIN. */
    OK(zkc_create(f->a, "/adm", NULL, 0, 0, zkc_acl_world(ZKC_PERM_ADMIN), NULL));
    zkc_acl_list *acl = NULL;
    OK(zkc_get_acl(f->b, "/adm", &acl, NULL));
    zkc_acl_list_free(acl);
    /* CREATE on the parent: PERM_FILE takes no children. */
    OK(zkc_create(f->a, "/file", "d", 1, 0, zkc_acl_world(ZKC_PERM_FILE), NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_create(f->b, "/file/kid", NULL, 0, 0, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "CREATE"));
    assert_int_equal(ZKC_ENOAUTH,
                     zkc_create(f->b, "/file/kid", NULL, 0, ZKC_SEQUENCE, NULL, NULL));
    /* a missing parent is found before the permission is checked */
    assert_int_equal(ZKC_ENONODE, zkc_create(f->b, "/file/kid/x", NULL, 0, 0, NULL, NULL));
    /* DELETE on the parent, checked before the node is looked up. */
    OK(zkc_create(f->a, "/nodel", NULL, 0, 0, zkc_acl_world(ZKC_PERM_ALL & ~ZKC_PERM_DELETE),
                  NULL));
    OK(zkc_create(f->a, "/nodel/k", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_delete(f->b, "/nodel/k", -1));
    assert_int_equal(ZKC_ENOAUTH, zkc_delete(f->b, "/nodel/missing", -1));
    /* the node's own ACL does not matter for its delete */
    OK(zkc_create(f->a, "/locked", NULL, 0, 0, zkc_acl_world(0), NULL));
    OK(zkc_delete(f->b, "/locked", -1));

    /* set_acl replaces the list and opens the file up. */
    OK(zkc_set_acl(f->a, "/file", zkc_acl_world(ZKC_PERM_ALL), 0));
    zkc_stat st;
    OK(zkc_get_acl(f->b, "/file", &acl, &st));
    assert_int_equal(1, acl->count);
    assert_int_equal(ZKC_PERM_ALL, acl->v[0].perms);
    assert_int_equal(1, st.aversion);
    zkc_acl_list_free(acl);
    assert_int_equal(ZKC_EBADVERSION,
                     zkc_set_acl(f->a, "/file", zkc_acl_world(ZKC_PERM_ALL), 0));
    OK(zkc_create(f->b, "/file/kid", NULL, 0, 0, NULL, NULL));

    /* duplicate entries are kept once */
    zkc_acl dup[] = {{ZKC_PERM_READ, "world", "anyone"},
                     {ZKC_PERM_READ, "world", "anyone"},
                     {ZKC_PERM_WRITE, "world", "anyone"}};
    zkc_acl_list dups = {3, dup};
    OK(zkc_create(f->a, "/dups", NULL, 0, 0, &dups, NULL));
    OK(zkc_get_acl(f->a, "/dups", &acl, NULL));
    assert_int_equal(2, acl->count);
    zkc_acl_list_free(acl);

    /* An empty ACL cannot be set, so every node has one. */
    OK(zkc_get_acl(f->a, "/dups", &acl, NULL));
    assert_true(acl->count > 0);
    zkc_acl_list_free(acl);
}

static void test_acl_digest(void **state)
{
    fx *f = *state;
    /* server: digest of bob:secret */
    OK(zkc_fake_add_auth(f->a, "digest", "bob:secret"));
    zkc_acl auth_entries[] = {{ZKC_PERM_READ | ZKC_PERM_ADMIN, "auth", ""},
                              {ZKC_PERM_READ, "world", "anyone"}};
    zkc_acl_list auth = {2, auth_entries};
    OK(zkc_create(f->a, "/d", "x", 1, 0, &auth, NULL));
    zkc_acl_list *acl = NULL;
    OK(zkc_get_acl(f->a, "/d", &acl, NULL));
    assert_int_equal(2, acl->count);
    assert_string_equal("digest", acl->v[0].scheme);
    assert_string_equal("bob:fyVmFCwVbTJYrznoSu1koqYEYF0=", acl->v[0].id);
    assert_int_equal(ZKC_PERM_READ | ZKC_PERM_ADMIN, acl->v[0].perms);
    zkc_acl_list_free(acl);
    /* Without ADMIN, the hash is hidden. */
    OK(zkc_get_acl(f->b, "/d", &acl, NULL));
    assert_string_equal("bob:x", acl->v[0].id);
    zkc_acl_list_free(acl);

    /* A digest ACL: only bob may write. */
    zkc_acl bob_entry = {ZKC_PERM_ALL, "digest", "bob:fyVmFCwVbTJYrznoSu1koqYEYF0="};
    zkc_acl_list bob = {1, &bob_entry};
    OK(zkc_create(f->a, "/bob", "x", 1, 0, &bob, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_get(f->b, "/bob", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_set(f->b, "/bob", "y", 1, -1, NULL));
    OK(zkc_set(f->a, "/bob", "y", 1, -1, NULL));
    /* the wrong password gives another id */
    OK(zkc_fake_add_auth(f->b, "digest", "bob:wrong"));
    assert_int_equal(ZKC_ENOAUTH, zkc_get(f->b, "/bob", NULL, NULL, NULL, NULL));
    OK(zkc_fake_add_auth(f->b, "digest", "bob:secret"));
    OK(zkc_get(f->b, "/bob", NULL, NULL, NULL, NULL));
    /* adding the same identity twice is harmless */
    OK(zkc_fake_add_auth(f->b, "digest", "bob:secret"));

    /* "auth" expands to every digest identity of the session */
    OK(zkc_fake_add_auth(f->a, "digest", "alice:pw"));
    zkc_acl a_entry = {ZKC_PERM_ALL, "auth", "ignored"};
    zkc_acl_list a_list = {1, &a_entry};
    OK(zkc_create(f->a, "/both", NULL, 0, 0, &a_list, NULL));
    OK(zkc_get_acl(f->a, "/both", &acl, NULL));
    assert_int_equal(2, acl->count);
    assert_string_equal("bob:fyVmFCwVbTJYrznoSu1koqYEYF0=", acl->v[0].id);
    assert_string_equal("alice:V55/p2T0OpjQ+low3NVAH4aLvm0=", acl->v[1].id);
    zkc_acl_list_free(acl);
    /* set_acl with auth too; a session without a digest gets EINVALIDACL */
    zkc_conn *c = NULL;
    OK(zkc_fake_open(f->t, &c));
    assert_int_equal(ZKC_EINVALIDACL, zkc_create(c, "/c", NULL, 0, 0, &a_list, NULL));
    OK(zkc_set_acl(f->a, "/both", &a_list, 0));
    /* a cred without ':' is hashed whole, named by itself (server) */
    OK(zkc_fake_add_auth(c, "digest", "bob"));
    OK(zkc_create(c, "/c", NULL, 0, 0, &a_list, NULL));
    OK(zkc_get_acl(c, "/c", &acl, NULL));
    assert_string_equal("bob:SBgazSKz7a68ikR4aKfffOYpkgo=", acl->v[0].id);
    zkc_acl_list_free(acl);
    OK(zkc_fake_add_auth(c, "digest", "u:p:q"));
    zkc_acl uq_entry = {ZKC_PERM_READ, "digest", "u:VIgTKUjc2iscZoJn2UUrdGNNgW4="};
    zkc_acl_list uq = {1, &uq_entry};
    OK(zkc_create(f->a, "/uq", NULL, 0, 0, &uq, NULL));
    OK(zkc_get(c, "/uq", NULL, NULL, NULL, NULL));
    zkc_conn_close(c);

    /* bad arguments */
    assert_int_equal(ZKC_EAUTHFAILED, zkc_fake_add_auth(f->a, "kerberos", "x"));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_add_auth(NULL, "digest", "a:b"));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_add_auth(f->a, NULL, "a:b"));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_add_auth(f->a, "digest", NULL));
}

static void test_acl_ip(void **state)
{
    fx *f = *state;
    zkc_acl e[] = {{ZKC_PERM_READ, "ip", "127.0.0.1"},
                   {ZKC_PERM_READ, "ip", "127.0.0.0/8"},
                   {ZKC_PERM_READ, "ip", "10.0.0.1"},
                   {ZKC_PERM_READ, "ip", "10.1.0.0/16"},
                   {ZKC_PERM_READ, "ip", "::1"}};
    for (int i = 0; i < 5; i++) {
        char p[16];
        snprintf(p, sizeof p, "/ip%d", i);
        zkc_acl_list one = {1, &e[i]};
        OK(zkc_create(f->a, p, NULL, 0, 0, &one, NULL));
    }
    /* Sessions come from 127.0.0.1. */
    OK(zkc_get(f->b, "/ip0", NULL, NULL, NULL, NULL));
    OK(zkc_get(f->b, "/ip1", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_get(f->b, "/ip2", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_get(f->b, "/ip3", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_get(f->b, "/ip4", NULL, NULL, NULL, NULL));
    OK(zkc_fake_add_auth(f->b, "ip", "10.1.2.3"));
    assert_int_equal(ZKC_ENOAUTH, zkc_get(f->b, "/ip2", NULL, NULL, NULL, NULL));
    OK(zkc_get(f->b, "/ip3", NULL, NULL, NULL, NULL));
    OK(zkc_fake_add_auth(f->b, "ip", "::1"));
    OK(zkc_get(f->b, "/ip4", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_EAUTHFAILED, zkc_fake_add_auth(f->b, "ip", "not-an-ip"));
    assert_int_equal(ZKC_EAUTHFAILED, zkc_fake_add_auth(f->b, "ip", "10.0.0.0/8"));
    /* "auth" never picks up ip identities (they are not authenticated) */
    zkc_acl a = {ZKC_PERM_ALL, "auth", ""};
    zkc_acl_list al = {1, &a};
    assert_int_equal(ZKC_EINVALIDACL, zkc_create(f->b, "/x", NULL, 0, 0, &al, NULL));
}

/* ---- watches ---- */

static void test_watch_basics(void **state)
{
    fx *f = *state;
    /* exists on a missing node: a watch that fires on creation */
    zkc_watch *w = NULL;
    bool exists = true;
    OK(zkc_exists(f->a, "/w", &exists, NULL, &w));
    assert_false(exists);
    assert_non_null(w);
    assert_int_equal(ZKC_ETIMEDOUT, zkc_watch_wait(w, 10, NULL));
    OK(zkc_create(f->b, "/w", NULL, 0, 0, NULL, NULL));
    OK(zkc_watch_wait(w, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CREATED, zkc_watch_event(w)->type);
    assert_string_equal("/w", zkc_watch_event(w)->path);
    zkc_watch_free(w);

    /* get: CHANGED once (one-shot); a second change is not seen */
    OK(zkc_get(f->a, "/w", NULL, NULL, NULL, &w));
    OK(zkc_set(f->b, "/w", "1", 1, -1, NULL));
    OK(zkc_watch_wait(w, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(w)->type);
    zkc_watch_free(w);
    /* exists on an existing node: DELETED */
    OK(zkc_exists(f->a, "/w", &exists, NULL, &w));
    assert_true(exists);
    zkc_watch *wc = NULL, *wg = NULL;
    OK(zkc_children(f->a, "/w", NULL, NULL, &wc));
    OK(zkc_get(f->a, "/w", NULL, NULL, NULL, &wg));
    OK(zkc_delete(f->b, "/w", -1));
    OK(zkc_watch_wait(w, 5000, NULL));
    assert_int_equal(ZKC_EVENT_DELETED, zkc_watch_event(w)->type);
    OK(zkc_watch_wait(wc, 5000, NULL));
    assert_int_equal(ZKC_EVENT_DELETED, zkc_watch_event(wc)->type);
    OK(zkc_watch_wait(wg, 5000, NULL));
    assert_int_equal(ZKC_EVENT_DELETED, zkc_watch_event(wg)->type);
    zkc_watch_free(w);
    zkc_watch_free(wc);
    zkc_watch_free(wg);

    /* get and children on a missing node set no watch */
    w = (zkc_watch *)&w;
    assert_int_equal(ZKC_ENONODE, zkc_get(f->a, "/w", NULL, NULL, NULL, &w));
    assert_int_equal(ZKC_ENONODE, zkc_children(f->a, "/w", NULL, NULL, &w));
    assert_ptr_equal(&w, w);

    /* set_acl fires nothing */
    OK(zkc_create(f->a, "/v", NULL, 0, 0, NULL, NULL));
    OK(zkc_get(f->a, "/v", NULL, NULL, NULL, &w));
    OK(zkc_children(f->a, "/v", NULL, NULL, &wc));
    OK(zkc_set_acl(f->b, "/v", zkc_acl_world(ZKC_PERM_ALL), -1));
    OK(zkc_set(f->b, "/v", "", 0, -1, NULL)); /* a barrier, and the real change */
    OK(zkc_watch_wait(w, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(w)->type);
    assert_false(zkc_watch_fired(wc)); /* a data change is not a child change */
    zkc_watch_free(w);
    zkc_watch_free(wc);

    /* The raw result: exists on a missing node gives rc OK, no stat, a
     * watch. */
    rec r;
    rec_init(&r);
    tag t = {&r, "x", NULL, 1, 0};
    OK(zkc_aexists(f->a, "/none", ZKC_WATCH, on_done, &t));
    rec_wait_done(&r, 1);
    assert_int_equal(ZKC_OK, t.rc);
    assert_non_null(t.keep);
    zkc_watch_free(t.keep);
    rec_fini(&r);

    /* Watches freed before they fire are dropped quietly, however many. */
    for (int i = 0; i < 200; i++) {
        OK(zkc_get(f->a, "/v", NULL, NULL, NULL, &w));
        zkc_watch_free(w);
        OK(zkc_exists(f->b, "/v/none", NULL, NULL, &w));
        zkc_watch_free(w);
    }
    OK(zkc_set(f->b, "/v", "z", 1, -1, NULL));
    OK(zkc_create(f->a, "/v/none", NULL, 0, 0, NULL, NULL));
}

static void test_watch_order(void **state)
{
    fx *f = *state;
    rec r;
    rec_init(&r);
    tag data = {&r, "data", NULL, 0, 0}, exist = {&r, "exists", NULL, 0, 0},
        kids = {&r, "kids", NULL, 0, 0}, parent = {&r, "parent", NULL, 0, 0},
        op = {&r, "op", NULL, 0, 0};
    OK(zkc_create(f->a, "/o", NULL, 0, 0, NULL, NULL));

    /* create: the node's data/exists watchers, then the parent's child
     * watchers; for the session that created it, before the completion. */
    zkc_watch *w1 = watch_logged(f->a, ZKC_OP_EXISTS, "/o/k", &exist);
    zkc_watch *w2 = watch_logged(f->a, ZKC_OP_CHILDREN, "/o", &parent);
    OK(zkc_acreate(f->a, "/o/k", NULL, 0, 0, NULL, on_done, &op));
    rec_wait(&r, "op:done0");
    rec_expect(&r, "exists:1;parent:4;op:done0");
    zkc_watch_free(w1);
    zkc_watch_free(w2);

    /* set: CHANGED, before the completion */
    rec_clear(&r);
    w1 = watch_logged(f->a, ZKC_OP_GET, "/o/k", &data);
    w2 = watch_logged(f->a, ZKC_OP_EXISTS, "/o/k", &exist);
    OK(zkc_aset(f->a, "/o/k", "x", 1, -1, on_done, &op));
    rec_wait(&r, "op:done0");
    rec_expect(&r, "data:3;exists:3;op:done0");
    zkc_watch_free(w1);
    zkc_watch_free(w2);

    /* delete: data watchers DELETED, the node's child watchers DELETED,
     * the parent's child watchers CHILD, then the completion */
    rec_clear(&r);
    w1 = watch_logged(f->a, ZKC_OP_CHILDREN, "/o/k", &kids);
    w2 = watch_logged(f->a, ZKC_OP_GET, "/o/k", &data);
    zkc_watch *w3 = watch_logged(f->a, ZKC_OP_CHILDREN, "/o", &parent);
    OK(zkc_adelete(f->a, "/o/k", -1, on_done, &op));
    rec_wait(&r, "op:done0");
    rec_expect(&r, "data:2;kids:2;parent:4;op:done0");
    zkc_watch_free(w1);
    zkc_watch_free(w2);
    zkc_watch_free(w3);

    /* the same order for another session's watches */
    rec_clear(&r);
    OK(zkc_create(f->a, "/o/k", NULL, 0, 0, NULL, NULL));
    w1 = watch_logged(f->b, ZKC_OP_CHILDREN, "/o", &parent);
    w2 = watch_logged(f->b, ZKC_OP_EXISTS, "/o/k", &exist);
    OK(zkc_delete(f->a, "/o/k", -1));
    rec_wait(&r, "parent:4");
    rec_expect(&r, "exists:2;parent:4");
    zkc_watch_free(w1);
    zkc_watch_free(w2);

    /* a failed write fires nothing */
    rec_clear(&r);
    w1 = watch_logged(f->a, ZKC_OP_EXISTS, "/o", &exist);
    OK(zkc_aset(f->a, "/o", "x", 1, 7, on_done, &op));
    rec_wait(&r, "op:done-103");
    rec_expect(&r, "op:done-103");
    zkc_watch_free(w1);
    rec_fini(&r);
}

/* ---- sessions, ephemerals, expiry ---- */

static void test_ephemerals(void **state)
{
    fx *f = *state;
    zkc_conn *c = NULL;
    OK(zkc_fake_open(f->t, &c));
    int64_t sa = zkc_conn_session_id(f->a), sb = zkc_conn_session_id(f->b);
    int64_t sc = zkc_conn_session_id(c);
    assert_true(sa != 0 && sb != 0 && sc != 0);
    assert_true(sa != sb && sb != sc && sa != sc);

    OK(zkc_create(f->a, "/p", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(c, "/p/e1", "x", 1, ZKC_EPHEMERAL, NULL, NULL));
    OK(zkc_create(c, "/p/e2", NULL, 0, ZKC_EPHEMERAL | ZKC_SEQUENCE, NULL, NULL));
    OK(zkc_create(c, "/p/keep", NULL, 0, 0, NULL, NULL));
    zkc_stat st = stat_of(f->b, "/p/e1");
    assert_int_equal(sc, st.ephemeral_owner);
    assert_int_equal(0, stat_of(f->b, "/p/keep").ephemeral_owner);

    /* Another session may delete someone's ephemeral. */
    OK(zkc_create(c, "/p/e3", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    OK(zkc_delete(f->b, "/p/e3", -1));

    /* Closing the session removes its ephemerals; the others see it. */
    rec r;
    rec_init(&r);
    tag e1 = {&r, "e1", NULL, 0, 0}, kids = {&r, "kids", NULL, 0, 0};
    zkc_watch *w1 = watch_logged(f->b, ZKC_OP_GET, "/p/e1", &e1);
    zkc_watch *w2 = watch_logged(f->b, ZKC_OP_CHILDREN, "/p", &kids);
    zkc_stat before = stat_of(f->b, "/p");
    zkc_conn_close(c);
    rec_wait(&r, "kids:4");
    rec_expect(&r, "e1:2;kids:4");
    zkc_watch_free(w1);
    zkc_watch_free(w2);
    assert_false(exists_now(f->b, "/p/e1"));
    assert_true(exists_now(f->b, "/p/keep"));
    zkc_strings *k = NULL;
    OK(zkc_children(f->b, "/p", &k, &st, NULL));
    assert_int_equal(1, k->count);
    zkc_strings_free(k);
    /* both went in one transaction (closeSession): one zxid */
    assert_int_equal(before.cversion + 2, st.cversion);
    assert_true(st.pzxid > before.pzxid);
    OK(zkc_create(f->b, "/after", NULL, 0, 0, NULL, NULL));
    assert_int_equal(st.pzxid + 1, stat_of(f->b, "/after").czxid);
    rec_fini(&r);
}

static void test_expiry(void **state)
{
    fx *f = *state;
    zkc_conn *c = NULL;
    OK(zkc_fake_open(f->t, &c));
    rec r, rb; /* what c sees, what b sees: two threads, two logs */
    rec_init(&r);
    rec_init(&rb);
    zkc_conn_set_state_callback(c, on_state, &r);
    OK(zkc_create(c, "/e", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    OK(zkc_create(c, "/d", NULL, 0, 0, NULL, NULL));
    tag mine = {&r, "mine", NULL, 0, 0}, theirs = {&rb, "theirs", NULL, 0, 0},
        exist = {&r, "missing", NULL, 0, 0};
    zkc_watch *w1 = watch_logged(c, ZKC_OP_GET, "/d", &mine);
    zkc_watch *w2 = watch_logged(f->b, ZKC_OP_EXISTS, "/e", &theirs);
    zkc_watch *w3 = watch_logged(c, ZKC_OP_EXISTS, "/nothing", &exist);

    OK(zkc_fake_inject(c, ZKC_FAKE_EXPIRE, 0));
    /* inject returns once the session saw it */
    assert_int_equal(ZKC_STATE_EXPIRED, zkc_conn_state(c));
    /* the state comes first, then this session's watches end */
    rec_wait(&r, "missing:5");
    rec_expect(&r, "state:expired;mine:5;missing:5");
    rec_wait(&rb, "theirs:2");
    assert_false(exists_now(f->b, "/e"));
    assert_true(exists_now(f->b, "/d"));

    /* later operations fail, through their completions */
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_get(c, "/d", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_create(c, "/x", NULL, 0, 0, NULL, NULL));
    assert_false(exists_now(f->b, "/x"));
    assert_int_equal(0, zkc_conn_session_id(c));
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_fake_add_auth(c, "digest", "a:b"));
    /* faults on an expired session change nothing */
    OK(zkc_fake_inject(c, ZKC_FAKE_EXPIRE, 0));
    OK(zkc_fake_inject(c, ZKC_FAKE_SUSPEND, 1));
    assert_int_equal(ZKC_STATE_EXPIRED, zkc_conn_state(c));
    zkc_watch_free(w1);
    zkc_watch_free(w2);
    zkc_watch_free(w3);
    zkc_conn_close(c);
    rec_fini(&r);
    rec_fini(&rb);
}

/* ---- faults ---- */

static void test_loss_before(void **state)
{
    fx *f = *state;
    rec r;
    rec_init(&r);
    zkc_conn_set_state_callback(f->a, on_state, &r);
    tag op = {&r, "op", NULL, 0, 0};

    OK(zkc_fake_inject(f->a, ZKC_FAKE_LOSS_BEFORE, 2));
    OK(zkc_acreate(f->a, "/lb", NULL, 0, 0, NULL, on_done, &op));
    rec_wait(&r, "state:reconnected");
    rec_expect(&r, "state:suspended;op:done-4;state:reconnected");
    assert_false(exists_now(f->b, "/lb")); /* not applied */
    /* the second one too; the third goes through */
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_create(f->a, "/lb", NULL, 0, 0, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "/lb"));
    OK(zkc_create(f->a, "/lb", NULL, 0, 0, NULL, NULL));
    assert_true(exists_now(f->b, "/lb"));
    assert_int_equal(ZKC_STATE_RECONNECTED, zkc_conn_state(f->a));

    /* A lost read sets no watch. */
    OK(zkc_fake_inject(f->a, ZKC_FAKE_LOSS_BEFORE, 1));
    zkc_watch *w = (zkc_watch *)&w;
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_get(f->a, "/lb", NULL, NULL, NULL, &w));
    assert_ptr_equal(&w, w);
    /* n = 0 disarms */
    OK(zkc_fake_inject(f->a, ZKC_FAKE_LOSS_BEFORE, 5));
    OK(zkc_fake_inject(f->a, ZKC_FAKE_LOSS_BEFORE, 0));
    OK(zkc_get(f->a, "/lb", NULL, NULL, NULL, NULL));
    zkc_conn_set_state_callback(f->a, NULL, NULL);
    rec_fini(&r);
}

/* The k-th operation from now, and only it, is lost; the count says how
 * many were submitted and whether the loss is still to come. */
static void test_loss_nth(void **state)
{
    fx *f = *state;
    uint64_t n0 = 0, n = 0;
    bool pending = true;
    OK(zkc_fake_ops(f->a, &n0, &pending));
    assert_false(pending);
    OK(zkc_fake_inject_nth(f->a, ZKC_FAKE_LOSS_BEFORE, 3));
    OK(zkc_fake_ops(f->a, NULL, &pending));
    assert_true(pending);
    OK(zkc_create(f->a, "/n1", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->a, "/n2", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_create(f->a, "/n3", NULL, 0, 0, NULL, NULL));
    assert_false(exists_now(f->b, "/n3")); /* lost before: not applied */
    OK(zkc_create(f->a, "/n4", NULL, 0, 0, NULL, NULL));
    OK(zkc_fake_ops(f->a, &n, &pending));
    assert_false(pending);
    assert_int_equal(4, n - n0);

    /* After the reply: applied, reply lost; a multi counts as one. */
    OK(zkc_fake_inject_nth(f->a, ZKC_FAKE_LOSS_AFTER, 2));
    zkc_request ops[2] = {{.op = ZKC_OP_CREATE, .path = "/m1", .version = -1},
                          {.op = ZKC_OP_CREATE, .path = "/m2", .version = -1}};
    OK(zkc_multi(f->a, ops, 2, NULL));
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_delete(f->a, "/n4", -1));
    assert_false(exists_now(f->b, "/n4"));
    OK(zkc_fake_ops(f->a, &n, &pending));
    assert_int_equal(6, n - n0);

    /* zkc_fake_inject replaces a pending k-th loss; bad arguments. */
    OK(zkc_fake_inject_nth(f->a, ZKC_FAKE_LOSS_BEFORE, 5));
    OK(zkc_fake_inject(f->a, ZKC_FAKE_LOSS_BEFORE, 1));
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_get(f->a, "/n1", NULL, NULL, NULL, NULL));
    OK(zkc_get(f->a, "/n1", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_inject_nth(f->a, ZKC_FAKE_LOSS_BEFORE, 0));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_inject_nth(f->a, ZKC_FAKE_EXPIRE, 1));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_inject_nth(NULL, ZKC_FAKE_LOSS_AFTER, 1));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_ops(NULL, &n, NULL));
}

static void test_loss_after(void **state)
{
    fx *f = *state;
    rec r;
    rec_init(&r);
    zkc_conn_set_state_callback(f->a, on_state, &r);
    tag op = {&r, "op", NULL, 1, 0}, parent = {&r, "parent", NULL, 0, 0};
    OK(zkc_create(f->a, "/la", NULL, 0, 0, NULL, NULL));
    zkc_watch *w = watch_logged(f->a, ZKC_OP_CHILDREN, "/la", &parent);

    /* Applied, but the reply is lost: the classic duplicate of a retried
     * sequential create.  This session's own watch event comes after the
     * reconnection. */
    OK(zkc_fake_inject(f->a, ZKC_FAKE_LOSS_AFTER, 1));
    OK(zkc_acreate(f->a, "/la/n-", NULL, 0, ZKC_SEQUENCE, NULL, on_done, &op));
    rec_wait(&r, "parent:4");
    rec_expect(&r, "state:suspended;op:done-4;state:reconnected;parent:4");
    zkc_watch_free(w);
    char *p = NULL;
    OK(zkc_create(f->a, "/la/n-", NULL, 0, ZKC_SEQUENCE, NULL, &p));
    assert_string_equal("/la/n-0000000001", p);
    zkc_free(p);
    assert_true(exists_now(f->b, "/la/n-0000000000"));

    /* writes of every kind are applied */
    OK(zkc_fake_inject(f->a, ZKC_FAKE_LOSS_AFTER, 3));
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_set(f->a, "/la", "v", 1, -1, NULL));
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_delete(f->a, "/la/n-0000000001", -1));
    assert_int_equal(ZKC_ECONNECTIONLOSS,
                     zkc_set_acl(f->a, "/la", zkc_acl_world(ZKC_PERM_ALL), -1));
    zkc_stat st = stat_of(f->b, "/la");
    assert_int_equal(1, st.version);
    assert_int_equal(1, st.aversion);
    assert_int_equal(1, st.num_children);
    /* A read whose reply is lost hands out no watch. */
    OK(zkc_fake_inject(f->a, ZKC_FAKE_LOSS_AFTER, 1));
    w = (zkc_watch *)&w;
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_exists(f->a, "/la", NULL, NULL, &w));
    assert_ptr_equal(&w, w);
    OK(zkc_set(f->b, "/la", "w", 1, -1, NULL)); /* nobody to fire */
    /* a barrier: the RECONNECTED callback has run once this returns */
    OK(zkc_exists(f->a, "/la", NULL, NULL, NULL));
    rec_expect(&r, "state:suspended;op:done-4;state:reconnected;parent:4;"
                   "state:suspended;state:reconnected;state:suspended;state:reconnected;"
                   "state:suspended;state:reconnected;state:suspended;state:reconnected");
    zkc_conn_set_state_callback(f->a, NULL, NULL);
    rec_fini(&r);
}

static int fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_suspend(void **state)
{
    fx *f = *state;
    rec r;
    rec_init(&r);
    int fd = zkc_conn_state_fd(f->a);
    assert_true(fd >= 0);
    assert_false(fd_readable(fd)); /* born CONNECTED, no change yet */
    OK(zkc_create(f->a, "/s", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->a, "/s/eph", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    tag watched = {&r, "watch", NULL, 0, 0};
    zkc_watch *w = watch_logged(f->a, ZKC_OP_GET, "/s", &watched);
    zkc_conn_set_state_callback(f->a, on_state, &r);

    OK(zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 1));
    assert_int_equal(ZKC_STATE_SUSPENDED, zkc_conn_state(f->a));
    assert_true(fd_readable(fd));
    zkc_conn_state_ack(f->a);
    assert_false(fd_readable(fd));
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_get(f->a, "/s", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_create(f->a, "/s2", NULL, 0, 0, NULL, NULL));
    assert_false(exists_now(f->b, "/s2"));
    /* suspending twice is one suspension */
    OK(zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 7));

    /* The session lives on: its ephemeral stays; a change made meanwhile
     * reaches it only once it is back. */
    OK(zkc_set(f->b, "/s", "x", 1, -1, NULL));
    /* An event is queued before the answers that come after it: once an
     * operation of a has completed, an event not held would have fired. */
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_get(f->a, "/s", NULL, NULL, NULL, NULL));
    assert_false(zkc_watch_fired(w));
    assert_true(exists_now(f->b, "/s/eph"));

    OK(zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 0));
    assert_int_equal(ZKC_STATE_RECONNECTED, zkc_conn_state(f->a));
    assert_true(fd_readable(fd));
    zkc_conn_state_ack(f->a);
    rec_wait(&r, "watch:3");
    rec_expect(&r, "state:suspended;state:reconnected;watch:3");
    OK(zkc_get(f->a, "/s", NULL, NULL, NULL, NULL));
    OK(zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 0)); /* not suspended: nothing */
    zkc_watch_free(w);

    /* Expiry while suspended: the held events become expiry. */
    rec_clear(&r);
    w = watch_logged(f->a, ZKC_OP_EXISTS, "/s", &watched);
    OK(zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 1));
    OK(zkc_delete(f->b, "/s/eph", -1));
    OK(zkc_delete(f->b, "/s", -1));
    OK(zkc_fake_inject(f->a, ZKC_FAKE_EXPIRE, 0));
    rec_wait(&r, "watch:5");
    rec_expect(&r, "state:suspended;state:expired;watch:5");
    zkc_watch_free(w);
    zkc_conn_set_state_callback(f->a, NULL, NULL);
    rec_fini(&r);
}

static void test_delay(void **state)
{
    fx *f = *state;
    rec r;
    rec_init(&r);
    tag t1 = {&r, "1", NULL, 0, 0}, t2 = {&r, "2", NULL, 0, 0}, t3 = {&r, "3", NULL, 0, 0};
    OK(zkc_fake_inject(f->a, ZKC_FAKE_DELAY, 150));
    int64_t start = zkc_impl_now_ms();
    OK(zkc_acreate(f->a, "/dl", NULL, 0, 0, NULL, on_done, &t1));
    OK(zkc_aget(f->a, "/dl", 0, on_done, &t2));
    /* applied at once: the other session sees it before the reply */
    assert_true(exists_now(f->b, "/dl"));
    OK(zkc_adelete(f->a, "/dl", -1, on_done, &t3));
    /* Delayed: none came before its time (a lower bound only). */
    rec_wait_done(&r, 3);
    assert_true(zkc_impl_now_ms() - start >= 140);
    rec_expect(&r, "1:done0;2:done0;3:done0");

    /* 0 turns delays off: with a delay of ten minutes just before, the
     * answer still comes within rec_wait_done's deadline. */
    OK(zkc_fake_inject(f->a, ZKC_FAKE_DELAY, 600000));
    OK(zkc_fake_inject(f->a, ZKC_FAKE_DELAY, 0));
    rec_clear(&r);
    OK(zkc_aexists(f->a, "/", 0, on_done, &t1));
    rec_wait_done(&r, 1);

    /* A close does not wait out the delays (ten minutes: the test's own
     * timeout would end it), and still completes all. */
    zkc_conn *c = NULL;
    OK(zkc_fake_open(f->t, &c));
    OK(zkc_fake_inject(c, ZKC_FAKE_DELAY, 600000));
    rec_clear(&r);
    OK(zkc_aexists(c, "/", 0, on_done, &t1));
    OK(zkc_aexists(c, "/", 0, on_done, &t2));
    zkc_conn_close(c);
    rec_expect(&r, "1:done0;2:done0");
    rec_fini(&r);
}

/* A zkc_conn of another kind, to check zkc_fake_inject refuses it. */
static int dummy_submit(zkc_conn *c, const zkc_request *req, zkc_done_fn done, void *ud)
{
    (void)c, (void)req, (void)done, (void)ud;
    return ZKC_ENOTSUPPORTED;
}

static void dummy_close(zkc_conn *c)
{
    zkc_impl_conn_fini(c);
}

static void test_inject_args(void **state)
{
    fx *f = *state;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_inject(NULL, ZKC_FAKE_EXPIRE, 0));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_inject(f->a, (zkc_fake_fault)0, 0));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_inject(f->a, (zkc_fake_fault)42, 1));
    static const struct zkc_conn_ops dummy_ops = {
        .version = 1, .name = "dummy", .submit = dummy_submit, .close = dummy_close};
    zkc_conn dummy;
    memset(&dummy, 0, sizeof dummy);
    OK(zkc_impl_conn_init(&dummy, &dummy_ops, "dummy"));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_inject(&dummy, ZKC_FAKE_EXPIRE, 0));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_add_auth(&dummy, "digest", "a:b"));
    zkc_conn_close(&dummy);
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_open(NULL, &f->a));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_open(f->t, NULL));
}

/* ---- close ---- */

static void test_close_outstanding(void **state)
{
    fx *f = *state;
    enum { N = 300 };
    zkc_conn *c = NULL;
    OK(zkc_fake_open(f->t, &c));
    OK(zkc_create(c, "/c", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(c, "/c/eph", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    rec r;
    rec_init(&r);
    zkc_watch *kept = NULL;
    OK(zkc_exists(c, "/c/nothing", NULL, NULL, &kept));
    tag other = {&r, "other", NULL, 0, 0};
    zkc_watch *w = watch_logged(f->b, ZKC_OP_EXISTS, "/c/eph", &other);

    /* Slow replies, so they are all outstanding at the close; half of
     * them set watches the completions keep. */
    OK(zkc_fake_inject(c, ZKC_FAKE_DELAY, 10000));
    static tag tags[N];
    for (int i = 0; i < N; i++) {
        tags[i] = (tag){&r, "t", NULL, i % 2, 0};
        OK(zkc_aget(c, "/c", i % 2 ? ZKC_WATCH : 0, on_done, &tags[i]));
    }
    zkc_conn_close(c);
    /* Every submission completed exactly once, before close returned. */
    pthread_mutex_lock(&r.lock);
    assert_int_equal(N, r.ndone);
    pthread_mutex_unlock(&r.lock);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ZKC_OK, tags[i].rc);
        if (i % 2) {
            assert_non_null(tags[i].keep);
            assert_int_equal(ZKC_EVENT_CLOSED, zkc_watch_event(tags[i].keep)->type);
            zkc_watch_free(tags[i].keep);
        }
    }
    /* its watches ended CLOSED; the others saw its ephemeral go */
    assert_int_equal(ZKC_EVENT_CLOSED, zkc_watch_event(kept)->type);
    zkc_watch_free(kept);
    rec_wait(&r, "other:2");
    zkc_watch_free(w);
    assert_false(exists_now(f->b, "/c/eph"));
    rec_fini(&r);
}

typedef struct closer {
    zkc_conn *c;
    rec *r;
    int n;
} closer;

static void close_in_done(const zkc_result *res, void *ud)
{
    closer *cl = ud;
    rec_add(cl->r, 1, "closer:%d", res->rc);
    zkc_conn_close(cl->c);
    /* Inside the completion the handle is still there, but closed: a
     * submission is refused and its completion never runs. */
    rec_add(cl->r, 0, "after:%d", zkc_aexists(cl->c, "/", 0, on_done, NULL));
}

static void test_close_from_completion(void **state)
{
    fx *f = *state;
    zkc_conn *c = NULL;
    OK(zkc_fake_open(f->t, &c));
    OK(zkc_create(c, "/cc", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    zkc_watch *w = NULL;
    OK(zkc_get(c, "/cc", NULL, NULL, NULL, &w));
    rec r;
    rec_init(&r);
    closer cl = {c, &r, 0};
    tag later[3] = {{&r, "a", NULL, 0, 0}, {&r, "b", NULL, 0, 0}, {&r, "c", NULL, 0, 0}};
    OK(zkc_fake_inject(c, ZKC_FAKE_DELAY, 30));
    OK(zkc_aexists(c, "/cc", 0, close_in_done, &cl));
    for (int i = 0; i < 3; i++)
        OK(zkc_aexists(c, "/cc", 0, on_done, &later[i]));
    /* the completions queued behind the closing one still run */
    rec_wait_done(&r, 4);
    rec_expect(&r, "closer:0;after:-1003;a:done0;b:done0;c:done0");
    OK(zkc_watch_wait(w, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CLOSED, zkc_watch_event(w)->type);
    zkc_watch_free(w);
    assert_false(exists_now(f->b, "/cc"));
    rec_fini(&r);
}

/* A watch callback may close its session too. */
static void close_in_watch(zkc_watch *w, const zkc_event *ev, void *ud)
{
    (void)w;
    closer *cl = ud;
    rec_add(cl->r, 1, "watch:%d", (int)ev->type);
    zkc_conn_close(cl->c);
}

static void test_close_from_watch(void **state)
{
    fx *f = *state;
    zkc_conn *c = NULL;
    OK(zkc_fake_open(f->t, &c));
    OK(zkc_create(f->a, "/cw", NULL, 0, 0, NULL, NULL));
    zkc_watch *w = NULL, *w2 = NULL;
    OK(zkc_get(c, "/cw", NULL, NULL, NULL, &w));
    OK(zkc_exists(c, "/cw/none", NULL, NULL, &w2));
    rec r;
    rec_init(&r);
    closer cl = {c, &r, 0};
    zkc_watch_set_callback(w, close_in_watch, &cl);
    OK(zkc_set(f->a, "/cw", "x", 1, -1, NULL));
    rec_wait_done(&r, 1);
    OK(zkc_watch_wait(w2, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CLOSED, zkc_watch_event(w2)->type);
    zkc_watch_free(w);
    zkc_watch_free(w2);
    rec_fini(&r);
}

/* A state callback may close its session, even on a state change that
 * zkc_fake_inject() is waiting for on another thread. */
typedef struct state_closer {
    rec *r;
    int closed;
} state_closer;

static void close_on_expiry(zkc_conn *c, zkc_state s, void *ud)
{
    state_closer *sc = ud;
    rec_add(sc->r, 0, "state:%s", zkc_state_name(s));
    if (s == ZKC_STATE_EXPIRED && !sc->closed) {
        sc->closed = 1;
        zkc_conn_close(c);
    }
}

static void test_close_from_state_callback(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 20; i++) {
        zkc_conn *c = NULL;
        OK(zkc_fake_open(f->t, &c));
        OK(zkc_create(c, "/sc", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
        zkc_watch *w = NULL;
        OK(zkc_get(c, "/sc", NULL, NULL, NULL, &w));
        rec r;
        rec_init(&r);
        state_closer sc = {&r, 0};
        zkc_conn_set_state_callback(c, close_on_expiry, &sc);
        OK(zkc_fake_inject(c, ZKC_FAKE_EXPIRE, 0));
        /* c is gone (closed by its callback); its watch ended with the
         * expiry, which came first */
        OK(zkc_watch_wait(w, 5000, NULL));
        assert_int_equal(ZKC_EVENT_SESSION_EXPIRED, zkc_watch_event(w)->type);
        zkc_watch_free(w);
        rec_wait(&r, "state:closed");
        rec_expect(&r, "state:expired;state:closed");
        assert_false(exists_now(f->b, "/sc"));
        rec_fini(&r);
    }
}

/* The tree outlives its creator's reference while sessions use it. */
static void test_tree_lifetime(void **state)
{
    (void)state;
    zkc_fake_tree *t = zkc_fake_tree_new();
    assert_non_null(t);
    zkc_conn *c = NULL, *d = NULL;
    OK(zkc_fake_open(t, &c));
    OK(zkc_fake_open(t, &d));
    zkc_fake_tree_free(t);
    OK(zkc_create(c, "/x", "1", 1, 0, NULL, NULL));
    zkc_watch *w = NULL;
    OK(zkc_get(d, "/x", NULL, NULL, NULL, &w));
    zkc_conn_close(c);
    OK(zkc_set(d, "/x", "2", 1, -1, NULL));
    OK(zkc_watch_wait(w, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(w)->type);
    zkc_watch_free(w);
    zkc_conn_close(d);
    zkc_fake_tree_free(NULL);
    zkc_conn_close(NULL);
}

/* ---- ordering and threads ---- */

typedef struct counter {
    pthread_mutex_t lock;
    int n, last, in_order;
} counter;

static void count_done(const zkc_result *res, void *ud)
{
    counter *c = ((void **)ud)[0];
    int idx = (int)(intptr_t)((void **)ud)[1];
    pthread_mutex_lock(&c->lock);
    if (idx != c->last + 1 || res->rc != ZKC_OK)
        c->in_order = 0;
    c->last = idx;
    c->n++;
    pthread_mutex_unlock(&c->lock);
}

static void test_pipeline(void **state)
{
    fx *f = *state;
    enum { N = 3000 };
    static void *uds[N][2];
    counter cnt = {PTHREAD_MUTEX_INITIALIZER, 0, -1, 1};
    OK(zkc_create(f->a, "/pl", NULL, 0, 0, NULL, NULL));
    for (int i = 0; i < N; i++) {
        uds[i][0] = &cnt;
        uds[i][1] = (void *)(intptr_t)i;
        char p[32];
        snprintf(p, sizeof p, "/pl/n%d", i);
        OK(zkc_acreate(f->a, p, NULL, 0, 0, NULL, count_done, uds[i]));
    }
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&cnt.lock);
        int n = cnt.n;
        pthread_mutex_unlock(&cnt.lock);
        if (n == N)
            break;
        zkc_sleep(5, NULL);
    }
    assert_int_equal(N, cnt.n);
    assert_true(cnt.in_order);
    zkc_stat st = stat_of(f->b, "/pl");
    assert_int_equal(N, st.num_children);
}

typedef struct worker {
    zkc_fake_tree *t;
    int id;
    int errors;
} worker;

static void *worker_main(void *arg)
{
    worker *wk = arg;
    zkc_conn *c = NULL;
    if (zkc_fake_open(wk->t, &c) != ZKC_OK) {
        wk->errors++;
        return NULL;
    }
    for (int i = 0; i < 100; i++) {
        char *p = NULL;
        if (zkc_create(c, "/race/n-", NULL, 0, ZKC_SEQUENCE | (i % 2 ? ZKC_EPHEMERAL : 0), NULL,
                       &p) != ZKC_OK)
            wk->errors++;
        zkc_free(p);
        zkc_watch *w = NULL;
        if (zkc_children(c, "/race", NULL, NULL, &w) != ZKC_OK)
            wk->errors++;
        zkc_watch_free(w);
    }
    zkc_conn_close(c);
    return NULL;
}

static void test_threads(void **state)
{
    fx *f = *state;
    enum { T = 4 };
    OK(zkc_create(f->a, "/race", NULL, 0, 0, NULL, NULL));
    pthread_t th[T];
    worker wk[T];
    for (int i = 0; i < T; i++) {
        wk[i] = (worker){f->t, i, 0};
        assert_int_equal(0, pthread_create(&th[i], NULL, worker_main, &wk[i]));
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(0, wk[i].errors);
    }
    /* every name unique; the ephemeral half went with the sessions */
    zkc_strings *kids = NULL;
    zkc_stat st;
    OK(zkc_children(f->a, "/race", &kids, &st, NULL));
    assert_int_equal(T * 50, kids->count);
    for (size_t i = 1; i < kids->count; i++)
        assert_true(strcmp(kids->v[i - 1], kids->v[i]) < 0);
    zkc_strings_free(kids);
    assert_int_equal(T * 100 + T * 50, st.cversion);
}

/* ---- JSON ---- */

static char *dump(zkc_fake_tree *t, const char *root)
{
    char *out = NULL;
    OK(zkc_fake_tree_dump_json(t, root, &out));
    assert_non_null(out);
    return out;
}

static void test_json_load(void **state)
{
    fx *f = *state;
    OK(zkc_create(f->a, "/exists", "old", 3, 0, NULL, NULL));
    zkc_watch *w = NULL;
    OK(zkc_exists(f->b, "/j/a/b", NULL, NULL, &w));
    OK(zkc_fake_tree_load_json_string(
        f->t, "{\"/j/a/b\": \"text\", \"/j/num\": 42, \"/j/obj\": {\"k\": [1, true, null]},"
              " \"/j/bin\": {\"base64\": \"AP8A\"}, \"/j/nul\": \"a\\u0000b\","
              " \"/exists\": \"new\", \"/j/two\": {\"base64\": \"x\", \"more\": 1},"
              " \"/j/utf\": \"h\\u00e9\"}"));
    OK(zkc_watch_wait(w, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CREATED, zkc_watch_event(w)->type);
    zkc_watch_free(w);

    struct {
        const char *path;
        const char *data;
        size_t len;
    } want[] = {
        {"/j/a/b", "text", 4},
        {"/j/a", "", 0}, /* a missing parent comes empty */
        {"/j", "", 0},
        {"/j/num", "42", 2},
        {"/j/obj", "{\"k\":[1,true,null]}", 19},
        {"/j/bin", "\0\xff\0", 3},
        {"/j/nul", "a\0b", 3},
        {"/exists", "new", 3},
        {"/j/two", "{\"base64\":\"x\",\"more\":1}", 23},
        {"/j/utf", "h\xc3\xa9", 3},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char *data = NULL;
        size_t len = 0;
        OK(zkc_get(f->a, want[i].path, &data, &len, NULL, NULL));
        assert_int_equal(want[i].len, len);
        assert_memory_equal(want[i].data, data, len);
        zkc_free(data);
    }
    assert_int_equal(1, stat_of(f->a, "/exists").version);
    /* loaded nodes are world:anyone ALL, persistent */
    zkc_acl_list *acl = NULL;
    OK(zkc_get_acl(f->a, "/j/a", &acl, NULL));
    assert_int_equal(ZKC_PERM_ALL, acl->v[0].perms);
    zkc_acl_list_free(acl);
    /* unchanged data is not rewritten */
    OK(zkc_fake_tree_load_json_string(f->t, "{\"/exists\": \"new\", \"/\": \"\"}"));
    assert_int_equal(1, stat_of(f->a, "/exists").version);
    assert_int_equal(0, stat_of(f->a, "/").version);
    OK(zkc_fake_tree_load_json_string(f->t, "{}"));

    /* Bad input: nothing is changed, and the message says why. */
    struct {
        const char *json;
        int rc;
        const char *msg;
    } bad[] = {
        {"", ZKC_EBADDATA, "not JSON"},
        {"{\"/a\": ", ZKC_EBADDATA, "not JSON"},
        {"[1, 2]", ZKC_EBADDATA, "not a JSON object"},
        {"\"str\"", ZKC_EBADDATA, "not a JSON object"},
        {"{\"/ok\": \"\", \"/ok\": \"\"}", ZKC_EBADDATA, "not JSON"},
        {"{\"/ok\": \"\", \"rel\": \"\"}", ZKC_EBADPATH, "rel"},
        {"{\"/ok\": \"\", \"/a/\": \"\"}", ZKC_EBADPATH, "/a/"},
        {"{\"/ok\": \"\", \"/a/../b\": \"\"}", ZKC_EBADPATH, "/a/../b"},
        {"{\"/ok\": \"\", \"/a\\u0000b\": \"\"}", ZKC_EBADDATA, "NUL"},
        {"{\"/ok\": \"\", \"/x\": {\"base64\": \"!!!!\"}}", ZKC_EBADDATA, "/x"},
        {"{\"/ok\": \"\", \"/x\": {\"base64\": \"Q\"}}", ZKC_EBADDATA, "/x"},
        {"{\"/ok\": \"\", \"/x\": {\"base64\": \"QR==\"}}", ZKC_EBADDATA, "/x"},
        {"{\"/ok\": \"\", \"/x\": {\"base64\": 7}}", ZKC_EBADDATA, "/x"},
        {"{\"/ok\": \"\", \"/exists/e/k\": \"\"}", ZKC_ENOCHILDRENFOREPHEMERALS, "ephemeral"},
    };
    OK(zkc_create(f->a, "/exists/e", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = zkc_fake_tree_load_json_string(f->t, bad[i].json);
        if (rc != bad[i].rc)
            fail_msg("case %zu: %s, not %s (%s)", i, zkc_err_name(rc), zkc_err_name(bad[i].rc),
                     zkc_errmsg());
        if (strstr(zkc_errmsg(), bad[i].msg) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, zkc_errmsg(), bad[i].msg);
        assert_false(exists_now(f->a, "/ok"));
    }
    /* base64 with and without padding */
    OK(zkc_fake_tree_load_json_string(f->t, "{\"/b1\": {\"base64\": \"QQ==\"},"
                                            " \"/b2\": {\"base64\": \"QUI\"},"
                                            " \"/b3\": {\"base64\": \"\"}}"));
    char *data = NULL;
    size_t len = 0;
    OK(zkc_get(f->a, "/b1", &data, &len, NULL, NULL));
    assert_int_equal(1, len);
    assert_int_equal('A', data[0]);
    zkc_free(data);
    OK(zkc_get(f->a, "/b2", &data, &len, NULL, NULL));
    assert_int_equal(2, len);
    assert_memory_equal("AB", data, 2);
    zkc_free(data);
    OK(zkc_get(f->a, "/b3", &data, &len, NULL, NULL));
    assert_int_equal(0, len);
    zkc_free(data);

    /* too much data for one node */
    size_t n = ZKC_MAX_DATA + 32;
    char *big = malloc(n + 32);
    assert_non_null(big);
    memcpy(big, "{\"/big\": \"", 10);
    memset(big + 10, 'x', ZKC_MAX_DATA + 1);
    memcpy(big + 10 + ZKC_MAX_DATA + 1, "\"}", 3);
    assert_int_equal(ZKC_EBADDATA, zkc_fake_tree_load_json_string(f->t, big));
    free(big);

    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_tree_load_json_string(NULL, "{}"));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_tree_load_json_string(f->t, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_tree_load_json(f->t, NULL));
}

static void test_json_files(void **state)
{
    fx *f = *state;
    char dir[] = "/tmp/zkc-fake-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char good[64], bad[64], missing[64];
    snprintf(good, sizeof good, "%s/good.json", dir);
    snprintf(bad, sizeof bad, "%s/bad.json", dir);
    snprintf(missing, sizeof missing, "%s/missing.json", dir);
    FILE *fp = fopen(good, "w");
    assert_non_null(fp);
    fputs("{\"/file/a\": \"1\", \"/file/b\": {\"x\": 1}}\n", fp);
    fclose(fp);
    fp = fopen(bad, "w");
    assert_non_null(fp);
    fputs("{\"/file/a\": \n", fp);
    fclose(fp);

    OK(zkc_fake_tree_load_json(f->t, good));
    assert_true(exists_now(f->a, "/file/b"));
    assert_int_equal(ZKC_EBADDATA, zkc_fake_tree_load_json(f->t, bad));
    assert_non_null(strstr(zkc_errmsg(), bad));
    assert_non_null(strstr(zkc_errmsg(), "line"));
    assert_int_equal(ZKC_EIO, zkc_fake_tree_load_json(f->t, missing));
    assert_non_null(strstr(zkc_errmsg(), missing));
    assert_int_equal(ZKC_EIO, zkc_fake_tree_load_json(f->t, dir)); /* a directory */
    unlink(good);
    unlink(bad);
    rmdir(dir);
}

static void test_json_dump(void **state)
{
    fx *f = *state;
    const char bin[] = {'\xff', '\0', 'x'};
    OK(zkc_create(f->a, "/a", "top", 3, 0, NULL, NULL));
    OK(zkc_create(f->a, "/a/bin", bin, sizeof bin, 0, NULL, NULL));
    OK(zkc_create(f->a, "/a/nul", "a\0b", 3, 0, NULL, NULL));
    OK(zkc_create(f->a, "/a/json", "{\"base64\":\"QQ==\"}", 17, 0, NULL, NULL));
    OK(zkc_create(f->a, "/a/utf", "\xc3\xa9t\xc3\xa9", 5, 0, NULL, NULL));
    OK(zkc_create(f->a, "/a/eph", "e", 1, ZKC_EPHEMERAL, NULL, NULL));
    OK(zkc_create(f->a, "/b", NULL, 0, 0, NULL, NULL));
    OK(zkc_set(f->a, "/zookeeper/quota", "q", 1, -1, NULL));

    char *all = dump(f->t, "/");
    assert_null(strstr(all, "/zookeeper"));
    assert_non_null(strstr(all, "\"/\": \"\""));
    assert_non_null(strstr(all, "\"/a/bin\": {\n    \"base64\": \"/wB4\"\n  }"));
    assert_non_null(strstr(all, "\"/a/nul\": \"a\\u0000b\""));

    /* load it into a fresh tree: the same dump comes back */
    zkc_fake_tree *t2 = zkc_fake_tree_new();
    assert_non_null(t2);
    OK(zkc_fake_tree_load_json_string(t2, all));
    char *again = dump(t2, "/");
    assert_string_equal(all, again);
    zkc_conn *c = NULL;
    OK(zkc_fake_open(t2, &c));
    char *data = NULL;
    size_t len = 0;
    OK(zkc_get(c, "/a/json", &data, &len, NULL, NULL));
    assert_int_equal(17, len);
    assert_memory_equal("{\"base64\":\"QQ==\"}", data, len);
    zkc_free(data);
    OK(zkc_get(c, "/a/bin", &data, &len, NULL, NULL));
    assert_int_equal(3, len);
    assert_memory_equal(bin, data, 3);
    zkc_free(data);
    assert_int_equal(0, stat_of(c, "/a/eph").ephemeral_owner); /* loaded: persistent */
    zkc_conn_close(c);
    zkc_fake_tree_free(t2);
    free(again);
    free(all);

    /* a subtree, root included */
    char *sub = dump(f->t, "/a");
    assert_non_null(strstr(sub, "\"/a\": \"top\""));
    assert_null(strstr(sub, "\"/b\""));
    free(sub);
    sub = dump(f->t, "/a/utf");
    assert_string_equal("{\n  \"/a/utf\": \"\xc3\xa9t\xc3\xa9\"\n}", sub);
    free(sub);
    /* asked for explicitly, /zookeeper is dumped */
    sub = dump(f->t, "/zookeeper");
    assert_non_null(strstr(sub, "\"/zookeeper/quota\": \"q\""));
    free(sub);

    char *out = (char *)&out;
    assert_int_equal(ZKC_ENONODE, zkc_fake_tree_dump_json(f->t, "/nope", &out));
    assert_int_equal(ZKC_EBADPATH, zkc_fake_tree_dump_json(f->t, "nope", &out));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_tree_dump_json(NULL, "/", &out));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_tree_dump_json(f->t, NULL, &out));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_fake_tree_dump_json(f->t, "/", NULL));
    assert_ptr_equal(&out, out);
}

/* ---- SHA-1 ---- */

/* Digest ids, as the server makes them: "user:" and base64(sha1(the
 * whole credential)), for credentials around SHA-1's 64-byte blocks
 * (expected values from Python's hashlib). */
static void test_digest_ids(void **state)
{
    fx *f = *state;
    static const struct {
        size_t len;
        const char *hash;
    } v[] = {
        {2, "IX23jg4I7W2/R//KoV8VL1UfuBM="},   {3, "Jq7wMyA/w2Vd5WIDAKdu4OIIFEQ="},
        {55, "9haYA/nqM3XxNMGh/CO/vVlsjwY="},  {56, "eKm7CCgUeLQmQ+V5LVuT4xJjoMU="},
        {63, "sQdk8WjMTdt5QpgMeLAFXjpmJ7A="},  {64, "7K8oxjW+CY7mhPaEGBOkb+TVrXk="},
        {65, "FsssIDYI1iPXWtq8GFTykQVSWOk="},  {119, "eROjM4Cbjd6sMd9w38guTS4bChA="},
        {120, "4r2/ZIbLbNo5/t3o8enVcP/bjBI="}, {200, "5JPaKfzyYBgoWiLie82lvAwN2LA="},
    };
    zkc_acl auth_entry = {ZKC_PERM_ALL, "auth", ""};
    zkc_acl_list auth = {1, &auth_entry};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char cred[256], path[32], want[64];
        memset(cred, 'p', v[i].len);
        cred[0] = 'u';
        cred[1] = ':';
        cred[v[i].len] = '\0';
        zkc_conn *c = NULL;
        OK(zkc_fake_open(f->t, &c));
        OK(zkc_fake_add_auth(c, "digest", cred));
        snprintf(path, sizeof path, "/digest%zu", v[i].len);
        OK(zkc_create(c, path, NULL, 0, 0, &auth, NULL));
        zkc_acl_list *acl = NULL;
        OK(zkc_get_acl(c, path, &acl, NULL));
        assert_int_equal(1, acl->count);
        snprintf(want, sizeof want, "u:%s", v[i].hash);
        assert_string_equal(want, acl->v[0].id);
        zkc_acl_list_free(acl);
        zkc_conn_close(c);
    }
}

/* ---- multi under faults: one operation for the injector ---- */

static void test_multi_faults(void **state)
{
    fx *f = *state;
    OK(zkc_create(f->a, "/m", NULL, 0, 0, NULL, NULL));
    zkc_request ops[] = {
        {.op = ZKC_OP_CREATE, .path = "/m/a", .version = -1},
        {.op = ZKC_OP_CREATE, .path = "/m/s-", .flags = ZKC_SEQUENCE, .version = -1},
        {.op = ZKC_OP_SET, .path = "/m", .data = "x", .data_len = 1, .version = -1},
    };
    zkc_stat m0 = stat_of(f->b, "/m");

    /* Lost before: nothing applied, no results, not even a zxid. */
    OK(zkc_fake_inject(f->a, ZKC_FAKE_LOSS_BEFORE, 1));
    zkc_multi_results *r = (zkc_multi_results *)1;
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_multi(f->a, ops, 3, &r));
    assert_null(r);
    assert_false(exists_now(f->b, "/m/a"));
    zkc_stat m1 = stat_of(f->b, "/m");
    assert_int_equal(m0.version, m1.version);
    assert_int_equal(m0.cversion, m1.cversion);
    assert_int_equal(m0.pzxid, m1.pzxid);

    /* Lost after: all applied, with one zxid, but the reply is gone. */
    zkc_watch *w = NULL;
    OK(zkc_children(f->b, "/m", NULL, NULL, &w));
    OK(zkc_fake_inject(f->a, ZKC_FAKE_LOSS_AFTER, 1));
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_multi(f->a, ops, 3, &r));
    assert_null(r);
    OK(zkc_watch_wait(w, 5000, NULL)); /* committed: the other session's watch fires */
    assert_int_equal(ZKC_EVENT_CHILD, zkc_watch_event(w)->type);
    zkc_watch_free(w);
    zkc_stat a = stat_of(f->b, "/m/a");
    zkc_stat s = stat_of(f->b, "/m/s-0000000001");
    zkc_stat m2 = stat_of(f->b, "/m");
    assert_int_equal(a.czxid, s.czxid);
    assert_int_equal(a.czxid, m2.mzxid);
    assert_int_equal(1, m2.version);

    /* The fault counted the multi as one operation: the next one runs. */
    ops[0].path = "/m/b";
    OK(zkc_multi(f->a, ops, 3, &r));
    assert_int_equal(3, r->count);
    assert_string_equal("/m/s-0000000003", r->v[1].created_path);
    assert_int_equal(2, r->v[2].stat->version);
    zkc_free(r);

    /* Suspended, then expired: no answer, nothing applied. */
    OK(zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 1));
    ops[0].path = "/m/c";
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_multi(f->a, ops, 1, NULL));
    OK(zkc_fake_inject(f->a, ZKC_FAKE_SUSPEND, 0));
    OK(zkc_fake_inject(f->a, ZKC_FAKE_EXPIRE, 0));
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_multi(f->a, ops, 1, NULL));
    assert_false(exists_now(f->b, "/m/c"));
}

/* Ephemerals made by a multi belong to the session, and go with it;
 * a failed multi leaves no ephemeral behind. */
static void test_multi_ephemeral(void **state)
{
    fx *f = *state;
    zkc_conn *c = NULL;
    OK(zkc_fake_open(f->t, &c));
    OK(zkc_create(f->a, "/m", NULL, 0, 0, NULL, NULL));
    zkc_request bad[] = {
        {.op = ZKC_OP_CREATE, .path = "/m/e1", .flags = ZKC_EPHEMERAL, .version = -1},
        {.op = ZKC_OP_CREATE, .path = "/m/e1/kid", .version = -1},
    };
    assert_int_equal(ZKC_ENOCHILDRENFOREPHEMERALS, zkc_multi(c, bad, 2, NULL));
    assert_false(exists_now(f->b, "/m/e1"));
    zkc_request good[] = {
        {.op = ZKC_OP_CREATE, .path = "/m/e1", .flags = ZKC_EPHEMERAL, .version = -1},
        {.op = ZKC_OP_CREATE, .path = "/m/e2", .flags = ZKC_EPHEMERAL, .version = -1},
        {.op = ZKC_OP_DELETE, .path = "/m/e2", .version = -1},
        {.op = ZKC_OP_CREATE, .path = "/m/e2", .flags = ZKC_EPHEMERAL, .version = -1},
    };
    OK(zkc_multi(c, good, 4, NULL));
    assert_int_equal(zkc_conn_session_id(c), stat_of(f->b, "/m/e2").ephemeral_owner);
    /* Delete then re-create an ephemeral inside a failing multi: the
     * undo puts everything back as it was. */
    zkc_request undo[] = {
        {.op = ZKC_OP_DELETE, .path = "/m/e1", .version = -1},
        {.op = ZKC_OP_CREATE, .path = "/m/e1", .version = -1},
        {.op = ZKC_OP_CHECK, .path = "/m", .version = 99},
    };
    assert_int_equal(ZKC_EBADVERSION, zkc_multi(c, undo, 3, NULL));
    assert_int_equal(zkc_conn_session_id(c), stat_of(f->b, "/m/e1").ephemeral_owner);
    zkc_conn_close(c);
    assert_false(exists_now(f->b, "/m/e1"));
    assert_false(exists_now(f->b, "/m/e2"));
    assert_int_equal(0, stat_of(f->b, "/m").num_children);
}

/* A refusal reads the same whether the operation came alone or inside a
 * multi: single operations and multi share one implementation of the
 * server's checks, details included. */
static void expect_same_refusal(zkc_conn *c, const zkc_request *r, int want, const char *detail)
{
    zkc_request one = *r;
    int rc;
    switch (r->op) {
    case ZKC_OP_CREATE:
        rc = zkc_create(c, r->path, r->data, r->data_len, r->flags, r->acl, NULL);
        break;
    case ZKC_OP_DELETE:
        rc = zkc_delete(c, r->path, r->version);
        break;
    default:
        rc = zkc_set(c, r->path, r->data, r->data_len, r->version, NULL);
        break;
    }
    assert_int_equal(want, rc);
    if (strstr(zkc_errmsg(), detail) == NULL)
        fail_msg("single %s: \"%s\" lacks \"%s\"", r->path, zkc_errmsg(), detail);
    assert_int_equal(want, zkc_multi(c, &one, 1, NULL));
    if (strstr(zkc_errmsg(), detail) == NULL)
        fail_msg("multi %s: \"%s\" lacks \"%s\"", r->path, zkc_errmsg(), detail);
}

static void test_multi_checks_as_single(void **state)
{
    fx *f = *state;
    /* /nodel takes children but none may be deleted; /ro is read-only. */
    OK(zkc_create(f->a, "/nodel", NULL, 0, 0,
                  zkc_acl_world(ZKC_PERM_READ | ZKC_PERM_CREATE | ZKC_PERM_WRITE), NULL));
    OK(zkc_create(f->a, "/nodel/kid", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->a, "/ro", "x", 1, 0, zkc_acl_world(ZKC_PERM_READ), NULL));
    OK(zkc_create(f->a, "/eph", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    zkc_request del = {.op = ZKC_OP_DELETE, .path = "/nodel/kid", .version = -1};
    expect_same_refusal(f->b, &del, ZKC_ENOAUTH, "no DELETE permission on /nodel");
    zkc_request set = {
        .op = ZKC_OP_SET, .path = "/ro", .data = "y", .data_len = 1, .version = -1};
    expect_same_refusal(f->b, &set, ZKC_ENOAUTH, "no WRITE permission");
    zkc_request own = {.op = ZKC_OP_DELETE, .path = "/zookeeper", .version = -1};
    expect_same_refusal(f->b, &own, ZKC_EBADARGUMENTS, "/zookeeper is the server's own node");
    zkc_request orphan = {.op = ZKC_OP_CREATE, .path = "/no/kid", .version = -1};
    expect_same_refusal(f->b, &orphan, ZKC_ENONODE, "parent /no does not exist");
    zkc_request under_eph = {.op = ZKC_OP_CREATE, .path = "/eph/kid", .version = -1};
    expect_same_refusal(f->b, &under_eph, ZKC_ENOCHILDRENFOREPHEMERALS,
                        "parent /eph is ephemeral");
    /* Nothing was changed by the refusals. */
    assert_true(exists_now(f->b, "/nodel/kid"));
    assert_int_equal(0, stat_of(f->b, "/ro").version);
    assert_false(exists_now(f->b, "/no"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequential, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acl_perms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acl_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acl_ip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_basics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ephemerals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loss_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loss_nth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loss_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suspend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inject_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_outstanding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_state_callback, setup, teardown),
        cmocka_unit_test(test_tree_lifetime),
        cmocka_unit_test_setup_teardown(test_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_dump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_digest_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_ephemeral, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_checks_as_single, setup, teardown),
    };
    return cmocka_run_group_tests_name("fake", tests, NULL, NULL);
}
