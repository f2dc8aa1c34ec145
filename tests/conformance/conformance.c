/*
 * conformance.c: the behaviour every zkc_conn implementation must share,
 * written against the interface only.  The expectations are ZooKeeper
 * 3.8's: where the fake and a real server disagree, the fake is wrong.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <semaphore.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../children_wait.h"
#include "conformance.h"

static const zkc_conformance_backend *B;
static unsigned test_seq;

typedef struct fixture {
    zkc_conn *a;   /* the test's main session */
    zkc_conn *b;   /* a second session on the same server */
    char dir[256]; /* the test's own folder */
} fixture;

#define OK(expr) assert_int_equal(ZKC_OK, (expr))

static zkc_conn *open_conn(void)
{
    zkc_conn *c = NULL;
    OK(B->open(B->ud, &c));
    assert_non_null(c);
    return c;
}

static void rm_tree(zkc_conn *c, const char *path)
{
    zkc_strings *kids = NULL;
    if (zkc_children(c, path, &kids, NULL, NULL) != ZKC_OK)
        return;
    for (size_t i = 0; i < kids->count; i++) {
        char *p = zkc_path_join(path, kids->v[i]);
        rm_tree(c, p);
        free(p);
    }
    zkc_strings_free(kids);
    zkc_delete(c, path, -1);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->a = open_conn();
    f->b = open_conn();
    int rc = zkc_create(f->a, B->root, NULL, 0, 0, NULL, NULL);
    assert_true(rc == ZKC_OK || rc == ZKC_ENODEEXISTS);
    snprintf(f->dir, sizeof f->dir, "%s/t%u-%d", B->root, ++test_seq, (int)getpid());
    rm_tree(f->a, f->dir);
    OK(zkc_create(f->a, f->dir, NULL, 0, 0, NULL, NULL));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->a != NULL)
        rm_tree(f->a, f->dir);
    zkc_conn_close(f->a);
    zkc_conn_close(f->b);
    free(f);
    return 0;
}

static char *P(fixture *f, const char *rel)
{
    static _Thread_local char buf[8][512];
    static _Thread_local int n;
    char *p = buf[n++ % 8];
    snprintf(p, 512, "%s/%s", f->dir, rel);
    return p;
}

/* ---- data and basic operations ---- */

static void test_create_get_set_delete(void **state)
{
    fixture *f = *state;
    const char bin[] = {'a', 0, 'b', (char)0xff, 0};
    char *created = NULL;
    OK(zkc_create(f->a, P(f, "n"), bin, sizeof bin, 0, NULL, &created));
    assert_string_equal(P(f, "n"), created);
    zkc_free(created);

    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    OK(zkc_get(f->b, P(f, "n"), &data, &len, &st, NULL));
    assert_int_equal(sizeof bin, len);
    assert_memory_equal(bin, data, len);
    assert_int_equal(0, data[len]); /* the courtesy NUL */
    zkc_free(data);

    zkc_stat st2;
    OK(zkc_set(f->a, P(f, "n"), "xyz", 3, 0, &st2));
    assert_int_equal(1, st2.version);
    OK(zkc_get(f->a, P(f, "n"), &data, &len, NULL, NULL));
    assert_int_equal(3, len);
    assert_memory_equal("xyz", data, 3);
    zkc_free(data);

    /* Empty data reads back as empty, not as an error. */
    OK(zkc_set(f->a, P(f, "n"), NULL, 0, -1, NULL));
    OK(zkc_get(f->a, P(f, "n"), &data, &len, NULL, NULL));
    assert_int_equal(0, len);
    assert_non_null(data);
    zkc_free(data);

    OK(zkc_delete(f->a, P(f, "n"), 2));
    bool exists = true;
    OK(zkc_exists(f->b, P(f, "n"), &exists, NULL, NULL));
    assert_false(exists);
}

static void test_large_data(void **state)
{
    fixture *f = *state;
    size_t n = 512 * 1024;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7);
    OK(zkc_create(f->a, P(f, "big"), big, n, 0, NULL, NULL));
    char *data = NULL;
    size_t len = 0;
    OK(zkc_get(f->b, P(f, "big"), &data, &len, NULL, NULL));
    assert_int_equal(n, len);
    assert_memory_equal(big, data, n);
    zkc_free(data);
    free(big);
    /* Over the limit is refused before it reaches the server. */
    assert_int_equal(ZKC_EBADARGUMENTS,
                     zkc_set(f->a, P(f, "big"), "x", ZKC_MAX_DATA + 1, -1, NULL));
}

static void test_children(void **state)
{
    fixture *f = *state;
    const char *names[] = {"c", "a", "b"};
    for (int i = 0; i < 3; i++)
        OK(zkc_create(f->a, P(f, names[i]), NULL, 0, 0, NULL, NULL));
    zkc_strings *kids = NULL;
    zkc_stat st;
    OK(zkc_children(f->b, f->dir, &kids, &st, NULL));
    zkc_strings_sort(kids);
    assert_int_equal(3, kids->count);
    assert_string_equal("a", kids->v[0]);
    assert_string_equal("b", kids->v[1]);
    assert_string_equal("c", kids->v[2]);
    assert_int_equal(3, st.num_children);
    zkc_strings_free(kids);

    OK(zkc_children(f->b, P(f, "a"), &kids, NULL, NULL));
    assert_int_equal(0, kids->count);
    zkc_strings_free(kids);

    /* Names only (ZKC_NOSTAT): the same names (a stat is optional). */
    names_wait w;
    assert_int_equal(ZKC_OK, names_get(f->b, f->dir, ZKC_NOSTAT, &w));
    OK(w.rc);
    assert_non_null(w.names);
    zkc_strings_sort(w.names);
    assert_int_equal(3, w.names->count);
    assert_string_equal("a", w.names->v[0]);
    assert_string_equal("c", w.names->v[2]);
    zkc_strings_free(w.names);
    assert_int_equal(ZKC_OK, names_get(f->b, P(f, "none"), ZKC_NOSTAT, &w));
    assert_int_equal(ZKC_ENONODE, w.rc);
    assert_null(w.names);

    /* The root lists /zookeeper, like every server. */
    if (B->routed)
        return;
    OK(zkc_children(f->a, "/", &kids, NULL, NULL));
    bool found = false;
    for (size_t i = 0; i < kids->count; i++)
        found |= strcmp(kids->v[i], "zookeeper") == 0;
    assert_true(found);
    zkc_strings_free(kids);
}

/* ---- stats after each operation ---- */

static void test_stats(void **state)
{
    fixture *f = *state;
    zkc_stat parent0, parent1, parent2, s0, s1, child;
    OK(zkc_exists(f->a, f->dir, NULL, &parent0, NULL));

    OK(zkc_create(f->a, P(f, "s"), "abc", 3, 0, NULL, NULL));
    bool exists = false;
    OK(zkc_exists(f->a, P(f, "s"), &exists, &s0, NULL));
    assert_true(exists);
    assert_int_equal(0, s0.version);
    assert_int_equal(0, s0.cversion);
    assert_int_equal(0, s0.aversion);
    assert_int_equal(3, s0.data_length);
    assert_int_equal(0, s0.num_children);
    assert_int_equal(0, s0.ephemeral_owner);
    assert_true(s0.czxid > 0);
    assert_int_equal(s0.czxid, s0.mzxid);
    assert_int_equal(s0.czxid, s0.pzxid);
    assert_int_equal(s0.ctime, s0.mtime);
    assert_true(s0.ctime > 1500000000000LL); /* milliseconds since the epoch */

    OK(zkc_exists(f->a, f->dir, NULL, &parent1, NULL));
    assert_int_equal(parent0.cversion + 1, parent1.cversion);
    assert_int_equal(parent0.num_children + 1, parent1.num_children);
    assert_int_equal(s0.czxid, parent1.pzxid);
    assert_int_equal(parent0.mzxid, parent1.mzxid); /* a child is not a data change */
    assert_int_equal(parent0.version, parent1.version);

    OK(zkc_set(f->a, P(f, "s"), "hello", 5, -1, &s1));
    assert_int_equal(1, s1.version);
    assert_int_equal(5, s1.data_length);
    assert_int_equal(s0.czxid, s1.czxid);
    assert_true(s1.mzxid > s0.mzxid);
    assert_int_equal(s0.pzxid, s1.pzxid);
    assert_true(s1.mtime >= s0.mtime);
    assert_int_equal(s0.ctime, s1.ctime);

    OK(zkc_create(f->a, P(f, "s/k"), NULL, 0, 0, NULL, NULL));
    OK(zkc_exists(f->a, P(f, "s/k"), NULL, &child, NULL));
    OK(zkc_exists(f->a, P(f, "s"), NULL, &s1, NULL));
    assert_int_equal(1, s1.cversion);
    assert_int_equal(1, s1.num_children);
    assert_int_equal(child.czxid, s1.pzxid);
    assert_int_equal(0, child.data_length);

    OK(zkc_delete(f->a, P(f, "s/k"), -1));
    OK(zkc_exists(f->a, P(f, "s"), NULL, &s1, NULL));
    assert_int_equal(2, s1.cversion);
    assert_int_equal(0, s1.num_children);
    assert_true(s1.pzxid > child.czxid);

    OK(zkc_delete(f->a, P(f, "s"), -1));
    OK(zkc_exists(f->a, f->dir, NULL, &parent2, NULL));
    assert_int_equal(parent1.cversion + 1, parent2.cversion);
    assert_int_equal(parent0.num_children, parent2.num_children);
}

