/*
 * The connection cache (conn_cache.c) and the cell router (conn_meta.c)
 * on several in-memory trees acting as cells: routing, "local", the
 * known cells, retries under injected connection loss, no duplicate
 * creates, an expired session replaced, dial backoff, one dial in
 * flight, watches across cells, close.
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
#include <unistd.h>

#include <zkcell/sys/conn_impl.h>
#include <zkcell/zkcell.h>

#include "test_clock.h"

#define OK(expr) assert_int_equal(ZKC_OK, (expr))

enum { NYC, SFO, GLOBAL, DOWN, NCELLS };
static const char *const cell_names[NCELLS] = {"nyc", "sfo", "global", "down"};

/* Three trees (and one cell that never answers), a cells object naming
 * them, a dial function that opens fake sessions and counts dials. */
typedef struct world {
    zkc_fake_tree *tree[NCELLS];
    zkc_conn *direct[NCELLS]; /* our own sessions, to look behind the router */
    zkc_cells *cells;
    zkc_conn *meta;
    pthread_mutex_t lock;
    int dials[NCELLS];
    int in_dial[NCELLS];
    int max_in_dial[NCELLS];
    bool fail[NCELLS];
    int dial_delay_ms;
    int bad_dials; /* dials of a cell or address not in the config */
} world;

static int cell_index(const char *name)
{
    for (int i = 0; i < NCELLS; i++)
        if (strcmp(cell_names[i], name) == 0)
            return i;
    return -1;
}

/* The cache's dial, called on the router's threads too: a bad argument
 * is counted (teardown fails the test), never asserted here. */
static int fake_dial(const char *cell, const char *addrs, void *ud, zkc_conn **ret)
{
    world *w = ud;
    int i = cell_index(cell);
    char want[64];
    snprintf(want, sizeof want, "fake:%s", cell);
    if (i < 0 || strcmp(want, addrs) != 0) {
        pthread_mutex_lock(&w->lock);
        w->bad_dials++;
        pthread_mutex_unlock(&w->lock);
        zkc_impl_set_errmsg("dial of cell %s at %s: not in the config", cell, addrs);
        return ZKC_ECONNECT;
    }
    pthread_mutex_lock(&w->lock);
    w->dials[i]++;
    w->in_dial[i]++;
    if (w->in_dial[i] > w->max_in_dial[i])
        w->max_in_dial[i] = w->in_dial[i];
    int delay = w->dial_delay_ms;
    bool fail = w->fail[i] || w->tree[i] == NULL;
    pthread_mutex_unlock(&w->lock);
    if (delay > 0)
        zkc_sleep(delay, NULL);
    int rc;
    if (fail) {
        zkc_impl_set_errmsg("connection refused by %s", addrs);
        rc = ZKC_ECONNECT;
    } else {
        rc = zkc_fake_open(w->tree[i], ret);
    }
    pthread_mutex_lock(&w->lock);
    w->in_dial[i]--;
    pthread_mutex_unlock(&w->lock);
    return rc;
}

static const char *config =
    "{\"nyc\": \"fake:nyc\", \"sfo\": \"fake:sfo\", \"global\": \"fake:global\","
    " \"down\": \"fake:down\"}";

static zkc_conn_cache *new_cache(world *w, int backoff_min_ms)
{
    zkc_conn_cache_opts co = ZKC_CONN_CACHE_OPTS_INIT;
    co.dial = fake_dial;
    co.dial_ud = w;
    co.backoff_min_ms = backoff_min_ms;
    co.backoff_max_ms = backoff_min_ms * 4;
    zkc_conn_cache *cache = NULL;
    OK(zkc_conn_cache_new(w->cells, &co, &cache));
    return cache;
}

static zkc_conn *new_meta(world *w, const zkc_meta_opts *mo)
{
    zkc_conn *m = NULL;
    OK(zkc_meta_open(new_cache(w, 50), mo, &m));
    return m;
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    pthread_mutex_init(&w->lock, NULL);
    for (int i = 0; i < DOWN; i++) {
        w->tree[i] = zkc_fake_tree_new();
        char json[100];
        snprintf(json, sizeof json, "{\"/zk/%s\": \"\"}", cell_names[i]);
        OK(zkc_fake_tree_load_json_string(w->tree[i], json));
        OK(zkc_fake_open(w->tree[i], &w->direct[i]));
    }
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_text = config;
    o.local_cell = "nyc";
    o.ignore_env = true;
    OK(zkc_cells_new(&o, &w->cells));
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    mo.backoff_min_ms = 5;
    mo.backoff_max_ms = 20;
    w->meta = new_meta(w, &mo);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    test_clock_stop();
    zkc_conn_close(w->meta);
    int bad_dials = w->bad_dials;
    for (int i = 0; i < NCELLS; i++) {
        zkc_conn_close(w->direct[i]);
        zkc_fake_tree_free(w->tree[i]);
    }
    zkc_cells_free(w->cells);
    pthread_mutex_destroy(&w->lock);
    free(w);
    if (bad_dials != 0) {
        print_error("%d dials of a cell or address not in the config\n", bad_dials);
        return -1;
    }
    return 0;
}

static int dials(world *w, int i)
{
    pthread_mutex_lock(&w->lock);
    int n = w->dials[i];
    pthread_mutex_unlock(&w->lock);
    return n;
}

static bool exists_in(world *w, int cell, const char *path)
{
    bool e = false;
    OK(zkc_exists(w->direct[cell], path, &e, NULL, NULL));
    return e;
}

/* The router's own session of a cell, for fault injection. */
static void inject(world *w, const char *cell, zkc_fake_fault f, unsigned n)
{
    zkc_conn *c = NULL;
    OK(zkc_conn_cache_get(zkc_meta_cache(w->meta), cell, &c));
    OK(zkc_fake_inject(c, f, n));
    zkc_conn_cache_release(zkc_meta_cache(w->meta), c);
}

