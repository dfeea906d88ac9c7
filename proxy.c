/* proxy.c - PROXY protocol v1/v2 header parsing (for --proxy-proxy) and the
 * headers stud writes to its backend (--write-ip, --write-proxy). A library
 * module: no logging, no state. */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "proxy.h"

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* Parse a decimal port without sign or leading zeros. */
static int
v1_port(const char *s)
{
	long n = 0;

	if (*s == '\0' || (*s == '0' && s[1] != '\0') || strlen(s) > 5)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (*s - '0');
	}
	return n <= 65535 ? 0 : -1;
}

/* Check one complete v1 line, CRLF excluded. */
static int
v1_check(const char *line)
{
	char copy[PROXY_V1_MAX + 1], *f[7], *save = NULL;
	unsigned char addr[16];
	int n = 0, af;

	snprintf(copy, sizeof(copy), "%s", line);
	for (char *t = strtok_r(copy, " ", &save); t != NULL && n < 7;
	    t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	if (strncmp(line, "PROXY UNKNOWN", 13) == 0 &&
	    (line[13] == '\0' || line[13] == ' '))
		return 0;
	if (n != 6 || strchr(line, '\t') != NULL || strstr(line, "  ") != NULL ||
	    line[strlen(line) - 1] == ' ')
		return -1;
	if (strcmp(f[1], "TCP4") == 0)
		af = AF_INET;
	else if (strcmp(f[1], "TCP6") == 0)
		af = AF_INET6;
	else
		return -1;
	if (inet_pton(af, f[2], addr) != 1 || inet_pton(af, f[3], addr) != 1)
		return -1;
	return v1_port(f[4]) == 0 && v1_port(f[5]) == 0 ? 0 : -1;
}

static long
parse_v1(const unsigned char *buf, size_t len)
{
	char line[PROXY_V1_MAX + 1];
	size_t i;

	/* the CR may stand at index PROXY_V1_MAX - 2 at most */
	for (i = 0; i < len && i < PROXY_V1_MAX - 1; i++) {
		if (buf[i] == '\r')
			break;
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return -1;
	}
	if (i == len)
		return len < PROXY_V1_MAX - 1 ? 0 : -1;
	if (i == PROXY_V1_MAX - 1 || i + 1 == len)
		return i == PROXY_V1_MAX - 1 ? -1 : 0;
	if (buf[i + 1] != '\n')
		return -1;
	memcpy(line, buf, i);
	line[i] = '\0';
	return v1_check(line) == 0 ? (long)(i + 2) : -1;
}

static long
parse_v2(const unsigned char *buf, size_t len, size_t max)
{
	size_t body, need;

	if (len < 16)
		return 0;
	if ((buf[12] >> 4) != 2 || (buf[12] & 0x0f) > 1)
		return -1;
	body = (size_t)buf[14] << 8 | buf[15];
	switch (buf[13]) {
	case 0x00: need = 0; break;			/* UNSPEC */
	case 0x11: case 0x12: need = 12; break;		/* TCP4, UDP4 */
	case 0x21: case 0x22: need = 36; break;		/* TCP6, UDP6 */
	case 0x31: case 0x32: need = 216; break;	/* UNIX */
	default: return -1;
	}
	if ((buf[12] & 0x0f) == 1 && body < need)
		return -1;
	if (16 + body > max)
		return -1;
	return len >= 16 + body ? (long)(16 + body) : 0;
}

long
proxy_parse(const unsigned char *buf, size_t len, size_t max)
{
	size_t n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);

	if (len == 0)
		return 0;
	if (memcmp(buf, v2_sig, n) == 0)
		return n < sizeof(v2_sig) ? 0 : parse_v2(buf, len, max);
	n = len < 6 ? len : 6;
	if (memcmp(buf, "PROXY ", n) != 0)
		return -1;
	if (n < 6)
		return 0;
	return parse_v1(buf, len);
}

/* The IPv4 address behind an IPv4-mapped IPv6 address, or NULL. */
static const struct in_addr *
mapped_v4(const struct sockaddr_in6 *s6)
{
	if (!IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return NULL;
	return (const struct in_addr *)(const void *)&s6->sin6_addr.s6_addr[12];
}

int
proxy_write_ip(unsigned char *buf, const struct sockaddr *client)
{
	const struct sockaddr_in *s4 = (const void *)client;
	const struct sockaddr_in6 *s6 = (const void *)client;
	const struct in_addr *a4 = NULL;

	if (client->sa_family == AF_INET)
		a4 = &s4->sin_addr;
	else if (client->sa_family == AF_INET6)
		a4 = mapped_v4(s6);
	else
		return -1;
	if (a4 != NULL) {
		buf[0] = WRITE_IP_INET;
		memcpy(buf + 1, a4, 4);
		return 5;
	}
	buf[0] = WRITE_IP_INET6;
	memcpy(buf + 1, &s6->sin6_addr, 16);
	return 17;
}

int
proxy_addr_text(const struct sockaddr *sa, char *host, size_t len, unsigned *port)
{
	const struct sockaddr_in *s4 = (const void *)sa;
	const struct sockaddr_in6 *s6 = (const void *)sa;
	const struct in_addr *a4;

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, host, (socklen_t)len);
		*port = ntohs(s4->sin_port);
		return 4;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	*port = ntohs(s6->sin6_port);
	if ((a4 = mapped_v4(s6)) != NULL) {
		inet_ntop(AF_INET, a4, host, (socklen_t)len);
		return 4;
	}
	inet_ntop(AF_INET6, &s6->sin6_addr, host, (socklen_t)len);
	return 6;
}

