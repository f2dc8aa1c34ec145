/*
 * cmd_write.c: the subcommands that change nodes: touch, rm, cp, edit
 * and chmod.  Writes are conditional where the original's were meant to
 * be (edit writes back at the version it read, chmod at the ACL version
 * it read); recursive deletes go through zkc_delete_recursive(), which
 * locks creators out and deletes deepest first in batches of multi (or,
 * through the cell router, level by level) with a window of operations
 * in flight.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zkcmd.h"
#include "zkcell/protected.h"

extern char **environ;

/* ---- touch ---- */

static void touch_one(zk_ctx *z, const char *path, bool no_create, bool parents)
{
    char *data = NULL;
    size_t len = 0;
    zkc_stat st;
    int rc = zkc_get(z->conn, path, &data, &len, &st, NULL);
    if (rc == ZKC_OK) {
        /* Same data, at the version read: only the mtime moves.  A
         * conflict means someone else wrote it meanwhile: touched. */
        rc = zkc_set(z->conn, path, data, len, st.version, NULL);
        zkc_free(data);
        if (rc != ZKC_OK && rc != ZKC_EBADVERSION)
            zk_err(z, path, rc, NULL);
        return;
    }
    if (rc != ZKC_ENONODE || no_create) {
        zk_err(z, path, rc, NULL);
        return;
    }
    if (parents)
        rc = zkc_create_recursive(z->conn, path, NULL, 0, 0, NULL, NULL);
    else
        rc = zkc_create(z->conn, path, NULL, 0, 0, NULL, NULL);
    if (rc != ZKC_OK && rc != ZKC_ENODEEXISTS)
        zk_err(z, path, rc, rc == ZKC_ENONODE ? "no parent; use -p" : NULL);
}

/* touch --sequence: a protected sequential create (zkc_create_protected:
 * a lost reply never makes a second node); prints the node made. */
static void touch_sequence(zk_ctx *z, const char *path, bool parents)
{
    char *made = NULL;
    int rc = zkc_create_protected(z->conn, path, NULL, 0, ZKC_SEQUENCE, NULL, NULL, &made);
    if (rc == ZKC_ENONODE && parents) {
        char *dir = zkc_path_dir(path);
        rc = dir == NULL ? ZKC_ENOMEM : zkc_create_recursive(z->conn, dir, NULL, 0, 0, NULL, NULL);
        free(dir);
        if (rc == ZKC_OK || rc == ZKC_ENODEEXISTS)
            rc = zkc_create_protected(z->conn, path, NULL, 0, ZKC_SEQUENCE, NULL, NULL, &made);
    }
    if (rc != ZKC_OK) {
        zk_err(z, path, rc, rc == ZKC_ENONODE ? "no parent; use -p" : NULL);
        return;
    }
    printf("%s\n", made);
    zkc_free(made);
}

int zk_cmd_touch(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                       {"sequence", no_argument, NULL, 's'},
                                       {NULL, 0, NULL, 0}};
    bool no_create = false, parents = false, sequence = false;
    int c;
    while ((c = getopt_long(argc, argv, "cpsh", lo, NULL)) != -1) {
        switch (c) {
        case 'c': no_create = true; break;
        case 'p': parents = true; break;
        case 's': sequence = true; break;
        ZK_HELP_CASE;
        }
    }
    if (optind >= argc)
        return zk_usage(z, "no path given");
    if (sequence && no_create)
        return zk_usage(z, "-c and --sequence do not go together");
    zk_args a;
    if (zk_expand_connect(z, argv + optind, argc - optind, false, &a) != 0)
        return ZK_EXIT_FAIL;
    for (size_t i = 0; i < a.n; i++) {
        if (sequence)
            touch_sequence(z, a.v[i].path, parents);
        else
            touch_one(z, a.v[i].path, no_create, parents);
    }
    zk_args_free(&a);
    return z->status;
}

/* ---- rm ---- */

/*
 * A recursive delete is refused for paths (or patterns) that are too
 * general: "/", "/zookeeper" and below, "/zk", "/zk/<cell>", and any
 * one-component pattern such as "/x*".
 */
