/*
 * cells.c: the cell configuration (the seed's config.go): zk_client.json
 * read with jansson and kept until the file changes, the local cell
 * guessed from the host name, known cells, cell to server addresses, the
 * cell of a path, and the flags handed to subprocesses.
 *
 * The bugs the reference lists are fixed here: the file is not parsed on
 * every lookup, a short host name does not crash and an empty guess is an
 * error, empty cell names are rejected, -zk.global-addrs does not bypass
 * zkocc in zkocc mode, and -zk.local-addrs is used.  Connections are the
 * connection cache's business (conn_cache.c).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zkcell/cells.h"
#include "zkcell/path.h"
#include "zkcell/zk.h"
#include "zkcell/sys/conn_impl.h"

#define ZKOCC_SUFFIX ":_zkocc"
#define GLOBAL_SUFFIX "-global"
#define CHECK_INTERVAL_MS 1000
#define MAX_CELL_NAME 255

/* What identifies one version of a file: if none of it changed, the
 * parsed copy is still good. */
typedef struct file_sig {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    struct timespec ctime;
} file_sig;

struct zkc_cells {
    pthread_mutex_t lock;

    /* Settings, fixed at creation. */
    char **paths;
    size_t n_paths;
    char *text; /* config text instead of files, or NULL */
    size_t text_len;
    char *local_cell;        /* override or environment, or NULL */
    bool local_from_flag;    /* the override came from opts, not env */
    char *local_addrs;
    char *global_addrs;
    char *hostname;          /* NULL: gethostname() */
    int base_timeout_ms;
    int connect_timeout_ms;

    /* The parsed file, guarded by lock. */
    bool loaded;
    int64_t checked_ms;
    file_sig *sigs;          /* one per path, as last seen */
    json_t *map;             /* the good object, or NULL */
    char *source;            /* the file it came from, or NULL */
    int load_rc;             /* ZKC_OK or ZKC_EBADCONFIG */
    char *load_err;          /* message when load_rc is an error */
    char *guessed;           /* the local cell, once guessed */
};

/* ---- small helpers ---- */

static char *xstrdup(const char *s)
{
    return s == NULL ? NULL : strdup(s);
}

static bool is_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/* Go's %q for the common case: the string in double quotes, with '"',
 * '\\' and bytes outside printable ASCII escaped.  Writes into buf. */
