/* fuzz_proxy.c - libFuzzer harness for proxy.c.
 *
 * Input byte 0 selects what is fuzzed:
 *   even: proxy_parse() on the rest, with max from bytes 1-2, checked for
 *         prefix consistency: a header accepted at length r must read as
 *         "need more" (0) at every shorter prefix and as r at every longer
 *         one; a prefix found malformed (-1) stays malformed.
 *         A complete v1 line is also judged by a strict reference parser
 *         written from the protocol's text (one space between fields, no
 *         trailing space, decimal ports without leading zeros): proxy_parse()
 *         must agree with it.
 *   odd:  proxy_write_ip()/proxy_write_v1()/proxy_addr_text() on two
 *         sockaddrs built from the rest; the v1 line written must be accepted
 *         by proxy_parse() at exactly its length. Where proxy.h has it,
 *         proxy_write_v2() too, with TLS details (ALPN, SNI, version,
 *         cipher, CN) from the input, into a buffer of an input-chosen size:
 *         it fits or says so, proxy_parse() accepts what it wrote at its
 *         length, and the TLVs tile the header exactly.
 * Every buffer handed to proxy.c is malloc'd at its exact size so that ASan
 * sees any read or write past it. */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "fuzz.h"

/* proxy_parse() on an exact-size heap copy of buf[0..len). */
static long
parse_copy(const uint8_t *buf, size_t len, size_t max)
{
	unsigned char *p = malloc(len ? len : 1);
	long r;

	CHECK(p != NULL);
	if (len)
		memcpy(p, buf, len);
	r = proxy_parse(p, len, max);
	free(p);
	return r;
}

/* The PROXY protocol v1 grammar, strictly: "PROXY UNKNOWN" optionally
 * followed by a space and anything, or
 * "PROXY" SP ("TCP4"|"TCP6") SP addr SP addr SP port SP port, where the
 * addresses are of the protocol's family and the ports decimal 0..65535
 * without leading zeros. line[0..n) excludes the CRLF and is printable. */
static int
ref_port(const char *s, size_t n)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535;
}

static int
ref_v1(const char *line, size_t n)
{
	const char *f[6];
	size_t len[6], k = 0, start = 0, i;
	unsigned char a[16];
	char tmp[PROXY_V1_MAX + 1];
	int af;

	if (n >= 13 && memcmp(line, "PROXY UNKNOWN", 13) == 0 &&
	    (n == 13 || line[13] == ' '))
		return 1;
	for (i = 0; i <= n; i++) {
		if (i == n || line[i] == ' ') {
			if (k == 6)
				return 0;
			f[k] = line + start;
			len[k++] = i - start;
			start = i + 1;
		}
	}
	if (k != 6)
		return 0;
	for (i = 0; i < 6; i++)
		if (len[i] == 0)
			return 0;
	if (len[0] != 5 || memcmp(f[0], "PROXY", 5) != 0 || len[1] != 4)
		return 0;
	if (memcmp(f[1], "TCP4", 4) == 0)
		af = AF_INET;
	else if (memcmp(f[1], "TCP6", 4) == 0)
		af = AF_INET6;
	else
		return 0;
	for (i = 2; i < 4; i++) {
		memcpy(tmp, f[i], len[i]);
		tmp[len[i]] = '\0';
		if (inet_pton(af, tmp, a) != 1)
			return 0;
	}
	return ref_port(f[4], len[4]) && ref_port(f[5], len[5]);
}

/* If data holds a complete v1 line (CRLF within the first 107 bytes,
 * printable before it), whether the reference accepts it; else -1. */
static int
ref_verdict(const uint8_t *data, size_t size)
{
	size_t i;

	if (size < 8 || memcmp(data, "PROXY ", 6) != 0)
		return -1;
	for (i = 0; i + 1 < size && i + 2 <= PROXY_V1_MAX; i++) {
		if (data[i] == '\r')
			break;
		if (data[i] < 0x20 || data[i] > 0x7e)
			return -1;
	}
	if (i + 1 >= size || i + 2 > PROXY_V1_MAX || data[i] != '\r' ||
	    data[i + 1] != '\n')
		return -1;
	return ref_v1((const char *)data, i);
}

