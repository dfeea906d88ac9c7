/* shctx.c - the shared TLS session cache: one MAP_SHARED mapping holding a
 * robust process-shared lock, an ebtree of session IDs, a recency list and
 * nslots fixed-size slots. A library module: no logging, no allocation. */
#define _GNU_SOURCE
#include <sys/mman.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "ebtree/ebtree.h"
#include "shctx.h"

/*
 * Layout of the mapping, made once by shctx_create() before fork() and then
 * seen at the same address by every process, so links are plain pointers:
 *
 *	struct shctx			header, lock, tree root, list head
 *	struct shctx_slot[nslots]	links and key of each entry
 *	unsigned char[nslots][max_data]	blob of each entry
 *
 * Tree key: SHCTX_KEY_LEN bytes, the ID's length in byte 0, then the ID,
 * zero-padded to SHCTX_ID_MAX bytes. All keys thus have the same length, as
 * ebtree requires, and IDs that differ only by trailing zero bytes or length
 * (e.g. "ab" and "ab\0") stay distinct.
 *
 * Recency list: circular, through every slot. lru.next is the most recently
 * used entry, lru.prev the least. A free slot (not in the tree, len 0) is
 * always put at the cold end, so free slots form the cold tail of the list:
 * a store takes the coldest slot, and has to evict only if that one is in
 * use, i.e. exactly when the cache is full. No separate free list is needed.
 *
 * After a process died holding the lock, the tree and list may be half
 * updated; the next locker rebuilds both from nothing (shctx_wipe()). The
 * fields set by shctx_create() (slots, data, sizes) are never written again,
 * so they can be trusted then.
 */

#define SHCTX_KEY_LEN	(1 + SHCTX_ID_MAX)

struct shctx_link {
	struct shctx_link	*prev;
	struct shctx_link	*next;
};

struct shctx_slot {
	struct shctx_link	 lru;		/* place in the recency list */
	size_t			 len;		/* blob bytes, 0 while free */
	union {
		struct ebmb_node node;
		unsigned char	 room[EBMB_NODE_SIZE(SHCTX_KEY_LEN)];
	} key;					/* last member: see ebtree.h */
};

struct shctx {
	pthread_mutex_t		 lock;		/* robust, process-shared */
	struct eb_root		 root;		/* slots in use, by key */
	struct shctx_link	 lru;		/* next: hottest, prev: coldest */
	struct shctx_slot	*slots;		/* nslots entries */
	unsigned char		*data;		/* nslots blobs of max_data */
	size_t			 map_size;	/* bytes mapped */
	size_t			 max_data;	/* bytes per blob */
	unsigned		 nslots;
	unsigned		 nused;		/* slots in the tree */
	uint64_t		 stores;
	uint64_t		 hits;
	uint64_t		 misses;
	uint64_t		 evictions;
	uint64_t		 recoveries;
};

/* --- recency list ---------------------------------------------------- */

static inline void
link_unlink(struct shctx_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
}

static inline void
link_after(struct shctx_link *pos, struct shctx_link *l)
{
	l->prev = pos;
	l->next = pos->next;
	pos->next->prev = l;
	pos->next = l;
}

static inline struct shctx_slot *
slot_of_link(struct shctx_link *l)
{
	return EB_ENTRY(l, struct shctx_slot, lru);
}

static inline struct shctx_slot *
slot_of_node(struct ebmb_node *n)
{
	return n == NULL ? NULL : EB_ENTRY(n, struct shctx_slot, key.node);
}

/* Make s the most recently used slot. */
static inline void
slot_hot(struct shctx *c, struct shctx_slot *s)
{
	link_unlink(&s->lru);
	link_after(&c->lru, &s->lru);
}

/* Make s the least recently used slot (where free slots go). */
static inline void
slot_cold(struct shctx *c, struct shctx_slot *s)
{
	link_unlink(&s->lru);
	link_after(c->lru.prev, &s->lru);
}

static inline unsigned char *
slot_data(const struct shctx *c, const struct shctx_slot *s)
{
	return c->data + (size_t)(s - c->slots) * c->max_data;
}

/* --- keys and slots -------------------------------------------------- */

/* Build the fixed-length tree key of an ID (see the layout above). */
static inline void
key_make(unsigned char key[SHCTX_KEY_LEN], const unsigned char *id,
    size_t idlen)
{
	memset(key, 0, SHCTX_KEY_LEN);
	key[0] = (unsigned char)idlen;
	memcpy(key + 1, id, idlen);
}

static inline int
id_valid(const struct shctx *c, const unsigned char *id, size_t idlen)
{
	return c != NULL && id != NULL && idlen >= 1 && idlen <= SHCTX_ID_MAX;
}

