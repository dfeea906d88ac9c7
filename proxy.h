/* proxy.h - the client-address headers stud sends to its backend (write-ip,
 * PROXY v1) and the parser of PROXY headers received from a balancer. */
#ifndef STUD_PROXY_H
#define STUD_PROXY_H

#include <stddef.h>
#include <sys/socket.h>

#define PROXY_V1_MAX	107	/* longest v1 line, CRLF included */
#define WRITE_IP_MAX	17	/* family octet + IPv6 address */

/* Family octets of --write-ip (the Linux AF_* values). */
#define WRITE_IP_INET	2
#define WRITE_IP_INET6	10

/* Check buf[0..len) for a PROXY v1 or v2 header at its start. Returns the
 * header's length when it is complete and well formed, 0 when more bytes are
 * needed (everything so far fits a header), or -1 when it is malformed or
 * would be longer than max. */
long	proxy_parse(const unsigned char *buf, size_t len, size_t max);

/* Write the --write-ip header for the client address into buf (at least
 * WRITE_IP_MAX bytes). IPv4-mapped IPv6 addresses are written as IPv4.
 * Returns its length, or -1 for a family other than IPv4/IPv6. */
int	proxy_write_ip(unsigned char *buf, const struct sockaddr *client);

/* Write the PROXY v1 line for a connection from client to local into buf (at
 * least PROXY_V1_MAX + 1 bytes). IPv4-mapped addresses are written as TCP4;
 * other families as "PROXY UNKNOWN". Returns its length. */
int	proxy_write_v1(char *buf, const struct sockaddr *client,
	    const struct sockaddr *local);

/* Write sa's address as text into host (INET6_ADDRSTRLEN bytes) and its
 * port into *port; IPv4-mapped IPv6 addresses are written as IPv4. Returns
 * 4 or 6 for the family written, 0 for another family. */
int	proxy_addr_text(const struct sockaddr *sa, char *host, size_t len,
	    unsigned *port);

#endif /* STUD_PROXY_H */