static const char *quote(const char *s, size_t len, char *buf, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (size < 8)
        return "\"\"";
    buf[o++] = '"';
    for (size_t i = 0; i < len && o + 6 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

bool zkc_cell_name_valid(const char *name, size_t len)
{
    if (name == NULL || len == 0 || len > MAX_CELL_NAME)
        return false;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '-' || c == ':')
            return false;
    }
    return true;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* ---- paths ---- */

int zkc_cell_from_path(const char *path, const char **ret_cell, size_t *ret_len)
{
    char q[600];
    if (path == NULL) {
        zkc_impl_set_errmsg("no cell name in path: (null)");
        return ZKC_EBADPATH;
    }
    size_t plen = strnlen(path, ZKC_MAX_PATH + 1);
    const size_t mlen = sizeof ZKC_MAGIC_PREFIX - 1;
    /* Pieces 0 and 1 of the split path must be "" and "zk". */
    if (path[0] != '/' || strncmp(path + 1, ZKC_MAGIC_PREFIX, mlen) != 0 ||
        (path[1 + mlen] != '/' && path[1 + mlen] != '\0')) {
        zkc_impl_set_errmsg("path should start with /%s/: %s", ZKC_MAGIC_PREFIX,
                        quote(path, plen, q, sizeof q));
        return ZKC_EBADPATH;
    }
    if (path[1 + mlen] == '\0') {
        zkc_impl_set_errmsg("no cell name in path: %s", quote(path, plen, q, sizeof q));
        return ZKC_EBADPATH;
    }
    const char *cell = path + 2 + mlen;
    const char *end = strchr(cell, '/');
    size_t len = end != NULL ? (size_t)(end - cell) : strlen(cell);
    if (len == 0) {
        zkc_impl_set_errmsg("no cell name in path: %s", quote(path, plen, q, sizeof q));
        return ZKC_EBADPATH;
    }
    if (!zkc_cell_name_valid(cell, len)) {
        char qc[600];
        zkc_impl_set_errmsg("invalid cell name %s in path %s", quote(cell, len, qc, sizeof qc),
                        quote(path, plen, q, sizeof q));
        return ZKC_EBADPATH;
    }
    if (ret_cell != NULL)
        *ret_cell = cell;
    if (ret_len != NULL)
        *ret_len = len;
    return ZKC_OK;
}

/* ---- creation ---- */

static int check_local_name(const char *name, const char *source)
{
    char q[600];
    if (!zkc_cell_name_valid(name, strlen(name)) || strcmp(name, "local") == 0) {
        zkc_impl_set_errmsg("local cell %s from %s is not a valid cell name",
                        quote(name, strlen(name), q, sizeof q), source);
        return ZKC_EBADCONFIG;
    }
    return ZKC_OK;
}

int zkc_cells_new(const zkc_cells_opts *opts, zkc_cells **ret_cells)
{
    static const zkc_cells_opts defaults = ZKC_CELLS_OPTS_INIT;
    if (ret_cells == NULL)
        return ZKC_EBADARGUMENTS;
    *ret_cells = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (opts->version != 1 || opts->base_timeout_ms < 0 || opts->connect_timeout_ms < 0 ||
        (opts->n_config_paths > 0 && opts->config_paths == NULL)) {
        zkc_impl_set_errmsg("zkc_cells_new: bad options");
        return ZKC_EBADARGUMENTS;
    }

    const char *env_config = opts->ignore_env ? NULL : getenv("ZK_CLIENT_CONFIG");
    const char *env_local = opts->ignore_env ? NULL : getenv("ZK_CLIENT_LOCAL_CELL");
    int rc;
    if (!is_empty(opts->local_cell)) {
        if ((rc = check_local_name(opts->local_cell, "-zk.local-cell")) != ZKC_OK)
            return rc;
    } else if (!is_empty(env_local)) {
        if ((rc = check_local_name(env_local, "ZK_CLIENT_LOCAL_CELL")) != ZKC_OK)
            return rc;
    }

    zkc_cells *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ZKC_ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    c->base_timeout_ms =
        opts->base_timeout_ms > 0 ? opts->base_timeout_ms : ZKC_DEFAULT_BASE_TIMEOUT_MS;
    c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
                                                         : ZKC_DEFAULT_CONNECT_TIMEOUT_MS;
    bool nomem = false;
    if (opts->config_text != NULL) {
        c->text_len =
            opts->config_text_len > 0 ? opts->config_text_len : strlen(opts->config_text);
        c->text = malloc(c->text_len + 1);
        if (c->text != NULL) {
            memcpy(c->text, opts->config_text, c->text_len);
            c->text[c->text_len] = '\0';
        }
        nomem |= c->text == NULL;
    } else {
        size_t n = opts->n_config_paths;
        const char *const *src = opts->config_paths;
        const char *one[1];
        if (n == 0) {
            one[0] = !is_empty(env_config) ? env_config : ZKC_DEFAULT_CONFIG_PATH;
            src = one;
            n = 1;
        }
        c->paths = calloc(n, sizeof *c->paths);
        c->sigs = calloc(n, sizeof *c->sigs);
        nomem |= c->paths == NULL || c->sigs == NULL;
        for (size_t i = 0; !nomem && i < n; i++) {
            c->paths[i] = xstrdup(src[i] != NULL ? src[i] : "");
            nomem |= c->paths[i] == NULL;
            c->n_paths = i + 1;
        }
    }
    if (!is_empty(opts->local_cell)) {
        c->local_cell = xstrdup(opts->local_cell);
        c->local_from_flag = true;
        nomem |= c->local_cell == NULL;
    } else if (!is_empty(env_local)) {
        c->local_cell = xstrdup(env_local);
        nomem |= c->local_cell == NULL;
    }
    if (!is_empty(opts->local_addrs))
        nomem |= (c->local_addrs = xstrdup(opts->local_addrs)) == NULL;
    if (!is_empty(opts->global_addrs))
        nomem |= (c->global_addrs = xstrdup(opts->global_addrs)) == NULL;
    if (opts->hostname != NULL)
        nomem |= (c->hostname = xstrdup(opts->hostname)) == NULL;
    if (nomem) {
        zkc_cells_free(c);
        return ZKC_ENOMEM;
    }
    *ret_cells = c;
    return ZKC_OK;
}

void zkc_cells_free(zkc_cells *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_paths; i++)
        free(c->paths[i]);
    free(c->paths);
    free(c->sigs);
    free(c->text);
    free(c->local_cell);
    free(c->local_addrs);
    free(c->global_addrs);
    free(c->hostname);
    if (c->map != NULL)
        json_decref(c->map);
    free(c->source);
    free(c->load_err);
    free(c->guessed);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int zkc_cells_base_timeout_ms(const zkc_cells *c)
{
    return c->base_timeout_ms;
}

int zkc_cells_connect_timeout_ms(const zkc_cells *c)
{
    return c->connect_timeout_ms;
}

/* ---- loading ---- */

/* A JSON array of 1..64 non-empty strings without ';' (or NUL) joined
 * by ';' into *ret (malloc'd); ZKC_EBADCONFIG otherwise, ZKC_ENOMEM. */
static int join_quorums(json_t *arr, char **ret)
{
    size_t n = json_array_size(arr), total = 0;
    if (n == 0 || n > 64)
        return ZKC_EBADCONFIG;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        const char *s = json_string_value(e);
        if (s == NULL || *s == '\0' || strchr(s, ';') != NULL ||
            strlen(s) != json_string_length(e))
            return ZKC_EBADCONFIG;
        total += strlen(s) + 1;
    }
    char *out = malloc(total);
    if (out == NULL)
        return ZKC_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        size_t l = strlen(s);
        if (i > 0)
            out[o++] = ';';
        memcpy(out + o, s, l);
        o += l;
    }
    out[o] = '\0';
    *ret = out;
    return ZKC_OK;
}

