/* test_ringbuffer.c - unit tests of ringbuffer.c: FIFO order, bounds, partial
 * reads, scattered reads and writes (iovecs), slot lending and return, and
 * randomized runs against a model. */
#include <sys/uio.h>

#include <stdlib.h>
#include <string.h>

#include "ringbuffer.h"
#include "unit.h"

static void
test_empty_and_full(void)
{
	struct ring_pool p;
	struct ring r;
	size_t len;
	char *w;
	int i;

	CHECK(ring_pool_init(&p, 64, 2, 4) == 0);
	ring_init(&r, 3);
	CHECK(ring_is_empty(&r));
	CHECK(ring_read_ptr(&r, &len) == NULL && len == 0);
	for (i = 0; i < 3; i++) {
		w = ring_write_ptr(&r, &p);
		CHECK(w != NULL);
		memset(w, 'a' + i, 10);
		ring_write_commit(&r, 10);
	}
	CHECK(ring_is_full(&r));
	CHECK(ring_write_ptr(&r, &p) == NULL);
	CHECK(ring_bytes(&r) == 30);
	CHECK(p.nused == 3);
	ring_release(&r, &p);
	CHECK(ring_is_empty(&r) && p.nused == 0);
	ring_pool_destroy(&p);
}

static void
test_order_and_partial(void)
{
	struct ring_pool p;
	struct ring r;
	size_t len;
	char *w, *rd;

	CHECK(ring_pool_init(&p, 16, 0, 8) == 0);
	ring_init(&r, 2);
	w = ring_write_ptr(&r, &p);
	memcpy(w, "hello", 5);
	ring_write_commit(&r, 5);
	w = ring_write_ptr(&r, &p);
	memcpy(w, "world!", 6);
	ring_write_commit(&r, 6);
	rd = ring_read_ptr(&r, &len);
	CHECK(len == 5 && memcmp(rd, "hello", 5) == 0);
	ring_read_consume(&r, &p, 2);
	rd = ring_read_ptr(&r, &len);
	CHECK(len == 3 && memcmp(rd, "llo", 3) == 0);
	CHECK(ring_bytes(&r) == 9);
	ring_read_consume(&r, &p, 3);
	CHECK(p.nused == 1);		/* the emptied slot went back */
	rd = ring_read_ptr(&r, &len);
	CHECK(len == 6 && memcmp(rd, "world!", 6) == 0);
	ring_read_consume(&r, &p, 6);
	CHECK(ring_is_empty(&r) && p.nused == 0);
	ring_pool_destroy(&p);
}

static void
test_cancel_and_pool_bound(void)
{
	struct ring_pool p;
	struct ring r[4];
	int i;

	CHECK(ring_pool_init(&p, 32, 1, 2) == 0);
	ring_init(&r[0], 1);
	CHECK(ring_write_ptr(&r[0], &p) != NULL);
	CHECK(p.nused == 1 && p.nfree == 0);
	CHECK(ring_write_ptr(&r[0], &p) == ring_write_ptr(&r[0], &p));
	CHECK(p.nused == 1);		/* a reserved slot is not taken twice */
	ring_write_cancel(&r[0], &p);
	CHECK(p.nused == 0 && p.nfree == 1 && ring_is_empty(&r[0]));
	for (i = 0; i < 4; i++) {
		ring_init(&r[i], 1);
		CHECK(ring_write_ptr(&r[i], &p) != NULL);
		ring_write_commit(&r[i], 1);
	}
	CHECK(p.nused == 4);
	for (i = 0; i < 4; i++)
		ring_release(&r[i], &p);
	CHECK(p.nused == 0 && p.nfree == 2);	/* at most max_free kept */
	ring_pool_destroy(&p);
	CHECK(p.nfree == 0);
}

/* Random writes and partial reads against a byte-stream model. */
static void
test_random_stream(void)
{
	enum { SLOT = 100, TOTAL = 2000000 };
	struct ring_pool p;
	struct ring r;
	unsigned char *w, *rd;
	size_t len, n, wrote = 0, got = 0, bad = 0;
	unsigned seed = 12345;

	CHECK(ring_pool_init(&p, SLOT, 4, 4) == 0);
	ring_init(&r, 5);
	while (wrote < TOTAL || got < wrote) {
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) % 2 && wrote < TOTAL &&
		    (w = (unsigned char *)ring_write_ptr(&r, &p)) != NULL) {
			n = 1 + (seed >> 8) % SLOT;
			for (len = 0; len < n; len++)
				w[len] = (unsigned char)(wrote + len);
			ring_write_commit(&r, n);
			wrote += n;
			continue;
		}
		if ((rd = (unsigned char *)ring_read_ptr(&r, &len)) == NULL)
			continue;
		n = 1 + (seed >> 4) % len;
		for (len = 0; len < n; len++)
			bad += rd[len] != (unsigned char)(got + len);
		ring_read_consume(&r, &p, n);
		got += n;
		if (ring_bytes(&r) != wrote - got)
			bad++;
	}
	CHECK(bad == 0);
	CHECK(got == wrote);
	CHECK(ring_is_empty(&r) && p.nused == 0);
	ring_pool_destroy(&p);
}

/* Scattered I/O: reserve several slots, fill some, read them back as one
 * iovec list, consume across slot boundaries. */
/* What a reader does after a scattered read of n bytes: append the slots
 * it filled, in order, and give back the rest (as worker.c does). */
static void
commit_read(struct ring *r, struct ring_pool *p, size_t n)
{
	for (; n > 0 && r->reserved > 0; n -= n < p->slot_size ? n : p->slot_size)
		ring_write_commit(r, n < p->slot_size ? n : p->slot_size);
	ring_write_cancel(r, p);
}