static void
fuzz_parse(const uint8_t *data, size_t size)
{
	size_t max, l;
	long full, r;

	if (size < 2)
		return;
	/* max: mostly stud's own (16384), sometimes small to hit the limit */
	max = data[0] & 0x80 ? 16384 : ((size_t)data[0] << 8 | data[1]) & 0x3ff;
	data += 2;
	size -= 2;
	full = parse_copy(data, size, max);
	CHECK(full >= -1 && full <= (long)size);
	if (full > 0) {
		/* a v2 header respects max; a v1 line is at most 107 bytes */
		if (size >= 12 && memcmp(data, "\r\n\r\n\0\r\nQUIT\n", 12) == 0)
			CHECK((size_t)full <= max && full >= 16);
		else {
			CHECK(full <= PROXY_V1_MAX && full >= 8);
			CHECK(memcmp(data, "PROXY ", 6) == 0);
			CHECK(data[full - 2] == '\r' && data[full - 1] == '\n');
			for (l = 0; l < (size_t)full - 2; l++)
				CHECK(data[l] >= 0x20 && data[l] <= 0x7e);
		}
	}
	/* complete v1 lines: agree with the strict reference */
	if ((l = (size_t)ref_verdict(data, size)) != (size_t)-1) {
		if ((int)l != (full > 0)) {
			fprintf(stderr, "proxy_parse() %s a v1 line the reference "
			    "%s: \"%.*s\"\n", full > 0 ? "accepts" : "refuses",
			    l ? "accepts" : "refuses",
			    (int)(memchr(data, '\r', size) ?
			    (const uint8_t *)memchr(data, '\r', size) - data :
			    0), (const char *)data);
			abort();
		}
	}
	/* prefixes; bounded so that long inputs stay fast */
	for (l = 0; l < size && l < 300; l++) {
		r = parse_copy(data, l, max);
		if (full > 0 && l < (size_t)full)
			CHECK(r == 0);
		else if (full > 0)
			CHECK(r == full);
		else if (full == 0)
			CHECK(r == 0);
		else
			CHECK(r == 0 || r == -1);
		if (r == -1)
			CHECK(full == -1);
	}
}

/* Build a sockaddr of an input-chosen family in an exact-size allocation. */
static struct sockaddr *
make_addr(const uint8_t **d, size_t *n)
{
	uint8_t fam = *n ? (*d)[0] : 0;
	size_t len, take;
	struct sockaddr *sa;
	int family;

	switch (fam % 5) {
	case 0: family = AF_INET; len = sizeof(struct sockaddr_in); break;
	case 1:
	case 2: family = AF_INET6; len = sizeof(struct sockaddr_in6); break;
	case 3: family = AF_UNIX; len = sizeof(struct sockaddr_un); break;
	default: family = fam; len = sizeof(struct sockaddr); break;
	}
	if (*n) {
		(*d)++;
		(*n)--;
	}
	sa = calloc(1, len);
	CHECK(sa != NULL);
	take = *n < len ? *n : len;
	memcpy(sa, *d, take);
	*d += take;
	*n -= take;
	sa->sa_family = (sa_family_t)family;
	if (family == AF_INET6 && (fam & 0x80)) {
		/* make IPv4-mapped addresses frequent */
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)sa;

		memset(s6->sin6_addr.s6_addr, 0, 10);
		s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
	}
	return sa;
}

#ifdef PROXY_V2_MAX
/* A string of up to 255 input bytes (cut at a NUL), or NULL. */
static char *
take_str(const uint8_t **d, size_t *n)
{
	size_t len;
	char *s;

	if (*n == 0)
		return NULL;
	len = (*d)[0];
	(*d)++;
	(*n)--;
	if (len == 0)
		return NULL;
	if (len > *n)
		len = *n;
	CHECK((s = malloc(len + 1)) != NULL);
	memcpy(s, *d, len);
	s[len] = '\0';
	*d += len;
	*n -= len;
	return s;
}

/* TLVs in p[0..n) tile it exactly; the SSL TLV's sub-TLVs too. */
static void
check_tlvs(const unsigned char *p, size_t n, int nested)
{
	size_t off = 0, len;

	while (off < n) {
		CHECK(n - off >= 3);
		len = (size_t)p[off + 1] << 8 | p[off + 2];
		CHECK(len <= n - off - 3);
		if (!nested && p[off] == PP2_TYPE_SSL) {
			CHECK(len >= 5);
			check_tlvs(p + off + 3 + 5, len - 5, 1);
		}
		off += 3 + len;
	}
	CHECK(off == n);
}

