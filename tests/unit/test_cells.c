/*
 * Cell configuration (cells.c): zk_client.json rules with temporary
 * files and the environment, the local cell guess, known cells, cell to
 * address, the cell of a path, subprocess flags, a changed file picked
 * up, and every error path with its message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zkcell/sys/conn_impl.h>
#include <zkcell/zkcell.h>

#include "test_clock.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/zkc-cells-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    unsetenv("ZK_CLIENT_CONFIG");
    unsetenv("ZK_CLIENT_LOCAL_CELL");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Write text to <tmpdir>/name and return the path (static buffer per call
 * site is enough: callers copy it through the options). */
static const char *write_file(const char *name, const char *text)
{
    static char path[4][400];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* A cells object on one file, with the host name fixed. */
static zkc_cells *cells_on(const char *file, const char *hostname)
{
    const char *paths[1] = {file};
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_paths = paths;
    o.n_config_paths = 1;
    o.hostname = hostname;
    o.ignore_env = true;
    zkc_cells *c = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    return c;
}

static zkc_cells *cells_text(const char *text, const char *hostname)
{
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_text = text;
    o.hostname = hostname;
    o.ignore_env = true;
    zkc_cells *c = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    return c;
}

static void expect_addrs(zkc_cells *c, const char *cell, bool zkocc, const char *want)
{
    char *a = NULL;
    int rc = zkc_cells_addrs(c, cell, zkocc, &a);
    if (rc != ZKC_OK)
        fail_msg("addrs(%s, %d): %s: %s", cell, zkocc, zkc_strerror(rc), zkc_errmsg());
    assert_string_equal(want, a);
    zkc_free(a);
}

static void expect_addrs_err(zkc_cells *c, const char *cell, bool zkocc, int code,
                             const char *msg_part)
{
    char *a = NULL;
    assert_int_equal(code, zkc_cells_addrs(c, cell, zkocc, &a));
    assert_null(a);
    if (strstr(zkc_errmsg(), msg_part) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", zkc_errmsg(), msg_part);
}

static char *join(const zkc_strings *s)
{
    static char buf[1024];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->count; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? "," : "", s->v[i]);
    return buf;
}

static void expect_known(zkc_cells *c, bool zkocc, const char *want)
{
    zkc_strings *s = NULL;
    int rc = zkc_cells_known(c, zkocc, &s);
    if (rc != ZKC_OK)
        fail_msg("known: %s: %s", zkc_strerror(rc), zkc_errmsg());
    assert_string_equal(want, join(s));
    zkc_strings_free(s);
}

/* ---- the cell of a path ---- */

static void test_cell_from_path(void **state)
{
    (void)state;
    struct {
        const char *path, *cell;
    } good[] = {{"/zk/nyc", "nyc"},     {"/zk/nyc/", "nyc"},      {"/zk/nyc/a/b", "nyc"},
                {"/zk/local/x", "local"}, {"/zk/global", "global"}, {"/zk/a_b.c/x", "a_b.c"}};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        const char *cell = NULL;
        size_t len = 0;
        assert_int_equal(ZKC_OK, zkc_cell_from_path(good[i].path, &cell, &len));
        assert_int_equal(strlen(good[i].cell), len);
        assert_memory_equal(good[i].cell, cell, len);
        assert_ptr_equal(good[i].path + 4, cell); /* no copy */
    }
    struct {
        const char *path, *msg;
    } bad[] = {
        {"/zk", "no cell name in path: \"/zk\""},
        {"/zk/", "no cell name in path: \"/zk/\""},
        {"/zk//x", "no cell name in path: \"/zk//x\""},
        {"/zk//", "no cell name in path"},
        {"/zk/bad-cell", "invalid cell name \"bad-cell\" in path \"/zk/bad-cell\""},
        {"/zk/bad-cell-name/", "invalid cell name \"bad-cell-name\""},
        {"/zk/nyc:_zkocc/x", "invalid cell name \"nyc:_zkocc\""},
        {"/zk/../x", "invalid cell name \"..\""},
        {"bad/zk/path", "path should start with /zk/: \"bad/zk/path\""},
        {"/wrongprefix/cell", "path should start with /zk/: \"/wrongprefix/cell\""},
        {"/zkx/nyc", "path should start with /zk/"},
        {"/z", "path should start with /zk/"},
        {"", "path should start with /zk/: \"\""},
        {"/", "path should start with /zk/"},
        {"/zk/\x01\x7f", "invalid cell name"},
        {NULL, "no cell name in path: (null)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *cell = "unchanged";
        size_t len = 99;
        assert_int_equal(ZKC_EBADPATH, zkc_cell_from_path(bad[i].path, &cell, &len));
        assert_string_equal("unchanged", cell);
        assert_int_equal(99, len);
        if (strstr(zkc_errmsg(), bad[i].msg) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", bad[i].path ? bad[i].path : "NULL",
                     zkc_errmsg(), bad[i].msg);
    }
    /* A path may name a cell without its caller wanting the name back. */
    assert_int_equal(ZKC_OK, zkc_cell_from_path("/zk/nyc/x", NULL, NULL));
    /* A long cell name is quoted without overflowing the message. */
    char longp[2000] = "/zk/";
    memset(longp + 4, 'a', 1000);
    longp[1004] = '\0';
    assert_int_equal(ZKC_EBADPATH, zkc_cell_from_path(longp, NULL, NULL));
    assert_non_null(strstr(zkc_errmsg(), "invalid cell name"));
}

static void test_cell_name_valid(void **state)
{
    (void)state;
    assert_true(zkc_cell_name_valid("nyc", 3));
    assert_true(zkc_cell_name_valid("local", 5));
    assert_true(zkc_cell_name_valid("global", 6));
    assert_false(zkc_cell_name_valid("", 0));
    assert_false(zkc_cell_name_valid(NULL, 3));
    assert_false(zkc_cell_name_valid("a-b", 3));
    assert_false(zkc_cell_name_valid("a:b", 3));
    assert_false(zkc_cell_name_valid("a/b", 3));
    assert_false(zkc_cell_name_valid(".", 1));
    assert_false(zkc_cell_name_valid("..", 2));
    assert_true(zkc_cell_name_valid("...", 3));
    assert_false(zkc_cell_name_valid("a\0b", 3));
    char big[300];
    memset(big, 'x', sizeof big);
    assert_true(zkc_cell_name_valid(big, 255));
    assert_false(zkc_cell_name_valid(big, 256));
}

/* ---- configuration rules ---- */

static const char *example =
    "{\"nyc\": \"zk1:2181,zk2:2181\", \"sfo\": \"zs1:2181\", \"nyc-global\": \"gzk1:2181\","
    " \"nyc:_zkocc\": \"localhost:14850\", \"nyc-global:_zkocc\": \"localhost:14851\","
    " \"sjc:_zkocc\": \"sjcocc:14850\", \"empty\": \"\", \"odd-name\": \"x:1\","
    " \"local\": \"ignored:1\"}";

static void test_addrs(void **state)
{
    (void)state;
    zkc_cells *c = cells_on(write_file("zk_client.json", example), "nyc12.example.com");
    expect_addrs(c, "nyc", false, "zk1:2181,zk2:2181");
    expect_addrs(c, "sfo", false, "zs1:2181");
    expect_addrs(c, "local", false, "zk1:2181,zk2:2181");
    /* No "global" key: the local cell's "-global" key. */
    expect_addrs(c, "global", false, "gzk1:2181");
    /* zkocc mode: the ":_zkocc" keys. */
    expect_addrs(c, "nyc", true, "localhost:14850");
    expect_addrs(c, "local", true, "localhost:14850");
    expect_addrs(c, "global", true, "localhost:14851");
    expect_addrs(c, "sjc", true, "sjcocc:14850");
    /* Missing and empty values are "no addr", naming the key and file. */
    expect_addrs_err(c, "sjc", false, ZKC_ENOCELL, "no addr found for zk cell: \"sjc\"");
    expect_addrs_err(c, "sjc", false, ZKC_ENOCELL, "zk_client.json");
    expect_addrs_err(c, "sfo", true, ZKC_ENOCELL, "\"sfo:_zkocc\"");
    expect_addrs_err(c, "empty", false, ZKC_ENOCELL, "\"empty\"");
    /* Names that cannot be cells are rejected before any lookup. */
    expect_addrs_err(c, "odd-name", false, ZKC_EBADPATH, "invalid cell name \"odd-name\"");
    expect_addrs_err(c, "nyc-global", false, ZKC_EBADPATH, "invalid cell name");
    expect_addrs_err(c, "", false, ZKC_EBADPATH, "invalid cell name \"\"");
    expect_addrs_err(c, NULL, false, ZKC_EBADPATH, "invalid cell name (null)");

    /* Paths. */
    char *a = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_path_addrs(c, "/zk/sfo/vt/x", false, &a));
    assert_string_equal("zs1:2181", a);
    zkc_free(a);
    assert_int_equal(ZKC_OK, zkc_cells_path_addrs(c, "/zk/local", true, &a));
    assert_string_equal("localhost:14850", a);
    zkc_free(a);
    a = NULL;
    assert_int_equal(ZKC_EBADPATH, zkc_cells_path_addrs(c, "/zk//x", false, &a));
    assert_non_null(strstr(zkc_errmsg(), "no cell name in path: \"/zk//x\""));
    assert_int_equal(ZKC_EBADPATH, zkc_cells_path_addrs(c, "/other", false, &a));
    assert_null(a);

    char *cell = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_resolve(c, "local", &cell));
    assert_string_equal("nyc", cell);
    zkc_free(cell);
    assert_int_equal(ZKC_OK, zkc_cells_resolve(c, "sfo", &cell));
    assert_string_equal("sfo", cell);
    zkc_free(cell);
    assert_int_equal(ZKC_EBADPATH, zkc_cells_resolve(c, "a-b", &cell));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_addrs(c, "nyc", false, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_addrs(NULL, "nyc", false, &a));
    zkc_cells_free(c);
}

