/*
 * fake_acl.c: the fake's ACLs: shared lists, fixup of a request's ACL (auth, digest ids), and
 * the permission check of a session (world, digest, ip with /bits).
 */
#include <arpa/inet.h>
#include <string.h>

#include "fake_impl.h"

/* ------------------------------------------------------------------ */
/* ACL lists.                                                          */
/* ------------------------------------------------------------------ */

fk_acl *fk_acl_alloc(size_t count)
{
    fk_acl *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->refs = 1;
    if (count > 0) {
        a->list.v = calloc(count, sizeof *a->list.v);
        if (a->list.v == NULL) {
            free(a);
            return NULL;
        }
    }
    return a;
}

void fk_acl_unref(fk_acl *a)
{
    if (a == NULL || --a->refs > 0)
        return;
    for (size_t i = 0; i < a->list.count; i++) {
        free(a->list.v[i].scheme);
        free(a->list.v[i].id);
    }
    free(a->list.v);
    free(a);
}

/* Append an entry (strings copied).  The array was sized by fk_acl_alloc. */
int fk_acl_push(fk_acl *a, uint32_t perms, const char *scheme, const char *id)
{
    zkc_acl *e = &a->list.v[a->list.count];
    e->perms = perms;
    e->scheme = strdup(scheme);
    e->id = strdup(id);
    a->list.count++; /* counted now so fk_acl_unref frees what we got */
    return e->scheme == NULL || e->id == NULL ? ZKC_ENOMEM : ZKC_OK;
}

static int fk_acl_entry_equal(const zkc_acl *x, const zkc_acl *y)
{
    return x->perms == y->perms && strcmp(x->scheme, y->scheme) == 0 &&
           strcmp(x->id, y->id) == 0;
}

/* Parse an ip ACL id, "a.b.c.d", "a.b.c.d/bits" or the IPv6 forms, like
 * IPAuthenticationProvider.isValid.  addr gets the bytes, *alen 4 or 16. */
int fk_ip_parse(const char *s, unsigned char addr[16], size_t *alen, unsigned *bits)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1)
        *alen = 4;
    else if (inet_pton(AF_INET6, buf, addr) == 1)
        *alen = 16;
    else
        return 0;
    *bits = (unsigned)*alen * 8;
    if (slash != NULL) {
        const char *p = slash + 1;
        unsigned v = 0;
        if (*p == '\0')
            return 0;
        for (; *p != '\0'; p++) {
            if (*p < '0' || *p > '9' || v > 1000)
                return 0;
            v = v * 10 + (unsigned)(*p - '0');
        }
        if (v > *bits)
            return 0;
        *bits = v;
    }
    return 1;
}

/* IPAuthenticationProvider.matches: the session's address against an
 * ACL's address and prefix. */
static int fk_ip_matches(const char *session_addr, const char *acl_id)
{
    unsigned char a[16], b[16];
    size_t alen, blen;
    unsigned abits, bits;
    if (!fk_ip_parse(session_addr, a, &alen, &abits) || !fk_ip_parse(acl_id, b, &blen, &bits))
        return 0;
    if (alen != blen)
        return 0;
    for (unsigned i = 0; i < bits; i++) {
        unsigned char m = (unsigned char)(0x80u >> (i % 8));
        if ((a[i / 8] & m) != (b[i / 8] & m))
            return 0;
    }
    return 1;
}

/* DigestAuthenticationProvider.isValid: id.split(":") gives two parts.
 * Java's split keeps leading empty parts and drops trailing ones, so the
 * last non-empty part must be the second one ("u:h", ":h", "u:h:"). */
static int fk_digest_id_valid(const char *id)
{
    int idx = 0, last = -1;
    for (const char *p = id; *p != '\0'; p++) {
        if (*p == ':')
            idx++;
        else
            last = idx;
    }
    return idx > 0 && last == 1;
}

/*
 * The server's fixupACL: no entries -> ZKC_EINVALIDACL; duplicates
 * dropped; "auth" replaced by the session's authenticated (digest)
 * identities, none -> ZKC_EINVALIDACL; world must be "anyone"; digest
 * and ip ids must be valid; other schemes are unknown -> ZKC_EINVALIDACL.
 * NULL means world:anyone ALL (the interface's default).
 */
