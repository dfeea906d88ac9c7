/* test_proxy.c - unit tests of proxy.c: PROXY v1/v2 headers accepted,
 * awaited or rejected, and the write-ip / v1 headers stud writes. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "proxy.h"
#include "unit.h"

static long
parse_str(const char *s)
{
	return proxy_parse((const unsigned char *)s, strlen(s), 16384);
}

static void
test_v1_valid(void)
{
	const char *ok4 = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n";
	const char *ok6 = "PROXY TCP6 2001:db8::1 ::1 65535 1\r\n";
	char buf[200];
	size_t i;

	CHECK(parse_str(ok4) == (long)strlen(ok4));
	CHECK(parse_str(ok6) == (long)strlen(ok6));
	CHECK(parse_str("PROXY UNKNOWN\r\n") == 15);
	CHECK(parse_str("PROXY UNKNOWN 1.2.3.4 x y z\r\n") == 29);
	/* every prefix of a valid line asks for more */
	for (i = 0; i < strlen(ok4); i++)
		CHECK(proxy_parse((const unsigned char *)ok4, i, 16384) == 0);
	/* bytes after the line are not part of it */
	snprintf(buf, sizeof(buf), "%s\x16\x03\x01", ok4);
	CHECK(parse_str(buf) == (long)strlen(ok4));
}

static void
test_v1_malformed(void)
{
	static const char *bad[] = {
		"GET / HTTP/1.0\r\n",
		"\x16\x03\x01\x02\x00",
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
		"PROXY TCP4 ::1 ::1 1 2\r\n",
		"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY \x01\r\n",
	};
	char longline[300];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long r = parse_str(bad[i]);

		CHECK(r == -1);
		if (r != -1)
			fprintf(stderr, "  accepted: %s\n", bad[i]);
	}
	/* overlong: no CRLF within 107 bytes */
	memset(longline, 'A', sizeof(longline));
	memcpy(longline, "PROXY TCP4 ", 11);
	CHECK(proxy_parse((unsigned char *)longline, 105, 16384) == 0);
	CHECK(proxy_parse((unsigned char *)longline, 106, 16384) == -1);
	CHECK(proxy_parse((unsigned char *)longline, 300, 16384) == -1);
	/* exactly 107 bytes with CRLF is the longest accepted, 108 is not */
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "PROXY UNKNOWN ", 14);
	memcpy(longline + 105, "\r\n", 2);
	CHECK(proxy_parse((unsigned char *)longline, 107, 16384) == 107);
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "PROXY UNKNOWN ", 14);
	memcpy(longline + 106, "\r\n", 2);
	CHECK(proxy_parse((unsigned char *)longline, 108, 16384) == -1);
	/* stray spaces */
	CHECK(parse_str("PROXY TCP4 192.0.2.7 198.51.100.9 40000 443 \r\n")
	    == -1);
	CHECK(parse_str("PROXY  UNKNOWN\r\n") == -1);
}

static void
test_v2(void)
{
	unsigned char h[64] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c,
		127, 0, 0, 1, 127, 0, 0, 2, 0x1f, 0x90, 0x01, 0xbb
	};
	size_t i;

	CHECK(proxy_parse(h, 28, 16384) == 28);
	CHECK(proxy_parse(h, 40, 16384) == 28);
	for (i = 0; i < 28; i++)
		CHECK(proxy_parse(h, i, 16384) == 0);
	CHECK(proxy_parse(h, 28, 20) == -1);	/* longer than allowed */
	h[12] = 0x31;				/* version 3 */
	CHECK(proxy_parse(h, 28, 16384) == -1);
	h[12] = 0x22;				/* command 2 */
	CHECK(proxy_parse(h, 28, 16384) == -1);
	h[12] = 0x21;
	h[13] = 0x99;				/* unknown family */
	CHECK(proxy_parse(h, 28, 16384) == -1);
	h[13] = 0x21;				/* TCP6 needs 36 bytes */
	CHECK(proxy_parse(h, 28, 16384) == -1);
	h[12] = 0x20;				/* LOCAL may carry anything */
	CHECK(proxy_parse(h, 28, 16384) == 28);
	h[6] = 0x0b;				/* broken signature */
	CHECK(proxy_parse(h, 28, 16384) == -1);
}

