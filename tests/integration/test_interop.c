/*
 * test_interop.c: zkcell against a ZooKeeper client it did not write,
 * kazoo (Python), on the same real server, both ways.
 *
 *  - kazoo writes, zkcell reads: interop_kazoo.py creates the nodes of
 *    the table below under /kz, describes them as kazoo sees them (JSON),
 *    and holds its session open; zkcell then reads every node and must
 *    find the table's bytes, kazoo's eleven stat fields (the ephemeral
 *    owner is kazoo's session id), the table's ACL entries, the sequence
 *    names, and the same answers to an anonymous reader (NOAUTH on the
 *    digest node only).  When kazoo closes its session its ephemeral
 *    nodes must be gone for zkcell.
 *  - zkcell writes, kazoo reads: the same table written by zkcell under
 *    /zc; kazoo's description must match the table and zkcell's own
 *    view, field by field; after zkcell closes its session kazoo must no
 *    longer see zkcell's ephemeral nodes.
 *
 * The table has binary data with NUL and 0xff bytes, a single NUL, an
 * empty value (written by zkcell as NULL, 0: kazoo must read b"", not
 * None), a value of about 1 MB below the jute limit, a node set twice,
 * ephemeral, sequential and ephemeral-sequential nodes, a digest ACL that
 * needs auth, ip ACLs and world ACLs, and an ACL replaced after create.
 *
 * Both clients connect through a chroot unique to this run
 * (/zkc-interop-PID-RANDOM), removed at the end, after 520 small writes
 * that push the ~1 MB ones out of the server's in-memory committed log
 * (see flush_committed_log).  The server is
 * $ZKC_TEST_ZK, or else one started here with $ZKCTL (ports 23400-23489).
 * The whole test is skipped (TAP "1..0 # SKIP") when /usr/bin/python3
 * (or $ZKC_TEST_PYTHON) cannot import kazoo; nothing else skips it.
 * Usage: test_interop [path/to/interop_kazoo.py]  ($ZKC_INTEROP_SCRIPT)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "zk_test_util.h"

extern char **environ;

#define OK(expr) assert_int_equal(ZKC_OK, (expr))

#define CRED "alice:secret"
#define CRED_ID "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=" /* base64(sha1("alice:secret")) */
/* About 1 MB, under jute.maxbuffer (1048575 bytes for the whole request). */
#define BIG_LEN 1040000

static const char *python;  /* /usr/bin/python3 or $ZKC_TEST_PYTHON */
static const char *script;  /* interop_kazoo.py */
static const char *servers; /* without chroot */
static char root[96];       /* this run's chroot */
static bool root_created;
static char hosts[1200];    /* servers + root */
static char tmpdir[64];

static uint8_t bin_data[512];
static uint8_t big_data[BIG_LEN];

/* ---- the table both clients write ---- */

static zkc_acl world_all[] = {{ZKC_PERM_ALL, "world", "anyone"}};
static zkc_acl world_rw[] = {{ZKC_PERM_READ | ZKC_PERM_WRITE, "world", "anyone"}};
static zkc_acl digest_all[] = {{ZKC_PERM_ALL, "digest", CRED_ID}};
static zkc_acl ips[] = {{ZKC_PERM_READ, "ip", "127.0.0.1"}, {ZKC_PERM_ALL, "ip", "10.9.9.0/24"}};
static zkc_acl mixed[] = {{ZKC_PERM_READ, "world", "anyone"},
                          {ZKC_PERM_ALL, "digest", CRED_ID},
                          {ZKC_PERM_READ | ZKC_PERM_WRITE | ZKC_PERM_ADMIN, "ip", "127.0.0.1"}};
#define L(a) {sizeof a / sizeof *a, a}
#define NONE {0, NULL}

typedef struct icase {
    const char *path;   /* under the prefix; "" is the prefix itself */
    const char *expect; /* the name it gets (sequence numbers appended) */
    const void *data;
    size_t len;
    unsigned flags;
    zkc_acl_list acl;     /* at create */
    zkc_acl_list set_acl; /* set after create when count > 0 */
    int sets;             /* set (same data) this many times after create */
} icase;

