/*
 * The global namespace over n quorums (conn_global.c) on three in-memory
 * trees: writes fanned out, reads compared, partial writes and
 * disagreements reported per quorum, versions, sequential names,
 * watches, states, divergence found by zkc_global_diff() and repaired by
 * zkc_global_repair(), and quorums dialled through a dial callback over
 * the fake (zkc_global_dial_with, zkc_dial_quorums_with).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zkcell/sys/conn_impl.h>
#include <zkcell/zkcell.h>

#define OK(expr) assert_int_equal(ZKC_OK, (expr))
#define NQ 3

typedef struct fx {
    zkc_fake_tree *t[NQ];
    zkc_conn *direct[NQ]; /* our own sessions, behind the global's back */
    zkc_conn *g;
} fx;

static zkc_conn *open_global(fx *f)
{
    zkc_conn *q[NQ];
    for (int i = 0; i < NQ; i++)
        OK(zkc_fake_open(f->t[i], &q[i]));
    zkc_conn *g = NULL;
    OK(zkc_global_open(q, NQ, &g));
    return g;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    for (int i = 0; i < NQ; i++) {
        f->t[i] = zkc_fake_tree_new();
        OK(zkc_fake_open(f->t[i], &f->direct[i]));
    }
    f->g = open_global(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    zkc_conn_close(f->g);
    for (int i = 0; i < NQ; i++) {
        zkc_conn_close(f->direct[i]);
        zkc_fake_tree_free(f->t[i]);
    }
    free(f);
    return 0;
}

static void expect_msg(const char *part)
{
    if (strstr(zkc_errmsg(), part) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", zkc_errmsg(), part);
}

static char *data_on(fx *f, int i, const char *path)
{
    char *d = NULL;
    OK(zkc_get(f->direct[i], path, &d, NULL, NULL, NULL));
    return d;
}

static zkc_stat stat_on(fx *f, int i, const char *path)
{
    zkc_stat st;
    bool e = false;
    OK(zkc_exists(f->direct[i], path, &e, &st, NULL));
    assert_true(e);
    return st;
}

static bool exists_on(fx *f, int i, const char *path)
{
    bool e = false;
    OK(zkc_exists(f->direct[i], path, &e, NULL, NULL));
    return e;
}

static void test_fan_out(void **state)
{
    fx *f = *state;
    zkc_conn *g = f->g;
    char *p = NULL;
    OK(zkc_create(g, "/a", "v1", 2, 0, NULL, &p));
    assert_string_equal("/a", p);
    zkc_free(p);
    for (int i = 0; i < NQ; i++) {
        char *d = data_on(f, i, "/a");
        assert_string_equal("v1", d);
        zkc_free(d);
    }
    char *d = NULL;
    size_t len = 0;
    zkc_stat st;
    OK(zkc_get(g, "/a", &d, &len, &st, NULL));
    assert_int_equal(2, len);
    assert_string_equal("v1", d);
    assert_int_equal(0, st.version);
    zkc_free(d);
    OK(zkc_set(g, "/a", "v2", 2, 0, &st));
    assert_int_equal(1, st.version);
    for (int i = 0; i < NQ; i++)
        assert_int_equal(1, stat_on(f, i, "/a").version);
    OK(zkc_create(g, "/a/k1", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(g, "/a/k2", NULL, 0, 0, NULL, NULL));
    zkc_strings *kids = NULL;
    OK(zkc_children(g, "/a", &kids, NULL, NULL));
    assert_int_equal(2, kids->count);
    zkc_strings_free(kids);
    bool e = false;
    OK(zkc_exists(g, "/a/k1", &e, NULL, NULL));
    assert_true(e);
    OK(zkc_exists(g, "/a/none", &e, NULL, NULL));
    assert_false(e);
    OK(zkc_set_acl(g, "/a/k1", zkc_acl_world(ZKC_PERM_FILE), 0));
    zkc_acl_list *acl = NULL;
    OK(zkc_get_acl(g, "/a/k1", &acl, NULL));
    assert_int_equal(ZKC_PERM_FILE, acl->v[0].perms);
    zkc_acl_list_free(acl);
    OK(zkc_delete(g, "/a/k1", -1));
    for (int i = 0; i < NQ; i++)
        assert_false(exists_on(f, i, "/a/k1"));

    /* The same error everywhere is that error, not a disagreement. */
    assert_int_equal(ZKC_ENONODE, zkc_get(g, "/missing", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_ENONODE, zkc_delete(g, "/missing", -1));
    assert_int_equal(ZKC_ENODEEXISTS, zkc_create(g, "/a", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_EBADVERSION, zkc_set(g, "/a", "x", 1, 0, NULL));
    assert_int_equal(ZKC_ENOTEMPTY, zkc_delete(g, "/a", -1));

    assert_int_equal(NQ, zkc_global_size(g));
    assert_non_null(zkc_global_quorum(g, 2));
    assert_null(zkc_global_quorum(g, 3));
    assert_null(zkc_global_quorum(f->direct[0], 0));
    assert_int_equal(0, zkc_global_size(f->direct[0]));
    assert_non_null(strstr(zkc_conn_describe(g), "global(fake"));
    assert_int_equal(ZKC_STATE_CONNECTED, zkc_conn_state(g));
}

static void test_reads_disagree(void **state)
{
    fx *f = *state;
    zkc_conn *g = f->g;
    OK(zkc_create(g, "/r", "same", 4, 0, NULL, NULL));
    OK(zkc_set(f->direct[1], "/r", "other!", 6, -1, NULL));
    assert_int_equal(ZKC_EINCONSISTENT, zkc_get(g, "/r", NULL, NULL, NULL, NULL));
    expect_msg("quorums disagree on the data");
    expect_msg("quorum 0 fake");
    expect_msg("ok, 4 bytes, version 0");
    expect_msg("quorum 1 fake");
    expect_msg("ok, 6 bytes, version 1");

    OK(zkc_create(f->direct[2], "/r/extra", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_EINCONSISTENT, zkc_children(g, "/r", NULL, NULL, NULL));
    expect_msg("quorums disagree on the children");
    expect_msg("quorum 2 fake");
    expect_msg("ok, 1 children");
    assert_int_equal(ZKC_EINCONSISTENT, zkc_exists(g, "/r/extra", NULL, NULL, NULL));
    expect_msg("quorum 0 fake");
    expect_msg("does not exist");
    assert_int_equal(ZKC_EINCONSISTENT, zkc_get(g, "/r/extra", NULL, NULL, NULL, NULL));
    expect_msg("node does not exist");

    OK(zkc_set_acl(f->direct[0], "/r", zkc_acl_world(ZKC_PERM_READ), -1));
    assert_int_equal(ZKC_EINCONSISTENT, zkc_get_acl(g, "/r", NULL, NULL));
    expect_msg("disagree on the ACL");

    /* Same set of children in another order is agreement. */
    OK(zkc_create(g, "/o", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->direct[0], "/o/b", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->direct[0], "/o/a", NULL, 0, 0, NULL, NULL));
    for (int i = 1; i < NQ; i++) {
        OK(zkc_create(f->direct[i], "/o/a", NULL, 0, 0, NULL, NULL));
        OK(zkc_create(f->direct[i], "/o/b", NULL, 0, 0, NULL, NULL));
    }
    zkc_strings *kids = NULL;
    OK(zkc_children(g, "/o", &kids, NULL, NULL));
    assert_int_equal(2, kids->count);
    zkc_strings_free(kids);

    /* A quorum that cannot answer is its error, named, not a
     * disagreement. */
    OK(zkc_fake_inject(zkc_global_quorum(g, 2), ZKC_FAKE_LOSS_BEFORE, 1));
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_get(g, "/o", NULL, NULL, NULL, NULL));
    expect_msg("quorum 2 fake");
    OK(zkc_get(g, "/o", NULL, NULL, NULL, NULL));
}

static void test_partial_writes(void **state)
{
    fx *f = *state;
    zkc_conn *g = f->g;
    /* The node already exists on quorum 1 only: created on 0 and 2. */
    OK(zkc_create(f->direct[1], "/p", "old", 3, 0, NULL, NULL));
    assert_int_equal(ZKC_EINCONSISTENT, zkc_create(g, "/p", "new", 3, 0, NULL, NULL));
    expect_msg("succeeded or failed differently");
    expect_msg("quorum 0 fake");
    expect_msg("created /p");
    expect_msg("quorum 1 fake");
    expect_msg("node already exists");
    for (int i = 0; i < NQ; i++)
        assert_true(exists_on(f, i, "/p"));

    /* A versioned write needs every quorum at that version. */
    OK(zkc_set(f->direct[2], "/p", "new", 3, -1, NULL)); /* q2 at version 1 */
    assert_int_equal(ZKC_EINCONSISTENT, zkc_set(g, "/p", "x", 1, 0, NULL));
    expect_msg("quorum 2 fake");
    expect_msg("version conflict");

    /* A lost write on one quorum is inconsistent too. */
    OK(zkc_create(g, "/q", NULL, 0, 0, NULL, NULL));
    OK(zkc_fake_inject(zkc_global_quorum(g, 1), ZKC_FAKE_LOSS_BEFORE, 1));
    assert_int_equal(ZKC_EINCONSISTENT, zkc_delete(g, "/q", -1));
    expect_msg("connection to the server lost");
    assert_false(exists_on(f, 0, "/q"));
    assert_true(exists_on(f, 1, "/q"));
}

static void test_unversioned_set(void **state)
{
    fx *f = *state;
    zkc_conn *g = f->g;
    OK(zkc_create(g, "/u", "0", 1, 0, NULL, NULL));
    /* Versions differ per quorum: an unversioned set still works, each
     * quorum checked against its own version. */
    OK(zkc_set(f->direct[1], "/u", "0", 1, -1, NULL));
    OK(zkc_set(f->direct[1], "/u", "0", 1, -1, NULL));
    zkc_stat st;
    OK(zkc_set(g, "/u", "1", 1, -1, &st));
    assert_int_equal(1, st.version); /* quorum 0's */
    assert_int_equal(3, stat_on(f, 1, "/u").version);
    /* Missing everywhere: no node; missing somewhere: nothing written. */
    assert_int_equal(ZKC_ENONODE, zkc_set(g, "/nope", "x", 1, -1, NULL));
    OK(zkc_create(f->direct[0], "/half", "h", 1, 0, NULL, NULL));
    assert_int_equal(ZKC_EINCONSISTENT, zkc_set(g, "/half", "x", 1, -1, NULL));
    expect_msg("exists on some quorums only; nothing written");
    char *d = data_on(f, 0, "/half");
    assert_string_equal("h", d);
    zkc_free(d);
    assert_int_equal(ZKC_EINCONSISTENT,
                     zkc_set_acl(g, "/half", zkc_acl_world(ZKC_PERM_READ), -1));
    OK(zkc_set_acl(g, "/u", zkc_acl_world(ZKC_PERM_READ), -1));
    assert_int_equal(1, stat_on(f, 2, "/u").aversion);
}

/* Two global writers racing with unversioned sets: whatever happens,
 * divergence is never silent. */
typedef struct racer {
    zkc_conn *g;
    const char *value;
    int inconsistent;
    int other;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    for (int i = 0; i < 200; i++) {
        int rc = zkc_set(r->g, "/race", r->value, strlen(r->value), -1, NULL);
        if (rc == ZKC_EINCONSISTENT)
            r->inconsistent++;
        else if (rc != ZKC_OK && rc != ZKC_ECONFLICT)
            r->other++;
    }
    return NULL;
}

static void test_no_silent_divergence(void **state)
{
    fx *f = *state;
    OK(zkc_create(f->g, "/race", NULL, 0, 0, NULL, NULL));
    zkc_conn *g2 = open_global(f);
    racer a = {f->g, "aaaa", 0, 0}, b = {g2, "bb", 0, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, race, &a);
    pthread_create(&tb, NULL, race, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(0, a.other);
    assert_int_equal(0, b.other);
    zkc_diff *d = NULL;
    OK(zkc_global_diff(f->direct, NQ, "/race", &d));
    bool diverged = false;
    for (size_t i = 0; i < d->count; i++)
        diverged |= d->v[i].kind == ZKC_DIFF_DATA;
    if (diverged)
        assert_true(a.inconsistent + b.inconsistent > 0);
    zkc_diff_free(d);
    zkc_conn_close(g2);
}

static void test_sequential_names(void **state)
{
    fx *f = *state;
    zkc_conn *g = f->g;
    OK(zkc_create(g, "/s", NULL, 0, 0, NULL, NULL));
    /* Quorum 1's sequence counter runs ahead... */
    OK(zkc_create(f->direct[1], "/s/junk", NULL, 0, 0, NULL, NULL));
    OK(zkc_delete(f->direct[1], "/s/junk", -1));
    /* ...yet the names agree: quorum 0 picks, the others follow. */
    char *p = NULL;
    OK(zkc_create(g, "/s/n-", "x", 1, ZKC_SEQUENCE, NULL, &p));
    assert_string_equal("/s/n-0000000000", p);
    zkc_free(p);
    for (int i = 0; i < NQ; i++)
        assert_true(exists_on(f, i, "/s/n-0000000000"));
    OK(zkc_create(g, "/s/n-", "x", 1, ZKC_SEQUENCE | ZKC_EPHEMERAL, NULL, &p));
    assert_string_equal("/s/n-0000000001", p);
    zkc_free(p);
    assert_true(stat_on(f, 2, "/s/n-0000000001").ephemeral_owner != 0);

    /* The name quorum 0 picks already exists on quorum 2. */
    OK(zkc_create(f->direct[2], "/s/n-0000000002", NULL, 0, 0, NULL, NULL));
    assert_int_equal(ZKC_EINCONSISTENT,
                     zkc_create(g, "/s/n-", NULL, 0, ZKC_SEQUENCE, NULL, NULL));
    expect_msg("quorum 2 fake");
    expect_msg("node already exists");
    /* Quorum 0 refusing stops it before the others are touched. */
    assert_int_equal(ZKC_ENONODE, zkc_create(g, "/nope/n-", NULL, 0, ZKC_SEQUENCE, NULL, NULL));
}

/* ---- multi ---- */

#define MCREATE(p, fl)                                                                         \
    {                                                                                          \
        .op = ZKC_OP_CREATE, .path = (p), .data = "d", .data_len = 1, .flags = (fl),           \
        .version = -1                                                                          \
    }
#define MCHECK(p, v)                                                                           \
    {                                                                                          \
        .op = ZKC_OP_CHECK, .path = (p), .version = (v)                                        \
    }

static void test_multi_agree(void **state)
{
    fx *f = *state;
    zkc_conn *g = f->g;
    /* Quorum 1's versions run ahead: the results are quorum 0's. */
    OK(zkc_create(g, "/m", "0", 1, 0, NULL, NULL));
    OK(zkc_set(f->direct[1], "/m", "0", 1, -1, NULL));
    zkc_request ops[] = {
        MCREATE("/m/a", 0),
        MCREATE("/m/a/b", ZKC_EPHEMERAL),
        {.op = ZKC_OP_SET, .path = "/m/a", .data = "v", .data_len = 1, .version = 0},
        MCHECK("/m/a", 1),
        {.op = ZKC_OP_DELETE, .path = "/m/a/b", .version = -1},
    };
    zkc_multi_results *r = NULL;
    OK(zkc_multi(g, ops, 5, &r));
    assert_non_null(r);
    assert_int_equal(5, r->count);
    assert_string_equal("/m/a", r->v[0].created_path);
    assert_string_equal("/m/a/b", r->v[1].created_path);
    assert_int_equal(1, r->v[2].stat->version);
    assert_int_equal(stat_on(f, 0, "/m/a").mzxid, r->v[2].stat->mzxid);
    zkc_free(r);
    for (int i = 0; i < NQ; i++) {
        char *d = data_on(f, i, "/m/a");
        assert_string_equal("v", d);
        zkc_free(d);
        assert_false(exists_on(f, i, "/m/a/b"));
    }

    /* Refused alike everywhere: that code and the per-operation codes;
     * nothing changed. */
    zkc_request bad[] = {MCREATE("/m/c", 0), MCHECK("/m", 5)};
    r = NULL;
    assert_int_equal(ZKC_EBADVERSION, zkc_multi(g, bad, 2, &r));
    expect_msg("operation 1 (check /m)");
    assert_non_null(r);
    assert_int_equal(2, r->count);
    assert_int_equal(ZKC_OK, r->v[0].rc);
    assert_int_equal(ZKC_EBADVERSION, r->v[1].rc);
    zkc_free(r);
    for (int i = 0; i < NQ; i++)
        assert_false(exists_on(f, i, "/m/c"));

    /* Empty: succeeds with no results. */
    OK(zkc_multi(g, NULL, 0, &r));
    assert_non_null(r);
    assert_int_equal(0, r->count);
    zkc_free(r);

    /* zkc_delete_recursive goes by multi here too. */
    OK(zkc_delete_recursive(g, "/m", -1));
    for (int i = 0; i < NQ; i++)
        assert_false(exists_on(f, i, "/m"));
}

static void test_multi_diverge(void **state)
{
    fx *f = *state;
    zkc_conn *g = f->g;
    /* Committed on 0 and 2, refused on 1. */
    OK(zkc_create(f->direct[1], "/d", NULL, 0, 0, NULL, NULL));
    zkc_request ops[] = {MCREATE("/d", 0), MCREATE("/d/k", 0)};
    zkc_multi_results *r = (zkc_multi_results *)1;
    assert_int_equal(ZKC_EINCONSISTENT, zkc_multi(g, ops, 2, &r));
    assert_null(r);
    expect_msg("committed on some quorums only");
    expect_msg("quorum 0 fake");
    expect_msg(": committed");
    expect_msg("refused at operation 0 (/d): node already exists");
    assert_true(exists_on(f, 0, "/d/k"));
    assert_false(exists_on(f, 1, "/d/k"));
    assert_true(exists_on(f, 2, "/d/k"));

    /* Refused everywhere, but at different operations: the quorums
     * differ, though nothing was applied. */
    OK(zkc_create(f->direct[0], "/x", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->direct[1], "/x", NULL, 0, 0, NULL, NULL));
    zkc_request checks[] = {MCHECK("/x", -1), MCHECK("/nope", -1)};
    assert_int_equal(ZKC_EINCONSISTENT, zkc_multi(g, checks, 2, NULL));
    expect_msg("refused differently on the quorums (applied on none)");
    expect_msg("refused at operation 1 (/nope)");
    expect_msg("refused at operation 0 (/x)");

    /* A lost reply on one quorum. */
    OK(zkc_fake_inject(zkc_global_quorum(g, 2), ZKC_FAKE_LOSS_AFTER, 1));
    zkc_request one[] = {MCREATE("/y", 0)};
    assert_int_equal(ZKC_EINCONSISTENT, zkc_multi(g, one, 1, NULL));
    expect_msg("connection to the server lost");
    for (int i = 0; i < NQ; i++)
        assert_true(exists_on(f, i, "/y")); /* applied, reply lost on 2 */
    /* Lost everywhere: that code. */
    for (int i = 0; i < NQ; i++)
        OK(zkc_fake_inject(zkc_global_quorum(g, (size_t)i), ZKC_FAKE_LOSS_BEFORE, 1));
    zkc_request two[] = {MCREATE("/z", 0)};
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_multi(g, two, 1, NULL));
}

static void test_multi_sequential(void **state)
{
    fx *f = *state;
    zkc_conn *g = f->g;
    OK(zkc_create(g, "/s", NULL, 0, 0, NULL, NULL));
    /* Quorum 1's sequence counter runs ahead... */
    OK(zkc_create(f->direct[1], "/s/junk", NULL, 0, 0, NULL, NULL));
    OK(zkc_delete(f->direct[1], "/s/junk", -1));
    /* ...yet the names agree: quorum 0 picks, the others follow. */
    zkc_request ops[] = {MCREATE("/s/n-", ZKC_SEQUENCE), MCREATE("/s/plain", 0),
                         MCREATE("/s/n-", ZKC_SEQUENCE | ZKC_EPHEMERAL)};
    zkc_multi_results *r = NULL;
    OK(zkc_multi(g, ops, 3, &r));
    assert_string_equal("/s/n-0000000000", r->v[0].created_path);
    assert_string_equal("/s/plain", r->v[1].created_path);
    assert_string_equal("/s/n-0000000002", r->v[2].created_path);
    zkc_free(r);
    for (int i = 0; i < NQ; i++) {
        assert_true(exists_on(f, i, "/s/n-0000000000"));
        assert_true(exists_on(f, i, "/s/n-0000000002"));
        assert_true(stat_on(f, i, "/s/n-0000000002").ephemeral_owner != 0);
    }
    /* The name quorum 0 picks exists on quorum 2 already. */
    OK(zkc_create(f->direct[2], "/s/n-0000000003", NULL, 0, 0, NULL, NULL));
    zkc_request one[] = {MCREATE("/s/n-", ZKC_SEQUENCE)};
    assert_int_equal(ZKC_EINCONSISTENT, zkc_multi(g, one, 1, NULL));
    expect_msg("committed on some quorums only");
    expect_msg("refused at operation 0 (/s/n-0000000003): node already exists");
    /* Quorum 0 refusing stops it before the others are touched. */
    zkc_request nope[] = {MCREATE("/s/m", 0), MCREATE("/nope/n-", ZKC_SEQUENCE)};
    r = NULL;
    assert_int_equal(ZKC_ENONODE, zkc_multi(g, nope, 2, &r));
    assert_int_equal(ZKC_ENONODE, r->v[1].rc);
    zkc_free(r);
    for (int i = 0; i < NQ; i++)
        assert_false(exists_on(f, i, "/s/m"));
}

static void test_watches(void **state)
{
    fx *f = *state;
    zkc_conn *g = f->g;
    OK(zkc_create(g, "/w", "0", 1, 0, NULL, NULL));
    zkc_watch *w = NULL;
    OK(zkc_get(g, "/w", NULL, NULL, NULL, &w));
    /* A write through the global fires it once (the first quorum's). */
    OK(zkc_set(g, "/w", "1", 1, -1, NULL));
    OK(zkc_watch_wait(w, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(w)->type);
    assert_string_equal("/w", zkc_watch_event(w)->path);
    zkc_watch_free(w);

    /* A change behind its back on one quorum fires it too. */
    zkc_watch *wc = NULL, *we = NULL;
    OK(zkc_children(g, "/w", NULL, NULL, &wc));
    OK(zkc_exists(g, "/w/k", NULL, NULL, &we));
    OK(zkc_create(f->direct[2], "/w/k", NULL, 0, 0, NULL, NULL));
    OK(zkc_watch_wait(wc, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CHILD, zkc_watch_event(wc)->type);
    OK(zkc_watch_wait(we, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CREATED, zkc_watch_event(we)->type);
    zkc_watch_free(wc);
    zkc_watch_free(we);

    /* No watch on an inconsistent answer. */
    zkc_watch *wi = (zkc_watch *)&wi;
    assert_int_equal(ZKC_EINCONSISTENT, zkc_exists(g, "/w/k", NULL, NULL, &wi));
    assert_ptr_equal(&wi, wi);

    /* Expiry of one quorum ends it. */
    zkc_watch *wx = NULL;
    OK(zkc_get(g, "/w", NULL, NULL, NULL, &wx));
    OK(zkc_fake_inject(zkc_global_quorum(g, 1), ZKC_FAKE_EXPIRE, 0));
    OK(zkc_watch_wait(wx, 5000, NULL));
    assert_int_equal(ZKC_EVENT_SESSION_EXPIRED, zkc_watch_event(wx)->type);
    zkc_watch_free(wx);
    assert_int_equal(ZKC_STATE_EXPIRED, zkc_conn_state(g));
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_get(g, "/w", NULL, NULL, NULL, NULL));
    expect_msg("quorum 1 fake");
}

typedef struct count_ctx {
    pthread_mutex_t lock;
    int count;
} count_ctx;

static void on_done(const zkc_result *res, void *ud)
{
    count_ctx *c = ud;
    (void)res;
    pthread_mutex_lock(&c->lock);
    c->count++;
    pthread_mutex_unlock(&c->lock);
}

static void test_close(void **state)
{
    fx *f = *state;
    zkc_conn *g = open_global(f);
    OK(zkc_create(g, "/c", NULL, 0, 0, NULL, NULL));
    zkc_watch *w = NULL;
    OK(zkc_get(g, "/c", NULL, NULL, NULL, &w));
    for (int i = 0; i < NQ; i++)
        OK(zkc_fake_inject(zkc_global_quorum(g, (size_t)i), ZKC_FAKE_DELAY, 20));
    enum { N = 50 };
    count_ctx ctx = {PTHREAD_MUTEX_INITIALIZER, 0};
    for (int i = 0; i < N; i++)
        OK(zkc_aset(g, "/c", "x", 1, -1, on_done, &ctx));
    zkc_conn_close(g);
    /* Every operation completed by the time close returned. */
    assert_int_equal(N, ctx.count);
    OK(zkc_watch_wait(w, 0, NULL));
    zkc_event_type t = zkc_watch_event(w)->type;
    assert_true(t == ZKC_EVENT_CLOSED || t == ZKC_EVENT_CHANGED);
    zkc_watch_free(w);
}

static void close_in_done(const zkc_result *res, void *ud)
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
    fx *f = *state;
    zkc_conn *g = open_global(f);
    _Atomic(zkc_conn *) holder;
    atomic_init(&holder, g);
    OK(zkc_aexists(g, "/", 0, close_in_done, (void *)&holder));
    for (int i = 0; i < 500 && atomic_load(&holder) != NULL; i++)
        zkc_sleep(10, NULL);
    assert_null(atomic_load(&holder));
}

static void test_open_errors(void **state)
{
    (void)state;
    zkc_conn *g = NULL;
    /* Each failure sets a message of its own, not the previous one. */
    zkc_impl_set_errmsg("stale");
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_global_open(NULL, 1, &g));
    assert_non_null(strstr(zkc_errmsg(), "zkc_global_open: conns is NULL"));
    zkc_conn *none[ZKC_GLOBAL_MAX_QUORUMS + 1] = {NULL};
    zkc_impl_set_errmsg("stale");
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_global_open(none, 1, &g));
    assert_non_null(strstr(zkc_errmsg(), "zkc_global_open: a quorum's connection is NULL"));
    zkc_impl_set_errmsg("stale");
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_global_open(none, 0, &g));
    assert_non_null(strstr(zkc_errmsg(), "zkc_global_open: 0 quorums"));
    zkc_impl_set_errmsg("stale");
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_global_open(none, ZKC_GLOBAL_MAX_QUORUMS + 1, &g));
    assert_non_null(strstr(zkc_errmsg(), "65 quorums"));
    zkc_impl_set_errmsg("stale");
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_global_open(none, 1, NULL));
    assert_non_null(strstr(zkc_errmsg(), "ret_conn is NULL"));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_global_dial(NULL, 1, NULL, &g));
    /* A quorum that cannot be reached: the error names it. */
    const char *addrs[2] = {"127.0.0.1:1", "127.0.0.1:1"};
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 300;
    int rc = zkc_global_dial(addrs, 2, &o, &g);
    assert_true(rc != ZKC_OK);
    expect_msg("quorum 0 (127.0.0.1:1)");
    assert_null(g);
}

