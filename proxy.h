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

#define PROXY_V2_MAX	1024	/* header with every TLV stud writes */

/* PROXY v2 TLV types and SSL client flags (PROXY protocol spec, 2.2). */
#define PP2_TYPE_ALPN		0x01
#define PP2_TYPE_AUTHORITY	0x02
#define PP2_TYPE_SSL		0x20
#define PP2_SUBTYPE_SSL_VERSION	0x21
#define PP2_SUBTYPE_SSL_CN	0x22
#define PP2_SUBTYPE_SSL_CIPHER	0x23
#define PP2_CLIENT_SSL		0x01
#define PP2_CLIENT_CERT_CONN	0x02
#define PP2_CLIENT_CERT_SESS	0x04

/* What the TLS layer tells the backend in a v2 header; NULL/0 = absent. */
struct proxy_tls {
	const unsigned char	*alpn;		/* negotiated protocol */
	size_t			 alpn_len;
	const char		*authority;	/* SNI host name */
	unsigned char		 client;	/* PP2_CLIENT_* flags */
	unsigned		 verify;	/* 0 = client cert verified */
	const char		*version;	/* "TLSv1.3" */
	const char		*cipher;
	const char		*cn;		/* client certificate CN */
};

/* Write a PROXY v2 header (command PROXY, TCP over the client's family)
 * for a connection from client to local, with the TLVs of tls, into buf of
 * len bytes. IPv4-mapped addresses are written as IPv4; other families as
 * UNSPEC with no addresses. Returns its length, or -1 if it does not fit. */
int	proxy_write_v2(unsigned char *buf, size_t len,
	    const struct sockaddr *client, const struct sockaddr *local,
	    const struct proxy_tls *tls);

/* Write sa's address as text into host (INET6_ADDRSTRLEN bytes) and its
 * port into *port; IPv4-mapped IPv6 addresses are written as IPv4. Returns
 * 4 or 6 for the family written, 0 for another family. */
int	proxy_addr_text(const struct sockaddr *sa, char *host, size_t len,
	    unsigned *port);

#endif /* STUD_PROXY_H */
