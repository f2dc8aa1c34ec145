/*
 * sha1.h: a small SHA-1 (FIPS 180-4), internal to libzkcell.
 *
 * ZooKeeper's digest scheme names a user "user:base64(sha1(user:password))";
 * the fake needs exactly that and nothing more, so this is one call.
 * SHA-1 is not used here for security, only to compute the same ids as
 * the server.
 *
 * Threads: a pure function, safe from any thread.
 */
#ifndef ZKC_SHA1_H
#define ZKC_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define ZKC_SHA1_LEN 20

/* zkc__sha1: the SHA-1 digest of len bytes at data, into out. */
void zkc__sha1(const void *data, size_t len, uint8_t out[ZKC_SHA1_LEN]);

#endif
