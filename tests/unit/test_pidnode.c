/*
 * CreatePidNode (pidnode.c) on the fake: created with a consistent ACL,
 * a stale node replaced, re-created after a delete and after the session
 * expires (on a connection that opens a new session), start-up errors
 * reported, and the node deleted when the handle is freed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "recipe_helpers.h"

#define PARENT "/zk/test/pids"
#define PID PARENT "/host1"

static int setup(void **state)
{
    fixture_setup(state);
    fixture *f = *state;
    assert_int_equal(ZKC_OK, zkc_create_recursive(f->admin, PARENT, NULL, 0, 0, NULL, NULL));
    return 0;
}

static const zkc_pidnode_opts fast = {1, NULL, 5, 20};

static uint32_t node_perms(zkc_conn *c, const char *path)
{
    zkc_acl_list *acl = NULL;
    if (zkc_get_acl(c, path, &acl, NULL) != ZKC_OK)
        return 0;
    uint32_t p = acl->count == 1 ? acl->v[0].perms : 0;
    zkc_acl_list_free(acl);
    return p;
}

static bool owned_by(zkc_conn *admin, const char *path, int64_t session)
{
    zkc_stat st;
    return node_exists(admin, path, &st) && st.ephemeral_owner == session;
}

static void test_create_and_free(void **state)
{
    fixture *f = *state;
    zkc_pidnode *p = NULL;
    assert_int_equal(ZKC_OK, zkc_pidnode_create(f->a, PID, "pid:1\n", 6, &fast, &p));
    zkc_stat st;
    assert_true(node_exists(f->admin, PID, &st));
    assert_int_equal(zkc_conn_session_id(f->a), st.ephemeral_owner);
    assert_int_equal(ZKC_PERM_FILE, node_perms(f->admin, PID));
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(ZKC_OK, zkc_get(f->admin, PID, &data, &len, NULL, NULL));
    assert_int_equal(6, len);
    assert_memory_equal("pid:1\n", data, 6);
    zkc_free(data);
    assert_int_equal(0, zkc_pidnode_recreated(p));
    zkc_pidnode_free(p);
    assert_false(node_exists(f->admin, PID, NULL));
    zkc_pidnode_free(NULL);
}

static void test_replaces_stale_node(void **state)
{
    fixture *f = *state;
    zkc_conn *old = NULL;
    assert_int_equal(ZKC_OK, zkc_fake_open(f->tree, &old));
    assert_int_equal(ZKC_OK, zkc_create(old, PID, "old", 3, ZKC_EPHEMERAL, NULL, NULL));
    zkc_pidnode *p = NULL;
    assert_int_equal(ZKC_OK, zkc_pidnode_create(f->a, PID, "new", 3, &fast, &p));
    assert_true(owned_by(f->admin, PID, zkc_conn_session_id(f->a)));
    zkc_pidnode_free(p);
    zkc_conn_close(old);
}

static void test_recreated_after_delete(void **state)
{
    fixture *f = *state;
    zkc_acl e = {ZKC_PERM_READ | ZKC_PERM_WRITE | ZKC_PERM_DELETE | ZKC_PERM_ADMIN,
                 (char *)"world", (char *)"anyone"};
    zkc_acl_list acl = {1, &e};
    zkc_pidnode_opts o = fast;
    o.acl = &acl;
    zkc_pidnode *p = NULL;
    assert_int_equal(ZKC_OK, zkc_pidnode_create(f->a, PID, "me", 2, &o, &p));
    for (unsigned i = 1; i <= 3; i++) {
        assert_int_equal(ZKC_OK, zkc_delete(f->admin, PID, -1));
        WAIT_FOR(zkc_pidnode_recreated(p) == i, 5000);
        assert_int_equal(i, zkc_pidnode_recreated(p));
        assert_true(owned_by(f->admin, PID, zkc_conn_session_id(f->a)));
        /* The same ACL every time. */
        assert_int_equal(e.perms, node_perms(f->admin, PID));
    }
    zkc_pidnode_free(p);
    assert_false(node_exists(f->admin, PID, NULL));
}

