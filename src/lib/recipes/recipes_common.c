/*
 * recipes_common.c: the helpers every recipe shares: which errors to
 * retry, the order of a queue folder (sequence suffixes, an entry's
 * position and the entry before it), the JSON contents of lock and
 * candidate nodes, and guids.  Deadlines and backoff waits are the
 * core's (clock.c, backoff.c).
 */
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recipes_impl.h"
#include "zkcell/path.h"

bool zkc__rc_retryable(int rc)
{
    return rc == ZKC_ECONNECTIONLOSS || rc == ZKC_EOPERATIONTIMEOUT;
}

bool zkc__rc_fatal(int rc)
{
    return rc == ZKC_ESESSIONEXPIRED || rc == ZKC_ECLOSED || rc == ZKC_ECLOSING ||
           rc == ZKC_EAUTHFAILED;
}

bool zkc__seq_suffix(const char *name, int64_t *ret_seq)
{
    size_t n = strlen(name);
    if (n < 10)
        return false;
    int64_t v = 0;
    for (size_t i = n - 10; i < n; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        v = v * 10 + (name[i] - '0');
    }
    if (ret_seq != NULL)
        *ret_seq = v;
    return true;
}

static int seq_entry_cmp(const void *a, const void *b)
{
    const zkc__seq_entry *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return strcmp(x->name, y->name);
}

int zkc__seq_order(const zkc_strings *kids, bool (*keep)(const char *name), bool by_seq,
                   zkc__seq_entry **ret, size_t *ret_n)
{
    zkc__seq_entry *v = malloc((kids->count > 0 ? kids->count : 1) * sizeof *v);
    if (v == NULL)
        return ZKC_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < kids->count; i++) {
        const char *name = kids->v[i];
        if (keep != NULL && !keep(name))
            continue;
        v[n].name = name;
        v[n].seq = 0;
        if (by_seq)
            zkc__seq_suffix(name, &v[n].seq);
        n++;
    }
    qsort(v, n, sizeof *v, seq_entry_cmp);
    *ret = v;
    *ret_n = n;
    return ZKC_OK;
}

int zkc__queue_position(const zkc_strings *kids, const char *dir, const char *me_name,
                        bool (*keep)(const char *name), bool by_seq, size_t *ret_pos,
                        size_t *ret_n, char **ret_pred)
{
    *ret_pred = NULL;
    zkc__seq_entry *q = NULL;
    size_t n = 0;
    int rc = zkc__seq_order(kids, keep, by_seq, &q, &n);
    if (rc != ZKC_OK)
        return rc;
    size_t me = n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(q[i].name, me_name) == 0)
            me = i;
    if (me > 0 && me < n && (*ret_pred = zkc_path_join(dir, q[me - 1].name)) == NULL)
        rc = ZKC_ENOMEM;
    free(q);
    *ret_pos = me;
    *ret_n = n;
    return rc;
}

int zkc__contents_json(const char *extra_json, const char *key, const char *value, char **ret,
                       size_t *ret_len)
{
    json_t *extra = NULL;
    if (extra_json != NULL) {
        json_error_t jerr;
        extra = json_loads(extra_json, JSON_REJECT_DUPLICATES, &jerr);
        if (extra == NULL || !json_is_object(extra)) {
            json_decref(extra);
            zkc_impl_set_errmsg("recipe contents: extra fields are not a JSON object");
            return ZKC_EBADDATA;
        }
    }
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';

    int rc = ZKC_ENOMEM;
    json_t *o = json_object();
    if (o == NULL)
        goto out;
    if (json_object_set_new(o, "hostname", json_string(host)) != 0 ||
        json_object_set_new(o, "pid", json_integer((json_int_t)getpid())) != 0)
        goto out;
    if (key != NULL && json_object_set_new(o, key, json_string(value)) != 0)
        goto out;
    if (extra != NULL && json_object_update_missing(o, extra) != 0)
        goto out;
    char *s = json_dumps(o, JSON_PRESERVE_ORDER);
    if (s == NULL)
        goto out;
    /* json_dumps allocates with jansson's allocator, malloc by default;
     * copy to be sure the caller may free() it. */
    size_t len = strlen(s);
    *ret = malloc(len + 1);
    if (*ret != NULL) {
        memcpy(*ret, s, len + 1);
        *ret_len = len;
        rc = ZKC_OK;
    }
    free(s);
out:
    json_decref(o);
    json_decref(extra);
    return rc;
}

void zkc__guid(char out[33])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = zkc_impl_random(), b = zkc_impl_random();
    for (int i = 0; i < 16; i++) {
        out[i] = hex[(a >> (4 * i)) & 15];
        out[16 + i] = hex[(b >> (4 * i)) & 15];
    }
    out[32] = '\0';
}
