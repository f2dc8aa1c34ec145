/*
 * pipe_trivial.c: the anchor of the DNS benchmark: a PowerDNS pipe
 * backend (ABI 1 to 5) that answers a fixed zone from memory, with no
 * parsing beyond splitting on TABs.  zkns-pdns is measured against it.
 * The zone is zkns.bench: SOA, a (A 10.0.0.1), alias (CNAME a),
 * _http.web.svc (two SRV targets), as bench/dns.sh writes to ZooKeeper.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int abi = 1;

static void data(const char *qname, const char *type, const char *id, const char *content)
{
    if (abi >= 3)
        printf("DATA\t0\t1\t%s\tIN\t%s\t1\t%s\t%s\n", qname, type, id, content);
    else
        printf("DATA\t%s\tIN\t%s\t1\t%s\t%s\n", qname, type, id, content);
}

int main(void)
{
    static char line[8192];
    char *f[8];
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        int n = 0;
        for (char *p = line; n < 8;) {
            f[n++] = p;
            p = strchr(p, '\t');
            if (p == NULL)
                break;
            *p++ = '\0';
        }
        if (strcmp(f[0], "HELO") == 0 && n == 2) {
            abi = f[1][0] - '0';
            puts("OK\ttrivial");
        } else if (strcmp(f[0], "Q") == 0 && n >= 6) {
            const char *q = f[1], *t = f[3], *id = f[4];
            int any = strcmp(t, "ANY") == 0;
            if (strcasecmp(q, "zkns.bench") == 0 && (any || strcmp(t, "SOA") == 0))
                data(q, "SOA", id, "ns1.zkns.bench. hostmaster.ns1.zkns.bench. 0 1800 600 3600 300");
            else if (strcasecmp(q, "a.zkns.bench") == 0 && (any || strcmp(t, "A") == 0))
                data(q, "A", id, "10.0.0.1");
            else if (strcasecmp(q, "alias.zkns.bench") == 0 && (any || strcmp(t, "CNAME") == 0))
                data(q, "CNAME", id, "a.zkns.bench.");
            else if (strcasecmp(q, "_http.web.svc.zkns.bench") == 0 &&
                     (any || strcmp(t, "SRV") == 0)) {
                data(q, "SRV", id, "0\t1 8080 web1.zkns.bench.");
                data(q, "SRV", id, "0\t1 8081 web2.zkns.bench.");
            }
            puts("END");
        } else if (strcmp(f[0], "AXFR") == 0 || strcmp(f[0], "CMD") == 0) {
            puts("END");
        } else {
            puts("FAIL");
        }
        fflush(stdout);
    }
    return 0;
}
