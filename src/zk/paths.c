/*
 * paths.c: path arguments.
 *
 * Every path argument is cleaned (Go's path.Clean: no ".", "..", doubled
 * or trailing '/'; a trailing '/' is remembered, since wait and cp give
 * it a meaning) and then expanded: wildcards ('*', '?', '[...]', '\\'
 * escapes) per component through zkc_resolve_wildcards(), with a '*' in
 * the cell position of /zk/<cell>/... going over the known cells.  A
 * pattern that matches nothing is an error naming it (like a shell's
 * "no match"), unless the subcommand was told to be quiet (-f).
 */
#include <stdlib.h>
#include <string.h>

#include "zkcmd.h"

char *zk_path_clean(const char *in, bool *trailing)
{
    size_t len = strlen(in);
    if (trailing != NULL)
        *trailing = len > 1 && in[len - 1] == '/';
    if (in[0] != '/')
        return NULL;
    char *out = malloc(len + 2);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    const char *s = in;
    while (*s != '\0') {
        while (*s == '/')
            s++;
        const char *e = s;
        while (*e != '\0' && *e != '/')
            e++;
        size_t n = (size_t)(e - s);
        if (n == 0)
            break;
        if (n == 1 && s[0] == '.') {
            /* skip */
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, s, n);
            o += n;
        }
        s = e;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

bool zk_is_zk_path(const char *arg, const char **zpath)
{
    if (strncmp(arg, "zk:", 3) == 0) {
        *zpath = arg + 3;
        return true;
    }
    if (strcmp(arg, "/zk") == 0 || strncmp(arg, "/zk/", 4) == 0) {
        *zpath = arg;
        return true;
    }
    return false;
}

char *zk_arg_clean(zk_ctx *z, const char *arg, bool *trailing)
{
    const char *zp = arg;
    (void)zk_is_zk_path(arg, &zp);
    char *clean = zk_path_clean(zp, trailing);
    if (clean == NULL)
        zk_err(z, arg, ZKC_EBADPATH, "not an absolute path");
    return clean;
}

static int args_push(zk_args *a, char *path, bool trailing, const char *arg)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        zk_arg *v = realloc(a->v, cap * sizeof *v);
        if (v == NULL) {
            free(path);
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n].path = path;
    a->v[a->n].trailing = trailing;
    a->v[a->n].arg = arg;
    a->n++;
    return 0;
}

void zk_args_free(zk_args *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i].path);
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* Expand one pattern with zkc_resolve_wildcards(). */
static void expand_one(zk_ctx *z, const char *arg, const char *pat, bool trailing, zk_args *out,
                       size_t *failed)
{
    zkc_strings *res = NULL;
    int rc = zkc_resolve_wildcards(z->conn, &pat, 1, z->known_cells, &res);
    if (rc != ZKC_OK) {
        zk_err(z, arg, rc, rc == ZKC_EBADPATTERN ? NULL : zkc_errmsg());
        (*failed)++;
        return;
    }
    for (size_t k = 0; k < res->count; k++) {
        char *p = strdup(res->v[k]);
        if (p == NULL || args_push(out, p, trailing, arg) != 0) {
            (*failed)++;
            break;
        }
    }
    zkc_strings_free(res);
}

/*
 * A wildcard in the cell position (/zk/<glob>/...) over the known cells,
 * one cell at a time, so that a cell that is down costs an error naming
 * it, not the whole expansion.  Returns -1 when pat is not such a
 * pattern.
 */
static int expand_cells(zk_ctx *z, const char *arg, const char *pat, bool trailing,
                        zk_args *out, size_t *failed)
{
    if (z->known_cells == NULL || strncmp(pat, "/zk/", 4) != 0)
        return -1;
    const char *cell = pat + 4;
    const char *rest = strchr(cell, '/');
    size_t clen = rest != NULL ? (size_t)(rest - cell) : strlen(cell);
    char *cpat = strndup(cell, clen);
    if (cpat == NULL || !zkc_glob_has_magic(cpat)) {
        free(cpat);
        return -1;
    }
    bool m;
    if (zkc_glob_match(cpat, "", &m) != ZKC_OK) {
        zk_err(z, arg, ZKC_EBADPATTERN, NULL);
        (*failed)++;
        free(cpat);
        return 0;
    }
    for (size_t i = 0; i < z->known_cells->count; i++) {
        const char *name = z->known_cells->v[i];
        if (zkc_glob_match(cpat, name, &m) != ZKC_OK || !m)
            continue;
        size_t len = 4 + strlen(name) + (rest != NULL ? strlen(rest) : 0) + 1;
        char *p = malloc(len);
        if (p == NULL)
            break;
        snprintf(p, len, "/zk/%s%s", name, rest != NULL ? rest : "");
        if (zkc_glob_has_magic(p)) {
            expand_one(z, arg, p, trailing, out, failed);
            free(p);
            continue;
        }
        /* No wildcard left: keep it if it exists (ResolveWildcards). */
        bool exists = false;
        int rc = zkc_exists(z->conn, p, &exists, NULL, NULL);
        if (rc != ZKC_OK) {
            zk_err(z, p, rc, zkc_errmsg());
            (*failed)++;
        }
        if (rc == ZKC_OK && exists && args_push(out, p, trailing, arg) == 0)
            continue;
        free(p);
    }
    free(cpat);
    return 0;
}

size_t zk_expand(zk_ctx *z, char **argv, int argc, bool quiet_missing, zk_args *out)
{
    size_t failed = 0;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        bool trailing;
        char *clean = zk_arg_clean(z, arg, &trailing);
        if (clean == NULL) {
            failed++;
            continue;
        }
        if (!zkc_glob_has_magic(clean)) {
            if (args_push(out, clean, trailing, arg) != 0)
                failed++;
            continue;
        }
        if (zk_connect(z) != ZKC_OK) {
            free(clean);
            failed++;
            continue;
        }
        size_t before = out->n, failed_before = failed;
        if (expand_cells(z, arg, clean, trailing, out, &failed) != 0)
            expand_one(z, arg, clean, trailing, out, &failed);
        if (out->n == before && !quiet_missing && failed == failed_before) {
            zk_errf(z, "%s: no node matches", arg);
            failed++;
        }
        free(clean);
    }
    return failed;
}

int zk_expand_connect(zk_ctx *z, char **argv, int argc, bool quiet_missing, zk_args *out)
{
    zk_expand(z, argv, argc, quiet_missing, out);
    if (out->n > 0 && zk_connect(z) != ZKC_OK) {
        zk_args_free(out);
        return -1;
    }
    return 0;
}

int zk_expand_single(zk_ctx *z, char *arg, zk_args *out)
{
    zk_expand(z, &arg, 1, false, out);
    if (out->n > 1)
        zk_errf(z, "%s: matches %zu nodes; %s takes one", arg, out->n, z->cmd);
    if (out->n != 1 || zk_connect(z) != ZKC_OK) {
        zk_args_free(out);
        return -1;
    }
    return 0;
}