/*
 * Why a key cannot name a cell, or NULL.  Keys are "<cell>",
 * "<cell>-global" and either with ":_zkocc"; "global" is one too.  Names
 * with '-' (other than the "-global" suffix) and "local" are not cells
 * and are left alone; what could never be one is refused, so that a typo
 * is not skipped silently: an empty name, '/' or ':' (they split paths
 * and keys), '.' and '..', control characters, and the wildcard
 * characters (a '*' in a path's cell position means every cell).
 */
static const char *bad_key(const char *key, size_t len)
{
    if (ends_with(key, len, ZKOCC_SUFFIX))
        len -= sizeof ZKOCC_SUFFIX - 1;
    if (!(len == 6 && memcmp(key, "global", 6) == 0) && ends_with(key, len, GLOBAL_SUFFIX))
        len -= sizeof GLOBAL_SUFFIX - 1;
    if (len == 0)
        return "empty cell name";
    if ((len == 1 && key[0] == '.') || (len == 2 && key[0] == '.' && key[1] == '.'))
        return "\".\" and \"..\" are not cell names";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '/' || c == ':')
            return "'/' and ':' are not allowed in a cell name";
        if (c < 0x20 || c == 0x7f)
            return "control character in a cell name";
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
            return "wildcard characters (* ? [ ] \\) are not allowed in a cell name";
    }
    if (len > MAX_CELL_NAME)
        return "cell name too long";
    return NULL;
}

/* Check a parsed document: an object of strings whose keys can name
 * cells.  On error, writes the problem into msg. */