/* ---- sequential names ---- */

static void test_sequential(void **state)
{
    fixture *f = *state;
    char *p = NULL;
    char want[512];
    for (int i = 0; i < 3; i++) {
        OK(zkc_create(f->a, P(f, "lock-"), NULL, 0, ZKC_SEQUENCE, NULL, &p));
        snprintf(want, sizeof want, "%s/lock-%010d", f->dir, i);
        assert_string_equal(want, p);
        zkc_free(p);
    }
    /* The number counts every create under the parent, plain ones too,
     * but not deletes (measured on a 3.8.0 server), so numbers are never
     * reused. */
    snprintf(want, sizeof want, "%s/lock-%010d", f->dir, 1);
    OK(zkc_delete(f->a, want, -1));
    OK(zkc_create(f->a, P(f, "plain"), NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->b, P(f, "x-"), NULL, 0, ZKC_SEQUENCE | ZKC_EPHEMERAL, NULL, &p));
    snprintf(want, sizeof want, "%s/x-%010d", f->dir, 4);
    assert_string_equal(want, p);
    zkc_free(p);

    /* A trailing '/' asks for a bare number as the name. */
    OK(zkc_create(f->a, P(f, "plain/"), NULL, 0, ZKC_SEQUENCE, NULL, &p));
    snprintf(want, sizeof want, "%s/plain/%010d", f->dir, 0);
    assert_string_equal(want, p);
    zkc_free(p);
}

/* ---- ephemerals and sessions ---- */

static void test_ephemeral(void **state)
{
    fixture *f = *state;
    zkc_conn *c = open_conn();
    OK(zkc_create(c, P(f, "e"), "x", 1, ZKC_EPHEMERAL, NULL, NULL));
    zkc_stat st;
    OK(zkc_exists(f->b, P(f, "e"), NULL, &st, NULL));
    assert_true(st.ephemeral_owner != 0);
    if (!B->many_sessions) {
        assert_true(zkc_conn_session_id(c) != 0);
        assert_int_equal(zkc_conn_session_id(c), st.ephemeral_owner);
        assert_true(zkc_conn_session_id(c) != zkc_conn_session_id(f->b));
    }

    assert_int_equal(ZKC_ENOCHILDRENFOREPHEMERALS,
                     zkc_create(c, P(f, "e/kid"), NULL, 0, 0, NULL, NULL));

    /* Closing the session removes its ephemerals; others see it. */
    zkc_watch *w = NULL;
    bool exists = false;
    OK(zkc_exists(f->b, P(f, "e"), &exists, NULL, &w));
    assert_true(exists);
    zkc_conn_close(c);
    OK(zkc_watch_wait(w, 10000, NULL));
    assert_int_equal(ZKC_EVENT_DELETED, zkc_watch_event(w)->type);
    assert_string_equal(P(f, "e"), zkc_watch_event(w)->path);
    zkc_watch_free(w);
    OK(zkc_exists(f->b, P(f, "e"), &exists, NULL, NULL));
    assert_false(exists);
}

