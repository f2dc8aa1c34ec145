/*
 * base64.c: standard base64 (RFC 4648 alphabet, with padding), the
 * encoding of binary node data in JSON trees and dumps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zkcell/err.h"
#include "zkcell/util.h"

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *zkc_base64_encode(const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out == NULL)
        return NULL;
    char *o = out;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = b64chars[v >> 18];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = b64chars[(v >> 6) & 63];
        *o++ = b64chars[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = b64chars[v >> 18];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

static int b64_value(unsigned char c)
{
    const char *p = c != 0 ? strchr(b64chars, c) : NULL;
    return p == NULL ? -1 : (int)(p - b64chars);
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
    char *out = malloc(n / 4 * 3 + 3);
    if (out == NULL)
        return ZKC_ENOMEM;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return ZKC_EBADDATA;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    /* Leftover bits must be zero, or the text is not canonical base64. */
    if ((acc & ((1u << bits) - 1)) != 0) {
        free(out);
        return ZKC_EBADDATA;
    }
    out[o] = '\0';
    *ret = out;
    *ret_len = o;
    return ZKC_OK;
}