static int check_map(json_t *root, char *msg, size_t size)
{
    if (!json_is_object(root)) {
        snprintf(msg, size, "not a JSON object");
        return ZKC_EBADCONFIG;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        char q[600];
        if (json_is_array(v)) {
            /* A list of quorums, each an address string: kept as one
             * string "A;B;C" (zkc_dial_quorums() dials it as one global
             * namespace). */
            char *joined = NULL;
            int rc = join_quorums(v, &joined);
            if (rc == ZKC_ENOMEM)
                return rc;
            if (rc == ZKC_OK) {
                rc = json_object_set_new(root, key, json_string(joined)) == 0 ? ZKC_OK
                                                                             : ZKC_ENOMEM;
                free(joined);
                if (rc != ZKC_OK)
                    return rc;
                const char *why = bad_key(key, strlen(key));
                if (why != NULL) {
                    snprintf(msg, size, "key %s: %s", quote(key, strlen(key), q, sizeof q), why);
                    return ZKC_EBADCONFIG;
                }
                continue;
            }
            snprintf(msg, size,
                     "the value of key %s is not a string or a list of 1 to 64 non-empty "
                     "address strings without ';'",
                     quote(key, strlen(key), q, sizeof q));
            return ZKC_EBADCONFIG;
        }
        if (!json_is_string(v)) {
            snprintf(msg, size, "the value of key %s is not a string",
                     quote(key, strlen(key), q, sizeof q));
            return ZKC_EBADCONFIG;
        }
        const char *why = bad_key(key, strlen(key));
        if (why != NULL) {
            snprintf(msg, size, "key %s: %s", quote(key, strlen(key), q, sizeof q), why);
            return ZKC_EBADCONFIG;
        }
    }
    return ZKC_OK;
}

/* The flags of every parse: a duplicate key is an error, and so is a
 * document that is not an object (said by check_map, more clearly than
 * jansson would). */
#define CONFIG_JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/* Check what jansson parsed from name (a file, or "(text)"): *ret_map is
 * set on success, else msg says "zk config NAME:LINE:COLUMN: not valid
 * JSON: ..." or "zk config NAME: <what check_map found>". */
static int check_parsed(const char *name, json_t *root, const json_error_t *err,
                        json_t **ret_map, char *msg, size_t size)
{
    if (root == NULL) {
        snprintf(msg, size, "zk config %s:%d:%d: not valid JSON: %s", name, err->line,
                 err->column, err->text);
        return ZKC_EBADCONFIG;
    }
    char why[700];
    int rc = check_map(root, why, sizeof why);
    if (rc != ZKC_OK) {
        if (rc == ZKC_EBADCONFIG)
            snprintf(msg, size, "zk config %s: %s", name, why);
        json_decref(root);
        return rc;
    }
    *ret_map = root;
    return ZKC_OK;
}

/* Record a load result (lock held).  map is taken; msg may be NULL. */
static void set_loaded(zkc_cells *c, json_t *map, const char *source, int rc, const char *msg)
{
    if (c->map != NULL)
        json_decref(c->map);
    free(c->source);
    free(c->load_err);
    c->map = map;
    c->source = xstrdup(source);
    c->load_rc = rc;
    c->load_err = rc != ZKC_OK ? xstrdup(msg) : NULL;
    c->loaded = true;
}

static bool sig_equal(const file_sig *a, const file_sig *b)
{
    if (a->exists != b->exists)
        return false;
    if (!a->exists)
        return true;
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static void sig_from_stat(file_sig *s, const struct stat *st)
{
    s->exists = 1;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtime = st->st_mtim;
    s->ctime = st->st_ctim;
}

/* Read and parse one file (json_load_file).  Returns ZKC_OK with
 * *ret_map, 1 when there is no file at path, or ZKC_EBADCONFIG with msg
 * naming path.  *sig is the file as it was before reading: if it changes
 * while being read, the next check sees a different file and reads it
 * again. */
static int load_file(const char *path, file_sig *sig, json_t **ret_map, char *msg,
                     size_t size)
{
    memset(sig, 0, sizeof *sig);
    char eb[128];
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 1;
        sig->exists = -1; /* unreadable: check again next time */
        snprintf(msg, size, "zk config %s: cannot stat: %s", path,
                 strerror_r(errno, eb, sizeof eb));
        return ZKC_EBADCONFIG;
    }
    sig_from_stat(sig, &st);
    if (!S_ISREG(st.st_mode)) {
        snprintf(msg, size, "zk config %s: not a regular file", path);
        return ZKC_EBADCONFIG;
    }
    if (st.st_size > ZKC_MAX_CONFIG_SIZE) {
        snprintf(msg, size, "zk config %s: larger than %d bytes", path, ZKC_MAX_CONFIG_SIZE);
        return ZKC_EBADCONFIG;
    }
    json_error_t err;
    json_t *root = json_load_file(path, CONFIG_JSON_FLAGS, &err);
    if (root == NULL && json_error_code(&err) == json_error_cannot_open_file) {
        sig->exists = -1;
        snprintf(msg, size, "zk config %s: cannot open: %s", path,
                 strerror_r(errno, eb, sizeof eb));
        return ZKC_EBADCONFIG;
    }
    if (root == NULL && json_error_code(&err) == json_error_out_of_memory)
        return ZKC_ENOMEM;
    return check_parsed(path, root, &err, ret_map, msg, size);
}

