/* test_ebtree.c - unit test of ebtree/: small hand-checked trees, the
 * checker itself, a tree shared across fork(), then long seeded random runs
 * checked against a presence array over the keyspace. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/wait.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebtree/ebtree.h"
#include "unit.h"

#define MAXKEY	32

/* A test element: the node goes last, its union reserves the key room. */
struct item {
	uint32_t	 v;		/* index in the keyspace */
	union {
		struct ebmb_node node;
		unsigned char	 room[EBMB_NODE_SIZE(MAXKEY)];
	} k;
};

static struct item *
item_of(struct ebmb_node *n)
{
	return n == NULL ? NULL : EB_ENTRY(n, struct item, k.node);
}

/* splitmix64: a small deterministic PRNG. */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A bijection on 32-bit values, to spread keys over all bits. */
static uint32_t
mix32(uint32_t x)
{
	x *= 0x9e3779b1u;
	x ^= x >> 15;
	x *= 0x85ebca77u;
	x ^= x >> 13;
	return x;
}

static void
put_be32(unsigned char *p, uint32_t x)
{
	p[0] = x >> 24;
	p[1] = x >> 16;
	p[2] = x >> 8;
	p[3] = x;
}

/* Key makers: each is injective on the keyspace. */
static void
key_mix4(uint32_t v, unsigned char *key)
{
	put_be32(key, mix32(v));
}

static void
key_seq4(uint32_t v, unsigned char *key)
{
	put_be32(key, v);
}

/* 8 bytes: one of 4 shared prefixes, then the mixed value. */
static void
key_pfx8(uint32_t v, unsigned char *key)
{
	put_be32(key, 0x5a5a0000u | (v & 3));
	put_be32(key + 4, mix32(v));
}

/* 32 bytes like session IDs with long shared prefixes: 16 fixed bytes, 12
 * shared by groups of 16 values, then the mixed value in the last 4, so
 * critical bits go down to bit 255. */
static void
key_sid32(uint32_t v, unsigned char *key)
{
	uint32_t g = mix32(v >> 4);
	int i;

	memset(key, 0xa5, 16);
	for (i = 0; i < 3; i++)
		put_be32(key + 16 + 4 * i, g ^ (uint32_t)i);
	put_be32(key + 28, mix32(v));
}

/* Small trees checked by hand. */

static void
set_key(struct item *it, const char *s, size_t len)
{
	memcpy(it->k.node.key, s, len);
}

/* Walk forward and backward; compare with the expected keys of len bytes. */
static int
walk_is(struct eb_root *root, const char *const *want, int n, size_t len)
{
	struct ebmb_node *e;
	int i;

	for (i = 0, e = ebmb_first(root); e != NULL; e = ebmb_next(e), i++)
		if (i >= n || memcmp(e->key, want[i], len) != 0)
			return 0;
	if (i != n)
		return 0;
	for (e = ebmb_last(root); e != NULL; e = ebmb_prev(e))
		if (--i < 0 || memcmp(e->key, want[i], len) != 0)
			return 0;
	return i == 0;
}

static void
test_empty(void)
{
	struct eb_root root = EB_ROOT;
	struct item it;

	memset(&it, 0, sizeof(it));
	CHECK(eb_is_empty(&root));
	CHECK(ebmb_first(&root) == NULL);
	CHECK(ebmb_last(&root) == NULL);
	CHECK(ebmb_lookup(&root, "abcd", 4) == NULL);
	CHECK(ebmb_check(&root, 4) == 0);
	ebmb_delete(&it.k.node);		/* never inserted: no-op */
	CHECK(!ebmb_in_tree(&it.k.node));
	CHECK(ebmb_next(&it.k.node) == NULL);
	CHECK(ebmb_prev(&it.k.node) == NULL);
	CHECK(eb_is_empty(&root));
}