static void
test_write(void)
{
	struct sockaddr_in c4 = { 0 }, l4 = { 0 };
	struct sockaddr_in6 c6 = { 0 }, l6 = { 0 };
	unsigned char b[WRITE_IP_MAX];
	char line[PROXY_V1_MAX + 1];
	int n;

	c4.sin_family = l4.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &c4.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &l4.sin_addr);
	c4.sin_port = htons(40000);
	l4.sin_port = htons(8443);
	n = proxy_write_ip(b, (struct sockaddr *)&c4);
	CHECK(n == 5 && b[0] == WRITE_IP_INET &&
	    memcmp(b + 1, "\xc0\x00\x02\x07", 4) == 0);
	n = proxy_write_v1(line, (struct sockaddr *)&c4,
	    (struct sockaddr *)&l4);
	CHECK(n > 0 && strcmp(line,
	    "PROXY TCP4 192.0.2.7 127.0.0.1 40000 8443\r\n") == 0);
	CHECK(parse_str(line) == n);

	c6.sin6_family = l6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::5", &c6.sin6_addr);
	inet_pton(AF_INET6, "::1", &l6.sin6_addr);
	c6.sin6_port = htons(1);
	l6.sin6_port = htons(443);
	n = proxy_write_ip(b, (struct sockaddr *)&c6);
	CHECK(n == 17 && b[0] == WRITE_IP_INET6 && b[1] == 0x20 &&
	    b[2] == 0x01 && b[16] == 5);
	n = proxy_write_v1(line, (struct sockaddr *)&c6,
	    (struct sockaddr *)&l6);
	CHECK(strcmp(line, "PROXY TCP6 2001:db8::5 ::1 1 443\r\n") == 0);

	/* a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d */
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &c6.sin6_addr);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &l6.sin6_addr);
	n = proxy_write_ip(b, (struct sockaddr *)&c6);
	CHECK(n == 5 && b[0] == WRITE_IP_INET &&
	    memcmp(b + 1, "\x0a\x01\x02\x03", 4) == 0);
	proxy_write_v1(line, (struct sockaddr *)&c6, (struct sockaddr *)&l6);
	CHECK(strcmp(line, "PROXY TCP4 10.1.2.3 127.0.0.1 1 443\r\n") == 0);
}

/* A v2 header whose SSL sub-TLVs pass 512 bytes (long CN, version and
 * cipher strings) is written whole when the buffer holds it, refused (-1)
 * one byte short, and parses back to its own length. */
static void
test_write_v2_long_tlvs(void)
{
	struct sockaddr_in c4 = { 0 }, l4 = { 0 };
	struct proxy_tls t;
	static unsigned char b[4 * PROXY_V2_MAX], small[4 * PROXY_V2_MAX];
	char version[256], cn[256], cipher[256], alpn[201], host[201];
	size_t ssl_len;
	int n;

	c4.sin_family = l4.sin_family = AF_INET;
	memset(version, 'v', 255);
	memset(cn, 'c', 255);
	memset(cipher, 'x', 255);
	memset(alpn, 'a', 200);
	memset(host, 'h', 200);
	version[255] = cn[255] = cipher[255] = alpn[200] = host[200] = '\0';
	memset(&t, 0, sizeof(t));
	t.client = PP2_CLIENT_SSL;
	t.version = version;
	t.cn = cn;
	t.cipher = cipher;
	t.alpn = (const unsigned char *)alpn;
	t.alpn_len = 200;
	t.authority = host;
	n = proxy_write_v2(b, sizeof(b), (struct sockaddr *)&c4,
	    (struct sockaddr *)&l4, &t);
	/* 16 + 12 addresses + ALPN 203 + authority 203 + SSL 3 + 5 + 3 x 258 */
	CHECK(n == 16 + 12 + 203 + 203 + 3 + 5 + 3 * 258);
	ssl_len = (size_t)b[16 + 12 + 406 + 1] << 8 | b[16 + 12 + 406 + 2];
	CHECK(b[16 + 12 + 406] == PP2_TYPE_SSL && ssl_len == 5 + 3 * 258);
	CHECK(proxy_parse(b, (size_t)n, sizeof(b)) == n);
	CHECK(n > 0 && proxy_write_v2(small, (size_t)n, (struct sockaddr *)&c4,
	    (struct sockaddr *)&l4, &t) == n && memcmp(small, b, (size_t)n) == 0);
	CHECK(proxy_write_v2(small, (size_t)n - 1, (struct sockaddr *)&c4,
	    (struct sockaddr *)&l4, &t) == -1);
}

int
main(void)
{
	test_v1_valid();
	test_v1_malformed();
	test_v2();
	test_write();
	test_write_v2_long_tlvs();
	return unit_summary();
}
