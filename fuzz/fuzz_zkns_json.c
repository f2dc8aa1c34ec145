/*
 * fuzz_zkns_json.c: libFuzzer target for the zkns record JSON
 * (zkc_zkns_parse and friends in src/lib/zkns/zkns.c).
 *
 * The input is node data (bytes, NULs included).  Besides "no crash", it
 * checks what zkns.h promises: only the documented codes; a record that
 * parsed formats to JSON that parses back to the same kind and the same
 * formatted text; answers and validation of any parsed record run clean.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zkcell/zkns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
    if (!cond)
        abort();
}

static uint32_t first(uint32_t bound, void *ud)
{
    (void)ud;
    return bound - 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    zkc_zkns_record *r = NULL;
    int rc = zkc_zkns_parse((const char *)data, size, &r);
    check(rc == ZKC_OK || rc == ZKC_EBADDATA || rc == ZKC_ENOMEM);
    if (rc != ZKC_OK || r == NULL)
        return 0;
    char *json = NULL;
    rc = zkc_zkns_format(r, &json);
    check(rc == ZKC_OK || rc == ZKC_ENOMEM);
    if (rc == ZKC_OK) {
        zkc_zkns_record *back = NULL;
        rc = zkc_zkns_parse(json, strlen(json), &back);
        check(rc == ZKC_OK || rc == ZKC_ENOMEM);
        if (rc == ZKC_OK) {
            check(back != NULL && back->count == r->count);
            check(zkc_zkns_kind_of(back) == zkc_zkns_kind_of(r));
            char *again = NULL;
            if (zkc_zkns_format(back, &again) == ZKC_OK)
                check(strcmp(json, again) == 0);
            free(again);
        }
        zkc_zkns_record_free(back);
    }
    free(json);
    (void)zkc_zkns_validate(r);
    static const zkc_zkns_kind qs[] = {ZKC_ZKNS_A, ZKC_ZKNS_AAAA, ZKC_ZKNS_CNAME, ZKC_ZKNS_SRV,
                                       ZKC_ZKNS_ANY};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        const char *port = r->count > 0 && r->v[0].nports > 0 ? r->v[0].ports[0].name : NULL;
        zkc_zkns_answers *a = NULL;
        rc = zkc_zkns_answers_for(r, qs[i], i % 2 ? port : NULL, first, NULL, &a);
        check(rc == ZKC_OK || rc == ZKC_ENOMEM);
        if (a != NULL) {
            for (size_t j = 0; j < a->count; j++)
                check(a->v[j].target != NULL && strchr(a->v[j].target, '\t') == NULL &&
                      strchr(a->v[j].target, '\n') == NULL);
            zkc_zkns_srv_order(a, first, NULL);
        }
        zkc_zkns_answers_free(a);
    }
    zkc_zkns_record_free(r);
    return 0;
}