static void expect_msg(const char *part)
{
    if (strstr(zkc_errmsg(), part) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", zkc_errmsg(), part);
}

/* ---- routing ---- */

static void test_routing(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    char *p = NULL;
    OK(zkc_create(m, "/zk/nyc/a", "N", 1, 0, NULL, &p));
    assert_string_equal("/zk/nyc/a", p);
    zkc_free(p);
    OK(zkc_create(m, "/zk/sfo/a", "S", 1, 0, NULL, NULL));
    OK(zkc_create(m, "/zk/global/a", "G", 1, 0, NULL, NULL));
    assert_true(exists_in(w, NYC, "/zk/nyc/a"));
    assert_false(exists_in(w, NYC, "/zk/sfo/a"));
    assert_true(exists_in(w, SFO, "/zk/sfo/a"));
    assert_false(exists_in(w, SFO, "/zk/nyc/a"));
    assert_true(exists_in(w, GLOBAL, "/zk/global/a"));

    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    OK(zkc_get(m, "/zk/sfo/a", &data, &len, &st, NULL));
    assert_int_equal(1, len);
    assert_memory_equal("S", data, 1);
    zkc_free(data);
    OK(zkc_set(m, "/zk/sfo/a", "S2", 2, st.version, &st));
    assert_int_equal(1, st.version);
    OK(zkc_get(w->direct[SFO], "/zk/sfo/a", &data, &len, NULL, NULL));
    assert_memory_equal("S2", data, 2);
    zkc_free(data);

    zkc_strings *kids = NULL;
    OK(zkc_children(m, "/zk/global", &kids, NULL, NULL));
    assert_int_equal(1, kids->count);
    assert_string_equal("a", kids->v[0]);
    zkc_strings_free(kids);

    bool e = true;
    OK(zkc_exists(m, "/zk/sfo/missing", &e, NULL, NULL));
    assert_false(e);
    assert_int_equal(ZKC_ENONODE, zkc_get(m, "/zk/nyc/missing", NULL, NULL, NULL, NULL));
    expect_msg("/zk/nyc/missing");

    /* ACL operations are routed too. */
    OK(zkc_set_acl(m, "/zk/sfo/a", zkc_acl_world(ZKC_PERM_FILE), -1));
    zkc_acl_list *acl = NULL;
    OK(zkc_get_acl(m, "/zk/sfo/a", &acl, &st));
    assert_int_equal(1, acl->count);
    assert_int_equal(ZKC_PERM_FILE, acl->v[0].perms);
    assert_int_equal(1, st.aversion);
    zkc_acl_list_free(acl);
    OK(zkc_get_acl(w->direct[NYC], "/zk/nyc/a", &acl, NULL));
    assert_int_equal(ZKC_PERM_ALL, acl->v[0].perms); /* nyc untouched */
    zkc_acl_list_free(acl);

    OK(zkc_delete(m, "/zk/sfo/a", -1));
    assert_false(exists_in(w, SFO, "/zk/sfo/a"));
    assert_true(exists_in(w, NYC, "/zk/nyc/a"));
    /* One session per cell. */
    assert_int_equal(1, dials(w, NYC));
    assert_int_equal(1, dials(w, SFO));
    assert_int_equal(1, dials(w, GLOBAL));
    assert_string_equal("meta(cells)", zkc_conn_describe(m));
    assert_int_equal(ZKC_STATE_CONNECTED, zkc_conn_state(m));
    assert_int_equal(0, zkc_conn_session_id(m));
}

static void test_local(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    char *p = NULL;
    /* The node is made in the real cell; the created path is given
     * back in the caller's terms. */
    OK(zkc_create(m, "/zk/local/x", "L", 1, 0, NULL, &p));
    assert_string_equal("/zk/local/x", p);
    zkc_free(p);
    assert_true(exists_in(w, NYC, "/zk/nyc/x"));
    OK(zkc_create(m, "/zk/local/seq-", NULL, 0, ZKC_SEQUENCE, NULL, &p));
    assert_string_equal("/zk/local/seq-0000000001", p);
    zkc_free(p);
    assert_true(exists_in(w, NYC, "/zk/nyc/seq-0000000001"));
    OK(zkc_create(m, "/zk/nyc/seq-", NULL, 0, ZKC_SEQUENCE, NULL, &p));
    assert_string_equal("/zk/nyc/seq-0000000002", p);
    zkc_free(p);

    char *data = NULL;
    OK(zkc_get(m, "/zk/nyc/x", &data, NULL, NULL, NULL));
    zkc_free(data);
    OK(zkc_get(m, "/zk/local/x", &data, NULL, NULL, NULL));
    assert_string_equal("L", data);
    zkc_free(data);
    zkc_strings *kids = NULL;
    OK(zkc_children(m, "/zk/local", &kids, NULL, NULL));
    assert_int_equal(3, kids->count);
    zkc_strings_free(kids);

    /* ACL calls see the rewrite too (the original sent the raw path). */
    OK(zkc_set_acl(m, "/zk/local/x", zkc_acl_world(ZKC_PERM_FILE), 0));
    zkc_acl_list *acl = NULL;
    OK(zkc_get_acl(m, "/zk/local/x", &acl, NULL));
    assert_int_equal(ZKC_PERM_FILE, acl->v[0].perms);
    zkc_acl_list_free(acl);

    /* "local" and "nyc" share one session: an ephemeral made through one
     * is owned by the session seen through the other. */
    OK(zkc_create(m, "/zk/local/eph", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    zkc_stat st;
    OK(zkc_exists(m, "/zk/nyc/eph", NULL, &st, NULL));
    zkc_conn *c = NULL;
    OK(zkc_conn_cache_get(zkc_meta_cache(m), "local", &c));
    assert_int_equal(zkc_conn_session_id(c), st.ephemeral_owner);
    zkc_conn *c2 = NULL;
    OK(zkc_conn_cache_get(zkc_meta_cache(m), "nyc", &c2));
    assert_ptr_equal(c, c2);
    zkc_conn_cache_release(zkc_meta_cache(m), c);
    zkc_conn_cache_release(zkc_meta_cache(m), c2);
    OK(zkc_delete(m, "/zk/local/eph", -1));
    assert_false(exists_in(w, NYC, "/zk/nyc/eph"));
    assert_int_equal(1, dials(w, NYC));
}

static void test_known_cells_and_bad_paths(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    zkc_strings *kids = NULL;
    zkc_watch *wa = NULL;
    OK(zkc_children(m, "/zk", &kids, NULL, &wa));
    assert_null(wa); /* no watch on the synthetic list */
    assert_int_equal(4, kids->count);
    assert_string_equal("down", kids->v[0]);
    assert_string_equal("global", kids->v[1]);
    assert_string_equal("nyc", kids->v[2]);
    assert_string_equal("sfo", kids->v[3]);
    zkc_strings_free(kids);
    assert_int_equal(0, dials(w, NYC)); /* no cell was needed */

    struct {
        const char *path, *msg;
    } bad[] = {
        {"/", "path should start with /zk/"},
        {"/zk", "no cell name in path: \"/zk\""},
        {"/other/x", "path should start with /zk/: \"/other/x\""},
        {"/zk/bad-cell", "invalid cell name \"bad-cell\""},
        {"/zk/bad-cell/x", "invalid cell name \"bad-cell\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(ZKC_EBADPATH, zkc_get(m, bad[i].path, NULL, NULL, NULL, NULL));
        expect_msg(bad[i].msg);
        assert_int_equal(ZKC_EBADPATH, zkc_create(m, bad[i].path, NULL, 0, 0, NULL, NULL));
        expect_msg(bad[i].msg);
    }
    /* Paths the dispatcher itself refuses. */
    assert_int_equal(ZKC_EBADPATH, zkc_get(m, "/zk//x", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_EBADPATH, zkc_get(m, "/zk/", NULL, NULL, NULL, NULL));
    assert_int_equal(ZKC_EBADPATH, zkc_get(m, "zk/nyc", NULL, NULL, NULL, NULL));

    /* A cell without an address. */
    assert_int_equal(ZKC_ENOCELL, zkc_get(m, "/zk/lon/x", NULL, NULL, NULL, NULL));
    expect_msg("no addr found for zk cell: \"lon\"");
    /* A cell that does not answer: the dial's error, naming the cell. */
    assert_int_equal(ZKC_ECONNECT, zkc_get(m, "/zk/down/x", NULL, NULL, NULL, NULL));
    expect_msg("cell down: dial fake:down: connection refused by fake:down");
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

typedef struct mwait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int rc;
    zkc_op op;
    char path[256];
    char created[4][256];
    size_t nops;
} mwait;

static void mwait_done(const zkc_result *res, void *ud)
{
    mwait *mw = ud;
    pthread_mutex_lock(&mw->lock);
    mw->rc = res->rc;
    mw->op = res->op;
    snprintf(mw->path, sizeof mw->path, "%s", res->path);
    mw->nops = res->ops != NULL ? res->nops : (size_t)-1;
    for (size_t i = 0; res->ops != NULL && i < res->nops && i < 4; i++)
        snprintf(mw->created[i], sizeof mw->created[i], "%s",
                 res->ops[i].created_path != NULL ? res->ops[i].created_path : "");
    mw->done = true;
    pthread_cond_signal(&mw->cond);
    pthread_mutex_unlock(&mw->lock);
}

static void mwait_run(zkc_conn *m, const zkc_request *ops, size_t n, mwait *mw)
{
    memset(mw, 0, sizeof *mw);
    pthread_mutex_init(&mw->lock, NULL);
    pthread_cond_init(&mw->cond, NULL);
    OK(zkc_amulti(m, ops, n, mwait_done, mw));
    pthread_mutex_lock(&mw->lock);
    while (!mw->done)
        pthread_cond_wait(&mw->cond, &mw->lock);
    pthread_mutex_unlock(&mw->lock);
    pthread_mutex_destroy(&mw->lock);
    pthread_cond_destroy(&mw->cond);
}

static void test_multi_routing(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    zkc_request ops[] = {
        MCREATE("/zk/sfo/m", 0),
        MCREATE("/zk/sfo/m/s-", ZKC_SEQUENCE),
        {.op = ZKC_OP_SET, .path = "/zk/sfo/m", .data = "v", .data_len = 1, .version = 0},
        MCHECK("/zk/sfo/m", 1),
    };
    zkc_multi_results *r = NULL;
    OK(zkc_multi(m, ops, 4, &r));
    assert_non_null(r);
    assert_int_equal(4, r->count);
    assert_string_equal("/zk/sfo/m", r->v[0].created_path);
    assert_string_equal("/zk/sfo/m/s-0000000000", r->v[1].created_path);
    assert_non_null(r->v[2].stat);
    assert_int_equal(1, r->v[2].stat->version);
    assert_int_equal(ZKC_OK, r->v[3].rc);
    zkc_free(r);
    assert_true(exists_in(w, SFO, "/zk/sfo/m/s-0000000000"));
    assert_false(exists_in(w, NYC, "/zk/sfo/m"));
    assert_int_equal(0, dials(w, NYC));

    /* /zk/local rewritten on the way in, and back in the results; the
     * real name of the cell may be mixed in. */
    zkc_request loc[] = {
        MCREATE("/zk/local/lm", 0),
        MCREATE("/zk/nyc/lm/n", 0),
        MCREATE("/zk/local/lm/s-", ZKC_SEQUENCE),
        MCHECK("/zk/local/lm", 0),
    };
    mwait mw;
    mwait_run(m, loc, 4, &mw);
    assert_int_equal(ZKC_OK, mw.rc);
    assert_int_equal(ZKC_OP_MULTI, mw.op);
    assert_string_equal("/zk/local/lm", mw.path);
    assert_int_equal(4, mw.nops);
    assert_string_equal("/zk/local/lm", mw.created[0]);
    assert_string_equal("/zk/nyc/lm/n", mw.created[1]);
    assert_string_equal("/zk/local/lm/s-0000000001", mw.created[2]);
    assert_string_equal("", mw.created[3]);
    assert_true(exists_in(w, NYC, "/zk/nyc/lm/n"));
    assert_true(exists_in(w, NYC, "/zk/nyc/lm/s-0000000001"));
    assert_int_equal(1, dials(w, NYC)); /* local and nyc: one session */

    /* Refused: the cell's per-operation codes; the message names the
     * operation as the caller gave it. */
    zkc_request bad[] = {MCREATE("/zk/local/lm2", 0), MCHECK("/zk/local/nope", -1)};
    r = NULL;
    assert_int_equal(ZKC_ENONODE, zkc_multi(m, bad, 2, &r));
    expect_msg("operation 1 (check /zk/local/nope)");
    assert_non_null(r);
    assert_int_equal(2, r->count);
    assert_int_equal(ZKC_OK, r->v[0].rc);
    assert_int_equal(ZKC_ENONODE, r->v[1].rc);
    assert_null(r->v[0].created_path);
    zkc_free(r);
    assert_false(exists_in(w, NYC, "/zk/nyc/lm2"));

    /* Empty: succeeds without any cell. */
    OK(zkc_multi(m, NULL, 0, &r));
    assert_non_null(r);
    assert_int_equal(0, r->count);
    zkc_free(r);
    mwait_run(m, NULL, 0, &mw);
    assert_int_equal(ZKC_OK, mw.rc);
    assert_string_equal("/", mw.path);
    assert_int_equal(0, mw.nops);

    /* Batched recursive deletes now go through the router's multi. */
    OK(zkc_delete_recursive(m, "/zk/local/lm", -1));
    assert_false(exists_in(w, NYC, "/zk/nyc/lm"));
}

static void test_multi_cross_cell(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    zkc_request two[] = {MCREATE("/zk/nyc/x", 0), MCHECK("/zk/nyc", -1),
                         MCREATE("/zk/sfo/x", 0)};
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_multi(m, two, 3, NULL));
    expect_msg("operation 0 (create /zk/nyc/x) is for cell nyc and operation 2 (create "
               "/zk/sfo/x) for cell sfo");
    /* local resolved first: the message names the real cell. */
    zkc_request loc[] = {MCREATE("/zk/local/x", 0), MCREATE("/zk/global/x", 0)};
    mwait mw = {.done = false};
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_amulti(m, loc, 2, mwait_done, &mw));
    expect_msg("(create /zk/local/x) is for cell nyc");
    expect_msg("(create /zk/global/x) for cell global");
    assert_false(mw.done);
    /* A path the router cannot route. */
    zkc_request unroutable[] = {MCREATE("/zk/nyc/x", 0), MCHECK("/other", -1)};
    assert_int_equal(ZKC_EBADPATH, zkc_multi(m, unroutable, 2, NULL));
    expect_msg("operation 1 (check /other)");
    expect_msg("path should start with /zk/");
    zkc_request nocell[] = {MCHECK("/zk", -1)};
    assert_int_equal(ZKC_EBADPATH, zkc_multi(m, nocell, 1, NULL));
    /* Nothing was sent anywhere. */
    assert_false(exists_in(w, NYC, "/zk/nyc/x"));
    assert_false(exists_in(w, SFO, "/zk/sfo/x"));
    assert_false(exists_in(w, GLOBAL, "/zk/global/x"));
    assert_int_equal(0, dials(w, SFO));
    assert_int_equal(0, dials(w, GLOBAL));
}

static void test_multi_no_retry_after_loss(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    zkc_stat st;
    OK(zkc_create(m, "/zk/sfo/t", NULL, 0, 0, NULL, NULL));

    /* Applied, reply lost: never sent again (a repeat would have met
     * ZKC_ENODEEXISTS); the caller hears it may have been applied. */
    inject(w, "sfo", ZKC_FAKE_LOSS_AFTER, 1);
    zkc_request ops[] = {MCREATE("/zk/sfo/t/a", 0),
                         {.op = ZKC_OP_SET, .path = "/zk/sfo/t", .version = -1}};
    zkc_multi_results *r = (zkc_multi_results *)1;
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_multi(m, ops, 2, &r));
    assert_null(r);
    expect_msg("may or may not have been applied");
    expect_msg("never repeated");
    assert_true(exists_in(w, SFO, "/zk/sfo/t/a"));
    OK(zkc_exists(w->direct[SFO], "/zk/sfo/t", NULL, &st, NULL));
    assert_int_equal(1, st.version); /* the set, once */

    /* Lost before it was applied: not repeated either (the router cannot
     * tell), and nothing happened. */
    inject(w, "sfo", ZKC_FAKE_LOSS_BEFORE, 1);
    zkc_request ops2[] = {MCREATE("/zk/sfo/t/b", 0)};
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_multi(m, ops2, 1, NULL));
    assert_false(exists_in(w, SFO, "/zk/sfo/t/b"));

    /* Versions are no excuse: a versioned multi is not repeated. */
    inject(w, "sfo", ZKC_FAKE_LOSS_AFTER, 1);
    zkc_request ops3[] = {{.op = ZKC_OP_DELETE, .path = "/zk/sfo/t/a", .version = 0}};
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_multi(m, ops3, 1, NULL));
    assert_false(exists_in(w, SFO, "/zk/sfo/t/a"));

    /* Checks only: retried like reads, through a lost request and a
     * lost reply. */
    zkc_request checks[] = {MCHECK("/zk/sfo/t", 1), MCHECK("/zk/sfo", -1)};
    inject(w, "sfo", ZKC_FAKE_LOSS_BEFORE, 2);
    OK(zkc_multi(m, checks, 2, &r));
    assert_int_equal(2, r->count);
    zkc_free(r);
    inject(w, "sfo", ZKC_FAKE_LOSS_AFTER, 1);
    OK(zkc_multi(m, checks, 2, NULL));
    /* ...until the attempts run out. */
    inject(w, "sfo", ZKC_FAKE_LOSS_BEFORE, 100);
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_multi(m, checks, 2, NULL));
    expect_msg("gave up after 5 attempts on cell sfo");
    inject(w, "sfo", ZKC_FAKE_LOSS_BEFORE, 0);
}

