/*
 * The tiny line protocol spoken between the load generator (loadgen.c), the
 * backend (backend.c) and the floor server (floor.c). Every request is one
 * line; the reply depends on its first letter:
 *
 *   "S\n"       a small reply: REPLY_LEN bytes, the last one (only) '\n'
 *   "D <n>\n"   download: exactly <n> bytes of filler ('.'), no newline
 *   "U <n>\n"   upload: <n> bytes follow; once all are in, the reply "OK\n"
 *
 * A connection may carry any number of requests one after the other; the
 * server never closes first. This keeps every terminator doing the same
 * work: it only relays bytes.
 */
#ifndef BENCH_PROTO_H
#define BENCH_PROTO_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define REPLY_LEN	128
#define REQ_MAX		64
#define FILLER_LEN	(64 * 1024)

static inline void
proto_fill_reply(char *buf)
{
	memset(buf, 'x', REPLY_LEN);
	memcpy(buf, "OK ", 3);
	buf[REPLY_LEN - 1] = '\n';
}

/* Parse a request line (without its '\n'); returns its kind or 0. */
static inline int
proto_parse(const char *line, uint64_t *n)
{
	char *end;

	*n = 0;
	switch (line[0]) {
	case 'S':
		return 'S';
	case 'D':
	case 'U':
		if (line[1] != ' ')
			return 0;
		*n = strtoull(line + 2, &end, 10);
		return *end == '\0' ? line[0] : 0;
	default:
		return 0;
	}
}

/* Where a server connection (backend.c, floor.c) is; ST_HS, the TLS
 * handshake, is the floor's only. */
enum { ST_HS, ST_REQ, ST_REPLY, ST_DOWNLOAD, ST_SINK, ST_OK };

/* A server connection's side of the protocol: the request line being read,
 * then what it asks for. */
struct proto_in {
	int	 state;
	size_t	 reqlen;
	size_t	 off;		/* bytes of the current reply written */
	uint64_t left;		/* download: to send; upload: to sink */
	char	 req[REQ_MAX];
};

/* Start serving a complete request line; returns -1 on a bad request. */
static inline int
proto_dispatch(struct proto_in *in)
{
	uint64_t n;
	int kind;

	in->req[in->reqlen] = '\0';
	kind = proto_parse(in->req, &n);
	in->reqlen = 0;
	in->off = 0;
	in->left = n;
	switch (kind) {
	case 'S':
		in->state = ST_REPLY;
		return 0;
	case 'D':
		in->state = ST_DOWNLOAD;
		return 0;
	case 'U':
		in->state = n ? ST_SINK : ST_OK;
		return 0;
	default:
		return -1;
	}
}

/* Feed received bytes; returns -1 if the connection must close. */
static inline int
proto_feed(struct proto_in *in, const char *p, size_t n)
{
	while (n > 0) {
		if (in->state == ST_SINK) {
			size_t k = n < in->left ? n : (size_t)in->left;

			in->left -= k;
			p += k;
			n -= k;
			if (in->left == 0) {
				in->state = ST_OK;
				in->off = 0;
			}
			continue;
		}
		if (in->state != ST_REQ)
			return -1;	/* no pipelining in this protocol */
		if (*p == '\n') {
			if (proto_dispatch(in) == -1)
				return -1;
		} else if (in->reqlen + 1 >= sizeof(in->req))
			return -1;
		else
			in->req[in->reqlen++] = *p;
		p++;
		n--;
	}
	return 0;
}

static inline void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static inline double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
