/* hello_edit.h - for the unit tests of stud's own handshakes: a
 * ClientHello record taken apart into its fixed part, compression methods
 * and extensions, edited, and put back together. */
#ifndef STUD_HELLO_EDIT_H
#define STUD_HELLO_EDIT_H

#include <stddef.h>
#include <string.h>

#include "hello.h"

struct ext {
	unsigned	type;
	size_t		len;
	unsigned char	data[1024];
};

struct parts {
	unsigned char	recver[2];	/* the record's version */
	unsigned char	head[512];	/* legacy_version to the suites */
	size_t		headlen;
	unsigned char	comp[8];	/* compression methods */
	size_t		complen;
	struct ext	ext[80];
	size_t		next;
};

/* Take the hello record b (n bytes) apart. Returns 0 or -1. */
static inline int
hello_split(const unsigned char *b, size_t n, struct parts *q)
{
	size_t off, len;

	memset(q, 0, sizeof(*q));
	if (n < 9 + 35 || b[0] != 22 || b[5] != 1)
		return -1;
	memcpy(q->recver, b + 1, 2);
	off = 9 + 35 + b[9 + 34];
	if (off + 2 > n)
		return -1;
	off += 2 + hello_get16(b + off);
	if (off + 1 > n || off - 9 > sizeof(q->head))
		return -1;
	q->headlen = off - 9;
	memcpy(q->head, b + 9, q->headlen);
	q->complen = b[off++];
	if (q->complen > sizeof(q->comp) || off + q->complen + 2 > n)
		return -1;
	memcpy(q->comp, b + off, q->complen);
	off += q->complen;
	if (hello_get16(b + off) != n - off - 2)
		return -1;
	for (off += 2; off + 4 <= n; off += 4 + len) {
		len = hello_get16(b + off + 2);
		if (q->next == 80 || len > sizeof(q->ext[0].data) ||
		    off + 4 + len > n)
			return -1;
		q->ext[q->next].type = hello_get16(b + off);
		q->ext[q->next].len = len;
		memcpy(q->ext[q->next++].data, b + off + 4, len);
	}
	return off == n ? 0 : -1;
}

/* Put q back together as a record at b. Returns its length. */
static inline size_t
hello_join(const struct parts *q, unsigned char *b)
{
	size_t n = 9, i, elen = 0;

	memcpy(b + n, q->head, q->headlen);
	n += q->headlen;
	b[n++] = (unsigned char)q->complen;
	memcpy(b + n, q->comp, q->complen);
	n += q->complen;
	for (i = 0; i < q->next; i++)
		elen += 4 + q->ext[i].len;
	hello_put16(b + n, elen);
	n += 2;
	for (i = 0; i < q->next; i++) {
		hello_put16(b + n, q->ext[i].type);
		hello_put16(b + n + 2, q->ext[i].len);
		memcpy(b + n + 4, q->ext[i].data, q->ext[i].len);
		n += 4 + q->ext[i].len;
	}
	b[0] = 22;
	memcpy(b + 1, q->recver, 2);
	hello_put16(b + 3, n - 5);
	b[5] = 1;
	b[6] = (unsigned char)((n - 9) >> 16);
	hello_put16(b + 7, n - 9);
	return n;
}

static inline int
ext_find(const struct parts *q, unsigned type)
{
	size_t i;

	for (i = 0; i < q->next; i++)
		if (q->ext[i].type == type)
			return (int)i;
	return -1;
}

/* Add an extension at the end. */
static inline void
ext_add(struct parts *q, unsigned type, const void *data, size_t len)
{
	struct ext *e = &q->ext[q->next++];

	e->type = type;
	e->len = len;
	memcpy(e->data, data, len);
}

static inline void
ext_del(struct parts *q, int i)
{
	if (i < 0)
		return;
	memmove(&q->ext[i], &q->ext[i + 1], (q->next - (size_t)i - 1) *
	    sizeof(q->ext[0]));
	q->next--;
}

/* Set extension type's body (added if missing). */
static inline void
ext_set(struct parts *q, unsigned type, const void *data, size_t len)
{
	int i = ext_find(q, type);

	if (i < 0) {
		ext_add(q, type, data, len);
		return;
	}
	q->ext[i].len = len;
	memcpy(q->ext[i].data, data, len);
}

#define EXT_SET(q, type, lit)	ext_set(q, type, lit, sizeof(lit) - 1)

#endif /* STUD_HELLO_EDIT_H */