static inline struct shctx_slot *
slot_find(struct shctx *c, const unsigned char key[SHCTX_KEY_LEN])
{
	return slot_of_node(ebmb_lookup(&c->root, key, SHCTX_KEY_LEN));
}

/* Take the coldest slot for a new key (not in the tree), evicting its entry
 * if it has one, and insert it under key. */
static struct shctx_slot *
slot_claim(struct shctx *c, const unsigned char key[SHCTX_KEY_LEN])
{
	struct shctx_slot *s = slot_of_link(c->lru.prev);

	if (ebmb_in_tree(&s->key.node)) {
		ebmb_delete(&s->key.node);
		c->nused--;
		c->evictions++;
	}
	memcpy(s->key.node.key, key, SHCTX_KEY_LEN);
	/* cannot meet a duplicate: the caller looked key up under the lock */
	ebmb_insert(&c->root, &s->key.node, SHCTX_KEY_LEN);
	c->nused++;
	return s;
}

/* Drop every entry: empty tree, all slots free on the recency list. */
static void
shctx_wipe(struct shctx *c)
{
	unsigned i;

	eb_root_init(&c->root);
	c->lru.prev = c->lru.next = &c->lru;
	for (i = 0; i < c->nslots; i++) {
		memset(&c->slots[i], 0, sizeof(c->slots[i]));
		link_after(c->lru.prev, &c->slots[i].lru);
	}
	c->nused = 0;
}

/* --- lock ------------------------------------------------------------ */

static int
lock_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int err;

	if ((err = pthread_mutexattr_init(&a)) != 0)
		return err;
	if ((err = pthread_mutexattr_setpshared(&a,
	    PTHREAD_PROCESS_SHARED)) == 0 &&
	    (err = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) == 0)
		err = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return err;
}

/* Take the lock. If its holder died, the cache may be half updated: wipe
 * it, count a recovery, and mark the lock usable again. */
static int
shctx_lock(struct shctx *c)
{
	int err = pthread_mutex_lock(&c->lock);

	if (err == EOWNERDEAD) {
		shctx_wipe(c);
		c->recoveries++;
		if ((err = pthread_mutex_consistent(&c->lock)) != 0)
			pthread_mutex_unlock(&c->lock);
	}
	return err == 0 ? 0 : SHCTX_E_LOCK;
}

static inline void
shctx_unlock(struct shctx *c)
{
	pthread_mutex_unlock(&c->lock);
}

/* --- public API ------------------------------------------------------ */

static inline size_t
round_up(size_t n, size_t align)
{
	return (n + align - 1) / align * align;
}