/* ---- fresh cells: a server without /zk ---- */

static void drop_zk(world *w, int cell)
{
    char p[64];
    snprintf(p, sizeof p, "/zk/%s", cell_names[cell]);
    OK(zkc_delete_recursive(w->direct[cell], p, -1));
    OK(zkc_delete(w->direct[cell], "/zk", -1));
}

static void test_fresh_cell(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    char *p = NULL;
    drop_zk(w, SFO);
    OK(zkc_create(m, "/zk/sfo", "c", 1, 0, NULL, &p));
    assert_string_equal("/zk/sfo", p);
    zkc_free(p);
    assert_true(exists_in(w, SFO, "/zk/sfo"));
    /* /zk as zkc_create_recursive makes folders. */
    zkc_acl_list *acl = NULL;
    zkc_stat st;
    OK(zkc_get_acl(w->direct[SFO], "/zk", &acl, &st));
    assert_int_equal(1, acl->count);
    assert_int_equal(ZKC_PERM_DIRECTORY, acl->v[0].perms);
    assert_string_equal("world", acl->v[0].scheme);
    assert_int_equal(0, st.data_length);
    assert_int_equal(0, st.ephemeral_owner);
    zkc_acl_list_free(acl);
    /* Only once /zk is missing: an existing /zk/sfo is just that. */
    assert_int_equal(ZKC_ENODEEXISTS, zkc_create(m, "/zk/sfo", NULL, 0, 0, NULL, NULL));

    /* Recursively, through "local" too. */
    drop_zk(w, SFO);
    OK(zkc_create_recursive(m, "/zk/sfo/a/b", "x", 1, 0, NULL, &p));
    assert_string_equal("/zk/sfo/a/b", p);
    zkc_free(p);
    assert_true(exists_in(w, SFO, "/zk/sfo/a/b"));
    drop_zk(w, NYC);
    OK(zkc_create_recursive(m, "/zk/local/q/r", NULL, 0, 0, NULL, &p));
    assert_string_equal("/zk/local/q/r", p);
    zkc_free(p);
    assert_true(exists_in(w, NYC, "/zk/nyc/q/r"));
    drop_zk(w, NYC);
    OK(zkc_create(m, "/zk/local", NULL, 0, 0, NULL, &p));
    assert_string_equal("/zk/local", p);
    zkc_free(p);

    /* In a multi, as the operation that refused it. */
    drop_zk(w, GLOBAL);
    zkc_request ops[] = {MCREATE("/zk/global", 0), MCREATE("/zk/global/k", 0)};
    zkc_multi_results *r = NULL;
    OK(zkc_multi(m, ops, 2, &r));
    assert_string_equal("/zk/global/k", r->v[1].created_path);
    zkc_free(r);
    assert_true(exists_in(w, GLOBAL, "/zk/global/k"));

    /* Deeper paths on a fresh server are ordinary ZKC_ENONODE, and /zk
     * stays unroutable. */
    drop_zk(w, SFO);
    assert_int_equal(ZKC_ENONODE, zkc_create(m, "/zk/sfo/a", NULL, 0, 0, NULL, NULL));
    assert_false(exists_in(w, SFO, "/zk"));
    assert_int_equal(ZKC_EBADPATH, zkc_create(m, "/zk", NULL, 0, 0, NULL, NULL));

    /* /zk cannot be made: that error, explained. */
    OK(zkc_set_acl(w->direct[SFO], "/", zkc_acl_world(ZKC_PERM_READ | ZKC_PERM_ADMIN), -1));
    assert_int_equal(ZKC_ENOAUTH, zkc_create(m, "/zk/sfo", NULL, 0, 0, NULL, NULL));
    expect_msg("cell sfo's server has no /zk; creating it failed");
    assert_false(exists_in(w, SFO, "/zk"));
    assert_int_equal(ZKC_ENOAUTH, zkc_create_recursive(m, "/zk/sfo/a/b", NULL, 0, 0, NULL, NULL));
    OK(zkc_set_acl(w->direct[SFO], "/", zkc_acl_world(ZKC_PERM_ALL), -1));

    /* Lost replies on the way (the create's, then its existence
     * check's): the router finds the node missing, meets the missing /zk,
     * makes it, and creates once. */
    inject(w, "sfo", ZKC_FAKE_LOSS_AFTER, 2);
    OK(zkc_create(m, "/zk/sfo", NULL, 0, 0, NULL, NULL));
    assert_true(exists_in(w, SFO, "/zk/sfo"));
    drop_zk(w, SFO);
    inject(w, "sfo", ZKC_FAKE_LOSS_BEFORE, 1);
    OK(zkc_create(m, "/zk/sfo", NULL, 0, 0, NULL, NULL));
    /* With /zk there, an ordinary create. */
    OK(zkc_delete(w->direct[SFO], "/zk/sfo", -1));
    OK(zkc_create(m, "/zk/sfo", NULL, 0, 0, NULL, NULL));
}

