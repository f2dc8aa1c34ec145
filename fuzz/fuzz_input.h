/*
 * fuzz_input.h: the fuzz input as a C string, for the targets that read
 * it as one (up to its first NUL).
 */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'd copy of data with a NUL after it, or NULL. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