/* Make the parsed configuration current (lock held).  force: check the
 * files now, else at most once a second. */
static int refresh_locked(zkc_cells *c, bool force)
{
    /* Written by the parsers on errors only, and formatted either way. */
    char msg[1500] = "";
    if (c->text != NULL) {
        if (!c->loaded) {
            json_t *map = NULL;
            json_error_t err;
            json_t *root = json_loadb(c->text, c->text_len, CONFIG_JSON_FLAGS, &err);
            int rc = check_parsed("(text)", root, &err, &map, msg, sizeof msg);
            if (rc == ZKC_ENOMEM)
                return rc;
            set_loaded(c, map, "(text)", rc, msg);
        }
        goto out;
    }
    int64_t now = zkc_impl_now_ms();
    if (c->loaded && !force && now - c->checked_ms < CHECK_INTERVAL_MS)
        goto out;
    c->checked_ms = now;

    /* Unchanged when every path up to the one in use looks the same. */
    if (c->loaded) {
        bool same = true;
        for (size_t i = 0; i < c->n_paths && same; i++) {
            file_sig s = {0};
            struct stat st;
            if (stat(c->paths[i], &st) == 0)
                sig_from_stat(&s, &st);
            else if (errno != ENOENT && errno != ENOTDIR)
                s.exists = -1;
            same = s.exists >= 0 && sig_equal(&s, &c->sigs[i]);
            if (s.exists)
                break;
        }
        if (same)
            goto out;
    }

    for (size_t i = 0; i < c->n_paths; i++) {
        json_t *map = NULL;
        int rc = load_file(c->paths[i], &c->sigs[i], &map, msg, sizeof msg);
        if (rc == 1)
            continue;
        if (rc == ZKC_ENOMEM)
            return rc;
        set_loaded(c, map, c->paths[i], rc, msg);
        goto out;
    }
    /* No file: no cells, but the overrides still work. */
    set_loaded(c, json_object(), NULL, ZKC_OK, NULL);
    if (c->map == NULL)
        return ZKC_ENOMEM;
out:
    if (c->load_rc != ZKC_OK)
        zkc_impl_set_errmsg("%s", c->load_err != NULL ? c->load_err : "zk config: bad");
    return c->load_rc;
}