/* ---- retries ---- */

static void test_read_retries(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    OK(zkc_create(w->direct[NYC], "/zk/nyc/r", "v", 1, 0, NULL, NULL));
    /* Two lost requests, then success: the reader never sees them. */
    inject(w, "nyc", ZKC_FAKE_LOSS_BEFORE, 2);
    char *data = NULL;
    OK(zkc_get(m, "/zk/nyc/r", &data, NULL, NULL, NULL));
    assert_string_equal("v", data);
    zkc_free(data);
    inject(w, "nyc", ZKC_FAKE_LOSS_AFTER, 2);
    zkc_strings *kids = NULL;
    OK(zkc_children(m, "/zk/nyc", &kids, NULL, NULL));
    zkc_strings_free(kids);
    inject(w, "nyc", ZKC_FAKE_LOSS_AFTER, 1);
    bool e = false;
    zkc_watch *wa = NULL;
    OK(zkc_exists(m, "/zk/local/r", &e, NULL, &wa));
    assert_true(e);
    inject(w, "nyc", ZKC_FAKE_LOSS_BEFORE, 1);
    zkc_acl_list *acl = NULL;
    OK(zkc_get_acl(m, "/zk/nyc/r", &acl, NULL));
    zkc_acl_list_free(acl);
    /* The watch set by the retried exists works and names our path. */
    OK(zkc_set(w->direct[NYC], "/zk/nyc/r", "w", 1, -1, NULL));
    OK(zkc_watch_wait(wa, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(wa)->type);
    assert_string_equal("/zk/local/r", zkc_watch_event(wa)->path);
    zkc_watch_free(wa);

    /* More losses than attempts: the loss is reported, with the count. */
    inject(w, "nyc", ZKC_FAKE_LOSS_BEFORE, 100);
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_get(m, "/zk/nyc/r", NULL, NULL, NULL, NULL));
    expect_msg("gave up after 5 attempts");
    expect_msg("/zk/nyc/r");
    inject(w, "nyc", ZKC_FAKE_LOSS_BEFORE, 0);
    OK(zkc_get(m, "/zk/nyc/r", NULL, NULL, NULL, NULL));
}

typedef struct resumer {
    world *w;
    int after_ms;
} resumer;

static void *resume_later(void *arg)
{
    resumer *r = arg;
    zkc_sleep(r->after_ms, NULL);
    inject(r->w, "nyc", ZKC_FAKE_SUSPEND, 0);
    return NULL;
}

static void test_retry_through_outage(void **state)
{
    world *w = *state;
    /* Retries without end, so that the outage's length (a thread's
     * sleep, stretched by the machine's load) cannot outlast them. */
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    mo.backoff_min_ms = 5;
    mo.backoff_max_ms = 20;
    mo.max_attempts = 1000000;
    mo.retry_budget_ms = -1;
    zkc_conn *setup_meta = w->meta;
    zkc_conn *m = w->meta = new_meta(w, &mo); /* inject() acts on w->meta */
    OK(zkc_create(w->direct[NYC], "/zk/nyc/o", "v", 1, 0, NULL, NULL));
    OK(zkc_get(m, "/zk/nyc/o", NULL, NULL, NULL, NULL)); /* dialed */
    inject(w, "nyc", ZKC_FAKE_SUSPEND, 1);
    resumer r = {w, 30};
    pthread_t t;
    pthread_create(&t, NULL, resume_later, &r);
    int64_t t0 = zkc_impl_now_ms();
    OK(zkc_get(m, "/zk/nyc/o", NULL, NULL, NULL, NULL));
    assert_true(zkc_impl_now_ms() - t0 >= 20);
    pthread_join(t, NULL);
    /* Meanwhile other cells were not held up: checked by the next test;
     * here the cell is back. */
    assert_int_equal(1, dials(w, NYC));
    w->meta = setup_meta;
    zkc_conn_close(m);
}

typedef struct counter {
    int rc;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n;
} counter;

static void on_done_count(const zkc_result *res, void *ud)
{
    counter *e = ud;
    pthread_mutex_lock(&e->lock);
    if (res->rc != ZKC_OK)
        e->rc = res->rc;
    e->n++;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
    zkc_watch_free(res->watch);
}

static void counter_wait(counter *e, int n)
{
    pthread_mutex_lock(&e->lock);
    while (e->n < n)
        pthread_cond_wait(&e->cond, &e->lock);
    pthread_mutex_unlock(&e->lock);
}

static int counter_n(counter *e)
{
    pthread_mutex_lock(&e->lock);
    int n = e->n;
    pthread_mutex_unlock(&e->lock);
    return n;
}

#define COUNTER_INIT {ZKC_OK, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0}

static void test_retry_does_not_block_others(void **state)
{
    world *w = *state;
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    /* A retry ten minutes away (5..10): anything that waited for it
     * would run into the test's timeout, so no clock is read here. */
    mo.backoff_min_ms = 600000;
    mo.backoff_max_ms = 600000;
    mo.retry_budget_ms = -1;
    mo.threads = 1;
    zkc_conn *m = new_meta(w, &mo);
    OK(zkc_create(w->direct[SFO], "/zk/sfo/q", NULL, 0, 0, NULL, NULL));
    OK(zkc_get(m, "/zk/nyc", NULL, NULL, NULL, NULL));
    OK(zkc_get(m, "/zk/sfo", NULL, NULL, NULL, NULL));
    zkc_conn *c = NULL;
    OK(zkc_conn_cache_get(zkc_meta_cache(m), "nyc", &c));
    OK(zkc_fake_inject(c, ZKC_FAKE_LOSS_BEFORE, 1));
    zkc_conn_cache_release(zkc_meta_cache(m), c);

    /* This get loses its first attempt and waits for its retry. */
    counter e = COUNTER_INIT;
    OK(zkc_aget(m, "/zk/nyc", 0, on_done_count, &e));
    /* Meanwhile other cells answer, and so does the same cell (no
     * completion thread is blocked by the pending retry). */
    OK(zkc_get(m, "/zk/sfo/q", NULL, NULL, NULL, NULL));
    OK(zkc_get(m, "/zk/nyc", NULL, NULL, NULL, NULL));
    assert_int_equal(0, counter_n(&e));
    /* A close does not wait for the retry, and completes the get. */
    zkc_conn_close(m);
    assert_int_equal(1, counter_n(&e));
    assert_int_not_equal(ZKC_OK, e.rc);
}

