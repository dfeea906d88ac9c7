/* sockbio.h - the OpenSSL BIO over a client's TCP socket: skips reads that
 * would block, and lets the caller batch records into fewer packets. */
#ifndef STUD_SOCKBIO_H
#define STUD_SOCKBIO_H

#include <openssl/bio.h>

/* One client socket's I/O state, owned by the connection; the BIO points
 * at it and never outlives it. */
struct sockbio {
	int		fd;
	unsigned char	*pre;		/* bytes read before OpenSSL came in, */
	size_t		pre_len;	/* handed to it before the socket's */
	size_t		pre_off;
	unsigned	more:1;		/* caller: another write follows at once */
	unsigned	corked:1;	/* bytes sent with MSG_MORE, not pushed */
	unsigned	drained:1;	/* the last read found the socket empty */
	unsigned	eof:1;		/* the peer closed its side */
};

/* Set up s for fd and make a BIO reading and writing through it. Returns
 * NULL if memory ran out. */
BIO	*sockbio_new(struct sockbio *s, int fd);

/* Have the BIO return a copy of the len bytes at buf first (bytes stud
 * read before handing the connection to OpenSSL). Returns 0, or -1 if
 * memory ran out. The copy goes once read, or with the BIO. */
int	sockbio_replay(struct sockbio *s, const unsigned char *buf, size_t len);

/* The socket became readable: let the next read try the socket again. */
static inline void
sockbio_readable(struct sockbio *s)
{
	s->drained = 0;
}

/* Send what MSG_MORE writes left queued in the kernel, if any. Call before
 * waiting for events, unless the socket is about to be closed (its FIN
 * then goes out in the same packet as those bytes). */
void	sockbio_push(struct sockbio *s);

#endif /* STUD_SOCKBIO_H */