static void test_recreated_after_expiry(void **state)
{
    fixture *f = *state;
    zkc_conn *c = proxy_open(f->tree);
    zkc_pidnode *p = NULL;
    assert_int_equal(ZKC_OK, zkc_pidnode_create(c, PID, "me", 2, &fast, &p));
    int64_t first = zkc_conn_session_id(c);
    assert_true(owned_by(f->admin, PID, first));
    assert_int_equal(ZKC_OK, zkc_fake_inject(proxy_inner(c), ZKC_FAKE_EXPIRE, 0));
    assert_false(node_exists(f->admin, PID, NULL));
    WAIT_FOR(zkc_pidnode_recreated(p) == 1, 10000);
    assert_int_equal(1, zkc_pidnode_recreated(p));
    assert_int_equal(2, proxy_sessions(c));
    int64_t second = zkc_conn_session_id(c);
    assert_true(second != first && second != 0);
    assert_true(owned_by(f->admin, PID, second));
    assert_int_equal(ZKC_PERM_FILE, node_perms(f->admin, PID));
    zkc_pidnode_free(p);
    assert_false(node_exists(f->admin, PID, NULL));
    zkc_conn_close(c);
}

/* While someone else's node is there, the keeper waits for it to go. */
static void test_waits_for_other_owner(void **state)
{
    fixture *f = *state;
    /* The keeper's session counts its operations (recipe_helpers.h). */
    zkc_conn *keeper = proxy_open(f->tree);
    assert_non_null(keeper);
    zkc_pidnode *p = NULL;
    assert_int_equal(ZKC_OK, zkc_pidnode_create(keeper, PID, "me", 2, &fast, &p));
    /* The keeper watches its node: one exists, then none until the node
     * changes.  Counted before the delete, so that the keeper's next look
     * cannot slip in before the count is taken. */
    WAIT_FOR(proxy_ops_count(keeper, ZKC_OP_EXISTS) >= 1, 30000);
    int looks = proxy_ops_count(keeper, ZKC_OP_EXISTS);
    assert_true(looks >= 1);
    zkc_conn *other = NULL;
    assert_int_equal(ZKC_OK, zkc_fake_open(f->tree, &other));
    assert_int_equal(ZKC_OK, zkc_delete(f->admin, PID, -1));
    /* Another process gets there first (or not: then ours is back). */
    int rc = zkc_create(other, PID, "other", 5, ZKC_EPHEMERAL, NULL, NULL);
    if (rc == ZKC_OK) {
        /* The keeper looks again after the delete; whatever it finds,
         * the other's node stays the other's (the keeper never
         * replaces it). */
        WAIT_FOR(proxy_ops_count(keeper, ZKC_OP_EXISTS) > looks, 30000);
        assert_true(proxy_ops_count(keeper, ZKC_OP_EXISTS) > looks);
        assert_true(owned_by(f->admin, PID, zkc_conn_session_id(other)));
        zkc_conn_close(other); /* its node goes */
        other = NULL;
    }
    WAIT_FOR(owned_by(f->admin, PID, zkc_conn_session_id(keeper)), 30000);
    assert_true(owned_by(f->admin, PID, zkc_conn_session_id(keeper)));
    zkc_pidnode_free(p);
    zkc_conn_close(other);
    zkc_conn_close(keeper);
}

static void test_startup_errors(void **state)
{
    fixture *f = *state;
    zkc_pidnode *p = NULL;
    assert_int_equal(ZKC_ENONODE, zkc_pidnode_create(f->a, "/zk/none/x", "me", 2, &fast, &p));
    assert_null(p);
    assert_non_null(strstr(zkc_errmsg(), "/zk/none/x"));
    assert_int_equal(ZKC_OK, zkc_create(f->admin, "/zk/test/file", NULL, 0, 0,
                                        zkc_acl_world(ZKC_PERM_FILE), NULL));
    assert_int_equal(ZKC_ENOAUTH, zkc_pidnode_create(f->a, "/zk/test/file/x", NULL, 0, &fast, &p));
    assert_int_equal(ZKC_EBADPATH, zkc_pidnode_create(f->a, "x", NULL, 0, &fast, &p));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_pidnode_create(f->a, PID, NULL, 3, &fast, &p));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_pidnode_create(NULL, PID, NULL, 0, &fast, &p));
    /* Connection loss at start-up is retried. */
    assert_int_equal(ZKC_OK, zkc_fake_inject(f->a, ZKC_FAKE_LOSS_AFTER, 1));
    assert_int_equal(ZKC_OK, zkc_pidnode_create(f->a, PID, "me", 2, NULL, &p));
    assert_true(owned_by(f->admin, PID, zkc_conn_session_id(f->a)));
    zkc_pidnode_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_free, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_replaces_stale_node, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_recreated_after_delete, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_recreated_after_expiry, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_waits_for_other_owner, setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_startup_errors, setup, fixture_teardown),
    };
    return cmocka_run_group_tests_name("pidnode", tests, NULL, NULL);
}
