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

/* Whether the list of 16-bit values at p (len bytes) holds v. */
int	hello_list_has(const unsigned char *p, size_t len, unsigned v);

/* A vector of 16-bit values with a length of lenbytes (1 or 2) bytes
 * filling exactly len bytes at p: the values (*n bytes, at least one
 * value), or NULL. */
const unsigned char *hello_list16(const unsigned char *p, size_t len,
	    int lenbytes, size_t *n);

/* server_name's data (len bytes at p): one host_name of 1 to room - 1
 * bytes with no NUL, copied to name with its NUL. Returns 0, or -1. */
int	hello_server_name(const unsigned char *p, size_t len, char *name,
	    size_t room);

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

/* A handshake message header at p: type, then a 24-bit length. Returns
 * where the message's body starts. */
static inline unsigned char *
hello_put_head(unsigned char *p, unsigned type, size_t len)
{
	p[0] = (unsigned char)type;
	p[1] = (unsigned char)(len >> 16);
	return hello_put16(p + 2, len);
}

#endif /* STUD_HELLO_H */
