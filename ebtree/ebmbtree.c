/* ebmbtree.c - elastic binary trees keyed by fixed-length memory blocks:
 * search, insertion and the invariant checker. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ebtree_int.h"

#define EB_NO_BIT	SIZE_MAX	/* keys are equal */

/* Bit number bit of key, MSB of byte 0 first. */
static inline int
ebmb_key_bit(const unsigned char *key, size_t bit)
{
	return (key[bit >> 3] >> (7 - (bit & 7))) & 1;
}

/* First bit on which a and b differ, or EB_NO_BIT if they are equal. */
static size_t
ebmb_first_diff(const unsigned char *a, const unsigned char *b, size_t len)
{
	size_t i, bit;
	unsigned int x;

	for (i = 0; i < len && a[i] == b[i]; i++)
		;
	if (i == len)
		return EB_NO_BIT;
	x = a[i] ^ b[i];
	for (bit = i * 8; (x & 0x80) == 0; bit++)
		x <<= 1;
	return bit;
}

/* The leaf reached from the non-empty top by following key's bits. */
static struct ebmb_node *
ebmb_search(uintptr_t link, const unsigned char *key)
{
	struct eb_node *n;

	while (!eb_link_is_leaf(link)) {
		n = eb_link_elem(link);
		link = n->branch[ebmb_key_bit(key, n->bit)];
	}
	return ebmb_entry(eb_link_elem(link));
}

struct ebmb_node *
ebmb_lookup(struct eb_root *root, const void *key, size_t key_len)
{
	struct ebmb_node *near;

	if (root->top == 0)
		return NULL;
	near = ebmb_search(root->top, key);
	return memcmp(near->key, key, key_len) == 0 ? near : NULL;
}

/*
 * A crit-bit search for the new key ends at the leaf sharing the longest
 * prefix with it; the first differing bit is where the new node goes.
 */
struct ebmb_node *
ebmb_insert(struct eb_root *root, struct ebmb_node *node, size_t key_len)
{
	struct ebmb_node *near;
	size_t bit;

	if (root->top == 0) {
		eb_graft_first(root, &node->node);
		return node;
	}
	near = ebmb_search(root->top, node->key);
	bit = ebmb_first_diff(near->key, node->key, key_len);
	if (bit == EB_NO_BIT) {
		node->node.leaf_up = node->node.node_up = 0;
		return near;
	}
	eb_graft(&near->node, &node->node, bit, ebmb_key_bit(node->key, bit));
	return node;
}

/* Walk state of ebmb_check(). */
struct ebmb_walk {
	const struct ebmb_node	*prev;	/* last leaf visited */
	size_t			 turn;	/* bit of the node separating prev */
	size_t			 nbits;	/* key length in bits */
	size_t			 nleaves, nnodes, nowned;
};

/* Nonzero if down link "link" cannot be dereferenced. */
static inline int
ebmb_bad_link(uintptr_t link)
{
	return eb_link_elem(link) == NULL || (link & EB_TAG_ROOT) != 0;
}

/*
 * Check the node part that link designates as hanging at up, below a node
 * with bit index "lo - 1" (lo = 0 at the top). Its up link is verified, so
 * climbing back through it later is safe.
 */
static int
ebmb_check_node(struct ebmb_walk *w, uintptr_t link, uintptr_t up, size_t lo)
{
	const struct eb_node *n = eb_link_elem(link);

	if (ebmb_bad_link(link) || n->node_up != up)
		return EB_ERR_LINK;
	if (n->bit < lo || n->bit >= w->nbits)
		return EB_ERR_BIT;
	w->nnodes++;
	return 0;
}

/*
 * Check the leaf part that link designates as hanging at up: mirrored link,
 * order against the previous leaf (their first differing bit must be the
 * bit of the node between them, set in this key), and, if its node part is
 * used, that this node part is one of its ancestors.
 */
static int
ebmb_check_leaf(struct ebmb_walk *w, uintptr_t link, uintptr_t up,
    size_t key_len)
{
	const struct eb_node *n = eb_link_elem(link);
	const struct ebmb_node *leaf = (const struct ebmb_node *)n;
	size_t bit;

	if (ebmb_bad_link(link) || n->leaf_up != up)
		return EB_ERR_LINK;
	if (w->prev != NULL) {
		bit = ebmb_first_diff(w->prev->key, leaf->key, key_len);
		if (bit != w->turn || !ebmb_key_bit(leaf->key, bit))
			return EB_ERR_ORDER;
	}
	w->prev = leaf;
	w->nleaves++;
	if (n->node_up == 0)
		return 0;
	for (; !eb_up_is_root(up); up = eb_up_parent(up)->node_up)
		if (eb_up_parent(up) == n) {
			w->nowned++;
			return 0;
		}
	return EB_ERR_OWNER;
}

/*
 * An in-order walk down the left spines, checking every part on the way
 * down. Bit indexes strictly increase on the way down (else we stop), so a
 * corrupt tree cannot make the walk loop; climbing only follows up links
 * already verified.
 */
int
ebmb_check(const struct eb_root *root, size_t key_len)
{
	struct ebmb_walk w = { .nbits = key_len * 8 };
	uintptr_t link = root->top, up = eb_up_root(root);
	struct eb_node *n;
	size_t lo = 0;
	int err;

	if (link == 0)
		return 0;
	for (;;) {
		while (!eb_link_is_leaf(link)) {
			if ((err = ebmb_check_node(&w, link, up, lo)) != 0)
				return err;
			n = eb_link_elem(link);
			lo = n->bit + 1;
			up = eb_up_node(n, 0);
			link = n->branch[0];
		}
		if ((err = ebmb_check_leaf(&w, link, up, key_len)) != 0)
			return err;
		while (!eb_up_is_root(up) && eb_up_side(up) == 1)
			up = eb_up_parent(up)->node_up;
		if (eb_up_is_root(up))
			break;
		n = eb_up_parent(up);
		w.turn = n->bit;
		lo = n->bit + 1;
		up = eb_up_node(n, 1);
		link = n->branch[1];
	}
	if (w.nnodes + 1 != w.nleaves || w.nowned != w.nnodes)
		return EB_ERR_COUNT;
	return 0;
}