/* A change for RetryChange: one "x" more; the write that follows loses
 * its reply after it is applied. */
typedef struct append_ctx {
    world *w;
    int calls;
} append_ctx;

static int append_x_lose(const char *old, size_t old_len, const zkc_stat *st, char **ret_new,
                         size_t *ret_len, void *ud)
{
    (void)st;
    append_ctx *x = ud;
    x->calls++;
    char *nv = malloc(old_len + 1);
    if (nv == NULL)
        return ZKC_ENOMEM;
    if (old_len > 0)
        memcpy(nv, old, old_len);
    nv[old_len] = 'x';
    *ret_new = nv;
    *ret_len = old_len + 1;
    inject(x->w, "nyc", ZKC_FAKE_LOSS_AFTER, 1);
    return ZKC_OK;
}

/* RetryChange through the router, the write's reply lost after it was
 * applied: the change is applied once, and the caller hears that the
 * outcome is unknown.  (A create used to come back ZKC_ENODEEXISTS, and
 * RetryChange read again and appended a second time.) */
static void test_retry_change_create_lost_reply(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    append_ctx x = {w, 0};
    assert_int_equal(ZKC_ECONNECTIONLOSS,
                     zkc_retry_change(m, "/zk/nyc/rc", 0, NULL, append_x_lose, &x, 0, NULL));
    expect_msg("may be the one that attempt made");
    assert_int_equal(1, x.calls);
    char *data = NULL;
    size_t len = 0;
    OK(zkc_get(w->direct[NYC], "/zk/nyc/rc", &data, &len, NULL, NULL));
    assert_int_equal(1, len);
    zkc_free(data);
    /* The set path: the repeat meets ZKC_EBADVERSION, which the lost
     * attempt caused: unknown, and never applied twice. */
    x.calls = 0;
    assert_int_equal(ZKC_ECONNECTIONLOSS,
                     zkc_retry_change(m, "/zk/nyc/rc", 0, NULL, append_x_lose, &x, 0, NULL));
    assert_int_equal(1, x.calls);
    OK(zkc_get(w->direct[NYC], "/zk/nyc/rc", &data, &len, NULL, NULL));
    assert_int_equal(2, len);
    zkc_free(data);
}

static void test_create_no_duplicates(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    zkc_strings *kids = NULL;
    char *p = NULL;
    OK(zkc_create(m, "/zk/nyc/c", NULL, 0, 0, NULL, NULL));

    /* Lost before it was applied: the router sees the node missing and
     * creates it, once. */
    inject(w, "nyc", ZKC_FAKE_LOSS_BEFORE, 1);
    OK(zkc_create(m, "/zk/nyc/c/plain", "x", 1, 0, NULL, &p));
    assert_string_equal("/zk/nyc/c/plain", p);
    zkc_free(p);
    assert_true(exists_in(w, NYC, "/zk/nyc/c/plain"));

    /* Applied, reply lost, persistent: the node is there, and may or
     * may not be ours: the outcome is unknown, ZKC_ECONNECTIONLOSS with
     * the explanation (ZKC_ENODEEXISTS would say it is someone else's). */
    inject(w, "nyc", ZKC_FAKE_LOSS_AFTER, 1);
    assert_int_equal(ZKC_ECONNECTIONLOSS,
                     zkc_create(m, "/zk/nyc/c/p2", "x", 1, 0, NULL, NULL));
    expect_msg("may be the one that attempt made");
    assert_true(exists_in(w, NYC, "/zk/nyc/c/p2"));

    /* Applied, reply lost, ephemeral: owned by our session, so ours. */
    inject(w, "nyc", ZKC_FAKE_LOSS_AFTER, 1);
    OK(zkc_create(m, "/zk/local/c/e1", NULL, 0, ZKC_EPHEMERAL, NULL, &p));
    assert_string_equal("/zk/local/c/e1", p);
    zkc_free(p);
    /* ...but an ephemeral someone else made is not. */
    OK(zkc_create(w->direct[NYC], "/zk/nyc/c/e2", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    inject(w, "nyc", ZKC_FAKE_LOSS_BEFORE, 1);
    assert_int_equal(ZKC_ENODEEXISTS,
                     zkc_create(m, "/zk/nyc/c/e2", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    expect_msg("an ephemeral of another session");

    /* The check itself losing its reply is retried too. */
    inject(w, "nyc", ZKC_FAKE_LOSS_BEFORE, 3);
    OK(zkc_create(m, "/zk/nyc/c/p3", NULL, 0, 0, NULL, NULL));

    OK(zkc_children(w->direct[NYC], "/zk/nyc/c", &kids, NULL, NULL));
    assert_int_equal(5, kids->count);
    zkc_strings_free(kids);

    /* Sequential: never repeated.  Lost after: one node, and the caller
     * hears of the uncertainty. */
    OK(zkc_create(m, "/zk/nyc/s", NULL, 0, 0, NULL, NULL));
    inject(w, "nyc", ZKC_FAKE_LOSS_AFTER, 1);
    assert_int_equal(ZKC_ECONNECTIONLOSS,
                     zkc_create(m, "/zk/nyc/s/n-", NULL, 0, ZKC_SEQUENCE, NULL, NULL));
    expect_msg("sequential create is never repeated");
    OK(zkc_children(w->direct[NYC], "/zk/nyc/s", &kids, NULL, NULL));
    assert_int_equal(1, kids->count);
    zkc_strings_free(kids);
    /* Lost before: none. */
    inject(w, "nyc", ZKC_FAKE_LOSS_BEFORE, 1);
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_create(m, "/zk/nyc/s/n-", NULL, 0,
                                                     ZKC_SEQUENCE | ZKC_EPHEMERAL, NULL, NULL));
    OK(zkc_children(w->direct[NYC], "/zk/nyc/s", &kids, NULL, NULL));
    assert_int_equal(1, kids->count);
    zkc_strings_free(kids);
}

static void test_write_retries(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    zkc_stat st;
    OK(zkc_create(m, "/zk/sfo/w", "0", 1, 0, NULL, NULL));

    /* Versioned set, lost before: retried, applied once. */
    inject(w, "sfo", ZKC_FAKE_LOSS_BEFORE, 2);
    OK(zkc_set(m, "/zk/sfo/w", "1", 1, 0, &st));
    assert_int_equal(1, st.version);

    /* Versioned set, lost after: the retry meets version 2 and cannot
     * tell whether that was us: connection loss, explained.  Applied
     * exactly once. */
    inject(w, "sfo", ZKC_FAKE_LOSS_AFTER, 1);
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_set(m, "/zk/sfo/w", "2", 1, 1, NULL));
    expect_msg("the earlier attempt may have been applied");
    OK(zkc_exists(w->direct[SFO], "/zk/sfo/w", NULL, &st, NULL));
    assert_int_equal(2, st.version);

    /* A genuine version conflict without any loss is just that. */
    assert_int_equal(ZKC_EBADVERSION, zkc_set(m, "/zk/sfo/w", "x", 1, 0, NULL));

    /* Unversioned writes are never repeated. */
    inject(w, "sfo", ZKC_FAKE_LOSS_BEFORE, 1);
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_set(m, "/zk/sfo/w", "3", 1, -1, NULL));
    expect_msg("a write without a version is never repeated");
    OK(zkc_exists(w->direct[SFO], "/zk/sfo/w", NULL, &st, NULL));
    assert_int_equal(2, st.version);
    inject(w, "sfo", ZKC_FAKE_LOSS_BEFORE, 1);
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_delete(m, "/zk/sfo/w", -1));
    inject(w, "sfo", ZKC_FAKE_LOSS_BEFORE, 1);
    assert_int_equal(ZKC_ECONNECTIONLOSS,
                     zkc_set_acl(m, "/zk/sfo/w", zkc_acl_world(ZKC_PERM_ALL), -1));
    assert_true(exists_in(w, SFO, "/zk/sfo/w"));

    /* Versioned set_acl: retried. */
    inject(w, "sfo", ZKC_FAKE_LOSS_BEFORE, 1);
    OK(zkc_set_acl(m, "/zk/sfo/w", zkc_acl_world(ZKC_PERM_FILE), 0));
    inject(w, "sfo", ZKC_FAKE_LOSS_AFTER, 1);
    assert_int_equal(ZKC_ECONNECTIONLOSS,
                     zkc_set_acl(m, "/zk/sfo/w", zkc_acl_world(ZKC_PERM_ALL), 1));
    OK(zkc_exists(w->direct[SFO], "/zk/sfo/w", NULL, &st, NULL));
    assert_int_equal(2, st.aversion);

    /* Versioned delete, lost after: gone, and the retry's "no node"
     * becomes the uncertain connection loss. */
    inject(w, "sfo", ZKC_FAKE_LOSS_AFTER, 1);
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_delete(m, "/zk/sfo/w", 2));
    expect_msg("may have been applied");
    assert_false(exists_in(w, SFO, "/zk/sfo/w"));
    /* Versioned delete, lost before: retried. */
    OK(zkc_create(m, "/zk/sfo/w", "0", 1, 0, NULL, NULL));
    inject(w, "sfo", ZKC_FAKE_LOSS_BEFORE, 1);
    OK(zkc_delete(m, "/zk/sfo/w", 0));
    assert_false(exists_in(w, SFO, "/zk/sfo/w"));
}

