/* sockbio.c - the BIO between OpenSSL and a client's TCP socket: a short
 * read marks the socket drained until it is readable again (no EAGAIN
 * round trip), and writes flagged "more" go out with MSG_MORE. */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sockbio.h"

static BIO_METHOD	*method;

static int
sockbio_write(BIO *b, const char *buf, int len)
{
	struct sockbio *s = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = send(s->fd, buf, (size_t)len, MSG_NOSIGNAL |
	    (s->more ? MSG_MORE : 0));
	if (n >= 0) {
		s->corked = s->more;
		return (int)n;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		BIO_set_retry_write(b);
	return -1;
}

static void
replay_free(struct sockbio *s)
{
	free(s->pre);
	s->pre = NULL;
	s->pre_len = s->pre_off = 0;
}

static int
replay_read(struct sockbio *s, char *buf, int len)
{
	size_t n = s->pre_len - s->pre_off;

	if (len <= 0)
		return 0;
	if (n > (size_t)len)
		n = (size_t)len;
	memcpy(buf, s->pre + s->pre_off, n);
	if ((s->pre_off += n) == s->pre_len)
		replay_free(s);
	return (int)n;
}

static int
sockbio_read(BIO *b, char *buf, int len)
{
	struct sockbio *s = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (s->pre != NULL)
		return replay_read(s, buf, len);
	if (s->drained) {
		BIO_set_retry_read(b);
		return -1;
	}
	n = recv(s->fd, buf, (size_t)len, 0);
	if (n > 0) {
		/* a stream socket returns less only when it has no more */
		s->drained = n < len;
		return (int)n;
	}
	if (n == 0)
		s->eof = 1;
	else if (errno == EAGAIN || errno == EWOULDBLOCK) {
		s->drained = 1;
		BIO_set_retry_read(b);
	} else if (errno == EINTR)
		BIO_set_retry_read(b);
	return (int)n;
}

static long
sockbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	const struct sockbio *s = BIO_get_data(b);

	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:	/* an EOF OpenSSL may take as close_notify */
		return s != NULL && s->eof;
	default:
		return 0;
	}
}

static int
sockbio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static int
sockbio_destroy(BIO *b)
{
	struct sockbio *s = BIO_get_data(b);

	if (s != NULL)
		replay_free(s);
	return 1;
}

BIO *
sockbio_new(struct sockbio *s, int fd)
{
	BIO *b;

	if (method == NULL) {
		method = BIO_meth_new(BIO_get_new_index() |
		    BIO_TYPE_SOURCE_SINK, "stud socket");
		if (method == NULL ||
		    BIO_meth_set_write(method, sockbio_write) != 1 ||
		    BIO_meth_set_read(method, sockbio_read) != 1 ||
		    BIO_meth_set_ctrl(method, sockbio_ctrl) != 1 ||
		    BIO_meth_set_create(method, sockbio_create) != 1 ||
		    BIO_meth_set_destroy(method, sockbio_destroy) != 1) {
			BIO_meth_free(method);
			method = NULL;
			return NULL;
		}
	}
	s->fd = fd;
	s->pre = NULL;
	s->pre_len = s->pre_off = 0;
	s->more = s->corked = s->drained = s->eof = 0;
	if ((b = BIO_new(method)) != NULL)
		BIO_set_data(b, s);
	return b;
}

void
sockbio_push(struct sockbio *s)
{
	int one = 1;

	if (!s->corked)
		return;
	/* setting TCP_NODELAY (already on) pushes the pending frames */
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->corked = 0;
}

int
sockbio_replay(struct sockbio *s, const unsigned char *buf, size_t len)
{
	if (len == 0)
		return 0;
	if ((s->pre = malloc(len)) == NULL)
		return -1;
	memcpy(s->pre, buf, len);
	s->pre_len = len;
	s->pre_off = 0;
	return 0;
}