static const icase cases[] = {
    {"", "", NULL, 0, 0, L(world_all), NONE, 0},
    {"bin", "bin", bin_data, sizeof bin_data, 0, L(world_all), NONE, 0},
    {"nul", "nul", "\0", 1, 0, L(world_all), NONE, 0},
    {"empty", "empty", NULL, 0, 0, L(world_all), NONE, 0},
    {"big", "big", big_data, BIG_LEN, 0, L(world_all), NONE, 0},
    {"versioned", "versioned", "v\0\xff", 3, 0, L(world_all), NONE, 2},
    {"eph", "eph", "\xff" "eph\0", 5, ZKC_EPHEMERAL, L(world_all), NONE, 1},
    {"seq", "seq", NULL, 0, 0, L(world_all), NONE, 0},
    {"seq/n-", "seq/n-0000000000", "0", 1, ZKC_SEQUENCE, L(world_all), NONE, 0},
    {"seq/n-", "seq/n-0000000001", "\0", 1, ZKC_SEQUENCE, L(world_all), NONE, 0},
    {"seq/n-", "seq/n-0000000002", "\xff", 1, ZKC_SEQUENCE, L(world_all), NONE, 0},
    {"seq/e-", "seq/e-0000000003", "e\0", 2, ZKC_SEQUENCE | ZKC_EPHEMERAL, L(world_all), NONE, 0},
    {"digest", "digest", "top\0secret\xff", 11, 0, L(digest_all), NONE, 0},
    {"ip", "ip", "ip\0", 3, 0, L(ips), NONE, 0},
    {"world", "world", "w", 1, 0, L(world_rw), NONE, 0},
    {"mixed", "mixed", "m\xff", 2, 0, L(world_all), L(mixed), 0},
};
#define NCASES (sizeof cases / sizeof *cases)

static const zkc_acl_list *final_acl(const icase *k)
{
    return k->set_acl.count > 0 ? &k->set_acl : &k->acl;
}

static void full_path(char *buf, size_t size, const char *prefix, const char *rel)
{
    snprintf(buf, size, "%s%s%s", prefix, *rel ? "/" : "", rel);
}

/* Deterministic bytes: every value 0..255, NUL first and 0xff last. */
static void fill_data(void)
{
    for (size_t i = 0; i < 256; i++) {
        bin_data[i] = (uint8_t)i;
        bin_data[511 - i] = (uint8_t)i;
    }
    bin_data[511] = 0xff;
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < BIG_LEN; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big_data[i] = (uint8_t)(x >> 32);
    }
    big_data[0] = 0;
    big_data[BIG_LEN - 1] = 0xff;
}

static char *hex_of(const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    char *s = malloc(2 * len + 1);
    assert_non_null(s);
    for (size_t i = 0; i < len; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * len] = '\0';
    return s;
}

/* ---- the kazoo process ---- */

typedef struct child {
    pid_t pid;
    int in;  /* its stdin, -1 once closed */
    int out; /* its stdout */
} child;

static child writer = {0, -1, -1};

static void child_close_stdin(child *ch)
{
    if (ch->in >= 0)
        close(ch->in);
    ch->in = -1;
}

/* Run python script ARGS...; 0 or an errno. */
static int child_start(child *ch, const char *mode, const char *prefix, const char *spec,
                       const char *out)
{
    int pin[2], pout[2];
    if (pipe2(pin, O_CLOEXEC) != 0)
        return errno;
    if (pipe2(pout, O_CLOEXEC) != 0) {
        close(pin[0]);
        close(pin[1]);
        return errno;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
    posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
    char *argv[8];
    int n = 0;
    argv[n++] = (char *)python;
    argv[n++] = (char *)script;
    argv[n++] = (char *)mode;
    argv[n++] = hosts;
    argv[n++] = (char *)prefix;
    if (spec != NULL)
        argv[n++] = (char *)spec;
    argv[n++] = (char *)out;
    argv[n] = NULL;
    int rc = posix_spawn(&ch->pid, python, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pin[0]);
    close(pout[1]);
    ch->in = pin[1];
    ch->out = pout[0];
    if (rc != 0) {
        child_close_stdin(ch);
        close(ch->out);
        ch->out = -1;
        ch->pid = 0;
    }
    return rc;
}

/* Read one line of the child's stdout within ms; 0 when it is want. */
static int child_expect(child *ch, const char *want, int ms)
{
    char line[256];
    size_t n = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        int left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd pfd = {ch->out, POLLIN, 0};
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            return -1;
        char c;
        ssize_t r = read(ch->out, &c, 1);
        if (r <= 0)
            return -1;
        if (c == '\n') {
            line[n] = '\0';
            return strcmp(line, want) == 0 ? 0 : -1;
        }
        if (n < sizeof line - 1)
            line[n++] = c;
    }
}

