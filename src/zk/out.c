/*
 * out.c: what the zk command prints and how.
 *
 * Errors go to stderr as "zk CMD: PATH: message" and make the exit status
 * 1; usage errors add a hint and give 2.  Node data is bytes: written raw
 * to a pipe or file, and with non-printable bytes escaped as \xNN on a
 * terminal (main.c decides which).  A progress meter's line is cleared
 * before any message (progress.c).  JSON output carries data as "data"
 * when it is UTF-8 text and as "data_base64" otherwise, so any node
 * round-trips through dump and restore.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/utf8.h"
#include "zkcell/duration.h"
#include "zkcmd.h"

/* ---- errors ---- */

void zk_err(zk_ctx *z, const char *path, int rc, const char *detail)
{
    char buf[768];
    if (detail == NULL || *detail == '\0')
        detail = zk_cell_detail(z, path, rc, buf, sizeof buf);
    zk_progress_hold(z);
    if (detail != NULL && *detail != '\0')
        fprintf(stderr, "zk %s: %s: %s (%s)\n", z->cmd, path, zkc_strerror(rc), detail);
    else
        fprintf(stderr, "zk %s: %s: %s\n", z->cmd, path, zkc_strerror(rc));
    zk_progress_release(z);
    z->status = ZK_EXIT_FAIL;
}

size_t zk_max_data(const zk_ctx *z, const char *path)
{
    /* The server sees the path under --server's chroot, if any. */
    const char *chroot = z->server != NULL ? strchr(z->server, '/') : NULL;
    size_t pl = strlen(path) + (chroot != NULL ? strlen(chroot) : 0);
    return pl + ZK_REQUEST_OVERHEAD >= ZK_MAX_PACKET ? 0
                                                     : ZK_MAX_PACKET - ZK_REQUEST_OVERHEAD - pl;
}

bool zk_data_fits_msg(const zk_ctx *z, const char *path, size_t len, char *buf, size_t size)
{
    size_t max = zk_max_data(z, path);
    if (len <= max)
        return true;
    snprintf(buf, size,
             "node too large: %zu bytes of data, the limit at this path is %zu bytes (the "
             "server's %d-byte packet limit, jute.maxbuffer, less the path and %d bytes of "
             "request)",
             len, max, ZK_MAX_PACKET, ZK_REQUEST_OVERHEAD);
    return false;
}

bool zk_data_fits(zk_ctx *z, const char *what, const char *path, size_t len)
{
    char msg[256];
    if (zk_data_fits_msg(z, path, len, msg, sizeof msg))
        return true;
    if (what != NULL)
        zk_errf(z, "%s: %s: %s", what, path, msg);
    else
        zk_errf(z, "%s: %s", path, msg);
    return false;
}

char *zk_quote(const char *s, size_t len)
{
    char *q = malloc(len * 4 + 3), *o = q;
    if (q == NULL)
        return NULL;
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            o += sprintf(o, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            o += sprintf(o, "\\x%02x", c);
        else
            *o++ = (char)c;
    }
    *o++ = '"';
    *o = '\0';
    return q;
}

void zk_errf(zk_ctx *z, const char *fmt, ...)
{
    va_list ap;
    zk_progress_hold(z);
    fprintf(stderr, "zk %s: ", z->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    zk_progress_release(z);
    z->status = ZK_EXIT_FAIL;
}

int zk_usage(zk_ctx *z, const char *fmt, ...)
{
    va_list ap;
    zk_progress_hold(z);
    fprintf(stderr, *z->cmd != '\0' ? "zk %s: " : "zk: ", z->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (*z->cmd != '\0')
        fprintf(stderr, "\nTry 'zk help %s'.\n", z->cmd);
    else
        fputs("\nTry 'zk --help'.\n", stderr);
    zk_progress_release(z);
    return ZK_EXIT_USAGE;
}

int zk_bad_option(zk_ctx *z, char **argv)
{
    extern int optind, optopt;
    if (optopt != 0 && optopt < 256)
        return zk_usage(z, "unknown option or missing value: -%c", optopt);
    return zk_usage(z, "unknown option or missing value: %s", argv[optind - 1]);
}

/* ---- data ---- */

/* Length of the printable character at s (n > 0 bytes left), or 0 when
 * it is not UTF-8 (the library's decoder) or is a C1 control. */
static size_t printable_len(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len = zkc__utf8_decode(s, n, &cp);
    return len > 0 && (cp < 0x80 || cp >= 0xa0) ? len : 0;
}

void zk_write_data(zk_ctx *z, FILE *f, const char *data, size_t len)
{
    if (!z->escape) {
        fwrite(data, 1, len, f);
        return;
    }
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) {
            fputc(c, f);
            i++;
            continue;
        }
        size_t u = c >= 0x80 ? printable_len(s + i, len - i) : 0;
        if (u > 0) {
            fwrite(s + i, 1, u, f);
            i += u;
        } else {
            fprintf(f, "\\x%02x", c);
            i++;
        }
    }
}

/* ---- times, durations, numbers ---- */

void zk_fmt_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

