/*
 * pdns_line.c: parse PowerDNS pipe backend questions and write answers
 * (pdns_line.h).  Nothing here knows about zkns or ZooKeeper.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdns_line.h"

#define MAX_FIELDS 10

static void bad(pdns_question *q, const char *why)
{
    memset(q, 0, sizeof *q);
    q->kind = PDNS_BAD;
    q->why = why;
}

void pdns_parse(char *line, size_t len, int abi, pdns_question *q)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            bad(q, "control character in the line");
            return;
        }
    }
    char *f[MAX_FIELDS];
    size_t n = 0;
    char *p = line, *end = line + len;
    for (;;) {
        char *tab = memchr(p, '\t', (size_t)(end - p));
        if (n < MAX_FIELDS)
            f[n] = p;
        n++;
        if (tab == NULL) {
            *end = '\0';
            break;
        }
        *tab = '\0';
        p = tab + 1;
    }
    memset(q, 0, sizeof *q);
    if (abi == 0) {
        if (strcmp(f[0], "HELO") != 0) {
            bad(q, "no handshake yet (want HELO)");
            return;
        }
        if (n != 2 || strlen(f[1]) != 1 || f[1][0] < '0' + PDNS_MIN_ABI ||
            f[1][0] > '0' + PDNS_MAX_ABI) {
            bad(q, "unsupported ABI version (want HELO and 1 to 5)");
            return;
        }
        q->kind = PDNS_HELO;
        q->abi = f[1][0] - '0';
        return;
    }
    if (strcmp(f[0], "Q") == 0) {
        size_t want = abi >= 3 ? 8 : abi == 2 ? 7 : 6;
        if (n < want) {
            bad(q, "short Q line");
            return;
        }
        for (size_t i = 1; i < want; i++)
            if (f[i][0] == '\0') {
                bad(q, "empty field in Q line");
                return;
            }
        q->kind = PDNS_Q;
        q->qname = f[1];
        q->qclass = f[2];
        q->qtype = f[3];
        q->id = f[4];
        q->remote = f[5];
        q->local = abi >= 2 ? f[6] : NULL;
        q->subnet = abi >= 3 ? f[7] : NULL;
        return;
    }
    if (strcmp(f[0], "AXFR") == 0) {
        size_t want = abi >= 4 ? 3 : 2;
        if (n < want || f[1][0] == '\0') {
            bad(q, "short AXFR line");
            return;
        }
        q->kind = PDNS_AXFR;
        q->id = f[1];
        q->zone = abi >= 4 ? f[2] : NULL;
        return;
    }
    if (strcmp(f[0], "CMD") == 0 && abi >= 5) {
        if (n < 2) {
            bad(q, "short CMD line");
            return;
        }
        /* The command is the rest of the line, TABs included. */
        for (char *t = f[1]; t < end; t++)
            if (*t == '\0')
                *t = '\t';
        q->kind = PDNS_CMD;
        q->cmd = f[1];
        return;
    }
    if (strcmp(f[0], "PING") == 0 && n == 1) {
        q->kind = PDNS_PING;
        return;
    }
    bad(q, "unknown question");
}

/* ---- output ---- */

static void put(pdns_out *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 512;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (b == NULL) {
            o->oom = true;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void puts_(pdns_out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Append s with every control character (TAB and newline included)
 * replaced by '?', so that it stays one field of one line. */
static void put_clean(pdns_out *o, const char *s)
{
    size_t start = o->len;
    puts_(o, s);
    if (o->oom)
        return;
    for (size_t i = start; i < o->len; i++) {
        unsigned char c = (unsigned char)o->buf[i];
        if (c < 0x20 || c == 0x7f)
            o->buf[i] = '?';
    }
}

void pdns_out_reset(pdns_out *o)
{
    o->len = 0;
    o->oom = false;
    if (o->buf != NULL)
        o->buf[0] = '\0';
}

void pdns_out_free(pdns_out *o)
{
    free(o->buf);
    memset(o, 0, sizeof *o);
}

void pdns_put_ok(pdns_out *o, const char *banner)
{
    puts_(o, "OK\t");
    put_clean(o, banner);
    puts_(o, "\n");
}

void pdns_put_fail(pdns_out *o)
{
    puts_(o, "FAIL\n");
}

void pdns_put_end(pdns_out *o)
{
    puts_(o, "END\n");
}

void pdns_put_log(pdns_out *o, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    puts_(o, "LOG\t");
    put_clean(o, msg);
    puts_(o, "\n");
}

void pdns_put_text(pdns_out *o, const char *text)
{
    put_clean(o, text);
    puts_(o, "\n");
}

void pdns_put_data(pdns_out *o, int abi, const char *qname, const char *qtype, unsigned ttl,
                   const char *id, const char *content)
{
    char num[16];
    puts_(o, abi >= 3 ? "DATA\t0\t1\t" : "DATA\t");
    puts_(o, qname);
    puts_(o, "\tIN\t");
    puts_(o, qtype);
    snprintf(num, sizeof num, "\t%u\t", ttl);
    puts_(o, num);
    puts_(o, id);
    puts_(o, "\t");
    puts_(o, content);
    puts_(o, "\n");
}