static bool too_general(const char *path)
{
    char *p = zk_path_clean(path, NULL);
    if (p == NULL)
        return false; /* reported as a bad path later */
    size_t comps = 0;
    for (const char *s = p; *s != '\0'; s++)
        if (*s == '/' && s[1] != '\0')
            comps++;
    bool r = comps == 0 || strcmp(p, "/zookeeper") == 0 || strncmp(p, "/zookeeper/", 11) == 0 ||
             ((strcmp(p, "/zk") == 0 || strncmp(p, "/zk/", 4) == 0) && comps <= 2) ||
             (comps == 1 && zkc_glob_has_magic(p));
    free(p);
    return r;
}

typedef struct rm_slot {
    const char *path;
    int rc;
} rm_slot;

static void rm_fn(zk_pipe *p, const zkc_result *res, void *tag)
{
    (void)p;
    ((rm_slot *)tag)->rc = res->rc;
}

/* rm -r on the meter: each path's listing, then its deletes counted on
 * from what the paths before it deleted. */
typedef struct rm_meter {
    zk_progress *p;
    uint64_t base;    /* deleted under the paths before */
    uint64_t deleted; /* under this one, so far */
    bool deleting;
} rm_meter;

static void rm_progress(const zkc_delete_progress *d, void *ud)
{
    rm_meter *m = ud;
    m->deleted = d->deleted;
    if (!d->listing_done) {
        zk_progress_set(m->p, d->listed, 0);
        return;
    }
    if (!m->deleting) {
        m->deleting = true;
        zk_progress_phase(m->p, "deleted", m->base, m->base + d->listed);
    }
    zk_progress_set(m->p, m->base + d->deleted, m->base + d->listed);
}

static void rm_recursive(zk_ctx *z, const zk_args *a, bool force, char **argv, int argc)
{
    rm_meter m = {.p = zk_progress_start(z, "rm -r", argv, argc, "listed", 0)};
    for (size_t i = 0; i < a->n; i++) {
        const char *path = a->v[i].path;
        if (too_general(path)) {
            zk_errf(z, "%s: refusing an overly general recursive delete", path);
            continue;
        }
        m.deleted = 0;
        m.deleting = false;
        zk_progress_phase(m.p, "listed", 0, 0);
        int rc = zkc_delete_recursive_progress(z->conn, path, -1,
                                               m.p != NULL ? rm_progress : NULL, &m);
        m.base += m.deleted;
        if (rc != ZKC_OK && !(force && rc == ZKC_ENONODE))
            zk_err(z, path, rc, rc == ZKC_ENOTEMPTY ? "children were created meanwhile" : NULL);
    }
    zk_progress_end(z, m.base, "deleted");
}

int zk_cmd_rm(zk_ctx *z, int argc, char **argv)
{
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                       ZK_PROGRESS_OPTIONS,
                                       {NULL, 0, NULL, 0}};
    bool recursive = false, force = false;
    int c;
    while ((c = getopt_long(argc, argv, "rRfh", lo, NULL)) != -1) {
        switch (c) {
        case 'r':
        case 'R': recursive = true; break;
        case 'f': force = true; break;
        ZK_PROGRESS_CASE;
        ZK_HELP_CASE;
        }
    }
    if (optind >= argc)
        return zk_usage(z, "no path given");
    if (recursive) {
        for (int i = optind; i < argc; i++) {
            const char *zp = argv[i];
            (void)zk_is_zk_path(argv[i], &zp);
            if (too_general(zp)) {
                zk_errf(z, "%s: refusing an overly general recursive delete", argv[i]);
                return ZK_EXIT_FAIL;
            }
        }
    }
    zk_args a;
    if (zk_expand_connect(z, argv + optind, argc - optind, force, &a) != 0)
        return ZK_EXIT_FAIL;
    if (recursive) {
        if (a.n > 0)
            rm_recursive(z, &a, force, argv + optind, argc - optind);
        zk_args_free(&a);
        return z->status;
    }
    /* Plain deletes: all at once. */
    rm_slot *slots = calloc(a.n > 0 ? a.n : 1, sizeof *slots);
    zk_pipe *p = zk_pipe_new(z->conn, z->window, z->cancel);
    int rc = slots != NULL && p != NULL ? ZKC_OK : ZKC_ENOMEM;
    for (size_t i = 0; rc == ZKC_OK && i < a.n; i++) {
        slots[i].path = a.v[i].path;
        zkc_request req = {.op = ZKC_OP_DELETE, .path = a.v[i].path, .version = -1};
        rc = zk_pipe_add(p, &req, rm_fn, &slots[i]);
    }
    if (rc == ZKC_OK && a.n > 0)
        rc = zk_pipe_run(p);
    if (rc != ZKC_OK)
        zk_errf(z, "%s", zkc_strerror(rc));
    for (size_t i = 0; rc == ZKC_OK && i < a.n; i++) {
        int r = slots[i].rc;
        if (r != ZKC_OK && !(force && r == ZKC_ENONODE))
            zk_err(z, slots[i].path, r, r == ZKC_ENOTEMPTY ? "use -r" : NULL);
    }
    zk_pipe_free(p);
    free(slots);
    zk_args_free(&a);
    return z->status;
}