static void
test_single(void)
{
	struct eb_root root;
	struct item a, b;

	eb_root_init(&root);
	ebmb_node_init(&a.k.node);
	ebmb_node_init(&b.k.node);
	set_key(&a, "abcd", 4);
	set_key(&b, "abcd", 4);
	CHECK(ebmb_insert(&root, &a.k.node, 4) == &a.k.node);
	CHECK(ebmb_in_tree(&a.k.node));
	CHECK(ebmb_check(&root, 4) == 0);
	CHECK(ebmb_first(&root) == &a.k.node && ebmb_last(&root) == &a.k.node);
	CHECK(ebmb_next(&a.k.node) == NULL && ebmb_prev(&a.k.node) == NULL);
	CHECK(ebmb_lookup(&root, "abcd", 4) == &a.k.node);
	CHECK(ebmb_lookup(&root, "abce", 4) == NULL);
	CHECK(ebmb_insert(&root, &b.k.node, 4) == &a.k.node);
	CHECK(!ebmb_in_tree(&b.k.node));
	ebmb_delete(&b.k.node);			/* refused duplicate: no-op */
	CHECK(ebmb_lookup(&root, "abcd", 4) == &a.k.node);
	ebmb_delete(&a.k.node);
	CHECK(!ebmb_in_tree(&a.k.node));
	CHECK(eb_is_empty(&root));
	ebmb_delete(&a.k.node);			/* deleted twice: no-op */
	CHECK(eb_is_empty(&root));
	CHECK(ebmb_insert(&root, &b.k.node, 4) == &b.k.node);
	CHECK(ebmb_check(&root, 4) == 0);
}

static void
test_small(void)
{
	static const char *const ins[] = {
		"dddd", "bbbb", "ffff", "aaaa", "cccc", "eeee", "gggg",
	};
	static const char *const sorted[] = {
		"aaaa", "bbbb", "cccc", "dddd", "eeee", "ffff", "gggg",
	};
	static const char *const less_d[] = {
		"aaaa", "bbbb", "cccc", "eeee", "ffff", "gggg",
	};
	static const int del[] = { 1, 6, 0, 4, 2, 5, 3 };
	struct eb_root root = EB_ROOT;
	struct item it[7], dup;
	int i, ok;

	memset(it, 0, sizeof(it));
	memset(&dup, 0, sizeof(dup));
	for (ok = 1, i = 0; i < 7; i++) {
		set_key(&it[i], ins[i], 4);
		ok &= ebmb_insert(&root, &it[i].k.node, 4) == &it[i].k.node;
		ok &= ebmb_check(&root, 4) == 0;
	}
	CHECK(ok);
	CHECK(walk_is(&root, sorted, 7, 4));
	for (ok = 1, i = 0; i < 7; i++)
		ok &= ebmb_lookup(&root, ins[i], 4) == &it[i].k.node;
	CHECK(ok);
	CHECK(ebmb_lookup(&root, "dddx", 4) == NULL);
	CHECK(ebmb_lookup(&root, "zzzz", 4) == NULL);
	CHECK(ebmb_lookup(&root, "\0\0\0\0", 4) == NULL);

	set_key(&dup, "cccc", 4);
	CHECK(ebmb_insert(&root, &dup.k.node, 4) == &it[4].k.node);
	CHECK(!ebmb_in_tree(&dup.k.node));
	CHECK(walk_is(&root, sorted, 7, 4));
	ebmb_delete(&dup.k.node);
	CHECK(walk_is(&root, sorted, 7, 4) && ebmb_check(&root, 4) == 0);

	ebmb_delete(&it[0].k.node);		/* "dddd", the first in */
	CHECK(ebmb_check(&root, 4) == 0);
	CHECK(ebmb_lookup(&root, "dddd", 4) == NULL);
	CHECK(walk_is(&root, less_d, 6, 4));
	ebmb_delete(&it[0].k.node);
	CHECK(walk_is(&root, less_d, 6, 4));
	CHECK(ebmb_insert(&root, &it[0].k.node, 4) == &it[0].k.node);
	CHECK(walk_is(&root, sorted, 7, 4) && ebmb_check(&root, 4) == 0);

	for (ok = 1, i = 0; i < 7; i++) {
		ebmb_delete(&it[del[i]].k.node);
		ok &= ebmb_check(&root, 4) == 0;
		ok &= ebmb_lookup(&root, ins[del[i]], 4) == NULL;
		ok &= !ebmb_in_tree(&it[del[i]].k.node);
	}
	CHECK(ok);
	CHECK(eb_is_empty(&root) && ebmb_first(&root) == NULL);
}