static void
fuzz_write_v2(const uint8_t *data, size_t size, const struct sockaddr *c,
    const struct sockaddr *l)
{
	struct proxy_tls tls;
	char *alpn, *strs[4];
	unsigned char *small, *big;
	size_t len, addrs, i;
	int r, rbig;

	memset(&tls, 0, sizeof(tls));
	len = size >= 2 ? (((size_t)data[0] << 8 | data[1]) %
	    (PROXY_V2_MAX + 64)) : 0;
	if (size >= 2) {
		data += 2;
		size -= 2;
	}
	if (size >= 2) {
		tls.client = data[0];
		tls.verify = data[1];
		data += 2;
		size -= 2;
	}
	alpn = take_str(&data, &size);
	for (i = 0; i < 4; i++)
		strs[i] = take_str(&data, &size);
	tls.alpn = (const unsigned char *)alpn;
	tls.alpn_len = alpn != NULL ? strlen(alpn) : 0;
	tls.authority = strs[0];
	tls.version = strs[1];
	tls.cipher = strs[2];
	tls.cn = strs[3];

	CHECK((small = malloc(len ? len : 1)) != NULL);
	CHECK((big = malloc(4 * PROXY_V2_MAX)) != NULL);
	r = proxy_write_v2(small, len, c, l, &tls);
	rbig = proxy_write_v2(big, 4 * PROXY_V2_MAX, c, l, &tls);
	CHECK(rbig >= 16);
	/* it may refuse a buffer too small for the largest address block
	 * (IPv6) even if this header would fit */
	if ((size_t)rbig <= len && len >= 16 + 36)
		CHECK(r == rbig && memcmp(small, big, (size_t)r) == 0);
	else if ((size_t)rbig <= len)
		CHECK(r == -1 || (r == rbig && memcmp(small, big,
		    (size_t)r) == 0));
	else
		CHECK(r == -1);
	CHECK(proxy_parse(big, (size_t)rbig, 4 * PROXY_V2_MAX) == rbig);
	CHECK((size_t)rbig == 16 + ((size_t)big[14] << 8 | big[15]));
	switch (big[13]) {
	case 0x11: addrs = 12; break;
	case 0x21: addrs = 36; break;
	default: CHECK(big[13] == 0x00); addrs = 0; break;
	}
	CHECK((size_t)rbig >= 16 + addrs);
	check_tlvs(big + 16 + addrs, (size_t)rbig - 16 - addrs, 0);
	free(small);
	free(big);
	free(alpn);
	for (i = 0; i < 4; i++)
		free(strs[i]);
}
#endif

static void
fuzz_write(const uint8_t *data, size_t size)
{
	struct sockaddr *c = make_addr(&data, &size);
	struct sockaddr *l = make_addr(&data, &size);
	unsigned char *ip = malloc(WRITE_IP_MAX);
	char *line = malloc(PROXY_V1_MAX + 1);
	int n;

	CHECK(ip != NULL && line != NULL);
	n = proxy_write_ip(ip, c);
	if (c->sa_family == AF_INET)
		CHECK(n == 5 && ip[0] == WRITE_IP_INET);
	else if (c->sa_family == AF_INET6)
		CHECK((n == 5 && ip[0] == WRITE_IP_INET) ||
		    (n == 17 && ip[0] == WRITE_IP_INET6));
	else
		CHECK(n == -1);

	{
		char *host = malloc(INET6_ADDRSTRLEN);
		unsigned port = 70000;
		int fam;

		CHECK(host != NULL);
		fam = proxy_addr_text(c, host, INET6_ADDRSTRLEN, &port);
		if (c->sa_family == AF_INET)
			CHECK(fam == 4);
		else if (c->sa_family == AF_INET6)
			CHECK(fam == 4 || fam == 6);
		else
			CHECK(fam == 0);
		if (fam != 0) {
			unsigned char a[16];

			CHECK(port <= 65535);
			CHECK(strlen(host) < INET6_ADDRSTRLEN);
			CHECK(inet_pton(fam == 4 ? AF_INET : AF_INET6, host,
			    a) == 1);
		}
		free(host);
	}
	n = proxy_write_v1(line, c, l);
	CHECK(n > 0 && n <= PROXY_V1_MAX);
	CHECK(strlen(line) == (size_t)n);
	CHECK(parse_copy((const uint8_t *)line, (size_t)n, 16384) == n);
	if (c->sa_family != AF_INET && c->sa_family != AF_INET6)
		CHECK(strcmp(line, "PROXY UNKNOWN\r\n") == 0);
#ifdef PROXY_V2_MAX
	fuzz_write_v2(data, size, c, l);
#endif
	free(line);
	free(ip);
	free(l);
	free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_write(data + 1, size - 1);
	else
		fuzz_parse(data + 1, size - 1);
	return 0;
}