static void
test_iov(void)
{
	struct ring_pool p;
	struct ring r;
	struct iovec iov[8];
	size_t n, len;
	char *rd;

	CHECK(ring_pool_init(&p, 8, 0, 8) == 0);
	ring_init(&r, 4);
	n = ring_write_iov(&r, &p, iov, 8);
	CHECK(n == 4 && p.nused == 4);			/* capped by nslots */
	CHECK(iov[0].iov_len == 8 && iov[3].iov_len == 8);
	memcpy(iov[0].iov_base, "abcdefgh", 8);
	memcpy(iov[1].iov_base, "ijk", 3);
	commit_read(&r, &p, 11);		/* 8 + 3: two slots */
	CHECK(p.nused == 2 && ring_bytes(&r) == 11);
	CHECK(!ring_is_full(&r));
	n = ring_write_iov(&r, &p, iov, 1);		/* max respected */
	CHECK(n == 1 && p.nused == 3);
	memcpy(iov[0].iov_base, "lm", 2);
	commit_read(&r, &p, 2);
	n = ring_read_iov(&r, iov, 8);
	CHECK(n == 3 && iov[0].iov_len == 8 && iov[1].iov_len == 3 &&
	    iov[2].iov_len == 2);
	ring_read_consume(&r, &p, 10);			/* ends inside slot 2 */
	CHECK(p.nused == 2 && ring_bytes(&r) == 3);
	n = ring_read_iov(&r, iov, 8);
	CHECK(n == 2 && iov[0].iov_len == 1 &&
	    memcmp(iov[0].iov_base, "k", 1) == 0 &&
	    memcmp(iov[1].iov_base, "lm", 2) == 0);
	CHECK(ring_read_iov(&r, iov, 1) == 1);		/* max respected */
	rd = ring_read_ptr(&r, &len);
	CHECK(len == 1 && *rd == 'k');
	n = ring_write_iov(&r, &p, iov, 8);		/* two slots free */
	CHECK(n == 2 && p.nused == 4);
	commit_read(&r, &p, 0);		/* nothing read */
	CHECK(p.nused == 2 && ring_bytes(&r) == 3);
	n = ring_write_iov(&r, &p, iov, 8);
	ring_write_cancel(&r, &p);
	CHECK(n == 2 && p.nused == 2);
	ring_read_consume(&r, &p, 3);
	CHECK(ring_is_empty(&r) && p.nused == 0);
	n = ring_write_iov(&r, &p, iov, 8);		/* release drops reserved */
	ring_release(&r, &p);
	CHECK(n == 4 && p.nused == 0);
	ring_pool_destroy(&p);
}

/* Random scattered writes and reads, mixed with single-slot ones, against
 * a byte-stream model. */
static void
test_random_iov_stream(void)
{
	enum { SLOT = 64, TOTAL = 2000000 };
	struct ring_pool p;
	struct ring r;
	struct iovec iov[RING_MAX_SLOTS];
	unsigned char *w, *rd;
	size_t len, n, k, i, j, wrote = 0, got = 0, bad = 0;
	unsigned seed = 777;

	CHECK(ring_pool_init(&p, SLOT, 2, 3) == 0);
	ring_init(&r, 6);
	while (wrote < TOTAL || got < wrote) {
		seed = seed * 1103515245u + 12345u;
		switch (wrote < TOTAL ? (seed >> 16) % 4 : 3) {
		case 0:		/* scattered write of n bytes */
			k = ring_write_iov(&r, &p, iov, 1 + (seed >> 4) % 8);
			n = k == 0 ? 0 : (seed >> 8) % (k * SLOT + 1);
			for (i = 0, j = 0; i < n; i++, j++) {
				if (j == SLOT)
					j = 0;
				((unsigned char *)iov[i / SLOT].iov_base)[j] =
				    (unsigned char)(wrote + i);
			}
			commit_read(&r, &p, n);
			wrote += n;
			break;
		case 1:		/* single-slot write */
			if ((w = (unsigned char *)ring_write_ptr(&r, &p)) ==
			    NULL)
				break;
			n = 1 + (seed >> 8) % SLOT;
			for (i = 0; i < n; i++)
				w[i] = (unsigned char)(wrote + i);
			ring_write_commit(&r, n);
			wrote += n;
			break;
		case 2:		/* single-slot partial read */
			if ((rd = (unsigned char *)ring_read_ptr(&r, &len)) ==
			    NULL)
				break;
			n = 1 + (seed >> 4) % len;
			for (i = 0; i < n; i++)
				bad += rd[i] != (unsigned char)(got + i);
			ring_read_consume(&r, &p, n);
			got += n;
			break;
		default:	/* scattered read of part of what is there */
			k = ring_read_iov(&r, iov, 1 + (seed >> 4) % 8);
			for (i = 0, len = 0; i < k; i++)
				len += iov[i].iov_len;
			n = len == 0 ? 0 : 1 + (seed >> 8) % len;
			for (i = 0, j = 0, k = 0; i < n; i++, j++) {
				if (j == iov[k].iov_len) {
					j = 0;
					k++;
				}
				bad += ((unsigned char *)iov[k].iov_base)[j] !=
				    (unsigned char)(got + i);
			}
			ring_read_consume(&r, &p, n);
			got += n;
			break;
		}
		if (ring_bytes(&r) != wrote - got || p.nused != r.count)
			bad++;
	}
	CHECK(bad == 0);
	CHECK(got == wrote);
	CHECK(ring_is_empty(&r) && p.nused == 0);
	ring_pool_destroy(&p);
}

int
main(void)
{
	test_empty_and_full();
	test_order_and_partial();
	test_cancel_and_pool_bound();
	test_random_stream();
	test_iov();
	test_random_iov_stream();
	return unit_summary();
}