/* 32-byte keys differing only in the very first or very last bit. */
static void
test_edge_bits(void)
{
	struct eb_root root = EB_ROOT;
	struct item it[4];
	struct ebmb_node *e;
	unsigned char key[MAXKEY];
	int i;

	memset(it, 0, sizeof(it));
	for (i = 0; i < 4; i++) {
		memset(key, 0x3c, MAXKEY);
		key[0] = (i & 2) ? 0xbc : 0x3c;		/* bit 0 */
		key[MAXKEY - 1] = (i & 1) ? 0x3d : 0x3c;	/* bit 255 */
		memcpy(it[i].k.node.key, key, MAXKEY);
	}
	for (i = 3; i >= 0; i--)
		CHECK(ebmb_insert(&root, &it[i].k.node, MAXKEY) ==
		    &it[i].k.node);
	CHECK(ebmb_check(&root, MAXKEY) == 0);
	for (i = 0, e = ebmb_first(&root); e != NULL; e = ebmb_next(e), i++)
		CHECK(i < 4 && e == &it[i].k.node);
	CHECK(i == 4);
	for (i = 0; i < 4; i++)
		CHECK(ebmb_lookup(&root, it[i].k.node.key, MAXKEY) ==
		    &it[i].k.node);
	memset(key, 0x3c, MAXKEY);
	key[MAXKEY - 2] = 0x3d;
	CHECK(ebmb_lookup(&root, key, MAXKEY) == NULL);

	/* key_len 0: every key is equal, so the tree holds at most one. */
	eb_root_init(&root);
	memset(it, 0, sizeof(it));
	CHECK(ebmb_insert(&root, &it[0].k.node, 0) == &it[0].k.node);
	CHECK(ebmb_insert(&root, &it[1].k.node, 0) == &it[0].k.node);
	CHECK(ebmb_lookup(&root, "", 0) == &it[0].k.node);
	CHECK(ebmb_check(&root, 0) == 0);
}

/* ebmb_check() must notice damage. */
static void
test_checker(void)
{
	struct eb_root root = EB_ROOT;
	struct item it[16];
	struct ebmb_node *e;
	unsigned char save;
	uintptr_t up;
	size_t bit;
	int i;

	memset(it, 0, sizeof(it));
	for (i = 0; i < 16; i++) {
		key_mix4((uint32_t)i, it[i].k.node.key);
		ebmb_insert(&root, &it[i].k.node, 4);
	}
	CHECK(ebmb_check(&root, 4) == 0);

	e = ebmb_next(ebmb_first(&root));	/* swap order by a key byte */
	save = e->key[0];
	e->key[0] = 0xff;
	CHECK(ebmb_check(&root, 4) == EB_ERR_ORDER);
	e->key[0] = save;

	up = e->node.leaf_up;			/* break a mirror link */
	e->node.leaf_up ^= 1;
	CHECK(ebmb_check(&root, 4) == EB_ERR_LINK);
	e->node.leaf_up = up;

	for (i = 0; it[i].k.node.node.node_up == 0; i++)
		;
	bit = it[i].k.node.node.bit;		/* bit index out of range */
	it[i].k.node.node.bit = 32;
	CHECK(ebmb_check(&root, 4) == EB_ERR_BIT);
	it[i].k.node.node.bit = bit;

	CHECK(ebmb_check(&root, 4) == 0);
	CHECK(ebmb_check(&root, 0) == EB_ERR_BIT);	/* no bits at all */
}