static void test_cancel_and_budget(void **state)
{
    world *w = *state;
    zkc_cancel *cancel = zkc_cancel_new();
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    mo.backoff_min_ms = 10;
    mo.backoff_max_ms = 10;
    mo.max_attempts = 1000;
    mo.cancel = cancel;
    mo.retry_budget_ms = 200;
    zkc_conn *m = new_meta(w, &mo);
    OK(zkc_get(m, "/zk/nyc", NULL, NULL, NULL, NULL));
    zkc_conn *c = NULL;
    OK(zkc_conn_cache_get(zkc_meta_cache(m), "nyc", &c));
    OK(zkc_fake_inject(c, ZKC_FAKE_SUSPEND, 1));

    /* The budget bounds the retries. */
    int64_t t0 = zkc_impl_now_ms();
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_get(m, "/zk/nyc", NULL, NULL, NULL, NULL));
    expect_msg("retry budget of 200 ms spent");
    assert_true(zkc_impl_now_ms() - t0 >= 150); /* no upper bound: the message says why it ended */

    /* A triggered token stops them. */
    zkc_cancel_trigger(cancel);
    assert_int_equal(ZKC_ECONNECTIONLOSS, zkc_get(m, "/zk/nyc", NULL, NULL, NULL, NULL));
    expect_msg("retries cancelled");

    OK(zkc_fake_inject(c, ZKC_FAKE_SUSPEND, 0));
    zkc_conn_cache_release(zkc_meta_cache(m), c);
    zkc_conn_close(m);
    zkc_cancel_free(cancel);
}

/* ---- sessions ---- */

