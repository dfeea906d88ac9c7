/* ringbuffer.c - per-connection FIFOs of fixed-size slots and the per-worker
 * pool that lends them slots only while data is in flight. */
#include <sys/uio.h>

#include <stdlib.h>

#include "ringbuffer.h"

static inline void *
pool_get(struct ring_pool *p)
{
	void *s = p->free_list;

	if (s != NULL) {
		p->free_list = *(void **)s;
		p->nfree--;
	} else if ((s = malloc(p->slot_size)) == NULL)
		return NULL;
	p->nused++;
	return s;
}

static inline void
pool_put(struct ring_pool *p, void *s)
{
	p->nused--;
	if (p->nfree >= p->max_free) {
		free(s);
		return;
	}
	*(void **)s = p->free_list;
	p->free_list = s;
	p->nfree++;
}

void *
ring_pool_get(struct ring_pool *p)
{
	return pool_get(p);
}

void
ring_pool_put(struct ring_pool *p, void *slot)
{
	pool_put(p, slot);
}

int
ring_pool_init(struct ring_pool *p, size_t slot_size, size_t prealloc,
    size_t max_free)
{
	size_t i;

	p->free_list = NULL;
	p->slot_size = slot_size < sizeof(void *) ? sizeof(void *) : slot_size;
	p->nfree = p->nused = 0;
	p->max_free = max_free < prealloc ? prealloc : max_free;
	for (i = 0; i < prealloc; i++) {
		void *s = malloc(p->slot_size);

		if (s == NULL) {
			ring_pool_destroy(p);
			return -1;
		}
		*(void **)s = p->free_list;
		p->free_list = s;
		p->nfree++;
	}
	return 0;
}

void
ring_pool_destroy(struct ring_pool *p)
{
	while (p->free_list != NULL) {
		void *s = p->free_list;

		p->free_list = *(void **)s;
		free(s);
	}
	p->nfree = 0;
}

void
ring_init(struct ring *r, unsigned nslots)
{
	if (nslots < 1)
		nslots = 1;
	if (nslots > RING_MAX_SLOTS)
		nslots = RING_MAX_SLOTS;
	r->off = 0;
	r->head = r->count = r->reserved = 0;
	r->nslots = (uint8_t)nslots;
}

static inline unsigned
ring_tail(const struct ring *r)
{
	return (r->head + r->count) % RING_MAX_SLOTS;
}

char *
ring_write_ptr(struct ring *r, struct ring_pool *p)
{
	unsigned t;

	if (ring_is_full(r))
		return NULL;
	t = ring_tail(r);
	if (r->reserved == 0) {
		if ((r->slot[t] = pool_get(p)) == NULL)
			return NULL;
		r->reserved = 1;
	}
	return r->slot[t];
}

void
ring_write_commit(struct ring *r, size_t len)
{
	r->len[ring_tail(r)] = (uint32_t)len;
	r->count++;
	r->reserved--;
}

void
ring_write_cancel(struct ring *r, struct ring_pool *p)
{
	unsigned t = ring_tail(r);

	while (r->reserved > 0) {
		pool_put(p, r->slot[(t + r->reserved - 1) % RING_MAX_SLOTS]);
		r->reserved--;
	}
}

size_t
ring_write_iov(struct ring *r, struct ring_pool *p, struct iovec *iov,
    size_t max)
{
	unsigned t = ring_tail(r), i;

	while (r->reserved < max && r->count + r->reserved < r->nslots) {
		i = (t + r->reserved) % RING_MAX_SLOTS;
		if ((r->slot[i] = pool_get(p)) == NULL)
			break;
		r->reserved++;
	}
	for (i = 0; i < r->reserved; i++) {
		iov[i].iov_base = r->slot[(t + i) % RING_MAX_SLOTS];
		iov[i].iov_len = p->slot_size;
	}
	return r->reserved;
}

char *
ring_read_ptr(const struct ring *r, size_t *len)
{
	if (r->count == 0) {
		*len = 0;
		return NULL;
	}
	*len = r->len[r->head] - r->off;
	return r->slot[r->head] + r->off;
}

size_t
ring_read_iov(const struct ring *r, struct iovec *iov, size_t max)
{
	size_t i, off = r->off;
	unsigned s;

	for (i = 0; i < r->count && i < max; i++) {
		s = (r->head + i) % RING_MAX_SLOTS;
		iov[i].iov_base = r->slot[s] + off;
		iov[i].iov_len = r->len[s] - off;
		off = 0;
	}
	return i;
}

void
ring_read_consume(struct ring *r, struct ring_pool *p, size_t n)
{
	size_t left;

	while (n > 0 && r->count > 0) {
		left = r->len[r->head] - r->off;
		if (n < left) {
			r->off += (uint32_t)n;
			return;
		}
		n -= left;
		pool_put(p, r->slot[r->head]);
		r->head = (r->head + 1) % RING_MAX_SLOTS;
		r->count--;
		r->off = 0;
	}
}

void
ring_release(struct ring *r, struct ring_pool *p)
{
	ring_write_cancel(r, p);
	while (r->count > 0) {
		pool_put(p, r->slot[r->head]);
		r->head = (r->head + 1) % RING_MAX_SLOTS;
		r->count--;
	}
	r->off = 0;
}

size_t
ring_bytes(const struct ring *r)
{
	size_t n = 0;
	unsigned i;

	for (i = 0; i < r->count; i++)
		n += r->len[(r->head + i) % RING_MAX_SLOTS];
	return n - r->off;
}
