/* ringbuffer.h - bounded per-connection FIFO of fixed-size slots, the slots
 * drawn from a per-worker pool only while they hold data in flight. */
#ifndef STUD_RINGBUFFER_H
#define STUD_RINGBUFFER_H

#include <stddef.h>
#include <stdint.h>

struct iovec;

#define RING_MAX_SLOTS 8

/* A pool of equal-size slots shared by all rings of one process. */
struct ring_pool {
	void	*free_list;	/* singly linked through each free slot */
	size_t	 slot_size;	/* usable bytes per slot */
	size_t	 nfree;		/* slots on the free list */
	size_t	 max_free;	/* free slots kept; beyond this they go back to malloc */
	size_t	 nused;		/* slots attached to rings */
};

/* A FIFO of up to nslots slots; a slot holds the bytes of one write. */
struct ring {
	char		*slot[RING_MAX_SLOTS];
	uint32_t	 len[RING_MAX_SLOTS];
	uint32_t	 off;		/* bytes of the head slot already read */
	uint8_t		 head;		/* index of the oldest slot */
	uint8_t		 count;		/* slots holding data */
	uint8_t		 nslots;	/* capacity, 1..RING_MAX_SLOTS */
	uint8_t		 reserved;	/* slots attached past the tail, not committed */
};

/* Make a pool of slot_size-byte slots with prealloc slots ready, keeping at
 * most max_free idle ones. Returns 0, or -1 if memory ran out. */
int	ring_pool_init(struct ring_pool *p, size_t slot_size, size_t prealloc,
	    size_t max_free);

/* Free every idle slot of the pool; slots still attached to rings are the
 * caller's to release first. */
void	ring_pool_destroy(struct ring_pool *p);

/* Take one slot of p for the caller's own use; NULL if memory ran out. */
void	*ring_pool_get(struct ring_pool *p);

/* Give back a slot from ring_pool_get(). */
void	 ring_pool_put(struct ring_pool *p, void *slot);

/* Set up an empty ring holding at most nslots slots (clamped to 1..MAX). */
void	ring_init(struct ring *r, unsigned nslots);

/* Return a slot of p->slot_size bytes at the tail to write into, or NULL when
 * the ring is full or no memory is left. The slot stays reserved until
 * ring_write_commit() or ring_write_cancel(). */
char	*ring_write_ptr(struct ring *r, struct ring_pool *p);

/* Append the (first) reserved slot holding len bytes (1..slot_size) to the
 * FIFO. */
void	ring_write_commit(struct ring *r, size_t len);

/* Give every reserved slot back to the pool unused. */
void	ring_write_cancel(struct ring *r, struct ring_pool *p);

/* Reserve up to max free slots at the tail for one scattered read, and
 * describe them in iov (p->slot_size bytes each). Returns how many (0 when
 * the ring is full or no memory is left); they stay reserved, to be
 * appended one by one with ring_write_commit() (in order) and the rest
 * given back with ring_write_cancel(). */
size_t	ring_write_iov(struct ring *r, struct ring_pool *p, struct iovec *iov,
	    size_t max);

/* Return the oldest unread bytes (one slot's worth) and their count in *len,
 * or NULL with *len = 0 when the ring is empty. */
char	*ring_read_ptr(const struct ring *r, size_t *len);

/* Describe up to max slots of unread bytes, oldest first, in iov. Returns
 * how many. */
size_t	ring_read_iov(const struct ring *r, struct iovec *iov, size_t max);

/* Mark the n oldest unread bytes (at most ring_bytes()) as delivered;
 * emptied slots go back to the pool. */
void	ring_read_consume(struct ring *r, struct ring_pool *p, size_t n);

/* Drop every slot, delivered or not, back to the pool. */
void	ring_release(struct ring *r, struct ring_pool *p);

/* True when no byte waits in the ring. */
static inline int
ring_is_empty(const struct ring *r)
{
	return r->count == 0;
}

/* True when no more slot may be appended. */
static inline int
ring_is_full(const struct ring *r)
{
	return r->count >= r->nslots;
}

/* Bytes waiting in the ring. */
size_t	ring_bytes(const struct ring *r);

#endif /* STUD_RINGBUFFER_H */