/* ---- dialing through a dial callback ---- */

/* A dial over the fake trees: "q<i>" is a session on tree i, which marks
 * itself with an ephemeral /dialled; "down" is refused. */
typedef struct fake_dialer {
    fx *f;
    const char *want_cell;
    atomic_int calls;
    atomic_int wrong_cell;
} fake_dialer;

static int fake_dial(const char *cell, const char *addrs, void *ud, zkc_conn **ret)
{
    fake_dialer *d = ud;
    atomic_fetch_add(&d->calls, 1);
    if ((cell == NULL) != (d->want_cell == NULL) ||
        (cell != NULL && strcmp(cell, d->want_cell) != 0))
        atomic_fetch_add(&d->wrong_cell, 1);
    if (addrs[0] != 'q' || addrs[1] < '0' || addrs[1] >= '0' + NQ || addrs[2] != '\0') {
        zkc_impl_set_errmsg("connection refused by %s", addrs);
        return ZKC_ECONNECT;
    }
    int rc = zkc_fake_open(d->f->t[addrs[1] - '0'], ret);
    if (rc == ZKC_OK)
        rc = zkc_create(*ret, "/dialled", NULL, 0, ZKC_EPHEMERAL, NULL, NULL);
    return rc;
}

/* Each tree i gets a /who holding "i". */
static void mark_trees(fx *f)
{
    for (int i = 0; i < NQ; i++) {
        char who[2] = {(char)('0' + i), '\0'};
        OK(zkc_create(f->direct[i], "/who", who, 1, 0, NULL, NULL));
    }
}