/* The intended use: root and items in a MAP_SHARED mapping filled by a
 * child process, then read and modified by the parent. */
static void
test_shared(void)
{
	struct shm {
		struct eb_root	root;
		struct item	it[256];
	} *shm;
	unsigned char key[4];
	pid_t pid;
	int i, st, ok;

	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(shm != MAP_FAILED);
	if (shm == MAP_FAILED)
		return;
	eb_root_init(&shm->root);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		for (i = 0; i < 256; i++) {
			key_mix4((uint32_t)i, shm->it[i].k.node.key);
			ebmb_insert(&shm->root, &shm->it[i].k.node, 4);
		}
		_exit(ebmb_check(&shm->root, 4) == 0 ? 0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (ok = 1, i = 0; i < 256; i++) {
		key_mix4((uint32_t)i, key);
		ok &= ebmb_lookup(&shm->root, key, 4) == &shm->it[i].k.node;
	}
	CHECK(ok);
	for (i = 0; i < 256; i += 2)
		ebmb_delete(&shm->it[i].k.node);
	CHECK(ebmb_check(&shm->root, 4) == 0);
	CHECK(ebmb_lookup(&shm->root, key, 4) == &shm->it[255].k.node);
	munmap(shm, sizeof(*shm));
}

/* Random runs against a reference. */

struct phase {
	const char	*name;
	size_t		 key_len;
	uint32_t	 space;		/* keys are 0 .. space - 1 */
	unsigned long	 ops;
	unsigned long	 every;		/* full verification interval */
	void		(*mkkey)(uint32_t, unsigned char *);
	uint64_t	 seed;
};

struct run {
	const struct phase *ph;
	struct eb_root	 root;
	struct item	*it;
	unsigned char	*present;
	uint32_t	 count;
	unsigned long	 op;		/* current operation number */
	unsigned long	 fails;
	struct item	 probe;		/* for inserts of present keys; last,
					 * as it ends in a flexible array */
};

/* Count a failure; print the first few. */
static void
run_fail(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (r->fails++ >= 3)
		return;
	fprintf(stderr, "%s: op %lu: ", r->ph->name, r->op);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Full comparison: checker, then forward and backward walks. */
static void
run_verify(struct run *r)
{
	size_t len = r->ph->key_len;
	struct ebmb_node *e, *prev = NULL;
	struct item *x;
	uint32_t n = 0;
	int err;

	if ((err = ebmb_check(&r->root, len)) != 0)
		run_fail(r, "ebmb_check() = %d", err);
	for (e = ebmb_first(&r->root); e != NULL; prev = e, e = ebmb_next(e)) {
		x = item_of(e);
		if (x < r->it || x >= r->it + r->ph->space ||
		    !r->present[x->v] || ++n > r->count) {
			run_fail(r, "walk met an unexpected node");
			return;
		}
		if (prev != NULL && memcmp(prev->key, e->key, len) >= 0)
			run_fail(r, "walk out of order at v=%u", x->v);
	}
	if (n != r->count)
		run_fail(r, "walk saw %u nodes, expected %u", n, r->count);
	if (ebmb_last(&r->root) != prev)
		run_fail(r, "last is not the end of the walk");
	for (e = prev; e != NULL; e = ebmb_prev(e))
		if (n-- == 0)
			break;
	if (n != 0)
		run_fail(r, "backward walk length differs");
}

static void
run_insert(struct run *r, uint32_t v)
{
	struct ebmb_node *want = &r->it[v].k.node, *got;

	if (r->present[v]) {
		r->ph->mkkey(v, r->probe.k.node.key);
		got = ebmb_insert(&r->root, &r->probe.k.node, r->ph->key_len);
		if (got != want || ebmb_in_tree(&r->probe.k.node))
			run_fail(r, "duplicate insert of v=%u", v);
		return;
	}
	got = ebmb_insert(&r->root, want, r->ph->key_len);
	if (got != want)
		run_fail(r, "insert of v=%u returned %p", v, (void *)got);
	r->present[v] = 1;
	r->count++;
}

static void
run_lookup(struct run *r, uint32_t v)
{
	unsigned char key[MAXKEY];
	struct ebmb_node *got;

	r->ph->mkkey(v, key);
	got = ebmb_lookup(&r->root, key, r->ph->key_len);
	if (got != (r->present[v] ? &r->it[v].k.node : NULL))
		run_fail(r, "lookup of v=%u (present %d) returned %p", v,
		    r->present[v], (void *)got);
}

static void
run_delete(struct run *r, uint32_t v)
{
	ebmb_delete(&r->it[v].k.node);		/* absent: must be a no-op */
	if (r->present[v]) {
		r->present[v] = 0;
		r->count--;
	}
}

/* Delete everything left, in random order. */
static void
run_drain(struct run *r, uint64_t *seed)
{
	uint32_t *left, n = 0, i, j, t;

	if ((left = malloc(sizeof(*left) * r->ph->space)) == NULL) {
		run_fail(r, "out of memory");
		return;
	}
	for (i = 0; i < r->ph->space; i++)
		if (r->present[i])
			left[n++] = i;
	for (i = n; i > 1; i--) {
		j = (uint32_t)(rnd(seed) % i);
		t = left[i - 1], left[i - 1] = left[j], left[j] = t;
	}
	for (i = 0; i < n; i++, r->op++) {
		run_delete(r, left[i]);
		if (i % r->ph->every == 0)
			run_verify(r);
	}
	run_verify(r);
	if (!eb_is_empty(&r->root))
		run_fail(r, "tree not empty after drain");
	free(left);
}

static void
run_phase(const struct phase *ph)
{
	struct run r = { .ph = ph, .root = EB_ROOT };
	uint64_t seed = ph->seed, x;
	uint32_t v;
	int op;

	r.it = calloc(ph->space, sizeof(*r.it));
	r.present = calloc(ph->space, 1);
	CHECK(r.it != NULL && r.present != NULL);
	if (r.it == NULL || r.present == NULL)
		goto out;
	for (v = 0; v < ph->space; v++) {
		r.it[v].v = v;
		ph->mkkey(v, r.it[v].k.node.key);
	}
	for (r.op = 0; r.op < ph->ops; r.op++) {
		x = rnd(&seed);
		v = (uint32_t)(x % ph->space);
		op = (int)((x >> 40) % 10);
		if (op < 4)
			run_insert(&r, v);
		else if (op < 7)
			run_lookup(&r, v);
		else
			run_delete(&r, v);
		if (ebmb_in_tree(&r.it[v].k.node) != r.present[v])
			run_fail(&r, "v=%u in_tree disagrees", v);
		if (r.op % ph->every == 0)
			run_verify(&r);
	}
	run_verify(&r);
	printf("%-24s %lu random ops, %u keys left to drain, ", ph->name,
	    r.op, r.count);
	run_drain(&r, &seed);
	printf("%lu failures\n", r.fails);
	CHECK(r.fails == 0);
out:
	free(r.it);
	free(r.present);
}

int
main(void)
{
	static const struct phase phases[] = {
		{ "4-byte mixed keys", 4, 65536, 400000, 2048, key_mix4, 1 },
		{ "8-byte prefixed keys", 8, 4096, 300000, 512, key_pfx8, 2 },
		{ "4-byte sequential keys", 4, 1024, 300000, 256, key_seq4, 3 },
		{ "32-byte session ids", 32, 65536, 300000, 2048, key_sid32,
		    4 },
	};
	size_t i;

	test_empty();
	test_single();
	test_small();
	test_edge_bits();
	test_checker();
	test_shared();
	for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
		run_phase(&phases[i]);
	return unit_summary();
}