int
proxy_write_v1(char *buf, const struct sockaddr *client,
    const struct sockaddr *local)
{
	char ch[INET6_ADDRSTRLEN], lh[INET6_ADDRSTRLEN];
	unsigned cp, lp;
	int cf = proxy_addr_text(client, ch, sizeof(ch), &cp);
	int lf = proxy_addr_text(local, lh, sizeof(lh), &lp);

	if (cf == 0 || cf != lf)
		return snprintf(buf, PROXY_V1_MAX + 1, "PROXY UNKNOWN\r\n");
	return snprintf(buf, PROXY_V1_MAX + 1, "PROXY TCP%d %s %s %u %u\r\n",
	    cf, ch, lh, cp, lp);
}

/* Append one TLV; returns the new position, or 0 if it does not fit. */
static size_t
tlv(unsigned char *buf, size_t pos, size_t len, unsigned type,
    const void *val, size_t vlen)
{
	if (vlen > 0xffff || pos + 3 + vlen > len)
		return 0;
	buf[pos] = (unsigned char)type;
	buf[pos + 1] = (unsigned char)(vlen >> 8);
	buf[pos + 2] = (unsigned char)vlen;
	memcpy(buf + pos + 3, val, vlen);
	return pos + 3 + vlen;
}

static inline size_t
tlv_str(unsigned char *buf, size_t pos, size_t len, unsigned type,
    const char *s)
{
	return s == NULL || pos == 0 ? pos : tlv(buf, pos, len, type, s,
	    strlen(s));
}

/* The addresses block: 12 bytes for IPv4, 36 for IPv6, 0 otherwise; sets
 * the family byte. */
static size_t
v2_addresses(unsigned char *p, unsigned char *fam,
    const struct sockaddr *client, const struct sockaddr *local)
{
	const struct sockaddr_in6 *c6 = (const void *)client;
	const struct sockaddr_in6 *l6 = (const void *)local;
	const struct sockaddr_in *c4 = (const void *)client;
	const struct sockaddr_in *l4 = (const void *)local;
	const struct in_addr *ca, *la;

	if (client->sa_family == AF_INET && local->sa_family == AF_INET) {
		ca = &c4->sin_addr, la = &l4->sin_addr;
		memcpy(p + 8, &c4->sin_port, 2);
		memcpy(p + 10, &l4->sin_port, 2);
	} else if (client->sa_family == AF_INET6 &&
	    local->sa_family == AF_INET6 && (ca = mapped_v4(c6)) != NULL &&
	    (la = mapped_v4(l6)) != NULL) {
		memcpy(p + 8, &c6->sin6_port, 2);
		memcpy(p + 10, &l6->sin6_port, 2);
	} else if (client->sa_family == AF_INET6 &&
	    local->sa_family == AF_INET6) {
		*fam = 0x21;
		memcpy(p, &c6->sin6_addr, 16);
		memcpy(p + 16, &l6->sin6_addr, 16);
		memcpy(p + 32, &c6->sin6_port, 2);
		memcpy(p + 34, &l6->sin6_port, 2);
		return 36;
	} else {
		*fam = 0x00;
		return 0;
	}
	*fam = 0x11;
	memcpy(p, ca, 4);
	memcpy(p + 4, la, 4);
	return 12;
}

/* The SSL TLV: flags, verify result, then its sub-TLVs, written in place
 * (its length filled in last). Returns the new position, or 0. */
static size_t
v2_ssl(unsigned char *buf, size_t pos, size_t len, const struct proxy_tls *t)
{
	size_t n = pos + 3 + 5, vlen;

	if (pos == 0 || n > len)
		return 0;
	buf[pos + 3] = t->client;
	buf[pos + 4] = (unsigned char)(t->verify >> 24);
	buf[pos + 5] = (unsigned char)(t->verify >> 16);
	buf[pos + 6] = (unsigned char)(t->verify >> 8);
	buf[pos + 7] = (unsigned char)t->verify;
	n = tlv_str(buf, n, len, PP2_SUBTYPE_SSL_VERSION, t->version);
	n = tlv_str(buf, n, len, PP2_SUBTYPE_SSL_CN, t->cn);
	n = tlv_str(buf, n, len, PP2_SUBTYPE_SSL_CIPHER, t->cipher);
	if (n == 0 || (vlen = n - pos - 3) > 0xffff)
		return 0;
	buf[pos] = PP2_TYPE_SSL;
	buf[pos + 1] = (unsigned char)(vlen >> 8);
	buf[pos + 2] = (unsigned char)vlen;
	return n;
}

int
proxy_write_v2(unsigned char *buf, size_t len, const struct sockaddr *client,
    const struct sockaddr *local, const struct proxy_tls *tls)
{
	size_t pos;

	if (len < 16 + 36)
		return -1;
	memcpy(buf, v2_sig, sizeof(v2_sig));
	buf[12] = 0x21;				/* version 2, PROXY */
	pos = 16 + v2_addresses(buf + 16, &buf[13], client, local);
	if (tls->alpn != NULL && tls->alpn_len > 0)
		pos = tlv(buf, pos, len, PP2_TYPE_ALPN, tls->alpn,
		    tls->alpn_len);
	pos = tlv_str(buf, pos, len, PP2_TYPE_AUTHORITY, tls->authority);
	if (pos != 0)
		pos = v2_ssl(buf, pos, len, tls);
	if (pos == 0)
		return -1;
	buf[14] = (unsigned char)((pos - 16) >> 8);
	buf[15] = (unsigned char)(pos - 16);
	return (int)pos;
}