static void test_global_rules(void **state)
{
    (void)state;
    /* A "global" key wins over "<local>-global". */
    zkc_cells *c = cells_text("{\"global\": \"g:1\", \"nyc-global\": \"obs:1\","
                              " \"global:_zkocc\": \"gocc:1\"}",
                              "nyc1");
    expect_addrs(c, "global", false, "g:1");
    expect_addrs(c, "global", true, "gocc:1");
    expect_known(c, false, "global");
    expect_known(c, true, "global");
    zkc_cells_free(c);

    /* The global override serves ZooKeeper mode only: zkocc mode keeps
     * its cache (the original's -zk.global-addrs-in-zkocc-mode bug). */
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_text = "{\"nyc-global:_zkocc\": \"occ:1\", \"nyc\": \"n:1\"}";
    o.global_addrs = "override:2181";
    o.hostname = "nyc1";
    o.ignore_env = true;
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    expect_addrs(c, "global", false, "override:2181");
    expect_addrs(c, "global", true, "occ:1");
    expect_known(c, false, "global,nyc");
    expect_known(c, true, "global");
    zkc_cells_free(c);

    /* No global address at all: the message names both keys tried. */
    c = cells_text("{\"nyc\": \"n:1\"}", "nyc1");
    expect_addrs_err(c, "global", false, ZKC_ENOCELL, "\"nyc-global\"");
    expect_addrs_err(c, "global", true, ZKC_ENOCELL, "\"nyc-global:_zkocc\"");
    expect_known(c, false, "nyc");
    zkc_cells_free(c);

    /* No global key and no local cell to find "<local>-global" with. */
    c = cells_text("{\"nyc\": \"n:1\"}", "9host");
    expect_addrs_err(c, "global", false, ZKC_ENOCELL, "no local cell");
    expect_addrs_err(c, "local", false, ZKC_ENOCELL, "cannot guess the local cell");
    expect_known(c, false, "nyc"); /* a bad host name does not break the list */
    zkc_cells_free(c);
}