/* Wait for the child to exit within ms (then SIGKILL it); its exit
 * status, or -1. */
static int child_wait(child *ch, int ms)
{
    if (ch->pid <= 0)
        return -1;
    child_close_stdin(ch);
    int status = 0, rc = -1;
    for (int waited = 0;; waited += 10) {
        pid_t p = waitpid(ch->pid, &status, WNOHANG);
        if (p == ch->pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            break;
        }
        if (p < 0)
            break;
        if (waited >= ms) {
            kill(ch->pid, SIGKILL);
            waitpid(ch->pid, &status, 0);
            break;
        }
        usleep(10000);
    }
    ch->pid = 0;
    if (ch->out >= 0)
        close(ch->out);
    ch->out = -1;
    return rc;
}

static json_t *load_json(const char *path)
{
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (j == NULL)
        fail_msg("%s: %s (line %d)", path, err.text, err.line);
    return j;
}

/* ---- connections ---- */

static zkc_conn *dial(const char *addrs, const char *cred)
{
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 15000;
    o.auth_scheme = cred != NULL ? "digest" : NULL;
    o.auth_cred = cred;
    zkc_conn *c = NULL;
    if (zkc_zk_dial(addrs, &o, &c) != ZKC_OK)
        fail_msg("dial %s: %s", addrs, zkc_errmsg());
    return c;
}

static zkc_conn *reader, *anon; /* on the chroot: alice, and nobody */

static void rm_tree(zkc_conn *c, const char *path)
{
    zkc_strings *kids = NULL;
    if (zkc_children(c, path, &kids, NULL, NULL) == ZKC_OK) {
        for (size_t i = 0; i < kids->count; i++) {
            char *p = zkc_path_join(path, kids->v[i]);
            rm_tree(c, p);
            free(p);
        }
        zkc_strings_free(kids);
    }
    zkc_delete(c, path, -1);
}

/* ---- the comparisons ---- */

enum { DATA = 1, STAT = 2, ACL = 4, CHILDREN = 8, ALL = 15 };

static json_t *node_of(json_t *out, const char *path)
{
    json_t *d = json_object_get(json_object_get(out, "nodes"), path);
    if (!json_is_object(d))
        fail_msg("kazoo did not describe %s", path);
    return d;
}

static int64_t jint(json_t *obj, const char *key, const char *path)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v))
        fail_msg("%s: no integer %s in kazoo's description", path, key);
    return (int64_t)json_integer_value(v);
}

static const char *jstr(json_t *obj, const char *key, const char *path)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL)
        fail_msg("%s: no string %s in kazoo's description", path, key);
    return s;
}

static bool is_alive(const icase *k, bool ephemerals)
{
    return ephemerals || !(k->flags & ZKC_EPHEMERAL);
}

/* The names of the live cases directly under k, sorted (the table lists
 * them in order). */
static size_t expected_children(const icase *k, bool ephemerals, const char **names, size_t max)
{
    size_t n = 0, plen = strlen(k->expect);
    for (size_t i = 0; i < NCASES; i++) {
        const char *e = cases[i].expect;
        if (e[0] == '\0' || !is_alive(&cases[i], ephemerals))
            continue;
        const char *rest = e;
        if (plen > 0) {
            if (strncmp(e, k->expect, plen) != 0 || e[plen] != '/')
                continue;
            rest = e + plen + 1;
        }
        if (strchr(rest, '/') == NULL && n < max)
            names[n++] = rest;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort, by bytes */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    return n;
}

static void check_stat(const char *path, json_t *js, const zkc_stat *st)
{
    struct {
        const char *name;
        int64_t v;
    } f[] = {{"czxid", st->czxid},           {"mzxid", st->mzxid},
             {"ctime", st->ctime},           {"mtime", st->mtime},
             {"version", st->version},       {"cversion", st->cversion},
             {"aversion", st->aversion},     {"ephemeralOwner", st->ephemeral_owner},
             {"dataLength", st->data_length}, {"numChildren", st->num_children},
             {"pzxid", st->pzxid}};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        int64_t kz = jint(js, f[i].name, path);
        if (kz != f[i].v)
            fail_msg("%s: stat %s: kazoo %lld, zkcell %lld", path, f[i].name, (long long)kz,
                     (long long)f[i].v);
    }
}

