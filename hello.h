/* hello.h - the ClientHello as stud's own handshakes (resume.c, hs13.c)
 * read it: one handshake message alone in a connection's first record, its
 * fixed fields, and a walk over its extensions, each type at most once. */
#ifndef STUD_HELLO_H
#define STUD_HELLO_H

#include <stddef.h>

/* A ClientHello's parts (pointers into the bytes read). */
struct hello {
	const unsigned char	*msg;		/* the handshake message */
	size_t			 msglen;
	size_t			 reclen;	/* its record, header included */
	unsigned		 version;	/* legacy_version */
	const unsigned char	*random;	/* 32 bytes */
	const unsigned char	*sid;		/* legacy_session_id, 0..32 */
	size_t			 sidlen;
	const unsigned char	*suites;	/* an even number of bytes, >= 2 */
	size_t			 suiteslen;
	const unsigned char	*comp;		/* compression methods, >= 1 */
	size_t			 complen;
	const unsigned char	*exts;		/* the extensions block, to end */
	const unsigned char	*end;		/* (exts == end: none) */
};

#define HELLO_MORE	0	/* the record is not complete yet */
#define HELLO_OK	1
#define HELLO_NO	(-1)	/* not a ClientHello alone in one record */

/* Read the len bytes at buf, a connection's first bytes: a handshake
 * record (at most 2^14 bytes) holding exactly one ClientHello and followed
 * by nothing, with well-formed fixed fields. Returns HELLO_OK with *h
 * filled, HELLO_MORE while the record is incomplete, or HELLO_NO. */
int	hello_read(const unsigned char *buf, size_t len, struct hello *h);

/* Call each(arg, type, data, datalen) for every extension of h in order.
 * Returns 0, or -1 at once if the block is malformed, a type repeats, there
 * are more than 64, or each returns -1. */
int	hello_each_ext(const struct hello *h, int (*each)(void *arg,
	    unsigned type, const unsigned char *data, size_t datalen),
	    void *arg);

/* Big-endian 16-bit fields. */
static inline unsigned
hello_get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static inline unsigned char *
hello_put16(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
	return p + 2;
}

#endif /* STUD_HELLO_H */
