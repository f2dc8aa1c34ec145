/*
 * auth_config.c: digest credentials per cell, read from zk_auth.json
 * (see zkcell/auth.h).  The file's text and the parsed strings are
 * cleared before they are freed; no message quotes a value.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zkcell/auth.h"
#include "zkcell/cells.h"
#include "zkcell/sys/conn_impl.h"

typedef struct cred {
    char *cell;
    char *userpass;
} cred;

struct zkc_auth_config {
    cred *v;
    unsigned n;
};

static void wipe(void *p, size_t n)
{
    if (p != NULL)
        explicit_bzero(p, n);
}

void zkc_auth_config_free(zkc_auth_config *a)
{
    if (a == NULL)
        return;
    for (unsigned i = 0; i < a->n; i++) {
        free(a->v[i].cell);
        if (a->v[i].userpass != NULL) {
            wipe(a->v[i].userpass, strlen(a->v[i].userpass));
            free(a->v[i].userpass);
        }
    }
    free(a->v);
    free(a);
}

/* Read the whole of fd (at most ZKC_MAX_AUTH_CONFIG_SIZE bytes). */
static int read_all(int fd, const char *path, char **ret, size_t *ret_len)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return ZKC_ENOMEM;
    for (;;) {
        if (len == cap) {
            if (cap >= ZKC_MAX_AUTH_CONFIG_SIZE + 1) {
                wipe(buf, len);
                free(buf);
                zkc_impl_set_errmsg("%s: larger than %d bytes", path, ZKC_MAX_AUTH_CONFIG_SIZE);
                return ZKC_EBADCONFIG;
            }
            char *nb = malloc(cap * 2);
            if (nb == NULL) {
                wipe(buf, len);
                free(buf);
                return ZKC_ENOMEM;
            }
            memcpy(nb, buf, len);
            wipe(buf, len);
            free(buf);
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            wipe(buf, len);
            free(buf);
            char eb[128];
            zkc_impl_set_errmsg("%s: %s", path, strerror_r(e, eb, sizeof eb));
            return ZKC_EBADCONFIG;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > ZKC_MAX_AUTH_CONFIG_SIZE) {
        wipe(buf, len);
        free(buf);
        zkc_impl_set_errmsg("%s: larger than %d bytes", path, ZKC_MAX_AUTH_CONFIG_SIZE);
        return ZKC_EBADCONFIG;
    }
    *ret = buf;
    *ret_len = len;
    return ZKC_OK;
}

/* Clear every string of a decoded document before it is freed. */
static void wipe_json(json_t *root)
{
    const char *key;
    json_t *val;
    if (!json_is_object(root))
        return;
    json_object_foreach(root, key, val) {
        if (json_is_string(val))
            wipe((char *)json_string_value(val), json_string_length(val));
    }
}

static int parse(const char *path, const char *text, size_t len, zkc_auth_config *a)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        /* jerr.text may quote the input: give the position only. */
        zkc_impl_set_errmsg("%s: not valid JSON (line %d, column %d)", path, jerr.line,
                        jerr.column);
        return ZKC_EBADCONFIG;
    }
    int rc = ZKC_OK;
    if (!json_is_object(root)) {
        zkc_impl_set_errmsg("%s: want a JSON object of cell name to \"user:password\"", path);
        rc = ZKC_EBADCONFIG;
        goto out;
    }
    size_t n = json_object_size(root);
    a->v = calloc(n > 0 ? n : 1, sizeof *a->v);
    if (a->v == NULL) {
        rc = ZKC_ENOMEM;
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!zkc_cell_name_valid(key, strlen(key))) {
            zkc_impl_set_errmsg("%s: \"%.64s\" is not a cell name", path, key);
            rc = ZKC_EBADCONFIG;
            goto out;
        }
        const char *s = json_is_string(val) ? json_string_value(val) : NULL;
        size_t slen = s != NULL ? json_string_length(val) : 0;
        const char *colon = s != NULL ? memchr(s, ':', slen) : NULL;
        if (s == NULL || colon == NULL || colon == s || strlen(s) != slen) {
            zkc_impl_set_errmsg("%s: cell \"%s\": want a string \"user:password\"", path, key);
            rc = ZKC_EBADCONFIG;
            goto out;
        }
        cred *c = &a->v[a->n];
        c->cell = strdup(key);
        c->userpass = strdup(s);
        a->n++;
        if (c->cell == NULL || c->userpass == NULL) {
            rc = ZKC_ENOMEM;
            goto out;
        }
    }
out:
    wipe_json(root);
    json_decref(root);
    return rc;
}

int zkc_auth_config_load(const char *path, zkc_auth_config **ret)
{
    if (ret == NULL)
        return ZKC_EBADARGUMENTS;
    *ret = NULL;
    if (path == NULL) {
        path = getenv(ZKC_AUTH_CONFIG_ENV);
        if (path == NULL || *path == '\0')
            return ZKC_OK;
    }
    char eb[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        zkc_impl_set_errmsg("%s: %s", path, strerror_r(errno, eb, sizeof eb));
        return ZKC_EBADCONFIG;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        zkc_impl_set_errmsg("%s: %s", path, strerror_r(errno, eb, sizeof eb));
        close(fd);
        return ZKC_EBADCONFIG;
    }
    if (!S_ISREG(st.st_mode)) {
        zkc_impl_set_errmsg("%s: not a regular file", path);
        close(fd);
        return ZKC_EBADCONFIG;
    }
    if ((st.st_mode & 077) != 0) {
        zkc_impl_set_errmsg("%s: mode %04o lets others read it; it holds passwords: want 0600 "
                        "or stricter (chmod 600)",
                        path, (unsigned)(st.st_mode & 07777));
        close(fd);
        return ZKC_EBADCONFIG;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = read_all(fd, path, &text, &len);
    close(fd);
    if (rc != ZKC_OK)
        return rc;
    zkc_auth_config *a = calloc(1, sizeof *a);
    if (a == NULL) {
        wipe(text, len);
        free(text);
        return ZKC_ENOMEM;
    }
    rc = parse(path, text, len, a);
    wipe(text, len);
    free(text);
    if (rc != ZKC_OK) {
        zkc_auth_config_free(a);
        return rc;
    }
    *ret = a;
    return ZKC_OK;
}

const char *zkc_auth_config_cred(const zkc_auth_config *a, const char *cell)
{
    if (a == NULL || cell == NULL)
        return NULL;
    for (unsigned i = 0; i < a->n; i++)
        if (strcmp(a->v[i].cell, cell) == 0)
            return a->v[i].userpass;
    return NULL;
}

unsigned zkc_auth_config_count(const zkc_auth_config *a)
{
    return a != NULL ? a->n : 0;
}
