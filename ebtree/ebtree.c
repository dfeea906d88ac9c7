/* ebtree.c - the key-independent half of elastic binary trees: in-order
 * walking, O(1) deletion, and grafting a new element at a known place. */
#include <stddef.h>
#include <stdint.h>

#include "ebtree_int.h"

/* Follow side from link down to a leaf; return its element. */
static struct eb_node *
eb_descend(uintptr_t link, int side)
{
	while (!eb_link_is_leaf(link))
		link = eb_link_elem(link)->branch[side];
	return eb_link_elem(link);
}

struct eb_node *
eb_first(struct eb_root *root)
{
	return root->top == 0 ? NULL : eb_descend(root->top, 0);
}

struct eb_node *
eb_last(struct eb_root *root)
{
	return root->top == 0 ? NULL : eb_descend(root->top, 1);
}

/*
 * Step from leaf n towards dir (1 next, 0 previous): climb while we hang on
 * the dir side, cross over at the first ancestor where we do not, then go
 * down its dir subtree on the opposite side.
 */
static struct eb_node *
eb_step(const struct eb_node *n, int dir)
{
	uintptr_t up = n->leaf_up;

	if (up == 0)
		return NULL;
	while (!eb_up_is_root(up) && eb_up_side(up) == dir)
		up = eb_up_parent(up)->node_up;
	if (eb_up_is_root(up))
		return NULL;
	return eb_descend(eb_up_parent(up)->branch[dir], !dir);
}

struct eb_node *
eb_next(struct eb_node *node)
{
	return eb_step(node, 1);
}

struct eb_node *
eb_prev(struct eb_node *node)
{
	return eb_step(node, 0);
}

/* Hang the part designated by down link "link" where up link "up" says. */
static void
eb_hang(uintptr_t link, uintptr_t up)
{
	*eb_up_slot(up) = link;
	*eb_link_up(link) = up;
}

/* Make dst's (unused) node part take the place of src's node part, which
 * becomes unused. */
static void
eb_replace_node(struct eb_node *dst, const struct eb_node *src)
{
	dst->bit = src->bit;
	dst->branch[0] = src->branch[0];
	dst->branch[1] = src->branch[1];
	eb_hang(eb_node_link(dst), src->node_up);
	*eb_link_up(dst->branch[0]) = eb_up_node(dst, 0);
	*eb_link_up(dst->branch[1]) = eb_up_node(dst, 1);
}

/*
 * Removing leaf n frees its parent node part p: p's other subtree takes p's
 * place. If p is n's own node part, n is gone. Otherwise n's node part, if
 * used, is above p (I4), and p's element, whose leaf is below p, moves its
 * freed node part into that position.
 */
void
eb_delete(struct eb_node *node)
{
	uintptr_t up = node->leaf_up;
	struct eb_node *p;

	if (up == 0)
		return;
	node->leaf_up = 0;
	if (eb_up_is_root(up)) {
		*eb_up_slot(up) = 0;
		node->node_up = 0;
		return;
	}
	p = eb_up_parent(up);
	eb_hang(p->branch[!eb_up_side(up)], p->node_up);
	p->node_up = 0;
	if (p != node && node->node_up != 0) {
		eb_replace_node(p, node);
		node->node_up = 0;
	}
}

void
eb_graft_first(struct eb_root *root, struct eb_node *n)
{
	n->node_up = 0;
	n->bit = 0;
	n->branch[0] = n->branch[1] = 0;
	eb_hang(eb_leaf_link(n), eb_up_root(root));
}

/*
 * The new node goes above the highest part on near's path whose bit index
 * exceeds bit (I2): climb from near while the parent's bit is greater. The
 * parent's bit cannot equal bit, since the search followed new's key there.
 */
void
eb_graft(struct eb_node *near, struct eb_node *new, size_t bit, int side)
{
	uintptr_t below = eb_leaf_link(near);
	uintptr_t up = near->leaf_up;
	struct eb_node *p;

	while (!eb_up_is_root(up) && (p = eb_up_parent(up))->bit > bit) {
		below = eb_node_link(p);
		up = p->node_up;
	}
	new->bit = bit;
	eb_hang(eb_node_link(new), up);
	new->branch[side] = eb_leaf_link(new);
	new->leaf_up = eb_up_node(new, side);
	new->branch[!side] = below;
	*eb_link_up(below) = eb_up_node(new, !side);
}