static void check_acl(const char *path, const char *who, const zkc_acl_list *want,
                      size_t count, uint32_t (*perms)(void *, size_t),
                      const char *(*scheme)(void *, size_t), const char *(*id)(void *, size_t),
                      void *ctx)
{
    if (count != want->count)
        fail_msg("%s: %s reads %zu ACL entries, wrote %zu", path, who, count, want->count);
    for (size_t i = 0; i < count; i++)
        if (perms(ctx, i) != want->v[i].perms || strcmp(scheme(ctx, i), want->v[i].scheme) != 0 ||
            strcmp(id(ctx, i), want->v[i].id) != 0)
            fail_msg("%s: %s reads ACL entry %zu as %u %s:%s, wrote %u %s:%s", path, who, i,
                     perms(ctx, i), scheme(ctx, i), id(ctx, i), want->v[i].perms,
                     want->v[i].scheme, want->v[i].id);
}

static uint32_t zk_perms(void *ctx, size_t i) { return ((zkc_acl_list *)ctx)->v[i].perms; }
static const char *zk_scheme(void *ctx, size_t i) { return ((zkc_acl_list *)ctx)->v[i].scheme; }
static const char *zk_id(void *ctx, size_t i) { return ((zkc_acl_list *)ctx)->v[i].id; }
static uint32_t js_perms(void *ctx, size_t i)
{
    return (uint32_t)json_integer_value(json_object_get(json_array_get(ctx, i), "perms"));
}
static const char *js_field(void *ctx, size_t i, const char *key)
{
    const char *s = json_string_value(json_object_get(json_array_get(ctx, i), key));
    return s != NULL ? s : "(none)";
}
static const char *js_scheme(void *ctx, size_t i) { return js_field(ctx, i, "scheme"); }
static const char *js_id(void *ctx, size_t i) { return js_field(ctx, i, "id"); }

/* Compare what kazoo described (out) and what zkcell reads now under
 * prefix with the table.  eph_owner: the session that wrote the
 * ephemeral nodes; ephemerals: whether they should still be there. */