static void test_local_addrs(void **state)
{
    (void)state;
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_text = "{\"nyc\": \"file:1\", \"sfo\": \"s:1\"}";
    o.local_addrs = "flag:1";
    o.local_cell = "nyc";
    o.ignore_env = true;
    zkc_cells *c = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    expect_addrs(c, "local", false, "flag:1");
    expect_addrs(c, "nyc", false, "flag:1");
    expect_addrs(c, "sfo", false, "s:1");
    expect_addrs_err(c, "nyc", true, ZKC_ENOCELL, "\"nyc:_zkocc\"");
    expect_known(c, false, "nyc,sfo"); /* not listed twice */
    zkc_cells_free(c);

    /* A local cell that is only known through the override is listed. */
    o.config_text = "{}";
    o.local_cell = "lon";
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    expect_known(c, false, "lon");
    expect_known(c, true, "");
    zkc_cells_free(c);
}

static void test_known_cells(void **state)
{
    (void)state;
    zkc_cells *c = cells_text(example, "nyc12.example.com");
    /* Sorted; "-global" keys, "local", names with '-' and empty values
     * are not cells;
     * "global" is there because of "nyc-global" (the local cell's). */
    expect_known(c, false, "global,nyc,sfo");
    expect_known(c, true, "global,nyc,sjc");
    zkc_cells_free(c);

    /* Another cell's "-global" key does not make a global cell. */
    c = cells_text(example, "sfo3");
    expect_known(c, false, "nyc,sfo");
    zkc_cells_free(c);

    /* Sorting is bytewise, so "global" need not be last. */
    c = cells_text("{\"zz\": \"1\", \"aa\": \"2\", \"global\": \"3\", \"Bb\": \"4\"}", "x");
    expect_known(c, false, "Bb,aa,global,zz");
    zkc_cells_free(c);
}

