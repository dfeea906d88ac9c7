/* fuzz_ringbuffer.c - libFuzzer harness for ringbuffer.c.
 *
 * NRINGS rings share one pool. Bytes 0-2 choose the pool's slot size,
 * preallocated and kept-free slot counts; bytes 3..3+NRINGS-1 each ring's
 * capacity (0 and > RING_MAX_SLOTS included, to check the clamping). Then
 * each op byte is (op & 15, ring = (op >> 4) % NRINGS), with argument
 * bytes where needed:
 *   0 ring_write_ptr (reserve), 1 write n bytes into the reserved slot and
 *   commit, 2 cancel, 3 read everything readable from the head slot and
 *   compare, 4 consume n bytes of the head slot, 5 release, 6 reserve +
 *   write + commit in one go, 7 consume the whole head slot, 8 scattered
 *   write (ring_write_iov of up to a slots, n bytes committed), 9
 *   ring_read_iov of up to a slots, compared, 10 consume n bytes across
 *   slots; 11-15 do nothing.
 * A model keeps, per ring, the queue of written chunks (a byte stream cut in
 * slots) and the reserved flag; every call's result, ring_bytes(),
 * ring_is_empty/full() and the pool's counters are checked against it. Slots
 * are malloc'd by the pool at slot_size bytes: ASan sees overflows. */
#include <sys/uio.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringbuffer.h"
#include "fuzz.h"

#define NRINGS	3
#define MAXSLOT	64

struct model {
	unsigned	 cap;			/* clamped capacity */
	unsigned	 count;			/* committed chunks */
	size_t		 len[RING_MAX_SLOTS];	/* chunk lengths, head first */
	unsigned char	 bytes[RING_MAX_SLOTS][MAXSLOT];
	size_t		 off;			/* read from the head chunk */
	int		 reserved;
	char		*res_ptr;		/* the reserved slot */
	unsigned	 fill;			/* pattern counter */
};

static void
model_pop(struct model *m)
{
	memmove(m->len, m->len + 1, (m->count - 1) * sizeof(m->len[0]));
	memmove(m->bytes, m->bytes + 1, (m->count - 1) * sizeof(m->bytes[0]));
	m->count--;
	m->off = 0;
}

static size_t
model_bytes(const struct model *m)
{
	size_t n = 0;
	unsigned i;

	for (i = 0; i < m->count; i++)
		n += m->len[i];
	return n - m->off;
}

static void
check_all(struct ring *r, struct model *m, struct ring_pool *p)
{
	size_t used = 0;
	int i;

	for (i = 0; i < NRINGS; i++) {
		CHECK(ring_bytes(&r[i]) == model_bytes(&m[i]));
		CHECK(ring_is_empty(&r[i]) == (m[i].count == 0));
		CHECK(ring_is_full(&r[i]) == (m[i].count >= m[i].cap));
		used += m[i].count + (unsigned)m[i].reserved;
	}
	CHECK(p->nused == used);
	CHECK(p->nfree <= p->max_free);
}

static char *
reserve(struct ring *r, struct model *m, struct ring_pool *p)
{
	char *s = ring_write_ptr(r, p);

	if (m->count >= m->cap) {
		CHECK(s == NULL);
		CHECK(!m->reserved);
		return NULL;
	}
	CHECK(s != NULL);
	if (m->reserved)
		CHECK(s == m->res_ptr);
	m->reserved = 1;
	m->res_ptr = s;
	return s;
}

static void
commit(struct ring *r, struct model *m, size_t slot_size, uint8_t arg)
{
	size_t n = 1 + arg % slot_size, i;

	if (!m->reserved)
		return;		/* precondition of ring_write_commit() */
	for (i = 0; i < n; i++)
		m->res_ptr[i] = (char)(m->fill++ * 7 + 1);
	memcpy(m->bytes[m->count], m->res_ptr, n);
	m->len[m->count++] = n;
	m->reserved = 0;
	ring_write_commit(r, n);
}

static void
consume(struct ring *r, struct model *m, struct ring_pool *p, uint8_t arg,
    int whole)
{
	size_t len, n;
	char *s = ring_read_ptr(r, &len);

	if (m->count == 0) {
		CHECK(s == NULL && len == 0);
		return;
	}
	CHECK(s != NULL && len == m->len[0] - m->off);
	CHECK(memcmp(s, m->bytes[0] + m->off, len) == 0);
	n = whole ? len : 1 + arg % len;
	ring_read_consume(r, p, n);
	m->off += n;
	if (m->off == m->len[0])
		model_pop(m);
}

/* Scattered write: reserve up to 1 + a % 8 slots, fill n bytes of them
 * (n from b), commit. */
