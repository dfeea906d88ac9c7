/* fuzz_ebtree.c - libFuzzer harness for ebtree/ (memory-block keys).
 *
 * The input is a program run on a pool of NNODES elements, each malloc'd at
 * exactly EBMB_NODE_SIZE(key_len) bytes so that ASan sees any access past
 * a key. Byte 0 picks the key length; then each op byte is (op & 7,
 * element = op >> 3), followed by the bytes the op needs:
 *   0 insert element with a key read from the input
 *   1 insert element with the key of element j (next byte) with bit k
 *     (byte after) flipped: long shared prefixes, single-bit differences
 *   2 lookup a key read from the input
 *   3 delete element (also when it is not in the tree: must be a no-op)
 *   4 full walk forwards, 5 full walk backwards
 *   6 eb_next/eb_prev of element compared with its neighbours in the model
 *   7 delete every element met during a forward walk from element (a walk
 *     that deletes as it goes, as a cache purge would)
 * The model is the set of elements flagged "in tree"; every result is
 * compared with it, and ebmb_check() runs after every change. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebtree/ebtree.h"
#include "fuzz.h"

#define NNODES	32

static struct ebmb_node *node[NNODES];
static int in_tree[NNODES];
static size_t klen;

static int
idx_of(const struct ebmb_node *n)
{
	int i;

	for (i = 0; i < NNODES; i++)
		if (node[i] == n)
			return i;
	CHECK(!"tree returned a pointer that is not one of ours");
	return -1;
}

/* The model's element holding key, or -1. */
static int
model_find(const unsigned char *key)
{
	int i;

	for (i = 0; i < NNODES; i++)
		if (in_tree[i] && memcmp(node[i]->key, key, klen) == 0)
			return i;
	return -1;
}

static int
cmp_idx(const void *a, const void *b)
{
	return memcmp(node[*(const int *)a]->key, node[*(const int *)b]->key,
	    klen);
}

/* The model's elements in key order; returns their count. */
static int
model_sorted(int *out)
{
	int i, n = 0;

	for (i = 0; i < NNODES; i++)
		if (in_tree[i])
			out[n++] = i;
	qsort(out, (size_t)n, sizeof(*out), cmp_idx);
	return n;
}

static void
check_tree(struct eb_root *root)
{
	int i, n = 0;

	CHECK(ebmb_check(root, klen) == 0);
	for (i = 0; i < NNODES; i++) {
		CHECK(ebmb_in_tree(node[i]) == in_tree[i]);
		n += in_tree[i];
	}
	CHECK(eb_is_empty(root) == (n == 0));
}

static void
walk(struct eb_root *root, int backwards)
{
	int order[NNODES], n = model_sorted(order), k = 0;
	struct ebmb_node *p;

	if (!backwards) {
		for (p = ebmb_first(root); p != NULL; p = ebmb_next(p)) {
			CHECK(k < n && idx_of(p) == order[k]);
			k++;
		}
	} else {
		for (p = ebmb_last(root); p != NULL; p = ebmb_prev(p)) {
			CHECK(k < n && idx_of(p) == order[n - 1 - k]);
			k++;
		}
	}
	CHECK(k == n);
}

static void
insert(struct eb_root *root, int i)
{
	int dup = model_find(node[i]->key);
	struct ebmb_node *r = ebmb_insert(root, node[i], klen);

	if (dup >= 0) {
		CHECK(r == node[dup]);
		CHECK(!ebmb_in_tree(node[i]));
	} else {
		CHECK(r == node[i]);
		in_tree[i] = 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t lens[8] = { 1, 1, 2, 2, 3, 4, 8, 33 };
	struct eb_root root = EB_ROOT;
	unsigned char key[64];
	size_t pos = 1;
	int i, j, order[NNODES], n, k;

	if (size < 1)
		return 0;
	klen = lens[data[0] & 7];
	for (i = 0; i < NNODES; i++) {
		node[i] = malloc(EBMB_NODE_SIZE(klen));
		CHECK(node[i] != NULL);
		ebmb_node_init(node[i]);
		memset(node[i]->key, i, klen);
		in_tree[i] = 0;
	}
	while (pos < size) {
		uint8_t op = data[pos++];

		i = op >> 3;
		switch (op & 7) {
		case 0:			/* insert a key from the input */
		case 1:			/* insert a near copy of a key */
			if (in_tree[i])
				break;	/* keys must not change in a tree */
			if ((op & 7) == 0) {
				if (size - pos < klen)
					goto done;
				memcpy(node[i]->key, data + pos, klen);
				pos += klen;
			} else {
				if (size - pos < 2)
					goto done;
				j = data[pos] % NNODES;
				k = data[pos + 1] % (int)(klen * 8);
				pos += 2;
				memcpy(key, node[j]->key, klen);
				key[k / 8] ^= (unsigned char)(0x80 >> (k % 8));
				memcpy(node[i]->key, key, klen);
			}
			insert(&root, i);
			check_tree(&root);
			break;
		case 2:			/* lookup */
			if (size - pos < klen)
				goto done;
			memcpy(key, data + pos, klen);
			pos += klen;
			j = model_find(key);
			{
				struct ebmb_node *r = ebmb_lookup(&root, key,
				    klen);

				CHECK(j < 0 ? r == NULL : r == node[j]);
			}
			/* and every element's own key */
			for (j = 0; j < NNODES; j++)
				if (in_tree[j])
					CHECK(ebmb_lookup(&root, node[j]->key,
					    klen) == node[j]);
			break;
		case 3:			/* delete (maybe not in the tree) */
			ebmb_delete(node[i]);
			in_tree[i] = 0;
			check_tree(&root);
			break;
		case 4:
		case 5:
			walk(&root, (op & 7) == 5);
			break;
		case 6:			/* neighbours of one element */
			if (!in_tree[i]) {
				CHECK(ebmb_next(node[i]) == NULL);
				CHECK(ebmb_prev(node[i]) == NULL);
				break;
			}
			n = model_sorted(order);
			for (k = 0; order[k] != i; k++)
				;
			CHECK(ebmb_next(node[i]) == (k + 1 < n ?
			    node[order[k + 1]] : NULL));
			CHECK(ebmb_prev(node[i]) == (k > 0 ?
			    node[order[k - 1]] : NULL));
			break;
		case 7:			/* delete while walking */
			if (!in_tree[i])
				break;
			{
				struct ebmb_node *p = node[i], *nx;
				int step = 0;

				while (p != NULL) {
					nx = ebmb_next(p);
					if (step++ % 2 == 0) {
						j = idx_of(p);
						ebmb_delete(p);
						in_tree[j] = 0;
						check_tree(&root);
					}
					p = nx;
				}
			}
			walk(&root, 0);
			break;
		}
	}
done:
	walk(&root, 0);
	walk(&root, 1);
	/* empty the tree in key order from the smallest */
	while (!eb_is_empty(&root)) {
		struct ebmb_node *p = ebmb_first(&root);

		CHECK(p != NULL);
		j = idx_of(p);
		ebmb_delete(p);
		in_tree[j] = 0;
		check_tree(&root);
	}
	for (i = 0; i < NNODES; i++)
		free(node[i]);
	return 0;
}