int fk_acl_fixup(zkc_fake_tree *t, fake_conn *fc, const zkc_acl_list *in, fk_acl **ret)
{
    if (in == NULL) {
        t->acl_open->refs++;
        *ret = t->acl_open;
        return ZKC_OK;
    }
    if (in->count == 0 || in->v == NULL)
        return ZKC_EINVALIDACL;
    size_t ndigest = 0;
    for (size_t i = 0; i < fc->nids; i++)
        ndigest += strcmp(fc->ids[i].scheme, "digest") == 0;

    size_t need = 0;
    for (size_t i = 0; i < in->count; i++) {
        const zkc_acl *e = &in->v[i];
        if (e->scheme == NULL || e->id == NULL)
            return ZKC_EINVALIDACL;
        if (strcmp(e->scheme, "world") == 0) {
            if (strcmp(e->id, "anyone") != 0)
                return ZKC_EINVALIDACL;
        } else if (strcmp(e->scheme, "auth") == 0) {
            if (ndigest == 0)
                return ZKC_EINVALIDACL;
        } else if (strcmp(e->scheme, "digest") == 0) {
            if (!fk_digest_id_valid(e->id))
                return ZKC_EINVALIDACL;
        } else if (strcmp(e->scheme, "ip") == 0) {
            unsigned char a[16];
            size_t alen;
            unsigned bits;
            if (!fk_ip_parse(e->id, a, &alen, &bits))
                return ZKC_EINVALIDACL;
        } else {
            return ZKC_EINVALIDACL;
        }
        need += strcmp(e->scheme, "auth") == 0 ? ndigest : 1;
    }

    /* The common case shares one list. */
    if (in->count == 1 && in->v[0].perms == ZKC_PERM_ALL &&
        strcmp(in->v[0].scheme, "world") == 0) {
        t->acl_open->refs++;
        *ret = t->acl_open;
        return ZKC_OK;
    }

    fk_acl *a = fk_acl_alloc(need);
    if (a == NULL)
        return ZKC_ENOMEM;
    for (size_t i = 0; i < in->count; i++) {
        const zkc_acl *e = &in->v[i];
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = fk_acl_entry_equal(e, &in->v[j]);
        if (dup)
            continue;
        int rc = ZKC_OK;
        if (strcmp(e->scheme, "auth") == 0) {
            for (size_t k = 0; k < fc->nids && rc == ZKC_OK; k++)
                if (strcmp(fc->ids[k].scheme, "digest") == 0)
                    rc = fk_acl_push(a, e->perms, "digest", fc->ids[k].id);
        } else {
            rc = fk_acl_push(a, e->perms, e->scheme, e->id);
        }
        if (rc != ZKC_OK) {
            fk_acl_unref(a);
            return rc;
        }
    }
    *ret = a;
    return ZKC_OK;
}

/* The server's checkACL: an empty list allows everything; otherwise one
 * entry with one of the perm bits must match an identity. */
int fk_acl_check(const fake_conn *fc, const fk_acl *a, uint32_t perm)
{
    if (a->list.count == 0)
        return ZKC_OK;
    for (size_t i = 0; i < a->list.count; i++) {
        const zkc_acl *e = &a->list.v[i];
        if ((e->perms & perm) == 0)
            continue;
        if (strcmp(e->scheme, "world") == 0 && strcmp(e->id, "anyone") == 0)
            return ZKC_OK;
        for (size_t k = 0; k < fc->nids; k++) {
            const fk_id *id = &fc->ids[k];
            if (strcmp(id->scheme, e->scheme) != 0)
                continue;
            if (strcmp(e->scheme, "digest") == 0 && strcmp(id->id, e->id) == 0)
                return ZKC_OK;
            if (strcmp(e->scheme, "ip") == 0 && fk_ip_matches(id->id, e->id))
                return ZKC_OK;
        }
    }
    return ZKC_ENOAUTH;
}
