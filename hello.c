/* hello.c - the ClientHello reader shared by stud's own handshakes: the
 * record and message framing, the fixed fields, the extensions walk. */
#include <string.h>

#include "hello.h"

#define REC_HANDSHAKE		22
#define HS_CLIENT_HELLO		1
#define PLAIN_MAX		16384
#define EXTS_MAX		64	/* more extensions: refused */

int
hello_read(const unsigned char *buf, size_t len, struct hello *h)
{
	const unsigned char *p, *end;
	size_t rl, n;

	memset(h, 0, sizeof(*h));
	if (len >= 1 && buf[0] != REC_HANDSHAKE)
		return HELLO_NO;
	if (len < 5)
		return HELLO_MORE;
	rl = hello_get16(buf + 3);
	if (buf[1] != 3 || rl < 4 || rl > PLAIN_MAX)
		return HELLO_NO;
	if (len < 5 + rl)
		return HELLO_MORE;
	p = buf + 5;
	end = p + rl;
	/* one ClientHello, alone in its record and in the bytes read */
	if (len != 5 + rl || p[0] != HS_CLIENT_HELLO ||
	    ((size_t)p[1] << 16 | (size_t)hello_get16(p + 2)) != rl - 4)
		return HELLO_NO;
	h->msg = p;
	h->msglen = rl;
	h->reclen = 5 + rl;
	p += 4;
	if (end - p < 2 + 32 + 1)
		return HELLO_NO;
	h->version = hello_get16(p);
	h->random = p + 2;
	p += 34;
	n = *p++;
	if (n > 32 || (size_t)(end - p) < n + 2)
		return HELLO_NO;
	h->sid = p;
	h->sidlen = n;
	p += n;
	n = hello_get16(p);
	p += 2;
	if (n < 2 || n % 2 != 0 || (size_t)(end - p) < n + 1)
		return HELLO_NO;
	h->suites = p;
	h->suiteslen = n;
	p += n;
	n = *p++;
	if (n == 0 || (size_t)(end - p) < n)
		return HELLO_NO;
	h->comp = p;
	h->complen = n;
	h->exts = p + n;
	h->end = end;
	return HELLO_OK;
}

int
hello_each_ext(const struct hello *h, int (*each)(void *arg, unsigned type,
    const unsigned char *data, size_t datalen), void *arg)
{
	const unsigned char *p = h->exts, *end = h->end;
	unsigned seen[EXTS_MAX], type;
	size_t n = 0, i, len;

	if (p == end)
		return 0;
	if (end - p < 2 || hello_get16(p) != (size_t)(end - p) - 2)
		return -1;
	for (p += 2; p < end; p += len) {
		if (end - p < 4 || n == EXTS_MAX)
			return -1;
		type = hello_get16(p);
		len = hello_get16(p + 2);
		p += 4;
		if (len > (size_t)(end - p))
			return -1;
		for (i = 0; i < n; i++)
			if (seen[i] == type)
				return -1;
		seen[n++] = type;
		if (each(arg, type, p, len) == -1)
			return -1;
	}
	return 0;
}

int
hello_list_has(const unsigned char *p, size_t len, unsigned v)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		if (hello_get16(p + i) == v)
			return 1;
	return 0;
}

const unsigned char *
hello_list16(const unsigned char *p, size_t len, int lenbytes, size_t *n)
{
	size_t l;

	if (len < (size_t)lenbytes)
		return NULL;
	l = lenbytes == 1 ? p[0] : hello_get16(p);
	if (l != len - (size_t)lenbytes || l < 2 || l % 2 != 0)
		return NULL;
	*n = l;
	return p + lenbytes;
}

int
hello_server_name(const unsigned char *p, size_t len, char *name,
    size_t room)
{
	size_t n;

	if (len < 5 || hello_get16(p) != len - 2 || p[2] != 0)
		return -1;
	n = hello_get16(p + 3);
	if (n == 0 || n != len - 5 || n >= room || memchr(p + 5, 0, n) != NULL)
		return -1;
	memcpy(name, p + 5, n);
	name[n] = '\0';
	return 0;
}