/* Which tree c is a session on: the /who each tree holds. */
static int tree_of(zkc_conn *c)
{
    char *d = NULL;
    OK(zkc_get(c, "/who", &d, NULL, NULL, NULL));
    int i = d[0] - '0';
    zkc_free(d);
    return i;
}

static bool dialled_on(fx *f, int i)
{
    bool there = false;
    OK(zkc_exists(f->direct[i], "/dialled", &there, NULL, NULL));
    return there;
}

static void test_dial_with(void **state)
{
    fx *f = *state;
    mark_trees(f);
    fake_dialer d = {.f = f, .want_cell = "nyc"};
    atomic_init(&d.calls, 0);
    atomic_init(&d.wrong_cell, 0);

    /* Every quorum dialled with the cell handed through, in order. */
    const char *lists[NQ] = {"q2", "q0", "q1"};
    zkc_conn *g = NULL;
    OK(zkc_global_dial_with("nyc", lists, NQ, fake_dial, &d, &g));
    assert_int_equal(NQ, atomic_load(&d.calls));
    assert_int_equal(0, atomic_load(&d.wrong_cell));
    assert_int_equal(NQ, zkc_global_size(g));
    assert_int_equal(2, tree_of(zkc_global_quorum(g, 0)));
    assert_int_equal(0, tree_of(zkc_global_quorum(g, 1)));
    assert_int_equal(1, tree_of(zkc_global_quorum(g, 2)));
    OK(zkc_create(g, "/through", "v", 1, 0, NULL, NULL));
    for (int i = 0; i < NQ; i++) {
        char *v = data_on(f, i, "/through");
        assert_string_equal("v", v);
        zkc_free(v);
        assert_true(dialled_on(f, i));
    }
    zkc_conn_close(g);
    for (int i = 0; i < NQ; i++)
        assert_false(dialled_on(f, i));

    /* One quorum refused: the first failure is returned, naming it, and
     * the sessions the other dials made are closed. */
    const char *some_down[NQ] = {"q0", "down", "q2"};
    g = NULL;
    zkc_impl_set_errmsg("stale");
    assert_int_equal(ZKC_ECONNECT,
                     zkc_global_dial_with("nyc", some_down, NQ, fake_dial, &d, &g));
    expect_msg("quorum 1 (down): connection refused by down");
    assert_null(g);
    for (int i = 0; i < NQ; i++)
        assert_false(dialled_on(f, i));

    /* Bad arguments, each with a message. */
    zkc_impl_set_errmsg("stale");
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_global_dial_with("nyc", lists, NQ, NULL, &d, &g));
    expect_msg("zkc_global_dial: bad arguments");
    assert_int_equal(ZKC_EBADARGUMENTS,
                     zkc_global_dial_with("nyc", lists, 0, fake_dial, &d, &g));
    const char *with_null[2] = {"q0", NULL};
    assert_int_equal(ZKC_EBADARGUMENTS,
                     zkc_global_dial_with("nyc", with_null, 2, fake_dial, &d, &g));

    /* A cell with no name given: the dial gets NULL. */
    d.want_cell = NULL;
    OK(zkc_global_dial_with(NULL, lists, 1, fake_dial, &d, &g));
    assert_int_equal(0, atomic_load(&d.wrong_cell));
    zkc_conn_close(g);
}