static void check_tree(json_t *out, const char *prefix, int64_t eph_owner, bool ephemerals,
                       unsigned what)
{
    assert_non_null(out);
    size_t live = 0;
    for (size_t i = 0; i < NCASES; i++) {
        const icase *k = &cases[i];
        char path[256];
        full_path(path, sizeof path, prefix, k->expect);
        if (!is_alive(k, ephemerals)) {
            if (json_object_get(json_object_get(out, "nodes"), path) != NULL)
                fail_msg("%s: kazoo still sees it after its owner's session closed", path);
            bool there = true;
            OK(zkc_exists(reader, path, &there, NULL, NULL));
            if (there)
                fail_msg("%s: zkcell still sees it after its owner's session closed", path);
            continue;
        }
        live++;
        json_t *d = node_of(out, path);
        char *data = NULL;
        size_t len = 0;
        zkc_stat st;
        /* The data only when it is compared: the ~1 MB value costs the
         * (shared, small-heap) server a few MB per read. */
        bool there = true;
        int rc = what & DATA ? zkc_get(reader, path, &data, &len, &st, NULL)
                             : zkc_exists(reader, path, &there, &st, NULL);
        if (rc != ZKC_OK || !there)
            fail_msg("%s: zkcell %s: %s", path, what & DATA ? "get" : "exists",
                     rc != ZKC_OK ? zkc_errmsg() : "no such node");

        if (what & DATA) {
            if (json_is_true(json_object_get(d, "null")))
                fail_msg("%s: kazoo reads None, not bytes", path);
            char *want = hex_of(k->data, k->len);
            const char *kz = jstr(d, "data", path);
            if (strcmp(want, kz) != 0)
                fail_msg("%s: kazoo reads %zu bytes that differ from the %zu written", path,
                         strlen(kz) / 2, k->len);
            free(want);
            if (len != k->len || (len > 0 && memcmp(data, k->data, len) != 0))
                fail_msg("%s: zkcell reads %zu bytes that differ from the %zu written", path,
                         len, k->len);
            assert_int_equal(0, data[len]); /* the convenience NUL */
        }
        zkc_free(data);

        if (what & STAT) {
            check_stat(path, json_object_get(d, "stat"), &st);
            assert_int_equal(k->sets, st.version);
            assert_int_equal(k->set_acl.count > 0 ? 1 : 0, st.aversion);
            assert_int_equal(k->len, st.data_length);
            int64_t owner = k->flags & ZKC_EPHEMERAL ? eph_owner : 0;
            if (st.ephemeral_owner != owner)
                fail_msg("%s: ephemeral owner %llx, want %llx", path,
                         (long long)st.ephemeral_owner, (long long)owner);
            assert_true(st.mzxid >= st.czxid);
            assert_true(st.ctime > 0 && st.mtime >= st.ctime);
        }

        if (what & ACL) {
            zkc_acl_list *acl = NULL;
            zkc_stat ast;
            OK(zkc_get_acl(reader, path, &acl, &ast));
            check_acl(path, "zkcell", final_acl(k), acl->count, zk_perms, zk_scheme, zk_id, acl);
            zkc_acl_list_free(acl);
            json_t *ja = json_object_get(d, "acl");
            check_acl(path, "kazoo", final_acl(k), json_array_size(ja), js_perms, js_scheme,
                      js_id, ja);
            check_stat(path, json_object_get(d, "stat"), &ast);
            /* Only the digest-only node keeps the anonymous sessions out. */
            bool closed = strcmp(k->path, "digest") == 0;
            const char *want = closed ? "NoAuthError" : "ok";
            int want_rc = closed ? ZKC_ENOAUTH : ZKC_OK;
            const char *kg = jstr(d, "anon_get", path), *ka = jstr(d, "anon_get_acl", path);
            if (strcmp(kg, want) != 0 || strcmp(ka, want) != 0)
                fail_msg("%s: anonymous kazoo get %s, get_acls %s; want %s", path, kg, ka, want);
            rc = k->len > 65536 ? ZKC_OK : zkc_get(anon, path, NULL, NULL, NULL, NULL);
            if (rc != want_rc)
                fail_msg("%s: anonymous zkcell get: %s, want %s", path, zkc_strerror(rc),
                         zkc_strerror(want_rc));
            acl = NULL;
            rc = zkc_get_acl(anon, path, &acl, NULL);
            zkc_acl_list_free(acl);
            if (rc != want_rc)
                fail_msg("%s: anonymous zkcell get_acl: %s, want %s", path, zkc_strerror(rc),
                         zkc_strerror(want_rc));
        }

        if (what & CHILDREN) {
            const char *names[NCASES];
            size_t n = expected_children(k, ephemerals, names, NCASES);
            zkc_strings *kids = NULL;
            OK(zkc_children(reader, path, &kids, NULL, NULL));
            zkc_strings_sort(kids);
            json_t *jk = json_object_get(d, "children");
            if (kids->count != n || json_array_size(jk) != n)
                fail_msg("%s: %zu children for zkcell, %zu for kazoo, want %zu", path,
                         kids->count, json_array_size(jk), n);
            for (size_t j = 0; j < n; j++) {
                const char *kz = json_string_value(json_array_get(jk, j));
                if (strcmp(kids->v[j], names[j]) != 0 || kz == NULL || strcmp(kz, names[j]) != 0)
                    fail_msg("%s: child %zu: zkcell %s, kazoo %s, want %s", path, j, kids->v[j],
                             kz ? kz : "(none)", names[j]);
            }
            zkc_strings_free(kids);
            assert_int_equal(n, st.num_children);
        }
    }
    if (json_object_size(json_object_get(out, "nodes")) != live)
        fail_msg("kazoo describes %zu nodes under %s, want %zu",
                 json_object_size(json_object_get(out, "nodes")), prefix, live);
}

/* created[i] is where case i went, under prefix. */
static void check_created(const char *prefix, char *const *created, size_t n)
{
    assert_int_equal(NCASES, n);
    for (size_t i = 0; i < NCASES; i++) {
        char want[256];
        full_path(want, sizeof want, prefix, cases[i].expect);
        if (created[i] == NULL || strcmp(created[i], want) != 0)
            fail_msg("case %zu: created %s, want %s", i, created[i] ? created[i] : "(none)", want);
    }
}