/* ---- the local cell ---- */

static void expect_guess(const char *host, const char *want)
{
    zkc_cells *c = cells_text("{}", host);
    char *cell = NULL;
    int rc = zkc_cells_local_cell(c, &cell);
    if (want == NULL) {
        assert_int_equal(ZKC_ENOCELL, rc);
        assert_null(cell);
        assert_non_null(strstr(zkc_errmsg(), "cannot guess the local cell from host name"));
    } else {
        if (rc != ZKC_OK)
            fail_msg("%s: %s", host, zkc_errmsg());
        assert_string_equal(want, cell);
    }
    zkc_free(cell);
    zkc_cells_free(c);
}

static void test_guess_local_cell(void **state)
{
    (void)state;
    /* The E2+ rule: the host name up to the first non-letter. */
    expect_guess("pa1", "pa");
    expect_guess("sjl-1", "sjl");
    expect_guess("lwc1", "lwc");
    expect_guess("nyc.example.com", "nyc");
    expect_guess("abc", "abc");
    expect_guess("a", "a"); /* the old two-character rule crashed here */
    expect_guess("X1", "X");
    /* Nothing to take: an error, not an empty cell. */
    expect_guess("1abc", NULL);
    expect_guess("", NULL);
    expect_guess("-x", NULL);
    expect_guess(".example.com", NULL);
    expect_guess("local1", NULL); /* "local" is the alias, not a cell */
    assert_non_null(strstr(zkc_errmsg(), "\"local1\""));

    /* The real host name works or fails cleanly. */
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.ignore_env = true;
    o.config_text = "{}";
    zkc_cells *c = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    char *cell = NULL;
    int rc = zkc_cells_local_cell(c, &cell);
    assert_true(rc == ZKC_OK || rc == ZKC_ENOCELL);
    if (rc == ZKC_OK)
        assert_true(zkc_cell_name_valid(cell, strlen(cell)));
    zkc_free(cell);
    zkc_cells_free(c);
}

static void test_env(void **state)
{
    (void)state;
    const char *f1 = write_file("env1.json", "{\"a\": \"from-env:1\"}");
    /* ZK_CLIENT_CONFIG replaces the default list. */
    setenv("ZK_CLIENT_CONFIG", f1, 1);
    setenv("ZK_CLIENT_LOCAL_CELL", "envcell", 1);
    zkc_cells *c = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_new(NULL, &c));
    expect_addrs(c, "a", false, "from-env:1");
    char *cell = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_local_cell(c, &cell));
    assert_string_equal("envcell", cell);
    zkc_free(cell);
    /* The environment is not handed to children: they inherit it. */
    zkc_strings *argv = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_subprocess_flags(c, &argv));
    assert_int_equal(0, argv->count);
    zkc_strings_free(argv);
    zkc_cells_free(c);

    /* The flag wins over the environment; explicit paths win too. */
    const char *f2 = write_file("env2.json", "{\"a\": \"explicit:1\"}");
    const char *paths[1] = {f2};
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_paths = paths;
    o.n_config_paths = 1;
    o.local_cell = "flagcell";
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    expect_addrs(c, "a", false, "explicit:1");
    assert_int_equal(ZKC_OK, zkc_cells_local_cell(c, &cell));
    assert_string_equal("flagcell", cell);
    zkc_free(cell);
    zkc_cells_free(c);

    /* ignore_env: neither variable is read (the default path is used,
     * which does not exist here, or holds no cell "a"). */
    o = (zkc_cells_opts)ZKC_CELLS_OPTS_INIT;
    o.ignore_env = true;
    o.hostname = "host";
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    assert_int_equal(ZKC_OK, zkc_cells_local_cell(c, &cell));
    assert_string_equal("host", cell);
    zkc_free(cell);
    zkc_cells_free(c);

    /* An empty variable counts as unset. */
    setenv("ZK_CLIENT_CONFIG", "", 1);
    setenv("ZK_CLIENT_LOCAL_CELL", "", 1);
    o = (zkc_cells_opts)ZKC_CELLS_OPTS_INIT;
    o.hostname = "emptyenv9";
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    assert_int_equal(ZKC_OK, zkc_cells_local_cell(c, &cell));
    assert_string_equal("emptyenv", cell);
    zkc_free(cell);
    zkc_cells_free(c);

    /* A bad local cell in the environment or a flag is refused at once. */
    setenv("ZK_CLIENT_LOCAL_CELL", "bad-cell", 1);
    c = (zkc_cells *)0x1;
    assert_int_equal(ZKC_EBADCONFIG, zkc_cells_new(NULL, &c));
    assert_null(c);
    assert_string_equal("local cell \"bad-cell\" from ZK_CLIENT_LOCAL_CELL is not a valid "
                        "cell name",
                        zkc_errmsg());
    unsetenv("ZK_CLIENT_LOCAL_CELL");
    o = (zkc_cells_opts)ZKC_CELLS_OPTS_INIT;
    o.local_cell = "local";
    assert_int_equal(ZKC_EBADCONFIG, zkc_cells_new(&o, &c));
    assert_string_equal("local cell \"local\" from -zk.local-cell is not a valid cell name",
                        zkc_errmsg());
    o.local_cell = "a/b";
    assert_int_equal(ZKC_EBADCONFIG, zkc_cells_new(&o, &c));
    unsetenv("ZK_CLIENT_CONFIG");
}

