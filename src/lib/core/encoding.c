/*
 * encoding.c: base64 (RFC 4648 alphabet, with padding), the encoding of
 * binary node data in JSON trees and dumps, through nettle.  nettle's
 * decoder skips whitespace and wants the padding; ours keeps util.h's
 * stricter contract: padding optional but exact, no whitespace, no stray
 * bits.
 */
#include <nettle/base64.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zkcell/err.h"
#include "zkcell/util.h"

char *zkc_base64_encode(const void *data, size_t len)
{
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    char *out = malloc(BASE64_ENCODE_RAW_LENGTH(len) + 1);
    if (out == NULL)
        return NULL;
    base64_encode_raw(out, len, data);
    out[BASE64_ENCODE_RAW_LENGTH(len)] = '\0';
    return out;
}

int zkc_base64_decode(const char *s, size_t n, char **ret, size_t *ret_len)
{
    size_t pad = 0;
    while (n > 0 && pad < 2 && s[n - 1] == '=') {
        n--;
        pad++;
    }
    if (n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0))
        return ZKC_EBADDATA;
    /* nettle would skip whitespace; the padding is checked above, and
     * any other '=' or byte outside the alphabet nettle refuses. */
    for (size_t i = 0; i < n; i++)
        if (strchr(" \t\n\r\f\v", s[i]) != NULL || s[i] == '\0')
            return ZKC_EBADDATA;
    char *out = malloc(BASE64_DECODE_LENGTH(n) + 1);
    if (out == NULL)
        return ZKC_ENOMEM;
    struct base64_decode_ctx ctx;
    base64_decode_init(&ctx);
    size_t o = BASE64_DECODE_LENGTH(n);
    if (!base64_decode_update(&ctx, &o, (uint8_t *)out, n, s)) {
        free(out);
        return ZKC_EBADDATA;
    }
    /* Canonical text only: the bits after the last byte must be zero,
     * which holds exactly when the bytes encode back to the same text. */
    if (n % 4 != 0) {
        char *back = zkc_base64_encode(out, o);
        int same = back != NULL && memcmp(back, s, n) == 0;
        int nomem = back == NULL;
        free(back);
        if (!same) {
            free(out);
            return nomem ? ZKC_ENOMEM : ZKC_EBADDATA;
        }
    }
    out[o] = '\0';
    *ret = out;
    *ret_len = o;
    return ZKC_OK;
}
