/* test_ringbuffer.c - unit tests of ringbuffer.c: FIFO order, bounds, partial
 * reads, slot lending and return, and a randomized run against a model. */
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

int
main(void)
{
	test_empty_and_full();
	test_order_and_partial();
	test_cancel_and_pool_bound();
	test_random_stream();
	return unit_summary();
}