static void test_bad_options(void **state)
{
    (void)state;
    zkc_cells *c = NULL;
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_new(&o, NULL));
    o.version = 2;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_new(&o, &c));
    o.version = 1;
    o.base_timeout_ms = -1;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_new(&o, &c));
    o.base_timeout_ms = 0;
    o.n_config_paths = 2;
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_new(&o, &c));
    assert_null(c);
    zkc_cells_free(NULL);
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_refresh(NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_known(NULL, false, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_local_cell(NULL, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_subprocess_flags(NULL, NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_resolve(NULL, "a", NULL));
    assert_int_equal(ZKC_EBADARGUMENTS, zkc_cells_path_addrs(NULL, "/zk/a", false, NULL));
}

/* ---- bad files ---- */

static void expect_bad(zkc_cells *c, const char *msg_part)
{
    assert_int_equal(ZKC_EBADCONFIG, zkc_cells_refresh(c));
    if (strstr(zkc_errmsg(), msg_part) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", zkc_errmsg(), msg_part);
    /* Every lookup reports the same problem. */
    char *a = NULL;
    assert_int_equal(ZKC_EBADCONFIG, zkc_cells_addrs(c, "nyc", false, &a));
    assert_non_null(strstr(zkc_errmsg(), msg_part));
    zkc_strings *s = NULL;
    assert_int_equal(ZKC_EBADCONFIG, zkc_cells_known(c, false, &s));
    assert_null(s);
    assert_non_null(strstr(zkc_errmsg(), msg_part));
}

/* Keys that could never name a cell are refused, naming the file and the
 * key; the key forms "<cell>-global", "<cell>:_zkocc" and both still work. */
static void test_bad_keys(void **state)
{
    (void)state;
    struct {
        const char *text, *msg;
    } cases[] = {
        {"{\"nyc\": \"a:1\", \"a/b\": \"x:1\"}", "key \"a/b\": '/' and ':'"},
        {"{\"a:b\": \"x:1\"}", "key \"a:b\": '/' and ':'"},
        {"{\"\": \"x:1\"}", "key \"\": empty cell name"},
        {"{\"*\": \"x:1\"}", "key \"*\": wildcard characters"},
        {"{\"ny?\": \"x:1\"}", "key \"ny?\": wildcard"},
        {"{\"[a]\": \"x:1\"}", "key \"[a]\": wildcard"},
        {"{\"..\": \"x:1\"}", "key \"..\": \".\" and \"..\""},
        {"{\"a\\tb\": \"x:1\"}", "control character"},
        {"{\"-global\": \"x:1\"}", "key \"-global\": empty cell name"},
        {"{\":_zkocc\": \"x:1\"}", "key \":_zkocc\": empty cell name"},
        {"{\"-global:_zkocc\": \"x:1\"}", "empty cell name"},
        {"{\"a/b-global\": \"x:1\"}", "key \"a/b-global\": '/'"},
        {"{\"*:_zkocc\": \"x:1\"}", "wildcard"},
        {"{\"nyc:_zkocc:_zkocc\": \"x:1\"}", "'/' and ':'"},
        {"{\"a:b-global\": \"x:1\"}", "'/' and ':'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *p = write_file("keys.json", cases[i].text);
        zkc_cells *c = cells_on(p, "nyc1");
        expect_bad(c, cases[i].msg);
        assert_non_null(strstr(zkc_errmsg(), p));
        zkc_cells_free(c);
        /* Given as text, the message says so. */
        c = cells_text(cases[i].text, "nyc1");
        expect_bad(c, cases[i].msg);
        assert_non_null(strstr(zkc_errmsg(), "(text)"));
        zkc_cells_free(c);
    }

    /* The good forms, with names at the edges of the rules. */
    zkc_cells *c = cells_text("{\"nyc\": \"a:1\", \"nyc-global\": \"g:1\","
                              " \"nyc:_zkocc\": \"o:1\", \"nyc-global:_zkocc\": \"go:1\","
                              " \"global:_zkocc\": \"gz:1\", \"odd-name\": \"x:1\","
                              " \"local\": \"l:1\", \"a.b\": \"d:1\", \"...\": \"e:1\"}",
                              "nyc1");
    assert_int_equal(ZKC_OK, zkc_cells_refresh(c));
    expect_addrs(c, "nyc", false, "a:1");
    expect_addrs(c, "global", false, "g:1");
    expect_addrs(c, "nyc", true, "o:1");
    expect_addrs(c, "global", true, "gz:1");
    expect_known(c, false, "...,a.b,global,nyc");
    zkc_cells_free(c);
}

static void test_bad_files(void **state)
{
    (void)state;
    struct {
        const char *name, *text, *msg;
    } cases[] = {
        /* jansson's message, where: FILE:LINE:COLUMN. */
        {"notjson.json", "{\"nyc\": ",
         "notjson.json:1:8: not valid JSON: unexpected token near end of file"},
        {"garbage.json", "zk1:2181", "garbage.json:1:2: not valid JSON: invalid token near 'zk'"},
        {"empty.json", "", "empty.json:1:0: not valid JSON"},
        {"lines.json", "{\"nyc\": \"a:1\",\n \"sfo\": }\n",
         "lines.json:2:9: not valid JSON: unexpected token near '}'"},
        {"array.json", "[\"nyc\", \"zk:1\"]", "array.json: not a JSON object"},
        {"string.json", "\"zk:1\"", "string.json: not a JSON object"},
        {"number.json", "{\"nyc\": 2181}", "number.json: the value of key \"nyc\" is not a string"},
        {"null.json", "{\"nyc\": null}", "the value of key \"nyc\" is not a string"},
        {"nested.json", "{\"a\": \"x\", \"nyc\": {\"a\": \"b\"}}", "key \"nyc\" is not a string"},
        {"list.json", "{\"nyc\": [2181]}", "key \"nyc\" is not a string or a list"},
        {"dup.json", "{\"nyc\": \"a:1\", \"nyc\": \"b:1\"}",
         "dup.json:1:20: not valid JSON: duplicate object key"},
        {"trailing.json", "{\"nyc\": \"a:1\"} x",
         "trailing.json:1:16: not valid JSON: end of file expected"},
        {"nul.json", "{\"nyc\": \"a\\u0000b\"}", "nul.json:1:18: not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *p = write_file(cases[i].name, cases[i].text);
        zkc_cells *c = cells_on(p, "nyc1");
        expect_bad(c, cases[i].msg);
        /* The message names the whole path. */
        assert_non_null(strstr(zkc_errmsg(), p));
        assert_true(strncmp(zkc_errmsg(), "zk config ", 10) == 0);
        zkc_cells_free(c);
    }

    /* Not a file at all. */
    zkc_cells *c = cells_on(tmpdir, "nyc1");
    expect_bad(c, "not a regular file");
    zkc_cells_free(c);

    /* Too large. */
    char big[400];
    snprintf(big, sizeof big, "%s/big.json", tmpdir);
    FILE *f = fopen(big, "w");
    assert_non_null(f);
    assert_int_equal(0, ftruncate(fileno(f), ZKC_MAX_CONFIG_SIZE + 1));
    fclose(f);
    c = cells_on(big, "nyc1");
    expect_bad(c, "larger than");
    zkc_cells_free(c);

    /* Unreadable (unless we are root, who reads everything). */
    if (geteuid() != 0) {
        const char *p = write_file("secret.json", "{}");
        chmod(p, 0);
        c = cells_on(p, "nyc1");
        expect_bad(c, "cannot open: Permission denied");
        zkc_cells_free(c);
    }

    /* Text configurations get the same checks. */
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_text = "{\"a\": 1}";
    o.ignore_env = true;
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    expect_bad(c, "zk config (text): the value of key \"a\" is not a string");
    zkc_cells_free(c);
    o.config_text = "{\"a\": ";
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    expect_bad(c, "zk config (text):1:6: not valid JSON: unexpected token near end of file");
    zkc_cells_free(c);
}

static void test_missing_files(void **state)
{
    (void)state;
    char missing1[400], missing2[400], notdir[400];
    snprintf(missing1, sizeof missing1, "%s/nope1.json", tmpdir);
    snprintf(missing2, sizeof missing2, "%s/nope2.json", tmpdir);
    const char *file = write_file("plain.json", "{\"nyc\": \"second:1\"}");
    snprintf(notdir, sizeof notdir, "%s/x.json", file); /* through a file: ENOTDIR */

    /* Missing files are skipped; the first that exists is used. */
    const char *paths[4] = {missing1, notdir, file, missing2};
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.config_paths = paths;
    o.n_config_paths = 4;
    o.ignore_env = true;
    o.hostname = "nyc1";
    zkc_cells *c = NULL;
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    assert_int_equal(ZKC_OK, zkc_cells_refresh(c));
    expect_addrs(c, "nyc", false, "second:1");
    zkc_cells_free(c);

    /* No file at all: no cells, and lookups say which files were tried;
     * the overrides still work. */
    const char *none[2] = {missing1, missing2};
    o.config_paths = none;
    o.n_config_paths = 2;
    o.global_addrs = "g:1";
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    assert_int_equal(ZKC_OK, zkc_cells_refresh(c));
    expect_addrs_err(c, "nyc", false, ZKC_ENOCELL, "no config file found:");
    expect_addrs_err(c, "nyc", false, ZKC_ENOCELL, "nope2.json");
    expect_addrs(c, "global", false, "g:1");
    expect_known(c, false, "global");
    zkc_cells_free(c);

    /* A bad first file is an error, not skipped in favour of the next. */
    const char *bad = write_file("bad-first.json", "nope");
    const char *badfirst[2] = {bad, file};
    o.config_paths = badfirst;
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    expect_bad(c, "bad-first.json:1:4: not valid JSON: invalid token near 'nope'");
    zkc_cells_free(c);
}

/* ---- a changed file is picked up ---- */

static void test_reload(void **state)
{
    (void)state;
    /* The files are looked at once a second: the test's clock says when. */
    test_clock_start();
    const char *p = write_file("reload.json", "{\"nyc\": \"one:1\"}");
    zkc_cells *c = cells_on(p, "nyc1");
    expect_addrs(c, "nyc", false, "one:1");

    /* Within the second the parsed copy is used... */
    write_file("reload.json", "{\"nyc\": \"two:22\"}");
    test_clock_advance(999);
    expect_addrs(c, "nyc", false, "one:1");
    /* ...but a refresh (what each dial does) sees the change at once. */
    assert_int_equal(ZKC_OK, zkc_cells_refresh(c));
    expect_addrs(c, "nyc", false, "two:22");

    /* A same-size rewrite is seen through mtime/ctime. */
    write_file("reload.json", "{\"nyc\": \"thr:33\"}");
    assert_int_equal(ZKC_OK, zkc_cells_refresh(c));
    expect_addrs(c, "nyc", false, "thr:33");

    /* A new file at the same path (new inode), seen after a second
     * without any refresh: not before. */
    char tmp[400], path[400];
    snprintf(tmp, sizeof tmp, "%s/reload.json.tmp", tmpdir);
    snprintf(path, sizeof path, "%s/reload.json", tmpdir);
    write_file("reload.json.tmp", "{\"nyc\": \"four:4\", \"sfo\": \"s:1\"}");
    assert_int_equal(0, rename(tmp, path));
    test_clock_advance(999);
    expect_addrs(c, "nyc", false, "thr:33");
    test_clock_advance(1);
    expect_addrs(c, "nyc", false, "four:4");
    expect_known(c, false, "nyc,sfo");

    /* A file that turns bad makes lookups fail, naming it; fixed, it
     * works again. */
    write_file("reload.json", "{\"nyc\": 4}");
    expect_bad(c, "reload.json: the value of key \"nyc\" is not a string");
    write_file("reload.json", "{\"nyc\": \"five:5\"}");
    assert_int_equal(ZKC_OK, zkc_cells_refresh(c));
    expect_addrs(c, "nyc", false, "five:5");

    /* A file that goes away leaves no cells. */
    assert_int_equal(0, unlink(path));
    assert_int_equal(ZKC_OK, zkc_cells_refresh(c));
    expect_addrs_err(c, "nyc", false, ZKC_ENOCELL, "no config file found");
    write_file("reload.json", "{\"nyc\": \"six:6\"}");
    assert_int_equal(ZKC_OK, zkc_cells_refresh(c));
    expect_addrs(c, "nyc", false, "six:6");
    zkc_cells_free(c);
}

/* ---- subprocess flags ---- */

static void test_subprocess_flags(void **state)
{
    (void)state;
    zkc_cells *c = NULL;
    zkc_strings *argv = NULL;
    zkc_cells_opts o = ZKC_CELLS_OPTS_INIT;
    o.ignore_env = true;
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    assert_int_equal(ZKC_OK, zkc_cells_subprocess_flags(c, &argv));
    assert_int_equal(0, argv->count); /* only what differs from defaults */
    assert_int_equal(ZKC_DEFAULT_BASE_TIMEOUT_MS, zkc_cells_base_timeout_ms(c));
    assert_int_equal(ZKC_DEFAULT_CONNECT_TIMEOUT_MS, zkc_cells_connect_timeout_ms(c));
    zkc_strings_free(argv);
    zkc_cells_free(c);

    o.local_cell = "nyc";
    o.local_addrs = "l:1";
    o.global_addrs = "g:1,g:2";
    o.base_timeout_ms = 90500;
    o.connect_timeout_ms = 250;
    assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
    assert_int_equal(ZKC_OK, zkc_cells_subprocess_flags(c, &argv));
    assert_string_equal("-zk.local-cell,nyc,-zk.local-addrs,l:1,-zk.global-addrs,g:1,g:2,"
                        "-zk.base-timeout,1m30.5s,-zk.connect-timeout,250ms",
                        join(argv));
    assert_int_equal(90500, zkc_cells_base_timeout_ms(c));
    assert_int_equal(250, zkc_cells_connect_timeout_ms(c));
    zkc_strings_free(argv);
    zkc_cells_free(c);

    /* Go duration forms. */
    struct {
        int ms;
        const char *want;
    } d[] = {{1, "1ms"},         {999, "999ms"},     {1000, "1s"},       {1500, "1.5s"},
             {1250, "1.25s"},    {1001, "1.001s"},   {60000, "1m0s"},    {61000, "1m1s"},
             {3600000, "1h0m0s"}, {3661001, "1h1m1.001s"}, {30000, "30s"}};
    for (size_t i = 0; i < sizeof d / sizeof *d; i++) {
        o = (zkc_cells_opts)ZKC_CELLS_OPTS_INIT;
        o.ignore_env = true;
        o.base_timeout_ms = d[i].ms;
        assert_int_equal(ZKC_OK, zkc_cells_new(&o, &c));
        assert_int_equal(ZKC_OK, zkc_cells_subprocess_flags(c, &argv));
        if (d[i].ms == ZKC_DEFAULT_BASE_TIMEOUT_MS) {
            assert_int_equal(0, argv->count);
        } else {
            assert_int_equal(2, argv->count);
            assert_string_equal(d[i].want, argv->v[1]);
        }
        zkc_strings_free(argv);
        zkc_cells_free(c);
    }
}

/* Many threads looking up while the file changes: no crash, no torn
 * values (run under the sanitizers). */
typedef struct hammer {
    zkc_cells *c;
    int bad;
} hammer;

static void *hammer_run(void *arg)
{
    hammer *h = arg;
    for (int i = 0; i < 300; i++) {
        char *a = NULL;
        if (zkc_cells_addrs(h->c, "nyc", false, &a) == ZKC_OK) {
            if (strcmp(a, "a:1") != 0 && strcmp(a, "b:2") != 0)
                h->bad++;
            zkc_free(a);
        }
        if (i % 10 == 0)
            zkc_cells_refresh(h->c);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    const char *p = write_file("threads.json", "{\"nyc\": \"a:1\"}");
    zkc_cells *c = cells_on(p, "nyc1");
    hammer h[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (hammer){c, 0};
        pthread_create(&t[i], NULL, hammer_run, &h[i]);
    }
    for (int i = 0; i < 50; i++)
        write_file("threads.json", i % 2 ? "{\"nyc\": \"a:1\"}" : "{\"nyc\": \"b:2\"}");
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(0, h[i].bad);
    }
    zkc_cells_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cell_from_path), cmocka_unit_test(test_cell_name_valid),
        cmocka_unit_test(test_addrs),          cmocka_unit_test(test_global_rules),
        cmocka_unit_test(test_local_addrs),    cmocka_unit_test(test_known_cells),
        cmocka_unit_test(test_guess_local_cell), cmocka_unit_test(test_env),
        cmocka_unit_test(test_bad_options),    cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test_teardown(test_reload, test_clock_teardown),
        cmocka_unit_test(test_subprocess_flags), cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name("cells", tests, setup, teardown);
}