/* ---- cp ---- */

/* Read a local file ("-": standard input) whole. */
static int read_file(const char *name, char **ret, size_t *ret_len)
{
    FILE *f = strcmp(name, "-") == 0 ? stdin : fopen(name, "rbe");
    if (f == NULL)
        return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        if (len == cap) {
            char *nb = cap > 64u * ZKC_MAX_DATA ? NULL : realloc(buf, cap * 2 + 1);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                errno = EFBIG;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    int err = buf == NULL || ferror(f);
    if (f != stdin)
        fclose(f);
    if (err) {
        free(buf);
        return -1;
    }
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    return 0;
}

static int write_file(const char *name, const char *data, size_t len)
{
    if (strcmp(name, "-") == 0)
        return fwrite(data, 1, len, stdout) == len ? 0 : -1;
    FILE *f = fopen(name, "wbe");
    if (f == NULL)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    int err = fclose(f);
    return n == len && err == 0 ? 0 : -1;
}

/* Write data to a node: set, or create it (and its parents) if missing. */
static int zk_put(zk_ctx *z, const char *path, const char *data, size_t len)
{
    int rc = zkc_set(z->conn, path, data, len, -1, NULL);
    if (rc == ZKC_ENONODE) {
        rc = zkc_create_recursive(z->conn, path, data, len, 0, NULL, NULL);
        if (rc == ZKC_ENODEEXISTS)
            rc = zkc_set(z->conn, path, data, len, -1, NULL);
    }
    return rc;
}

typedef struct cp_src {
    char *name; /* a ZooKeeper path or a file name */
    bool zk;
} cp_src;

static void cp_one(zk_ctx *z, const cp_src *src, const char *dst, bool dst_zk)
{
    char *data = NULL;
    size_t len = 0;
    int rc;
    if (src->zk) {
        rc = zkc_get(z->conn, src->name, &data, &len, NULL, NULL);
        if (rc != ZKC_OK) {
            zk_err(z, src->name, rc, NULL);
            return;
        }
    } else if (read_file(src->name, &data, &len) != 0) {
        zk_errf(z, "%s: %s", src->name, strerror(errno));
        return;
    }
    if (dst_zk) {
        if (!zk_data_fits(z, src->name, dst, len)) {
            /* said */
        } else if ((rc = zk_put(z, dst, data, len)) != ZKC_OK) {
            zk_err(z, dst, rc, NULL);
        }
    } else if (write_file(dst, data, len) != 0) {
        zk_errf(z, "%s: %s", dst, strerror(errno));
    }
    free(data);
}

int zk_cmd_cp(zk_ctx *z, int argc, char **argv)
{
    int status = zk_getopt_none(z, argc, argv, "h");
    if (status >= 0)
        return status;
    int n = argc - optind;
    if (n < 2)
        return zk_usage(z, "want a source and a destination");
    char **args = argv + optind;
    const char *dst_arg = args[n - 1];
    const char *dst_zpath;
    bool dst_zk = zk_is_zk_path(dst_arg, &dst_zpath);
    bool any_zk = dst_zk;
    for (int i = 0; i < n - 1; i++) {
        const char *zp;
        if (zk_is_zk_path(args[i], &zp))
            any_zk = true;
    }
    if (!any_zk)
        return zk_usage(z, "one side must be in ZooKeeper (/zk/... or zk:/path)");

    /* Sources: ZooKeeper ones expanded, files as given. */
    cp_src *srcs = NULL;
    size_t nsrc = 0, cap = 0;
    for (int i = 0; i < n - 1; i++) {
        const char *zp;
        zk_args a = {0};
        size_t add;
        bool is_zk = zk_is_zk_path(args[i], &zp);
        if (is_zk) {
            zk_expand(z, &args[i], 1, false, &a);
            add = a.n;
        } else {
            add = 1;
        }
        if (nsrc + add > cap) {
            cap = (nsrc + add) * 2;
            cp_src *ns = realloc(srcs, cap * sizeof *ns);
            if (ns == NULL) {
                zk_args_free(&a);
                break;
            }
            srcs = ns;
        }
        if (is_zk) {
            for (size_t k = 0; k < a.n; k++) {
                srcs[nsrc].name = a.v[k].path;
                a.v[k].path = NULL;
                srcs[nsrc++].zk = true;
            }
            zk_args_free(&a);
        } else {
            srcs[nsrc].name = strdup(args[i]);
            srcs[nsrc++].zk = false;
        }
    }

    char *dst = NULL;
    bool dst_dir = nsrc > 1 || n > 2;
    if (dst_zk) {
        bool trailing;
        dst = zk_path_clean(dst_zpath, &trailing);
        if (dst == NULL) {
            zk_err(z, dst_arg, ZKC_EBADPATH, "not an absolute path");
            goto out;
        }
        dst_dir = dst_dir || trailing;
    } else {
        struct stat sb;
        bool is_dir = stat(dst_arg, &sb) == 0 && S_ISDIR(sb.st_mode);
        if (dst_dir && !is_dir) {
            zk_errf(z, "%s: not a folder", dst_arg);
            goto out;
        }
        dst_dir = is_dir;
        dst = strdup(dst_arg);
    }
    if (nsrc > 0 && zk_connect(z) != ZKC_OK)
        goto out;
    for (size_t i = 0; i < nsrc; i++) {
        if (srcs[i].name == NULL)
            continue;
        if (!srcs[i].zk && !dst_zk) {
            zk_errf(z, "%s: one side must be in ZooKeeper", srcs[i].name);
            continue;
        }
        char *target;
        if (dst_dir) {
            const char *base = srcs[i].zk ? zkc_path_base(srcs[i].name)
                                          : (strrchr(srcs[i].name, '/') != NULL
                                                 ? strrchr(srcs[i].name, '/') + 1
                                                 : srcs[i].name);
            if (*base == '\0' || strcmp(base, "-") == 0) {
                zk_errf(z, "%s: no name to copy under %s", srcs[i].name, dst_arg);
                continue;
            }
            if (dst_zk) {
                target = zkc_path_join(dst, base);
            } else {
                target = malloc(strlen(dst) + strlen(base) + 2);
                if (target != NULL)
                    sprintf(target, "%s/%s", dst, base);
            }
        } else {
            target = strdup(dst);
        }
        if (target == NULL) {
            zk_errf(z, "out of memory");
            break;
        }
        cp_one(z, &srcs[i], target, dst_zk);
        free(target);
    }
out:
    for (size_t i = 0; i < nsrc; i++)
        free(srcs[i].name);
    free(srcs);
    free(dst);
    return z->status;
}

/* ---- edit ---- */

/* Run the editor through the shell ("$EDITOR" "$1", so that EDITOR may
 * carry arguments) and wait for it.  zk is threaded, so the editor is
 * started with posix_spawn() rather than fork(): nothing but exec runs in
 * the child.  zk ignores SIGINT and SIGQUIT while the editor has the
 * terminal; the editor gets them back at their defaults. */
static int run_editor(const char *file)
{
    const char *editor = getenv("VISUAL");
    if (editor == NULL || *editor == '\0')
        editor = getenv("EDITOR");
    if (editor == NULL || *editor == '\0')
        editor = "vi";
    char *cmd = malloc(strlen(editor) + 8);
    if (cmd == NULL)
        return -1;
    sprintf(cmd, "%s \"$1\"", editor);
    char *argv[] = {"sh", "-c", cmd, "sh", (char *)file, NULL};
    struct sigaction ign, old_int, old_quit;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGQUIT);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    free(cmd);
    int status = -1;
    if (rc == 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    if (rc != 0)
        return 127;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int zk_cmd_edit(zk_ctx *z, int argc, char **argv)
{
    int status = zk_getopt_none(z, argc, argv, "h");
    if (status >= 0)
        return status;
    if (argc - optind != 1)
        return zk_usage(z, "want exactly one path");
    zk_args a;
    if (zk_expand_single(z, argv[optind], &a) != 0)
        return ZK_EXIT_FAIL;
    const char *path = a.v[0].path;
    char *data = NULL, *edited = NULL;
    size_t len = 0, elen = 0;
    zkc_stat st;
    int rc = zkc_get(z->conn, path, &data, &len, &st, NULL);
    if (rc != ZKC_OK) {
        zk_err(z, path, rc, NULL);
        goto out;
    }
    /* A temporary file named after the node, made safely. */
    char tmpl[128];
    char base[48];
    const char *b = zkc_path_base(path);
    size_t k = 0;
    for (; b[k] != '\0' && k < sizeof base - 1; k++)
        base[k] = (char)((b[k] >= 'a' && b[k] <= 'z') || (b[k] >= 'A' && b[k] <= 'Z') ||
                                 (b[k] >= '0' && b[k] <= '9') || b[k] == '.' || b[k] == '_'
                             ? b[k]
                             : '_');
    base[k] = '\0';
    const char *tmpdir = getenv("TMPDIR");
    if (tmpdir == NULL || *tmpdir == '\0' || strlen(tmpdir) > 60)
        tmpdir = "/tmp";
    snprintf(tmpl, sizeof tmpl, "%s/zk-edit-%s-XXXXXX", tmpdir, base);
    int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0) {
        zk_errf(z, "%s: %s", tmpl, strerror(errno));
        goto out;
    }
    ssize_t w = write(fd, data, len);
    close(fd);
    if (w < 0 || (size_t)w != len) {
        zk_errf(z, "%s: cannot write", tmpl);
        unlink(tmpl);
        goto out;
    }
    int ers = run_editor(tmpl);
    if (ers != 0) {
        zk_errf(z, "%s: the editor failed (status %d); nothing written", path, ers);
        unlink(tmpl);
        goto out;
    }
    if (read_file(tmpl, &edited, &elen) != 0) {
        zk_errf(z, "%s: %s", tmpl, strerror(errno));
        unlink(tmpl);
        goto out;
    }
    if (elen == len && memcmp(edited, data, len) == 0) {
        unlink(tmpl);
        goto out;
    }
    if (!zk_data_fits(z, NULL, path, elen)) {
        fprintf(stderr, "zk edit: your version is in %s\n", tmpl);
        goto out;
    }
    rc = zkc_set(z->conn, path, edited, elen, st.version, NULL);
    if (rc == ZKC_EBADVERSION) {
        zk_err(z, path, rc, NULL);
        fprintf(stderr, "zk edit: %s was changed meanwhile; your version is in %s\n", path,
                tmpl);
        goto out;
    }
    if (rc != ZKC_OK) {
        zk_err(z, path, rc, NULL);
        fprintf(stderr, "zk edit: your version is in %s\n", tmpl);
        goto out;
    }
    unlink(tmpl);
out:
    zkc_free(data);
    free(edited);
    zk_args_free(&a);
    return z->status;
}

/* ---- chmod ---- */

int zk_cmd_chmod(zk_ctx *z, int argc, char **argv)
{
    /* "n-rw" looks like an option to getopt: stop at the first word. */
    int status = zk_getopt_none(z, argc, argv, "+h");
    if (status >= 0)
        return status;
    if (argc - optind < 2)
        return zk_usage(z, "want a mode (n+PERMS or n-PERMS) and a path");
    const char *mode = argv[optind];
    uint32_t perms;
    if (mode[0] != 'n' || (mode[1] != '+' && mode[1] != '-') || mode[2] == '\0' ||
        strchr(mode + 2, '-') != NULL || zk_perms_parse(mode + 2, &perms) != 0)
        return zk_usage(z, "bad mode '%s': want n+ or n- and letters from rwdca", mode);
    bool add = mode[1] == '+';
    zk_args a;
    if (zk_expand_connect(z, argv + optind + 1, argc - optind - 1, false, &a) != 0)
        return ZK_EXIT_FAIL;
    for (size_t i = 0; i < a.n; i++) {
        const char *path = a.v[i].path;
        zkc_acl_list *acl = NULL;
        zkc_stat st;
        int rc = zkc_get_acl(z->conn, path, &acl, &st);
        if (rc == ZKC_OK && acl->count == 0)
            rc = ZKC_EINVALIDACL;
        if (rc == ZKC_OK) {
            if (add)
                acl->v[0].perms |= perms;
            else
                acl->v[0].perms &= ~perms;
            rc = zkc_set_acl(z->conn, path, acl, st.aversion);
        }
        if (rc != ZKC_OK)
            zk_err(z, path, rc, rc == ZKC_EBADVERSION ? "ACL changed meanwhile" : NULL);
        zkc_acl_list_free(acl);
    }
    zk_args_free(&a);
    return z->status;
}