/* ---- kazoo writes, zkcell reads ---- */

static json_t *kz_out; /* kazoo's description of /kz */
static int64_t kz_session;

static json_t *acl_json(const zkc_acl_list *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < a->count; i++)
        json_array_append_new(arr, json_pack("{s:i,s:s,s:s}", "perms", (int)a->v[i].perms,
                                             "scheme", a->v[i].scheme, "id", a->v[i].id));
    return arr;
}

static void test_kazoo_writes(void **state)
{
    (void)state;
    char spec[128], out[128];
    snprintf(spec, sizeof spec, "%s/spec.json", tmpdir);
    snprintf(out, sizeof out, "%s/kazoo-wrote.json", tmpdir);
    json_t *nodes = json_array();
    for (size_t i = 0; i < NCASES; i++) {
        const icase *k = &cases[i];
        char *hex = hex_of(k->data, k->len);
        json_array_append_new(
            nodes, json_pack("{s:s,s:s,s:o,s:b,s:b,s:i,s:o}", "path", k->path, "data", hex,
                             "acl", acl_json(&k->acl), "ephemeral", (k->flags & ZKC_EPHEMERAL) != 0,
                             "sequence", (k->flags & ZKC_SEQUENCE) != 0, "sets", k->sets,
                             "set_acl", k->set_acl.count > 0 ? acl_json(&k->set_acl) : json_null()));
        free(hex);
    }
    json_t *j = json_pack("{s:s,s:o}", "cred", CRED, "nodes", nodes);
    assert_int_equal(0, json_dump_file(j, spec, 0));
    json_decref(j);

    int rc = child_start(&writer, "write", "/kz", spec, out);
    if (rc != 0)
        fail_msg("cannot run %s: %s", python, strerror(rc));
    if (child_expect(&writer, "ready", 90000) != 0)
        fail_msg("kazoo did not write (exit %d)", child_wait(&writer, 5000));
    kz_out = load_json(out);
    kz_session = jint(kz_out, "session_id", out);
    assert_true(kz_session != 0);
    assert_true(kz_session != zkc_conn_session_id(reader));
    assert_true(kz_session != zkc_conn_session_id(anon));
    json_t *jc = json_object_get(kz_out, "created");
    char *created[NCASES + 1] = {NULL};
    size_t n = json_array_size(jc);
    for (size_t i = 0; i < n && i <= NCASES; i++)
        created[i] = (char *)json_string_value(json_array_get(jc, i));
    check_created("/kz", created, n);
}

#define NEED(x)                                                                                \
    do {                                                                                       \
        if ((x) == NULL)                                                                       \
            fail_msg("nothing to read: the writing step failed");                              \
    } while (0)

static void test_zkcell_reads_kazoo_data(void **state)
{
    (void)state;
    NEED(kz_out);
    check_tree(kz_out, "/kz", kz_session, true, DATA);
}

static void test_zkcell_reads_kazoo_stats(void **state)
{
    (void)state;
    NEED(kz_out);
    check_tree(kz_out, "/kz", kz_session, true, STAT);
}

static void test_zkcell_reads_kazoo_acls(void **state)
{
    (void)state;
    NEED(kz_out);
    check_tree(kz_out, "/kz", kz_session, true, ACL);
}

static void test_zkcell_reads_kazoo_sequences(void **state)
{
    (void)state;
    NEED(kz_out);
    check_tree(kz_out, "/kz", kz_session, true, CHILDREN);
}

/* kazoo closes its session: its ephemeral nodes go, for zkcell too. */
static void test_kazoo_close_drops_ephemerals(void **state)
{
    (void)state;
    NEED(kz_out);
    child_close_stdin(&writer);
    assert_int_equal(0, child_expect(&writer, "closed", 30000));
    assert_int_equal(0, child_wait(&writer, 30000));
    /* The out file still describes them: check the persistent part only. */
    for (size_t i = 0; i < NCASES; i++) {
        char path[256];
        full_path(path, sizeof path, "/kz", cases[i].expect);
        bool there = false;
        OK(zkc_exists(reader, path, &there, NULL, NULL));
        if (there != !(cases[i].flags & ZKC_EPHEMERAL))
            fail_msg("%s: %s after kazoo's session closed", path, there ? "there" : "gone");
    }
}

