/* shctx.h - a TLS session cache shared by stud's workers: opaque blobs keyed
 * by session ID in one MAP_SHARED mapping, LRU eviction, a robust lock. */
#ifndef STUD_SHCTX_H
#define STUD_SHCTX_H

#include <stddef.h>
#include <stdint.h>

/*
 * The cache is made by the parent before it forks, and inherited by every
 * worker at the same address. It holds up to nslots entries; each maps an ID
 * of 1..SHCTX_ID_MAX bytes to a blob of 1..max_data bytes (for stud, a
 * serialized SSL_SESSION). All operations take one process-shared robust
 * mutex; a worker dying while holding it makes the next caller wipe the
 * cache (every entry is dropped, counters are kept) and carry on.
 *
 * The module never allocates after shctx_create(), never logs, never exits.
 * Functions returning int give 0 (or a length) on success and a negative
 * enum shctx_error on failure. c must come from shctx_create(); store,
 * lookup and remove also accept NULL and return SHCTX_E_INVAL.
 */

#define SHCTX_ID_MAX		32	/* SSL_MAX_SSL_SESSION_ID_LENGTH */
#define SHCTX_DEFAULT_DATA	4096	/* default max_data: a session with a
					 * typical client leaf certificate fits;
					 * bigger ones are refused */

enum shctx_error {
	SHCTX_E_NOTFOUND = -1,	/* no entry with this ID */
	SHCTX_E_TOOBIG = -2,	/* blob > max_data, or output buffer too small */
	SHCTX_E_INVAL = -3,	/* NULL pointer, ID length not 1..32, empty blob */
	SHCTX_E_LOCK = -4,	/* the lock is unusable (should not happen) */
	SHCTX_E_CORRUPT = -5,	/* shctx_check() found an inconsistency */
};

struct shctx;			/* opaque; lives in the shared mapping */

struct shctx_stats {
	unsigned	 entries;	/* entries stored now */
	unsigned	 capacity;	/* nslots */
	uint64_t	 stores;	/* successful shctx_store() calls */
	uint64_t	 hits;		/* lookups that returned a blob */
	uint64_t	 misses;	/* lookups that did not */
	uint64_t	 evictions;	/* entries dropped to make room */
	uint64_t	 recoveries;	/* wipes after a holder of the lock died */
};

/* Map a cache of nslots entries (>= 1) of at most max_data bytes each
 * (1..INT_MAX). Call before fork(); children use the same pointer. Returns
 * NULL with errno set (EINVAL, ENOMEM, or from mmap/pthread) on failure. */
struct shctx	*shctx_create(unsigned nslots, size_t max_data);

/* Unmap the cache in the calling process; other processes keep theirs and
 * the lock stays usable for them. NULL is allowed. */
void		 shctx_destroy(struct shctx *c);

/* Store len bytes of data under the idlen-byte id, replacing any entry with
 * the same ID; the entry becomes the most recently used. When the cache is
 * full the least recently used entry is evicted. Returns 0, SHCTX_E_INVAL
 * (idlen not 1..SHCTX_ID_MAX, len 0, NULL pointer), SHCTX_E_TOOBIG
 * (len > max_data) or SHCTX_E_LOCK; on error the cache is unchanged. */
int		 shctx_store(struct shctx *c, const unsigned char *id,
		    size_t idlen, const unsigned char *data, size_t len);

/* Copy the blob stored under id into out (outlen bytes of room) and make the
 * entry the most recently used. Returns the blob's length (> 0),
 * SHCTX_E_NOTFOUND, SHCTX_E_TOOBIG (outlen too small: nothing copied,
 * counted as a miss), SHCTX_E_INVAL or SHCTX_E_LOCK. */
int		 shctx_lookup(struct shctx *c, const unsigned char *id,
		    size_t idlen, unsigned char *out, size_t outlen);

/* Drop the entry stored under id. Returns 0, SHCTX_E_NOTFOUND,
 * SHCTX_E_INVAL or SHCTX_E_LOCK. */
int		 shctx_remove(struct shctx *c, const unsigned char *id,
		    size_t idlen);

/* Fill *st with a consistent snapshot of the counters. Should the lock be
 * unusable, only capacity is filled in and the rest reads 0. */
void		 shctx_stats(struct shctx *c, struct shctx_stats *st);

/* For tests and debugging: verify the tree, the recency list and every
 * entry under the lock, in O(nslots * depth). Returns 0, SHCTX_E_CORRUPT or
 * SHCTX_E_LOCK. */
int		 shctx_check(struct shctx *c);

/* For tests only: take the lock and return 0 (or SHCTX_E_LOCK) without ever
 * releasing it, so that a test process can die holding it. */
int		 shctx_lock_for_test(struct shctx *c);

#endif /* STUD_SHCTX_H */