static void test_dial_quorums_with(void **state)
{
    fx *f = *state;
    mark_trees(f);
    fake_dialer d = {.f = f, .want_cell = "sfo"};
    atomic_init(&d.calls, 0);
    atomic_init(&d.wrong_cell, 0);

    /* One address list: the dial's own connection, no global over it. */
    zkc_conn *c = NULL;
    OK(zkc_dial_quorums_with("sfo", "q1", fake_dial, &d, &c));
    assert_int_equal(0, zkc_global_size(c));
    assert_int_equal(1, tree_of(c));
    zkc_conn_close(c);

    /* Several: one global namespace over them, in the order given. */
    OK(zkc_dial_quorums_with("sfo", "q2;q0", fake_dial, &d, &c));
    assert_int_equal(2, zkc_global_size(c));
    assert_int_equal(2, tree_of(zkc_global_quorum(c, 0)));
    assert_int_equal(0, tree_of(zkc_global_quorum(c, 1)));
    zkc_conn_close(c);
    assert_int_equal(3, atomic_load(&d.calls));
    assert_int_equal(0, atomic_load(&d.wrong_cell));

    /* A refused quorum, and lists that are not lists. */
    assert_int_equal(ZKC_ECONNECT, zkc_dial_quorums_with("sfo", "q0;down", fake_dial, &d, &c));
    expect_msg("quorum 1 (down): connection refused by down");
    zkc_impl_set_errmsg("stale");
    assert_int_equal(ZKC_EBADARGUMENTS,
                     zkc_dial_quorums_with("sfo", "q0;;q1", fake_dial, &d, &c));
    expect_msg("quorums q0;;q1: want 1 to 64 non-empty address lists");
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_dial_quorums_with("sfo", "q0;", fake_dial, &d, &c));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_dial_quorums_with("sfo", "q0", NULL, &d, &c));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_dial_quorums_with("sfo", NULL, fake_dial, &d, &c));
}