static void test_expiry(void **state)
{
    fixture *f = *state;
    if (B->expire == NULL)
        return; /* not this backend's behaviour (cmocka's skip reads as a failure in TAP) */
    zkc_conn *c = open_conn();
    OK(zkc_create(c, P(f, "e"), NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    OK(zkc_create(c, P(f, "d"), NULL, 0, 0, NULL, NULL));
    zkc_watch *mine = NULL, *theirs = NULL;
    OK(zkc_get(c, P(f, "d"), NULL, NULL, NULL, &mine));
    OK(zkc_exists(f->b, P(f, "e"), NULL, NULL, &theirs));

    OK(B->expire(B->ud, c));
    OK(zkc_watch_wait(mine, 30000, NULL));
    assert_int_equal(ZKC_EVENT_SESSION_EXPIRED, zkc_watch_event(mine)->type);
    OK(zkc_watch_wait(theirs, 30000, NULL));
    assert_int_equal(ZKC_EVENT_DELETED, zkc_watch_event(theirs)->type);
    for (int i = 0; i < 300 && zkc_conn_state(c) != ZKC_STATE_EXPIRED; i++)
        zkc_sleep(10, NULL);
    assert_int_equal(ZKC_STATE_EXPIRED, zkc_conn_state(c));
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_get(c, P(f, "d"), NULL, NULL, NULL, NULL));
    /* The persistent node stays. */
    bool exists = false;
    OK(zkc_exists(f->b, P(f, "d"), &exists, NULL, NULL));
    assert_true(exists);
    zkc_watch_free(mine);
    zkc_watch_free(theirs);
    zkc_conn_close(c);
}

/* ---- errors ---- */

static void test_errors(void **state)
{
    fixture *f = *state;
    assert_int_equal(ZKC_ENONODE, zkc_get(f->a, P(f, "missing"), NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENONODE, zkc_children(f->a, P(f, "missing"), NULL, NULL, NULL));
    assert_int_equal(ZKC_ENONODE, zkc_set(f->a, P(f, "missing"), "x", 1, -1, NULL));
    assert_int_equal(ZKC_ENONODE, zkc_delete(f->a, P(f, "missing"), -1));
    assert_int_equal(ZKC_ENONODE, zkc_get_acl(f->a, P(f, "missing"), NULL, NULL));
    assert_int_equal(ZKC_ENONODE,
                     zkc_set_acl(f->a, P(f, "missing"), zkc_acl_world(ZKC_PERM_ALL), -1));
    assert_int_equal(ZKC_ENONODE, zkc_create(f->a, P(f, "no/parent"), NULL, 0, 0, NULL, NULL));
    assert_true(strstr(zkc_errmsg(), "no/parent") != NULL);

    OK(zkc_create(f->a, P(f, "n"), NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_ENODEEXISTS, zkc_create(f->b, P(f, "n"), NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_EBADVERSION, zkc_set(f->a, P(f, "n"), "x", 1, 5, NULL));
    assert_int_equal(ZKC_EBADVERSION, zkc_delete(f->a, P(f, "n"), 7));
    assert_int_equal(ZKC_EBADVERSION,
                     zkc_set_acl(f->a, P(f, "n"), zkc_acl_world(ZKC_PERM_ALL), 3));
    OK(zkc_create(f->a, P(f, "n/k"), NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_ENOTEMPTY, zkc_delete(f->a, P(f, "n"), -1));

    zkc_acl_list empty = {0, NULL};
    assert_int_equal(ZKC_EINVALIDACL, zkc_create(f->a, P(f, "m"), NULL, 0, 0, &empty, NULL));

    /* Bad paths never reach the server, on any implementation. */
    const char *bad[] = {"", "a", "/a/", "//", "/a//b", "/a/./b", "/a/..", "/a\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(ZKC_EBADPATH, zkc_get(f->a, bad[i], NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_get(f->a, NULL, NULL, NULL, NULL, NULL));
    /* "/" cannot be deleted or created. */
    assert_int_not_equal(ZKC_OK, zkc_delete(f->a, "/", -1));
    assert_int_not_equal(ZKC_OK, zkc_create(f->a, "/", NULL, 0, 0, NULL, NULL));
}

static void test_error_names(void **state)
{
    (void)state;
    /* Every code has a message and a name; ZooKeeper's keep their values. */
    int codes[] = {
#define XX(name, value, msg) value,
        ZKC_ERRNO_MAP(XX)
#undef XX
    };
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        assert_non_null(zkc_err_name(codes[i]));
        assert_string_not_equal("unknown error", zkc_strerror(codes[i]));
    }
    assert_int_equal(-101, ZKC_ENONODE);
    assert_int_equal(-110, ZKC_ENODEEXISTS);
    assert_int_equal(-4, ZKC_ECONNECTIONLOSS);
    assert_string_equal("unknown error", zkc_strerror(12345));
    assert_string_equal("EUNKNOWN", zkc_err_name(12345));
}

/* ---- ACLs ---- */

static void test_acl(void **state)
{
    fixture *f = *state;
    OK(zkc_create(f->a, P(f, "file"), "d", 1, 0, zkc_acl_world(ZKC_PERM_FILE), NULL));
    zkc_acl_list *acl = NULL;
    zkc_stat st;
    OK(zkc_get_acl(f->b, P(f, "file"), &acl, &st));
    assert_int_equal(1, acl->count);
    assert_int_equal(ZKC_PERM_FILE, acl->v[0].perms);
    assert_string_equal("world", acl->v[0].scheme);
    assert_string_equal("anyone", acl->v[0].id);
    assert_false(zkc_is_directory(acl));
    assert_int_equal(0, st.aversion);
    zkc_acl_list_free(acl);

    /* PERM_FILE has no CREATE: a file takes no children. */
    assert_int_equal(ZKC_ENOAUTH, zkc_create(f->b, P(f, "file/kid"), NULL, 0, 0, NULL, NULL));

    /* set_acl checks and bumps the aversion. */
    OK(zkc_set_acl(f->a, P(f, "file"), zkc_acl_world(ZKC_PERM_ALL), 0));
    assert_int_equal(ZKC_EBADVERSION,
                     zkc_set_acl(f->a, P(f, "file"), zkc_acl_world(ZKC_PERM_ALL), 0));
    OK(zkc_get_acl(f->a, P(f, "file"), &acl, &st));
    assert_int_equal(1, st.aversion);
    assert_int_equal(0, st.version);
    assert_true(zkc_is_directory(acl));
    zkc_acl_list_free(acl);
    OK(zkc_create(f->b, P(f, "file/kid"), NULL, 0, 0, NULL, NULL));

    /* Without READ, data is refused, but exists is not. */
    OK(zkc_create(f->a, P(f, "secret"), "s", 1, 0,
                  zkc_acl_world(ZKC_PERM_WRITE | ZKC_PERM_ADMIN | ZKC_PERM_DELETE), NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_get(f->b, P(f, "secret"), NULL, NULL, NULL, NULL));
    bool exists = false;
    OK(zkc_exists(f->b, P(f, "secret"), &exists, NULL, NULL));
    assert_true(exists);
    /* Without WRITE, set is refused; without DELETE on the parent, delete. */
    OK(zkc_create(f->a, P(f, "ro"), "r", 1, 0, zkc_acl_world(ZKC_PERM_READ), NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_set(f->b, P(f, "ro"), "w", 1, -1, NULL));
    assert_int_equal(ZKC_ENOAUTH,
                     zkc_set_acl(f->b, P(f, "ro"), zkc_acl_world(ZKC_PERM_ALL), -1));
    OK(zkc_create(f->a, P(f, "nodel"), NULL, 0, 0,
                  zkc_acl_world(ZKC_PERM_ALL & ~ZKC_PERM_DELETE), NULL));
    OK(zkc_create(f->a, P(f, "nodel/k"), NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_delete(f->b, P(f, "nodel/k"), -1));
    OK(zkc_set_acl(f->a, P(f, "nodel"), zkc_acl_world(ZKC_PERM_ALL), -1));
}

/* ---- watches ---- */

typedef struct order_log {
    pthread_mutex_t lock;
    char text[1024];
} order_log;

static void log_line(order_log *o, const char *s)
{
    pthread_mutex_lock(&o->lock);
    strncat(o->text, s, sizeof o->text - strlen(o->text) - 1);
    strncat(o->text, ";", sizeof o->text - strlen(o->text) - 1);
    pthread_mutex_unlock(&o->lock);
}

typedef struct tagged {
    order_log *log;
    const char *tag;
} tagged;

static void on_watch_tagged(zkc_watch *w, const zkc_event *ev, void *ud)
{
    tagged *t = ud;
    char buf[600];
    snprintf(buf, sizeof buf, "%s:%d", t->tag, (int)ev->type);
    log_line(t->log, buf);
    (void)w;
}

static void on_done_tagged(const zkc_result *res, void *ud)
{
    tagged *t = ud;
    char buf[600];
    snprintf(buf, sizeof buf, "%s:done%d", t->tag, res->rc);
    log_line(t->log, buf);
    zkc_watch_free(res->watch);
}

static void wait_for_text(order_log *o, const char *want)
{
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&o->lock);
        int found = strstr(o->text, want) != NULL;
        pthread_mutex_unlock(&o->lock);
        if (found)
            return;
        zkc_sleep(10, NULL);
    }
    fail_msg("never saw \"%s\" in \"%s\"", want, o->text);
}

static void test_watch_events(void **state)
{
    fixture *f = *state;
    /* exists on a missing node fires on creation. */
    zkc_watch *w = NULL;
    bool exists = true;
    OK(zkc_exists(f->a, P(f, "w"), &exists, NULL, &w));
    assert_false(exists);
    assert_non_null(w);
    assert_false(zkc_watch_fired(w));
    assert_int_equal(ZKC_ETIMEDOUT, zkc_watch_wait(w, 20, NULL));
    OK(zkc_create(f->b, P(f, "w"), NULL, 0, 0, NULL, NULL));
    OK(zkc_watch_wait(w, 10000, NULL));
    assert_int_equal(ZKC_EVENT_CREATED, zkc_watch_event(w)->type);
    zkc_watch_free(w);

    /* get fires on change, and only once. */
    OK(zkc_get(f->a, P(f, "w"), NULL, NULL, NULL, &w));
    OK(zkc_set(f->b, P(f, "w"), "1", 1, -1, NULL));
    OK(zkc_watch_wait(w, 10000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(w)->type);
    OK(zkc_set(f->b, P(f, "w"), "2", 1, -1, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(w)->type);
    zkc_watch_free(w);

    /* children fires on a new child, through its file descriptor. */
    OK(zkc_children(f->a, P(f, "w"), NULL, NULL, &w));
    int fd = zkc_watch_fd(w);
    assert_true(fd >= 0);
    OK(zkc_create(f->b, P(f, "w/k"), NULL, 0, 0, NULL, NULL));
    zkc_cancel *never = zkc_cancel_new();
    OK(zkc_watch_wait(w, 10000, never));
    zkc_cancel_free(never);
    assert_int_equal(ZKC_EVENT_CHILD, zkc_watch_event(w)->type);
    zkc_watch_free(w);

    /* get and children on a missing node set no watch. */
    w = (zkc_watch *)1;
    assert_int_equal(ZKC_ENONODE, zkc_get(f->a, P(f, "nope"), NULL, NULL, NULL, &w));
    assert_int_equal(ZKC_ENONODE, zkc_children(f->a, P(f, "nope"), NULL, NULL, &w));

    /* A cancel token interrupts a wait. */
    OK(zkc_get(f->a, P(f, "w"), NULL, NULL, NULL, &w));
    zkc_cancel *cancel = zkc_cancel_new();
    zkc_cancel_trigger(cancel);
    assert_int_equal(ZKC_EINTERRUPTED, zkc_watch_wait(w, 10000, cancel));
    zkc_cancel_free(cancel);
    zkc_watch_free(w); /* freed before it fires: no leak, no crash */
    OK(zkc_set(f->b, P(f, "w"), "3", 1, -1, NULL));
}

static void test_watch_order(void **state)
{
    fixture *f = *state;
    order_log log = {PTHREAD_MUTEX_INITIALIZER, ""};
    OK(zkc_create(f->a, P(f, "o"), NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->a, P(f, "o/k"), NULL, 0, 0, NULL, NULL));

    /* Session b watches the node's data and its parent's children; a
     * delete must fire the node's watch before the parent's. */
    tagged data_tag = {&log, "data"}, kids_tag = {&log, "parent"};
    zkc_watch *wd = NULL, *wc = NULL;
    OK(zkc_get(f->b, P(f, "o/k"), NULL, NULL, NULL, &wd));
    OK(zkc_children(f->b, P(f, "o"), NULL, NULL, &wc));
    zkc_watch_set_callback(wd, on_watch_tagged, &data_tag);
    zkc_watch_set_callback(wc, on_watch_tagged, &kids_tag);
    OK(zkc_delete(f->a, P(f, "o/k"), -1));
    wait_for_text(&log, "parent:4");
    if (B->quorums) {
        /* Each watch fires with its first quorum's event: both fire, in
         * an order the quorums decide. */
        wait_for_text(&log, "data:2;");
    } else {
        char seen[sizeof log.text];
        pthread_mutex_lock(&log.lock);
        memcpy(seen, log.text, sizeof seen);
        pthread_mutex_unlock(&log.lock);
        assert_string_equal("data:2;parent:4;", seen);
    }
    zkc_watch_free(wd);
    zkc_watch_free(wc);

    /* The session that makes a change sees its own watch fire before the
     * completion of the change. */
    log.text[0] = '\0';
    tagged w_tag = {&log, "watch"}, s_tag = {&log, "set"};
    OK(zkc_get(f->a, P(f, "o"), NULL, NULL, NULL, &wd));
    zkc_watch_set_callback(wd, on_watch_tagged, &w_tag);
    OK(zkc_aset(f->a, P(f, "o"), "x", 1, -1, on_done_tagged, &s_tag));
    wait_for_text(&log, "set:done0");
    assert_string_equal("watch:3;set:done0;", log.text);
    zkc_watch_free(wd);
}

/* ---- the asynchronous contract ---- */

typedef struct counter {
    pthread_mutex_t lock;
    int n;
    int in_order;
    int closed_codes;
    int last;
} counter;

static void count_done(const zkc_result *res, void *ud)
{
    counter *c = ((void **)ud)[0];
    int idx = (int)(intptr_t)((void **)ud)[1];
    pthread_mutex_lock(&c->lock);
    if (idx != c->last + 1)
        c->in_order = 0;
    c->last = idx;
    c->n++;
    if (res->rc == ZKC_ECLOSING || res->rc == ZKC_ECLOSED)
        c->closed_codes++;
    pthread_mutex_unlock(&c->lock);
    zkc_watch_free(res->watch);
}

static void test_pipeline_order(void **state)
{
    fixture *f = *state;
    enum { N = 2000 };
    OK(zkc_create(f->a, P(f, "p"), "v", 1, 0, NULL, NULL));
    counter cnt = {PTHREAD_MUTEX_INITIALIZER, 0, 1, 0, -1};
    static void *uds[N][2];
    for (int i = 0; i < N; i++) {
        uds[i][0] = &cnt;
        uds[i][1] = (void *)(intptr_t)i;
        OK(zkc_aget(f->a, P(f, "p"), 0, count_done, uds[i]));
    }
    for (int i = 0; i < 3000; i++) {
        pthread_mutex_lock(&cnt.lock);
        int n = cnt.n;
        pthread_mutex_unlock(&cnt.lock);
        if (n == N)
            break;
        zkc_sleep(10, NULL);
    }
    assert_int_equal(N, cnt.n);
    assert_true(cnt.in_order);
}

static void test_close_completes_everything(void **state)
{
    fixture *f = *state;
    enum { N = 500 };
    zkc_conn *c = open_conn();
    OK(zkc_create(f->a, P(f, "q"), "v", 1, 0, NULL, NULL));
    counter cnt = {PTHREAD_MUTEX_INITIALIZER, 0, 1, 0, -1};
    static void *uds[N][2];
    zkc_watch *w = NULL;
    OK(zkc_get(c, P(f, "q"), NULL, NULL, NULL, &w));
    for (int i = 0; i < N; i++) {
        uds[i][0] = &cnt;
        uds[i][1] = (void *)(intptr_t)i;
        OK(zkc_aget(c, P(f, "q"), ZKC_WATCH, count_done, uds[i]));
    }
    zkc_conn_close(c);
    /* Every accepted submission completed exactly once by now. */
    assert_int_equal(N, cnt.n);
    assert_true(cnt.in_order);
    /* The outstanding watch ended with CLOSED. */
    OK(zkc_watch_wait(w, 1000, NULL));
    assert_int_equal(ZKC_EVENT_CLOSED, zkc_watch_event(w)->type);
    zkc_watch_free(w);
}

static void close_in_completion(const zkc_result *res, void *ud)
{
    /* holder is read by the test's thread: atomic, so that what the
     * close did is ordered before the test goes on (its teardown). */
    (void)res;
    _Atomic(zkc_conn *) *cp = ud;
    zkc_conn_close(atomic_load(cp));
    atomic_store(cp, NULL);
}

static void test_close_from_completion(void **state)
{
    fixture *f = *state;
    zkc_conn *c = open_conn();
    _Atomic(zkc_conn *) holder;
    atomic_init(&holder, c);
    OK(zkc_aexists(c, f->dir, 0, close_in_completion, (void *)&holder));
    for (int i = 0; i < 1000 && atomic_load(&holder) != NULL; i++)
        zkc_sleep(10, NULL);
    assert_null(atomic_load(&holder));
}

/* ---- RetryChange ---- */

static int append_x(const char *old, size_t old_len, const zkc_stat *st, char **ret_new,
                    size_t *ret_len, void *ud)
{
    (void)st;
    (void)ud;
    char *n = malloc(old_len + 2);
    if (n == NULL)
        return ZKC_ENOMEM;
    if (old_len > 0)
        memcpy(n, old, old_len);
    n[old_len] = 'x';
    *ret_new = n;
    *ret_len = old_len + 1;
    return ZKC_OK;
}

static int same_value(const char *old, size_t old_len, const zkc_stat *st, char **ret_new,
                      size_t *ret_len, void *ud)
{
    (void)st;
    (void)ud;
    *ret_new = malloc(old_len + 1);
    memcpy(*ret_new, old, old_len);
    *ret_len = old_len;
    return ZKC_OK;
}

typedef struct meddler {
    zkc_conn *other;
    const char *path;
} meddler;

static int meddle(const char *old, size_t old_len, const zkc_stat *st, char **ret_new,
                  size_t *ret_len, void *ud)
{
    meddler *m = ud;
    /* Someone else writes between our read and our write, every time. */
    zkc_set(m->other, m->path, "m", 1, -1, NULL);
    return append_x(old, old_len, st, ret_new, ret_len, NULL);
}

static int refuse(const char *old, size_t old_len, const zkc_stat *st, char **ret_new,
                  size_t *ret_len, void *ud)
{
    (void)old, (void)old_len, (void)st, (void)ret_new, (void)ret_len, (void)ud;
    return ZKC_EBADDATA;
}

static void test_retry_change(void **state)
{
    fixture *f = *state;
    OK(zkc_retry_change(f->a, P(f, "r"), 0, NULL, append_x, NULL, 0, NULL));
    OK(zkc_retry_change(f->a, P(f, "r"), 0, NULL, append_x, NULL, 0, NULL));
    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    OK(zkc_get(f->a, P(f, "r"), &data, &len, &st, NULL));
    assert_int_equal(2, len);
    assert_memory_equal("xx", data, 2);
    zkc_free(data);
    assert_int_equal(1, st.version);

    /* An unchanged value is not written. */
    OK(zkc_retry_change(f->a, P(f, "r"), 0, NULL, same_value, NULL, 0, NULL));
    OK(zkc_exists(f->a, P(f, "r"), NULL, &st, NULL));
    assert_int_equal(1, st.version);

    /* Endless conflicts give up with ECONFLICT after the bound. */
    meddler m = {f->b, P(f, "r")};
    assert_int_equal(ZKC_ECONFLICT,
                     zkc_retry_change(f->a, m.path, 0, NULL, meddle, &m, 3, NULL));
    OK(zkc_exists(f->a, P(f, "r"), NULL, &st, NULL));
    assert_int_equal(1 + 4, st.version); /* only the meddler's 4 writes landed */

    /* The change function's error ends it. */
    assert_int_equal(ZKC_EBADDATA,
                     zkc_retry_change(f->a, P(f, "r"), 0, NULL, refuse, NULL, 0, NULL));
    /* A triggered token interrupts it. */
    zkc_cancel *cancel = zkc_cancel_new();
    zkc_cancel_trigger(cancel);
    assert_int_equal(ZKC_EINTERRUPTED,
                     zkc_retry_change(f->a, P(f, "r"), 0, NULL, append_x, NULL, 0, cancel));
    zkc_cancel_free(cancel);
}

/* The node at path holds want, at version (-1: any). */
static void expect_data(zkc_conn *c, const char *path, const char *want, int version)
{
    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    OK(zkc_get(c, path, &data, &len, &st, NULL));
    assert_int_equal(strlen(want), len);
    assert_memory_equal(want, data, len);
    zkc_free(data);
    if (version >= 0)
        assert_int_equal(version, st.version);
}

/* append_x, and the write that follows loses its reply. */
typedef struct lossy {
    zkc_conn *c;
    int calls;
} lossy;

static int append_x_lose(const char *old, size_t old_len, const zkc_stat *st, char **ret_new,
                         size_t *ret_len, void *ud)
{
    lossy *l = ud;
    l->calls++;
    int rc = append_x(old, old_len, st, ret_new, ret_len, NULL);
    if (rc == ZKC_OK)
        rc = B->lose_reply(B->ud, l->c);
    return rc;
}

/* A write of RetryChange whose reply is lost after it was applied: the
 * change is applied once and the caller hears the outcome is unknown
 * (ZKC_ECONNECTIONLOSS), on the create of a missing node and on the
 * versioned set.  Never a conflict that reads again and applies twice. */
static void test_retry_change_lost_reply(void **state)
{
    fixture *f = *state;
    if (B->lose_reply == NULL)
        return; /* no faults to inject (cmocka's skip reads as a failure in TAP) */
    lossy l = {f->a, 0};
    assert_int_equal(ZKC_ECONNECTIONLOSS,
                     zkc_retry_change(f->a, P(f, "r"), 0, NULL, append_x_lose, &l, 0, NULL));
    assert_int_equal(1, l.calls);
    expect_data(f->b, P(f, "r"), "x", 0);

    l.calls = 0;
    assert_int_equal(ZKC_ECONNECTIONLOSS,
                     zkc_retry_change(f->a, P(f, "r"), 0, NULL, append_x_lose, &l, 0, NULL));
    assert_int_equal(1, l.calls);
    expect_data(f->b, P(f, "r"), "xx", 1);

    /* The session is still good for the next change. */
    OK(zkc_retry_change(f->a, P(f, "r"), 0, NULL, append_x, NULL, 0, NULL));
    expect_data(f->b, P(f, "r"), "xxx", 2);
}

/* ---- multi: measured on a 3.8 server ---- */

static size_t len_or_0(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

#define REQ_CREATE(p, d, fl)                                                                   \
    {                                                                                          \
        .op = ZKC_OP_CREATE, .path = (p), .data = (d), .data_len = len_or_0(d), .flags = (fl), \
        .version = -1                                                                          \
    }
#define REQ_DELETE(p, v)                                                                       \
    {                                                                                          \
        .op = ZKC_OP_DELETE, .path = (p), .version = (v)                                       \
    }
#define REQ_SET(p, d, v)                                                                       \
    {                                                                                          \
        .op = ZKC_OP_SET, .path = (p), .data = (d), .data_len = strlen(d), .version = (v)      \
    }
#define REQ_CHECK(p, v)                                                                        \
    {                                                                                          \
        .op = ZKC_OP_CHECK, .path = (p), .version = (v)                                        \
    }

static void test_multi_success(void **state)
{
    fixture *f = *state;
    zkc_stat dir0, dir1, a, k;
    OK(zkc_exists(f->a, f->dir, NULL, &dir0, NULL));
    zkc_request ops[] = {
        REQ_CREATE(P(f, "a"), "x", 0),
        REQ_CREATE(P(f, "a/s-"), NULL, ZKC_SEQUENCE),
        REQ_CREATE(P(f, "a/s-"), NULL, ZKC_SEQUENCE | ZKC_EPHEMERAL),
        REQ_SET(P(f, "a"), "yy", 0),
        REQ_CHECK(P(f, "a"), 1),
        REQ_CREATE(P(f, "a/k"), NULL, 0),
        REQ_DELETE(P(f, "a/k"), 0),
    };
    size_t n = sizeof ops / sizeof *ops;
    zkc_multi_results *r = NULL;
    OK(zkc_multi(f->a, ops, n, &r));
    assert_non_null(r);
    assert_int_equal(n, r->count);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ZKC_OK, r->v[i].rc);
        assert_int_equal(ops[i].op, r->v[i].op);
        assert_int_equal(ops[i].op == ZKC_OP_CREATE, r->v[i].created_path != NULL);
        assert_int_equal(ops[i].op == ZKC_OP_SET, r->v[i].stat != NULL);
    }
    /* Sequential names count the creates before them in the multi. */
    assert_string_equal(P(f, "a"), r->v[0].created_path);
    assert_string_equal(P(f, "a/s-0000000000"), r->v[1].created_path);
    assert_string_equal(P(f, "a/s-0000000001"), r->v[2].created_path);
    assert_string_equal(P(f, "a/k"), r->v[5].created_path);

    /* One zxid for everything; the set's stat is the node's just after
     * the set (its two children, not yet "k"). */
    OK(zkc_exists(f->b, P(f, "a"), NULL, &a, NULL));
    const zkc_stat *ss = r->v[3].stat;
    assert_int_equal(1, ss->version);
    assert_int_equal(2, ss->data_length);
    assert_int_equal(2, ss->num_children);
    assert_int_equal(a.czxid, ss->czxid);
    assert_int_equal(a.czxid, ss->mzxid);
    assert_int_equal(a.czxid, a.mzxid);
    assert_int_equal(a.czxid, a.pzxid);
    assert_int_equal(1, a.version);
    assert_int_equal(2, a.num_children);
    assert_int_equal(4, a.cversion); /* three creates and a delete */
    OK(zkc_exists(f->b, P(f, "a/s-0000000001"), NULL, &k, NULL));
    assert_int_equal(a.czxid, k.czxid);
    if (!B->many_sessions)
        assert_int_equal(zkc_conn_session_id(f->a), k.ephemeral_owner);
    else
        assert_true(k.ephemeral_owner != 0);
    OK(zkc_exists(f->b, f->dir, NULL, &dir1, NULL));
    assert_int_equal(dir0.cversion + 1, dir1.cversion);
    assert_int_equal(a.czxid, dir1.pzxid);
    zkc_free(r);

    /* An empty multi succeeds with no results. */
    OK(zkc_multi(f->a, NULL, 0, &r));
    assert_non_null(r);
    assert_int_equal(0, r->count);
    zkc_free(r);

    /* Deepest first in one multi: children, then their parent. */
    zkc_request del[] = {
        REQ_DELETE(P(f, "a/s-0000000000"), -1),
        REQ_DELETE(P(f, "a/s-0000000001"), -1),
        REQ_DELETE(P(f, "a"), 1),
    };
    OK(zkc_multi(f->a, del, 3, NULL));
    bool exists = true;
    OK(zkc_exists(f->b, P(f, "a"), &exists, NULL, NULL));
    assert_false(exists);
}

/* Every failure leaves the tree as it was, with the server's codes: OK
 * before the failing operation, its code, RUNTIMEINCONSISTENCY after. */
static void check_failure(fixture *f, const zkc_request *ops, size_t n, size_t bad, int code)
{
    zkc_stat before, after;
    OK(zkc_exists(f->a, f->dir, NULL, &before, NULL));
    zkc_multi_results *r = (zkc_multi_results *)1;
    assert_int_equal(code, zkc_multi(f->a, ops, n, &r));
    assert_non_null(strstr(zkc_errmsg(), ops[bad].path));
    assert_non_null(r);
    assert_int_equal(n, r->count);
    for (size_t i = 0; i < n; i++) {
        int want = i < bad ? ZKC_OK : i == bad ? code : ZKC_ERUNTIMEINCONSISTENCY;
        assert_int_equal(want, r->v[i].rc);
        assert_int_equal(ops[i].op, r->v[i].op);
        assert_null(r->v[i].created_path);
        assert_null(r->v[i].stat);
    }
    zkc_free(r);
    OK(zkc_exists(f->a, f->dir, NULL, &after, NULL));
    assert_int_equal(before.cversion, after.cversion);
    assert_int_equal(before.num_children, after.num_children);
    assert_int_equal(before.pzxid, after.pzxid);
}

static void test_multi_failure(void **state)
{
    fixture *f = *state;
    OK(zkc_create(f->a, P(f, "a"), "v0", 2, 0, NULL, NULL));
    OK(zkc_create(f->a, P(f, "a/kid"), NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->a, P(f, "e"), NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    zkc_stat a0, a1;
    OK(zkc_exists(f->a, P(f, "a"), NULL, &a0, NULL));

    zkc_request nonode[] = {REQ_CREATE(P(f, "b"), NULL, 0), REQ_DELETE(P(f, "missing"), -1),
                            REQ_SET(P(f, "a"), "zz", -1), REQ_CHECK(P(f, "nope"), -1)};
    check_failure(f, nonode, 4, 1, ZKC_ENONODE);
    zkc_request badversion[] = {REQ_CHECK(P(f, "a"), 5), REQ_CREATE(P(f, "b"), NULL, 0)};
    check_failure(f, badversion, 2, 0, ZKC_EBADVERSION);
    zkc_request notempty[] = {REQ_SET(P(f, "a"), "v1", 0), REQ_CREATE(P(f, "c"), NULL, 0),
                              REQ_DELETE(P(f, "a"), -1)};
    check_failure(f, notempty, 3, 2, ZKC_ENOTEMPTY);
    zkc_request ephemeral[] = {REQ_CREATE(P(f, "e/x"), NULL, 0)};
    check_failure(f, ephemeral, 1, 0, ZKC_ENOCHILDRENFOREPHEMERALS);
    zkc_request exists[] = {REQ_CREATE(P(f, "a/s-"), NULL, ZKC_SEQUENCE),
                            REQ_CREATE(P(f, "a/kid"), NULL, 0)};
    check_failure(f, exists, 2, 1, ZKC_ENODEEXISTS);
    zkc_acl bad = {ZKC_PERM_ALL, "world", "nobody"};
    zkc_acl_list badl = {1, &bad};
    zkc_request invalid[] = {
        {.op = ZKC_OP_CREATE, .path = P(f, "z"), .acl = &badl, .version = -1}};
    check_failure(f, invalid, 1, 0, ZKC_EINVALIDACL);
    zkc_request special[] = {REQ_DELETE("/zookeeper", -1)};
    if (!B->routed) /* a router has no /zookeeper of its own */
        check_failure(f, special, 1, 0, ZKC_EBADARGUMENTS);
    zkc_acl wo = {ZKC_PERM_WRITE, "world", "anyone"};
    zkc_acl_list wol = {1, &wo};
    OK(zkc_create(f->a, P(f, "noread"), NULL, 0, 0, &wol, NULL));
    zkc_request noread[] = {REQ_CHECK(P(f, "noread"), -1)}; /* check needs READ */
    check_failure(f, noread, 1, 0, ZKC_ENOAUTH);

    /* Nothing of the failed multis happened. */
    OK(zkc_exists(f->a, P(f, "a"), NULL, &a1, NULL));
    assert_int_equal(a0.version, a1.version);
    assert_int_equal(a0.cversion, a1.cversion);
    assert_int_equal(a0.mzxid, a1.mzxid);
    bool there = true;
    OK(zkc_exists(f->a, P(f, "b"), &there, NULL, NULL));
    assert_false(there);
    OK(zkc_exists(f->a, P(f, "c"), &there, NULL, NULL));
    assert_false(there);
    /* ... not even the sequence number of the failed sequential create. */
    char *p = NULL;
    OK(zkc_create(f->a, P(f, "a/s-"), NULL, 0, ZKC_SEQUENCE, NULL, &p));
    assert_string_equal(P(f, "a/s-0000000001"), p);
    zkc_free(p);
}

/* Watches fire only for a multi that committed, each once. */
static void test_multi_watches(void **state)
{
    fixture *f = *state;
    OK(zkc_create(f->a, P(f, "w"), NULL, 0, 0, NULL, NULL));
    zkc_watch *wd = NULL, *wc = NULL, *wn = NULL;
    OK(zkc_get(f->b, P(f, "w"), NULL, NULL, NULL, &wd));
    OK(zkc_children(f->b, P(f, "w"), NULL, NULL, &wc));
    bool exists = true;
    OK(zkc_exists(f->b, P(f, "w/n"), &exists, NULL, &wn));

    zkc_request failing[] = {REQ_SET(P(f, "w"), "1", -1), REQ_CREATE(P(f, "w/n"), NULL, 0),
                             REQ_CHECK(P(f, "w"), 42)};
    assert_int_equal(ZKC_EBADVERSION, zkc_multi(f->a, failing, 3, NULL));
    /* A later single write on this session comes after any event the
     * failed multi would have caused. */
    OK(zkc_create(f->a, P(f, "other"), NULL, 0, 0, NULL, NULL));
    OK(zkc_exists(f->b, P(f, "other"), NULL, NULL, NULL));
    assert_false(zkc_watch_fired(wd));
    assert_false(zkc_watch_fired(wc));
    assert_false(zkc_watch_fired(wn));

    zkc_request ok[] = {REQ_SET(P(f, "w"), "1", -1), REQ_CREATE(P(f, "w/n"), NULL, 0),
                        REQ_CHECK(P(f, "w"), 1)};
    OK(zkc_multi(f->a, ok, 3, NULL));
    OK(zkc_watch_wait(wd, 10000, NULL));
    OK(zkc_watch_wait(wc, 10000, NULL));
    OK(zkc_watch_wait(wn, 10000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(wd)->type);
    assert_int_equal(ZKC_EVENT_CHILD, zkc_watch_event(wc)->type);
    assert_int_equal(ZKC_EVENT_CREATED, zkc_watch_event(wn)->type);
    zkc_watch_free(wd);
    zkc_watch_free(wc);
    zkc_watch_free(wn);
}

typedef struct multi_wait {
    pthread_mutex_t lock;
    int n;
    int rc[8];
    size_t nops[8];
    zkc_op op[8];
    char created[8][512];
} multi_wait;

/* How many completions came (the lock orders what they wrote before what
 * the test then reads). */
static int multi_count(multi_wait *m)
{
    pthread_mutex_lock(&m->lock);
    int n = m->n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

static void multi_done(const zkc_result *res, void *ud)
{
    multi_wait *m = ud;
    pthread_mutex_lock(&m->lock);
    int i = m->n;
    if (i < 8) {
        m->rc[i] = res->rc;
        m->nops[i] = res->ops != NULL ? res->nops : (size_t)-1;
        if (res->ops != NULL && res->nops > 0 && res->ops[0].created_path != NULL)
            snprintf(m->created[i], sizeof m->created[i], "%s", res->ops[0].created_path);
        m->op[i] = res->op; /* checked by the test: no assertion on this thread */
    }
    m->n++;
    pthread_mutex_unlock(&m->lock);
}

/* Several multis and single operations in flight complete in order. */
static void test_multi_pipeline(void **state)
{
    fixture *f = *state;
    multi_wait m = {.lock = PTHREAD_MUTEX_INITIALIZER};
    zkc_request one[] = {REQ_CREATE(P(f, "q-"), NULL, ZKC_SEQUENCE)};
    zkc_request bad[] = {REQ_DELETE(P(f, "missing"), -1)};
    for (int i = 0; i < 4; i++)
        OK(zkc_amulti(f->a, i == 2 ? bad : one, 1, multi_done, &m));
    for (int i = 0; i < 1000 && multi_count(&m) < 4; i++)
        zkc_sleep(10, NULL);
    assert_int_equal(4, multi_count(&m));
    for (int i = 0; i < 4; i++)
        assert_int_equal(ZKC_OP_MULTI, m.op[i]);
    assert_int_equal(ZKC_OK, m.rc[0]);
    assert_int_equal(ZKC_OK, m.rc[1]);
    assert_int_equal(ZKC_ENONODE, m.rc[2]);
    assert_int_equal(ZKC_OK, m.rc[3]);
    assert_int_equal(1, m.nops[2]);
    assert_string_equal(P(f, "q-0000000000"), m.created[0]);
    assert_string_equal(P(f, "q-0000000001"), m.created[1]);
    assert_string_equal(P(f, "q-0000000002"), m.created[3]);
}

/* ---- many threads on one connection ---- */

/*
 * Worker threads share one connection: each submits sets, watched gets
 * and multis (whose operations are on the heap and freed by their
 * completion, as zkc_amulti allows), and frees watches that other
 * completions handed over, racing the events the other workers' sets
 * fire.  Then the connection is closed with operations in flight.  Every
 * accepted operation completes exactly once, before the close returns.
 * Meant for ThreadSanitizer (make tsan) as much as for the counts.
 */
enum { SHARE_THREADS = 4, SHARE_ROUNDS = 60 };

typedef struct share {
    zkc_conn *c;
    fixture *f;
    pthread_mutex_t lock;
    zkc_watch *handed[SHARE_THREADS * SHARE_ROUNDS]; /* watches to free */
    size_t nhanded;
    int bad_rc;            /* first unexpected completion code, or 0 */
    atomic_int accepted;   /* submissions that returned ZKC_OK */
    atomic_int completed;  /* completions */
    atomic_int fired;      /* watch callbacks */
} share;

typedef struct share_worker {
    share *sh;
    int id;
} share_worker;

static void share_note(share *sh, int rc)
{
    if (rc == ZKC_OK || rc == ZKC_ECLOSING)
        return;
    if ((rc == ZKC_EINCONSISTENT || rc == ZKC_ECONFLICT) && B->quorums)
        return; /* a read of a node being written, sets racing (global.h) */
    pthread_mutex_lock(&sh->lock);
    if (sh->bad_rc == 0)
        sh->bad_rc = rc;
    pthread_mutex_unlock(&sh->lock);
}

static void share_fired(zkc_watch *w, const zkc_event *ev, void *ud)
{
    (void)w;
    (void)ev;
    atomic_fetch_add(&((share *)ud)->fired, 1);
}

static void share_done(const zkc_result *res, void *ud)
{
    share *sh = ud;
    share_note(sh, res->rc);
    if (res->watch != NULL) {
        zkc_watch_set_callback(res->watch, share_fired, sh);
        pthread_mutex_lock(&sh->lock);
        sh->handed[sh->nhanded++] = res->watch;
        pthread_mutex_unlock(&sh->lock);
    }
    atomic_fetch_add(&sh->completed, 1);
}

typedef struct share_multi {
    share *sh;
    zkc_request *ops;
    char *path;
} share_multi;

static void share_multi_done(const zkc_result *res, void *ud)
{
    share_multi *m = ud;
    share *sh = m->sh;
    share_note(sh, res->rc);
    free(m->ops);
    free(m->path);
    free(m);
    atomic_fetch_add(&sh->completed, 1);
}

static void share_count(share *sh, int rc)
{
    if (rc == ZKC_OK)
        atomic_fetch_add(&sh->accepted, 1);
    else
        share_note(sh, rc);
}

static void *share_main(void *arg)
{
    share_worker *wk = arg;
    share *sh = wk->sh;
    char mine[512], other[512];
    snprintf(mine, sizeof mine, "%s/n%d", sh->f->dir, wk->id);
    snprintf(other, sizeof other, "%s/n%d", sh->f->dir, (wk->id + 1) % SHARE_THREADS);
    char multi_node[512];
    snprintf(multi_node, sizeof multi_node, "%s/m%d", sh->f->dir, wk->id);
    for (int i = 0; i < SHARE_ROUNDS; i++) {
        share_count(sh, zkc_aset(sh->c, mine, "x", 1, -1, share_done, sh));
        share_count(sh, zkc_aget(sh->c, other, ZKC_WATCH, share_done, sh));
        share_multi *m = calloc(1, sizeof *m);
        zkc_request *ops = calloc(2, sizeof *ops);
        /* Its own node: a multi's unversioned set racing the single
         * sets on one node may land in different orders on the quorums
         * of a global namespace, which global.h documents. */
        char *path = strdup(multi_node);
        if (m == NULL || ops == NULL || path == NULL) {
            free(m);
            free(ops);
            free(path);
            share_note(sh, ZKC_ENOMEM);
            break;
        }
        *m = (share_multi){sh, ops, path};
        ops[0] = (zkc_request){.op = ZKC_OP_CHECK, .path = path, .version = -1};
        ops[1] = (zkc_request){.op = ZKC_OP_SET, .path = path, .data = "y", .data_len = 1,
                               .version = -1};
        int rc = zkc_amulti(sh->c, ops, 2, share_multi_done, m);
        share_count(sh, rc);
        if (rc != ZKC_OK) {
            free(ops);
            free(path);
            free(m);
        }
        /* One watch another completion handed over, freed here while
         * the other workers' sets may be firing it. */
        pthread_mutex_lock(&sh->lock);
        zkc_watch *w = sh->nhanded > 0 ? sh->handed[--sh->nhanded] : NULL;
        pthread_mutex_unlock(&sh->lock);
        zkc_watch_free(w);
    }
    return NULL;
}

static void test_threads_share_conn(void **state)
{
    fixture *f = *state;
    share sh = {.f = f, .lock = PTHREAD_MUTEX_INITIALIZER};
    sh.c = open_conn();
    for (int i = 0; i < SHARE_THREADS; i++) {
        char p[64];
        snprintf(p, sizeof p, "n%d", i);
        OK(zkc_create(f->a, P(f, p), NULL, 0, 0, NULL, NULL));
        snprintf(p, sizeof p, "m%d", i);
        OK(zkc_create(f->a, P(f, p), NULL, 0, 0, NULL, NULL));
    }
    pthread_t th[SHARE_THREADS];
    share_worker wk[SHARE_THREADS];
    for (int i = 0; i < SHARE_THREADS; i++) {
        wk[i] = (share_worker){&sh, i};
        assert_int_equal(0, pthread_create(&th[i], NULL, share_main, &wk[i]));
    }
    for (int i = 0; i < SHARE_THREADS; i++)
        pthread_join(th[i], NULL);
    /* Closed with operations in flight (those not yet answered complete
     * with ZKC_ECLOSING), watches outstanding and some being fired. */
    zkc_conn_close(sh.c);
    int accepted = atomic_load(&sh.accepted);
    assert_int_equal(SHARE_THREADS * SHARE_ROUNDS * 3, accepted);
    assert_int_equal(accepted, atomic_load(&sh.completed));
    pthread_mutex_lock(&sh.lock);
    int bad = sh.bad_rc;
    size_t left = sh.nhanded;
    pthread_mutex_unlock(&sh.lock);
    if (bad != 0)
        fail_msg("an operation completed with %s", zkc_err_name(bad));
    /* The watches nobody freed ended (a node event, or CLOSED). */
    for (size_t i = 0; i < left; i++) {
        assert_true(zkc_watch_fired(sh.handed[i]));
        zkc_watch_free(sh.handed[i]);
    }
    assert_true(atomic_load(&sh.fired) <= SHARE_THREADS * SHARE_ROUNDS);
}

/*
 * Close racing everything at once: chains of operations, each completion
 * submitting the next on the connection's own thread (so submissions keep
 * coming while the close runs, and are refused with ZKC_ECLOSED), a
 * writer on another session firing the chains' watches, and threads that
 * give each handed watch a callback whose userdata they free right after
 * freeing the watch (a callback run after zkc_watch_free() returned reads
 * freed memory: ASan and TSan see it).  Every accepted operation
 * completes exactly once, all before the close returns; no completion
 * comes after; every watch not freed has ended.
 */
enum { RACE_CHAINS = 8, RACE_NODES = 4, RACE_WATCHERS = 3, RACE_BEFORE_CLOSE = 400 };

typedef struct race {
    zkc_conn *c;
    fixture *f;
    pthread_mutex_t lock;
    zkc_watch **handed; /* watches for the watcher threads */
    size_t nhanded, cap;
    int bad_rc;
    atomic_int accepted, completed, refused, chains_live;
    atomic_int stop; /* writer and watchers */
    atomic_int fired;
} race;

typedef struct race_chain {
    race *r;
    int id;
    unsigned step;
} race_chain;

typedef struct race_seen {
    atomic_int runs;
} race_seen;

static void race_note(race *r, int rc)
{
    if (rc == ZKC_OK || rc == ZKC_ECLOSING || rc == ZKC_ENONODE)
        return;
    if ((rc == ZKC_EINCONSISTENT || rc == ZKC_ECONFLICT) && B->quorums)
        return;
    pthread_mutex_lock(&r->lock);
    if (r->bad_rc == 0)
        r->bad_rc = rc;
    pthread_mutex_unlock(&r->lock);
}

static void race_next(race_chain *ch);

static void race_done(const zkc_result *res, void *ud)
{
    race_chain *ch = ud;
    race *r = ch->r;
    race_note(r, res->rc);
    if (res->watch != NULL) {
        pthread_mutex_lock(&r->lock);
        if (r->nhanded == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 64;
            zkc_watch **h = realloc(r->handed, cap * sizeof *h);
            if (h != NULL) {
                r->handed = h;
                r->cap = cap;
            }
        }
        if (r->nhanded < r->cap)
            r->handed[r->nhanded++] = res->watch;
        else
            zkc_watch_free(res->watch);
        pthread_mutex_unlock(&r->lock);
    }
    atomic_fetch_add(&r->completed, 1);
    race_next(ch);
}

/* Submit the chain's next operation; on refusal the chain ends. */
static void race_next(race_chain *ch)
{
    race *r = ch->r;
    char path[512];
    unsigned node = ((unsigned)ch->id + ch->step) % RACE_NODES;
    snprintf(path, sizeof path, "%s/r%u", r->f->dir, node);
    int rc;
    switch (ch->step++ % 3) {
    case 0:
        rc = zkc_aget(r->c, path, ZKC_WATCH, race_done, ch);
        break;
    case 1:
        rc = zkc_aexists(r->c, path, ZKC_WATCH, race_done, ch);
        break;
    default:
        rc = zkc_achildren(r->c, path, 0, race_done, ch);
        break;
    }
    if (rc == ZKC_OK) {
        atomic_fetch_add(&r->accepted, 1);
        return;
    }
    if (rc == ZKC_ECLOSED)
        atomic_fetch_add(&r->refused, 1);
    else
        race_note(r, rc);
    atomic_fetch_sub(&r->chains_live, 1);
}

static void *race_writer(void *arg)
{
    race *r = arg;
    for (unsigned i = 0; !atomic_load(&r->stop); i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/r%u", r->f->dir, i % RACE_NODES);
        int rc = zkc_set(r->f->b, path, "w", 1, -1, NULL);
        if (rc != ZKC_OK)
            race_note(r, rc);
    }
    return NULL;
}

static void race_watch_fired(zkc_watch *w, const zkc_event *ev, void *ud)
{
    (void)w;
    (void)ev;
    race_seen *seen = ud;
    atomic_fetch_add(&seen->runs, 1);
}

static void *race_watcher(void *arg)
{
    race *r = arg;
    while (!atomic_load(&r->stop)) {
        pthread_mutex_lock(&r->lock);
        zkc_watch *w = r->nhanded > 0 ? r->handed[--r->nhanded] : NULL;
        pthread_mutex_unlock(&r->lock);
        if (w == NULL) {
            sched_yield();
            continue;
        }
        race_seen *seen = calloc(1, sizeof *seen);
        if (seen == NULL) {
            zkc_watch_free(w);
            continue;
        }
        zkc_watch_set_callback(w, race_watch_fired, seen);
        zkc_watch_free(w);
        int runs = atomic_load(&seen->runs);
        if (runs > 1)
            race_note(r, ZKC_EINVALIDSTATE); /* a callback ran twice */
        atomic_fetch_add(&r->fired, runs);
        free(seen); /* no callback may run after zkc_watch_free returned */
    }
    return NULL;
}

static void test_close_races_chains(void **state)
{
    fixture *f = *state;
    race r = {.f = f, .lock = PTHREAD_MUTEX_INITIALIZER};
    for (int i = 0; i < RACE_NODES; i++) {
        char p[64];
        snprintf(p, sizeof p, "r%d", i);
        OK(zkc_create(f->a, P(f, p), "0", 1, 0, NULL, NULL));
    }
    r.c = open_conn();
    pthread_t writer, watchers[RACE_WATCHERS];
    assert_int_equal(0, pthread_create(&writer, NULL, race_writer, &r));
    for (int i = 0; i < RACE_WATCHERS; i++)
        assert_int_equal(0, pthread_create(&watchers[i], NULL, race_watcher, &r));
    race_chain chains[RACE_CHAINS];
    atomic_store(&r.chains_live, RACE_CHAINS);
    for (int i = 0; i < RACE_CHAINS; i++) {
        chains[i] = (race_chain){&r, i, 0};
        race_next(&chains[i]);
    }
    /* Until the chains have done some work (or all ended on an error,
     * which the checks below report). */
    while (atomic_load(&r.completed) < RACE_BEFORE_CLOSE && atomic_load(&r.chains_live) > 0)
        usleep(1000);
    zkc_conn_close(r.c);
    int completed = atomic_load(&r.completed);
    int accepted = atomic_load(&r.accepted);
    int live = atomic_load(&r.chains_live);
    atomic_store(&r.stop, 1);
    pthread_join(writer, NULL);
    for (int i = 0; i < RACE_WATCHERS; i++)
        pthread_join(watchers[i], NULL);
    pthread_mutex_lock(&r.lock);
    int bad = r.bad_rc;
    pthread_mutex_unlock(&r.lock);
    if (bad != 0)
        fail_msg("an operation completed with %s", zkc_err_name(bad));
    assert_true(completed >= RACE_BEFORE_CLOSE);
    assert_int_equal(accepted, completed);
    assert_int_equal(completed, atomic_load(&r.completed)); /* none after close */
    assert_int_equal(0, live);                              /* every chain was refused */
    assert_int_equal(RACE_CHAINS, atomic_load(&r.refused));
    /* Watches no thread took: each has ended (its event, or CLOSED). */
    for (size_t i = 0; i < r.nhanded; i++) {
        assert_true(zkc_watch_fired(r.handed[i]));
        zkc_watch_free(r.handed[i]);
    }
    free(r.handed);
}

static void test_state(void **state)
{
    fixture *f = *state;
    zkc_state s = zkc_conn_state(f->a);
    assert_true(s == ZKC_STATE_CONNECTED || s == ZKC_STATE_RECONNECTED);
    assert_true(zkc_conn_state_fd(f->a) >= 0);
    assert_non_null(zkc_conn_describe(f->a));
    assert_string_equal("expired", zkc_state_name(ZKC_STATE_EXPIRED));
}

int zkc_conformance_run(const zkc_conformance_backend *b)
{
    B = b;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_set_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_children, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequential, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test(test_error_names),
        cmocka_unit_test_setup_teardown(test_acl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_completes_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_change_lost_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_watches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_pipeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_conn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_races_chains, setup, teardown),
    };
    return cmocka_run_group_tests_name(b->name, tests, NULL, NULL);
}