struct shctx *
shctx_create(unsigned nslots, size_t max_data)
{
	size_t hdr = round_up(sizeof(struct shctx), _Alignof(struct shctx_slot));
	size_t per = sizeof(struct shctx_slot) + max_data, size;
	struct shctx *c;
	void *p;
	int err;

	if (nslots == 0 || max_data == 0 || max_data > INT_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if (per > (SIZE_MAX - hdr) / nslots) {
		errno = ENOMEM;
		return NULL;
	}
	size = hdr + per * nslots;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	c = p;
	if ((err = lock_init(&c->lock)) != 0) {
		munmap(p, size);
		errno = err;
		return NULL;
	}
	c->slots = (struct shctx_slot *)(void *)((char *)p + hdr);
	c->data = (unsigned char *)(c->slots + nslots);
	c->map_size = size;
	c->max_data = max_data;
	c->nslots = nslots;
	shctx_wipe(c);
	return c;
}

/* No pthread_mutex_destroy(): other processes may still be using the lock. */
void
shctx_destroy(struct shctx *c)
{
	if (c != NULL)
		munmap(c, c->map_size);
}

int
shctx_store(struct shctx *c, const unsigned char *id, size_t idlen,
    const unsigned char *data, size_t len)
{
	unsigned char key[SHCTX_KEY_LEN];
	struct shctx_slot *s;

	if (!id_valid(c, id, idlen) || data == NULL || len == 0)
		return SHCTX_E_INVAL;
	if (len > c->max_data)
		return SHCTX_E_TOOBIG;
	key_make(key, id, idlen);
	if (shctx_lock(c) != 0)
		return SHCTX_E_LOCK;
	if ((s = slot_find(c, key)) == NULL)
		s = slot_claim(c, key);
	memcpy(slot_data(c, s), data, len);
	s->len = len;
	slot_hot(c, s);
	c->stores++;
	shctx_unlock(c);
	return 0;
}

int
shctx_lookup(struct shctx *c, const unsigned char *id, size_t idlen,
    unsigned char *out, size_t outlen)
{
	unsigned char key[SHCTX_KEY_LEN];
	struct shctx_slot *s;
	int ret;

	if (!id_valid(c, id, idlen) || out == NULL)
		return SHCTX_E_INVAL;
	key_make(key, id, idlen);
	if (shctx_lock(c) != 0)
		return SHCTX_E_LOCK;
	if ((s = slot_find(c, key)) == NULL || s->len > outlen) {
		ret = s == NULL ? SHCTX_E_NOTFOUND : SHCTX_E_TOOBIG;
		c->misses++;
	} else {
		memcpy(out, slot_data(c, s), s->len);
		ret = (int)s->len;
		slot_hot(c, s);
		c->hits++;
	}
	shctx_unlock(c);
	return ret;
}

int
shctx_remove(struct shctx *c, const unsigned char *id, size_t idlen)
{
	unsigned char key[SHCTX_KEY_LEN];
	struct shctx_slot *s;

	if (!id_valid(c, id, idlen))
		return SHCTX_E_INVAL;
	key_make(key, id, idlen);
	if (shctx_lock(c) != 0)
		return SHCTX_E_LOCK;
	if ((s = slot_find(c, key)) != NULL) {
		ebmb_delete(&s->key.node);
		s->len = 0;
		slot_cold(c, s);
		c->nused--;
	}
	shctx_unlock(c);
	return s != NULL ? 0 : SHCTX_E_NOTFOUND;
}

void
shctx_stats(struct shctx *c, struct shctx_stats *st)
{
	*st = (struct shctx_stats){ .capacity = c->nslots };
	if (shctx_lock(c) != 0)
		return;
	st->entries = c->nused;
	st->stores = c->stores;
	st->hits = c->hits;
	st->misses = c->misses;
	st->evictions = c->evictions;
	st->recoveries = c->recoveries;
	shctx_unlock(c);
}

/* --- checks ---------------------------------------------------------- */

/* Nonzero if l points at the list link of one of the slots. */
static int
link_is_slot(const struct shctx *c, const struct shctx_link *l)
{
	uintptr_t base = (uintptr_t)&c->slots[0].lru, a = (uintptr_t)l;

	return a >= base && (a - base) % sizeof(struct shctx_slot) == 0 &&
	    (a - base) / sizeof(struct shctx_slot) < c->nslots;
}

/* Nonzero if the slot in use s holds a well-formed entry findable by key. */
static int
entry_sound(struct shctx *c, struct shctx_slot *s)
{
	const unsigned char *k = s->key.node.key;
	size_t i;

	if (s->len == 0 || s->len > c->max_data || k[0] == 0 ||
	    k[0] > SHCTX_ID_MAX)
		return 0;
	for (i = 1 + (size_t)k[0]; i < SHCTX_KEY_LEN; i++)
		if (k[i] != 0)
			return 0;
	return slot_find(c, k) == s;
}

/* Walk the recency list: every slot exactly once, links mirrored, free
 * slots after used ones, entries sound. Returns 0 or SHCTX_E_CORRUPT. */
static int
check_list(struct shctx *c)
{
	struct shctx_link *l = &c->lru;
	unsigned n = 0, used = 0, seen_free = 0;
	struct shctx_slot *s;

	for (; l->next != &c->lru; l = l->next, n++) {
		if (n >= c->nslots || l->next->prev != l ||
		    !link_is_slot(c, l->next))
			return SHCTX_E_CORRUPT;
		s = slot_of_link(l->next);
		if (!ebmb_in_tree(&s->key.node)) {
			seen_free = 1;
			if (s->len != 0)
				return SHCTX_E_CORRUPT;
		} else if (seen_free || !entry_sound(c, s))
			return SHCTX_E_CORRUPT;
		else
			used++;
	}
	if (c->lru.prev != l || n != c->nslots || used != c->nused)
		return SHCTX_E_CORRUPT;
	return 0;
}

/* Count the tree's entries, giving up past nslots. */
static unsigned
tree_count(struct shctx *c)
{
	struct ebmb_node *n;
	unsigned count = 0;

	for (n = ebmb_first(&c->root); n != NULL && count <= c->nslots;
	    n = ebmb_next(n))
		count++;
	return count;
}

int
shctx_check(struct shctx *c)
{
	int ret = SHCTX_E_CORRUPT;

	if (shctx_lock(c) != 0)
		return SHCTX_E_LOCK;
	if (ebmb_check(&c->root, SHCTX_KEY_LEN) == 0 && c->nused <= c->nslots &&
	    tree_count(c) == c->nused)
		ret = check_list(c);
	shctx_unlock(c);
	return ret;
}

int
shctx_lock_for_test(struct shctx *c)
{
	return shctx_lock(c);
}