void zk_fmt_time_long(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char a[32], b[16];
    localtime_r(&t, &tm);
    strftime(a, sizeof a, "%Y-%m-%d %H:%M:%S", &tm);
    strftime(b, sizeof b, "%z", &tm);
    snprintf(buf, size, "%s.%03d %s", a, (int)(ms % 1000), b);
}

int zk_parse_duration_opt(zk_ctx *z, const char *opt, const char *val, int *ms)
{
    if (zkc_parse_duration_ms(val, 1000, ms) != ZKC_OK)
        return zk_usage(z, "%s: want a duration like 500ms, 10s or 2m, got '%s'", opt, val);
    return 0;
}

int zk_parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
    char *end;
    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || v < min || v > max)
        return -1;
    *ret = (unsigned)v;
    return 0;
}

int zk_perms_parse(const char *s, uint32_t *ret)
{
    uint32_t p = 0;
    for (; *s != '\0'; s++) {
        switch (*s) {
        case 'r': p |= ZKC_PERM_READ; break;
        case 'w': p |= ZKC_PERM_WRITE; break;
        case 'c': p |= ZKC_PERM_CREATE; break;
        case 'd': p |= ZKC_PERM_DELETE; break;
        case 'a': p |= ZKC_PERM_ADMIN; break;
        case '-': break;
        default: return -1;
        }
    }
    *ret = p;
    return 0;
}

/* ---- JSON ---- */

json_t *zk_json_stat(const zkc_stat *st)
{
    return json_pack("{sI sI sI sI si si si sI si si sI}",
                     "czxid", (json_int_t)st->czxid, "mzxid", (json_int_t)st->mzxid,
                     "ctime", (json_int_t)st->ctime, "mtime", (json_int_t)st->mtime,
                     "version", (int)st->version, "cversion", (int)st->cversion,
                     "aversion", (int)st->aversion, "ephemeral_owner",
                     (json_int_t)st->ephemeral_owner, "data_length", (int)st->data_length,
                     "num_children", (int)st->num_children, "pzxid", (json_int_t)st->pzxid);
}

void zk_json_set_data(json_t *obj, const char *data, size_t len)
{
    json_t *s = json_stringn(data != NULL ? data : "", data != NULL ? len : 0);
    if (s != NULL) {
        json_object_set_new(obj, "data", s);
        return;
    }
    char *enc = zkc_base64_encode(data, len);
    if (enc != NULL)
        json_object_set_new(obj, "data_base64", json_string(enc));
    free(enc);
}

int zk_json_get_data(json_t *obj, char **data, size_t *len)
{
    json_t *d = json_object_get(obj, "data");
    json_t *b = json_object_get(obj, "data_base64");
    if (d != NULL && json_is_string(d)) {
        size_t n = json_string_length(d);
        char *p = malloc(n + 1);
        if (p == NULL)
            return -1;
        memcpy(p, json_string_value(d), n);
        p[n] = '\0';
        *data = p;
        *len = n;
        return 0;
    }
    if (b != NULL && json_is_string(b))
        return zkc_base64_decode(json_string_value(b), json_string_length(b), data, len) == ZKC_OK
                   ? 0
                   : -1;
    if (d == NULL && b == NULL) {
        *data = calloc(1, 1);
        *len = 0;
        return *data != NULL ? 0 : -1;
    }
    return -1;
}

json_t *zk_json_acl(const zkc_acl_list *acl)
{
    json_t *arr = json_array();
    for (size_t i = 0; acl != NULL && i < acl->count; i++) {
        char perms[6];
        zkc_perms_format(acl->v[i].perms, perms);
        json_array_append_new(arr, json_pack("{ss ss ss}", "scheme", acl->v[i].scheme, "id",
                                             acl->v[i].id, "perms", perms));
    }
    return arr;
}

int zk_json_get_acl(json_t *arr, zkc_acl_list **ret)
{
    if (!json_is_array(arr))
        return -1;
    size_t n = json_array_size(arr);
    zkc_acl_list *a = calloc(1, sizeof *a);
    if (a == NULL)
        return -1;
    a->v = calloc(n > 0 ? n : 1, sizeof *a->v);
    if (a->v == NULL) {
        free(a);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        const char *scheme, *id;
        json_t *perms;
        if (json_unpack(e, "{ss ss so}", "scheme", &scheme, "id", &id, "perms", &perms) != 0)
            goto bad;
        uint32_t p;
        if (json_is_string(perms)) {
            if (zk_perms_parse(json_string_value(perms), &p) != 0)
                goto bad;
        } else if (json_is_integer(perms) && json_integer_value(perms) >= 0 &&
                   json_integer_value(perms) <= 31) {
            p = (uint32_t)json_integer_value(perms);
        } else {
            goto bad;
        }
        a->v[i].perms = p;
        a->v[i].scheme = strdup(scheme);
        a->v[i].id = strdup(id);
        a->count = i + 1;
        if (a->v[i].scheme == NULL || a->v[i].id == NULL)
            goto bad;
    }
    *ret = a;
    return 0;
bad:
    zkc_acl_list_free(a);
    return -1;
}

void zk_json_print(json_t *doc, bool pretty)
{
    size_t flags = (pretty ? JSON_INDENT(2) : JSON_COMPACT) |
                   JSON_PRESERVE_ORDER;
    json_dumpf(doc, stdout, flags);
    fputc('\n', stdout);
}
