/* ebtree_int.h - private to the ebtree library: the tagged-link encoding
 * and the key-independent grafting step shared by the keyed variants. */
#ifndef STUD_EBTREE_INT_H
#define STUD_EBTREE_INT_H

#include "ebtree.h"

/*
 * Downward links (eb_root.top, eb_node.branch[]): the address of the
 * element's struct eb_node, with bit 0 set when the link designates the
 * element's leaf part rather than its node part. 0 means no link (only
 * valid in an empty root).
 *
 * Upward links (eb_node.node_up, eb_node.leaf_up): either the address of
 * the parent's struct eb_node with bit 0 holding the side (0 left, 1 right),
 * or the address of the struct eb_root with bit 1 set. 0 means the part is
 * not in a tree.
 *
 * Both structs hold uintptr_t members, so their addresses have (at least)
 * the two low bits clear.
 */
#define EB_TAG_LEAF	((uintptr_t)1)	/* down: designates the leaf part */
#define EB_TAG_SIDE	((uintptr_t)1)	/* up: we hang on the right */
#define EB_TAG_ROOT	((uintptr_t)2)	/* up: we hang from the root */
#define EB_TAG_MASK	((uintptr_t)3)

_Static_assert(_Alignof(struct eb_node) > EB_TAG_MASK,
    "eb_node must leave two low address bits for tags");
_Static_assert(_Alignof(struct eb_root) > EB_TAG_MASK,
    "eb_root must leave two low address bits for tags");

/* Down link to the leaf part of n. */
static inline uintptr_t
eb_leaf_link(const struct eb_node *n)
{
	return (uintptr_t)n | EB_TAG_LEAF;
}

/* Down link to the node part of n. */
static inline uintptr_t
eb_node_link(const struct eb_node *n)
{
	return (uintptr_t)n;
}

static inline int
eb_link_is_leaf(uintptr_t link)
{
	return (link & EB_TAG_LEAF) != 0;
}

/* The element a down link designates. */
static inline struct eb_node *
eb_link_elem(uintptr_t link)
{
	return (struct eb_node *)(link & ~EB_TAG_LEAF);
}

/* The up field of the part a down link designates. */
static inline uintptr_t *
eb_link_up(uintptr_t link)
{
	struct eb_node *n = eb_link_elem(link);

	return eb_link_is_leaf(link) ? &n->leaf_up : &n->node_up;
}

/* Up link for a part hanging on side of p's node part. */
static inline uintptr_t
eb_up_node(const struct eb_node *p, int side)
{
	return (uintptr_t)p | (side ? EB_TAG_SIDE : 0);
}

/* Up link for the part hanging from root. */
static inline uintptr_t
eb_up_root(const struct eb_root *root)
{
	return (uintptr_t)root | EB_TAG_ROOT;
}

static inline int
eb_up_is_root(uintptr_t up)
{
	return (up & EB_TAG_ROOT) != 0;
}

/* Side of the parent an up link hangs on (only for non-root links). */
static inline int
eb_up_side(uintptr_t up)
{
	return (up & EB_TAG_SIDE) != 0;
}

/* Parent element of a non-root up link. */
static inline struct eb_node *
eb_up_parent(uintptr_t up)
{
	return (struct eb_node *)(up & ~EB_TAG_MASK);
}

/* The down-link field that an up link designates. */
static inline uintptr_t *
eb_up_slot(uintptr_t up)
{
	if (eb_up_is_root(up))
		return &((struct eb_root *)(up & ~EB_TAG_MASK))->top;
	return &eb_up_parent(up)->branch[eb_up_side(up)];
}

/* Link n into the empty tree root as its single leaf. */
void	eb_graft_first(struct eb_root *root, struct eb_node *n);

/* Link new into the tree holding the leaf near, as a node with critical bit
 * bit whose side "side" is new's leaf. near's key must be the one the search
 * for new's key ends at, and bit the first bit where the two keys differ. */
void	eb_graft(struct eb_node *near, struct eb_node *new, size_t bit,
	    int side);

#endif /* STUD_EBTREE_INT_H */
