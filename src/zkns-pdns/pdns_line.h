/*
 * pdns_line.h: the PowerDNS pipe backend protocol, one line at a time,
 * for ABI versions 1 to 5: parsing a question line, and writing answer
 * lines.  Pure functions over buffers, with no I/O and no ZooKeeper, so
 * that the unit tests and the fuzz target can drive them alone.
 *
 * Questions (fields separated by one TAB, the line without its '\n'):
 *   HELO <abi>                                  the handshake, first line
 *   Q <qname> <qclass> <qtype> <id> <remote>    ABI 1
 *       ... <local>                             ABI 2 adds the local address
 *       ... <local> <edns-subnet>               ABI 3 and later
 *   AXFR <id>                                   ABI 1 to 3
 *   AXFR <id> <zone>                            ABI 4 and later
 *   CMD <text>                                  ABI 5 (pdnsutil backend-cmd)
 *   PING                                        old PowerDNS versions
 * Answers: DATA lines, then END; or FAIL; LOG lines may come before.
 *   DATA <qname> IN <qtype> <ttl> <id> <content>                 ABI 1, 2
 *   DATA <scopebits> <auth> <qname> IN <qtype> <ttl> <id> <content>  ABI 3+
 * SRV content is "<priority>\t<weight> <port> <target>".
 *
 * Threads: no state; safe anywhere.
 */
#ifndef ZKNS_PDNS_LINE_H
#define ZKNS_PDNS_LINE_H

#include <stdbool.h>
#include <stddef.h>

/* Lines of this many bytes or more (without the newline) are skipped
 * whole and answered FAIL. */
#define PDNS_MAX_LINE 8192
#define PDNS_MIN_ABI 1
#define PDNS_MAX_ABI 5

typedef enum pdns_kind {
    PDNS_BAD = 0, /* not a line of the protocol (why says what) */
    PDNS_HELO,
    PDNS_Q,
    PDNS_AXFR,
    PDNS_CMD,
    PDNS_PING
} pdns_kind;

/* A parsed line.  Strings point into the line given to pdns_parse(). */
typedef struct pdns_question {
    pdns_kind kind;
    const char *why;   /* PDNS_BAD: a short reason */
    int abi;           /* PDNS_HELO: the version asked (1..5), else 0 */
    const char *qname, *qclass, *qtype, *id;
    const char *remote, *local, *subnet; /* NULL when the ABI has none */
    const char *zone;  /* AXFR, ABI 4+: the zone; else NULL */
    const char *cmd;   /* CMD: the text */
} pdns_question;

/*
 * pdns_parse: parse one line (len bytes, no '\n'; line[len] must be
 * writable: it becomes a NUL), splitting it in place
 * (TABs become NULs).  abi is the version agreed in the handshake, or 0
 * before it: then only HELO is valid.  Bytes below 0x20 other than TAB,
 * and 0x7f, make a line PDNS_BAD, as do missing fields and unknown
 * words.  Extra fields after the ones an ABI defines are ignored.
 */
void pdns_parse(char *line, size_t len, int abi, pdns_question *q);

/* An output buffer that grows; answers are appended, then written. */
typedef struct pdns_out {
    char *buf;
    size_t len, cap;
    bool oom; /* an append failed: the caller answers FAIL instead */
} pdns_out;

void pdns_out_reset(pdns_out *o);
void pdns_out_free(pdns_out *o);

/* "OK\t<banner>\n" and "FAIL\n", "END\n". */
void pdns_put_ok(pdns_out *o, const char *banner);
void pdns_put_fail(pdns_out *o);
void pdns_put_end(pdns_out *o);
/* "LOG\t<msg>\n", with control characters in msg replaced by '?'. */
void pdns_put_log(pdns_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A CMD reply line: text with control characters replaced. */
void pdns_put_text(pdns_out *o, const char *text);

/*
 * pdns_put_data: one DATA line in the layout of abi.  content is written
 * as given (SRV: "<priority>\t<rest>"); scope bits 0 and auth 1 for
 * ABI 3 and later.
 */
void pdns_put_data(pdns_out *o, int abi, const char *qname, const char *qtype, unsigned ttl,
                   const char *id, const char *content);

#endif