/* ---- zkcell writes, kazoo reads ---- */

static zkc_conn *zc_writer;
static int64_t zc_session;
static json_t *zc_out; /* kazoo's description of /zc */

static json_t *kazoo_read(const char *prefix, const char *name)
{
    char out[128];
    snprintf(out, sizeof out, "%s/%s", tmpdir, name);
    child ch = {0, -1, -1};
    int rc = child_start(&ch, "read", prefix, NULL, out);
    if (rc != 0)
        fail_msg("cannot run %s: %s", python, strerror(rc));
    int ok = child_expect(&ch, "closed", 90000);
    int status = child_wait(&ch, 30000);
    if (ok != 0 || status != 0)
        fail_msg("kazoo could not read %s (exit %d)", prefix, status);
    return load_json(out);
}

static void test_zkcell_writes(void **state)
{
    (void)state;
    zc_writer = dial(hosts, CRED);
    zc_session = zkc_conn_session_id(zc_writer);
    assert_true(zc_session != 0);
    char *created[NCASES];
    for (size_t i = 0; i < NCASES; i++) {
        const icase *k = &cases[i];
        char path[256];
        full_path(path, sizeof path, "/zc", k->path);
        /* Empty data goes as NULL, 0: kazoo must still read b"". */
        int rc = zkc_create(zc_writer, path, k->len > 0 ? k->data : NULL, k->len, k->flags,
                            &k->acl, &created[i]);
        if (rc != ZKC_OK)
            fail_msg("zkcell create %s: %s", path, zkc_errmsg());
        for (int s = 0; s < k->sets; s++)
            OK(zkc_set(zc_writer, created[i], k->data, k->len, -1, NULL));
        if (k->set_acl.count > 0)
            OK(zkc_set_acl(zc_writer, created[i], &k->set_acl, -1));
    }
    check_created("/zc", created, NCASES);
    for (size_t i = 0; i < NCASES; i++)
        zkc_free(created[i]);
    zc_out = kazoo_read("/zc", "kazoo-read.json");
    assert_true(zc_session != jint(zc_out, "session_id", "kazoo-read.json"));
}

static void test_kazoo_reads_zkcell_data(void **state)
{
    (void)state;
    NEED(zc_out);
    check_tree(zc_out, "/zc", zc_session, true, DATA);
}

static void test_kazoo_reads_zkcell_stats(void **state)
{
    (void)state;
    NEED(zc_out);
    check_tree(zc_out, "/zc", zc_session, true, STAT);
}

static void test_kazoo_reads_zkcell_acls(void **state)
{
    (void)state;
    NEED(zc_out);
    check_tree(zc_out, "/zc", zc_session, true, ACL);
}

static void test_kazoo_reads_zkcell_sequences(void **state)
{
    (void)state;
    NEED(zc_out);
    check_tree(zc_out, "/zc", zc_session, true, CHILDREN);
}

/* zkcell closes its session: kazoo no longer sees its ephemeral nodes,
 * and the rest reads as before. */
static void test_zkcell_close_drops_ephemerals(void **state)
{
    (void)state;
    NEED(zc_out);
    zkc_conn_close(zc_writer);
    zc_writer = NULL;
    json_t *after = kazoo_read("/zc", "kazoo-read-after.json");
    check_tree(after, "/zc", zc_session, false, ALL);
    json_decref(after);
}

/* ---- setup ---- */