static void
write_iov(struct ring *r, struct model *m, struct ring_pool *p,
    size_t slot_size, uint8_t a, uint8_t b)
{
	struct iovec iov[8];
	size_t want = 1 + a % 8, room = m->cap - m->count, n, i, k;

	k = ring_write_iov(r, p, iov, want);
	/* a slot already reserved counts, and comes first */
	CHECK(k == (want < room ? want : room));
	if (k == 0)
		return;
	if (m->reserved)
		CHECK(iov[0].iov_base == m->res_ptr);
	for (i = 0; i < k; i++)
		CHECK(iov[i].iov_len == slot_size);
	n = b % (k * slot_size + 1);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)(m->fill++ * 7 + 1);

		((unsigned char *)iov[i / slot_size].iov_base)[i % slot_size] =
		    c;
		m->bytes[m->count + i / slot_size][i % slot_size] = c;
	}
	for (i = 0; i < n; i += slot_size)
		m->len[m->count++] = n - i < slot_size ? n - i : slot_size;
	m->reserved = 0;
	/* the slots filled, in order, as worker.c appends them; the rest back */
	for (i = 0; i < n; i += slot_size)
		ring_write_commit(r, n - i < slot_size ? n - i : slot_size);
	ring_write_cancel(r, p);
}

/* Scattered read of up to 1 + a % 8 slots, compared with the model. */
static void
read_iov(struct ring *r, struct model *m, uint8_t a)
{
	struct iovec iov[8];
	size_t k = ring_read_iov(r, iov, 1 + a % 8), i;

	CHECK(k == (m->count < 1u + a % 8 ? m->count : 1u + a % 8));
	for (i = 0; i < k; i++) {
		size_t off = i == 0 ? m->off : 0;

		CHECK(iov[i].iov_len == m->len[i] - off);
		CHECK(memcmp(iov[i].iov_base, m->bytes[i] + off,
		    iov[i].iov_len) == 0);
	}
}

/* Consume n bytes (a % (bytes + 1)) across slot boundaries. */
static void
consume_many(struct ring *r, struct model *m, struct ring_pool *p,
    uint8_t a)
{
	size_t n = a % (model_bytes(m) + 1), left;

	ring_read_consume(r, p, n);
	while (n > 0) {
		left = m->len[0] - m->off;
		if (n < left) {
			m->off += n;
			break;
		}
		n -= left;
		model_pop(m);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ring_pool pool;
	struct ring ring[NRINGS];
	struct model *m;
	size_t slot_size, pos, len;
	int i;

	if (size < 3 + NRINGS)
		return 0;
	slot_size = 1 + data[0] % MAXSLOT;	/* the pool rounds up to a pointer */
	CHECK(ring_pool_init(&pool, slot_size, data[1] % 8, data[2] % 8) == 0);
	slot_size = pool.slot_size;
	CHECK(slot_size <= MAXSLOT);
	m = calloc(NRINGS, sizeof(*m));
	CHECK(m != NULL);
	for (i = 0; i < NRINGS; i++) {
		unsigned want = data[3 + i] % (RING_MAX_SLOTS + 3);

		ring_init(&ring[i], want);
		m[i].cap = want < 1 ? 1 : want > RING_MAX_SLOTS ?
		    RING_MAX_SLOTS : want;
		CHECK(ring[i].nslots == m[i].cap);
	}
	check_all(ring, m, &pool);
	for (pos = 3 + NRINGS; pos < size; pos++) {
		uint8_t op = data[pos], arg = pos + 1 < size ? data[pos + 1] : 0;
		uint8_t arg2 = pos + 2 < size ? data[pos + 2] : 0;
		struct ring *r = &ring[(op >> 4) % NRINGS];
		struct model *mm = &m[(op >> 4) % NRINGS];

		switch (op & 15) {
		case 0:
			reserve(r, mm, &pool);
			break;
		case 1:
			commit(r, mm, slot_size, arg);
			pos++;
			break;
		case 2:
			ring_write_cancel(r, &pool);
			mm->reserved = 0;
			break;
		case 3: {
			char *s = ring_read_ptr(r, &len);

			if (mm->count == 0)
				CHECK(s == NULL && len == 0);
			else
				CHECK(len == mm->len[0] - mm->off &&
				    memcmp(s, mm->bytes[0] + mm->off, len) == 0);
			break;
		}
		case 4:
			consume(r, mm, &pool, arg, 0);
			pos++;
			break;
		case 5:
			ring_release(r, &pool);
			mm->count = 0;
			mm->off = 0;
			mm->reserved = 0;
			break;
		case 6:
			if (reserve(r, mm, &pool) != NULL)
				commit(r, mm, slot_size, arg);
			pos++;
			break;
		case 7:
			consume(r, mm, &pool, 0, 1);
			break;
		case 8:
			write_iov(r, mm, &pool, slot_size, arg, arg2);
			pos += 2;
			break;
		case 9:
			read_iov(r, mm, arg);
			pos++;
			break;
		case 10:
			consume_many(r, mm, &pool, arg);
			pos++;
			break;
		default:
			break;
		}
		check_all(ring, m, &pool);
	}
	/* drain one ring by reading, release the others */
	while (m[0].count > 0)
		consume(&ring[0], &m[0], &pool, 0, 1);
	for (i = 0; i < NRINGS; i++) {
		ring_release(&ring[i], &pool);
		m[i].count = 0;
		m[i].off = 0;
		m[i].reserved = 0;
	}
	check_all(ring, m, &pool);
	CHECK(pool.nused == 0);
	ring_pool_destroy(&pool);
	CHECK(pool.nfree == 0 && pool.free_list == NULL);
	free(m);
	return 0;
}
