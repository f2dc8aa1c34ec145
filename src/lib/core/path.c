/*
 * path.c: ZooKeeper's path rules (PathUtils.validatePath of the Java
 * server), checked on the client so every implementation rejects the same
 * paths with the same code, and small join/dir/base helpers.
 */
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "zkcell/err.h"
#include "zkcell/path.h"

/* The characters the server refuses in a path. */
static int char_forbidden(uint32_t cp)
{
    return cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0xd800 && cp <= 0xf8ff) ||
           (cp >= 0xfff0 && cp <= 0xffff);
}

int zkc_path_validate(const char *path, bool sequential)
{
    if (path == NULL || path[0] != '/')
        return ZKC_EBADPATH;
    size_t n = strlen(path);
    if (n > ZKC_MAX_PATH)
        return ZKC_EBADPATH;
    if (n == 1)
        return ZKC_OK;
    /* A sequential create may end in '/': the server appends digits. */
    if (path[n - 1] == '/' && !sequential)
        return ZKC_EBADPATH;

    const unsigned char *s = (const unsigned char *)path;
    size_t comp_start = 1;
    for (size_t i = 1; i <= n; i++) {
        if (i == n || s[i] == '/') {
            size_t clen = i - comp_start;
            if (clen == 0 && !(sequential && i == n))
                return ZKC_EBADPATH;
            if (clen == 1 && s[comp_start] == '.')
                return ZKC_EBADPATH;
            if (clen == 2 && s[comp_start] == '.' && s[comp_start + 1] == '.')
                return ZKC_EBADPATH;
            comp_start = i + 1;
            continue;
        }
        /* Printable ASCII, nearly every byte of a real path: allowed as it is. */
        if (s[i] >= 0x20 && s[i] < 0x7f)
            continue;
        uint32_t cp;
        size_t len = zkc__utf8_decode(s + i, n - i, &cp);
        if (len == 0 || char_forbidden(cp))
            return ZKC_EBADPATH;
        i += len - 1;
    }
    return ZKC_OK;
}

char *zkc_path_join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    if (dl > 0 && dir[dl - 1] == '/')
        dl--;
    char *p = malloc(dl + 1 + nl + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, name, nl + 1);
    return p;
}

char *zkc_path_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL || slash == path ? 1 : (size_t)(slash - path);
    char *p = malloc(len + 1);
    if (p == NULL)
        return NULL;
    if (slash == NULL || slash == path)
        p[0] = '/';
    else
        memcpy(p, path, len);
    p[len] = '\0';
    return p;
}

const char *zkc_path_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash == NULL ? path : slash + 1;
}