/* ---- diff and repair ---- */

static bool has_entry(const zkc_diff *d, const char *path, zkc_diff_kind kind)
{
    for (size_t i = 0; i < d->count; i++)
        if (strcmp(d->v[i].path, path) == 0 && d->v[i].kind == kind)
            return true;
    return false;
}

static void test_diff_and_repair(void **state)
{
    fx *f = *state;
    zkc_conn *g = f->g;
    zkc_diff *d = NULL;
    OK(zkc_global_diff(f->direct, NQ, "/", &d));
    assert_int_equal(0, d->count); /* /zookeeper is not compared */
    zkc_diff_free(d);

    OK(zkc_create(g, "/d", "root", 4, 0, NULL, NULL));
    OK(zkc_create(g, "/d/same", "s", 1, 0, NULL, NULL));
    OK(zkc_create(g, "/d/data", "s", 1, 0, NULL, NULL));
    OK(zkc_create(g, "/d/acl", "s", 1, 0, NULL, NULL));
    OK(zkc_create(g, "/d/ver", "s", 1, 0, NULL, NULL));
    /* Divergence of every kind. */
    OK(zkc_set(f->direct[1], "/d/data", "other", 5, -1, NULL));
    OK(zkc_set_acl(f->direct[2], "/d/acl", zkc_acl_world(ZKC_PERM_FILE), -1));
    OK(zkc_set(f->direct[0], "/d/ver", "s", 1, -1, NULL));
    OK(zkc_create(f->direct[1], "/d/extra", "e", 1, 0, NULL, NULL));
    OK(zkc_create(f->direct[1], "/d/extra/deep", "e", 1, 0, NULL, NULL));
    OK(zkc_create(f->direct[0], "/d/only0", "o", 1, 0, NULL, NULL));
    OK(zkc_create(f->direct[0], "/d/only0/kid", "o", 1, 0, NULL, NULL));
    OK(zkc_create(f->direct[2], "/d/eph", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    OK(zkc_create(f->direct[0], "/d/eph", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(f->direct[1], "/d/eph", NULL, 0, 0, NULL, NULL));

    OK(zkc_global_diff(f->direct, NQ, "/d", &d));
    assert_true(has_entry(d, "/d/data", ZKC_DIFF_DATA));
    assert_true(has_entry(d, "/d/acl", ZKC_DIFF_ACL));
    assert_true(has_entry(d, "/d/ver", ZKC_DIFF_VERSION));
    assert_true(has_entry(d, "/d/extra", ZKC_DIFF_MISSING));
    assert_true(has_entry(d, "/d/extra/deep", ZKC_DIFF_MISSING));
    assert_true(has_entry(d, "/d/only0", ZKC_DIFF_MISSING));
    assert_true(has_entry(d, "/d/only0/kid", ZKC_DIFF_MISSING));
    assert_true(has_entry(d, "/d/eph", ZKC_DIFF_EPHEMERAL));
    assert_false(has_entry(d, "/d/same", ZKC_DIFF_DATA));
    for (size_t i = 0; i < d->count; i++) {
        if (strcmp(d->v[i].path, "/d/extra") == 0) {
            assert_int_equal(2, d->v[i].present); /* quorum 1 only */
            assert_string_equal("present on quorum 1; missing on quorum 0 2", d->v[i].detail);
        }
        if (strcmp(d->v[i].path, "/d/data") == 0)
            assert_non_null(strstr(d->v[i].detail, "quorum 1: 5 bytes, version 1"));
        assert_non_null(zkc_diff_kind_name(d->v[i].kind));
    }
    /* Parents come before children. */
    size_t pe = d->count, pd = d->count;
    for (size_t i = 0; i < d->count; i++) {
        if (strcmp(d->v[i].path, "/d/extra") == 0)
            pe = i;
        if (strcmp(d->v[i].path, "/d/extra/deep") == 0)
            pd = i;
    }
    assert_true(pe < pd);
    zkc_diff_free(d);

    /* The global connection reports what it meets. */
    assert_int_equal(ZKC_EINCONSISTENT, zkc_get(g, "/d/data", NULL, NULL, NULL, NULL));

    /* Repair from quorum 0. */
    size_t changes = 0;
    OK(zkc_global_repair(f->direct, NQ, 0, "/d", &changes));
    assert_true(changes >= 8);
    OK(zkc_global_diff(f->direct, NQ, "/d", &d));
    for (size_t i = 0; i < d->count; i++)
        print_message("left: %s %s %s\n", d->v[i].path, zkc_diff_kind_name(d->v[i].kind),
                      d->v[i].detail);
    assert_int_equal(0, d->count);
    zkc_diff_free(d);
    for (int i = 0; i < NQ; i++) {
        char *x = data_on(f, i, "/d/data");
        assert_string_equal("s", x);
        zkc_free(x);
        assert_false(exists_on(f, i, "/d/extra"));
        assert_true(exists_on(f, i, "/d/only0/kid"));
        assert_int_equal(0, stat_on(f, i, "/d/eph").ephemeral_owner);
    }
    /* Versions realigned: a versioned global write works again. */
    OK(zkc_set(g, "/d/ver", "t", 1, 1, NULL));
    OK(zkc_get(g, "/d/data", NULL, NULL, NULL, NULL));
    changes = 99;
    OK(zkc_global_repair(f->direct, NQ, 0, "/d", &changes));
    assert_int_equal(0, changes);

    /* An ephemeral node of the source cannot be copied: left, reported. */
    OK(zkc_create(f->direct[2], "/d/mine", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    assert_int_equal(ZKC_EINCONSISTENT, zkc_global_repair(f->direct, NQ, 2, "/d", NULL));
    expect_msg("left as is: /d/mine");

    /* Repair from another source: the source's absence deletes. */
    OK(zkc_delete(f->direct[2], "/d/mine", -1));
    OK(zkc_create(f->direct[0], "/d/gone", NULL, 0, 0, NULL, NULL));
    OK(zkc_global_repair(f->direct, NQ, 1, "/d", NULL));
    assert_false(exists_on(f, 0, "/d/gone"));

    /* Bad arguments. */
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_global_diff(f->direct, 1, "/d", &d));
    assert_int_equal(ZKC_EBADPATH, zkc_global_diff(f->direct, NQ, "d", &d));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_global_repair(f->direct, NQ, 3, "/d", NULL));
    zkc_diff_free(NULL);
}

static void test_states(void **state)
{
    fx *f = *state;
    zkc_conn *g = f->g;
    assert_int_equal(ZKC_STATE_CONNECTED, zkc_conn_state(g));
    OK(zkc_fake_inject(zkc_global_quorum(g, 0), ZKC_FAKE_SUSPEND, 1));
    assert_int_equal(ZKC_STATE_SUSPENDED, zkc_conn_state(g));
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_get(g, "/", NULL, NULL, NULL, NULL));
    OK(zkc_fake_inject(zkc_global_quorum(g, 0), ZKC_FAKE_SUSPEND, 0));
    assert_int_equal(ZKC_STATE_RECONNECTED, zkc_conn_state(g));
    OK(zkc_get(g, "/", NULL, NULL, NULL, NULL));
}

/* ---- completion order ---- */

typedef struct order_log {
    pthread_mutex_t lock;
    int n;
    int seen[8];
    int rc[8];
} order_log;

typedef struct order_tag {
    order_log *log;
    int id;
} order_tag;

static void order_done(const zkc_result *res, void *ud)
{
    order_tag *t = ud;
    pthread_mutex_lock(&t->log->lock);
    if (t->log->n < 8) {
        t->log->seen[t->log->n] = t->id;
        t->log->rc[t->log->n] = res->rc;
    }
    t->log->n++;
    pthread_mutex_unlock(&t->log->lock);
}

/* Completions run in submission order (conn.h), also when an operation
 * takes two steps (a sequential create asks quorum 0 first; a set with
 * version -1 reads the versions first) and a later one takes one.  The
 * quorums' delays make the two-step operations end last on the quorums;
 * their completions must still come first. */
static void test_completion_order(void **state)
{
    fx *f = *state;
    OK(zkc_create(f->g, "/o", NULL, 0, 0, NULL, NULL));
    OK(zkc_fake_inject(zkc_global_quorum(f->g, 0), ZKC_FAKE_DELAY, 50));
    for (size_t i = 1; i < NQ; i++)
        OK(zkc_fake_inject(zkc_global_quorum(f->g, i), ZKC_FAKE_DELAY, 200));
    order_log log = {.lock = PTHREAD_MUTEX_INITIALIZER};
    order_tag tags[4] = {{&log, 0}, {&log, 1}, {&log, 2}, {&log, 3}};
    zkc_request seq = {
        .op = ZKC_OP_CREATE, .path = "/o/s-", .flags = ZKC_SEQUENCE, .version = -1};
    zkc_request del = {.op = ZKC_OP_DELETE, .path = "/o/missing", .version = -1};
    zkc_request set = {
        .op = ZKC_OP_SET, .path = "/o", .data = "x", .data_len = 1, .version = -1};
    OK(zkc_submit(f->g, &seq, order_done, &tags[0]));
    OK(zkc_submit(f->g, &del, order_done, &tags[1]));
    OK(zkc_submit(f->g, &set, order_done, &tags[2]));
    OK(zkc_submit(f->g, &del, order_done, &tags[3]));
    pthread_mutex_lock(&log.lock);
    int64_t deadline = zkc_impl_now_ms() + 30000;
    while (log.n < 4 && zkc_impl_now_ms() < deadline) {
        pthread_mutex_unlock(&log.lock);
        zkc_sleep(10, NULL);
        pthread_mutex_lock(&log.lock);
    }
    pthread_mutex_unlock(&log.lock);
    assert_int_equal(4, log.n);
    for (int i = 0; i < 4; i++)
        assert_int_equal(i, log.seen[i]);
    assert_int_equal(ZKC_OK, log.rc[0]);
    assert_int_equal(ZKC_ENONODE, log.rc[1]);
    assert_int_equal(ZKC_OK, log.rc[2]);
    assert_int_equal(ZKC_ENONODE, log.rc[3]);
    for (size_t i = 0; i < NQ; i++)
        OK(zkc_fake_inject(zkc_global_quorum(f->g, i), ZKC_FAKE_DELAY, 0));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_fan_out),
        T(test_reads_disagree),
        T(test_partial_writes),
        T(test_unversioned_set),
        T(test_no_silent_divergence),
        T(test_sequential_names),
        T(test_multi_agree),
        T(test_multi_diverge),
        T(test_multi_sequential),
        T(test_watches),
        T(test_close),
        T(test_close_from_completion),
        cmocka_unit_test(test_open_errors),
        T(test_dial_with),
        T(test_dial_quorums_with),
        T(test_diff_and_repair),
        T(test_states),
        T(test_completion_order),
    };
#undef T
    return cmocka_run_group_tests_name("global", tests, NULL, NULL);
}
