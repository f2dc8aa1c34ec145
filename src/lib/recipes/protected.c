/*
 * protected.c: protected creation (zkcell/protected.h): a sequential or
 * ephemeral create that a lost reply never duplicates, found again after
 * connection loss by the guid in its name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recipes_impl.h"
#include "zkcell/path.h"
#include "zkcell/protected.h"

#define GUID_LEN 32
#define DEFAULT_TIMEOUT_MS 30000

bool zkc_protected_name(const char *name, const char **ret_rest)
{
    size_t pl = sizeof ZKC_PROTECTED_PREFIX - 1;
    if (name == NULL || strncmp(name, ZKC_PROTECTED_PREFIX, pl) != 0)
        return false;
    for (size_t i = 0; i < GUID_LEN; i++) {
        char ch = name[pl + i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            return false;
    }
    if (name[pl + GUID_LEN] != '-')
        return false;
    if (ret_rest != NULL)
        *ret_rest = name + pl + GUID_LEN + 1;
    return true;
}

/* The child of dir whose name starts with prefix (the lowest sequence
 * when there are several: a create applied twice by a server that lost
 * our session's reply, which ZooKeeper does not do; kept safe anyway). */
static int find_ours(zkc_conn *c, const char *dir, const char *prefix, bool seq,
                     char **ret_path)
{
    *ret_path = NULL;
    zkc_strings *kids = NULL;
    int rc = zkc_children(c, dir, &kids, NULL, NULL);
    if (rc == ZKC_ENONODE)
        return ZKC_OK;
    if (rc != ZKC_OK)
        return rc;
    size_t pl = strlen(prefix);
    const char *best = NULL;
    int64_t best_seq = 0;
    for (size_t i = 0; i < kids->count; i++) {
        const char *k = kids->v[i];
        if (strncmp(k, prefix, pl) != 0)
            continue;
        int64_t s = 0;
        if (seq) {
            if (strlen(k) != pl + 10 || !zkc__seq_suffix(k, &s))
                continue;
        } else if (k[pl] != '\0') {
            continue;
        }
        if (best == NULL || s < best_seq) {
            best = k;
            best_seq = s;
        }
    }
    rc = ZKC_OK;
    if (best != NULL && (*ret_path = zkc_path_join(dir, best)) == NULL)
        rc = ZKC_ENOMEM;
    zkc_strings_free(kids);
    return rc;
}

int zkc_create_protected(zkc_conn *c, const char *path, const void *data, size_t len,
                         unsigned flags, const zkc_acl_list *acl,
                         const zkc_protected_opts *opts, char **ret_path)
{
    static const zkc_protected_opts defaults = ZKC_PROTECTED_OPTS_INIT;
    if (ret_path != NULL)
        *ret_path = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (c == NULL || path == NULL || opts->version != 1 ||
        (flags & (ZKC_SEQUENCE | ZKC_EPHEMERAL)) == 0 ||
        (flags & ~(unsigned)(ZKC_SEQUENCE | ZKC_EPHEMERAL)) != 0) {
        zkc_impl_set_errmsg("zkc_create_protected: %s",
                        c == NULL || path == NULL ? "no connection or path"
                        : opts->version != 1      ? "unknown options version"
                                                  : "want ZKC_SEQUENCE and/or ZKC_EPHEMERAL");
        return ZKC_EBADARGUMENTS;
    }
    bool seq = (flags & ZKC_SEQUENCE) != 0;
    if (zkc_path_validate(path, seq) != ZKC_OK || strcmp(path, "/") == 0) {
        if (strcmp(path, "/") == 0)
            zkc_impl_set_errmsg("cannot create /");
        return ZKC_EBADPATH;
    }
    char *dir = zkc_path_dir(path);
    if (dir == NULL)
        return ZKC_ENOMEM;
    char guid[GUID_LEN + 1];
    zkc__guid(guid);
    const char *base = zkc_path_base(path);
    size_t plen = sizeof ZKC_PROTECTED_PREFIX - 1 + GUID_LEN + 1;
    char *prefix = malloc(plen + strlen(base) + 1);
    char *full = NULL;
    if (prefix != NULL) {
        memcpy(prefix, ZKC_PROTECTED_PREFIX, sizeof ZKC_PROTECTED_PREFIX - 1);
        memcpy(prefix + sizeof ZKC_PROTECTED_PREFIX - 1, guid, GUID_LEN);
        prefix[plen - 1] = '-';
        strcpy(prefix + plen, base);
        full = zkc_path_join(dir, prefix);
    }
    if (prefix == NULL || full == NULL) {
        free(prefix);
        free(dir);
        return ZKC_ENOMEM;
    }
    if (acl == NULL)
        acl = zkc_acl_world(ZKC_PERM_ALL);
    int timeout = opts->timeout_ms == 0 ? DEFAULT_TIMEOUT_MS : opts->timeout_ms;
    int64_t deadline = zkc_impl_deadline(timeout < 0 ? -1 : timeout);
    zkc_impl_backoff bo = ZKC_IMPL_BACKOFF_INIT(10, 1000);
    bool maybe = false; /* a create may have been applied unseen */
    char *made = NULL;
    int rc;
    for (;;) {
        if (maybe) {
            rc = find_ours(c, dir, prefix, seq, &made);
            if (rc == ZKC_OK && made != NULL)
                break;
            if (rc == ZKC_OK) {
                maybe = false; /* not applied: create again */
                continue;
            }
        } else {
            rc = zkc_create(c, full, data, len, flags, acl, &made);
            if (rc == ZKC_OK)
                break;
            if (rc == ZKC_ENODEEXISTS && !seq) {
                /* The guid is ours alone: an earlier attempt made it. */
                made = zkc_impl_memdup(full, strlen(full));
                rc = made != NULL ? ZKC_OK : ZKC_ENOMEM;
                break;
            }
            if (zkc__rc_retryable(rc))
                maybe = true; /* the reply was lost, not necessarily the create */
        }
        if (!zkc__rc_retryable(rc))
            break;
        const char *why = zkc_errmsg();
        char saved[256];
        snprintf(saved, sizeof saved, "%s", why[0] != '\0' ? why : zkc_strerror(rc));
        int w = zkc_impl_backoff_wait(&bo, deadline, opts->cancel);
        if (w != ZKC_OK) {
            rc = w;
            zkc_impl_set_errmsg("create %s: %s; gave up (%s): a node carrying guid %s may exist",
                            path, saved, w == ZKC_ETIMEDOUT ? "timeout" : "interrupted", guid);
            break;
        }
    }
    if (rc == ZKC_OK && ret_path != NULL)
        *ret_path = made;
    else
        free(made);
    free(full);
    free(prefix);
    free(dir);
    return rc;
}