static void test_expired_session_replaced(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    OK(zkc_create(m, "/zk/nyc/eph", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    OK(zkc_create(m, "/zk/nyc/keep", NULL, 0, 0, NULL, NULL));
    zkc_watch *wa = NULL;
    OK(zkc_get(m, "/zk/local/keep", NULL, NULL, NULL, &wa));
    assert_int_equal(1, dials(w, NYC));

    inject(w, "nyc", ZKC_FAKE_EXPIRE, 0);
    /* The watch ends with the expiry, reported on our path. */
    OK(zkc_watch_wait(wa, 5000, NULL));
    assert_int_equal(ZKC_EVENT_SESSION_EXPIRED, zkc_watch_event(wa)->type);
    assert_string_equal("/zk/local/keep", zkc_watch_event(wa)->path);
    zkc_watch_free(wa);
    assert_false(exists_in(w, NYC, "/zk/nyc/eph"));

    /* The next operation gets a new session. */
    OK(zkc_get(m, "/zk/nyc/keep", NULL, NULL, NULL, NULL));
    assert_int_equal(2, dials(w, NYC));
    OK(zkc_create(m, "/zk/local/eph", NULL, 0, ZKC_EPHEMERAL, NULL, NULL));
    /* Other cells were not touched. */
    OK(zkc_get(m, "/zk/sfo", NULL, NULL, NULL, NULL));
    assert_int_equal(1, dials(w, SFO));
}

static void test_read_retried_after_expiry(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    OK(zkc_create(m, "/zk/nyc/k", "v", 1, 0, NULL, NULL));
    zkc_conn *c = NULL;
    OK(zkc_conn_cache_get(zkc_meta_cache(m), "nyc", &c));
    /* Hold completions so a read is in flight when the session dies. */
    OK(zkc_fake_inject(c, ZKC_FAKE_DELAY, 100));
    counter e = COUNTER_INIT;
    OK(zkc_aget(m, "/zk/nyc/k", 0, on_done_count, &e));
    OK(zkc_fake_inject(c, ZKC_FAKE_EXPIRE, 0));
    OK(zkc_fake_inject(c, ZKC_FAKE_DELAY, 0));
    zkc_conn_cache_release(zkc_meta_cache(m), c);
    counter_wait(&e, 1);
    /* Either the read beat the expiry, or it was retried on a new one. */
    assert_int_equal(ZKC_OK, e.rc);
    /* And the cell works on its new session. */
    OK(zkc_get(m, "/zk/nyc/k", NULL, NULL, NULL, NULL));
}

/* ---- watches across cells ---- */

static void test_watches_across_cells(void **state)
{
    world *w = *state;
    zkc_conn *m = w->meta;
    OK(zkc_create(m, "/zk/nyc/wa", NULL, 0, 0, NULL, NULL));
    OK(zkc_create(m, "/zk/sfo/wa", NULL, 0, 0, NULL, NULL));
    zkc_watch *wn = NULL, *ws = NULL, *wg = NULL, *wl = NULL;
    OK(zkc_get(m, "/zk/nyc/wa", NULL, NULL, NULL, &wn));
    OK(zkc_children(m, "/zk/sfo/wa", NULL, NULL, &ws));
    OK(zkc_exists(m, "/zk/global/wa", NULL, NULL, &wg));
    OK(zkc_exists(m, "/zk/local/wa", NULL, NULL, &wl));

    OK(zkc_create(w->direct[SFO], "/zk/sfo/wa/kid", NULL, 0, 0, NULL, NULL));
    OK(zkc_watch_wait(ws, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CHILD, zkc_watch_event(ws)->type);
    assert_string_equal("/zk/sfo/wa", zkc_watch_event(ws)->path);
    assert_false(zkc_watch_fired(wn));
    assert_false(zkc_watch_fired(wg));

    OK(zkc_create(w->direct[GLOBAL], "/zk/global/wa", NULL, 0, 0, NULL, NULL));
    OK(zkc_watch_wait(wg, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CREATED, zkc_watch_event(wg)->type);

    OK(zkc_set(w->direct[NYC], "/zk/nyc/wa", "x", 1, -1, NULL));
    OK(zkc_watch_wait(wn, 5000, NULL));
    OK(zkc_watch_wait(wl, 5000, NULL));
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(wn)->type);
    assert_int_equal(ZKC_EVENT_CHANGED, zkc_watch_event(wl)->type);
    assert_string_equal("/zk/local/wa", zkc_watch_event(wl)->path);

    /* The wrapped watch's descriptor and callback work too. */
    zkc_watch *wf = NULL;
    OK(zkc_get(m, "/zk/local/wa", NULL, NULL, NULL, &wf));
    int fd = zkc_watch_fd(wf);
    assert_true(fd >= 0);
    OK(zkc_delete(w->direct[NYC], "/zk/nyc/wa", -1));
    OK(zkc_watch_wait(wf, 5000, NULL));
    assert_int_equal(ZKC_EVENT_DELETED, zkc_watch_event(wf)->type);

    zkc_watch_free(wn);
    zkc_watch_free(ws);
    zkc_watch_free(wg);
    zkc_watch_free(wl);
    zkc_watch_free(wf);

    /* Watches freed before they fire cost nothing later. */
    for (int i = 0; i < 50; i++) {
        zkc_watch *x = NULL;
        OK(zkc_exists(m, "/zk/local/never", NULL, NULL, &x));
        zkc_watch_free(x);
    }
}

/* ---- close ---- */

static void test_close(void **state)
{
    world *w = *state;
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    zkc_conn *m = new_meta(w, &mo);
    OK(zkc_create(m, "/zk/nyc/cl", NULL, 0, 0, NULL, NULL));
    zkc_watch *w1 = NULL, *w2 = NULL;
    OK(zkc_get(m, "/zk/nyc/cl", NULL, NULL, NULL, &w1));
    OK(zkc_exists(m, "/zk/local/cl-missing", NULL, NULL, &w2));
    counter e = COUNTER_INIT;
    enum { N = 200 };
    for (int i = 0; i < N; i++)
        OK(zkc_aget(m, i % 2 ? "/zk/nyc/cl" : "/zk/sfo", ZKC_WATCH, on_done_count, &e));
    /* Some of them wait for a cell that is being dialed slowly. */
    OK(zkc_aget(m, "/zk/global", 0, on_done_count, &e));
    zkc_conn_close(m);
    /* Everything completed by the time close returned. */
    assert_int_equal(N + 1, e.n);
    OK(zkc_watch_wait(w1, 0, NULL));
    assert_int_equal(ZKC_EVENT_CLOSED, zkc_watch_event(w1)->type);
    OK(zkc_watch_wait(w2, 0, NULL));
    assert_int_equal(ZKC_EVENT_CLOSED, zkc_watch_event(w2)->type);
    assert_string_equal("/zk/local/cl-missing", zkc_watch_event(w2)->path);
    zkc_watch_free(w1);
    zkc_watch_free(w2);
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
    world *w = *state;
    /* From a cell's completion thread, and from a router thread (the
     * known cells and routing errors complete there). */
    const char *paths[] = {"/zk/nyc", "/zk", "/zk/bad-cell", "/zk/lon"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        zkc_meta_opts mo = ZKC_META_OPTS_INIT;
        zkc_conn *m = new_meta(w, &mo);
        _Atomic(zkc_conn *) holder;
        atomic_init(&holder, m);
        if (i == 0)
            OK(zkc_get(m, "/zk/nyc", NULL, NULL, NULL, NULL));
        OK(zkc_achildren(m, paths[i], 0, close_in_done, (void *)&holder));
        for (int k = 0; k < 500 && atomic_load(&holder) != NULL; k++)
            zkc_sleep(10, NULL);
        assert_null(atomic_load(&holder));
    }
}

/* ---- the cache on its own ---- */

typedef struct getter_arg {
    zkc_conn_cache *cache;
    zkc_conn *got;
    int rc;
} getter_arg;

static void *getter(void *arg)
{
    getter_arg *a = arg;
    a->rc = zkc_conn_cache_get(a->cache, "sfo", &a->got);
    return NULL;
}

static void test_cache_one_dial_in_flight(void **state)
{
    world *w = *state;
    zkc_conn_cache *cache = new_cache(w, 50);
    w->dial_delay_ms = 100;
    enum { T = 8 };
    pthread_t t[T];
    getter_arg a[T];
    for (int i = 0; i < T; i++) {
        a[i] = (getter_arg){cache, NULL, -1};
        pthread_create(&t[i], NULL, getter, &a[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(t[i], NULL);
        OK(a[i].rc);
        assert_ptr_equal(a[0].got, a[i].got);
        zkc_conn_cache_release(cache, a[i].got);
    }
    assert_int_equal(1, dials(w, SFO));
    assert_int_equal(1, w->max_in_dial[SFO]);
    w->dial_delay_ms = 0;

    char *status = NULL;
    OK(zkc_conn_cache_status(cache, &status));
    assert_non_null(strstr(status, "\"sfo\":{\"dials\":1,\"failures\":0,"
                                   "\"state\":\"connected\"}"));
    zkc_free(status);
    assert_ptr_equal(w->cells, zkc_conn_cache_cells(cache));
    assert_false(zkc_conn_cache_zkocc(cache));
    zkc_conn_cache_free(cache);
}

static void test_cache_backoff(void **state)
{
    world *w = *state;
    /* Backoff is timing: the test's clock stands still until moved. */
    test_clock_start();
    /* Delays of 100 ms doubled up to 400, each drawn from its upper half:
     * 50..100 ms after the first failure, 100..200 after the second. */
    zkc_conn_cache *cache = new_cache(w, 100);
    zkc_conn *c = NULL;
    /* The first dial fails... */
    assert_int_equal(ZKC_ECONNECT, zkc_conn_cache_get(cache, "down", &c));
    expect_msg("cell down: dial fake:down: connection refused");
    assert_int_equal(1, dials(w, DOWN));
    /* ...and until the delay passes, callers get its error, no dial. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(ZKC_ECONNECT, zkc_conn_cache_get(cache, "down", &c));
        expect_msg("next dial in");
    }
    test_clock_advance(49);
    assert_int_equal(ZKC_ECONNECT, zkc_conn_cache_get(cache, "down", &c));
    expect_msg("(1 failed dial; next dial in");
    assert_int_equal(1, dials(w, DOWN));
    char *status = NULL;
    OK(zkc_conn_cache_status(cache, &status));
    assert_non_null(strstr(status, "\"state\":\"backoff\""));
    zkc_free(status);

    /* After it, one more dial; the next delay is longer. */
    test_clock_advance(51);
    assert_int_equal(ZKC_ECONNECT, zkc_conn_cache_get(cache, "down", &c));
    assert_int_equal(2, dials(w, DOWN));
    expect_msg("connection refused");
    test_clock_advance(99);
    assert_int_equal(ZKC_ECONNECT, zkc_conn_cache_get(cache, "down", &c));
    expect_msg("2 failed dials");
    assert_int_equal(2, dials(w, DOWN));
    test_clock_advance(101);
    assert_int_equal(ZKC_ECONNECT, zkc_conn_cache_get(cache, "down", &c));
    assert_int_equal(3, dials(w, DOWN));

    /* A cell that comes back is used after the delay; success resets. */
    w->tree[DOWN] = zkc_fake_tree_new();
    assert_int_equal(ZKC_ECONNECT, zkc_conn_cache_get(cache, "down", &c));
    assert_int_equal(3, dials(w, DOWN));
    test_clock_advance(400);
    OK(zkc_conn_cache_get(cache, "down", &c));
    zkc_conn_cache_release(cache, c);
    OK(zkc_conn_cache_get(cache, "down", &c));
    zkc_conn_cache_release(cache, c);
    assert_int_equal(4, dials(w, DOWN));

    /* Unknown cells are not dialed, and not held back. */
    assert_int_equal(ZKC_ENOCELL, zkc_conn_cache_get(cache, "lon", &c));
    assert_int_equal(ZKC_EBADPATH, zkc_conn_cache_get(cache, "a-b", &c));
    assert_int_equal(ZKC_EBADPATH, zkc_conn_cache_get_path(cache, "/zk//x", &c));
    OK(zkc_conn_cache_get_path(cache, "/zk/local/x", &c));
    zkc_conn_cache_release(cache, c);
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_conn_cache_get(NULL, "nyc", &c));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_conn_cache_new(NULL, NULL, &cache));
    zkc_conn_cache_free(cache);
    zkc_conn_cache_free(NULL);
    zkc_conn_cache_release(NULL, NULL);
}

static void test_cache_waiters_share_failure(void **state)
{
    world *w = *state;
    /* Ten minutes of backoff after the failed dial: a caller that waited
     * for a second dial would run into the test's timeout. */
    zkc_conn_cache *cache = new_cache(w, 600000);
    w->fail[SFO] = true;
    w->dial_delay_ms = 100;
    enum { T = 6 };
    pthread_t t[T];
    getter_arg a[T];
    int64_t t0 = zkc_impl_now_ms();
    for (int i = 0; i < T; i++) {
        a[i] = (getter_arg){cache, NULL, -1};
        pthread_create(&t[i], NULL, getter, &a[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(ZKC_ECONNECT, a[i].rc);
    }
    /* One dial for all of them, and nobody waited for a second. */
    assert_int_equal(1, dials(w, SFO));
    assert_true(zkc_impl_now_ms() - t0 >= 100); /* they waited for the one dial */
    w->fail[SFO] = false;
    w->dial_delay_ms = 0;
    zkc_conn_cache_free(cache);
}

static void test_cache_expired_and_close(void **state)
{
    world *w = *state;
    zkc_conn_cache *cache = new_cache(w, 50);
    zkc_conn *c1 = NULL, *c2 = NULL, *c3 = NULL;
    OK(zkc_conn_cache_get(cache, "nyc", &c1));
    assert_true(zkc_conn_cache_try(cache, "nyc", &c3));
    assert_ptr_equal(c1, c3);
    zkc_conn_cache_release(cache, c3);
    assert_false(zkc_conn_cache_try(cache, "sfo", &c3));
    assert_false(zkc_conn_cache_try(cache, "local", &c3)); /* real names only */
    OK(zkc_fake_inject(c1, ZKC_FAKE_EXPIRE, 0));
    assert_false(zkc_conn_cache_try(cache, "nyc", &c3));
    /* Replaced, while the holder of the old one may still use it. */
    OK(zkc_conn_cache_get(cache, "nyc", &c2));
    assert_true(c1 != c2);
    assert_int_equal(ZKC_STATE_CONNECTED, zkc_conn_state(c2));
    assert_int_equal(ZKC_ESESSIONEXPIRED, zkc_get(c1, "/zk", NULL, NULL, NULL, NULL));
    zkc_conn_cache_release(cache, c1); /* closed now */
    assert_int_equal(2, dials(w, NYC));

    /* Close: later gets fail, held connections close on release. */
    zkc_conn_cache_close(cache);
    zkc_conn_cache_close(cache); /* idempotent */
    assert_int_equal(ZKC_ECLOSED, zkc_conn_cache_get(cache, "sfo", &c3));
    expect_msg("cell sfo: the connection cache is closed");
    assert_false(zkc_conn_cache_try(cache, "nyc", &c3));
    OK(zkc_get(c2, "/zk/nyc", NULL, NULL, NULL, NULL)); /* still ours */
    zkc_conn_cache_release(cache, c2);
    zkc_conn_cache_free(cache);
}

typedef struct async_done {
    pthread_mutex_t lock;
    int rc;
    bool done;
} async_done;

static void on_async_done(const zkc_result *res, void *ud)
{
    async_done *a = ud;
    pthread_mutex_lock(&a->lock);
    a->rc = res->rc;
    a->done = true;
    pthread_mutex_unlock(&a->lock);
}

/* max_conns: the least recently used connection nobody holds is closed
 * before a dial past the bound; a held one, or one with a router
 * operation in flight, is not. */
static void test_cache_max_conns(void **state)
{
    world *w = *state;
    zkc_conn_cache_opts co = ZKC_CONN_CACHE_OPTS_INIT;
    co.dial = fake_dial;
    co.dial_ud = w;
    co.max_conns = -1;
    zkc_conn_cache *cache = NULL;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_conn_cache_new(w->cells, &co, &cache));
    co.max_conns = 2;
    OK(zkc_conn_cache_new(w->cells, &co, &cache));
    zkc_conn *c = NULL, *held = NULL;
    OK(zkc_conn_cache_get(cache, "nyc", &c));
    zkc_conn_cache_release(cache, c);
    OK(zkc_conn_cache_get(cache, "sfo", &c));
    zkc_conn_cache_release(cache, c);
    OK(zkc_conn_cache_get(cache, "global", &held));
    assert_false(zkc_conn_cache_try(cache, "nyc", &c)); /* the least recent: closed */
    assert_true(zkc_conn_cache_try(cache, "sfo", &c));
    zkc_conn_cache_release(cache, c);
    OK(zkc_conn_cache_get(cache, "nyc", &c)); /* sfo goes: global is held */
    assert_int_equal(2, dials(w, NYC));
    assert_false(zkc_conn_cache_try(cache, "sfo", &c));
    assert_true(zkc_conn_cache_try(cache, "global", &c));
    zkc_conn_cache_release(cache, c);
    assert_int_equal(1, dials(w, GLOBAL));
    zkc_conn_cache_release(cache, held);
    OK(zkc_conn_cache_get(cache, "nyc", &c));
    zkc_conn_cache_release(cache, c);
    zkc_conn_cache_free(cache);

    /* Through the router, bound 1: an operation in flight on nyc keeps
     * nyc open while sfo is dialed. */
    co.max_conns = 1;
    OK(zkc_conn_cache_new(w->cells, &co, &cache));
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    zkc_conn *m = NULL;
    OK(zkc_meta_open(cache, &mo, &m));
    bool e = false;
    OK(zkc_exists(m, "/zk/nyc", &e, NULL, NULL));
    int nyc_dials = dials(w, NYC);
    assert_true(zkc_conn_cache_try(cache, "nyc", &c));
    OK(zkc_fake_inject(c, ZKC_FAKE_DELAY, 300));
    uint64_t sent = 0, now = 0;
    OK(zkc_fake_ops(c, &sent, NULL));
    now = sent;
    async_done a = {.rc = 1};
    pthread_mutex_init(&a.lock, NULL);
    OK(zkc_aget(m, "/zk/nyc", 0, on_async_done, &a));
    /* In flight on nyc before sfo is asked for: the get may have gone
     * through the router's queue (a router thread can still be busy with
     * nyc's queue after the exists), and sent a moment later. */
    for (int i = 0; i < 3000 && now == sent; i++) {
        OK(zkc_fake_ops(c, &now, NULL));
        if (now == sent)
            zkc_sleep(1, NULL);
    }
    assert_true(now > sent);
    zkc_conn_cache_release(cache, c);
    OK(zkc_exists(m, "/zk/sfo", &e, NULL, NULL));
    assert_true(e);
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&a.lock);
        bool done = a.done;
        pthread_mutex_unlock(&a.lock);
        if (done)
            break;
        zkc_sleep(10, NULL);
    }
    assert_true(a.done);
    assert_int_equal(ZKC_OK, a.rc);
    assert_int_equal(nyc_dials, dials(w, NYC));
    assert_true(zkc_conn_cache_try(cache, "nyc", &c)); /* never closed */
    zkc_conn_cache_release(cache, c);
    zkc_conn_close(m);
    pthread_mutex_destroy(&a.lock);
}

/* Each failure of the constructors sets a message of its own, not the
 * one a previous call left. */
#define STALE(call, rc, want)                                                                      \
    do {                                                                                           \
        zkc_impl_set_errmsg("stale");                                                              \
        assert_int_equal((rc), (call));                                                            \
        if (strstr(zkc_errmsg(), (want)) == NULL)                                                  \
            fail_msg("%s: message '%s' lacks '%s'", #call, zkc_errmsg(), (want));                  \
    } while (0)

static void test_open_errors_set_message(void **state)
{
    world *w = *state;
    zkc_conn_cache *c = NULL;
    zkc_conn *m = NULL;
    STALE(zkc_conn_cache_new(NULL, NULL, &c), ZKC_EBADARGUMENTS, "zkc_conn_cache_new: cells");
    STALE(zkc_conn_cache_new(w->cells, NULL, NULL), ZKC_EBADARGUMENTS, "ret_cache");
    zkc_conn_cache_opts co = ZKC_CONN_CACHE_OPTS_INIT;
    co.max_conns = -1;
    STALE(zkc_conn_cache_new(w->cells, &co, &c), ZKC_EBADARGUMENTS, "bad options");
    co = (zkc_conn_cache_opts)ZKC_CONN_CACHE_OPTS_INIT;
    co.version = 2;
    STALE(zkc_conn_cache_new(w->cells, &co, &c), ZKC_EBADARGUMENTS, "version 2");
    assert_null(c);

    STALE(zkc_meta_open(NULL, NULL, &m), ZKC_EBADARGUMENTS, "zkc_meta_open: cache");
    OK(zkc_conn_cache_new(w->cells, NULL, &c));
    STALE(zkc_meta_open(c, NULL, NULL), ZKC_EBADARGUMENTS, "ret_conn"); /* frees c */
    zkc_meta_opts mo = ZKC_META_OPTS_INIT;
    mo.threads = 1000;
    OK(zkc_conn_cache_new(w->cells, NULL, &c));
    STALE(zkc_meta_open(c, &mo, &m), ZKC_EBADARGUMENTS, "threads 1000");
    mo = (zkc_meta_opts)ZKC_META_OPTS_INIT;
    mo.backoff_min_ms = -1;
    OK(zkc_conn_cache_new(w->cells, NULL, &c));
    STALE(zkc_meta_open(c, &mo, &m), ZKC_EBADARGUMENTS, "bad options");
    assert_null(m);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_routing),
        T(test_local),
        T(test_known_cells_and_bad_paths),
        T(test_multi_routing),
        T(test_multi_cross_cell),
        T(test_multi_no_retry_after_loss),
        T(test_fresh_cell),
        T(test_read_retries),
        T(test_retry_through_outage),
        T(test_retry_does_not_block_others),
        T(test_create_no_duplicates),
        T(test_retry_change_create_lost_reply),
        T(test_write_retries),
        T(test_cancel_and_budget),
        T(test_expired_session_replaced),
        T(test_read_retried_after_expiry),
        T(test_watches_across_cells),
        T(test_close),
        T(test_close_from_completion),
        T(test_cache_one_dial_in_flight),
        T(test_cache_backoff),
        T(test_cache_waiters_share_failure),
        T(test_cache_expired_and_close),
        T(test_cache_max_conns),
        T(test_open_errors_set_message),
    };
#undef T
    return cmocka_run_group_tests_name("meta", tests, NULL, NULL);
}