static int kazoo_available(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import kazoo' >/dev/null 2>&1", python);
    int rc = system(cmd);
    return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

/* Remove tmpdir and the files in it (at exit, whatever happened). */
static void remove_tmpdir(void)
{
    if (tmpdir[0] == '\0')
        return;
    DIR *d = opendir(tmpdir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(tmpdir);
    tmpdir[0] = '\0';
}

static int group_setup(void **state)
{
    (void)state;
    fill_data();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/zkc-interop-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    atexit(remove_tmpdir);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(root, sizeof root, "/zkc-interop-%d-%lx", (int)getpid(),
             (unsigned long)(ts.tv_nsec ^ (ts.tv_sec << 20)));
    snprintf(hosts, sizeof hosts, "%s%s", servers, root);
    zkc_conn *c = dial(servers, NULL);
    int rc = zkc_create(c, root, NULL, 0, 0, NULL, NULL);
    zkc_conn_close(c);
    if (rc != ZKC_OK) {
        printf("# cannot create %s: %s\n", root, zkc_strerror(rc));
        return -1;
    }
    root_created = true;
    printf("# chroot %s%s, files in %s\n", servers, root, tmpdir);
    reader = dial(hosts, CRED);
    anon = dial(hosts, NULL);
    return 0;
}

/* ZooKeeper keeps its last zookeeper.commitLogCount (500) transactions in
 * memory, each about four copies of its data: the two ~1 MB writes of a
 * run hold ~8 MB of the server's heap (zkctl gives it 64 MB) until 500
 * more transactions pass, and a shared server died of OutOfMemoryError
 * after nine runs in a row.  So push them out: 520 small writes. */
static void flush_committed_log(zkc_conn *c)
{
    char path[128];
    snprintf(path, sizeof path, "%s/flush", root);
    if (zkc_create(c, path, NULL, 0, 0, NULL, NULL) != ZKC_OK)
        return;
    for (int i = 0; i < 520; i++)
        if (zkc_set(c, path, "f", 1, -1, NULL) != ZKC_OK)
            break;
}

static int group_teardown(void **state)
{
    (void)state;
    if (writer.pid > 0)
        child_wait(&writer, 10000);
    zkc_conn_close(zc_writer);
    zkc_conn_close(reader);
    zkc_conn_close(anon);
    json_decref(kz_out);
    json_decref(zc_out);
    remove_tmpdir();
    if (!root_created)
        return 0;
    zkc_zk_opts o = ZKC_ZK_OPTS_INIT;
    o.connect_timeout_ms = 15000;
    o.auth_scheme = "digest";
    o.auth_cred = CRED;
    zkc_conn *c = NULL;
    int rc = zkc_zk_dial(servers, &o, &c);
    bool there = true;
    if (rc == ZKC_OK) {
        flush_committed_log(c);
        rm_tree(c, root);
        rc = zkc_exists(c, root, &there, NULL, NULL);
        zkc_conn_close(c);
    }
    if (rc != ZKC_OK || there) {
        printf("# could not remove %s\n", root);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    python = getenv("ZKC_TEST_PYTHON");
    if (python == NULL || *python == '\0')
        python = "/usr/bin/python3";
    script = argc > 1 ? argv[1] : getenv("ZKC_INTEROP_SCRIPT");
    if (script == NULL || access(script, R_OK) != 0) {
        printf("Bail out! no interop_kazoo.py (pass its path, or set ZKC_INTEROP_SCRIPT)\n");
        return 1;
    }
    if (!kazoo_available()) {
        printf("1..0 # SKIP %s cannot import kazoo\n", python);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    servers = getenv("ZKC_TEST_ZK");
    if (servers == NULL || *servers == '\0') {
        servers = zk_test_zkctl_init() != NULL ? zk_test_own_server_start(23400) : NULL;
        printf("# ZKC_TEST_ZK is not set: %s\n",
               servers != NULL ? "using a server of our own, started with zkctl"
                               : "no server (ZKCTL is not set, or zkctl failed)");
    }
    if (servers == NULL) {
        printf("Bail out! no ZooKeeper server: set ZKC_TEST_ZK, or ZKCTL to a zkctl binary\n");
        return 1;
    }
    fflush(stdout);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kazoo_writes),
        cmocka_unit_test(test_zkcell_reads_kazoo_data),
        cmocka_unit_test(test_zkcell_reads_kazoo_stats),
        cmocka_unit_test(test_zkcell_reads_kazoo_acls),
        cmocka_unit_test(test_zkcell_reads_kazoo_sequences),
        cmocka_unit_test(test_kazoo_close_drops_ephemerals),
        cmocka_unit_test(test_zkcell_writes),
        cmocka_unit_test(test_kazoo_reads_zkcell_data),
        cmocka_unit_test(test_kazoo_reads_zkcell_stats),
        cmocka_unit_test(test_kazoo_reads_zkcell_acls),
        cmocka_unit_test(test_kazoo_reads_zkcell_sequences),
        cmocka_unit_test(test_zkcell_close_drops_ephemerals),
    };
    return cmocka_run_group_tests_name("interop", tests, group_setup, group_teardown);
}