int zkc_cells_refresh(zkc_cells *c)
{
    if (c == NULL)
        return ZKC_EBADARGUMENTS;
    pthread_mutex_lock(&c->lock);
    int rc = refresh_locked(c, true);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* The value of key in the map, or NULL (lock held, map loaded). */
static const char *lookup(zkc_cells *c, const char *key)
{
    json_t *v = json_object_get(c->map, key);
    const char *s = v != NULL ? json_string_value(v) : NULL;
    return is_empty(s) ? NULL : s;
}

/* ---- the local cell ---- */

/* GuessLocalCell (lock held).  The result is borrowed from c. */
static int local_locked(zkc_cells *c, const char **ret)
{
    if (c->local_cell != NULL) {
        *ret = c->local_cell;
        return ZKC_OK;
    }
    if (c->guessed != NULL) {
        *ret = c->guessed;
        return ZKC_OK;
    }
    char host[256];
    if (c->hostname != NULL) {
        snprintf(host, sizeof host, "%s", c->hostname);
    } else if (gethostname(host, sizeof host) != 0) {
        char eb[128];
        zkc_impl_set_errmsg("cannot guess the local cell: gethostname: %s",
                            strerror_r(errno, eb, sizeof eb));
        return ZKC_ESYSTEMERROR;
    }
    host[sizeof host - 1] = '\0';
    size_t n = 0;
    while (host[n] != '\0' && host[n] != '.' &&
           ((host[n] >= 'a' && host[n] <= 'z') || (host[n] >= 'A' && host[n] <= 'Z')))
        n++;
    if (n == 0 || (n == 5 && memcmp(host, "local", 5) == 0)) {
        char q[600];
        zkc_impl_set_errmsg("cannot guess the local cell from host name %s: it must start with "
                        "a letter; set ZK_CLIENT_LOCAL_CELL or -zk.local-cell",
                        quote(host, strlen(host), q, sizeof q));
        return ZKC_ENOCELL;
    }
    c->guessed = strndup(host, n);
    if (c->guessed == NULL)
        return ZKC_ENOMEM;
    *ret = c->guessed;
    return ZKC_OK;
}

int zkc_cells_local_cell(zkc_cells *c, char **ret_cell)
{
    if (c == NULL || ret_cell == NULL)
        return ZKC_EBADARGUMENTS;
    pthread_mutex_lock(&c->lock);
    const char *local = NULL;
    int rc = local_locked(c, &local);
    if (rc == ZKC_OK && (*ret_cell = strdup(local)) == NULL)
        rc = ZKC_ENOMEM;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int check_cell(const char *cell)
{
    char q[600];
    if (cell == NULL || !zkc_cell_name_valid(cell, strlen(cell))) {
        zkc_impl_set_errmsg("invalid cell name %s",
                        cell == NULL ? "(null)" : quote(cell, strlen(cell), q, sizeof q));
        return ZKC_EBADPATH;
    }
    return ZKC_OK;
}

int zkc_cells_resolve(zkc_cells *c, const char *cell, char **ret_cell)
{
    if (c == NULL || ret_cell == NULL)
        return ZKC_EBADARGUMENTS;
    int rc = check_cell(cell);
    if (rc != ZKC_OK)
        return rc;
    if (strcmp(cell, "local") != 0) {
        *ret_cell = strdup(cell);
        return *ret_cell != NULL ? ZKC_OK : ZKC_ENOMEM;
    }
    return zkc_cells_local_cell(c, ret_cell);
}

/* ---- known cells ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int zkc_cells_known(zkc_cells *c, bool zkocc, zkc_strings **ret_cells)
{
    if (c == NULL || ret_cells == NULL)
        return ZKC_EBADARGUMENTS;
    pthread_mutex_lock(&c->lock);
    int rc = refresh_locked(c, false);
    if (rc != ZKC_OK) {
        pthread_mutex_unlock(&c->lock);
        return rc;
    }
    /* The local cell only matters for "<local>-global" keys and the
     * local address override; a host name that gives none is fine. */
    const char *local = NULL;
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", zkc_errmsg());
    if (local_locked(c, &local) != ZKC_OK)
        local = NULL;
    zkc_impl_set_errmsg("%s", saved);

    zkc_strings *out = zkc_impl_strings_new(0);
    bool found_global = !zkocc && c->global_addrs != NULL;
    const char *key;
    json_t *v;
    rc = out != NULL ? ZKC_OK : ZKC_ENOMEM;
    json_object_foreach(c->map, key, v)
    {
        if (rc != ZKC_OK)
            break;
        size_t len = strlen(key);
        const char *value = json_string_value(v);
        if (is_empty(value))
            continue; /* no address: not a cell */
        bool suffixed = ends_with(key, len, ZKOCC_SUFFIX);
        if (suffixed != zkocc)
            continue;
        if (suffixed)
            len -= sizeof ZKOCC_SUFFIX - 1;
        if (len == 6 && memcmp(key, "global", 6) == 0) {
            found_global = true;
            continue;
        }
        if (ends_with(key, len, GLOBAL_SUFFIX)) {
            size_t cl = len - (sizeof GLOBAL_SUFFIX - 1);
            if (local != NULL && strlen(local) == cl && memcmp(key, local, cl) == 0)
                found_global = true;
            continue;
        }
        if (!zkc_cell_name_valid(key, len) || (len == 5 && memcmp(key, "local", 5) == 0))
            continue;
        rc = zkc_impl_strings_push(out, key, len);
    }
    if (rc == ZKC_OK && found_global)
        rc = zkc_impl_strings_push(out, "global", 6);
    if (rc == ZKC_OK && !zkocc && c->local_addrs != NULL && local != NULL)
        rc = zkc_impl_strings_push(out, local, strlen(local));
    pthread_mutex_unlock(&c->lock);
    if (rc != ZKC_OK) {
        zkc_strings_free(out);
        return rc;
    }
    if (out->count > 1)
        qsort(out->v, out->count, sizeof *out->v, cmp_str);
    /* Drop duplicates (the local cell may be listed twice). */
    size_t w = 0;
    for (size_t i = 0; i < out->count; i++) {
        if (w > 0 && strcmp(out->v[w - 1], out->v[i]) == 0)
            free(out->v[i]);
        else
            out->v[w++] = out->v[i];
    }
    out->count = w;
    *ret_cells = out;
    return ZKC_OK;
}

/* ---- addresses ---- */

/* Look up key, with the zkocc suffix when asked (lock held).  Returns the
 * value or NULL; writes the key looked up into buf. */
static const char *lookup_key(zkc_cells *c, const char *base, const char *suffix, bool zkocc,
                              char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s", base, suffix, zkocc ? ZKOCC_SUFFIX : "");
    return lookup(c, buf);
}

static int no_addr(zkc_cells *c, const char *key)
{
    char q[600];
    char where[700];
    if (c->source != NULL) {
        snprintf(where, sizeof where, "config %s", c->source);
    } else {
        size_t o = (size_t)snprintf(where, sizeof where, "no config file found:");
        for (size_t i = 0; i < c->n_paths && o < sizeof where; i++)
            o += (size_t)snprintf(where + o, sizeof where - o, " %s", c->paths[i]);
    }
    zkc_impl_set_errmsg("no addr found for zk cell: %s (%s)", quote(key, strlen(key), q, sizeof q),
                    where);
    return ZKC_ENOCELL;
}

int zkc_cells_addrs(zkc_cells *c, const char *cell, bool zkocc, char **ret_addrs)
{
    if (c == NULL || ret_addrs == NULL)
        return ZKC_EBADARGUMENTS;
    int rc = check_cell(cell);
    if (rc != ZKC_OK)
        return rc;
    pthread_mutex_lock(&c->lock);
    const char *addrs = NULL;
    char key[600];
    const char *local = NULL;
    rc = refresh_locked(c, false);
    if (rc != ZKC_OK)
        goto out;
    if (strcmp(cell, "local") == 0) {
        if ((rc = local_locked(c, &local)) != ZKC_OK)
            goto out;
        cell = local;
    }
    if (strcmp(cell, "global") == 0) {
        if (!zkocc && c->global_addrs != NULL) {
            addrs = c->global_addrs;
            goto out;
        }
        addrs = lookup_key(c, "global", "", zkocc, key, sizeof key);
        if (addrs != NULL)
            goto out;
        if ((rc = local_locked(c, &local)) != ZKC_OK) {
            char why[1024];
            snprintf(why, sizeof why, "%s", zkc_errmsg());
            zkc_impl_set_errmsg("no addr found for zk cell %s and no local cell for "
                            "\"<cell>-global\": %s",
                            zkocc ? "\"global:_zkocc\"" : "\"global\"", why);
            rc = ZKC_ENOCELL;
            goto out;
        }
        addrs = lookup_key(c, local, GLOBAL_SUFFIX, zkocc, key, sizeof key);
        if (addrs == NULL)
            rc = no_addr(c, key);
        goto out;
    }
    if (!zkocc && c->local_addrs != NULL) {
        if (local == NULL && local_locked(c, &local) != ZKC_OK)
            local = NULL;
        if (local != NULL && strcmp(local, cell) == 0) {
            addrs = c->local_addrs;
            goto out;
        }
    }
    addrs = lookup_key(c, cell, "", zkocc, key, sizeof key);
    if (addrs == NULL)
        rc = no_addr(c, key);
out:
    if (rc == ZKC_OK && (*ret_addrs = strdup(addrs)) == NULL)
        rc = ZKC_ENOMEM;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int zkc_cells_path_addrs(zkc_cells *c, const char *path, bool zkocc, char **ret_addrs)
{
    if (c == NULL || ret_addrs == NULL)
        return ZKC_EBADARGUMENTS;
    const char *cell;
    size_t len;
    int rc = zkc_cell_from_path(path, &cell, &len);
    if (rc != ZKC_OK)
        return rc;
    char *name = strndup(cell, len);
    if (name == NULL)
        return ZKC_ENOMEM;
    rc = zkc_cells_addrs(c, name, zkocc, ret_addrs);
    free(name);
    return rc;
}

/* ---- subprocess flags ---- */

/* A duration in Go's time.Duration.String() form, for whole ms. */
static void go_duration(int ms, char *buf, size_t size)
{
    if (ms == 0) {
        snprintf(buf, size, "0s");
        return;
    }
    if (ms < 1000) {
        snprintf(buf, size, "%dms", ms);
        return;
    }
    int h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    size_t o = 0;
    if (h > 0)
        o += (size_t)snprintf(buf + o, size - o, "%dh", h);
    if (ms >= 60000)
        o += (size_t)snprintf(buf + o, size - o, "%dm", m);
    if (frac == 0) {
        snprintf(buf + o, size - o, "%ds", s);
    } else {
        char f[8];
        snprintf(f, sizeof f, "%03d", frac);
        for (int i = 2; i > 0 && f[i] == '0'; i--)
            f[i] = '\0';
        snprintf(buf + o, size - o, "%d.%ss", s, f);
    }
}

static int push2(zkc_strings *s, const char *a, const char *b)
{
    int rc = zkc_impl_strings_push(s, a, strlen(a));
    return rc != ZKC_OK ? rc : zkc_impl_strings_push(s, b, strlen(b));
}

int zkc_cells_subprocess_flags(zkc_cells *c, zkc_strings **ret_argv)
{
    if (c == NULL || ret_argv == NULL)
        return ZKC_EBADARGUMENTS;
    zkc_strings *s = zkc_impl_strings_new(0);
    if (s == NULL)
        return ZKC_ENOMEM;
    int rc = ZKC_OK;
    char d[64];
    if (c->local_cell != NULL && c->local_from_flag)
        rc = push2(s, "-zk.local-cell", c->local_cell);
    if (rc == ZKC_OK && c->local_addrs != NULL)
        rc = push2(s, "-zk.local-addrs", c->local_addrs);
    if (rc == ZKC_OK && c->global_addrs != NULL)
        rc = push2(s, "-zk.global-addrs", c->global_addrs);
    if (rc == ZKC_OK && c->base_timeout_ms != ZKC_DEFAULT_BASE_TIMEOUT_MS) {
        go_duration(c->base_timeout_ms, d, sizeof d);
        rc = push2(s, "-zk.base-timeout", d);
    }
    if (rc == ZKC_OK && c->connect_timeout_ms != ZKC_DEFAULT_CONNECT_TIMEOUT_MS) {
        go_duration(c->connect_timeout_ms, d, sizeof d);
        rc = push2(s, "-zk.connect-timeout", d);
    }
    if (rc != ZKC_OK) {
        zkc_strings_free(s);
        return rc;
    }
    *ret_argv = s;
    return ZKC_OK;
}
